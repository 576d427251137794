//! What keepalived decided, read back from the kernel: each service keepalived programs from
//! its configuration ([`crate::model::keepalived_table`]: groups expanded, ports, forwarding
//! methods, weights, quorum as keepalived sets them) compared with the IPVS table of the root
//! namespace. Per real server a state (up, down, reweighted, unknown); per virtual server the
//! live weight, quorum (with hysteresis), sorry server and presence; and the drift between the
//! two (kernel services and real servers the configuration lacks, configured virtual servers
//! the kernel lacks, settings that differ).

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

use serde::Serialize;

use super::keepalived::{CheckerDump, Keepalived, VirtualServerTarget};
use super::keepalived_table::{
    ProgrammedDestination, ProgrammedPersistence, ProgrammedService, programmed,
};
use super::{ForwardMethod, IpvsTable, Service, ServiceKey};

/// A configured real server's standing in the kernel's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RealServerState {
    /// In the table with its configured weight.
    Up,
    /// Taken out by its checks: absent, or weight 0 while inhibit_on_failure applies.
    Down,
    /// In the table with another weight (a dynamic MISC_CHECK weight, `ipvsadm -e`, or a
    /// manual drain to weight 0 without inhibit_on_failure).
    Reweighted,
    /// keepalived is not running or the kernel's table was not read.
    Unknown,
}

impl RealServerState {
    /// Every state, in the order series are written.
    pub const ALL: [RealServerState; 4] = [
        RealServerState::Up,
        RealServerState::Down,
        RealServerState::Reweighted,
        RealServerState::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RealServerState::Up => "up",
            RealServerState::Down => "down",
            RealServerState::Reweighted => "reweighted",
            RealServerState::Unknown => "unknown",
        }
    }
}

/// One configured real server of one (expanded) virtual server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RealServerHealth {
    pub address: IpAddr,
    /// The port keepalived gives it in the kernel (see [`crate::model::keepalived_table`]).
    pub port: u16,
    /// The forwarding method keepalived gives it.
    pub forward: ForwardMethod,
    pub configured_weight: i32,
    /// The weight the kernel has for it; `None` when absent or not known.
    pub kernel_weight: Option<i64>,
    pub inhibit_on_failure: bool,
    pub state: RealServerState,
    /// keepalived's checkers' own view (its data dump), when read and naming it.
    pub checker_alive: Option<bool>,
}

/// The sorry server of a virtual server, and whether the kernel has it in service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SorryServerHealth {
    pub address: IpAddr,
    pub port: u16,
    pub forward: ForwardMethod,
    /// `sorry_server_inhibit`: in the table at weight 0 while quorum holds.
    pub inhibit: bool,
    /// In the kernel's table with weight > 0; `None` when not known.
    pub active: Option<bool>,
}

/// One configured virtual server, or one service of a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VirtualServerHealth {
    pub service: ServiceKey,
    /// The `virtual_server_group` it comes from; empty for a plain virtual server.
    pub group: String,
    /// The scheduler keepalived sets.
    pub scheduler: String,
    /// The persistence keepalived sets, if any.
    pub persistence: Option<ProgrammedPersistence>,
    /// One-packet scheduling as keepalived sets it.
    pub one_packet: bool,
    pub real_servers: Vec<RealServerHealth>,
    /// The quorum and hysteresis as keepalived enforces them.
    pub quorum: u32,
    pub hysteresis: u32,
    pub sorry_server: Option<SorryServerHealth>,
    /// Whether the kernel has the service; `None` when not known.
    pub present: Option<bool>,
    /// Sum of the kernel's weights for the configured real servers; `None` when not known.
    pub live_weight: Option<i64>,
    /// Configured real servers in state up or reweighted with weight > 0.
    pub real_servers_up: Option<usize>,
    /// Whether quorum holds; `None` when not known.
    pub quorum_up: Option<bool>,
}

/// A kernel real server the configuration does not have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnmanagedRealServer {
    pub service: ServiceKey,
    pub address: IpAddr,
    pub port: u16,
    pub weight: i64,
}

