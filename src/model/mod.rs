//! Domain types: what the sources read from the kernel, in a form that the metrics encoder,
//! the advisor and the reports read, and the pure logic over them that needs no collector
//! (keepalived's programmed table, its comparison with the kernel's, drain estimates). No
//! Prometheus, netlink or I/O types here. This
//! file holds IPVS; the submodules hold the host's other subsystems.

pub mod conntrack;
pub mod drain;
pub mod interfaces;
pub mod keepalived;
pub mod keepalived_health;
pub mod keepalived_table;
pub mod netdev;
pub mod prometheus;
pub mod snapshot;
pub mod softnet;
pub mod sysctl;

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// The transport protocol of an IPVS service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
    /// Any other IP protocol number (the kernel only balances TCP, UDP and SCTP today).
    Other(u8),
}

impl Protocol {
    /// The protocol's IANA number.
    pub fn number(self) -> u8 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Sctp => 132,
            Protocol::Other(n) => n,
        }
    }

    /// The protocol for an IANA number.
    pub fn from_number(number: u8) -> Self {
        match number {
            6 => Protocol::Tcp,
            17 => Protocol::Udp,
            132 => Protocol::Sctp,
            n => Protocol::Other(n),
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Protocol::Tcp => f.write_str("TCP"),
            Protocol::Udp => f.write_str("UDP"),
            Protocol::Sctp => f.write_str("SCTP"),
            Protocol::Other(n) => write!(f, "IP_{n}"),
        }
    }
}

/// An address family as IPVS knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AddressFamily {
    Inet,
    Inet6,
}

impl AddressFamily {
    /// The family of an address.
    pub fn of(address: &IpAddr) -> Self {
        match address {
            IpAddr::V4(_) => AddressFamily::Inet,
            IpAddr::V6(_) => AddressFamily::Inet6,
        }
    }

    /// The name used in labels and reports: `inet` or `inet6`.
    pub fn as_str(self) -> &'static str {
        match self {
            AddressFamily::Inet => "inet",
            AddressFamily::Inet6 => "inet6",
        }
    }
}

/// What identifies a virtual service: a protocol, address and port, or a firewall mark.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ServiceKey {
    Address {
        protocol: Protocol,
        address: IpAddr,
        port: u16,
    },
    FirewallMark {
        mark: u32,
        /// Unknown when the source does not say (the /proc table omits it for FWM services
        /// without real servers).
        family: Option<AddressFamily>,
    },
}

impl ServiceKey {
    /// The family of the service's traffic, when known.
    pub fn family(&self) -> Option<AddressFamily> {
        match self {
            ServiceKey::Address { address, .. } => Some(AddressFamily::of(address)),
            ServiceKey::FirewallMark { family, .. } => *family,
        }
    }
}

impl fmt::Display for ServiceKey {
    /// The way ipvsadm writes a service: `TCP 10.0.0.1:80`, `UDP [2001:db8::1]:53`, `FWM 1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceKey::Address {
                protocol,
                address,
                port,
            } => write!(f, "{protocol} {}", SocketText(address, *port)),
            ServiceKey::FirewallMark { mark, .. } => write!(f, "FWM {mark}"),
        }
    }
}

/// An address and port written as `1.2.3.4:80` or `[2001:db8::1]:80`.
pub struct SocketText<'a>(pub &'a IpAddr, pub u16);

impl fmt::Display for SocketText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpAddr::V4(a) => write!(f, "{a}:{}", self.1),
            IpAddr::V6(a) => write!(f, "[{a}]:{}", self.1),
        }
    }
}

/// Service flags that change how IPVS treats a service.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServiceFlags {
    /// `IP_VS_SVC_F_PERSISTENT`: clients stick to one real server for a while.
    pub persistent: bool,
    /// `IP_VS_SVC_F_ONEPACKET`: one-packet scheduling (UDP only), shown as `ops`.
    pub one_packet: bool,
    /// `IP_VS_SVC_F_SCHED1..3`: scheduler flags (for `sh` and `mh`: fallback, port). Only
    /// netlink reports them.
    pub scheduler_flags: [bool; 3],
}

impl ServiceFlags {
    /// The set flags as a comma-separated list of their ipvsadm names (empty when none).
    /// Scheduler flags are named after the scheduler as ipvsadm names them (`sh-port`).
    pub fn label(&self, scheduler: &str) -> String {
        let mut names: Vec<String> = Vec::new();
        if self.persistent {
            names.push("persistent".into());
        }
        if self.one_packet {
            names.push("ops".into());
        }
        for (index, set) in self.scheduler_flags.iter().enumerate() {
            if !*set {
                continue;
            }
            names.push(match (scheduler, index) {
                ("sh" | "mh", 0) => format!("{scheduler}-fallback"),
                ("sh" | "mh", 1) => format!("{scheduler}-port"),
                _ => format!("flag-{}", index + 1),
            });
        }
        names.join(",")
    }
}

