//! Netlink framing, decoded from raw bytes: messages (`nlmsghdr`), the generic netlink header
//! (`genlmsghdr`), the nfnetlink header (`nfgenmsg`) and attributes (`nlattr`, nested or not).
//! Pure and bounds-checked: a short or lying length is an error value, never a panic, and
//! unknown attribute types are left to the caller to skip.

use std::fmt;

use crate::netlink::uapi::{
    GENL_HDRLEN, NFGENMSG_LEN, NLA_ALIGNTO, NLA_HDRLEN, NLA_TYPE_MASK, NLM_F_DUMP, NLMSG_DONE,
    NLMSG_ERROR, NLMSG_HDRLEN,
};

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("netlink message truncated: {0}")]
    Truncated(&'static str),
    #[error("attribute {attribute} has {got} bytes, expected {expected}")]
    AttributeSize {
        attribute: u16,
        got: usize,
        expected: &'static str,
    },
    #[error("attribute {attribute} is not valid UTF-8")]
    NotText { attribute: u16 },
    #[error("required attribute {0} is missing")]
    Missing(&'static str),
    #[error("{0}")]
    Invalid(String),
}

/// One netlink message inside a buffer.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    pub kind: u16,
    pub flags: u16,
    pub sequence: u32,
    pub port: u32,
    pub payload: &'a [u8],
}

impl fmt::Debug for Message<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("kind", &self.kind)
            .field("flags", &self.flags)
            .field("sequence", &self.sequence)
            .field("payload_len", &self.payload.len())
            .finish()
    }
}

/// What a netlink message means to a request/reply exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control<'a> {
    /// A reply carrying data (for generic netlink: header and attributes).
    Data(Message<'a>),
    /// The end of a dump.
    Done,
    /// An acknowledgement (error 0).
    Ack,
    /// The kernel refused the request: a positive errno.
    Error(i32),
}

/// A native-endian `u16` at `at`, if the bytes reach that far.
pub fn read_u16(bytes: &[u8], at: usize) -> Option<u16> {
    let b = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_ne_bytes([*b.first()?, *b.get(1)?]))
}

/// A native-endian `u32` at `at`, if the bytes reach that far.
pub fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    let mut raw = [0u8; 4];
    raw.copy_from_slice(b);
    Some(u32::from_ne_bytes(raw))
}

/// `len` rounded up to the alignment of netlink messages and attributes.
pub const fn align(len: usize) -> usize {
    (len + NLA_ALIGNTO - 1) & !(NLA_ALIGNTO - 1)
}

/// Iterates over the netlink messages in one `recv` buffer.
pub fn messages(buffer: &[u8]) -> Messages<'_> {
    Messages { rest: buffer }
}

pub struct Messages<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<Message<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let parsed = (|| {
            let len =
                read_u32(self.rest, 0).ok_or(DecodeError::Truncated("message header"))? as usize;
            if len < NLMSG_HDRLEN || len > self.rest.len() {
                return Err(DecodeError::Truncated("message length"));
            }
            let message = Message {
                kind: read_u16(self.rest, 4).ok_or(DecodeError::Truncated("message type"))?,
                flags: read_u16(self.rest, 6).ok_or(DecodeError::Truncated("message flags"))?,
                sequence: read_u32(self.rest, 8).ok_or(DecodeError::Truncated("sequence"))?,
                port: read_u32(self.rest, 12).ok_or(DecodeError::Truncated("port"))?,
                payload: self
                    .rest
                    .get(NLMSG_HDRLEN..len)
                    .ok_or(DecodeError::Truncated("payload"))?,
            };
            Ok((message, align(len).min(self.rest.len())))
        })();
        match parsed {
            Ok((message, consumed)) => {
                self.rest = self.rest.get(consumed..).unwrap_or(&[]);
                Some(Ok(message))
            }
            Err(err) => {
                self.rest = &[];
                Some(Err(err))
            }
        }
    }
}

impl<'a> Message<'a> {
    /// Classifies the message as data, end of dump, acknowledgement or error.
    pub fn control(&self) -> Result<Control<'a>, DecodeError> {
        match self.kind {
            NLMSG_DONE => Ok(Control::Done),
            NLMSG_ERROR => {
                let code =
                    read_u32(self.payload, 0).ok_or(DecodeError::Truncated("error code"))? as i32;
                if code == 0 {
                    Ok(Control::Ack)
                } else {
                    Ok(Control::Error(code.saturating_neg()))
                }
            }
            _ => Ok(Control::Data(*self)),
        }
    }

    /// Whether the message asks for a dump (`NLM_F_DUMP`): the reply is multipart and ends
    /// with `NLMSG_DONE`.
    pub fn is_dump(&self) -> bool {
        self.flags & NLM_F_DUMP == NLM_F_DUMP
    }

    /// Splits the payload into a family's fixed header of `len` bytes (`ifinfomsg`,
    /// `ifaddrmsg`, ...) and the attribute bytes after it (aligned).
    pub fn split_header(
        &self,
        len: usize,
        what: &'static str,
    ) -> Result<(&'a [u8], &'a [u8]), DecodeError> {
        let header = self
            .payload
            .get(..len)
            .ok_or(DecodeError::Truncated(what))?;
        let attributes = self.payload.get(align(len)..).unwrap_or(&[]);
        Ok((header, attributes))
    }

    /// Splits a generic netlink payload into its command and its attribute bytes.
    pub fn generic(&self) -> Result<(u8, &'a [u8]), DecodeError> {
        let command = *self
            .payload
            .first()
            .ok_or(DecodeError::Truncated("genl header"))?;
        let attributes = self
            .payload
            .get(GENL_HDRLEN..)
            .ok_or(DecodeError::Truncated("genl header"))?;
        Ok((command, attributes))
    }
}

