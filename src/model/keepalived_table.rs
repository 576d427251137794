//! The IPVS table keepalived programs from its configuration when every real server passes its
//! checks: which services (groups expanded), with which scheduler, persistence and one-packet
//! flag, and which real and sorry servers at which address, port, forwarding method and weight,
//! with the quorum and hysteresis keepalived enforces. Each rule is keepalived's own (2.2.7 and
//! master agree), from `check_parser.c`, `check_data.c` (`validate_check_config`),
//! `ipwrapper.c` and `ipvswrapper.c` (`ipvs_cmd`, `ipvs_group_cmd`); docs/keepalived-rules.md
//! lists them with the function each comes from.

use std::net::IpAddr;

use serde::Serialize;

use super::keepalived::{
    DEFAULT_PERSISTENCE_TIMEOUT, DEFAULT_QUORUM, DEFAULT_REAL_SERVER_WEIGHT, GroupMember,
    KeepalivedConfig, RealServer, VirtualServer, VirtualServerGroup, VirtualServerTarget,
};
use super::{AddressFamily, ForwardMethod, Protocol, ServiceKey};

/// keepalived's scheduler for a virtual server that sets no `lb_algo` (`IPVS_DEF_SCHED`).
pub const DEFAULT_SCHEDULER: &str = "wlc";

/// The most services one range of a group expands into (the parser reports a longer range as
/// a configuration error).
pub const MAX_RANGE_ADDRESSES: u32 = 256;

/// A real or sorry server as keepalived puts it in the kernel's table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProgrammedDestination {
    pub address: IpAddr,
    /// The port in the kernel: see [`destination_port`].
    pub port: u16,
    pub forward: ForwardMethod,
    /// The weight while the server passes its checks (a sorry server: 1 while in use).
    pub weight: i32,
    /// A failed server stays in the table at weight 0 (`inhibit_on_failure`; for a sorry
    /// server, `sorry_server_inhibit`: kept at 0 while quorum holds).
    pub inhibit: bool,
}

/// Persistence as keepalived sets it on a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ProgrammedPersistence {
    pub timeout_seconds: u32,
    /// The kernel's netmask: an IPv4 mask as a number (255.255.255.255 when not set), or an
    /// IPv6 prefix length (128 when not set).
    pub netmask: u32,
}

/// One kernel service keepalived programs for a virtual server (one per address and mark of
/// a group).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProgrammedService {
    pub service: ServiceKey,
    /// The `virtual_server_group` it comes from; empty for a plain virtual server.
    pub group: String,
    /// Index of its `virtual_server` block in the configuration.
    #[serde(skip)]
    pub virtual_server: usize,
    pub scheduler: String,
    pub persistence: Option<ProgrammedPersistence>,
    /// One-packet scheduling (`ops`), as keepalived leaves it.
    pub one_packet: bool,
    pub real_servers: Vec<ProgrammedDestination>,
    pub sorry_server: Option<ProgrammedDestination>,
    /// The quorum as keepalived enforces it: at most the sum of the real servers' weights.
    pub quorum: u32,
    /// The hysteresis as keepalived enforces it: below the quorum.
    pub hysteresis: u32,
}

/// Every service keepalived programs from `config`, in the order of the configuration.
/// Virtual servers keepalived ignores (no real servers left, a group that is not defined or
/// that it removes) program nothing.
pub fn programmed(config: &KeepalivedConfig) -> Vec<ProgrammedService> {
    config
        .virtual_servers
        .iter()
        .enumerate()
        .flat_map(|(index, server)| program_virtual_server(index, server, config))
        .collect()
}

/// A virtual server's settings once keepalived has read and checked its block.
struct Settled<'a> {
    family: Option<AddressFamily>,
    real_servers: Vec<(&'a RealServer, ForwardMethod)>,
    sorry: Option<(IpAddr, Option<u16>, ForwardMethod, bool)>,
}