/// A setting of a configured service that the kernel has otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SettingDrift {
    pub service: ServiceKey,
    pub group: String,
    /// `scheduler`, `persistence_timeout` or `forwarding_method`.
    pub setting: &'static str,
    pub configured: String,
    pub kernel: String,
}

/// The comparison of keepalived's configuration with the kernel's table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct KeepalivedHealth {
    /// Whether keepalived runs and the kernel's table was read: otherwise every state is
    /// unknown and the drift lists are empty.
    pub known: bool,
    pub virtual_servers: Vec<VirtualServerHealth>,
    /// Kernel services the configuration lacks (only when it has virtual servers).
    pub unmanaged_services: Vec<ServiceKey>,
    /// Kernel real servers of configured services that the configuration lacks (sorry servers
    /// excepted).
    pub unmanaged_real_servers: Vec<UnmanagedRealServer>,
    /// Configured services the kernel lacks, with their group.
    pub absent_virtual_servers: Vec<(ServiceKey, String)>,
    pub settings_drift: Vec<SettingDrift>,
}

/// Whether two service keys name the same service; a firewall mark's family counts only when
/// both sides know it.
fn same_service(configured: &ServiceKey, kernel: &ServiceKey) -> bool {
    match (configured, kernel) {
        (
            ServiceKey::FirewallMark {
                mark: a,
                family: fa,
            },
            ServiceKey::FirewallMark {
                mark: b,
                family: fb,
            },
        ) => a == b && (fa.is_none() || fb.is_none() || fa == fb),
        _ => configured == kernel,
    }
}

/// Compares keepalived's configuration with the kernel's table. Everything is unknown while
/// keepalived is not running or `ipvs` is `None`.
pub fn compare(keepalived: &Keepalived, ipvs: Option<&IpvsTable>) -> KeepalivedHealth {
    let config = &keepalived.config;
    let table = ipvs.filter(|_| keepalived.process.running);
    let mut health = KeepalivedHealth {
        known: table.is_some(),
        ..KeepalivedHealth::default()
    };
    // Kernel services by address key; firewall marks by mark (their family may be unknown).
    let mut by_key: HashMap<&ServiceKey, &Service> = HashMap::new();
    let mut by_mark: HashMap<u32, Vec<&Service>> = HashMap::new();
    for service in table.map(|t| t.services.as_slice()).unwrap_or_default() {
        match &service.key {
            ServiceKey::FirewallMark { mark, .. } => {
                by_mark.entry(*mark).or_default().push(service)
            }
            key => {
                by_key.insert(key, service);
            }
        }
    }
    let lookup = |key: &ServiceKey| -> Option<&Service> {
        match key {
            ServiceKey::FirewallMark { mark, .. } => by_mark
                .get(mark)
                .and_then(|list| list.iter().copied().find(|s| same_service(key, &s.key))),
            key => by_key.get(key).copied(),
        }
    };
    let mut managed: BTreeSet<&ServiceKey> = BTreeSet::new();
    let services = programmed(config);
    for service in &services {
        let kernel = lookup(&service.service);
        if let Some(kernel) = kernel {
            managed.insert(&kernel.key);
        }
        let virtual_server = if table.is_some() {
            known_virtual_server(service, kernel, &mut health)
        } else {
            unknown_virtual_server(service)
        };
        health.virtual_servers.push(virtual_server);
    }
    if let Some(dump) = &keepalived.checker_dump {
        add_checker_view(&mut health, dump, &services, keepalived);
    }
    if let Some(table) = table
        && !config.virtual_servers.is_empty()
    {
        health.unmanaged_services = table
            .services
            .iter()
            .filter(|s| !managed.contains(&s.key))
            .map(|s| s.key.clone())
            .collect();
    }
    health
}

fn real_server_health(real: &ProgrammedDestination) -> RealServerHealth {
    RealServerHealth {
        address: real.address,
        port: real.port,
        forward: real.forward,
        configured_weight: real.weight,
        kernel_weight: None,
        inhibit_on_failure: real.inhibit,
        state: RealServerState::Unknown,
        checker_alive: None,
    }
}

