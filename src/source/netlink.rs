//! Netlink requests and replies: generic netlink (IPVS) and nfnetlink (conntrack). [`Transport`]
//! is the seam: [`SocketTransport`] talks to the kernel through a neli socket, `Replay` serves
//! replies captured earlier (tests and benches only, feature `test-support`), and [`Recording`] keeps what a real exchange carried (for
//! new captures). Generic netlink requests are built with neli, the few bytes of an nfnetlink
//! request by hand; replies are decoded by the pure [`crate::parse::netlink`].

#[cfg(any(test, feature = "test-support"))]
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io::Cursor;

use neli::consts::nl::NlmF;
use neli::consts::socket::{Msg, NlFamily};
use neli::genl::{AttrTypeBuilder, GenlmsghdrBuilder, Nlattr, NlattrBuilder, NoUserHeader};
use neli::nl::{NlPayload, NlmsghdrBuilder};
use neli::socket::NlSocket;
use neli::types::{Buffer, GenlBuffer};
use neli::utils::Groups;
use neli::{Size, ToBytes};

use crate::parse::netlink::{Control, DecodeError, Message, messages};

/// What can go wrong in one request/reply exchange.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("netlink socket: {0}")]
    Io(#[from] std::io::Error),
    #[error("the kernel refused the request: {}", std::io::Error::from_raw_os_error(*.0))]
    Kernel(i32),
    #[error("cannot decode the kernel's reply: {0}")]
    Decode(#[from] DecodeError),
    #[error("cannot build the request: {0}")]
    Build(String),
    #[cfg(any(test, feature = "test-support"))]
    #[error("no recorded reply left for this request")]
    ReplayExhausted,
}

impl TransportError {
    /// Whether the kernel refused for lack of privilege (CAP_NET_ADMIN).
    pub fn is_permission(&self) -> bool {
        match self {
            TransportError::Kernel(errno) => {
                *errno == libc_errno::EPERM || *errno == libc_errno::EACCES
            }
            TransportError::Io(err) => err.kind() == std::io::ErrorKind::PermissionDenied,
            _ => false,
        }
    }
}

/// errno values the decoders care about (Linux numbering).
pub mod libc_errno {
    pub const EPERM: i32 = 1;
    pub const ENOENT: i32 = 2;
    pub const ESRCH: i32 = 3;
    pub const EACCES: i32 = 13;
}

/// A request and the reply buffers it got.
pub type Exchange = (Vec<u8>, Vec<Vec<u8>>);

/// Sends one complete netlink request and returns the reply buffers as received, up to the end
/// of the exchange (NLMSG_DONE for a dump, the one reply otherwise, or an error message).
/// Kernel errors stay inside the buffers: [`check_replies`] turns them into `Err`.
pub trait Transport {
    fn exchange(&mut self, request: &[u8]) -> Result<Vec<Vec<u8>>, TransportError>;
}

const NLM_F_DUMP: u16 = 0x300;

/// Reads the sequence number and whether a request is a dump, from its header bytes.
fn request_header(request: &[u8]) -> (u32, bool) {
    let flags = request
        .get(6..8)
        .map(|b| u16::from_ne_bytes([b[0], b[1]]))
        .unwrap_or(0);
    let sequence = request
        .get(8..12)
        .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
        .unwrap_or(0);
    (sequence, flags & NLM_F_DUMP == NLM_F_DUMP)
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
                return Err(TransportError::Kernel(errno));
            }
        }
    }
    Ok(())
}

/// A netlink socket in the calling thread's network namespace.
pub struct SocketTransport {
    socket: NlSocket,
    buffer: Vec<u8>,
}

impl SocketTransport {
    /// A generic netlink socket.
    pub fn connect() -> Result<Self, TransportError> {
        Self::connect_to(NlFamily::Generic)
    }

    /// A socket of another netlink protocol (`NlFamily::Netfilter` for ctnetlink).
    pub fn connect_to(protocol: NlFamily) -> Result<Self, TransportError> {
        let socket = NlSocket::connect(protocol, None, Groups::empty())?;
        socket.block()?;
        Ok(SocketTransport {
            socket,
            buffer: vec![0; 64 * 1024],
        })
    }
}