/// The services keepalived programs for one virtual server (the `index`th of `config`): none
/// when it leaves the virtual server out.
fn program_virtual_server(
    index: usize,
    server: &VirtualServer,
    config: &KeepalivedConfig,
) -> Vec<ProgrammedService> {
    let Some(group) = linked_group(server, config) else {
        return Vec::new();
    };
    let settled = settle(server);
    // validate_check_config (vs_end_handler on master): no real servers, no virtual server.
    if settled.real_servers.is_empty() {
        return Vec::new();
    }
    let by_address = has_address_service(server, group);
    let protocol = service_protocol(server);
    let one_packet = server.ops && (!by_address || protocol == Protocol::Udp);
    let zero_port = has_port_zero_address(server, group);
    let persistence = persistence(server, settled.family, zero_port && by_address);
    let weights: Vec<i32> = settled
        .real_servers
        .iter()
        .map(|(real, _)| real_server_weight(real, server))
        .collect();
    let (quorum, hysteresis) = enforced_quorum_and_hysteresis(server, &weights);
    let scheduler = server
        .lb_algo
        .clone()
        .unwrap_or_else(|| DEFAULT_SCHEDULER.to_string());
    let settings = ServiceSettings {
        group: group.map(|g| g.name.clone()).unwrap_or_default(),
        virtual_server: index,
        scheduler,
        persistence,
        one_packet,
        quorum,
        hysteresis,
    };

    let services = service_entries(server, group, protocol, settled.family);
    services
        .into_iter()
        .map(|(service, entry)| {
            programmed_service(service, entry, &settings, server, &settled, &weights)
        })
        .collect()
}

/// The group a virtual server names: `None` when keepalived leaves the virtual server out,
/// `Some(None)` for a virtual server that names no group.
fn linked_group<'a>(
    server: &VirtualServer,
    config: &'a KeepalivedConfig,
) -> Option<Option<&'a VirtualServerGroup>> {
    match &server.target {
        VirtualServerTarget::Group { name } => {
            // link_vsg_to_vs: a group that is not defined (or that vsg_handler removed)
            // leaves the virtual server out; the first group of the name is the one used.
            match config
                .virtual_server_groups
                .iter()
                .find(|g| &g.name == name)
            {
                Some(group) if group_is_kept(&group.members) => Some(Some(group)),
                _ => None,
            }
        }
        _ => Some(None),
    }
}

/// Whether the virtual server programs an address service: it is one, or its group has an
/// address entry.
fn has_address_service(server: &VirtualServer, group: Option<&VirtualServerGroup>) -> bool {
    match (&server.target, group) {
        (VirtualServerTarget::Address { .. }, _) => true,
        (_, Some(group)) => group
            .members
            .iter()
            .any(|m| matches!(m, GroupMember::Addresses { .. })),
        _ => false,
    }
}

/// The protocol of the virtual server's address services.
fn service_protocol(server: &VirtualServer) -> Protocol {
    // An address service with no protocol is UDP ("no protocol set - defaulting to UDP");
    // a firewall mark has none.
    match server.protocol.as_deref() {
        Some("TCP") => Protocol::Tcp,
        Some("SCTP") => Protocol::Sctp,
        _ => Protocol::Udp,
    }
}

/// Whether the virtual server's address, or an address entry of its group, has port 0.
fn has_port_zero_address(server: &VirtualServer, group: Option<&VirtualServerGroup>) -> bool {
    match (&server.target, group) {
        (VirtualServerTarget::Address { port, .. }, _) => *port == 0,
        (_, Some(group)) => group
            .members
            .iter()
            .any(|m| matches!(m, GroupMember::Addresses { port: 0, .. })),
        _ => false,
    }
}

/// The quorum and hysteresis keepalived enforces, from the configured ones and the real
/// servers' `weights`.
fn enforced_quorum_and_hysteresis(server: &VirtualServer, weights: &[i32]) -> (u32, u32) {
    let weight_sum: u64 = weights.iter().map(|w| u64::try_from(*w).unwrap_or(0)).sum();
    let configured_quorum = server.quorum.unwrap_or(DEFAULT_QUORUM);
    let quorum = u32::try_from(u64::from(configured_quorum).min(weight_sum)).unwrap_or(u32::MAX);
    let configured_hysteresis = server.hysteresis.unwrap_or(0);
    // keepalived's unsigned arithmetic: quorum 0 gives u32::MAX here, as it does there.
    let hysteresis = if configured_hysteresis >= quorum {
        quorum.wrapping_sub(1)
    } else {
        configured_hysteresis
    };
    (quorum, hysteresis)
}

