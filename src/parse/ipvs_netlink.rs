//! Decoders for the IPVS generic netlink family (`linux/ip_vs.h`): services, destinations
//! (real servers), statistics, info, config and sync daemons, from attribute bytes to model
//! types. Pure. Unknown attributes are skipped; a record missing what identifies it is an
//! error for that record only.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::netlink::{Attribute, DecodeError};
use crate::model::{
    AddressFamily, Backend, ForwardMethod, Persistence, Protocol, Service, ServiceFlags,
    ServiceKey, SyncDaemon, Timeouts, TrafficCounters, TrafficRates, Tunnel, TunnelKind,
};

pub const IPVS_GENL_NAME: &str = "IPVS";
pub const IPVS_GENL_VERSION: u8 = 0x1;

// Commands.
pub const IPVS_CMD_GET_SERVICE: u8 = 4;
pub const IPVS_CMD_GET_DEST: u8 = 8;
pub const IPVS_CMD_GET_DAEMON: u8 = 11;
pub const IPVS_CMD_SET_CONFIG: u8 = 12;
pub const IPVS_CMD_GET_CONFIG: u8 = 13;
pub const IPVS_CMD_SET_INFO: u8 = 14;
pub const IPVS_CMD_GET_INFO: u8 = 15;

// First-level attributes.
pub const IPVS_CMD_ATTR_SERVICE: u16 = 1;
pub const IPVS_CMD_ATTR_DEST: u16 = 2;
pub const IPVS_CMD_ATTR_DAEMON: u16 = 3;
pub const IPVS_CMD_ATTR_TIMEOUT_TCP: u16 = 4;
pub const IPVS_CMD_ATTR_TIMEOUT_TCP_FIN: u16 = 5;
pub const IPVS_CMD_ATTR_TIMEOUT_UDP: u16 = 6;

// Service attributes.
pub const IPVS_SVC_ATTR_AF: u16 = 1;
pub const IPVS_SVC_ATTR_PROTOCOL: u16 = 2;
pub const IPVS_SVC_ATTR_ADDR: u16 = 3;
pub const IPVS_SVC_ATTR_PORT: u16 = 4;
pub const IPVS_SVC_ATTR_FWMARK: u16 = 5;
pub const IPVS_SVC_ATTR_SCHED_NAME: u16 = 6;
pub const IPVS_SVC_ATTR_FLAGS: u16 = 7;
pub const IPVS_SVC_ATTR_TIMEOUT: u16 = 8;
pub const IPVS_SVC_ATTR_NETMASK: u16 = 9;
pub const IPVS_SVC_ATTR_STATS: u16 = 10;
pub const IPVS_SVC_ATTR_PE_NAME: u16 = 11;
pub const IPVS_SVC_ATTR_STATS64: u16 = 12;

// Destination attributes.
pub const IPVS_DEST_ATTR_ADDR: u16 = 1;
pub const IPVS_DEST_ATTR_PORT: u16 = 2;
pub const IPVS_DEST_ATTR_FWD_METHOD: u16 = 3;
pub const IPVS_DEST_ATTR_WEIGHT: u16 = 4;
pub const IPVS_DEST_ATTR_U_THRESH: u16 = 5;
pub const IPVS_DEST_ATTR_L_THRESH: u16 = 6;
pub const IPVS_DEST_ATTR_ACTIVE_CONNS: u16 = 7;
pub const IPVS_DEST_ATTR_INACT_CONNS: u16 = 8;
pub const IPVS_DEST_ATTR_PERSIST_CONNS: u16 = 9;
pub const IPVS_DEST_ATTR_STATS: u16 = 10;
pub const IPVS_DEST_ATTR_ADDR_FAMILY: u16 = 11;
pub const IPVS_DEST_ATTR_STATS64: u16 = 12;
pub const IPVS_DEST_ATTR_TUN_TYPE: u16 = 13;
pub const IPVS_DEST_ATTR_TUN_PORT: u16 = 14;
pub const IPVS_DEST_ATTR_TUN_FLAGS: u16 = 15;

// Sync daemon attributes.
pub const IPVS_DAEMON_ATTR_STATE: u16 = 1;
pub const IPVS_DAEMON_ATTR_MCAST_IFN: u16 = 2;
pub const IPVS_DAEMON_ATTR_SYNC_ID: u16 = 3;

