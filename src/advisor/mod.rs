//! The advisor: what the host is (its role), and findings about how it is set up. Pure: reads
//! a [`Snapshot`], never the kernel. Rules are data ([`rules::RULES`]): each has a stable id,
//! a severity, the roles it applies to, What / Why / Fix text, and a check.

pub mod rules;

use serde::Serialize;

use crate::model::ForwardMethod;
use crate::model::interfaces::{InterfaceAddress, Link};
use crate::snapshot::Snapshot;

/// What the host does for IPVS, as far as the kernel shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// IPVS services with NAT (masquerading) real servers.
    NatDirector,
    /// IPVS services with direct-routing real servers.
    DrDirector,
    /// IPVS services with tunnelled real servers.
    TunDirector,
    /// IPVS services whose real servers are all local (or that have none yet).
    Director,
    /// No IPVS services, and a virtual address on `lo` or another interface that does not
    /// answer ARP: a real server behind a direct-routing director.
    DrRealServer,
    /// No IPVS services, and an address on an IP-in-IP tunnel device: a real server behind a
    /// tunnelling director.
    TunRealServer,
}

impl Role {
    /// Whether the host balances traffic with IPVS, whatever the forwarding method.
    pub fn is_director(self) -> bool {
        matches!(
            self,
            Role::NatDirector | Role::DrDirector | Role::TunDirector | Role::Director
        )
    }

    /// Every role, for `--role` and `--explain`.
    pub const ALL: [Role; 6] = [
        Role::NatDirector,
        Role::DrDirector,
        Role::TunDirector,
        Role::Director,
        Role::DrRealServer,
        Role::TunRealServer,
    ];

    pub fn from_id(id: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.id() == id)
    }
}

impl Role {
    /// The stable name used in JSON and labels.
    pub fn id(self) -> &'static str {
        match self {
            Role::NatDirector => "nat-director",
            Role::DrDirector => "dr-director",
            Role::TunDirector => "tun-director",
            Role::Director => "director",
            Role::DrRealServer => "dr-real-server",
            Role::TunRealServer => "tun-real-server",
        }
    }

    /// The name for people.
    pub fn title(self) -> &'static str {
        match self {
            Role::NatDirector => "NAT director",
            Role::DrDirector => "DR director",
            Role::TunDirector => "TUN director",
            Role::Director => "IPVS director (no remote real servers)",
            Role::DrRealServer => "DR real server",
            Role::TunRealServer => "TUN real server",
        }
    }
}

/// The addresses that make a host a real server: on `lo` (outside 127.0.0.0/8 and ::1), on
/// another interface that does not answer ARP, or on an IP-in-IP tunnel device. Each with its
/// link.
pub fn real_server_vips(snapshot: &Snapshot) -> Vec<(&Link, &InterfaceAddress)> {
    let Some(interfaces) = &snapshot.interfaces else {
        return Vec::new();
    };
    interfaces
        .addresses
        .iter()
        .filter_map(|address| {
            let link = interfaces.links.iter().find(|l| l.index == address.index)?;
            let special = match address.address {
                std::net::IpAddr::V4(a) => a.is_loopback() || a.is_link_local(),
                std::net::IpAddr::V6(a) => a.is_loopback() || (a.segments()[0] & 0xffc0) == 0xfe80,
            };
            (!special && (link.loopback || link.noarp || link.is_tunnel()))
                .then_some((link, address))
        })
        .collect()
}

/// Infers the host's roles: with IPVS services, a director of each kind its real servers'
/// forwarding methods say (several when mixed); without, a DR or TUN real server when its
/// addresses say so ([`real_server_vips`]); none otherwise.
pub fn infer_roles(snapshot: &Snapshot) -> Vec<Role> {
    let services = snapshot.ipvs.as_ref().map_or(0, |t| t.services.len());
    if services == 0 {
        let mut roles: Vec<Role> = real_server_vips(snapshot)
            .iter()
            .map(|(link, _)| {
                if link.is_tunnel() {
                    Role::TunRealServer
                } else {
                    Role::DrRealServer
                }
            })
            .collect();
        roles.sort();
        roles.dedup();
        return roles;
    }
    let Some(table) = &snapshot.ipvs else {
        return Vec::new();
    };
    let mut roles: Vec<Role> = table
        .services
        .iter()
        .flat_map(|service| &service.backends)
        .filter_map(|backend| match backend.forward {
            ForwardMethod::Masq => Some(Role::NatDirector),
            ForwardMethod::Route => Some(Role::DrDirector),
            ForwardMethod::Tunnel => Some(Role::TunDirector),
            ForwardMethod::Local | ForwardMethod::Bypass => None,
        })
        .collect();
    roles.sort();
    roles.dedup();
    if roles.is_empty() {
        roles.push(Role::Director);
    }
    roles
}

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }

    pub const ALL: [Severity; 3] = [Severity::Critical, Severity::Warning, Severity::Info];
}