/// The kernel services of a virtual server, each with what it stands on: its address, its
/// mark, or its group's addresses and marks.
fn service_entries(
    server: &VirtualServer,
    group: Option<&VirtualServerGroup>,
    protocol: Protocol,
    family: Option<AddressFamily>,
) -> Vec<(ServiceKey, Entry)> {
    match (&server.target, group) {
        (VirtualServerTarget::Address { address, port }, _) => vec![(
            ServiceKey::Address {
                protocol,
                address: *address,
                port: *port,
            },
            Entry::Address(*port),
        )],
        (VirtualServerTarget::Fwmark { mark }, _) => vec![(
            ServiceKey::FirewallMark {
                mark: *mark,
                family: Some(family.unwrap_or(AddressFamily::Inet)),
            },
            Entry::Fwmark,
        )],
        (_, Some(group)) => group_services(&group.members, protocol, family),
        (VirtualServerTarget::Group { .. }, None) => Vec::new(),
    }
}

/// What every service of a virtual server shares.
struct ServiceSettings {
    group: String,
    virtual_server: usize,
    scheduler: String,
    persistence: Option<ProgrammedPersistence>,
    one_packet: bool,
    quorum: u32,
    hysteresis: u32,
}

/// One service with its real servers (at `weights`) and sorry server, their ports as the
/// service's `entry` gives them.
fn programmed_service(
    service: ServiceKey,
    entry: Entry,
    settings: &ServiceSettings,
    server: &VirtualServer,
    settled: &Settled<'_>,
    weights: &[i32],
) -> ProgrammedService {
    ProgrammedService {
        service,
        group: settings.group.clone(),
        virtual_server: settings.virtual_server,
        scheduler: settings.scheduler.clone(),
        persistence: settings.persistence,
        one_packet: settings.one_packet,
        real_servers: settled
            .real_servers
            .iter()
            .zip(weights)
            .map(|((real, forward), weight)| ProgrammedDestination {
                address: real.address,
                port: destination_port(real.port, *forward, entry),
                forward: *forward,
                weight: *weight,
                inhibit: real.inhibit_on_failure.unwrap_or(server.inhibit_on_failure),
            })
            .collect(),
        sorry_server: settled.sorry.map(|(address, port, forward, inhibit)| {
            ProgrammedDestination {
                address,
                port: destination_port(port, forward, entry),
                forward,
                weight: 1,
                inhibit,
            }
        }),
        quorum: settings.quorum,
        hysteresis: settings.hysteresis,
    }
}

/// What a service stands on, for the ports of its destinations.
#[derive(Debug, Clone, Copy)]
enum Entry {
    /// A plain virtual server's address, with its port.
    Address(u16),
    /// An address of a group, with its port.
    GroupAddress(u16),
    Fwmark,
}

/// The port keepalived gives a real or sorry server in the kernel (`ipvs_cmd`,
/// `ipvs_group_cmd`, and `validate_check_config` for plain virtual servers): under NAT its own
/// port, or for a plain address service the service's when it has none (0 under a firewall
/// mark or in a group); under DR and TUN the service's port (0 under a firewall mark),
/// whatever port the configuration gives it.
fn destination_port(configured: Option<u16>, forward: ForwardMethod, entry: Entry) -> u16 {
    match (forward, entry) {
        (ForwardMethod::Masq, Entry::Address(port)) => configured.unwrap_or(port),
        (ForwardMethod::Masq, Entry::GroupAddress(_) | Entry::Fwmark) => configured.unwrap_or(0),
        (_, Entry::Address(port) | Entry::GroupAddress(port)) => port,
        (_, Entry::Fwmark) => 0,
    }
}

/// A group keepalived keeps (`vsg_handler`): one with entries, and not IPv4 and IPv6
/// addresses beside a firewall mark without a family.
fn group_is_kept(members: &[GroupMember]) -> bool {
    let mut v4 = false;
    let mut v6 = false;
    let mut mark_without_family = false;
    for member in members {
        match member {
            GroupMember::Addresses { first, .. } => match AddressFamily::of(first) {
                AddressFamily::Inet => v4 = true,
                AddressFamily::Inet6 => v6 = true,
            },
            GroupMember::Fwmark { family, .. } => match family {
                Some(AddressFamily::Inet) => v4 = true,
                Some(AddressFamily::Inet6) => v6 = true,
                None => mark_without_family = true,
            },
        }
    }
    let mixed = v4 && v6 && mark_without_family;
    !members.is_empty() && !mixed
}