/// The header of an nfnetlink message (`struct nfgenmsg`): the address family, the protocol
/// version (`NFNETLINK_V0`) and a resource id that each subsystem gives its own meaning (the CPU
/// of a ctnetlink per-CPU statistics reply). The resource id is big-endian on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NfGenHeader {
    pub family: u8,
    pub version: u8,
    pub res_id: u16,
}

impl<'a> Message<'a> {
    /// Splits an nfnetlink payload into its `nfgenmsg` header and its attribute bytes.
    pub fn netfilter(&self) -> Result<(NfGenHeader, &'a [u8]), DecodeError> {
        let header = self
            .payload
            .get(..NFGENMSG_LEN)
            .ok_or(DecodeError::Truncated("nfgenmsg header"))?;
        let (family, version, res_id) = match header {
            [family, version, high, low] => (*family, *version, u16::from_be_bytes([*high, *low])),
            _ => return Err(DecodeError::Truncated("nfgenmsg header")),
        };
        let attributes = self
            .payload
            .get(NFGENMSG_LEN..)
            .ok_or(DecodeError::Truncated("nfgenmsg header"))?;
        Ok((
            NfGenHeader {
                family,
                version,
                res_id,
            },
            attributes,
        ))
    }
}

/// One attribute: its type (flags masked off) and payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attribute<'a> {
    pub kind: u16,
    pub payload: &'a [u8],
}

/// Iterates over the attributes in a buffer (a message's or a nested attribute's payload).
pub fn attributes(buffer: &[u8]) -> Attributes<'_> {
    Attributes { rest: buffer }
}

pub struct Attributes<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Attributes<'a> {
    type Item = Result<Attribute<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        // Trailing bytes shorter than a header are padding.
        if self.rest.len() < NLA_HDRLEN {
            return None;
        }
        let len = read_u16(self.rest, 0).map(usize::from);
        let kind = read_u16(self.rest, 2);
        match (len, kind) {
            (Some(len), Some(kind)) if len >= NLA_HDRLEN && len <= self.rest.len() => {
                let payload = self.rest.get(NLA_HDRLEN..len).unwrap_or(&[]);
                self.rest = self
                    .rest
                    .get(align(len).min(self.rest.len())..)
                    .unwrap_or(&[]);
                Some(Ok(Attribute {
                    kind: kind & NLA_TYPE_MASK,
                    payload,
                }))
            }
            _ => {
                self.rest = &[];
                Some(Err(DecodeError::Truncated("attribute length")))
            }
        }
    }
}

impl<'a> Attribute<'a> {
    fn fixed<const N: usize>(&self, expected: &'static str) -> Result<[u8; N], DecodeError> {
        let mut raw = [0u8; N];
        if self.payload.len() != N {
            return Err(DecodeError::AttributeSize {
                attribute: self.kind,
                got: self.payload.len(),
                expected,
            });
        }
        raw.copy_from_slice(self.payload);
        Ok(raw)
    }

    pub fn u8(&self) -> Result<u8, DecodeError> {
        self.fixed::<1>("1").map(|[b]| b)
    }

    pub fn u16(&self) -> Result<u16, DecodeError> {
        self.fixed::<2>("2").map(u16::from_ne_bytes)
    }

    /// A 16-bit value in network byte order (ports).
    pub fn u16_be(&self) -> Result<u16, DecodeError> {
        self.fixed::<2>("2").map(u16::from_be_bytes)
    }

    pub fn u32(&self) -> Result<u32, DecodeError> {
        self.fixed::<4>("4").map(u32::from_ne_bytes)
    }

    /// A 32-bit value in network byte order (IPv4 netmasks).
    pub fn u32_be(&self) -> Result<u32, DecodeError> {
        self.fixed::<4>("4").map(u32::from_be_bytes)
    }

    pub fn u64(&self) -> Result<u64, DecodeError> {
        self.fixed::<8>("8").map(u64::from_ne_bytes)
    }

    /// A 64-bit value in network byte order.
    pub fn u64_be(&self) -> Result<u64, DecodeError> {
        self.fixed::<8>("8").map(u64::from_be_bytes)
    }