fn unknown_virtual_server(service: &ProgrammedService) -> VirtualServerHealth {
    VirtualServerHealth {
        service: service.service.clone(),
        group: service.group.clone(),
        scheduler: service.scheduler.clone(),
        persistence: service.persistence,
        one_packet: service.one_packet,
        real_servers: service
            .real_servers
            .iter()
            .map(real_server_health)
            .collect(),
        quorum: service.quorum,
        hysteresis: service.hysteresis,
        sorry_server: service
            .sorry_server
            .as_ref()
            .map(|sorry| SorryServerHealth {
                address: sorry.address,
                port: sorry.port,
                forward: sorry.forward,
                inhibit: sorry.inhibit,
                active: None,
            }),
        present: None,
        live_weight: None,
        real_servers_up: None,
        quorum_up: None,
    }
}

fn known_virtual_server(
    service: &ProgrammedService,
    kernel: Option<&Service>,
    health: &mut KeepalivedHealth,
) -> VirtualServerHealth {
    let mut virtual_server = unknown_virtual_server(service);
    virtual_server.present = Some(kernel.is_some());
    let backends = kernel.map(|k| k.backends.as_slice()).unwrap_or_default();
    let find = |address: IpAddr, port: u16| {
        backends
            .iter()
            .find(|b| b.address == address && b.port == port)
    };
    let mut live_weight: i64 = 0;
    let mut up = 0;
    for real in &mut virtual_server.real_servers {
        let backend = find(real.address, real.port);
        real.kernel_weight = backend.map(|b| b.weight);
        real.state = match backend {
            None => RealServerState::Down,
            Some(b) if b.weight == i64::from(real.configured_weight) => RealServerState::Up,
            Some(b) if b.weight == 0 && real.inhibit_on_failure => RealServerState::Down,
            Some(_) => RealServerState::Reweighted,
        };
        let weight = backend.map_or(0, |b| b.weight);
        live_weight = live_weight.saturating_add(weight);
        if matches!(
            real.state,
            RealServerState::Up | RealServerState::Reweighted
        ) && weight > 0
        {
            up += 1;
        }
    }
    if let Some(sorry) = &mut virtual_server.sorry_server {
        sorry.active = Some(find(sorry.address, sorry.port).is_some_and(|b| b.weight > 0));
    }
    let quorum = i64::from(virtual_server.quorum);
    let hysteresis = i64::from(virtual_server.hysteresis);
    let sorry_active = virtual_server
        .sorry_server
        .as_ref()
        .and_then(|s| s.active)
        .unwrap_or(false);
    virtual_server.quorum_up = Some(if live_weight < quorum - hysteresis {
        false
    } else if live_weight >= quorum + hysteresis {
        true
    } else {
        !sorry_active
    });
    virtual_server.live_weight = Some(live_weight);
    virtual_server.real_servers_up = Some(up);

    let Some(kernel) = kernel else {
        health
            .absent_virtual_servers
            .push((service.service.clone(), service.group.clone()));
        return virtual_server;
    };
    let sorry = service.sorry_server.as_ref().map(|s| (s.address, s.port));
    for backend in &kernel.backends {
        let configured = virtual_server
            .real_servers
            .iter()
            .any(|r| r.address == backend.address && r.port == backend.port);
        if !configured && sorry != Some((backend.address, backend.port)) {
            health.unmanaged_real_servers.push(UnmanagedRealServer {
                service: kernel.key.clone(),
                address: backend.address,
                port: backend.port,
                weight: backend.weight,
            });
        }
    }
    settings_drift(service, kernel, health);
    virtual_server
}