/// The services of a group: its addresses (ranges expanded), then its marks (`ipvs_group_cmd`
/// visits the address list, then the mark list). A mark's family is its own, else the virtual
/// server's, else IPv4.
fn group_services(
    members: &[GroupMember],
    protocol: Protocol,
    family: Option<AddressFamily>,
) -> Vec<(ServiceKey, Entry)> {
    let addresses = members.iter().filter_map(|m| match m {
        GroupMember::Addresses { first, last, port } => Some((*first, *last, *port)),
        GroupMember::Fwmark { .. } => None,
    });
    let marks = members.iter().filter_map(|m| match m {
        GroupMember::Fwmark { mark, family } => Some((*mark, *family)),
        GroupMember::Addresses { .. } => None,
    });
    let mut services: Vec<(ServiceKey, Entry)> = addresses
        .flat_map(|(first, last, port)| {
            range(first, last).into_iter().map(move |address| {
                (
                    ServiceKey::Address {
                        protocol,
                        address,
                        port,
                    },
                    Entry::GroupAddress(port),
                )
            })
        })
        .collect();
    services.extend(marks.map(|(mark, own)| {
        (
            ServiceKey::FirewallMark {
                mark,
                family: Some(own.or(family).unwrap_or(AddressFamily::Inet)),
            },
            Entry::Fwmark,
        )
    }));
    services
}

/// The virtual server's family, its real servers (a real server of another family than the
/// virtual server's is skipped unless tunnelled: `rs_end_handler`) with their forwarding
/// methods, and its sorry server (dropped when of another family: `vs_end_handler`).
fn settle(server: &VirtualServer) -> Settled<'_> {
    let mut family = match &server.target {
        VirtualServerTarget::Address { address, .. } => Some(AddressFamily::of(address)),
        _ => None,
    };
    let default_forward = forward_method(server.lb_kind.as_deref());
    let mut real_servers: Vec<(&RealServer, ForwardMethod)> = Vec::new();
    for (position, real) in server.real_servers.iter().enumerate() {
        apply_family_statements(server, position, &mut family);
        let forward = real
            .lvs_method
            .as_deref()
            .map_or(default_forward, |m| forward_method(Some(m)));
        // validate_check_config: a real server equal to an earlier one (address and port as
        // written) is removed.
        if real_servers
            .iter()
            .any(|(r, _)| r.address == real.address && r.port == real.port)
        {
            continue;
        }
        if forward != ForwardMethod::Tunnel {
            let own = AddressFamily::of(&real.address);
            match family {
                None => family = Some(own),
                Some(f) if f != own => continue,
                Some(_) => {}
            }
        }
        real_servers.push((real, forward));
    }
    apply_family_statements(server, server.real_servers.len(), &mut family);
    let mut sorry = server.sorry_server.as_ref().map(|s| {
        let forward = s
            .lvs_method
            .as_deref()
            .map_or(default_forward, |m| forward_method(Some(m)));
        (s.address, s.port, forward, s.inhibit)
    });
    if let Some((address, _, forward, _)) = sorry
        && forward != ForwardMethod::Tunnel
    {
        let own = AddressFamily::of(&address);
        match family {
            None => family = Some(own),
            Some(f) if f != own => sorry = None,
            Some(_) => {}
        }
    }
    // All tunnelled, no family given: the sorry server's, else the real servers' when they
    // agree, else IPv4 (vs_end_handler; not for groups, whose entries carry theirs).
    if family.is_none() && !matches!(server.target, VirtualServerTarget::Group { .. }) {
        let mut families = sorry
            .iter()
            .map(|(address, ..)| AddressFamily::of(address))
            .chain(
                real_servers
                    .iter()
                    .map(|(r, _)| AddressFamily::of(&r.address)),
            );
        let first = families.next();
        family = match first {
            Some(f) if families.all(|g| g == f) => Some(f),
            _ => Some(AddressFamily::Inet),
        };
    }
    // A sorry server equal to a real server takes that real server's inhibit setting.
    if let Some((address, port, _, inhibit)) = &mut sorry
        && let Some((real, _)) = real_servers
            .iter()
            .find(|(r, _)| r.address == *address && r.port == *port)
    {
        *inhibit = real.inhibit_on_failure.unwrap_or(server.inhibit_on_failure);
    }
    Settled {
        family,
        real_servers,
        sorry,
    }
}