// Statistics attributes (32-bit in *_STATS, 64-bit in *_STATS64; bytes are 64-bit in both).
pub const IPVS_STATS_ATTR_CONNS: u16 = 1;
pub const IPVS_STATS_ATTR_INPKTS: u16 = 2;
pub const IPVS_STATS_ATTR_OUTPKTS: u16 = 3;
pub const IPVS_STATS_ATTR_INBYTES: u16 = 4;
pub const IPVS_STATS_ATTR_OUTBYTES: u16 = 5;
pub const IPVS_STATS_ATTR_CPS: u16 = 6;
pub const IPVS_STATS_ATTR_INPPS: u16 = 7;
pub const IPVS_STATS_ATTR_OUTPPS: u16 = 8;
pub const IPVS_STATS_ATTR_INBPS: u16 = 9;
pub const IPVS_STATS_ATTR_OUTBPS: u16 = 10;

// GET_INFO reply attributes.
pub const IPVS_INFO_ATTR_VERSION: u16 = 1;
pub const IPVS_INFO_ATTR_CONN_TAB_SIZE: u16 = 2;

// Flag and method values.
pub const IP_VS_SVC_F_PERSISTENT: u32 = 0x0001;
pub const IP_VS_SVC_F_ONEPACKET: u32 = 0x0004;
pub const IP_VS_SVC_F_SCHED1: u32 = 0x0008;
pub const IP_VS_SVC_F_SCHED2: u32 = 0x0010;
pub const IP_VS_SVC_F_SCHED3: u32 = 0x0020;
pub const IP_VS_CONN_F_FWD_MASK: u32 = 0x0007;
pub const IP_VS_CONN_F_MASQ: u32 = 0x0000;
pub const IP_VS_CONN_F_LOCALNODE: u32 = 0x0001;
pub const IP_VS_CONN_F_TUNNEL: u32 = 0x0002;
pub const IP_VS_CONN_F_DROUTE: u32 = 0x0003;
pub const IP_VS_CONN_F_BYPASS: u32 = 0x0004;
pub const IP_VS_STATE_MASTER: u32 = 0x0001;
pub const IP_VS_STATE_BACKUP: u32 = 0x0002;

pub const AF_INET: u16 = 2;
pub const AF_INET6: u16 = 10;

/// The IPVS statistics block: counters and rate estimates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub counters: TrafficCounters,
    pub rates: TrafficRates,
}

/// Collects the attributes of one nested block, remembering which were present.
fn each<'a>(
    attributes: impl Iterator<Item = Result<Attribute<'a>, DecodeError>>,
    mut visit: impl FnMut(Attribute<'a>) -> Result<(), DecodeError>,
) -> Result<(), DecodeError> {
    for attribute in attributes {
        visit(attribute?)?;
    }
    Ok(())
}

/// A number of either width: the 32-bit and 64-bit statistics blocks share attribute types.
fn counter(attribute: &Attribute) -> Result<u64, DecodeError> {
    match attribute.payload.len() {
        4 => attribute.u32().map(u64::from),
        _ => attribute.u64(),
    }
}

/// Decodes an `IPVS_*_ATTR_STATS` or `IPVS_*_ATTR_STATS64` block.
pub fn decode_stats(block: &Attribute) -> Result<Stats, DecodeError> {
    let mut stats = Stats::default();
    each(block.nested(), |a| {
        let value = || counter(&a);
        match a.kind {
            IPVS_STATS_ATTR_CONNS => stats.counters.connections = value()?,
            IPVS_STATS_ATTR_INPKTS => stats.counters.incoming_packets = value()?,
            IPVS_STATS_ATTR_OUTPKTS => stats.counters.outgoing_packets = value()?,
            IPVS_STATS_ATTR_INBYTES => stats.counters.incoming_bytes = value()?,
            IPVS_STATS_ATTR_OUTBYTES => stats.counters.outgoing_bytes = value()?,
            IPVS_STATS_ATTR_CPS => stats.rates.connections_per_second = value()?,
            IPVS_STATS_ATTR_INPPS => stats.rates.incoming_packets_per_second = value()?,
            IPVS_STATS_ATTR_OUTPPS => stats.rates.outgoing_packets_per_second = value()?,
            IPVS_STATS_ATTR_INBPS => stats.rates.incoming_bytes_per_second = value()?,
            IPVS_STATS_ATTR_OUTBPS => stats.rates.outgoing_bytes_per_second = value()?,
            _ => {} // padding and attributes of newer kernels
        }
        Ok(())
    })?;
    Ok(stats)
}

