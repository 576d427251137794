//! Netlink exchanges with the kernel: generic netlink (IPVS), nfnetlink (conntrack) and
//! rtnetlink (links, addresses). [`Transport`] is the seam: [`SocketTransport`] talks to the
//! kernel through a netlink socket, `Replay` serves replies captured earlier (tests and benches
//! only, feature `test-support`), and [`Recording`] keeps what a real exchange carried (for new
//! captures). Requests are written by [`crate::netlink::encode`], replies read by the pure
//! [`crate::parse::netlink`].

#[cfg(any(test, feature = "test-support"))]
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::os::fd::{AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::socket::{
    AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType, bind, recv, send,
    socket,
};

use crate::netlink::encode::EncodeError;
use crate::parse::netlink::{Control, DecodeError, Message, messages};

/// What can go wrong in one request/reply exchange.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("netlink socket: {0}")]
    Io(#[from] std::io::Error),
    #[error("the kernel refused the request: {}", std::io::Error::from(*.0))]
    Kernel(Errno),
    #[error("cannot decode the kernel's reply: {0}")]
    Decode(#[from] DecodeError),
    #[error("cannot build the request: {0}")]
    Build(String),
    #[cfg(any(test, feature = "test-support"))]
    #[error("no recorded reply left for this request")]
    ReplayExhausted,
}

impl From<EncodeError> for TransportError {
    fn from(err: EncodeError) -> Self {
        TransportError::Build(err.to_string())
    }
}

impl TransportError {
    /// Whether the kernel refused for lack of privilege (CAP_NET_ADMIN).
    pub fn is_permission(&self) -> bool {
        match self {
            TransportError::Kernel(errno) => matches!(errno, Errno::EPERM | Errno::EACCES),
            TransportError::Io(err) => err.kind() == std::io::ErrorKind::PermissionDenied,
            _ => false,
        }
    }
}

/// A request and the reply buffers it got.
pub type Exchange = (Vec<u8>, Vec<Vec<u8>>);

/// Sends one complete netlink request and returns the reply buffers as received, up to the end
/// of the exchange (NLMSG_DONE for a dump, the one reply otherwise, or an error message).
/// Kernel errors stay inside the buffers: [`check_replies`] turns them into `Err`.
pub trait Transport {
    fn exchange(&mut self, request: &[u8]) -> Result<Vec<Vec<u8>>, TransportError>;
}

/// Reads the sequence number and whether a request is a dump, from its header.
fn request_header(request: &[u8]) -> (u32, bool) {
    match messages(request).next() {
        Some(Ok(message)) => (message.sequence, message.is_dump()),
        _ => (0, false),
    }
}

/// Whether a received buffer ends the exchange (done, acknowledged, refused, or the one reply
/// to a request that is not a dump).
fn ends_exchange(buffer: &[u8], sequence: u32, dump: bool) -> Result<bool, DecodeError> {
    for message in messages(buffer) {
        let message = message?;
        if message.sequence != sequence {
            continue;
        }
        match message.control()? {
            Control::Done | Control::Ack | Control::Error(_) => return Ok(true),
            Control::Data(_) if !dump => return Ok(true),
            Control::Data(_) => {}
        }
    }
    Ok(false)
}

/// Turns a kernel error inside the replies into `Err`.
pub fn check_replies(replies: &[Vec<u8>]) -> Result<(), TransportError> {
    for buffer in replies {
        for message in messages(buffer) {
            if let Control::Error(errno) = message?.control()? {
                return Err(TransportError::Kernel(Errno::from_raw(errno)));
            }
        }
    }
    Ok(())
}

/// The netlink protocols the exporter speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `NETLINK_ROUTE`: links and addresses.
    Route,
    /// `NETLINK_GENERIC`: IPVS.
    Generic,
    /// `NETLINK_NETFILTER`: ctnetlink.
    Netfilter,
}

impl Protocol {
    fn socket_protocol(self) -> SockProtocol {
        match self {
            Protocol::Route => SockProtocol::NetlinkRoute,
            Protocol::Generic => SockProtocol::NetlinkGeneric,
            Protocol::Netfilter => SockProtocol::NetlinkNetFilter,
        }
    }
}

/// How much one `recv` takes: the kernel sizes its dump buffers to fit in this.
const RECEIVE_BUFFER: usize = 64 * 1024;

/// A netlink socket in the calling thread's network namespace.
pub struct SocketTransport {
    socket: OwnedFd,
    buffer: Vec<u8>,
}

impl SocketTransport {
    /// A generic netlink socket.
    pub fn connect() -> Result<Self, TransportError> {
        Self::connect_to(Protocol::Generic)
    }

    /// A socket of another netlink protocol (`Protocol::Netfilter` for ctnetlink). Bound to
    /// port 0: the kernel picks the socket's port.
    pub fn connect_to(protocol: Protocol) -> Result<Self, TransportError> {
        let socket = socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            protocol.socket_protocol(),
        )
        .map_err(std::io::Error::from)?;
        bind(socket.as_raw_fd(), &NetlinkAddr::new(0, 0)).map_err(std::io::Error::from)?;
        Ok(SocketTransport {
            socket,
            buffer: vec![0; RECEIVE_BUFFER],
        })
    }
}

