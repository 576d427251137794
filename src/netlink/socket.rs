//! The netlink sockets: generic netlink (IPVS), nfnetlink (conntrack) and rtnetlink (links,
//! addresses). [`Transport`] is the seam: [`SocketTransport`] talks to the kernel through a
//! netlink socket, [`super::capture`] records exchanges through the same trait, and tests put
//! their own doubles behind it.
//! Requests are written by [`super::encode`], replies read by the pure [`super::decode`]. The
//! only module of the netlink tree that does I/O.

use std::os::fd::{AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::socket::{
    AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType, bind, recv, send,
    socket,
};

use super::decode::{Control, DecodeError, messages};
use super::encode::EncodeError;

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