fn family(number: u16) -> Result<AddressFamily, DecodeError> {
    match number {
        AF_INET => Ok(AddressFamily::Inet),
        AF_INET6 => Ok(AddressFamily::Inet6),
        other => Err(DecodeError::Invalid(format!(
            "unknown address family {other}"
        ))),
    }
}

/// `union nf_inet_addr`: 16 bytes, of which IPv4 uses the first 4.
fn address(attribute: &Attribute, family: AddressFamily) -> Result<IpAddr, DecodeError> {
    let bytes = attribute.payload;
    match family {
        AddressFamily::Inet => {
            let b: [u8; 4] = bytes.get(..4).and_then(|b| b.try_into().ok()).ok_or(
                DecodeError::AttributeSize {
                    attribute: attribute.kind,
                    got: bytes.len(),
                    expected: "at least 4",
                },
            )?;
            Ok(IpAddr::V4(Ipv4Addr::from(b)))
        }
        AddressFamily::Inet6 => {
            let b: [u8; 16] = bytes.get(..16).and_then(|b| b.try_into().ok()).ok_or(
                DecodeError::AttributeSize {
                    attribute: attribute.kind,
                    got: bytes.len(),
                    expected: "16",
                },
            )?;
            Ok(IpAddr::V6(Ipv6Addr::from(b)))
        }
    }
}

/// The identity of a service as the kernel's service attributes give it, used again to ask
/// for its destinations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceIdentity {
    pub family: u16,
    pub protocol: u16,
    pub address: [u8; 16],
    pub port_be: [u8; 2],
    pub fwmark: u32,
}

/// Decodes the contents of an `IPVS_CMD_ATTR_SERVICE` block.
pub fn decode_service(block: &Attribute) -> Result<(Service, ServiceIdentity), DecodeError> {
    let mut af = None;
    let mut protocol = None;
    let mut address_attr = None;
    let mut port = None;
    let mut fwmark = 0u32;
    let mut scheduler = String::new();
    let mut flags_bits = 0u32;
    let mut timeout = None;
    let mut netmask = None;
    let mut engine = None;
    let mut stats32 = None;
    let mut stats64 = None;
    each(block.nested(), |a| {
        match a.kind {
            IPVS_SVC_ATTR_AF => af = Some(a.u16()?),
            IPVS_SVC_ATTR_PROTOCOL => protocol = Some(a.u16()?),
            IPVS_SVC_ATTR_ADDR => address_attr = Some(a),
            IPVS_SVC_ATTR_PORT => port = Some(a.u16_be()?),
            IPVS_SVC_ATTR_FWMARK => fwmark = a.u32()?,
            IPVS_SVC_ATTR_SCHED_NAME => scheduler = a.text()?.to_string(),
            IPVS_SVC_ATTR_FLAGS => {
                // struct ip_vs_flags { __u32 flags; __u32 mask; }
                let bytes = a.payload.get(..4).ok_or(DecodeError::AttributeSize {
                    attribute: a.kind,
                    got: a.payload.len(),
                    expected: "8",
                })?;
                let mut raw = [0u8; 4];
                raw.copy_from_slice(bytes);
                flags_bits = u32::from_ne_bytes(raw);
            }
            IPVS_SVC_ATTR_TIMEOUT => timeout = Some(a.u32()?),
            IPVS_SVC_ATTR_NETMASK => netmask = Some(a.u32_be()?),
            IPVS_SVC_ATTR_PE_NAME => engine = Some(a.text()?.to_string()),
            IPVS_SVC_ATTR_STATS => stats32 = Some(decode_stats(&a)?),
            IPVS_SVC_ATTR_STATS64 => stats64 = Some(decode_stats(&a)?),
            _ => {}
        }
        Ok(())
    })?;

    let af_number = af.ok_or(DecodeError::Missing("IPVS_SVC_ATTR_AF"))?;
    let af = family(af_number)?;
    let mut raw_address = [0u8; 16];
    let key = if fwmark != 0 {
        ServiceKey::FirewallMark {
            mark: fwmark,
            family: Some(af),
        }
    } else {
        let address_attr = address_attr.ok_or(DecodeError::Missing("IPVS_SVC_ATTR_ADDR"))?;
        for (slot, byte) in raw_address.iter_mut().zip(address_attr.payload) {
            *slot = *byte;
        }
        ServiceKey::Address {
            protocol: Protocol::from_number(
                u8::try_from(protocol.ok_or(DecodeError::Missing("IPVS_SVC_ATTR_PROTOCOL"))?)
                    .map_err(|_| DecodeError::Invalid("protocol number above 255".into()))?,
            ),
            address: address(&address_attr, af)?,
            port: port.ok_or(DecodeError::Missing("IPVS_SVC_ATTR_PORT"))?,
        }
    };
    let persistent = flags_bits & IP_VS_SVC_F_PERSISTENT != 0;
    let stats = stats64.or(stats32);
    let identity = ServiceIdentity {
        family: af_number,
        protocol: protocol.unwrap_or(0),
        address: raw_address,
        port_be: port.unwrap_or(0).to_be_bytes(),
        fwmark,
    };
    Ok((
        Service {
            key,
            scheduler: if scheduler.is_empty() {
                "none".to_string()
            } else {
                scheduler
            },
            flags: ServiceFlags {
                persistent,
                one_packet: flags_bits & IP_VS_SVC_F_ONEPACKET != 0,
                scheduler_flags: [
                    flags_bits & IP_VS_SVC_F_SCHED1 != 0,
                    flags_bits & IP_VS_SVC_F_SCHED2 != 0,
                    flags_bits & IP_VS_SVC_F_SCHED3 != 0,
                ],
            },
            persistence: if persistent {
                Some(Persistence {
                    timeout_seconds: timeout.unwrap_or(0),
                    netmask: netmask.unwrap_or(0),
                })
            } else {
                None
            },
            persistence_engine: engine.filter(|e| !e.is_empty()),
            counters: stats.map(|s| s.counters),
            rates: stats.map(|s| s.rates),
            backends: Vec::new(),
        },
        identity,
    ))
}

