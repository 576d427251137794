//! Round trips through the netlink decoders (`arbtest`): a random model is written as the
//! kernel's replies would carry it, the project's reader decodes those bytes, and what it
//! decodes must be the model again, field by field. The replies are written here from the uapi
//! headers (`linux/ip_vs.h`, `linux/netfilter/nfnetlink_conntrack.h`, `linux/rtnetlink.h`,
//! `linux/if_link.h`, `linux/if_addr.h`) and what the kernel's fill functions put in them, not
//! from the decoders: attribute order, widths, byte orders, padding attributes, attributes the
//! decoders skip, and dumps cut into several receive buffers.
//!
//! Covered: the IPVS table over generic netlink (read through `read_table` and a test kernel
//! that answers its requests), ctnetlink's per-CPU statistics, rtnetlink links and addresses.
//!
//! Each property runs for `IPVS_ROUNDTRIP_MS` milliseconds (1000 by default). A failure prints
//! the differences and arbtest's seed; replay it with `ARBTEST_SEED=0x... cargo test --test
//! netlink_roundtrip NAME`.

// Test code: a failed unwrap or index is a failed test (the [lints] table guards src/).
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::panic, clippy::indexing_slicing)]
#![allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]

use std::fmt::{Debug, Write as _};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use arbitrary::{Result, Unstructured};

use ipvs_exporter::model::interfaces::{InterfaceAddress, Link};
use ipvs_exporter::model::{
    AddressFamily, Backend, ForwardMethod, IpvsSource, IpvsTable, Persistence, Protocol, Service,
    ServiceFlags, ServiceKey, SyncDaemon, Timeouts, TrafficCounters, TrafficRates, Tunnel,
    TunnelKind,
};
use ipvs_exporter::netlink::decode::{attributes, data_messages, messages};
use ipvs_exporter::netlink::encode::MessageWriter;
use ipvs_exporter::netlink::socket::{Transport, TransportError};
use ipvs_exporter::netlink::uapi::*;
use ipvs_exporter::parse::conntrack::decode_stats_cpu;
use ipvs_exporter::parse::rtnetlink::{decode_addresses, decode_links};
use ipvs_exporter::source::ipvs_netlink::read_table;

// ---------------------------------------------------------------------------------------------
// Running a property
// ---------------------------------------------------------------------------------------------