impl Transport for SocketTransport {
    fn exchange(&mut self, request: &[u8]) -> Result<Vec<Vec<u8>>, TransportError> {
        let (sequence, dump) = request_header(request);
        send(self.socket.as_raw_fd(), request, MsgFlags::empty()).map_err(std::io::Error::from)?;
        let mut replies = Vec::new();
        loop {
            let received = recv(self.socket.as_raw_fd(), &mut self.buffer, MsgFlags::empty())
                .map_err(std::io::Error::from)?;
            let buffer = self.buffer.get(..received).unwrap_or(&[]).to_vec();
            let done = ends_exchange(&buffer, sequence, dump)?;
            replies.push(buffer);
            if done {
                return Ok(replies);
            }
        }
    }
}

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

/// The data messages of an exchange's replies (errors were already turned into `Err`).
pub fn data_messages(
    replies: &[Vec<u8>],
) -> impl Iterator<Item = Result<Message<'_>, DecodeError>> {
    replies.iter().flat_map(|buffer| messages(buffer)).filter(|m| {
        !matches!(m, Ok(message) if matches!(message.control(), Ok(Control::Done | Control::Ack | Control::Error(_))))
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::encode::{MessageWriter, generic_request};
    use crate::netlink::uapi::{
        NETLINK_GENERIC, NETLINK_NETFILTER, NETLINK_ROUTE, NLM_F_MULTI, NLMSG_DONE, NLMSG_ERROR,
    };

    #[test]
    fn protocols_are_the_uapi_numbers() {
        assert_eq!(Protocol::Route.socket_protocol() as i32, NETLINK_ROUTE);
        assert_eq!(Protocol::Generic.socket_protocol() as i32, NETLINK_GENERIC);
        assert_eq!(
            Protocol::Netfilter.socket_protocol() as i32,
            NETLINK_NETFILTER
        );
    }

    #[test]
    fn a_dump_ends_at_done_and_a_refusal_is_the_kernels_errno() {
        let request = generic_request(0x20, 4, 1, true, 9).expect("encodes");
        assert_eq!(request_header(&request), (9, true));
        let data = MessageWriter::generic(0x20, NLM_F_MULTI, 9, 4, 1)
            .finish()
            .expect("encodes");
        let done = MessageWriter::new(NLMSG_DONE, NLM_F_MULTI, 9)
            .header(&0u32.to_ne_bytes())
            .finish()
            .expect("encodes");
        assert_eq!(ends_exchange(&data, 9, true), Ok(false));
        assert_eq!(ends_exchange(&data, 9, false), Ok(true));
        assert_eq!(ends_exchange(&done, 8, true), Ok(false), "another sequence");
        assert_eq!(ends_exchange(&done, 9, true), Ok(true));

        let refusal = MessageWriter::new(NLMSG_ERROR, 0, 9)
            .header(&(-(Errno::ESRCH as i32)).to_ne_bytes())
            .header(&request)
            .finish()
            .expect("encodes");
        let err = check_replies(&[data, refusal]).expect_err("refused");
        assert!(matches!(err, TransportError::Kernel(Errno::ESRCH)), "{err}");
        assert!(!err.is_permission());
        assert!(TransportError::Kernel(Errno::EACCES).is_permission());
    }
}
