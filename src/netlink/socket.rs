//! The netlink sockets: generic netlink (IPVS), nfnetlink (conntrack) and rtnetlink (links,
//! addresses). [`Transport`] is the seam: [`SocketTransport`] talks to the kernel through
//! netlink sockets (for IPVS, a second one reads each service's real servers in small
//! buffers), [`super::capture`] records exchanges through the same trait, and tests put their
//! own doubles behind it.
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

    /// As [`Transport::exchange`], for a dump whose whole reply is expected to take a few KiB
    /// (one service's real servers): a transport may read it in small buffers, which cost the
    /// kernel less to make. Unless a transport says otherwise, the same as `exchange`.
    fn exchange_small_dump(&mut self, request: &[u8]) -> Result<Vec<Vec<u8>>, TransportError> {
        self.exchange(request)
    }
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

/// How much one `recv` offers on a socket's main buffer. The kernel makes each later buffer of
/// a dump as large as the largest `recv` its socket has offered, up to 32 KiB, so a dump of
/// services up to that size comes whole in one buffer: a dump that spans several is resumed by
/// position, and a service removed in between makes the next buffer skip one that was never
/// sent.
const RECEIVE_BUFFER: usize = 64 * 1024;

/// How much one `recv` offers for small dumps. The kernel zeroes each dump buffer it
/// allocates (`init_on_alloc` in Debian's kernels), and a dump of one service's real servers
/// takes two: the data, then the end. At 32 KiB each, that is 64 KiB cleared a service: at
/// 2,000 services × 10 in the lab, the kernel spent a fifth of the scrape clearing pages. A
/// buffer of this size and the kernel's bookkeeping for it (320 B) share one 8 KiB slab
/// object, and 10 real servers (about 360 B each in the lab) fit in it.
const SMALL_DUMP_BUFFER: usize = 7680;

/// One netlink socket and the buffer its replies are read into.
struct NetlinkSocket {
    socket: OwnedFd,
    buffer: Vec<u8>,
}

impl NetlinkSocket {
    /// A socket in the calling thread's network namespace, bound to port 0: the kernel picks
    /// its port.
    fn open(protocol: Protocol, receive_buffer: usize) -> Result<Self, TransportError> {
        let socket = socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            protocol.socket_protocol(),
        )
        .map_err(std::io::Error::from)?;
        bind(socket.as_raw_fd(), &NetlinkAddr::new(0, 0)).map_err(std::io::Error::from)?;
        Ok(NetlinkSocket {
            socket,
            buffer: vec![0; receive_buffer],
        })
    }

    fn exchange(&mut self, request: &[u8]) -> Result<Vec<Vec<u8>>, TransportError> {
        let (sequence, dump) = request_header(request);
        send(self.socket.as_raw_fd(), request, MsgFlags::empty()).map_err(std::io::Error::from)?;
        let mut replies = Vec::new();
        loop {
            // With MSG_TRUNC, netlink says how long the kernel's buffer was, even if longer.
            let received = recv(
                self.socket.as_raw_fd(),
                &mut self.buffer,
                MsgFlags::MSG_TRUNC,
            )
            .map_err(std::io::Error::from)?;
            let Some(buffer) = self.buffer.get(..received) else {
                return Err(TransportError::Io(std::io::Error::other(format!(
                    "the kernel's reply of {received} bytes is longer than the {} bytes received",
                    self.buffer.len()
                ))));
            };
            let buffer = buffer.to_vec();
            let done = ends_exchange(&buffer, sequence, dump)?;
            replies.push(buffer);
            if done {
                return Ok(replies);
            }
        }
    }
}

/// Netlink sockets in the calling thread's network namespace: the main one, and for generic
/// netlink a second one that reads small dumps in small buffers (see [`SMALL_DUMP_BUFFER`]).
pub struct SocketTransport {
    main: NetlinkSocket,
    small_dumps: Option<NetlinkSocket>,
}

impl SocketTransport {
    /// Generic netlink sockets, with the second one for small dumps.
    pub fn connect() -> Result<Self, TransportError> {
        Ok(SocketTransport {
            main: NetlinkSocket::open(Protocol::Generic, RECEIVE_BUFFER)?,
            small_dumps: Some(NetlinkSocket::open(Protocol::Generic, SMALL_DUMP_BUFFER)?),
        })
    }

    /// A socket of another netlink protocol (`Protocol::Netfilter` for ctnetlink); its small
    /// dumps go through the one socket.
    pub fn connect_to(protocol: Protocol) -> Result<Self, TransportError> {
        Ok(SocketTransport {
            main: NetlinkSocket::open(protocol, RECEIVE_BUFFER)?,
            small_dumps: None,
        })
    }
}

impl Transport for SocketTransport {
    fn exchange(&mut self, request: &[u8]) -> Result<Vec<Vec<u8>>, TransportError> {
        self.main.exchange(request)
    }

    fn exchange_small_dump(&mut self, request: &[u8]) -> Result<Vec<Vec<u8>>, TransportError> {
        match &mut self.small_dumps {
            Some(socket) => socket.exchange(request),
            None => self.main.exchange(request),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::encode::{MessageWriter, generic_request};
    use crate::netlink::uapi::{
        CTRL_CMD_GETFAMILY, GENL_ID_CTRL, NETLINK_GENERIC, NETLINK_NETFILTER, NETLINK_ROUTE,
        NLM_F_MULTI, NLMSG_DONE, NLMSG_ERROR,
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

    #[test]
    fn the_small_dump_buffer_fits_one_8_kib_slab_object() {
        // The kernel's first buffer of a dump is at most a page; 320 B is its bookkeeping.
        const { assert!(SMALL_DUMP_BUFFER >= 4096 && SMALL_DUMP_BUFFER + 320 <= 8192) };
    }

    /// The controller's dump of families: no privilege needed.
    fn families_request() -> Vec<u8> {
        generic_request(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1, true, 1).expect("encodes")
    }

    /// The messages of a reply, whatever the buffers they came in.
    fn message_bytes(replies: &[Vec<u8>]) -> Vec<Vec<u8>> {
        replies
            .iter()
            .flat_map(|buffer| messages(buffer))
            .map(|message| message.expect("decodes").payload.to_vec())
            .collect()
    }

    #[test]
    fn a_small_dump_comes_in_small_buffers_with_the_same_messages() {
        let mut transport = SocketTransport::connect().expect("generic netlink sockets");
        let whole = transport.exchange(&families_request()).expect("a dump");
        let small = transport
            .exchange_small_dump(&families_request())
            .expect("a dump");
        check_replies(&small).expect("no error");
        assert!(
            small.iter().all(|buffer| buffer.len() <= SMALL_DUMP_BUFFER),
            "{:?}",
            small.iter().map(Vec::len).collect::<Vec<_>>()
        );
        assert_eq!(message_bytes(&whole), message_bytes(&small));
        assert!(message_bytes(&small).len() > 1, "the controller, then done");

        // Other protocols have one socket, which small dumps share.
        let route = SocketTransport::connect_to(Protocol::Route).expect("a socket");
        assert!(route.small_dumps.is_none());
    }

    #[test]
    fn a_reply_longer_than_the_buffer_is_an_error_not_a_cut_reply() {
        let mut transport = SocketTransport::connect().expect("generic netlink sockets");
        transport.main.buffer.truncate(64);
        let err = transport.exchange(&families_request()).expect_err("cut");
        assert!(
            err.to_string()
                .contains("longer than the 64 bytes received"),
            "{err}"
        );
    }
}