fn settings_drift(service: &ProgrammedService, kernel: &Service, health: &mut KeepalivedHealth) {
    let mut drift = |setting: &'static str, configured: String, in_kernel: String| {
        health.settings_drift.push(SettingDrift {
            service: service.service.clone(),
            group: service.group.clone(),
            setting,
            configured,
            kernel: in_kernel,
        });
    };
    if service.scheduler != kernel.scheduler {
        drift(
            "scheduler",
            service.scheduler.clone(),
            kernel.scheduler.clone(),
        );
    }
    // /proc does not give the timeout: then only whether the service is persistent counts.
    let kernel_timeout = kernel.persistence.map(|p| p.timeout_seconds);
    let configured_timeout = service.persistence.map(|p| p.timeout_seconds);
    let persistence_differs = match (configured_timeout, kernel.flags.persistent) {
        (None, persistent) => persistent,
        (Some(_), false) => true,
        (Some(configured), true) => kernel_timeout.is_some_and(|t| t != configured),
    };
    if persistence_differs {
        let in_kernel = match (kernel.flags.persistent, kernel_timeout) {
            (false, _) => "none".to_string(),
            (true, Some(t)) => format!("{t}s"),
            (true, None) => "persistent".to_string(),
        };
        drift(
            "persistence_timeout",
            configured_timeout.map_or_else(|| "none".to_string(), |t| format!("{t}s")),
            in_kernel,
        );
    }
    // The methods of the configured real servers in the kernel against keepalived's.
    let mut wanted: BTreeSet<&'static str> = BTreeSet::new();
    let mut found: BTreeSet<&'static str> = BTreeSet::new();
    let mut differs = false;
    for real in &service.real_servers {
        wanted.insert(real.forward.as_str());
        if let Some(backend) = kernel
            .backends
            .iter()
            .find(|b| b.address == real.address && b.port == real.port)
        {
            found.insert(backend.forward.as_str());
            differs |= backend.forward != real.forward;
        }
    }
    if differs {
        drift(
            "forwarding_method",
            wanted.into_iter().collect::<Vec<_>>().join(","),
            found.into_iter().collect::<Vec<_>>().join(","),
        );
    }
}