    /// A NUL-terminated (or not) string.
    pub fn text(&self) -> Result<&'a str, DecodeError> {
        let end = self
            .payload
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(self.payload.len());
        let bytes = self.payload.get(..end).unwrap_or(&[]);
        std::str::from_utf8(bytes).map_err(|_| DecodeError::NotText {
            attribute: self.kind,
        })
    }

    /// The attributes nested inside this one.
    pub fn nested(&self) -> Attributes<'a> {
        attributes(self.payload)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::encode::MessageWriter;
    use crate::netlink::uapi::NLM_F_MULTI;

    /// A message whose payload is `payload` as given (padded), sequence 7.
    fn message(kind: u16, flags: u16, payload: &[u8]) -> Vec<u8> {
        MessageWriter::new(kind, flags, 7)
            .header(payload)
            .finish()
            .expect("encodes")
    }

    #[test]
    fn messages_attributes_and_nesting() {
        let mut buffer = MessageWriter::generic(0x20, NLM_F_MULTI, 7, 4, 1)
            .begin_nested(5)
            .attribute(1, &42u32.to_ne_bytes())
            .end_nested()
            .attribute(2, b"wlc\0")
            .attribute(3, &[1, 2, 3])
            .finish()
            .expect("encodes");
        buffer.extend(message(NLMSG_DONE, NLM_F_MULTI, &0u32.to_ne_bytes()));

        let all: Vec<Message> = messages(&buffer)
            .collect::<Result<_, _>>()
            .expect("decodes");
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].control(), Ok(Control::Done));
        let (command, body) = all[0].generic().expect("genl");
        assert_eq!(command, 4);
        let decoded: Vec<Attribute> = attributes(body).collect::<Result<_, _>>().expect("attrs");
        assert_eq!(decoded.len(), 3);
        assert_eq!(decoded[0].kind, 5, "the nested flag is masked off");
        let nested: Vec<Attribute> = decoded[0]
            .nested()
            .collect::<Result<_, _>>()
            .expect("nested");
        assert_eq!(nested[0].u32(), Ok(42));
        assert_eq!(decoded[1].text(), Ok("wlc"));
        assert_eq!(decoded[2].payload, &[1, 2, 3]);
        assert!(decoded[2].u32().is_err());
    }

    #[test]
    fn errors_and_acks() {
        let mut payload = (-1i32).to_ne_bytes().to_vec();
        payload.extend([0u8; 16]);
        let error = message(NLMSG_ERROR, 0, &payload);
        let parsed = messages(&error).next().expect("one").expect("ok");
        assert_eq!(parsed.control(), Ok(Control::Error(1)));
        let ack = message(NLMSG_ERROR, 0, &[0u8; 20]);
        let parsed = messages(&ack).next().expect("one").expect("ok");
        assert_eq!(parsed.control(), Ok(Control::Ack));
    }

    #[test]
    fn nfgenmsg_header_has_a_big_endian_resource_id() {
        let buffer = MessageWriter::netfilter(1, 4, NLM_F_MULTI, 7, 0, 0x0102)
            .attribute(2, &7u32.to_be_bytes())
            .finish()
            .expect("encodes");
        let parsed = messages(&buffer).next().expect("one").expect("ok");
        let (header, body) = parsed.netfilter().expect("nfgenmsg");
        assert_eq!(
            header,
            NfGenHeader {
                family: 0,
                version: 0,
                res_id: 0x0102
            }
        );
        let decoded: Vec<Attribute> = attributes(body).collect::<Result<_, _>>().expect("attrs");
        assert_eq!(decoded[0].u32_be(), Ok(7));
        // A message that claims one byte less than its four-byte header.
        let mut short = message(0x0104, 0, &[0, 0, 1]);
        short[..4].copy_from_slice(&19u32.to_ne_bytes());
        let parsed = messages(&short).next().expect("one").expect("ok");
        assert!(parsed.netfilter().is_err());
        assert!(parsed.split_header(4, "nfgenmsg").is_err());
        assert_eq!(parsed.split_header(3, "three").map(|(h, _)| h.len()), Ok(3));
    }

    #[test]
    fn lying_lengths_are_errors_not_panics() {
        let mut good = message(0x20, 0, &[4, 1, 0, 0]);
        good.truncate(good.len() - 1);
        assert!(messages(&good).next().expect("item").is_err());
        let huge = [0xffu8, 0xff, 0, 0, 1, 0];
        assert!(attributes(&huge).next().expect("item").is_err());
        let tiny = [2u8, 0, 1, 0];
        assert!(attributes(&tiny).next().expect("item").is_err());
        // Every prefix of a valid buffer decodes or fails cleanly.
        let buffer = MessageWriter::generic(0x20, 0, 7, 4, 1)
            .attribute(1, &[1, 2, 3, 4, 5])
            .attribute(2, &[])
            .finish()
            .expect("encodes");
        for end in 0..buffer.len() {
            for m in messages(&buffer[..end]).flatten() {
                if let Ok((_, body)) = m.generic() {
                    for a in attributes(body).flatten() {
                        let _ = (a.u8(), a.u16(), a.u32(), a.u64(), a.text());
                    }
                }
            }
        }
    }
}