/// How long a persistent service keeps a client on one real server, and for which clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Persistence {
    pub timeout_seconds: u32,
    /// Clients are grouped by this mask: an IPv4 netmask as a 32-bit number, or an IPv6 prefix
    /// length.
    pub netmask: u32,
}

/// How a real server receives the traffic that IPVS forwards to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ForwardMethod {
    /// NAT: the director rewrites the destination (`ipvsadm -m`).
    Masq,
    /// Direct routing: the frame is sent to the real server's MAC (`ipvsadm -g`).
    Route,
    /// IP-in-IP (or GUE/GRE) tunnelling (`ipvsadm -i`).
    Tunnel,
    /// The real server is the director itself.
    Local,
    /// Bypass: the packet goes on to its original destination.
    Bypass,
}

impl ForwardMethod {
    /// The name used in labels: masq, route, tunnel, local, bypass.
    pub fn as_str(self) -> &'static str {
        match self {
            ForwardMethod::Masq => "masq",
            ForwardMethod::Route => "route",
            ForwardMethod::Tunnel => "tunnel",
            ForwardMethod::Local => "local",
            ForwardMethod::Bypass => "bypass",
        }
    }
}

/// The five figures IPVS keeps for a service, a real server or the host, in their usual
/// order: connections, packets in, packets out, bytes in, bytes out. Counters and rate
/// estimates are both made of them; this is what the two share.
pub trait TrafficFigures: Copy + Default {
    /// The five figures in their usual order.
    fn to_array(&self) -> [u64; 5];

    /// The five figures from an array in their usual order.
    fn from_array(figures: [u64; 5]) -> Self;

    /// Adds another's figures (saturating: a sum never wraps round to a small number).
    fn add(&mut self, other: &Self) {
        let mut sum = self.to_array();
        for (figure, more) in sum.iter_mut().zip(other.to_array()) {
            *figure = figure.saturating_add(more);
        }
        *self = Self::from_array(sum);
    }
}

/// Traffic counted since the service or real server was added (or IPVS was loaded): totals
/// that only grow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrafficCounters {
    pub connections: u64,
    pub incoming_packets: u64,
    pub outgoing_packets: u64,
    pub incoming_bytes: u64,
    pub outgoing_bytes: u64,
}

impl TrafficFigures for TrafficCounters {
    fn to_array(&self) -> [u64; 5] {
        [
            self.connections,
            self.incoming_packets,
            self.outgoing_packets,
            self.incoming_bytes,
            self.outgoing_bytes,
        ]
    }

    fn from_array(
        [
            connections,
            incoming_packets,
            outgoing_packets,
            incoming_bytes,
            outgoing_bytes,
        ]: [u64; 5],
    ) -> Self {
        TrafficCounters {
            connections,
            incoming_packets,
            outgoing_packets,
            incoming_bytes,
            outgoing_bytes,
        }
    }
}

/// The kernel's rate estimates, per second, as it gives them: whole numbers, refreshed every
/// 2 seconds (and frozen when `net.ipv4.vs.run_estimation` is 0).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrafficRates {
    pub connections_per_second: u64,
    pub incoming_packets_per_second: u64,
    pub outgoing_packets_per_second: u64,
    pub incoming_bytes_per_second: u64,
    pub outgoing_bytes_per_second: u64,
}

impl TrafficFigures for TrafficRates {
    fn to_array(&self) -> [u64; 5] {
        [
            self.connections_per_second,
            self.incoming_packets_per_second,
            self.outgoing_packets_per_second,
            self.incoming_bytes_per_second,
            self.outgoing_bytes_per_second,
        ]
    }

    fn from_array(
        [
            connections_per_second,
            incoming_packets_per_second,
            outgoing_packets_per_second,
            incoming_bytes_per_second,
            outgoing_bytes_per_second,
        ]: [u64; 5],
    ) -> Self {
        TrafficRates {
            connections_per_second,
            incoming_packets_per_second,
            outgoing_packets_per_second,
            incoming_bytes_per_second,
            outgoing_bytes_per_second,
        }
    }
}

/// A real server behind a virtual service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backend {
    pub address: IpAddr,
    pub port: u16,
    pub forward: ForwardMethod,
    /// Scheduling weight; 0 means quiesced (no new connections).
    #[serde(default)]
    pub weight: i64,
    /// Connections in the ESTABLISHED state (for TCP), as the kernel counts them.
    #[serde(default)]
    pub active_connections: i64,
    /// All other connections held for this real server.
    #[serde(default)]
    pub inactive_connections: i64,
    /// Per-real-server traffic: not in /proc, only over netlink.
    pub counters: Option<TrafficCounters>,
    /// The kernel's rate estimates for this real server (netlink only).
    pub rates: Option<TrafficRates>,
    /// Connection templates held for persistence (netlink only).
    pub persistent_connections: Option<i64>,
    /// Connection thresholds: above the upper one the real server gets no new connections
    /// until it falls under the lower one; 0 means no limit (netlink only).
    pub upper_threshold: Option<u32>,
    pub lower_threshold: Option<u32>,
    /// Tunnel settings of a tunnelled real server (netlink only, kernels from 5.2).
    pub tunnel: Option<Tunnel>,
}