fn budget_ms() -> u64 {
    std::env::var("IPVS_ROUNDTRIP_MS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000)
}

/// Runs `property` for the budget and says how many cases it tried.
fn run(name: &str, mut property: impl FnMut(&mut Unstructured) -> Result<()>) {
    let mut cases = 0u64;
    arbtest::arbtest(|u| {
        cases += 1;
        property(u)
    })
    .size_max(8192)
    .budget_ms(budget_ms())
    .run();
    eprintln!("{name}: {cases} cases");
}

/// Differences between what was decoded and the model, each with where it is.
#[derive(Default)]
struct Differences(String);

impl Differences {
    fn same<T: PartialEq + Debug>(&mut self, path: &str, decoded: &T, model: &T) {
        if decoded != model {
            let _ = writeln!(
                self.0,
                "  {path}: decoded {decoded:?}, the kernel sent {model:?}"
            );
        }
    }

    fn check(self, what: &str) {
        assert!(self.0.is_empty(), "{what} did not round-trip:\n{}", self.0);
    }
}

/// A number that is often on an edge: 0, 1, the 32-bit limits, the 64-bit maximum.
fn number(u: &mut Unstructured, fits_32_bits: bool) -> Result<u64> {
    let value = match u.int_in_range(0..=5)? {
        0 => 0,
        1 => 1,
        2 => u64::from(u32::MAX),
        3 => u64::from(u32::MAX) + 1,
        4 => u64::MAX,
        _ => u.arbitrary()?,
    };
    Ok(if fits_32_bits {
        value & u64::from(u32::MAX)
    } else {
        value
    })
}

fn text(u: &mut Unstructured, max: usize) -> Result<String> {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789.-_@";
    let len = u.int_in_range(1..=max)?;
    (0..len)
        .map(|_| u.choose(CHARS).map(|&c| char::from(c)))
        .collect()
}

fn address(u: &mut Unstructured, family: AddressFamily) -> Result<IpAddr> {
    Ok(match family {
        AddressFamily::Inet => IpAddr::V4(Ipv4Addr::from(u.arbitrary::<[u8; 4]>()?)),
        AddressFamily::Inet6 => IpAddr::V6(Ipv6Addr::from(u.arbitrary::<[u8; 16]>()?)),
    })
}

fn family_of(u: &mut Unstructured) -> Result<AddressFamily> {
    Ok(if u.arbitrary()? {
        AddressFamily::Inet6
    } else {
        AddressFamily::Inet
    })
}

/// Closes a message into a dump's buffers: a new buffer is begun at random, as the kernel
/// begins one when the reader's buffer is full.
fn push_message(u: &mut Unstructured, buffers: &mut Vec<Vec<u8>>, message: &mut MessageWriter) {
    let bytes = message.finish().expect("a test message fits");
    if buffers.is_empty() || u.ratio(1, 3).unwrap_or(false) {
        buffers.push(Vec::new());
    }
    buffers.last_mut().unwrap().extend_from_slice(&bytes);
}

/// `NLMSG_DONE`: its payload is an `int`, 0.
fn done(sequence: u32) -> Vec<u8> {
    MessageWriter::new(NLMSG_DONE, NLM_F_MULTI, sequence)
        .header(&0i32.to_ne_bytes())
        .finish()
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// IPVS over generic netlink
// ---------------------------------------------------------------------------------------------

// linux/ip_vs.h: the commands the kernel answers with, and the padding attribute of a
// statistics block.
const IPVS_CMD_NEW_SERVICE: u8 = 1;
const IPVS_CMD_NEW_DEST: u8 = 5;
const IPVS_CMD_NEW_DAEMON: u8 = 9;
const IPVS_STATS_ATTR_PAD: u16 = 11;
/// linux/genetlink.h: the controller answers a family dump with NEWFAMILY messages.
const CTRL_CMD_NEWFAMILY: u8 = 1;
/// An attribute type no kernel sends yet: a decoder must skip it.
const NEWER_ATTRIBUTE: u16 = 0x3e;
const ESRCH: i32 = 3;
const EINVAL: i32 = 22;

/// What the kernel sends, by age: 3.10 has no real-server family and no 64-bit statistics,
/// 4.19 has both, 6.1 also has the tunnel settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kernel {
    V3_10,
    V4_19,
    V6_1,
}

const SCHEDULERS: &[&str] = &[
    "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos",
    "none",
];

fn counters(u: &mut Unstructured, fits: bool) -> Result<TrafficCounters> {
    Ok(TrafficCounters {
        connections: number(u, fits)?,
        incoming_packets: number(u, fits)?,
        outgoing_packets: number(u, fits)?,
        // The 32-bit block already carries the byte counts as 64-bit numbers.
        incoming_bytes: number(u, false)?,
        outgoing_bytes: number(u, false)?,
    })
}

fn rates(u: &mut Unstructured, fits: bool) -> Result<TrafficRates> {
    Ok(TrafficRates {
        connections_per_second: number(u, fits)?,
        incoming_packets_per_second: number(u, fits)?,
        outgoing_packets_per_second: number(u, fits)?,
        incoming_bytes_per_second: number(u, fits)?,
        outgoing_bytes_per_second: number(u, fits)?,
    })
}

fn backend(u: &mut Unstructured, kernel: Kernel, family: AddressFamily) -> Result<Backend> {
    let forward = *u.choose(&[
        ForwardMethod::Masq,
        ForwardMethod::Route,
        ForwardMethod::Tunnel,
        ForwardMethod::Local,
        ForwardMethod::Bypass,
    ])?;
    // Since 3.18 a tunnelled real server may be of the other family.
    let family = if kernel >= Kernel::V4_19 && forward == ForwardMethod::Tunnel && u.arbitrary()? {
        family_of(u)?
    } else {
        family
    };
    let fits = kernel == Kernel::V3_10;
    let tunnel = if kernel == Kernel::V6_1 && forward == ForwardMethod::Tunnel {
        let kind = match u.int_in_range(0..=3)? {
            0 => TunnelKind::Ipip,
            1 => TunnelKind::Gue,
            2 => TunnelKind::Gre,
            _ => TunnelKind::Other(u.int_in_range(3..=255)?),
        };
        Some(Tunnel {
            kind,
            port: u.arbitrary()?,
            flags: u.arbitrary()?,
        })
    } else {
        None
    };
    Ok(Backend {
        address: address(u, family)?,
        port: u.arbitrary()?,
        forward,
        weight: i64::from(u.arbitrary::<i32>()?),
        active_connections: i64::from(u.arbitrary::<i32>()?),
        inactive_connections: i64::from(u.arbitrary::<i32>()?),
        counters: Some(counters(u, fits)?),
        rates: Some(rates(u, fits)?),
        persistent_connections: Some(i64::from(u.arbitrary::<i32>()?)),
        upper_threshold: Some(u.arbitrary()?),
        lower_threshold: Some(u.arbitrary()?),
        tunnel,
    })
}

fn service(u: &mut Unstructured, kernel: Kernel) -> Result<Service> {
    let family = family_of(u)?;
    let key = if u.ratio(1, 4)? {
        ServiceKey::FirewallMark {
            mark: u.int_in_range(1..=u32::MAX)?,
            family: Some(family),
        }
    } else {
        let protocol = match u.int_in_range(0..=6)? {
            0 | 1 => Protocol::Tcp,
            2 | 3 => Protocol::Udp,
            4 | 5 => Protocol::Sctp,
            _ => Protocol::from_number(u.arbitrary()?),
        };
        ServiceKey::Address {
            protocol,
            address: address(u, family)?,
            port: u.arbitrary()?,
        }
    };
    let flags = ServiceFlags {
        persistent: u.arbitrary()?,
        one_packet: u.arbitrary()?,
        scheduler_flags: u.arbitrary()?,
    };
    let persistence = if flags.persistent {
        Some(Persistence {
            timeout_seconds: u.arbitrary()?,
            netmask: match family {
                AddressFamily::Inet => u.arbitrary()?,
                AddressFamily::Inet6 => u.int_in_range(1..=128)?,
            },
        })
    } else {
        None
    };
    let fits = kernel == Kernel::V3_10;
    let mut backends: Vec<Backend> = Vec::new();
    for _ in 0..u.int_in_range(0..=5)? {
        let b = backend(u, kernel, family)?;
        // The kernel keeps one real server per address and port.
        if !backends
            .iter()
            .any(|o| (o.address, o.port) == (b.address, b.port))
        {
            backends.push(b);
        }
    }
    Ok(Service {
        key,
        scheduler: (*u.choose(SCHEDULERS)?).to_string(),
        flags,
        persistence,
        persistence_engine: if u.ratio(1, 5)? {
            Some("sip".into())
        } else {
            None
        },
        counters: Some(counters(u, fits)?),
        rates: Some(rates(u, fits)?),
        backends,
    })
}

fn table(u: &mut Unstructured, kernel: Kernel) -> Result<IpvsTable> {
    let mut services: Vec<Service> = Vec::new();
    for _ in 0..u.int_in_range(0..=6)? {
        let s = service(u, kernel)?;
        if !services.iter().any(|o| o.key == s.key) {
            services.push(s);
        }
    }
    let mut sync_daemons = Vec::new();
    for state in ["master", "backup"] {
        if u.ratio(1, 3)? {
            sync_daemons.push(SyncDaemon {
                state: state.into(),
                interface: text(u, 15)?,
                sync_id: u.arbitrary()?,
            });
        }
    }
    let (major, minor, patch): (u8, u8, u8) = u.arbitrary()?;
    Ok(IpvsTable {
        source: IpvsSource::Netlink,
        version: Some(format!("{major}.{minor}.{patch}")),
        connection_table_buckets: Some(u64::from(u.arbitrary::<u32>()?)),
        services,
        timeouts: Some(Timeouts {
            tcp: u.arbitrary()?,
            tcp_fin: u.arbitrary()?,
            udp: u.arbitrary()?,
        }),
        sync_daemons,
        ..IpvsTable::default()
    })
}

/// Attributes of a record, written as the kernel's `nla_put*` would.
struct Record<'u, 'a> {
    u: &'u mut Unstructured<'a>,
    bytes: Vec<u8>,
}

impl<'u, 'a> Record<'u, 'a> {
    fn new(u: &'u mut Unstructured<'a>) -> Self {
        Record {
            u,
            bytes: Vec::new(),
        }
    }

    fn put(&mut self, kind: u16, payload: &[u8]) -> &mut Self {
        put(&mut self.bytes, kind, payload);
        self
    }

    /// `nla_put_u64_64bit`: a padding attribute first when the payload would not be 8-byte
    /// aligned, on architectures that need it (chosen at random here).
    fn put_u64(&mut self, kind: u16, value: u64, pad: u16) -> &mut Self {
        if self.u.arbitrary().unwrap_or(false) {
            self.put(pad, &[]);
        }
        self.put(kind, &value.to_ne_bytes())
    }

    /// `nla_put_string`: the text and its NUL.
    fn put_string(&mut self, kind: u16, value: &str) -> &mut Self {
        let mut payload = value.as_bytes().to_vec();
        payload.push(0);
        self.put(kind, &payload)
    }

    /// An attribute of a newer kernel, now and then.
    fn maybe_newer(&mut self) -> &mut Self {
        if self.u.ratio(1, 4).unwrap_or(false) {
            let len = self.u.int_in_range(0..=9).unwrap_or(0);
            self.put(NEWER_ATTRIBUTE, &vec![0xa5; len]);
        }
        self
    }

    /// `ip_vs_genl_fill_stats` (32-bit: bytes are 64-bit already) or `..._stats64`.
    fn put_stats(&mut self, kind: u16, c: &TrafficCounters, r: &TrafficRates, wide: bool) {
        let mut block = Record::new(self.u);
        let narrow = |v: u64| (v as u32).to_ne_bytes();
        let figures = [
            (IPVS_STATS_ATTR_CONNS, c.connections),
            (IPVS_STATS_ATTR_INPKTS, c.incoming_packets),
            (IPVS_STATS_ATTR_OUTPKTS, c.outgoing_packets),
            (IPVS_STATS_ATTR_INBYTES, c.incoming_bytes),
            (IPVS_STATS_ATTR_OUTBYTES, c.outgoing_bytes),
            (IPVS_STATS_ATTR_CPS, r.connections_per_second),
            (IPVS_STATS_ATTR_INPPS, r.incoming_packets_per_second),
            (IPVS_STATS_ATTR_OUTPPS, r.outgoing_packets_per_second),
            (IPVS_STATS_ATTR_INBPS, r.incoming_bytes_per_second),
            (IPVS_STATS_ATTR_OUTBPS, r.outgoing_bytes_per_second),
        ];
        for (attr, value) in figures {
            let bytes_count = matches!(attr, IPVS_STATS_ATTR_INBYTES | IPVS_STATS_ATTR_OUTBYTES);
            if wide || bytes_count {
                block.put_u64(attr, value, IPVS_STATS_ATTR_PAD);
            } else {
                block.put(attr, &narrow(value));
            }
        }
        let nested = block.bytes;
        self.put(kind | NLA_F_NESTED, &nested);
    }
}

fn put(out: &mut Vec<u8>, kind: u16, payload: &[u8]) {
    ipvs_exporter::netlink::encode::push_attribute(out, kind, payload).unwrap();
}

fn family_number(family: AddressFamily) -> u16 {
    match family {
        AddressFamily::Inet => AF_INET,
        AddressFamily::Inet6 => AF_INET6,
    }
}

/// `union nf_inet_addr`: 16 bytes, IPv4 in the first 4.
fn inet_addr(address: &IpAddr) -> [u8; 16] {
    let mut raw = [0u8; 16];
    match address {
        IpAddr::V4(a) => raw[..4].copy_from_slice(&a.octets()),
        IpAddr::V6(a) => raw = a.octets(),
    }
    raw
}

/// `ip_vs_genl_fill_service`'s attributes for `s`.
fn service_record(u: &mut Unstructured, s: &Service, kernel: Kernel) -> Vec<u8> {
    let mut r = Record::new(u);
    let family = s.key.family().unwrap();
    r.put(IPVS_SVC_ATTR_AF, &family_number(family).to_ne_bytes());
    match &s.key {
        ServiceKey::FirewallMark { mark, .. } => {
            r.put(IPVS_SVC_ATTR_FWMARK, &mark.to_ne_bytes());
        }
        ServiceKey::Address {
            protocol,
            address,
            port,
        } => {
            r.put(
                IPVS_SVC_ATTR_PROTOCOL,
                &u16::from(protocol.number()).to_ne_bytes(),
            )
            .put(IPVS_SVC_ATTR_ADDR, &inet_addr(address))
            .put(IPVS_SVC_ATTR_PORT, &port.to_be_bytes());
        }
    }
    r.put_string(IPVS_SVC_ATTR_SCHED_NAME, &s.scheduler);
    if let Some(engine) = &s.persistence_engine {
        r.put_string(IPVS_SVC_ATTR_PE_NAME, engine);
    }
    let f = &s.flags;
    let bits = [
        (f.persistent, IP_VS_SVC_F_PERSISTENT),
        (f.one_packet, IP_VS_SVC_F_ONEPACKET),
        (f.scheduler_flags[0], IP_VS_SVC_F_SCHED1),
        (f.scheduler_flags[1], IP_VS_SVC_F_SCHED2),
        (f.scheduler_flags[2], IP_VS_SVC_F_SCHED3),
    ]
    .iter()
    .filter(|(set, _)| *set)
    .fold(0u32, |all, (_, bit)| all | bit);
    // `struct ip_vs_flags { flags; mask; }`; the kernel sends every mask bit set.
    let mut flags = bits.to_ne_bytes().to_vec();
    flags.extend_from_slice(&u32::MAX.to_ne_bytes());
    r.put(IPVS_SVC_ATTR_FLAGS, &flags);
    // Sent whether the service is persistent or not; without persistence they mean nothing.
    let (timeout, netmask) = match s.persistence {
        Some(p) => (p.timeout_seconds, p.netmask),
        None => (r.u.arbitrary().unwrap_or(0), r.u.arbitrary().unwrap_or(0)),
    };
    r.put(IPVS_SVC_ATTR_TIMEOUT, &timeout.to_ne_bytes())
        .put(IPVS_SVC_ATTR_NETMASK, &netmask.to_be_bytes());
    let (c, rt) = (s.counters.unwrap(), s.rates.unwrap());
    r.put_stats(IPVS_SVC_ATTR_STATS, &c, &rt, false);
    if kernel >= Kernel::V4_19 {
        r.put_stats(IPVS_SVC_ATTR_STATS64, &c, &rt, true);
    }
    r.maybe_newer();
    r.bytes
}

fn forward_bits(forward: ForwardMethod) -> u32 {
    match forward {
        ForwardMethod::Masq => IP_VS_CONN_F_MASQ,
        ForwardMethod::Local => IP_VS_CONN_F_LOCALNODE,
        ForwardMethod::Tunnel => IP_VS_CONN_F_TUNNEL,
        ForwardMethod::Route => IP_VS_CONN_F_DROUTE,
        ForwardMethod::Bypass => IP_VS_CONN_F_BYPASS,
    }
}

fn tunnel_number(kind: TunnelKind) -> u8 {
    match kind {
        TunnelKind::Ipip => 0,
        TunnelKind::Gue => 1,
        TunnelKind::Gre => 2,
        TunnelKind::Other(n) => n,
    }
}

/// `ip_vs_genl_fill_dest`'s attributes for `b`.
fn dest_record(u: &mut Unstructured, b: &Backend, kernel: Kernel) -> Vec<u8> {
    let mut r = Record::new(u);
    let as_u32 = |v: i64| (v as i32 as u32).to_ne_bytes();
    r.put(IPVS_DEST_ATTR_ADDR, &inet_addr(&b.address))
        .put(IPVS_DEST_ATTR_PORT, &b.port.to_be_bytes())
        .put(
            IPVS_DEST_ATTR_FWD_METHOD,
            &forward_bits(b.forward).to_ne_bytes(),
        )
        .put(IPVS_DEST_ATTR_WEIGHT, &as_u32(b.weight));
    if kernel == Kernel::V6_1 {
        // Sent for every real server; they mean something for tunnelled ones only.
        let (kind, port, flags) = match b.tunnel {
            Some(t) => (tunnel_number(t.kind), t.port, t.flags),
            None => (
                r.u.arbitrary().unwrap_or(0),
                r.u.arbitrary().unwrap_or(0),
                r.u.arbitrary().unwrap_or(0),
            ),
        };
        r.put(IPVS_DEST_ATTR_TUN_TYPE, &[kind])
            .put(IPVS_DEST_ATTR_TUN_PORT, &port.to_be_bytes())
            .put(IPVS_DEST_ATTR_TUN_FLAGS, &flags.to_ne_bytes());
    }
    r.put(
        IPVS_DEST_ATTR_U_THRESH,
        &b.upper_threshold.unwrap().to_ne_bytes(),
    )
    .put(
        IPVS_DEST_ATTR_L_THRESH,
        &b.lower_threshold.unwrap().to_ne_bytes(),
    )
    .put(IPVS_DEST_ATTR_ACTIVE_CONNS, &as_u32(b.active_connections))
    .put(IPVS_DEST_ATTR_INACT_CONNS, &as_u32(b.inactive_connections))
    .put(
        IPVS_DEST_ATTR_PERSIST_CONNS,
        &as_u32(b.persistent_connections.unwrap()),
    );
    let (c, rt) = (b.counters.unwrap(), b.rates.unwrap());
    r.put_stats(IPVS_DEST_ATTR_STATS, &c, &rt, false);
    if kernel >= Kernel::V4_19 {
        r.put_stats(IPVS_DEST_ATTR_STATS64, &c, &rt, true);
        let family = family_number(AddressFamily::of(&b.address));
        r.put(IPVS_DEST_ATTR_ADDR_FAMILY, &family.to_ne_bytes());
    }
    r.maybe_newer();
    r.bytes
}

/// `ip_vs_genl_fill_daemon`.
fn daemon_record(u: &mut Unstructured, d: &SyncDaemon) -> Vec<u8> {
    let mut r = Record::new(u);
    let state = if d.state == "master" {
        IP_VS_STATE_MASTER
    } else {
        IP_VS_STATE_BACKUP
    };
    r.put(IPVS_DAEMON_ATTR_STATE, &state.to_ne_bytes())
        .put_string(IPVS_DAEMON_ATTR_MCAST_IFN, &d.interface)
        .put(IPVS_DAEMON_ATTR_SYNC_ID, &d.sync_id.to_ne_bytes());
    // IPVS_DAEMON_ATTR_SYNC_MAXLEN (u16) and IPVS_DAEMON_ATTR_MCAST_PORT (u16), since 4.3.
    r.put(4, &1472u16.to_ne_bytes())
        .put(7, &8848u16.to_ne_bytes());
    r.bytes
}

/// A kernel holding one IPVS table, its replies written in advance.
struct TableKernel<'u, 'a> {
    u: &'u mut Unstructured<'a>,
    family_id: u16,
    table: IpvsTable,
    kernel: Kernel,
}

impl TableKernel<'_, '_> {
    fn message(&self, command: u8, flags: u16, sequence: u32, body: &[u8]) -> MessageWriter {
        let mut m =
            MessageWriter::generic(self.family_id, flags, sequence, command, IPVS_GENL_VERSION);
        m.attributes(body);
        m
    }

    /// A dump: one record per message, each nested in `outer`, then `NLMSG_DONE`.
    fn dump(
        &mut self,
        command: u8,
        outer: u16,
        records: &[Vec<u8>],
        sequence: u32,
    ) -> Vec<Vec<u8>> {
        let mut buffers = Vec::new();
        for record in records {
            let mut body = Vec::new();
            put(&mut body, outer | NLA_F_NESTED, record);
            let mut m = self.message(command, NLM_F_MULTI, sequence, &body);
            push_message(self.u, &mut buffers, &mut m);
        }
        let mut end = done(sequence);
        if buffers.is_empty() || self.u.arbitrary().unwrap_or(false) {
            buffers.push(Vec::new());
        }
        buffers.last_mut().unwrap().append(&mut end);
        buffers
    }

    fn error(sequence: u32, errno: i32, request: &[u8]) -> Vec<Vec<u8>> {
        let header = &request[..NLMSG_HDRLEN];
        let mut m = MessageWriter::new(NLMSG_ERROR, 0, sequence);
        m.header(&(-errno).to_ne_bytes()).header(header);
        vec![m.finish().unwrap()]
    }

    /// The service a GET_DEST request names, looked up as `ip_vs_genl_find_service` does:
    /// by family and mark, or by family, protocol, address and port.
    fn service_named(&self, body: &[u8]) -> Option<usize> {
        let nest = attributes(body)
            .flatten()
            .find(|a| a.kind == IPVS_CMD_ATTR_SERVICE)?;
        let (mut af, mut mark, mut protocol, mut addr, mut port) = (None, None, None, None, None);
        for a in attributes(nest.payload).flatten() {
            match a.kind {
                IPVS_SVC_ATTR_AF => af = Some(u16::from_ne_bytes(a.payload.try_into().ok()?)),
                IPVS_SVC_ATTR_FWMARK => {
                    mark = Some(u32::from_ne_bytes(a.payload.try_into().ok()?));
                }
                IPVS_SVC_ATTR_PROTOCOL => {
                    protocol = Some(u16::from_ne_bytes(a.payload.try_into().ok()?));
                }
                IPVS_SVC_ATTR_ADDR => addr = Some(a.payload.to_vec()),
                IPVS_SVC_ATTR_PORT => port = Some(a.payload.to_vec()),
                _ => {}
            }
        }
        let af = af?;
        self.table.services.iter().position(|s| {
            family_number(s.key.family().unwrap()) == af
                && match (&s.key, mark) {
                    (ServiceKey::FirewallMark { mark: m, .. }, Some(asked)) => *m == asked,
                    (
                        ServiceKey::Address {
                            protocol: p,
                            address: a,
                            port: pt,
                        },
                        None,
                    ) => {
                        protocol == Some(u16::from(p.number()))
                            && addr.as_deref() == Some(&inet_addr(a)[..])
                            && port.as_deref() == Some(&pt.to_be_bytes()[..])
                    }
                    _ => false,
                }
        })
    }
}

impl TableKernel<'_, '_> {
    /// The kernel's reply to a request.
    fn answer(&mut self, request: &[u8]) -> std::result::Result<Vec<Vec<u8>>, TransportError> {
        let message = messages(request).next().unwrap().unwrap();
        let (command, body) = message.generic().unwrap();
        let sequence = message.sequence;
        if message.kind == GENL_ID_CTRL && command == CTRL_CMD_GETFAMILY {
            let mut buffers = Vec::new();
            for (name, id) in [
                ("nlctrl", GENL_ID_CTRL),
                ("IPVS", self.family_id),
                ("devlink", 0x15),
            ] {
                let mut m = MessageWriter::generic(
                    GENL_ID_CTRL,
                    NLM_F_MULTI,
                    sequence,
                    CTRL_CMD_NEWFAMILY,
                    2,
                );
                let mut attrs = Vec::new();
                let mut nul = name.as_bytes().to_vec();
                nul.push(0);
                put(&mut attrs, CTRL_ATTR_FAMILY_ID, &id.to_ne_bytes());
                put(&mut attrs, CTRL_ATTR_FAMILY_NAME, &nul);
                put(&mut attrs, 3, &2u32.to_ne_bytes()); // CTRL_ATTR_VERSION
                m.attributes(&attrs);
                push_message(self.u, &mut buffers, &mut m);
            }
            buffers.push(done(sequence));
            return Ok(buffers);
        }
        if message.kind != self.family_id {
            return Ok(Self::error(sequence, EINVAL, request));
        }
        let replies = match command {
            IPVS_CMD_GET_INFO => {
                let version = self.table.version.as_deref().unwrap();
                let code = version
                    .split('.')
                    .fold(0u32, |all, part| (all << 8) | part.parse::<u32>().unwrap());
                let mut attrs = Vec::new();
                put(&mut attrs, IPVS_INFO_ATTR_VERSION, &code.to_ne_bytes());
                let size = self.table.connection_table_buckets.unwrap() as u32;
                put(
                    &mut attrs,
                    IPVS_INFO_ATTR_CONN_TAB_SIZE,
                    &size.to_ne_bytes(),
                );
                vec![
                    self.message(IPVS_CMD_SET_INFO, 0, sequence, &attrs)
                        .finish()
                        .unwrap(),
                ]
            }
            IPVS_CMD_GET_CONFIG => {
                let t = self.table.timeouts.unwrap();
                let mut attrs = Vec::new();
                put(&mut attrs, IPVS_CMD_ATTR_TIMEOUT_TCP, &t.tcp.to_ne_bytes());
                put(
                    &mut attrs,
                    IPVS_CMD_ATTR_TIMEOUT_TCP_FIN,
                    &t.tcp_fin.to_ne_bytes(),
                );
                put(&mut attrs, IPVS_CMD_ATTR_TIMEOUT_UDP, &t.udp.to_ne_bytes());
                vec![
                    self.message(IPVS_CMD_SET_CONFIG, 0, sequence, &attrs)
                        .finish()
                        .unwrap(),
                ]
            }
            IPVS_CMD_GET_SERVICE => {
                let services = self.table.services.clone();
                let records: Vec<_> = services
                    .iter()
                    .map(|s| service_record(self.u, s, self.kernel))
                    .collect();
                self.dump(
                    IPVS_CMD_NEW_SERVICE,
                    IPVS_CMD_ATTR_SERVICE,
                    &records,
                    sequence,
                )
            }
            IPVS_CMD_GET_DEST => match self.service_named(body) {
                Some(index) => {
                    let backends = self.table.services[index].backends.clone();
                    let records: Vec<_> = backends
                        .iter()
                        .map(|b| dest_record(self.u, b, self.kernel))
                        .collect();
                    self.dump(IPVS_CMD_NEW_DEST, IPVS_CMD_ATTR_DEST, &records, sequence)
                }
                None => Self::error(sequence, ESRCH, request),
            },
            IPVS_CMD_GET_DAEMON => {
                let daemons = self.table.sync_daemons.clone();
                let records: Vec<_> = daemons.iter().map(|d| daemon_record(self.u, d)).collect();
                self.dump(
                    IPVS_CMD_NEW_DAEMON,
                    IPVS_CMD_ATTR_DAEMON,
                    &records,
                    sequence,
                )
            }
            _ => Self::error(sequence, EINVAL, request),
        };
        Ok(replies)
    }
}

/// The command of a generic netlink request.
fn command_of(request: &[u8]) -> u8 {
    let message = messages(request).next().unwrap().unwrap();
    message.generic().unwrap().0
}

impl Transport for TableKernel<'_, '_> {
    fn exchange(&mut self, request: &[u8]) -> std::result::Result<Vec<Vec<u8>>, TransportError> {
        assert_ne!(
            command_of(request),
            IPVS_CMD_GET_DEST,
            "a service's real servers are read as a small dump"
        );
        self.answer(request)
    }

    fn exchange_small_dump(
        &mut self,
        request: &[u8],
    ) -> std::result::Result<Vec<Vec<u8>>, TransportError> {
        assert_eq!(
            command_of(request),
            IPVS_CMD_GET_DEST,
            "only a service's real servers are read as a small dump"
        );
        self.answer(request)
    }
}

fn compare_backend(d: &mut Differences, at: &str, got: &Backend, want: &Backend) {
    d.same(&format!("{at}.address"), &got.address, &want.address);
    d.same(&format!("{at}.port"), &got.port, &want.port);
    d.same(&format!("{at}.forward"), &got.forward, &want.forward);
    d.same(&format!("{at}.weight"), &got.weight, &want.weight);
    d.same(
        &format!("{at}.active_connections"),
        &got.active_connections,
        &want.active_connections,
    );
    d.same(
        &format!("{at}.inactive_connections"),
        &got.inactive_connections,
        &want.inactive_connections,
    );
    d.same(
        &format!("{at}.persistent_connections"),
        &got.persistent_connections,
        &want.persistent_connections,
    );
    d.same(
        &format!("{at}.upper_threshold"),
        &got.upper_threshold,
        &want.upper_threshold,
    );
    d.same(
        &format!("{at}.lower_threshold"),
        &got.lower_threshold,
        &want.lower_threshold,
    );
    d.same(&format!("{at}.counters"), &got.counters, &want.counters);
    d.same(&format!("{at}.rates"), &got.rates, &want.rates);
    d.same(&format!("{at}.tunnel"), &got.tunnel, &want.tunnel);
}

fn compare_service(d: &mut Differences, at: &str, got: &Service, want: &Service) {
    d.same(&format!("{at}.key"), &got.key, &want.key);
    d.same(&format!("{at}.scheduler"), &got.scheduler, &want.scheduler);
    d.same(&format!("{at}.flags"), &got.flags, &want.flags);
    d.same(
        &format!("{at}.persistence"),
        &got.persistence,
        &want.persistence,
    );
    d.same(
        &format!("{at}.persistence_engine"),
        &got.persistence_engine,
        &want.persistence_engine,
    );
    d.same(&format!("{at}.counters"), &got.counters, &want.counters);
    d.same(&format!("{at}.rates"), &got.rates, &want.rates);
    d.same(
        &format!("{at}.backends.len()"),
        &got.backends.len(),
        &want.backends.len(),
    );
    for (i, (g, w)) in got.backends.iter().zip(&want.backends).enumerate() {
        compare_backend(d, &format!("{at}.backends[{i}]"), g, w);
    }
}

#[test]
fn ipvs_tables_round_trip_through_the_kernels_replies() {
    run("ipvs", |u| {
        let kernel = *u.choose(&[Kernel::V3_10, Kernel::V4_19, Kernel::V6_1])?;
        let model = table(u, kernel)?;
        let family_id = u.int_in_range(0x11..=0x3ff)?;
        let mut peer = TableKernel {
            u,
            family_id,
            table: model.clone(),
            kernel,
        };
        let read = read_table(&mut peer)
            .expect("the read succeeds")
            .expect("the IPVS family is found");
        assert_eq!(read.problems, Vec::<String>::new(), "kernel {kernel:?}");
        let got = read.table;
        let mut d = Differences::default();
        d.same("source", &got.source, &model.source);
        d.same("version", &got.version, &model.version);
        d.same(
            "connection_table_buckets",
            &got.connection_table_buckets,
            &model.connection_table_buckets,
        );
        d.same("totals", &got.totals, &model.totals);
        d.same("timeouts", &got.timeouts, &model.timeouts);
        d.same("sync_daemons", &got.sync_daemons, &model.sync_daemons);
        d.same("services.len()", &got.services.len(), &model.services.len());
        for (i, (g, w)) in got.services.iter().zip(&model.services).enumerate() {
            compare_service(&mut d, &format!("services[{i}]"), g, w);
        }
        d.check(&format!("IPVS table (kernel {kernel:?})"));
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------------
// Conntrack statistics over nfnetlink
// ---------------------------------------------------------------------------------------------

/// `CTA_STATS_*` (linux/netfilter/nfnetlink_conntrack.h) and the name `conntrack -S` prints for
/// each.
const CONNTRACK_STATISTICS: &[(u16, &str)] = &[
    (1, "searched"),
    (2, "found"),
    (3, "new"),
    (4, "invalid"),
    (5, "ignore"),
    (6, "delete"),
    (7, "delete_list"),
    (8, "insert"),
    (9, "insert_failed"),
    (10, "drop"),
    (11, "early_drop"),
    (12, "error"),
    (13, "search_restart"),
    (14, "clash_resolve"),
    (15, "chaintoolong"),
];

#[test]
fn conntrack_statistics_round_trip_through_the_per_cpu_dump() {
    run("conntrack", |u| {
        // The statistics this kernel sends, in its order, and a newer kernel's unknown ones.
        let mut sent: Vec<(u16, &str)> = Vec::new();
        for &(kind, name) in CONNTRACK_STATISTICS {
            if u.ratio(3, 4)? {
                sent.push((kind, name));
            }
        }
        let unknown: Vec<u16> = (16..=18)
            .filter(|_| u.ratio(1, 4).unwrap_or(false))
            .collect();
        // One message per possible CPU, each with its number as the resource id.
        let mut cpus: Vec<u16> = Vec::new();
        let mut next = 0u16;
        for _ in 0..u.int_in_range(1..=16)? {
            next += u.int_in_range(0..=3)?;
            cpus.push(next);
            next += 1;
        }
        let values: Vec<Vec<u32>> = cpus
            .iter()
            .map(|_| {
                sent.iter()
                    .map(|_| number(u, true).map(|v| v as u32))
                    .collect()
            })
            .collect::<Result<_>>()?;
        let sequence = u.arbitrary()?;
        let mut buffers = Vec::new();
        for (cpu, row) in cpus.iter().zip(&values) {
            let mut m = MessageWriter::netfilter(
                NFNL_SUBSYS_CTNETLINK,
                IPCTNL_MSG_CT_GET_STATS_CPU,
                NLM_F_MULTI,
                sequence,
                AF_UNSPEC,
                *cpu,
            );
            let mut attrs = Vec::new();
            for ((kind, _), value) in sent.iter().zip(row) {
                // nla_put_be32
                put(&mut attrs, *kind, &value.to_be_bytes());
            }
            for kind in &unknown {
                put(&mut attrs, *kind, &7u32.to_be_bytes());
            }
            m.attributes(&attrs);
            push_message(u, &mut buffers, &mut m);
        }
        buffers.push(done(sequence));

        let sum = decode_stats_cpu(data_messages(&buffers)).expect("the dump decodes");
        let expected: Vec<(String, u64)> = sent
            .iter()
            .enumerate()
            .map(|(i, (_, name))| {
                let total = values.iter().map(|row| u64::from(row[i])).sum();
                ((*name).to_string(), total)
            })
            .collect();
        let mut d = Differences::default();
        d.same("cpus", &sum.cpus, &cpus.len());
        d.same("statistics.len()", &sum.statistics.len(), &expected.len());
        for (i, (got, want)) in sum.statistics.iter().zip(&expected).enumerate() {
            d.same(&format!("statistics[{i}]"), got, want);
        }
        d.same("unknown_attributes", &sum.unknown_attributes, &unknown);
        d.same("problems", &sum.problems, &Vec::new());
        d.check("conntrack statistics");
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------------
// Links and addresses over rtnetlink
// ---------------------------------------------------------------------------------------------

// linux/if.h: flags besides the four the model keeps, which must not leak into them.
const IFF_BROADCAST: u32 = 0x2;
const IFF_MULTICAST: u32 = 0x1000;
const IFF_LOWER_UP: u32 = 0x1_0000;
// linux/if_link.h and linux/if_addr.h: attributes the decoders skip.
const IFLA_ADDRESS: u16 = 1;
const IFLA_MTU: u16 = 4;
const IFLA_INFO_DATA: u16 = 2;
const IFA_LABEL: u16 = 3;
const IFA_CACHEINFO: u16 = 6;
const IFA_FLAGS: u16 = 8;

fn link(u: &mut Unstructured) -> Result<Link> {
    let kinds = [
        "dummy",
        "ipip",
        "wireguard",
        "vxlan",
        "bridge",
        "veth",
        "bond",
        "vlan",
    ];
    Ok(Link {
        index: u.int_in_range(1..=i32::MAX as u32)?,
        name: text(u, 15)?,
        up: u.arbitrary()?,
        running: u.arbitrary()?,
        noarp: u.arbitrary()?,
        loopback: u.arbitrary()?,
        hardware_type: u.arbitrary()?,
        kind: if u.arbitrary()? {
            Some((*u.choose(&kinds)?).to_string())
        } else {
            None
        },
        routes_out: None,
    })
}

/// `rtnl_fill_ifinfo`: `struct ifinfomsg`, then the attributes.
fn link_message(u: &mut Unstructured, l: &Link, sequence: u32) -> Result<MessageWriter> {
    let mut flags = [
        (l.up, IFF_UP),
        (l.running, IFF_RUNNING),
        (l.noarp, IFF_NOARP),
        (l.loopback, IFF_LOOPBACK),
    ]
    .iter()
    .filter(|(set, _)| *set)
    .fold(0u32, |all, (_, bit)| all | bit);
    for other in [IFF_BROADCAST, IFF_MULTICAST, IFF_LOWER_UP] {
        if u.arbitrary()? {
            flags |= other;
        }
    }
    let mut header = vec![0u8, 0]; // ifi_family AF_UNSPEC, padding
    header.extend_from_slice(&l.hardware_type.to_ne_bytes());
    header.extend_from_slice(&(l.index as i32).to_ne_bytes());
    header.extend_from_slice(&flags.to_ne_bytes());
    header.extend_from_slice(&0u32.to_ne_bytes()); // ifi_change
    assert_eq!(header.len(), 16);
    let mut m = MessageWriter::new(RTM_NEWLINK, NLM_F_MULTI, sequence);
    m.header(&header);
    let mut name = l.name.as_bytes().to_vec();
    name.push(0);
    m.attribute(IFLA_IFNAME, &name)
        .attribute(IFLA_MTU, &1500u32.to_ne_bytes())
        .attribute(IFLA_ADDRESS, &u.arbitrary::<[u8; 6]>()?);
    if let Some(kind) = &l.kind {
        let mut kind_text = kind.as_bytes().to_vec();
        kind_text.push(0);
        m.begin_nested(IFLA_LINKINFO)
            .attribute(IFLA_INFO_KIND, &kind_text)
            .attribute(IFLA_INFO_DATA | NLA_F_NESTED, &[])
            .end_nested();
    }
    Ok(m)
}

/// An address and, on a point-to-point link, its peer.
fn interface_address(u: &mut Unstructured) -> Result<(InterfaceAddress, Option<IpAddr>)> {
    let family = family_of(u)?;
    let address = address(u, family)?;
    let max = if family == AddressFamily::Inet {
        32
    } else {
        128
    };
    let peer = if u.ratio(1, 4)? {
        Some(self::address(u, family)?)
    } else {
        None
    };
    Ok((
        InterfaceAddress {
            index: u.int_in_range(1..=i32::MAX as u32)?,
            address,
            prefix_len: u.int_in_range(0..=max)?,
        },
        peer,
    ))
}

fn ip_bytes(address: &IpAddr) -> Vec<u8> {
    match address {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

/// `inet_fill_ifaddr` / `inet6_fill_ifaddr`: `struct ifaddrmsg`, then the attributes. IPv4
/// sends `IFA_ADDRESS` (the peer, or the address again) and `IFA_LOCAL`; IPv6 sends
/// `IFA_LOCAL` only with a peer, and `IFA_ADDRESS` always.
fn address_message(
    u: &mut Unstructured,
    a: &InterfaceAddress,
    peer: Option<IpAddr>,
    sequence: u32,
) -> Result<MessageWriter> {
    let family = family_number(AddressFamily::of(&a.address)) as u8;
    let mut header = vec![family, a.prefix_len, u.arbitrary()?, u.arbitrary()?];
    header.extend_from_slice(&a.index.to_ne_bytes());
    let mut m = MessageWriter::new(RTM_NEWADDR, NLM_F_MULTI, sequence);
    m.header(&header);
    let local = ip_bytes(&a.address);
    let shown = ip_bytes(&peer.unwrap_or(a.address));
    if a.address.is_ipv4() {
        m.attribute(IFA_ADDRESS, &shown)
            .attribute(IFA_LOCAL, &local)
            .attribute(IFA_LABEL, b"eth0\0");
    } else if peer.is_some() {
        m.attribute(IFA_LOCAL, &local)
            .attribute(IFA_ADDRESS, &shown);
    } else {
        m.attribute(IFA_ADDRESS, &local);
    }
    m.attribute(IFA_CACHEINFO, &[0u8; 16])
        .attribute(IFA_FLAGS, &u.arbitrary::<u32>()?.to_ne_bytes());
    Ok(m)
}

#[test]
fn links_and_addresses_round_trip_through_rtnetlink_dumps() {
    run("rtnetlink", |u| {
        let sequence = u.arbitrary()?;
        let links: Vec<Link> = (0..u.int_in_range(0..=8)?)
            .map(|_| link(u))
            .collect::<Result<_>>()?;
        let addresses: Vec<(InterfaceAddress, Option<IpAddr>)> = (0..u.int_in_range(0..=8)?)
            .map(|_| interface_address(u))
            .collect::<Result<_>>()?;
        let mut link_dump = Vec::new();
        for l in &links {
            let mut m = link_message(u, l, sequence)?;
            push_message(u, &mut link_dump, &mut m);
        }
        link_dump.push(done(sequence));
        let mut address_dump = Vec::new();
        for (a, peer) in &addresses {
            let mut m = address_message(u, a, *peer, sequence)?;
            push_message(u, &mut address_dump, &mut m);
        }
        address_dump.push(done(sequence));

        let got_links = decode_links(&link_dump).expect("the link dump decodes");
        let got_addresses = decode_addresses(&address_dump).expect("the address dump decodes");
        let mut d = Differences::default();
        d.same("links.len()", &got_links.len(), &links.len());
        for (i, (g, w)) in got_links.iter().zip(&links).enumerate() {
            d.same(&format!("links[{i}].index"), &g.index, &w.index);
            d.same(&format!("links[{i}].name"), &g.name, &w.name);
            d.same(&format!("links[{i}].up"), &g.up, &w.up);
            d.same(&format!("links[{i}].running"), &g.running, &w.running);
            d.same(&format!("links[{i}].noarp"), &g.noarp, &w.noarp);
            d.same(&format!("links[{i}].loopback"), &g.loopback, &w.loopback);
            d.same(
                &format!("links[{i}].hardware_type"),
                &g.hardware_type,
                &w.hardware_type,
            );
            d.same(&format!("links[{i}].kind"), &g.kind, &w.kind);
            d.same(
                &format!("links[{i}].routes_out"),
                &g.routes_out,
                &w.routes_out,
            );
        }
        d.same("addresses.len()", &got_addresses.len(), &addresses.len());
        for (i, (g, (w, _))) in got_addresses.iter().zip(&addresses).enumerate() {
            d.same(&format!("addresses[{i}].index"), &g.index, &w.index);
            d.same(&format!("addresses[{i}].address"), &g.address, &w.address);
            d.same(
                &format!("addresses[{i}].prefix_len"),
                &g.prefix_len,
                &w.prefix_len,
            );
        }
        d.check("links and addresses");
        Ok(())
    });
}