/// Decodes the contents of an `IPVS_CMD_ATTR_DEST` block; `service_family` is used when the
/// kernel is too old to send the destination's own family.
pub fn decode_dest(
    block: &Attribute,
    service_family: AddressFamily,
) -> Result<Backend, DecodeError> {
    let mut address_attr = None;
    let mut af = None;
    let mut port = None;
    let mut forward = None;
    let mut weight = None;
    let mut upper = None;
    let mut lower = None;
    let mut active = None;
    let mut inactive = None;
    let mut persistent = None;
    let mut stats32 = None;
    let mut stats64 = None;
    let mut tunnel_kind = None;
    let mut tunnel_port = 0u16;
    let mut tunnel_flags = 0u16;
    each(block.nested(), |a| {
        match a.kind {
            IPVS_DEST_ATTR_ADDR => address_attr = Some(a),
            IPVS_DEST_ATTR_PORT => port = Some(a.u16_be()?),
            IPVS_DEST_ATTR_FWD_METHOD => forward = Some(a.u32()?),
            IPVS_DEST_ATTR_WEIGHT => weight = Some(a.u32()?),
            IPVS_DEST_ATTR_U_THRESH => upper = Some(a.u32()?),
            IPVS_DEST_ATTR_L_THRESH => lower = Some(a.u32()?),
            IPVS_DEST_ATTR_ACTIVE_CONNS => active = Some(a.u32()?),
            IPVS_DEST_ATTR_INACT_CONNS => inactive = Some(a.u32()?),
            IPVS_DEST_ATTR_PERSIST_CONNS => persistent = Some(a.u32()?),
            IPVS_DEST_ATTR_STATS => stats32 = Some(decode_stats(&a)?),
            IPVS_DEST_ATTR_ADDR_FAMILY => af = Some(a.u16()?),
            IPVS_DEST_ATTR_STATS64 => stats64 = Some(decode_stats(&a)?),
            IPVS_DEST_ATTR_TUN_TYPE => tunnel_kind = Some(a.u8()?),
            IPVS_DEST_ATTR_TUN_PORT => tunnel_port = a.u16_be()?,
            IPVS_DEST_ATTR_TUN_FLAGS => tunnel_flags = a.u16()?,
            _ => {}
        }
        Ok(())
    })?;
    let af = match af {
        Some(number) => family(number)?,
        None => service_family,
    };
    let address_attr = address_attr.ok_or(DecodeError::Missing("IPVS_DEST_ATTR_ADDR"))?;
    let forward = match forward.ok_or(DecodeError::Missing("IPVS_DEST_ATTR_FWD_METHOD"))?
        & IP_VS_CONN_F_FWD_MASK
    {
        IP_VS_CONN_F_MASQ => ForwardMethod::Masq,
        IP_VS_CONN_F_LOCALNODE => ForwardMethod::Local,
        IP_VS_CONN_F_TUNNEL => ForwardMethod::Tunnel,
        IP_VS_CONN_F_DROUTE => ForwardMethod::Route,
        IP_VS_CONN_F_BYPASS => ForwardMethod::Bypass,
        other => {
            return Err(DecodeError::Invalid(format!(
                "unknown forwarding method {other}"
            )));
        }
    };
    // The kernel keeps these as signed atomics and sends them as u32.
    let signed = |v: Option<u32>| v.map(|v| i64::from(v as i32));
    let stats = stats64.or(stats32);
    Ok(Backend {
        address: address(&address_attr, af)?,
        port: port.ok_or(DecodeError::Missing("IPVS_DEST_ATTR_PORT"))?,
        forward,
        weight: signed(weight).unwrap_or(0),
        active_connections: signed(active).unwrap_or(0),
        inactive_connections: signed(inactive).unwrap_or(0),
        counters: stats.map(|s| s.counters),
        rates: stats.map(|s| s.rates),
        persistent_connections: signed(persistent),
        upper_threshold: upper,
        lower_threshold: lower,
        tunnel: match (forward, tunnel_kind) {
            (ForwardMethod::Tunnel, Some(kind)) => Some(Tunnel {
                kind: TunnelKind::from_number(kind),
                port: tunnel_port,
                flags: tunnel_flags,
            }),
            _ => None,
        },
    })
}