/// Adds the checkers' own view where the data dump names a configured real server.
fn add_checker_view(
    health: &mut KeepalivedHealth,
    dump: &CheckerDump,
    services: &[ProgrammedService],
    keepalived: &Keepalived,
) {
    let targets: Vec<Option<&VirtualServerTarget>> = services
        .iter()
        .map(|s| {
            keepalived
                .config
                .virtual_servers
                .get(s.virtual_server)
                .map(|v| &v.target)
        })
        .collect();
    for (virtual_server, target) in health.virtual_servers.iter_mut().zip(targets) {
        let Some(target) = target else { continue };
        let protocol = match &virtual_server.service {
            ServiceKey::Address { protocol, .. } => Some(protocol.to_string()),
            ServiceKey::FirewallMark { .. } => None,
        };
        for real in &mut virtual_server.real_servers {
            real.checker_alive = dump
                .real_servers
                .iter()
                .find(|checked| {
                    &checked.virtual_server == target
                        && checked.address == real.address
                        && (real.port == 0 || checked.port.is_none_or(|p| p == real.port))
                        && match (&checked.protocol, &protocol) {
                            (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                            _ => true,
                        }
                })
                .map(|checked| checked.alive);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::keepalived::{CheckedRealServer, KeepalivedProcess};
    use crate::model::{Backend, Persistence, Protocol};
    use crate::parse::keepalived::parse_single;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    fn keepalived(text: &str, running: bool) -> Keepalived {
        let config = parse_single("k.conf", text);
        assert_eq!(config.errors, Vec::new());
        Keepalived {
            config_file: "k.conf".into(),
            config,
            process: KeepalivedProcess {
                pid: Some(1),
                running,
            },
            roles: Vec::new(),
            dump: None,
            notify: None,
            peers: None,
            checker_dump: None,
            vrrp_data_dump: None,
            recent_transitions: None,
        }
    }

    fn tcp(address: &str, port: u16) -> ServiceKey {
        ServiceKey::Address {
            protocol: Protocol::Tcp,
            address: ip(address),
            port,
        }
    }

    fn service(key: ServiceKey, scheduler: &str, backends: &[(&str, u16, i64)]) -> Service {
        let mut service = Service::new(key, scheduler);
        service.backends = backends
            .iter()
            .map(|(address, port, weight)| {
                let mut b = Backend::new(ip(address), *port, ForwardMethod::Masq);
                b.weight = *weight;
                b
            })
            .collect();
        service
    }

    fn table(services: Vec<Service>) -> IpvsTable {
        IpvsTable {
            services,
            ..IpvsTable::default()
        }
    }

    fn states(health: &KeepalivedHealth, index: usize) -> Vec<(String, RealServerState)> {
        health
            .virtual_servers
            .get(index)
            .map(|v| {
                v.real_servers
                    .iter()
                    .map(|r| (format!("{}:{}", r.address, r.port), r.state))
                    .collect()
            })
            .unwrap_or_default()
    }

    const FOUR: &str = "virtual_server 10.0.0.1 80 {\n protocol TCP\n lb_algo rr\n quorum 3\n hysteresis 1\n\
        sorry_server 10.0.1.99 8080\n\
        real_server 10.0.1.1 80 {\n weight 2\n }\n\
        real_server 10.0.1.2 80 {\n inhibit_on_failure\n }\n\
        real_server 10.0.1.3 80 {\n }\n\
        real_server 10.0.1.4 {\n weight 3\n }\n}\n";

    #[test]
    fn each_real_server_is_up_down_or_reweighted_against_the_kernel() {
        let k = keepalived(FOUR, true);
        // .1 at its weight 2; .2 inhibited to 0; .3 drained to 0 by hand; .4 (port from the
        // service) absent.
        let t = table(vec![service(
            tcp("10.0.0.1", 80),
            "rr",
            &[
                ("10.0.1.1", 80, 2),
                ("10.0.1.2", 80, 0),
                ("10.0.1.3", 80, 0),
            ],
        )]);
        let health = compare(&k, Some(&t));
        assert!(health.known);
        assert_eq!(
            states(&health, 0),
            vec![
                ("10.0.1.1:80".into(), RealServerState::Up),
                ("10.0.1.2:80".into(), RealServerState::Down),
                ("10.0.1.3:80".into(), RealServerState::Reweighted),
                ("10.0.1.4:80".into(), RealServerState::Down),
            ]
        );
        let vs = health.virtual_servers.first().cloned();
        let vs = vs.as_ref();
        assert_eq!(vs.and_then(|v| v.live_weight), Some(2));
        assert_eq!(vs.and_then(|v| v.real_servers_up), Some(1));
        assert_eq!(vs.map(|v| (v.quorum, v.hysteresis)), Some((3, 1)));
        // 2 is within quorum 3 +- 1 and the sorry server is not in use: holds.
        assert_eq!(vs.and_then(|v| v.quorum_up), Some(true));
        assert_eq!(vs.and_then(|v| v.present), Some(true));
        assert_eq!(
            vs.and_then(|v| v.sorry_server.as_ref())
                .and_then(|s| s.active),
            Some(false)
        );
        assert_eq!(health.settings_drift, Vec::new());
        assert_eq!(health.unmanaged_real_servers, Vec::new());
    }

    #[test]
    fn quorum_with_hysteresis_and_the_sorry_server() {
        let k = keepalived(FOUR, true);
        let quorum_up = |backends: &[(&str, u16, i64)]| {
            let t = table(vec![service(tcp("10.0.0.1", 80), "rr", backends)]);
            let health = compare(&k, Some(&t));
            let vs = health.virtual_servers.first().cloned();
            (
                vs.as_ref().and_then(|v| v.quorum_up),
                vs.as_ref()
                    .and_then(|v| v.sorry_server.as_ref())
                    .and_then(|s| s.active),
            )
        };
        // 1 < 3 - 1: lost, whatever the sorry server does.
        assert_eq!(
            quorum_up(&[("10.0.1.3", 80, 1)]),
            (Some(false), Some(false))
        );
        // 2 between: lost while the sorry server serves, held otherwise.
        assert_eq!(
            quorum_up(&[("10.0.1.1", 80, 2), ("10.0.1.99", 8080, 1)]),
            (Some(false), Some(true))
        );
        assert_eq!(quorum_up(&[("10.0.1.1", 80, 2)]), (Some(true), Some(false)));
        // 4 >= 3 + 1: holds even with the sorry server still in.
        assert_eq!(
            quorum_up(&[
                ("10.0.1.1", 80, 2),
                ("10.0.1.3", 80, 2),
                ("10.0.1.99", 8080, 1)
            ]),
            (Some(true), Some(true))
        );
        // A sorry server at weight 0 is not in use.
        assert_eq!(
            quorum_up(&[("10.0.1.1", 80, 2), ("10.0.1.99", 8080, 0)]),
            (Some(true), Some(false))
        );
    }

    #[test]
    fn everything_is_unknown_while_keepalived_is_stopped_or_the_table_is_missing() {
        let t = table(vec![service(tcp("10.0.0.1", 80), "rr", &[])]);
        for health in [
            compare(&keepalived(FOUR, false), Some(&t)),
            compare(&keepalived(FOUR, true), None),
        ] {
            assert!(!health.known);
            assert!(
                states(&health, 0)
                    .iter()
                    .all(|(_, s)| *s == RealServerState::Unknown)
            );
            let vs = health.virtual_servers.first().cloned();
            assert_eq!(vs.as_ref().and_then(|v| v.present), None);
            assert_eq!(vs.as_ref().and_then(|v| v.quorum_up), None);
            assert_eq!(vs.as_ref().map(|v| v.real_servers.len()), Some(4));
            assert_eq!(health.absent_virtual_servers, Vec::new());
            assert_eq!(health.unmanaged_services, Vec::new());
        }
    }

    const GROUPS: &str = include_str!("../../tests/fixtures/keepalived-conf/health-checks.conf");

    #[test]
    fn groups_expand_into_their_services_and_marks_match_without_a_family() {
        let k = keepalived(GROUPS, true);
        let mut fwm = service(
            ServiceKey::FirewallMark {
                mark: 9,
                family: None,
            },
            "rr",
            &[("10.20.0.1", 80, 2)],
        );
        fwm.backends.push({
            let mut b = Backend::new(ip("10.20.0.2"), 80, ForwardMethod::Masq);
            b.weight = 1;
            b
        });
        let t = table(vec![
            service(tcp("192.168.10.1", 80), "rr", &[("10.20.0.1", 80, 2)]),
            service(tcp("192.168.10.3", 80), "rr", &[]),
            fwm,
        ]);
        let health = compare(&k, Some(&t));
        let services: Vec<(String, String, Option<bool>)> = health
            .virtual_servers
            .iter()
            .map(|v| (v.service.to_string(), v.group.clone(), v.present))
            .collect();
        assert_eq!(
            services,
            vec![
                ("TCP 192.168.10.1:80".into(), "WEB".into(), Some(true)),
                ("TCP 192.168.10.2:80".into(), "WEB".into(), Some(false)),
                ("TCP 192.168.10.3:80".into(), "WEB".into(), Some(true)),
                ("FWM 9".into(), "WEB".into(), Some(true)),
                ("TCP [2001:db8::80]:443".into(), String::new(), Some(false)),
                ("TCP [2001:db8:10::a]:80".into(), "WEB6".into(), Some(false)),
                ("TCP [2001:db8:10::b]:80".into(), "WEB6".into(), Some(false)),
                ("TCP [2001:db8:10::c]:80".into(), "WEB6".into(), Some(false)),
            ]
        );
        // Under NAT keepalived keeps a real server's own port, a firewall mark's too. .2 is
        // up at the default weight 1.
        assert_eq!(
            states(&health, 3),
            vec![
                ("10.20.0.1:80".into(), RealServerState::Up),
                ("10.20.0.2:80".into(), RealServerState::Up),
            ]
        );
        assert_eq!(
            health.absent_virtual_servers.len(),
            5,
            "{:?}",
            health.absent_virtual_servers
        );
        assert_eq!(health.unmanaged_services, Vec::new());
    }

    #[test]
    fn drift_lists_unmanaged_services_real_servers_and_settings() {
        let text = "virtual_server 10.0.0.1 80 {\n protocol TCP\n lb_algo rr\n lb_kind DR\n persistence_timeout 300\n\
            sorry_server 10.0.1.99 80\n real_server 10.0.1.1 80 {\n }\n}\n";
        let k = keepalived(text, true);
        let mut managed = service(
            tcp("10.0.0.1", 80),
            "wlc",
            &[
                ("10.0.1.1", 80, 1),
                ("10.0.1.7", 80, 1),
                ("10.0.1.99", 80, 1),
            ],
        );
        managed.flags.persistent = true;
        managed.persistence = Some(Persistence {
            timeout_seconds: 60,
            netmask: u32::MAX,
        });
        let t = table(vec![managed, service(tcp("10.0.0.2", 53), "rr", &[])]);
        let health = compare(&k, Some(&t));
        assert_eq!(health.unmanaged_services, vec![tcp("10.0.0.2", 53)]);
        assert_eq!(
            health
                .unmanaged_real_servers
                .iter()
                .map(|r| (r.address, r.port))
                .collect::<Vec<_>>(),
            vec![(ip("10.0.1.7"), 80)]
        );
        let drift: Vec<(&str, &str, &str)> = health
            .settings_drift
            .iter()
            .map(|d| (d.setting, d.configured.as_str(), d.kernel.as_str()))
            .collect();
        assert_eq!(
            drift,
            vec![
                ("scheduler", "rr", "wlc"),
                ("persistence_timeout", "300s", "60s"),
                ("forwarding_method", "route", "masq"),
            ]
        );
        // Defaults: no lb_algo is wlc, no lb_kind is NAT, no persistence is none.
        let k = keepalived(
            "virtual_server 10.0.0.1 80 {\n real_server 10.0.1.1 80 {\n }\n}\n",
            true,
        );
        let t = table(vec![service(
            tcp("10.0.0.1", 80),
            "wlc",
            &[("10.0.1.1", 80, 1)],
        )]);
        assert_eq!(compare(&k, Some(&t)).settings_drift, Vec::new());
    }

    #[test]
    fn a_configuration_without_virtual_servers_owns_no_kernel_service() {
        let k = keepalived("vrrp_instance VI_1 {\n interface eth0\n}\n", true);
        let t = table(vec![service(tcp("10.0.0.2", 53), "rr", &[])]);
        let health = compare(&k, Some(&t));
        assert!(health.known);
        assert_eq!(health.unmanaged_services, Vec::new());
        assert_eq!(health.virtual_servers, Vec::new());
    }

    #[test]
    fn the_checkers_view_is_attached_where_the_dump_names_the_real_server() {
        let mut k = keepalived(FOUR, true);
        k.checker_dump = Some(CheckerDump {
            age_seconds: 1.0,
            real_servers: vec![
                CheckedRealServer {
                    virtual_server: VirtualServerTarget::Address {
                        address: ip("10.0.0.1"),
                        port: 80,
                    },
                    protocol: Some("TCP".into()),
                    address: ip("10.0.1.2"),
                    port: Some(80),
                    alive: false,
                    weight: Some(0),
                },
                CheckedRealServer {
                    virtual_server: VirtualServerTarget::Address {
                        address: ip("10.0.0.1"),
                        port: 80,
                    },
                    protocol: None,
                    address: ip("10.0.1.1"),
                    port: None,
                    alive: true,
                    weight: None,
                },
            ],
        });
        let t = table(vec![service(
            tcp("10.0.0.1", 80),
            "rr",
            &[("10.0.1.1", 80, 2)],
        )]);
        let health = compare(&k, Some(&t));
        let alive: Vec<Option<bool>> = health
            .virtual_servers
            .first()
            .map(|v| v.real_servers.iter().map(|r| r.checker_alive).collect())
            .unwrap_or_default();
        assert_eq!(alive, vec![Some(true), Some(false), None, None]);
    }
}
