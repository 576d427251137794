//! What the `neli` crate (a dev-dependency, measured here only) does with the malformed netlink
//! input the project's own decoder guards against (see tests/fuzz.rs and the parser's unit
//! tests): each test asserts neli's behaviour today, error, panic or misread, next to the
//! project's, so docs/decisions/neli.md's table is checked on every run.

// Test code: a failed unwrap or index is a failed test (the [lints] table guards src/).
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::panic, clippy::indexing_slicing)]
#![allow(clippy::cast_possible_truncation)]

use std::io::Cursor;
use std::panic::{AssertUnwindSafe, catch_unwind};

use ipvs_exporter::netlink::decode::{Control, attributes, messages};
use neli::FromBytes;
use neli::genl::{Genlmsghdr, Nlattr};
use neli::nl::{NlPayload, Nlmsghdr};
use neli::types::Buffer;

type GenlMessage = Nlmsghdr<u16, Genlmsghdr<u8, u16>>;

/// What a decode did.
#[derive(Debug)]
enum Outcome<T> {
    Decoded(T),
    Error(String),
    Panicked(String),
}

impl<T> Outcome<T> {
    fn is_error(&self) -> bool {
        self.error_message().is_some()
    }

    fn error_message(&self) -> Option<&str> {
        match self {
            Outcome::Error(message) => Some(message),
            _ => None,
        }
    }

    fn panic_message(&self) -> Option<&str> {
        match self {
            Outcome::Panicked(message) => Some(message),
            _ => None,
        }
    }
}

/// Runs `decode`, catching a panic (its message is kept; the default hook still prints it).
fn outcome<T, E: std::fmt::Display>(decode: impl FnOnce() -> Result<T, E>) -> Outcome<T> {
    match catch_unwind(AssertUnwindSafe(decode)) {
        Ok(Ok(value)) => Outcome::Decoded(value),
        Ok(Err(err)) => Outcome::Error(err.to_string()),
        Err(payload) => Outcome::Panicked(
            payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default(),
        ),
    }
}

/// Every message in `buffer`, with neli, stopping at the first failure.
fn neli_messages(buffer: &[u8]) -> Outcome<Vec<GenlMessage>> {
    outcome(|| {
        let mut cursor = Cursor::new(buffer);
        let mut all = Vec::new();
        while (cursor.position() as usize) < buffer.len() {
            all.push(GenlMessage::from_bytes(&mut cursor)?);
        }
        Ok::<_, neli::err::DeError>(all)
    })
}

/// Whether the project's decoder reports an error anywhere in `buffer` (framing, generic
/// header or top-level attributes, and inside attribute type 2, which these tests use for the
/// nested one).
fn project_rejects(buffer: &[u8]) -> bool {
    for message in messages(buffer) {
        let Ok(message) = message else { return true };
        let Ok(control) = message.control() else {
            return true;
        };
        if let Control::Data(data) = control {
            let Ok((_, body)) = data.generic() else {
                return true;
            };
            for attribute in attributes(body) {
                let Ok(attribute) = attribute else {
                    return true;
                };
                if attribute.kind == 2 && attribute.nested().any(|a| a.is_err()) {
                    return true;
                }
            }
        }
    }
    false
}

fn pad(bytes: &mut Vec<u8>) {
    while !bytes.len().is_multiple_of(4) {
        bytes.push(0);
    }
}

/// An attribute with its length field as given (`len`), then the payload and padding.
fn raw_attribute(len: u16, kind: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = len.to_ne_bytes().to_vec();
    out.extend(kind.to_ne_bytes());
    out.extend(payload);
    pad(&mut out);
    out
}

fn attribute(kind: u16, payload: &[u8]) -> Vec<u8> {
    raw_attribute(4 + payload.len() as u16, kind, payload)
}

/// A netlink message of `kind` with its length field as given (`len`, or the true length).
fn raw_message(len: Option<u32>, kind: u16, flags: u16, payload: &[u8]) -> Vec<u8> {
    let mut body = payload.to_vec();
    pad(&mut body);
    let len = len.unwrap_or(16 + body.len() as u32);
    let mut out = len.to_ne_bytes().to_vec();
    out.extend(kind.to_ne_bytes());
    out.extend(flags.to_ne_bytes());
    out.extend(7u32.to_ne_bytes()); // sequence
    out.extend(0u32.to_ne_bytes()); // port
    out.extend(body);
    out
}

