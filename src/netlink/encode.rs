//! Writes netlink messages: the `nlmsghdr`, a family header (`genlmsghdr`, `nfgenmsg`,
//! `ifinfomsg`, ...), then attributes, nested or not, each padded to four bytes. Requests of
//! every protocol the exporter speaks are built here, and tests build the replies they hand to
//! the decoders with it too. Pure: bytes out, no I/O.

use super::decode::align;
use super::uapi::{
    GENL_HDRLEN, IFADDRMSG_LEN, IFINFOMSG_LEN, NFNETLINK_V0, NLA_F_NESTED, NLA_HDRLEN, NLM_F_DUMP,
    NLM_F_REQUEST, NLMSG_HDRLEN, RTM_GETLINK, RTM_GETROUTE, RTMSG_LEN,
};

/// Why a message could not be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("netlink attribute {0} is longer than an attribute can be")]
    AttributeTooLong(u16),
    #[error("address family {0} does not fit the nfgenmsg header")]
    FamilyTooLarge(u16),
    #[error("netlink message is longer than a message can be")]
    MessageTooLong,
}

/// One netlink message being written. The lengths in the message header and in every nested
/// attribute's header are filled in when the message or the nest is finished.
#[derive(Debug, Clone)]
pub struct MessageWriter {
    bytes: Vec<u8>,
    /// Where each open nested attribute starts, innermost last.
    open: Vec<(usize, u16)>,
    error: Option<EncodeError>,
}

fn pad(bytes: &mut Vec<u8>) {
    bytes.resize(align(bytes.len()), 0);
}

/// The flags of a request: a dump asks for the whole table.
pub fn request_flags(dump: bool) -> u16 {
    if dump {
        NLM_F_REQUEST | NLM_F_DUMP
    } else {
        NLM_F_REQUEST
    }
}

impl MessageWriter {
    /// A message of type `kind`; the port is 0 (the kernel fills in the sender's).
    pub fn new(kind: u16, flags: u16, sequence: u32) -> Self {
        let mut bytes = Vec::with_capacity(64);
        bytes.extend_from_slice(&0u32.to_ne_bytes());
        bytes.extend_from_slice(&kind.to_ne_bytes());
        bytes.extend_from_slice(&flags.to_ne_bytes());
        bytes.extend_from_slice(&sequence.to_ne_bytes());
        bytes.extend_from_slice(&0u32.to_ne_bytes());
        debug_assert_eq!(bytes.len(), NLMSG_HDRLEN);
        MessageWriter {
            bytes,
            open: Vec::new(),
            error: None,
        }
    }

    /// A generic netlink message: the header, then `genlmsghdr` (command, version).
    pub fn generic(family: u16, flags: u16, sequence: u32, command: u8, version: u8) -> Self {
        let mut message = Self::new(family, flags, sequence);
        // `struct genlmsghdr`: command, version, two reserved bytes.
        let header: [u8; GENL_HDRLEN] = [command, version, 0, 0];
        message.header(&header);
        message
    }

    /// An nfnetlink message of type `(subsystem << 8) | message`: the header, then
    /// `nfgenmsg` (address family in one byte, `NFNETLINK_V0`, resource id in network byte
    /// order).
    pub fn netfilter(
        subsystem: u8,
        message: u8,
        flags: u16,
        sequence: u32,
        family: u16,
        res_id: u16,
    ) -> Self {
        let kind = (u16::from(subsystem) << 8) | u16::from(message);
        let mut writer = Self::new(kind, flags, sequence);
        let [high, low] = res_id.to_be_bytes();
        let Ok(family) = u8::try_from(family) else {
            writer.error = Some(EncodeError::FamilyTooLarge(family));
            return writer;
        };
        writer.header(&[family, NFNETLINK_V0, high, low]);
        writer
    }

    /// Appends a family's fixed header (padded).
    pub fn header(&mut self, bytes: &[u8]) -> &mut Self {
        self.bytes.extend_from_slice(bytes);
        pad(&mut self.bytes);
        self
    }

    /// Appends one attribute with `payload` (padded).
    pub fn attribute(&mut self, kind: u16, payload: &[u8]) -> &mut Self {
        if let Err(error) = push_attribute(&mut self.bytes, kind, payload) {
            self.error.get_or_insert(error);
        }
        self
    }

    /// Appends attributes written earlier with [`push_attribute`], as they are.
    pub fn attributes(&mut self, block: &[u8]) -> &mut Self {
        self.bytes.extend_from_slice(block);
        pad(&mut self.bytes);
        self
    }

    /// Opens a nested attribute (`NLA_F_NESTED` set): what follows goes inside it until
    /// [`MessageWriter::end_nested`].
    pub fn begin_nested(&mut self, kind: u16) -> &mut Self {
        self.open.push((self.bytes.len(), kind));
        self.bytes.extend_from_slice(&0u16.to_ne_bytes());
        self.bytes
            .extend_from_slice(&(kind | NLA_F_NESTED).to_ne_bytes());
        self
    }

    /// Closes the innermost nested attribute.
    pub fn end_nested(&mut self) -> &mut Self {
        if let Some((start, kind)) = self.open.pop() {
            match u16::try_from(self.bytes.len() - start) {
                Ok(len) => {
                    if let Some(slot) = self.bytes.get_mut(start..start + 2) {
                        slot.copy_from_slice(&len.to_ne_bytes());
                    }
                }
                Err(_) => {
                    self.error
                        .get_or_insert(EncodeError::AttributeTooLong(kind));
                }
            }
        }
        self
    }