/// `ip_family` sets the family unless a real server already set another (then keepalived
/// reports the conflict and ignores it); `persistence_granularity` sets it only when unset.
fn apply_family_statements(
    server: &VirtualServer,
    position: usize,
    family: &mut Option<AddressFamily>,
) {
    if let Some(statement) = &server.ip_family
        && statement.after_real_servers == position
        && family.is_none_or(|f| f == statement.value)
    {
        *family = Some(statement.value);
    }
    if let Some(statement) = &server.persistence_granularity
        && statement.after_real_servers == position
        && family.is_none()
    {
        *family = Some(if statement.value.contains('.') {
            AddressFamily::Inet
        } else {
            AddressFamily::Inet6
        });
    }
}

/// Persistence: `persistence_timeout`, or keepalived's default when only a granularity is
/// given or the service has port 0 (`pgr_handler`, `validate_check_config`).
fn persistence(
    server: &VirtualServer,
    family: Option<AddressFamily>,
    zero_port: bool,
) -> Option<ProgrammedPersistence> {
    let timeout = server
        .persistence_timeout
        .or(server
            .persistence_granularity
            .as_ref()
            .map(|_| DEFAULT_PERSISTENCE_TIMEOUT))
        .or(zero_port.then_some(DEFAULT_PERSISTENCE_TIMEOUT))?;
    let family = family.unwrap_or(AddressFamily::Inet);
    let netmask = server
        .persistence_granularity
        .as_ref()
        .and_then(|g| match family {
            AddressFamily::Inet => g.value.parse::<std::net::Ipv4Addr>().ok().map(u32::from),
            AddressFamily::Inet6 => g
                .value
                .parse::<u32>()
                .ok()
                .filter(|p| (1..=128).contains(p)),
        })
        .unwrap_or(match family {
            AddressFamily::Inet => u32::MAX,
            AddressFamily::Inet6 => 128,
        });
    Some(ProgrammedPersistence {
        timeout_seconds: timeout,
        netmask,
    })
}

/// A real server's weight: its own, else the virtual server's `weight`, else 1.
fn real_server_weight(real: &RealServer, server: &VirtualServer) -> i32 {
    real.weight
        .or(server.weight)
        .unwrap_or(DEFAULT_REAL_SERVER_WEIGHT)
}

/// keepalived's forwarding method name as the kernel's; none is NAT ("no forwarding method
/// set, setting default NAT"). The parser keeps only NAT, DR and TUN.
fn forward_method(name: Option<&str>) -> ForwardMethod {
    match name {
        Some("DR") => ForwardMethod::Route,
        Some("TUN") => ForwardMethod::Tunnel,
        _ => ForwardMethod::Masq,
    }
}

