//! Replay of captured netlink exchanges: [`read_capture`] reads the annotated hex that the
//! hidden `capture-netlink` command writes, and [`Replay`] serves those replies back in place of
//! the kernel, through the library's [`Transport`] seam.

use std::collections::VecDeque;
use std::io::ErrorKind;
use std::path::Path;

use ipvs_exporter::netlink::capture::Exchange;
use ipvs_exporter::netlink::socket::{Transport, TransportError};

/// Serves replies recorded earlier, in order; checks that each request is byte for byte the
/// one recorded.
pub struct Replay {
    exchanges: VecDeque<Exchange>,
}

impl Replay {
    pub fn new(exchanges: Vec<Exchange>) -> Self {
        Replay {
            exchanges: exchanges.into(),
        }
    }
}

impl Transport for Replay {
    fn exchange(&mut self, request: &[u8]) -> Result<Vec<Vec<u8>>, TransportError> {
        let (recorded_request, replies) = self.exchanges.pop_front().ok_or_else(|| {
            TransportError::Io(std::io::Error::new(
                ErrorKind::UnexpectedEof,
                "no recorded reply left for this request",
            ))
        })?;
        if request != recorded_request.as_slice() {
            return Err(TransportError::Build(
                "the request differs from the recorded one".into(),
            ));
        }
        Ok(replies)
    }
}

/// Reads what `ipvs_exporter::netlink::capture::write_capture` wrote: `#` comment lines, `>` a
/// request, `<` a reply buffer, each in hex.
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

/// Reads a capture file; the error names the file.
pub fn read_capture_file(path: &Path) -> Result<Vec<Exchange>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    read_capture(&text).map_err(|e| format!("{}: {e}", path.display()))
}

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