    /// The finished message, its length filled in; nests still open are closed.
    pub fn finish(&mut self) -> Result<Vec<u8>, EncodeError> {
        while !self.open.is_empty() {
            self.end_nested();
        }
        if let Some(error) = self.error.take() {
            return Err(error);
        }
        let len = u32::try_from(self.bytes.len()).map_err(|_| EncodeError::MessageTooLong)?;
        let mut bytes = std::mem::take(&mut self.bytes);
        if let Some(slot) = bytes.get_mut(..4) {
            slot.copy_from_slice(&len.to_ne_bytes());
        }
        Ok(bytes)
    }
}

/// Appends one attribute (header, `payload`, padding) to a block of attributes: for an
/// attribute list built apart from its message, such as a nest reused in several replies.
pub fn push_attribute(out: &mut Vec<u8>, kind: u16, payload: &[u8]) -> Result<(), EncodeError> {
    let len = u16::try_from(NLA_HDRLEN + payload.len())
        .map_err(|_| EncodeError::AttributeTooLong(kind))?;
    out.extend_from_slice(&len.to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(payload);
    pad(out);
    Ok(())
}

/// A generic netlink request without attributes.
pub fn generic_request(
    family: u16,
    command: u8,
    version: u8,
    dump: bool,
    sequence: u32,
) -> Result<Vec<u8>, EncodeError> {
    MessageWriter::generic(family, request_flags(dump), sequence, command, version).finish()
}

/// An nfnetlink request without attributes.
pub fn netfilter_request(
    subsystem: u8,
    message: u8,
    dump: bool,
    sequence: u32,
    family: u16,
    res_id: u16,
) -> Result<Vec<u8>, EncodeError> {
    MessageWriter::netfilter(
        subsystem,
        message,
        request_flags(dump),
        sequence,
        family,
        res_id,
    )
    .finish()
}

/// An rtnetlink dump request (`RTM_GETLINK`, `RTM_GETADDR` or `RTM_GETROUTE`) for every
/// address family: the header and a zeroed `ifinfomsg`, `ifaddrmsg` or `rtmsg`.
pub fn route_dump_request(kind: u16, sequence: u32) -> Result<Vec<u8>, EncodeError> {
    let header = match kind {
        RTM_GETLINK => [0u8; IFINFOMSG_LEN].as_slice(),
        RTM_GETROUTE => [0u8; RTMSG_LEN].as_slice(),
        _ => [0u8; IFADDRMSG_LEN].as_slice(),
    };
    MessageWriter::new(kind, request_flags(true), sequence)
        .header(header)
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::decode::{Control, attributes, messages};
    use crate::netlink::uapi::{NLM_F_MULTI, NLMSG_DONE, RTM_GETADDR};

    #[test]
    fn nested_attributes_carry_their_whole_length_and_the_nested_flag() {
        let bytes = MessageWriter::generic(0x20, request_flags(true), 4, 8, 1)
            .begin_nested(1)
            .attribute(1, &2u16.to_ne_bytes())
            .attribute(3, &[10, 0, 0, 1])
            .end_nested()
            .attribute(9, b"x")
            .finish()
            .expect("encodes");
        assert_eq!(bytes.len(), 16 + 4 + 4 + 8 + 8 + 8);
        let message = messages(&bytes).next().expect("one").expect("decodes");
        assert_eq!(message.flags, NLM_F_REQUEST | NLM_F_DUMP);
        let (command, body) = message.generic().expect("genl");
        assert_eq!(command, 8);
        let top: Vec<_> = attributes(body).collect::<Result<_, _>>().expect("attrs");
        assert_eq!(top.len(), 2);
        assert_eq!(&body[2..4], &(1u16 | NLA_F_NESTED).to_ne_bytes());
        let inner: Vec<_> = top[0].nested().collect::<Result<_, _>>().expect("nested");
        assert_eq!(inner[0].u16(), Ok(2));
        assert_eq!(inner[1].payload, &[10, 0, 0, 1]);
        assert_eq!(top[1].payload, b"x");
    }

    #[test]
    fn route_and_netfilter_requests_have_their_family_headers() {
        let link = route_dump_request(RTM_GETLINK, 1).expect("encodes");
        let addr = route_dump_request(RTM_GETADDR, 1).expect("encodes");
        assert_eq!((link.len(), addr.len()), (32, 24));
        let nf = netfilter_request(1, 4, true, 1, 0, 0x0102).expect("encodes");
        let message = messages(&nf).next().expect("one").expect("decodes");
        assert_eq!(message.kind, 0x0104);
        let (header, _) = message.netfilter().expect("nfgenmsg");
        assert_eq!(header.res_id, 0x0102);
    }

    #[test]
    fn oversized_attributes_are_errors() {
        let big = vec![0u8; 70_000];
        let result = MessageWriter::new(0x20, 0, 1).attribute(1, &big).finish();
        assert_eq!(result, Err(EncodeError::AttributeTooLong(1)));
        let done = MessageWriter::new(NLMSG_DONE, NLM_F_MULTI, 1)
            .header(&0u32.to_ne_bytes())
            .finish()
            .expect("encodes");
        let message = messages(&done).next().expect("one").expect("decodes");
        assert_eq!(message.control(), Ok(Control::Done));
    }
}