/// The addresses from `first` to `last` as keepalived steps them (`ipvs_group_range_cmd`):
/// the whole IPv4 address, the last 16-bit group of an IPv6 one; at most
/// [`MAX_RANGE_ADDRESSES`].
fn range(first: IpAddr, last: IpAddr) -> Vec<IpAddr> {
    match (first, last) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let (a, b) = (u32::from(a), u32::from(b));
            if b < a || b - a >= MAX_RANGE_ADDRESSES {
                return vec![first];
            }
            (a..=b)
                .map(|n| IpAddr::from(std::net::Ipv4Addr::from(n)))
                .collect()
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let (a, b) = (u128::from(a), u128::from(b));
            if b < a || b - a >= u128::from(MAX_RANGE_ADDRESSES) {
                return vec![first];
            }
            (a..=b)
                .map(|n| IpAddr::from(std::net::Ipv6Addr::from(n)))
                .collect()
        }
        _ => vec![first],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::keepalived::parse_single;

    /// A destination as `address:port`, forwarding method and weight.
    type Destination = (String, &'static str, i32);

    /// (service as ipvsadm writes it, its destinations) of each service.
    fn table(text: &str) -> Vec<(String, Vec<Destination>)> {
        let config = parse_single("k.conf", text);
        programmed(&config)
            .iter()
            .map(|s| {
                (
                    s.service.to_string(),
                    s.real_servers
                        .iter()
                        .map(|r| {
                            (
                                format!("{}:{}", r.address, r.port),
                                r.forward.as_str(),
                                r.weight,
                            )
                        })
                        .collect(),
                )
            })
            .collect()
    }

    fn one(text: &str) -> ProgrammedService {
        let config = parse_single("k.conf", text);
        assert_eq!(config.errors, Vec::new());
        let mut all = programmed(&config);
        assert_eq!(all.len(), 1, "{all:?}");
        all.remove(0)
    }

    #[test]
    fn nat_keeps_a_real_servers_port_under_a_mark_and_in_a_group() {
        let text = "virtual_server_group G {\n 10.0.0.1 80\n 10.0.0.2 443\n fwmark 6\n}\n\
            virtual_server group G {\n lb_kind NAT\n protocol TCP\n\
            real_server 10.1.0.1 8080 {\n }\n real_server 10.1.0.2 {\n }\n}\n\
            virtual_server fwmark 5 {\n real_server 10.1.0.3 8080 {\n }\n}\n";
        let nat = |a: &str| (a.to_string(), "masq", 1);
        assert_eq!(
            table(text),
            vec![
                (
                    "TCP 10.0.0.1:80".into(),
                    vec![nat("10.1.0.1:8080"), nat("10.1.0.2:0")]
                ),
                (
                    "TCP 10.0.0.2:443".into(),
                    vec![nat("10.1.0.1:8080"), nat("10.1.0.2:0")]
                ),
                (
                    "FWM 6".into(),
                    vec![nat("10.1.0.1:8080"), nat("10.1.0.2:0")]
                ),
                ("FWM 5".into(), vec![nat("10.1.0.3:8080")]),
            ]
        );
    }

    #[test]
    fn dr_and_tun_take_the_services_port_and_zero_under_a_mark() {
        let text = "virtual_server 10.0.0.1 80 {\n lb_kind DR\n protocol TCP\n\
            real_server 10.1.0.1 8080 {\n }\n real_server 10.1.0.2 {\n }\n\
            real_server 10.1.0.3 8080 {\n lvs_method NAT\n }\n\
            real_server 10.1.0.4 9 {\n lvs_method TUN\n }\n}\n\
            virtual_server fwmark 5 {\n lb_kind TUN\n real_server 10.1.0.5 8080 {\n }\n}\n\
            virtual_server_group G {\n 10.0.0.2 443\n fwmark 7\n}\n\
            virtual_server group G {\n lb_kind DR\n protocol TCP\n\
            real_server 10.1.0.6 8080 {\n }\n}\n";
        assert_eq!(
            table(text),
            vec![
                (
                    "TCP 10.0.0.1:80".into(),
                    vec![
                        ("10.1.0.1:80".into(), "route", 1),
                        ("10.1.0.2:80".into(), "route", 1),
                        ("10.1.0.3:8080".into(), "masq", 1),
                        ("10.1.0.4:80".into(), "tunnel", 1),
                    ]
                ),
                ("FWM 5".into(), vec![("10.1.0.5:0".into(), "tunnel", 1)]),
                (
                    "TCP 10.0.0.2:443".into(),
                    vec![("10.1.0.6:443".into(), "route", 1)]
                ),
                ("FWM 7".into(), vec![("10.1.0.6:0".into(), "route", 1)]),
            ]
        );
    }

    #[test]
    fn an_address_service_without_a_protocol_is_udp_and_a_mark_has_none() {
        let s = one("virtual_server 10.0.0.1 53 {\n real_server 10.1.0.1 53 {\n }\n}\n");
        assert_eq!(s.service.to_string(), "UDP 10.0.0.1:53");
        let s = one("virtual_server fwmark 3 {\n protocol TCP\n real_server 10.1.0.1 {\n }\n}\n");
        assert_eq!(s.service.to_string(), "FWM 3");
    }

    #[test]
    fn defaults_wlc_nat_weight_one_and_the_virtual_servers_weight() {
        let s = one("virtual_server 10.0.0.1 80 {\n protocol TCP\n weight 3\n\
             real_server 10.1.0.1 80 {\n }\n real_server 10.1.0.2 80 {\n weight 0\n }\n}\n");
        assert_eq!(s.scheduler, "wlc");
        let weights: Vec<(ForwardMethod, i32)> = s
            .real_servers
            .iter()
            .map(|r| (r.forward, r.weight))
            .collect();
        assert_eq!(
            weights,
            vec![(ForwardMethod::Masq, 3), (ForwardMethod::Masq, 0)]
        );
        // quorum 1 fits the weights (3); hysteresis 0
        assert_eq!((s.quorum, s.hysteresis), (1, 0));
    }

    #[test]
    fn quorum_is_capped_at_the_weights_and_hysteresis_below_the_quorum() {
        let s = one(
            "virtual_server 10.0.0.1 80 {\n protocol TCP\n quorum 9\n hysteresis 7\n\
             real_server 10.1.0.1 80 {\n weight 2\n }\n real_server 10.1.0.2 80 {\n }\n}\n",
        );
        assert_eq!((s.quorum, s.hysteresis), (3, 2));
    }

    /// keepalived's `validate_check_config` (check_data.c, the same at 2.2.7 and master): "if
    /// (vs->hysteresis >= vs->quorum) vs->hysteresis = vs->quorum - 1", after the quorum is
    /// lowered to the real servers' weight sum. Quorum 3 here (weights 2 and 1, quorum
    /// configured 3): hysteresis 2 is below it and kept; 3, equal to it, becomes 2; 4 becomes 2.
    #[test]
    fn hysteresis_equal_to_the_quorum_is_lowered_below_it() {
        for (configured, enforced) in [(2, 2), (3, 2), (4, 2)] {
            let s = one(&format!(
                "virtual_server 10.0.0.1 80 {{\n protocol TCP\n quorum 3\n hysteresis {configured}\n\
                 real_server 10.1.0.1 80 {{\n weight 2\n }}\n real_server 10.1.0.2 80 {{\n }}\n}}\n",
            ));
            assert_eq!(
                (s.quorum, s.hysteresis),
                (3, enforced),
                "hysteresis {configured} against quorum 3"
            );
        }
    }

    #[test]
    fn persistence_from_a_timeout_a_granularity_or_port_zero() {
        let s = one(
            "virtual_server 10.0.0.1 80 {\n protocol TCP\n persistence_timeout 120\n\
             persistence_granularity 255.255.255.0\n real_server 10.1.0.1 80 {\n }\n}\n",
        );
        assert_eq!(
            s.persistence,
            Some(ProgrammedPersistence {
                timeout_seconds: 120,
                netmask: 0xffff_ff00
            })
        );
        let s = one(
            "virtual_server 2001:db8::1 80 {\n protocol TCP\n persistence_granularity 64\n\
             real_server 2001:db8::2 80 {\n }\n}\n",
        );
        assert_eq!(
            s.persistence,
            Some(ProgrammedPersistence {
                timeout_seconds: 360,
                netmask: 64
            })
        );
        let s = one(
            "virtual_server 10.0.0.1 0 {\n protocol TCP\n lb_kind DR\n real_server 10.1.0.1 80 {\n }\n}\n",
        );
        assert_eq!(s.persistence.map(|p| p.timeout_seconds), Some(360));
        assert_eq!(s.real_servers.first().map(|r| r.port), Some(0));
        let s = one(
            "virtual_server 10.0.0.1 80 {\n protocol TCP\n persistence_timeout\n real_server 10.1.0.1 80 {\n }\n}\n",
        );
        assert_eq!(s.persistence.map(|p| p.timeout_seconds), Some(360));
    }

    #[test]
    fn ops_is_kept_for_udp_and_marks_only() {
        let ops = |head: &str, protocol: &str| {
            one(&format!(
                "virtual_server {head} {{\n {protocol}\n ops\n real_server 10.1.0.1 {{\n }}\n}}\n"
            ))
            .one_packet
        };
        assert!(ops("10.0.0.1 53", "protocol UDP"));
        assert!(!ops("10.0.0.1 80", "protocol TCP"));
        assert!(!ops("10.0.0.1 80", "protocol SCTP"));
        assert!(ops("fwmark 4", ""));
    }

    #[test]
    fn a_virtual_server_without_real_servers_or_with_an_unknown_group_programs_nothing() {
        assert_eq!(
            table("virtual_server 10.0.0.1 80 {\n protocol TCP\n sorry_server 10.1.0.9 80\n}\n"),
            Vec::new()
        );
        assert_eq!(
            table("virtual_server group NOPE {\n real_server 10.1.0.1 80 {\n }\n}\n"),
            Vec::new()
        );
        // IPv4 and IPv6 addresses beside a mark without a family: keepalived removes the group
        assert_eq!(
            table(
                "virtual_server_group G {\n 10.0.0.1 80\n 2001:db8::1 80\n fwmark 3\n}\n\
                 virtual_server group G {\n real_server 10.1.0.1 80 {\n }\n}\n"
            ),
            Vec::new()
        );
    }

    #[test]
    fn a_real_server_of_the_other_family_is_skipped_unless_tunnelled_and_a_duplicate_is_dropped() {
        let text = "virtual_server 10.0.0.1 80 {\n protocol TCP\n\
            real_server 10.1.0.1 80 {\n }\n real_server 2001:db8::1 80 {\n }\n\
            real_server 2001:db8::2 80 {\n lvs_method TUN\n }\n\
            real_server 10.1.0.1 80 {\n weight 5\n }\n}\n";
        assert_eq!(
            table(text),
            vec![(
                "TCP 10.0.0.1:80".into(),
                vec![
                    ("10.1.0.1:80".into(), "masq", 1),
                    ("2001:db8::2:80".into(), "tunnel", 1),
                ]
            )]
        );
    }

    #[test]
    fn a_marks_family_comes_from_ip_family_the_real_servers_or_the_group_entry() {
        let family = |text: &str| {
            let config = parse_single("k.conf", text);
            programmed(&config)
                .iter()
                .map(|s| s.service.family())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            family("virtual_server fwmark 1 {\n real_server 2001:db8::1 {\n }\n}\n"),
            vec![Some(AddressFamily::Inet6)]
        );
        assert_eq!(
            family(
                "virtual_server fwmark 1 {\n ip_family inet6\n lb_kind TUN\n real_server 10.1.0.1 {\n }\n}\n"
            ),
            vec![Some(AddressFamily::Inet6)]
        );
        // ip_family after a real server of the other family conflicts and is ignored
        assert_eq!(
            family("virtual_server fwmark 1 {\n real_server 10.1.0.1 {\n }\n ip_family inet6\n}\n"),
            vec![Some(AddressFamily::Inet)]
        );
        assert_eq!(
            family(
                "virtual_server_group G {\n fwmark 2 inet6\n fwmark 3\n}\n\
                 virtual_server group G {\n real_server 10.1.0.1 {\n }\n}\n"
            ),
            vec![Some(AddressFamily::Inet6), Some(AddressFamily::Inet)]
        );
    }

    #[test]
    fn group_ranges_by_last_octet_end_address_and_netmask() {
        let text = "virtual_server_group G {\n 10.0.0.1-2 80\n 10.0.1.254-10.0.2.1 80\n\
            10.0.3.4/31 80\n}\n\
            virtual_server group G {\n protocol TCP\n real_server 10.1.0.1 80 {\n }\n}\n";
        let services: Vec<String> = table(text).into_iter().map(|(s, _)| s).collect();
        assert_eq!(
            services,
            vec![
                "TCP 10.0.0.1:80",
                "TCP 10.0.0.2:80",
                "TCP 10.0.1.254:80",
                "TCP 10.0.1.255:80",
                "TCP 10.0.2.0:80",
                "TCP 10.0.2.1:80",
                "TCP 10.0.3.4:80",
                "TCP 10.0.3.5:80",
            ]
        );
    }

    #[test]
    fn the_sorry_servers_method_port_weight_and_inhibit() {
        let s = one(
            "virtual_server 10.0.0.1 80 {\n protocol TCP\n lb_kind NAT\n sorry_server 10.1.0.9 8080\n\
             sorry_server_inhibit\n sorry_server_lvs_method DR\n real_server 10.1.0.1 80 {\n }\n}\n",
        );
        assert_eq!(
            s.sorry_server,
            Some(ProgrammedDestination {
                address: "10.1.0.9".parse().unwrap_or(IpAddr::from([0, 0, 0, 0])),
                port: 80,
                forward: ForwardMethod::Route,
                weight: 1,
                inhibit: true,
            })
        );
        let s = one(
            "virtual_server fwmark 2 {\n sorry_server 10.1.0.9\n real_server 10.1.0.1 80 {\n }\n}\n",
        );
        assert_eq!(
            s.sorry_server.map(|d| (d.port, d.forward)),
            Some((0, ForwardMethod::Masq))
        );
    }
}
