//! Decoders for the IPVS generic netlink family (`linux/ip_vs.h`): services, destinations
//! (real servers), statistics, info, config and sync daemons, from attribute bytes to model
//! types. Pure. Unknown attributes are skipped; a record missing what identifies it is an
//! error for that record only.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::model::{
    AddressFamily, Backend, ForwardMethod, Persistence, Protocol, Service, ServiceFlags,
    ServiceKey, SyncDaemon, Timeouts, TrafficCounters, TrafficRates, Tunnel, TunnelKind,
};
use crate::netlink::decode::{Attribute, DecodeError};
use crate::netlink::uapi::*;

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
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServiceIdentity {
    pub family: u16,
    pub protocol: u16,
    pub address: [u8; 16],
    pub port_be: [u8; 2],
    pub fwmark: u32,
}

/// The attributes of an `IPVS_CMD_ATTR_SERVICE` block, as the kernel sent them.
#[derive(Default)]
struct ServiceAttributes<'a> {
    af: Option<u16>,
    protocol: Option<u16>,
    address: Option<Attribute<'a>>,
    port: Option<u16>,
    fwmark: u32,
    scheduler: String,
    flags: u32,
    timeout: Option<u32>,
    netmask: Option<u32>,
    engine: Option<String>,
    stats32: Option<Stats>,
    stats64: Option<Stats>,
}

impl<'a> ServiceAttributes<'a> {
    fn decode(block: &Attribute<'a>) -> Result<Self, DecodeError> {
        let mut s = ServiceAttributes::default();
        each(block.nested(), |a| {
            match a.kind {
                IPVS_SVC_ATTR_AF => s.af = Some(a.u16()?),
                IPVS_SVC_ATTR_PROTOCOL => s.protocol = Some(a.u16()?),
                IPVS_SVC_ATTR_ADDR => s.address = Some(a),
                IPVS_SVC_ATTR_PORT => s.port = Some(a.u16_be()?),
                IPVS_SVC_ATTR_FWMARK => s.fwmark = a.u32()?,
                IPVS_SVC_ATTR_SCHED_NAME => s.scheduler = a.text()?.to_string(),
                IPVS_SVC_ATTR_FLAGS => s.flags = service_flags(&a)?,
                IPVS_SVC_ATTR_TIMEOUT => s.timeout = Some(a.u32()?),
                IPVS_SVC_ATTR_NETMASK => s.netmask = Some(a.u32_be()?),
                IPVS_SVC_ATTR_PE_NAME => s.engine = Some(a.text()?.to_string()),
                IPVS_SVC_ATTR_STATS => s.stats32 = Some(decode_stats(&a)?),
                IPVS_SVC_ATTR_STATS64 => s.stats64 = Some(decode_stats(&a)?),
                _ => {}
            }
            Ok(())
        })?;
        Ok(s)
    }

    /// The service's key, and its address as the kernel's 16 bytes (zero for a mark).
    fn key(&self, af: AddressFamily) -> Result<(ServiceKey, [u8; 16]), DecodeError> {
        let mut raw_address = [0u8; 16];
        if self.fwmark != 0 {
            let key = ServiceKey::FirewallMark {
                mark: self.fwmark,
                family: Some(af),
            };
            return Ok((key, raw_address));
        }
        let address_attr = self
            .address
            .ok_or(DecodeError::Missing("IPVS_SVC_ATTR_ADDR"))?;
        for (slot, byte) in raw_address.iter_mut().zip(address_attr.payload) {
            *slot = *byte;
        }
        let protocol = self
            .protocol
            .ok_or(DecodeError::Missing("IPVS_SVC_ATTR_PROTOCOL"))?;
        let key = ServiceKey::Address {
            protocol: Protocol::from_number(
                u8::try_from(protocol)
                    .map_err(|_| DecodeError::Invalid("protocol number above 255".into()))?,
            ),
            address: address(&address_attr, af)?,
            port: self
                .port
                .ok_or(DecodeError::Missing("IPVS_SVC_ATTR_PORT"))?,
        };
        Ok((key, raw_address))
    }
}

/// `IPVS_SVC_ATTR_FLAGS`: `struct ip_vs_flags { __u32 flags; __u32 mask; }`, of which the
/// flags are used.
fn service_flags(a: &Attribute) -> Result<u32, DecodeError> {
    let bytes = a.payload.get(..4).ok_or(DecodeError::AttributeSize {
        attribute: a.kind,
        got: a.payload.len(),
        expected: "8",
    })?;
    let mut raw = [0u8; 4];
    raw.copy_from_slice(bytes);
    Ok(u32::from_ne_bytes(raw))
}

