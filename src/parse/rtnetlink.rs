//! rtnetlink (NETLINK_ROUTE) dumps of links, addresses and routes, decoded from raw bytes: the
//! `RTM_NEWLINK` / `RTM_NEWADDR` / `RTM_NEWROUTE` replies. Pure and bounds-checked, like [`crate::netlink::decode`],
//! whose framing it reuses; the requests are written by [`crate::netlink::encode`].

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::model::interfaces::{InterfaceAddress, Link};
use crate::netlink::decode::{
    Control, DecodeError, Message, attributes, messages, read_u16, read_u32,
};
use crate::netlink::uapi::{
    AF_INET, AF_INET6, IFA_ADDRESS, IFA_LOCAL, IFADDRMSG_FAMILY_OFFSET, IFADDRMSG_INDEX_OFFSET,
    IFADDRMSG_LEN, IFADDRMSG_PREFIXLEN_OFFSET, IFF_LOOPBACK, IFF_NOARP, IFF_RUNNING, IFF_UP,
    IFINFOMSG_FLAGS_OFFSET, IFINFOMSG_INDEX_OFFSET, IFINFOMSG_LEN, IFINFOMSG_TYPE_OFFSET,
    IFLA_IFNAME, IFLA_INFO_KIND, IFLA_LINKINFO, RT_TABLE_LOCAL, RTA_DST, RTA_MULTIPATH, RTA_OIF,
    RTA_TABLE, RTM_NEWADDR, RTM_NEWLINK, RTM_NEWROUTE, RTMSG_DST_LEN_OFFSET, RTMSG_FAMILY_OFFSET,
    RTMSG_LEN, RTMSG_TABLE_OFFSET, RTMSG_TYPE_OFFSET, RTN_UNICAST, RTNEXTHOP_IFINDEX_OFFSET,
    RTNEXTHOP_LEN,
};

/// The data messages of type `kind` in a dump's replies.
fn replies_of(
    replies: &[Vec<u8>],
    kind: u16,
) -> impl Iterator<Item = Result<Message<'_>, DecodeError>> {
    replies
        .iter()
        .flat_map(|buffer| messages(buffer))
        .filter_map(move |message| match message.and_then(|m| m.control()) {
            Ok(Control::Data(message)) if message.kind == kind => Some(Ok(message)),
            Ok(_) => None,
            Err(err) => Some(Err(err)),
        })
}