/// A generic netlink message of the IPVS family id 0x23: command 5, version 1.
fn generic(attributes: &[u8]) -> Vec<u8> {
    let mut payload = vec![5u8, 1, 0, 0];
    payload.extend(attributes);
    raw_message(None, 0x23, NLM_F_MULTI, &payload)
}

const NLM_F_MULTI: u16 = 2;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;

#[test]
fn the_well_formed_message_decodes_the_same_both_ways() {
    let buffer = generic(&attribute(2, &attribute(1, &42u32.to_ne_bytes())));
    let Outcome::Decoded(decoded) = neli_messages(&buffer) else {
        panic!("neli decodes a well-formed message");
    };
    let NlPayload::Payload(genl) = decoded[0].nl_payload() else {
        panic!("data");
    };
    let outer = &genl.attrs().as_ref()[0];
    let inner = outer.get_attr_handle::<u16>().unwrap();
    let value: u32 = inner.get_attr_payload_as(1).unwrap();
    assert_eq!(value, 42);
    assert!(!project_rejects(&buffer));
}

#[test]
fn a_buffer_shorter_than_a_message_header_is_an_error() {
    let buffer = generic(&attribute(1, &[1, 2, 3, 4]));
    let truncated = &buffer[..10];
    let result = neli_messages(truncated);
    assert_eq!(
        result.error_message(),
        Some("IO error: unexpected end of file")
    );
    assert!(project_rejects(truncated));
}

#[test]
fn a_message_length_below_the_header_size_panics_in_neli() {
    // A whole header whose nlmsg_len (8) is smaller than the header itself (16). neli
    // subtracts the header size from the length unchecked: with overflow checks (test and dev
    // builds) that is a panic; without them (release) it wraps to a huge length.
    let buffer = raw_message(Some(8), 0x23, 0, &[5, 1, 0, 0]);
    let result = neli_messages(&buffer);
    if cfg!(debug_assertions) {
        let message = result.panic_message().expect("neli panics");
        assert!(message.contains("subtract with overflow"), "{message}");
    } else {
        assert!(result.is_error(), "{result:?}");
    }
    assert!(project_rejects(&buffer));
}

#[test]
fn a_message_length_past_the_buffer_is_an_error() {
    let buffer = raw_message(Some(400), 0x23, 0, &[5, 1, 0, 0]);
    let result = neli_messages(&buffer);
    // neli's errors name the length it refused, not which message or attribute held it.
    assert_eq!(
        result.error_message(),
        Some("Invalid input was provided: 380")
    );
    assert!(project_rejects(&buffer));
}

#[test]
fn an_attribute_length_shorter_than_its_header_is_an_error() {
    let buffer = generic(&raw_attribute(2, 1, &[0, 0, 0, 0]));
    let result = neli_messages(&buffer);
    assert_eq!(
        result.error_message(),
        Some("Invalid input was provided: 2")
    );
    assert!(project_rejects(&buffer));
}

#[test]
fn an_attribute_length_past_the_buffer_is_an_error() {
    let buffer = generic(&raw_attribute(200, 1, &[0, 0, 0, 0]));
    let result = neli_messages(&buffer);
    assert_eq!(
        result.error_message(),
        Some("Invalid input was provided: 196")
    );
    assert!(project_rejects(&buffer));
}

#[test]
fn a_nested_attribute_longer_than_its_parent_is_an_error_when_walked() {
    // The parent holds 8 bytes; the child inside it claims 12, reaching into the sibling
    // that follows the parent. The message itself frames correctly.
    let mut parent_payload = raw_attribute(12, 1, &[0, 0, 0, 0]);
    parent_payload.truncate(8);
    let mut body = attribute(2, &parent_payload);
    body.extend(attribute(3, &[9, 9, 9, 9]));
    let buffer = generic(&body);
    let Outcome::Decoded(decoded) = neli_messages(&buffer) else {
        panic!("the top level frames correctly");
    };
    let NlPayload::Payload(genl) = decoded[0].nl_payload() else {
        panic!("data");
    };
    let parent = &genl.attrs().as_ref()[0];
    let nested = outcome(|| parent.get_attr_handle::<u16>().map(|h| h.get_attrs().len()));
    assert!(nested.is_error(), "{nested:?}");
    assert!(project_rejects(&buffer));
}

