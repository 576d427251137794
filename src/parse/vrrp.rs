//! VRRP advertisements (IP protocol 112) as a raw IPv4 socket receives them: the IPv4 header,
//! then the VRRP header (RFC 3768 for version 2, RFC 5798 for version 3): version and type,
//! virtual router id, priority, address count. Pure and bounds-checked.

use std::net::Ipv4Addr;

/// IP protocol number of VRRP.
pub const IPPROTO_VRRP: u8 = 112;
/// The group VRRP adverts go to.
pub const VRRP_GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);

const VRRP_TYPE_ADVERTISEMENT: u8 = 1;

/// One advertisement: who sent it, for which router, at what priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Advert {
    pub source: Ipv4Addr,
    pub version: u8,
    pub vrid: u8,
    pub priority: u8,
    /// The IP TTL: RFC 3768 and 5798 require 255 (sent on the link, not routed).
    pub ttl: u8,
}

/// Why a packet is not an advertisement.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdvertError {
    #[error("packet too short ({0} bytes)")]
    Short(usize),
    #[error("not IPv4")]
    NotIpv4,
    #[error("IP protocol {0}, not VRRP")]
    NotVrrp(u8),
    #[error("VRRP version {0}")]
    Version(u8),
    #[error("VRRP type {0}, not an advertisement")]
    Type(u8),
}

/// Decodes a packet received on a raw IPv4 socket for protocol 112.
pub fn parse_advert(packet: &[u8]) -> Result<Advert, AdvertError> {
    let short = || AdvertError::Short(packet.len());
    let &[version_ihl, _, _, _, _, _, _, _, ttl, protocol, ..] = packet else {
        return Err(short());
    };
    if version_ihl >> 4 != 4 {
        return Err(AdvertError::NotIpv4);
    }
    if protocol != IPPROTO_VRRP {
        return Err(AdvertError::NotVrrp(protocol));
    }
    let source: [u8; 4] = packet
        .get(12..16)
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(short)?;
    let source = Ipv4Addr::from(source);
    let header_len = usize::from(version_ihl & 0x0f) * 4;
    let vrrp = packet.get(header_len..).ok_or_else(short)?;
    let &[version_type, vrid, priority, _count, ..] = vrrp else {
        return Err(short());
    };
    let version = version_type >> 4;
    if version != 2 && version != 3 {
        return Err(AdvertError::Version(version));
    }
    let kind = version_type & 0x0f;
    if kind != VRRP_TYPE_ADVERTISEMENT {
        return Err(AdvertError::Type(kind));
    }
    Ok(Advert {
        source,
        version,
        vrid,
        priority,
        ttl,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(text: &str) -> Vec<u8> {
        (0..text.len() / 2)
            .filter_map(|i| text.get(2 * i..2 * i + 2))
            .filter_map(|b| u8::from_str_radix(b, 16).ok())
            .collect()
    }

    // Sent by keepalived 2.2.7 (VRRPv2, VRID 51, priority 150, two addresses, no
    // authentication) from 10.9.0.1, received on a raw socket on the peer's end of the link.
    const KEEPALIVED_V2: &str =
        "45c0002c00010000ff70d0840a090001e000001221339602000133ee0a0900640a0900650000000000000000";

    #[test]
    fn an_advert_from_keepalived() {
        assert_eq!(
            parse_advert(&unhex(KEEPALIVED_V2)),
            Ok(Advert {
                source: Ipv4Addr::new(10, 9, 0, 1),
                version: 2,
                vrid: 51,
                priority: 150,
                ttl: 255,
            })
        );
    }

    #[test]
    fn a_version_3_advert_and_a_priority_zero_goodbye() {
        let mut packet = unhex(KEEPALIVED_V2);
        if let Some(b) = packet.get_mut(20) {
            *b = 0x31;
        }
        if let Some(b) = packet.get_mut(22) {
            *b = 0;
        }
        let advert = parse_advert(&packet);
        assert_eq!(advert.map(|a| (a.version, a.priority)), Ok((3, 0)));
    }

    #[test]
    fn other_packets_are_refused_and_short_ones_never_panic() {
        let packet = unhex(KEEPALIVED_V2);
        for cut in 0..24 {
            assert!(parse_advert(packet.get(..cut).unwrap_or_default()).is_err());
        }
        let mut other = packet.clone();
        if let Some(b) = other.get_mut(9) {
            *b = 6;
        }
        assert_eq!(parse_advert(&other), Err(AdvertError::NotVrrp(6)));
        let mut bad_type = packet.clone();
        if let Some(b) = bad_type.get_mut(20) {
            *b = 0x22;
        }
        assert_eq!(parse_advert(&bad_type), Err(AdvertError::Type(2)));
        let mut long_header = packet;
        if let Some(b) = long_header.first_mut() {
            *b = 0x4f;
        }
        assert!(parse_advert(&long_header).is_err());
    }
}
