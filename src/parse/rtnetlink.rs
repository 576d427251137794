//! rtnetlink (NETLINK_ROUTE) dumps of links and addresses, decoded from raw bytes: the
//! requests that ask for them and the `RTM_NEWLINK` / `RTM_NEWADDR` replies. Pure and
//! bounds-checked, like [`super::netlink`], whose framing it reuses.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::netlink::{Control, DecodeError, attributes, messages};
use crate::model::interfaces::{InterfaceAddress, Link};

pub const RTM_NEWLINK: u16 = 16;
pub const RTM_GETLINK: u16 = 18;
pub const RTM_NEWADDR: u16 = 20;
pub const RTM_GETADDR: u16 = 22;

const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;

/// `struct ifinfomsg`: family, pad, type, index, flags, change.
const IFINFOMSG_LEN: usize = 16;
/// `struct ifaddrmsg`: family, prefixlen, flags, scope, index.
const IFADDRMSG_LEN: usize = 8;

const IFLA_IFNAME: u16 = 3;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;

const IFF_UP: u32 = 0x1;
const IFF_RUNNING: u32 = 0x40;
const IFF_LOOPBACK: u32 = 0x8;
const IFF_NOARP: u32 = 0x80;

const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;

/// A dump request (`RTM_GETLINK` or `RTM_GETADDR`) for every family.
pub fn dump_request(kind: u16, sequence: u32) -> Vec<u8> {
    let header_len = if kind == RTM_GETLINK {
        IFINFOMSG_LEN
    } else {
        IFADDRMSG_LEN
    };
    let len = 16 + header_len;
    let mut bytes = Vec::with_capacity(len);
    bytes.extend_from_slice(&(len as u32).to_ne_bytes());
    bytes.extend_from_slice(&kind.to_ne_bytes());
    bytes.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    bytes.extend_from_slice(&sequence.to_ne_bytes());
    bytes.extend_from_slice(&0u32.to_ne_bytes());
    bytes.resize(len, 0);
    bytes
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at + 4)?;
    Some(u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
}

/// Decodes the links in a `RTM_GETLINK` dump's replies.
pub fn decode_links(replies: &[Vec<u8>]) -> Result<Vec<Link>, DecodeError> {
    let mut links = Vec::new();
    for buffer in replies {
        for message in messages(buffer) {
            let Control::Data(message) = message?.control()? else {
                continue;
            };
            if message.kind != RTM_NEWLINK {
                continue;
            }
            let hardware_type = message
                .payload
                .get(2..4)
                .and_then(|b| b.try_into().ok())
                .map(u16::from_ne_bytes)
                .ok_or(DecodeError::Truncated("ifinfomsg"))?;
            let index = u32_at(message.payload, 4).ok_or(DecodeError::Truncated("ifinfomsg"))?;
            let flags = u32_at(message.payload, 8).ok_or(DecodeError::Truncated("ifinfomsg"))?;
            let attrs = message
                .payload
                .get(IFINFOMSG_LEN..)
                .ok_or(DecodeError::Truncated("ifinfomsg"))?;
            let mut name = None;
            for attribute in attributes(attrs) {
                let attribute = attribute?;
                if attribute.kind == IFLA_IFNAME {
                    let text = attribute
                        .payload
                        .split(|b| *b == 0)
                        .next()
                        .unwrap_or_default();
                    name = Some(
                        std::str::from_utf8(text)
                            .map_err(|_| DecodeError::NotText {
                                attribute: IFLA_IFNAME,
                            })?
                            .to_string(),
                    );
                }
            }
            links.push(Link {
                index,
                name: name.ok_or(DecodeError::Missing("IFLA_IFNAME"))?,
                up: flags & IFF_UP != 0,
                running: flags & IFF_RUNNING != 0,
                noarp: flags & IFF_NOARP != 0,
                loopback: flags & IFF_LOOPBACK != 0,
                hardware_type,
            });
        }
    }
    Ok(links)
}

