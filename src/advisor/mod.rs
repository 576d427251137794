//! The advisor: what the host is (its role), and findings about how it is set up. Pure: reads
//! a [`Snapshot`], never the kernel.

use serde::Serialize;

use crate::model::ForwardMethod;
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
}

impl Role {
    /// The stable name used in JSON and labels.
    pub fn id(self) -> &'static str {
        match self {
            Role::NatDirector => "nat-director",
            Role::DrDirector => "dr-director",
            Role::TunDirector => "tun-director",
            Role::Director => "director",
        }
    }

    /// The name for people.
    pub fn title(self) -> &'static str {
        match self {
            Role::NatDirector => "NAT director",
            Role::DrDirector => "DR director",
            Role::TunDirector => "TUN director",
            Role::Director => "IPVS director (no remote real servers)",
        }
    }
}

/// Infers the host's roles from its IPVS table: a director of each kind its real servers'
/// forwarding methods say (several when mixed); none when there are no IPVS services.
pub fn infer_roles(snapshot: &Snapshot) -> Vec<Role> {
    let Some(table) = &snapshot.ipvs else {
        return Vec::new();
    };
    if table.services.is_empty() {
        return Vec::new();
    }
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

/// Runs the advisor over a snapshot.
pub fn advise(snapshot: &Snapshot) -> Advice {
    Advice {
        roles: infer_roles(snapshot),
        ..Advice::default()
    }
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