impl Transport for SocketTransport {
    fn exchange(&mut self, request: &[u8]) -> Result<Vec<Vec<u8>>, TransportError> {
        let (sequence, dump) = request_header(request);
        self.socket.send(request, Msg::empty())?;
        let mut replies = Vec::new();
        loop {
            let (received, _) = self.socket.recv(&mut self.buffer[..], Msg::empty())?;
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

/// Builds a generic netlink request.
pub fn genl_request(
    family: u16,
    command: u8,
    version: u8,
    dump: bool,
    sequence: u32,
    attributes: Vec<Nlattr<u16, Buffer>>,
) -> Result<Vec<u8>, TransportError> {
    let build = |e: &dyn std::fmt::Display| TransportError::Build(e.to_string());
    let genl = GenlmsghdrBuilder::<u8, u16, NoUserHeader>::default()
        .cmd(command)
        .version(version)
        .attrs(attributes.into_iter().collect::<GenlBuffer<u16, Buffer>>())
        .build()
        .map_err(|e| build(&e))?;
    let flags = if dump {
        NlmF::REQUEST | NlmF::DUMP
    } else {
        NlmF::REQUEST
    };
    let message = NlmsghdrBuilder::default()
        .nl_type(family)
        .nl_flags(flags)
        .nl_seq(sequence)
        .nl_payload(NlPayload::Payload(genl))
        .build()
        .map_err(|e| build(&e))?;
    let mut bytes = Cursor::new(Vec::with_capacity(message.padded_size()));
    message.to_bytes(&mut bytes).map_err(|e| build(&e))?;
    Ok(bytes.into_inner())
}

/// Builds an nfnetlink request without attributes: a netlink header of type
/// `(subsystem << 8) | message` and a `struct nfgenmsg` (address family, `NFNETLINK_V0`,
/// resource id in network byte order).
pub fn nfnetlink_request(
    subsystem: u8,
    message: u8,
    dump: bool,
    sequence: u32,
    family: u8,
    res_id: u16,
) -> Vec<u8> {
    const NLMSG_HEADER_LEN: u32 = 16;
    const NFGENMSG_LEN: u32 = 4;
    const NLM_F_REQUEST: u16 = 0x1;
    const NFNETLINK_V0: u8 = 0;
    let kind = (u16::from(subsystem) << 8) | u16::from(message);
    let flags = if dump {
        NLM_F_REQUEST | NLM_F_DUMP
    } else {
        NLM_F_REQUEST
    };
    let mut bytes = Vec::with_capacity((NLMSG_HEADER_LEN + NFGENMSG_LEN) as usize);
    bytes.extend_from_slice(&(NLMSG_HEADER_LEN + NFGENMSG_LEN).to_ne_bytes());
    bytes.extend_from_slice(&kind.to_ne_bytes());
    bytes.extend_from_slice(&flags.to_ne_bytes());
    bytes.extend_from_slice(&sequence.to_ne_bytes());
    // Port 0: the kernel fills in the sender's.
    bytes.extend_from_slice(&0u32.to_ne_bytes());
    bytes.push(family);
    bytes.push(NFNETLINK_V0);
    bytes.extend_from_slice(&res_id.to_be_bytes());
    bytes
}

/// An attribute with a payload of raw bytes.
pub fn attribute(kind: u16, payload: Vec<u8>) -> Result<Nlattr<u16, Buffer>, TransportError> {
    let build = |e: &dyn std::fmt::Display| TransportError::Build(e.to_string());
    NlattrBuilder::default()
        .nla_type(
            AttrTypeBuilder::default()
                .nla_type(kind)
                .build()
                .map_err(|e| build(&e))?,
        )
        .nla_payload(Buffer::from(payload))
        .build()
        .map_err(|e| build(&e))
}

/// An attribute holding other attributes.
pub fn nested(
    kind: u16,
    children: &[Nlattr<u16, Buffer>],
) -> Result<Nlattr<u16, Buffer>, TransportError> {
    let mut parent = attribute(kind, Vec::new())?;
    for child in children {
        parent = parent
            .nest(child)
            .map_err(|e| TransportError::Build(e.to_string()))?;
    }
    Ok(parent)
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