/// Decodes a GET_INFO reply: the version (as `major.minor.patch`) and the table size.
pub fn decode_info<'a>(
    attributes: impl Iterator<Item = Result<Attribute<'a>, DecodeError>>,
) -> Result<(Option<String>, Option<u64>), DecodeError> {
    let mut version = None;
    let mut size = None;
    each(attributes, |a| {
        match a.kind {
            IPVS_INFO_ATTR_VERSION => {
                let v = a.u32()?;
                version = Some(format!(
                    "{}.{}.{}",
                    (v >> 16) & 0xff,
                    (v >> 8) & 0xff,
                    v & 0xff
                ));
            }
            IPVS_INFO_ATTR_CONN_TAB_SIZE => size = Some(u64::from(a.u32()?)),
            _ => {}
        }
        Ok(())
    })?;
    Ok((version, size))
}

/// Decodes a GET_CONFIG reply: the TCP, TCP FIN and UDP timeouts.
pub fn decode_config<'a>(
    attributes: impl Iterator<Item = Result<Attribute<'a>, DecodeError>>,
) -> Result<Timeouts, DecodeError> {
    let mut timeouts = Timeouts::default();
    each(attributes, |a| {
        match a.kind {
            IPVS_CMD_ATTR_TIMEOUT_TCP => timeouts.tcp = a.u32()?,
            IPVS_CMD_ATTR_TIMEOUT_TCP_FIN => timeouts.tcp_fin = a.u32()?,
            IPVS_CMD_ATTR_TIMEOUT_UDP => timeouts.udp = a.u32()?,
            _ => {}
        }
        Ok(())
    })?;
    Ok(timeouts)
}

/// Decodes the contents of an `IPVS_CMD_ATTR_DAEMON` block.
pub fn decode_daemon(block: &Attribute) -> Result<SyncDaemon, DecodeError> {
    let mut state = None;
    let mut interface = String::new();
    let mut sync_id = 0;
    each(block.nested(), |a| {
        match a.kind {
            IPVS_DAEMON_ATTR_STATE => state = Some(a.u32()?),
            IPVS_DAEMON_ATTR_MCAST_IFN => interface = a.text()?.to_string(),
            IPVS_DAEMON_ATTR_SYNC_ID => sync_id = a.u32()?,
            _ => {}
        }
        Ok(())
    })?;
    let state = match state.ok_or(DecodeError::Missing("IPVS_DAEMON_ATTR_STATE"))? {
        IP_VS_STATE_MASTER => "master".to_string(),
        IP_VS_STATE_BACKUP => "backup".to_string(),
        other => format!("state-{other}"),
    };
    Ok(SyncDaemon {
        state,
        interface,
        sync_id,
    })
}