/// Decodes the contents of an `IPVS_CMD_ATTR_SERVICE` block.
pub fn decode_service(block: &Attribute) -> Result<(Service, ServiceIdentity), DecodeError> {
    let attrs = ServiceAttributes::decode(block)?;
    let af_number = attrs.af.ok_or(DecodeError::Missing("IPVS_SVC_ATTR_AF"))?;
    let (key, raw_address) = attrs.key(family(af_number)?)?;
    let flags_bits = attrs.flags;
    let persistent = flags_bits & IP_VS_SVC_F_PERSISTENT != 0;
    let stats = attrs.stats64.or(attrs.stats32);
    let identity = ServiceIdentity {
        family: af_number,
        protocol: attrs.protocol.unwrap_or(0),
        address: raw_address,
        port_be: attrs.port.unwrap_or(0).to_be_bytes(),
        fwmark: attrs.fwmark,
    };
    let service = Service {
        key,
        scheduler: if attrs.scheduler.is_empty() {
            "none".to_string()
        } else {
            attrs.scheduler
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
        persistence: persistent.then(|| Persistence {
            timeout_seconds: attrs.timeout.unwrap_or(0),
            netmask: attrs.netmask.unwrap_or(0),
        }),
        persistence_engine: attrs.engine.filter(|e| !e.is_empty()),
        counters: stats.map(|s| s.counters),
        rates: stats.map(|s| s.rates),
        backends: Vec::new(),
    };
    Ok((service, identity))
}

/// The attributes of an `IPVS_CMD_ATTR_DEST` block, as the kernel sent them.
#[derive(Default)]
struct DestAttributes<'a> {
    address: Option<Attribute<'a>>,
    af: Option<u16>,
    port: Option<u16>,
    forward: Option<u32>,
    weight: Option<u32>,
    upper: Option<u32>,
    lower: Option<u32>,
    active: Option<u32>,
    inactive: Option<u32>,
    persistent: Option<u32>,
    stats32: Option<Stats>,
    stats64: Option<Stats>,
    tunnel_kind: Option<u8>,
    tunnel_port: u16,
    tunnel_flags: u16,
}

impl<'a> DestAttributes<'a> {
    fn decode(block: &Attribute<'a>) -> Result<Self, DecodeError> {
        let mut d = DestAttributes::default();
        each(block.nested(), |a| {
            match a.kind {
                IPVS_DEST_ATTR_ADDR => d.address = Some(a),
                IPVS_DEST_ATTR_PORT => d.port = Some(a.u16_be()?),
                IPVS_DEST_ATTR_FWD_METHOD => d.forward = Some(a.u32()?),
                IPVS_DEST_ATTR_WEIGHT => d.weight = Some(a.u32()?),
                IPVS_DEST_ATTR_U_THRESH => d.upper = Some(a.u32()?),
                IPVS_DEST_ATTR_L_THRESH => d.lower = Some(a.u32()?),
                IPVS_DEST_ATTR_ACTIVE_CONNS => d.active = Some(a.u32()?),
                IPVS_DEST_ATTR_INACT_CONNS => d.inactive = Some(a.u32()?),
                IPVS_DEST_ATTR_PERSIST_CONNS => d.persistent = Some(a.u32()?),
                IPVS_DEST_ATTR_STATS => d.stats32 = Some(decode_stats(&a)?),
                IPVS_DEST_ATTR_ADDR_FAMILY => d.af = Some(a.u16()?),
                IPVS_DEST_ATTR_STATS64 => d.stats64 = Some(decode_stats(&a)?),
                IPVS_DEST_ATTR_TUN_TYPE => d.tunnel_kind = Some(a.u8()?),
                IPVS_DEST_ATTR_TUN_PORT => d.tunnel_port = a.u16_be()?,
                IPVS_DEST_ATTR_TUN_FLAGS => d.tunnel_flags = a.u16()?,
                _ => {}
            }
            Ok(())
        })?;
        Ok(d)
    }
}

/// The forwarding method in `IPVS_DEST_ATTR_FWD_METHOD`'s low bits.
fn forward_method(bits: u32) -> Result<ForwardMethod, DecodeError> {
    match bits & IP_VS_CONN_F_FWD_MASK {
        IP_VS_CONN_F_MASQ => Ok(ForwardMethod::Masq),
        IP_VS_CONN_F_LOCALNODE => Ok(ForwardMethod::Local),
        IP_VS_CONN_F_TUNNEL => Ok(ForwardMethod::Tunnel),
        IP_VS_CONN_F_DROUTE => Ok(ForwardMethod::Route),
        IP_VS_CONN_F_BYPASS => Ok(ForwardMethod::Bypass),
        other => Err(DecodeError::Invalid(format!(
            "unknown forwarding method {other}"
        ))),
    }
}

/// Decodes the contents of an `IPVS_CMD_ATTR_DEST` block; `service_family` is used when the
/// kernel is too old to send the destination's own family.
pub fn decode_dest(
    block: &Attribute,
    service_family: AddressFamily,
) -> Result<Backend, DecodeError> {
    let d = DestAttributes::decode(block)?;
    let af = match d.af {
        Some(number) => family(number)?,
        None => service_family,
    };
    let address_attr = d
        .address
        .ok_or(DecodeError::Missing("IPVS_DEST_ATTR_ADDR"))?;
    let forward = forward_method(
        d.forward
            .ok_or(DecodeError::Missing("IPVS_DEST_ATTR_FWD_METHOD"))?,
    )?;
    // The kernel keeps these as signed atomics and sends them as u32.
    let signed = |v: Option<u32>| v.map(|v| i64::from(v as i32));
    let stats = d.stats64.or(d.stats32);
    Ok(Backend {
        address: address(&address_attr, af)?,
        port: d.port.ok_or(DecodeError::Missing("IPVS_DEST_ATTR_PORT"))?,
        forward,
        weight: signed(d.weight).unwrap_or(0),
        active_connections: signed(d.active).unwrap_or(0),
        inactive_connections: signed(d.inactive).unwrap_or(0),
        counters: stats.map(|s| s.counters),
        rates: stats.map(|s| s.rates),
        persistent_connections: signed(d.persistent),
        upper_threshold: d.upper,
        lower_threshold: d.lower,
        tunnel: match (forward, d.tunnel_kind) {
            (ForwardMethod::Tunnel, Some(kind)) => Some(Tunnel {
                kind: TunnelKind::from_number(kind),
                port: d.tunnel_port,
                flags: d.tunnel_flags,
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