/// Decodes one `RTM_NEWLINK` message.
fn decode_link(message: &Message) -> Result<Link, DecodeError> {
    let truncated = DecodeError::Truncated("ifinfomsg");
    let (header, attrs) = message.split_header(IFINFOMSG_LEN, "ifinfomsg")?;
    let hardware_type = read_u16(header, IFINFOMSG_TYPE_OFFSET).ok_or(truncated.clone())?;
    let index = read_u32(header, IFINFOMSG_INDEX_OFFSET).ok_or(truncated.clone())?;
    let flags = read_u32(header, IFINFOMSG_FLAGS_OFFSET).ok_or(truncated)?;
    let (mut name, mut kind) = (None, None);
    for attribute in attributes(attrs) {
        let attribute = attribute?;
        match attribute.kind {
            IFLA_IFNAME => name = Some(attribute.text()?.to_string()),
            IFLA_LINKINFO => {
                for info in attribute.nested() {
                    let info = info?;
                    if info.kind == IFLA_INFO_KIND {
                        kind = Some(info.text()?.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    Ok(Link {
        index,
        name: name.ok_or(DecodeError::Missing("IFLA_IFNAME"))?,
        up: flags & IFF_UP != 0,
        running: flags & IFF_RUNNING != 0,
        noarp: flags & IFF_NOARP != 0,
        loopback: flags & IFF_LOOPBACK != 0,
        hardware_type,
        kind,
        routes_out: None,
    })
}

/// Decodes the links in a `RTM_GETLINK` dump's replies.
pub fn decode_links(replies: &[Vec<u8>]) -> Result<Vec<Link>, DecodeError> {
    replies_of(replies, RTM_NEWLINK)
        .map(|message| decode_link(&message?))
        .collect()
}

/// An address attribute of the message's family; `None` for another size or family.
fn address(family: u8, payload: &[u8]) -> Option<IpAddr> {
    match u16::from(family) {
        AF_INET => <[u8; 4]>::try_from(payload)
            .ok()
            .map(|raw| IpAddr::V4(Ipv4Addr::from(raw))),
        AF_INET6 => <[u8; 16]>::try_from(payload)
            .ok()
            .map(|raw| IpAddr::V6(Ipv6Addr::from(raw))),
        _ => None,
    }
}

/// Decodes one `RTM_NEWADDR` message; `None` when it carries no address of its family.
/// The local address (`IFA_LOCAL`) is preferred: on a point-to-point link `IFA_ADDRESS` is
/// the peer's.
fn decode_address(message: &Message) -> Result<Option<InterfaceAddress>, DecodeError> {
    let (header, attrs) = message.split_header(IFADDRMSG_LEN, "ifaddrmsg")?;
    let truncated = DecodeError::Truncated("ifaddrmsg");
    let family = *header
        .get(IFADDRMSG_FAMILY_OFFSET)
        .ok_or(truncated.clone())?;
    let prefix_len = *header
        .get(IFADDRMSG_PREFIXLEN_OFFSET)
        .ok_or(truncated.clone())?;
    let index = read_u32(header, IFADDRMSG_INDEX_OFFSET).ok_or(truncated)?;
    let (mut local, mut peer) = (None, None);
    for attribute in attributes(attrs) {
        let attribute = attribute?;
        let decoded = address(family, attribute.payload);
        match attribute.kind {
            IFA_LOCAL => local = decoded.or(local),
            IFA_ADDRESS => peer = decoded.or(peer),
            _ => {}
        }
    }
    Ok(local.or(peer).map(|address| InterfaceAddress {
        index,
        address,
        prefix_len,
    }))
}

/// Decodes the IPv4 and IPv6 addresses in a `RTM_GETADDR` dump's replies.
pub fn decode_addresses(replies: &[Vec<u8>]) -> Result<Vec<InterfaceAddress>, DecodeError> {
    let mut addresses = Vec::new();
    for message in replies_of(replies, RTM_NEWADDR) {
        addresses.extend(decode_address(&message?)?);
    }
    Ok(addresses)
}

/// The output interfaces of one `RTM_NEWROUTE` message, when it is a unicast route outside
/// the local table and not to IPv6 link-local addresses (which the kernel gives every IPv6
/// device): `RTA_OIF`, or each path's interface of `RTA_MULTIPATH`.
fn route_interfaces(message: &Message) -> Result<Vec<u32>, DecodeError> {
    let (header, attrs) = message.split_header(RTMSG_LEN, "rtmsg")?;
    let truncated = || DecodeError::Truncated("rtmsg");
    let byte = |at: usize| header.get(at).copied().ok_or_else(truncated);
    let (family, dst_len) = (byte(RTMSG_FAMILY_OFFSET)?, byte(RTMSG_DST_LEN_OFFSET)?);
    let (mut table, kind) = (
        u32::from(byte(RTMSG_TABLE_OFFSET)?),
        byte(RTMSG_TYPE_OFFSET)?,
    );
    let (mut destination, mut interfaces) = (None, Vec::new());
    for attribute in attributes(attrs) {
        let attribute = attribute?;
        match attribute.kind {
            RTA_TABLE => table = attribute.u32()?,
            RTA_DST => destination = address(family, attribute.payload),
            RTA_OIF => interfaces.push(attribute.u32()?),
            RTA_MULTIPATH => interfaces.extend(next_hop_interfaces(attribute.payload)?),
            _ => {}
        }
    }
    let link_local = matches!(destination, Some(IpAddr::V6(a)) if dst_len >= 10 && (a.segments()[0] & 0xffc0) == 0xfe80);
    if kind != RTN_UNICAST || table == RT_TABLE_LOCAL || link_local {
        return Ok(Vec::new());
    }
    Ok(interfaces)
}

/// The interface of each `struct rtnexthop` in an `RTA_MULTIPATH` payload.
fn next_hop_interfaces(mut payload: &[u8]) -> Result<Vec<u32>, DecodeError> {
    let mut interfaces = Vec::new();
    while !payload.is_empty() {
        let truncated = DecodeError::Truncated("rtnexthop");
        let length = usize::from(read_u16(payload, 0).ok_or(truncated.clone())?);
        if length < RTNEXTHOP_LEN || length > payload.len() {
            return Err(truncated);
        }
        interfaces.push(read_u32(payload, RTNEXTHOP_IFINDEX_OFFSET).ok_or(truncated)?);
        let step = crate::netlink::decode::align(length).min(payload.len());
        payload = payload.get(step..).unwrap_or_default();
    }
    Ok(interfaces)
}

/// Counts, per output interface index, the unicast routes in a `RTM_GETROUTE` dump's
/// replies (every table but the local one; IPv6 link-local routes left out).
pub fn count_routes_out(replies: &[Vec<u8>]) -> Result<BTreeMap<u32, u32>, DecodeError> {
    let mut counts = BTreeMap::new();
    for message in replies_of(replies, RTM_NEWROUTE) {
        for index in route_interfaces(&message?)? {
            let count: &mut u32 = counts.entry(index).or_default();
            *count = count.saturating_add(1);
        }
    }
    Ok(counts)
}
