//! Captured netlink exchanges: [`Recording`] keeps what a real exchange carried and
//! [`write_capture`] writes it as annotated hex (the hidden `capture-netlink` command). Serving
//! a capture back in place of the kernel is test code, in the workspace's testkit crate.

use std::fmt::Write as _;

use super::socket::{Transport, TransportError};

/// A request and the reply buffers it got.
pub type Exchange = (Vec<u8>, Vec<Vec<u8>>);

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

    fn exchange_small_dump(&mut self, request: &[u8]) -> Result<Vec<Vec<u8>>, TransportError> {
        let replies = self.inner.exchange_small_dump(request)?;
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

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}