#[test]
fn an_unknown_attribute_type_is_kept_as_a_number() {
    let mut body = attribute(0x7f, &[1, 2, 3]);
    body.extend(attribute(1, &7u32.to_ne_bytes()));
    let buffer = generic(&body);
    let Outcome::Decoded(decoded) = neli_messages(&buffer) else {
        panic!("neli decodes unknown attribute types");
    };
    let NlPayload::Payload(genl) = decoded[0].nl_payload() else {
        panic!("data");
    };
    let kinds: Vec<u16> = genl
        .attrs()
        .iter()
        .map(|a: &Nlattr<u16, Buffer>| *a.nla_type().nla_type())
        .collect();
    assert_eq!(kinds, [0x7f, 1]);
    assert!(!project_rejects(&buffer));
}

#[test]
fn a_fixed_width_read_of_a_longer_payload_is_a_silent_misread_in_neli() {
    // A 64-bit counter read as 32 bits: neli reads the first four bytes; the project's typed
    // readers refuse a payload of the wrong size.
    let buffer = generic(&attribute(1, &0x1_0000_0002u64.to_ne_bytes()));
    let Outcome::Decoded(decoded) = neli_messages(&buffer) else {
        panic!("frames");
    };
    let NlPayload::Payload(genl) = decoded[0].nl_payload() else {
        panic!("data");
    };
    let value: u32 = genl
        .attrs()
        .get_attr_handle()
        .get_attr_payload_as(1)
        .unwrap();
    assert_eq!(value, 2, "the high half is dropped without an error");

    let message = messages(&buffer).next().unwrap().unwrap();
    let (_, body) = message.generic().unwrap();
    let ours = attributes(body).next().unwrap().unwrap();
    assert!(ours.u32().is_err());
    assert_eq!(ours.u64(), Ok(0x1_0000_0002));
}

/// A kernel `NLMSG_ERROR`: the negative errno, then the request's header and payload echoed.
fn kernel_error(errno: i32) -> Vec<u8> {
    let request = raw_message(None, 0x23, 0x301, &[5, 1, 0, 0]);
    let mut payload = (-errno).to_ne_bytes().to_vec();
    payload.extend(request);
    raw_message(None, NLMSG_ERROR, 0, &payload)
}

#[test]
fn an_error_inside_a_multipart_dump_is_reported_with_its_errno() {
    let mut buffer = generic(&attribute(2, &attribute(1, &1u32.to_ne_bytes())));
    buffer.extend(kernel_error(2)); // ENOENT
    let Outcome::Decoded(decoded) = neli_messages(&buffer) else {
        panic!("neli decodes a dump that ends in an error");
    };
    assert_eq!(decoded.len(), 2);
    assert!(matches!(decoded[0].nl_payload(), NlPayload::Payload(_)));
    let NlPayload::Err(err) = decoded[1].nl_payload() else {
        panic!("the second message is the error: {:?}", decoded[1]);
    };
    assert_eq!(*err.error(), -2);

    let controls: Vec<Control> = messages(&buffer)
        .map(|m| m.unwrap().control().unwrap())
        .collect();
    assert_eq!(controls[1], Control::Error(2));
}

#[test]
fn an_error_without_the_echoed_request_makes_neli_read_past_its_message() {
    // An NLMSG_ERROR that carries only its errno (as the synthetic kernel writes it, and as a
    // truncated reply would), followed by the dump's NLMSG_DONE. neli reads the echoed
    // request header from beyond the error message's own length: it takes the DONE message
    // as that header, then underflows computing what is left (a panic with overflow checks).
    let mut buffer = raw_message(None, NLMSG_ERROR, NLM_F_MULTI, &(-2i32).to_ne_bytes());
    buffer.extend(raw_message(
        None,
        NLMSG_DONE,
        NLM_F_MULTI,
        &0i32.to_ne_bytes(),
    ));
    let result = neli_messages(&buffer);
    if cfg!(debug_assertions) {
        let message = result.panic_message().expect("neli panics");
        assert!(message.contains("subtract with overflow"), "{message}");
    } else {
        assert!(!matches!(result, Outcome::Decoded(_)), "{result:?}");
    }
    // Alone in its buffer, the same message is an error (end of input), not the errno.
    let alone = raw_message(None, NLMSG_ERROR, NLM_F_MULTI, &(-2i32).to_ne_bytes());
    assert!(neli_messages(&alone).is_error());

    let controls: Vec<Control> = messages(&buffer)
        .map(|m| m.unwrap().control().unwrap())
        .collect();
    assert_eq!(controls, [Control::Error(2), Control::Done]);
}