/// One thing the advisor found wrong on the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The rule's stable kebab-case id.
    pub rule: &'static str,
    pub severity: Severity,
    /// What it is about: a sysctl key, an interface, a service.
    pub subject: String,
    pub observed: String,
    pub expected: String,
    pub summary: String,
    pub fix: String,
    /// The sysctl setting that fixes it, for `doctor --emit-sysctl`.
    #[serde(skip)]
    pub sysctl: Option<(String, String)>,
}

/// A rule that could not be evaluated, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    pub rule: &'static str,
    pub reason: String,
}

/// What the advisor concluded about a snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Advice {
    pub roles: Vec<Role>,
    pub findings: Vec<Finding>,
    pub skipped: Vec<Skipped>,
    pub rules_evaluated: usize,
}

/// How the advisor runs: rules turned off, and roles forced instead of inferred.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdviceOptions {
    pub disabled: Vec<String>,
    pub forced_roles: Option<Vec<Role>>,
}

/// Runs every enabled rule that applies to the host's roles over a snapshot.
pub fn advise(snapshot: &Snapshot, options: &AdviceOptions) -> Advice {
    let roles = options
        .forced_roles
        .clone()
        .unwrap_or_else(|| infer_roles(snapshot));
    let context = rules::Context {
        snapshot,
        roles: &roles,
    };
    let mut advice = Advice {
        roles: roles.clone(),
        ..Advice::default()
    };
    for rule in rules::RULES {
        if options.disabled.iter().any(|id| id == rule.id) || !rule.applies_to(&roles) {
            continue;
        }
        match (rule.check)(&context) {
            rules::Check::Pass => advice.rules_evaluated += 1,
            rules::Check::Found(findings) => {
                advice.rules_evaluated += 1;
                advice.findings.extend(findings);
            }
            rules::Check::Skipped(reason) => advice.skipped.push(Skipped {
                rule: rule.id,
                reason,
            }),
        }
    }
    advice
        .findings
        .sort_by(|a, b| b.severity.cmp(&a.severity).then(a.rule.cmp(b.rule)));
    advice
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;
    use crate::model::{Backend, IpvsTable, Protocol, Service, ServiceKey};

    fn service_with(forwards: &[ForwardMethod]) -> Service {
        let key = ServiceKey::Address {
            protocol: Protocol::Tcp,
            address: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            port: 80,
        };
        Service {
            backends: forwards
                .iter()
                .enumerate()
                .map(|(i, forward)| {
                    Backend::new(IpAddr::V4(Ipv4Addr::new(10, 0, 1, i as u8)), 80, *forward)
                })
                .collect(),
            ..Service::new(key, "rr")
        }
    }

    fn snapshot_of(services: Vec<Service>) -> Snapshot {
        Snapshot {
            ipvs: Some(IpvsTable {
                services,
                ..IpvsTable::default()
            }),
            ..Snapshot::default()
        }
    }

    #[test]
    fn no_ipvs_means_no_role() {
        assert!(infer_roles(&Snapshot::default()).is_empty());
        assert!(infer_roles(&snapshot_of(Vec::new())).is_empty());
    }

    #[test]
    fn mixed_forwarding_gives_every_director_role_once() {
        let snapshot = snapshot_of(vec![
            service_with(&[ForwardMethod::Route, ForwardMethod::Masq]),
            service_with(&[ForwardMethod::Tunnel, ForwardMethod::Route]),
        ]);
        assert_eq!(
            infer_roles(&snapshot),
            vec![Role::NatDirector, Role::DrDirector, Role::TunDirector]
        );
    }

    #[test]
    fn services_without_remote_real_servers_are_a_plain_director() {
        let snapshot = snapshot_of(vec![
            service_with(&[]),
            service_with(&[ForwardMethod::Local]),
        ]);
        assert_eq!(infer_roles(&snapshot), vec![Role::Director]);
    }
}