impl Backend {
    /// A real server with nothing counted yet; sources fill in what they read.
    pub fn new(address: IpAddr, port: u16, forward: ForwardMethod) -> Self {
        Backend {
            address,
            port,
            forward,
            weight: 0,
            active_connections: 0,
            inactive_connections: 0,
            counters: None,
            rates: None,
            persistent_connections: None,
            upper_threshold: None,
            lower_threshold: None,
            tunnel: None,
        }
    }
}

/// How a tunnelled real server is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tunnel {
    pub kind: TunnelKind,
    /// Destination port for GUE.
    pub port: u16,
    /// `IP_VS_TUNNEL_ENCAP_FLAG_*`: checksum settings.
    pub flags: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TunnelKind {
    Ipip,
    Gue,
    Gre,
    Other(u8),
}

impl TunnelKind {
    pub fn from_number(number: u8) -> Self {
        match number {
            0 => TunnelKind::Ipip,
            1 => TunnelKind::Gue,
            2 => TunnelKind::Gre,
            n => TunnelKind::Other(n),
        }
    }
}

/// A virtual service with its real servers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    pub key: ServiceKey,
    /// Scheduler name as the kernel reports it (`rr`, `wlc`, ...; `none` when unset).
    pub scheduler: String,
    #[serde(default)]
    pub flags: ServiceFlags,
    /// Set for persistent services read over netlink (/proc prints the timeout in jiffies).
    pub persistence: Option<Persistence>,
    /// Persistence engine (`sip`), netlink only.
    pub persistence_engine: Option<String>,
    /// Per-service traffic: not in /proc, only over netlink.
    pub counters: Option<TrafficCounters>,
    /// The kernel's rate estimates for this service (netlink only).
    pub rates: Option<TrafficRates>,
    #[serde(default)]
    pub backends: Vec<Backend>,
}

impl Service {
    /// A service with no flags, counters or real servers yet.
    pub fn new(key: ServiceKey, scheduler: impl Into<String>) -> Self {
        Service {
            key,
            scheduler: scheduler.into(),
            flags: ServiceFlags::default(),
            persistence: None,
            persistence_engine: None,
            counters: None,
            rates: None,
            backends: Vec::new(),
        }
    }
}

/// Where an IPVS table was read from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IpvsSource {
    /// `/proc/net/ip_vs`: no per-service or per-real-server traffic.
    #[default]
    Procfs,
    /// Generic netlink, as ipvsadm reads it: everything.
    Netlink,
}

impl IpvsSource {
    pub fn as_str(self) -> &'static str {
        match self {
            IpvsSource::Procfs => "procfs",
            IpvsSource::Netlink => "netlink",
        }
    }
}

/// IPVS connection timeouts (`ipvsadm --set`), in seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Timeouts {
    pub tcp: u32,
    pub tcp_fin: u32,
    pub udp: u32,
}

/// A connection synchronisation daemon (`ipvsadm --start-daemon`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncDaemon {
    /// `master` or `backup`.
    pub state: String,
    pub interface: String,
    pub sync_id: u32,
}

/// The host's IPVS state at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct IpvsTable {
    pub source: IpvsSource,
    /// The IPVS version the kernel announces, such as `1.2.1`.
    pub version: Option<String>,
    /// Buckets of the connection hash table (2^conn_tab_bits).
    pub connection_table_buckets: Option<u64>,
    /// Host totals over all services (`/proc/net/ip_vs_stats`, first block).
    pub totals: Option<TrafficCounters>,
    /// Host rate estimates (`/proc/net/ip_vs_stats`, second block).
    pub total_rates: Option<TrafficRates>,
    pub services: Vec<Service>,
    /// Connection timeouts (netlink only).
    pub timeouts: Option<Timeouts>,
    /// Running sync daemons (netlink only; empty when none run).
    pub sync_daemons: Vec<SyncDaemon>,
    /// The `net.ipv4.vs.run_estimation` sysctl: whether the kernel updates rate estimates.
    pub estimation_enabled: Option<bool>,
    /// Real servers that left (or whose counters started again from zero), with the traffic
    /// they had counted, kept by the collector (bounded) so that series summed over dropped
    /// labels never go back. Never shown as series of their own, nor in reports.
    #[serde(skip)]
    pub departed: Vec<DepartedBackend>,
    /// The last collections' active connections of each real server of weight 0, kept by the
    /// collector (bounded) for the drain estimate. Never shown as such.
    #[serde(skip)]
    pub drain_histories: Vec<drain::DrainHistory>,
}

/// What a real server that left had counted (see [`IpvsTable::departed`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DepartedBackend {
    pub service: ServiceKey,
    pub address: IpAddr,
    pub port: u16,
    pub counters: TrafficCounters,
}