/// Decodes the IPv4 and IPv6 addresses in a `RTM_GETADDR` dump's replies. The local address
/// (`IFA_LOCAL`) is preferred: on a point-to-point link `IFA_ADDRESS` is the peer's.
pub fn decode_addresses(replies: &[Vec<u8>]) -> Result<Vec<InterfaceAddress>, DecodeError> {
    let mut addresses = Vec::new();
    for buffer in replies {
        for message in messages(buffer) {
            let Control::Data(message) = message?.control()? else {
                continue;
            };
            if message.kind != RTM_NEWADDR {
                continue;
            }
            let header = message
                .payload
                .get(..IFADDRMSG_LEN)
                .ok_or(DecodeError::Truncated("ifaddrmsg"))?;
            let &[family, prefix_len, ..] = header else {
                return Err(DecodeError::Truncated("ifaddrmsg"));
            };
            let index = u32_at(header, 4).ok_or(DecodeError::Truncated("ifaddrmsg"))?;
            let (mut local, mut address) = (None, None);
            for attribute in attributes(message.payload.get(IFADDRMSG_LEN..).unwrap_or(&[])) {
                let attribute = attribute?;
                let decoded = match (family, attribute.payload.len()) {
                    (AF_INET, 4) => {
                        let mut raw = [0u8; 4];
                        raw.copy_from_slice(attribute.payload);
                        Some(IpAddr::V4(Ipv4Addr::from(raw)))
                    }
                    (AF_INET6, 16) => {
                        let mut raw = [0u8; 16];
                        raw.copy_from_slice(attribute.payload);
                        Some(IpAddr::V6(Ipv6Addr::from(raw)))
                    }
                    _ => None,
                };
                match attribute.kind {
                    IFA_LOCAL => local = decoded.or(local),
                    IFA_ADDRESS => address = decoded.or(address),
                    _ => {}
                }
            }
            if let Some(address) = local.or(address) {
                addresses.push(InterfaceAddress {
                    index,
                    address,
                    prefix_len,
                });
            }
        }
    }
    Ok(addresses)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::netlink::read_capture;

    const CAPTURE: &str = include_str!("../../tests/fixtures/netlink/rtnetlink/exchanges.txt");

    fn exchanges() -> Vec<(Vec<u8>, Vec<Vec<u8>>)> {
        read_capture(CAPTURE).unwrap_or_default()
    }

    #[test]
    fn requests_match_the_captured_ones() {
        let captured = exchanges();
        assert_eq!(
            captured.first().map(|e| e.0.clone()),
            Some(dump_request(RTM_GETLINK, 1))
        );
        assert_eq!(
            captured.get(1).map(|e| e.0.clone()),
            Some(dump_request(RTM_GETADDR, 1))
        );
    }

    #[test]
    fn links_with_their_state() {
        let captured = exchanges();
        let links = decode_links(&captured.first().map(|e| e.1.clone()).unwrap_or_default());
        let links = links.unwrap_or_default();
        let summary: Vec<(&str, bool, bool)> = links
            .iter()
            .map(|l| (l.name.as_str(), l.up, l.running))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("lo", true, true),
                ("peer0", true, true),
                ("vrrp0", true, true),
                ("down1", false, false),
                ("down0", false, false),
            ]
        );
    }

    #[test]
    fn addresses_of_both_families() {
        let captured = exchanges();
        let links = decode_links(&captured.first().map(|e| e.1.clone()).unwrap_or_default())
            .unwrap_or_default();
        let addresses = decode_addresses(&captured.get(1).map(|e| e.1.clone()).unwrap_or_default())
            .unwrap_or_default();
        let name = |index: u32| {
            links
                .iter()
                .find(|l| l.index == index)
                .map(|l| l.name.clone())
                .unwrap_or_default()
        };
        let on_vrrp0: Vec<String> = addresses
            .iter()
            .filter(|a| name(a.index) == "vrrp0")
            .map(|a| format!("{}/{}", a.address, a.prefix_len))
            .collect();
        assert_eq!(
            on_vrrp0,
            vec![
                "192.0.2.10/24",
                "192.0.2.100/32",
                "2001:db8::1/64",
                "fe80::ecd0:c5ff:fede:d517/64"
            ]
        );
        assert!(
            addresses
                .iter()
                .any(|a| name(a.index) == "lo" && a.address == IpAddr::from([127, 0, 0, 1]))
        );
    }

    #[test]
    fn truncated_replies_are_errors_not_panics() {
        let captured = exchanges();
        for (_, replies) in &captured {
            for reply in replies {
                for cut in [1, 17, 20, 24, 40, reply.len() / 2] {
                    let mut short = reply.clone();
                    short.truncate(cut.min(reply.len()));
                    let _ = decode_links(std::slice::from_ref(&short));
                    let _ = decode_addresses(std::slice::from_ref(&short));
                }
            }
        }
    }
}
