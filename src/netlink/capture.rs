//! Captured netlink exchanges: [`Recording`] keeps what a real exchange carried and
//! [`write_capture`] writes it as annotated hex (the hidden `capture-netlink` command);
//! `Replay` and `read_capture` serve such a capture back in place of the kernel (tests and
//! benches only, feature `test-support`).

#[cfg(any(test, feature = "test-support"))]
use std::collections::VecDeque;
use std::fmt::Write as _;

use super::socket::{Transport, TransportError};

/// A request and the reply buffers it got.
pub type Exchange = (Vec<u8>, Vec<Vec<u8>>);

/// Serves replies recorded earlier, in order; checks that each request asks for the same
/// command as the one recorded.
#[cfg(any(test, feature = "test-support"))]
pub struct Replay {
    exchanges: VecDeque<Exchange>,
}

#[cfg(any(test, feature = "test-support"))]
impl Replay {
    pub fn new(exchanges: Vec<Exchange>) -> Self {
        Replay {
            exchanges: exchanges.into(),
        }
    }
}

#[cfg(any(test, feature = "test-support"))]
impl Transport for Replay {
    fn exchange(&mut self, request: &[u8]) -> Result<Vec<Vec<u8>>, TransportError> {
        let (recorded_request, replies) = self
            .exchanges
            .pop_front()
            .ok_or(TransportError::ReplayExhausted)?;
        if request != recorded_request.as_slice() {
            return Err(TransportError::Build(
                "the request differs from the recorded one".into(),
            ));
        }
        Ok(replies)
    }
}

/// Passes exchanges through and keeps a copy of each.
pub struct Recording<T> {
    pub inner: T,
    pub exchanges: Vec<Exchange>,
}

impl<T: Transport> Transport for Recording<T> {
    fn exchange(&mut self, request: &[u8]) -> Result<Vec<Vec<u8>>, TransportError> {
        let replies = self.inner.exchange(request)?;
        self.exchanges.push((request.to_vec(), replies.clone()));
        Ok(replies)
    }
}

/// Writes exchanges as annotated hex text: `#` comment lines, `>` a request, `<` a reply buffer.
pub fn write_capture(exchanges: &[Exchange], annotate: impl Fn(usize, &[u8]) -> String) -> String {
    let mut out = String::new();
    for (index, (request, replies)) in exchanges.iter().enumerate() {
        let _ = writeln!(
            out,
            "# exchange {}: {}",
            index + 1,
            annotate(index, request)
        );
        let _ = writeln!(out, "> {}", hex(request));
        for reply in replies {
            let _ = writeln!(out, "< {}", hex(reply));
        }
    }
    out
}

/// Reads what [`write_capture`] wrote.
#[cfg(any(test, feature = "test-support"))]
pub fn read_capture(text: &str) -> Result<Vec<Exchange>, String> {
    let mut exchanges: Vec<Exchange> = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bytes =
            |rest: &str| unhex(rest.trim()).map_err(|e| format!("line {}: {e}", number + 1));
        if let Some(rest) = line.strip_prefix('>') {
            exchanges.push((bytes(rest)?, Vec::new()));
        } else if let Some(rest) = line.strip_prefix('<') {
            let reply = bytes(rest)?;
            exchanges
                .last_mut()
                .ok_or(format!("line {}: reply before any request", number + 1))?
                .1
                .push(reply);
        } else {
            return Err(format!("line {}: expected '#', '>' or '<'", number + 1));
        }
    }
    Ok(exchanges)
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[cfg(any(test, feature = "test-support"))]
fn unhex(text: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if !digits.len().is_multiple_of(2) {
        return Err("odd number of hex digits".into());
    }
    digits
        .chunks(2)
        .map(|pair| {
            std::str::from_utf8(pair)
                .ok()
                .and_then(|s| u8::from_str_radix(s, 16).ok())
                .ok_or_else(|| "not hexadecimal".to_string())
        })
        .collect()
}
