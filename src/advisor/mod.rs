//! The advisor: what the host is (its roles, each with the evidence for it), and findings about
//! how it is set up. Pure: reads a [`Snapshot`], never the kernel. Rules are data
//! ([`rules::RULES`]): each has a stable id, a severity, the roles it applies to, What / Why /
//! Severity / Fix text, and a check. Findings of rules that hang on weakly evidenced roles are
//! at most warnings.

pub mod rules;

use serde::Serialize;

use crate::model::ForwardMethod;
use crate::model::interfaces::{InterfaceAddress, Interfaces, KUBE_IPVS_DUMMY, Link};
use crate::model::snapshot::Snapshot;

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
    /// No IPVS services, and a host address on `lo` (outside 127.0.0.0/8 and ::1) or on a
    /// dummy that does not answer ARP: a real server behind a direct-routing director.
    DrRealServer,
    /// No IPVS services, and a host address on an IP-in-IP tunnel device that routes nothing
    /// out: a real server behind a tunnelling director.
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

/// How much the evidence for a role says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Strength {
    /// Only that role explains it (or the role was given with `--role`).
    Strong,
    /// It fits the role, and other setups too: findings of the role's rules are at most
    /// warnings.
    Weak,
}

/// One thing the host shows that makes it play a role: `192.0.2.10/32 on lo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evidence {
    pub role: Role,
    pub strength: Strength,
    pub detail: String,
    /// Why the evidence is weak; empty when strong.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub caveat: String,
}

/// Something that looks like a real server's virtual address at first sight and is not
/// taken as one, with the reason: `10.0.0.1/24 on wg0`, "a wireguard device".
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Disregarded {
    pub detail: String,
    pub reason: String,
}

/// What one address on one link says about the host: evidence of a real-server role (with
/// its strength and caveat), or set aside with the reason.
enum AddressVerdict {
    Role(Role, Strength, String),
    Disregarded(String),
}

/// The prefix that covers this one address in its family: `/32` or `/128`.
fn host_prefix(address: &InterfaceAddress) -> &'static str {
    if address.address.is_ipv4() {
        "/32"
    } else {
        "/128"
    }
}

/// The first of Calico's pod interfaces (veth devices named `cali...`), when the host has one.
/// On a Calico node with a single node, nothing routes through `tunl0` yet, so its pod address
/// on `tunl0` looks like a TUN real server's virtual address; the pod interfaces tell it apart.
fn calico_pod_interface(interfaces: &Interfaces) -> Option<&str> {
    interfaces
        .links
        .iter()
        .find(|l| l.name.starts_with("cali") && l.kind.as_deref() == Some("veth"))
        .map(|l| l.name.as_str())
}

/// What an address says, when it is on a device a real server could hold its virtual address
/// on: `lo`, a dummy that does not answer ARP (DR), or an IP-in-IP tunnel device that routes
/// nothing out (TUN). `None` for ordinary interfaces. `calico_pod` names one of Calico's pod
/// interfaces when the host has them.
fn read_address(
    link: &Link,
    address: &InterfaceAddress,
    calico_pod: Option<&str>,
) -> Option<AddressVerdict> {
    if address.is_special() {
        return None;
    }
    if let Some(reason) = link.not_a_vip_holder() {
        return (link.noarp || link.is_tunnel() || link.name == KUBE_IPVS_DUMMY)
            .then_some(AddressVerdict::Disregarded(reason));
    }
    let whole_prefix = || {
        format!(
            "a whole prefix, not a single address ({})",
            host_prefix(address)
        )
    };
    if link.loopback {
        return Some(if address.is_host() {
            AddressVerdict::Role(Role::DrRealServer, Strength::Strong, String::new())
        } else {
            AddressVerdict::Role(Role::DrRealServer, Strength::Weak, whole_prefix())
        });
    }
    if link.is_tunnel() {
        if !address.is_host() {
            return Some(AddressVerdict::Disregarded(whole_prefix()));
        }
        return Some(match (link.routes_out, calico_pod) {
            (_, Some(pod)) => AddressVerdict::Disregarded(format!(
                "Calico's tunnel: the host has Calico's pod interfaces ({pod}), and a \
                 single-node cluster routes nothing through {} yet",
                link.name
            )),
            (Some(0), None) => {
                AddressVerdict::Role(Role::TunRealServer, Strength::Strong, String::new())
            }
            (Some(routes), None) => AddressVerdict::Disregarded(format!(
                "{routes} route(s) leave through {}: an overlay network's tunnel (such as \
                 Calico's IPIP), not a TUN real server's, which only receives",
                link.name
            )),
            (None, None) => AddressVerdict::Role(
                Role::TunRealServer,
                Strength::Weak,
                format!("the routes through {} could not be read", link.name),
            ),
        });
    }
    if link.noarp {
        if !address.is_host() {
            return Some(AddressVerdict::Disregarded(whole_prefix()));
        }
        return Some(if link.is_dummy() {
            AddressVerdict::Role(Role::DrRealServer, Strength::Strong, String::new())
        } else {
            let kind = link.kind.as_deref().unwrap_or("unknown");
            AddressVerdict::Role(
                Role::DrRealServer,
                Strength::Weak,
                format!("a device of kind {kind} that does not answer ARP, not lo or a dummy"),
            )
        });
    }
    None
}

/// What the host's addresses say about real-server roles: the evidence, and what was set
/// aside and why. Addresses on the same device set aside for the same reason are counted.
pub fn real_server_evidence(snapshot: &Snapshot) -> (Vec<Evidence>, Vec<Disregarded>) {
    let (mut evidence, mut disregarded) =
        (Vec::new(), Vec::<(String, usize, String, String)>::new());
    let Some(interfaces) = &snapshot.interfaces else {
        return (evidence, Vec::new());
    };
    let calico_pod = calico_pod_interface(interfaces);
    for address in &interfaces.addresses {
        let Some(link) = interfaces.links.iter().find(|l| l.index == address.index) else {
            continue;
        };
        let detail = format!("{address} on {}", link.name);
        match read_address(link, address, calico_pod) {
            None => {}
            Some(AddressVerdict::Role(role, strength, caveat)) => evidence.push(Evidence {
                role,
                strength,
                detail,
                caveat,
            }),
            Some(AddressVerdict::Disregarded(reason)) => {
                match disregarded
                    .iter_mut()
                    .find(|(name, _, _, r)| *name == link.name && *r == reason)
                {
                    Some(entry) => entry.1 += 1,
                    None => disregarded.push((link.name.clone(), 1, detail, reason)),
                }
            }
        }
    }
    let disregarded = disregarded
        .into_iter()
        .map(|(name, count, detail, reason)| Disregarded {
            detail: if count == 1 {
                detail
            } else {
                format!("{count} addresses on {name}")
            },
            reason,
        })
        .collect();
    (evidence, disregarded)
}

/// The addresses that make the host a real server, each with its link: what
/// [`real_server_evidence`] takes as evidence, strong or weak.
pub fn real_server_vips(snapshot: &Snapshot) -> Vec<(&Link, &InterfaceAddress)> {
    let Some(interfaces) = &snapshot.interfaces else {
        return Vec::new();
    };
    let calico_pod = calico_pod_interface(interfaces);
    interfaces
        .addresses
        .iter()
        .filter_map(|address| {
            let link = interfaces.links.iter().find(|l| l.index == address.index)?;
            matches!(
                read_address(link, address, calico_pod),
                Some(AddressVerdict::Role(..))
            )
            .then_some((link, address))
        })
        .collect()
}

/// The host's roles and what shows each of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inferred {
    pub roles: Vec<Role>,
    pub evidence: Vec<Evidence>,
    pub disregarded: Vec<Disregarded>,
}

impl Inferred {
    /// How strong the evidence for a role is: strong when any of it is.
    pub fn strength(&self, role: Role) -> Option<Strength> {
        self.evidence
            .iter()
            .filter(|e| e.role == role)
            .map(|e| e.strength)
            .min()
    }
}

/// Infers the host's roles: with IPVS services, a director of each kind its real servers'
/// forwarding methods say (several when mixed); without, a DR or TUN real server when its
/// addresses say so ([`real_server_evidence`]); none otherwise.
pub fn infer(snapshot: &Snapshot) -> Inferred {
    let (real_server, mut disregarded) = real_server_evidence(snapshot);
    let services = snapshot.ipvs.as_ref().map_or(&[][..], |t| &t.services[..]);
    if services.is_empty() {
        let mut roles: Vec<Role> = real_server.iter().map(|e| e.role).collect();
        roles.sort();
        roles.dedup();
        return Inferred {
            roles,
            evidence: real_server,
            disregarded,
        };
    }
    let mut counts: std::collections::BTreeMap<Role, (usize, usize)> = Default::default();
    for service in services {
        let mut seen = Vec::new();
        for backend in &service.backends {
            let role = match backend.forward {
                ForwardMethod::Masq => Role::NatDirector,
                ForwardMethod::Route => Role::DrDirector,
                ForwardMethod::Tunnel => Role::TunDirector,
                ForwardMethod::Local | ForwardMethod::Bypass => continue,
            };
            let entry = counts.entry(role).or_default();
            entry.1 += 1;
            if !seen.contains(&role) {
                seen.push(role);
                entry.0 += 1;
            }
        }
    }
    let mut evidence: Vec<Evidence> = counts
        .iter()
        .map(|(role, (services, real_servers))| Evidence {
            role: *role,
            strength: Strength::Strong,
            detail: format!(
                "{services} IPVS service(s) with {real_servers} real server(s) forwarded by {}",
                match role {
                    Role::NatDirector => "masquerading (NAT)",
                    Role::DrDirector => "direct routing",
                    _ => "IP-in-IP tunnelling",
                }
            ),
            caveat: String::new(),
        })
        .collect();
    if evidence.is_empty() {
        evidence.push(Evidence {
            role: Role::Director,
            strength: Strength::Strong,
            detail: format!(
                "{} IPVS service(s), none with a remote real server",
                services.len()
            ),
            caveat: String::new(),
        });
    }
    for candidate in real_server {
        disregarded.push(Disregarded {
            detail: candidate.detail,
            reason: "the host has IPVS services: it is taken as a director".into(),
        });
    }
    let roles = evidence.iter().map(|e| e.role).collect();
    Inferred {
        roles,
        evidence,
        disregarded,
    }
}

/// The host's roles ([`infer`] without the evidence).
pub fn infer_roles(snapshot: &Snapshot) -> Vec<Role> {
    infer(snapshot).roles
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
    /// What shows each role.
    pub evidence: Vec<Evidence>,
    /// Addresses that look like a real server's and are not taken as one.
    pub disregarded: Vec<Disregarded>,
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
    let inferred = match &options.forced_roles {
        Some(roles) => Inferred {
            roles: roles.clone(),
            evidence: roles
                .iter()
                .map(|role| Evidence {
                    role: *role,
                    strength: Strength::Strong,
                    detail: "given with --role".into(),
                    caveat: String::new(),
                })
                .collect(),
            disregarded: Vec::new(),
        },
        None => infer(snapshot),
    };
    let roles = inferred.roles.clone();
    let context = rules::Context::new(snapshot, &roles);
    let mut advice = Advice {
        roles: roles.clone(),
        ..Advice::default()
    };
    for rule in rules::RULES {
        if options.disabled.iter().any(|id| id == rule.id) || !rule.applies_to(&roles) {
            continue;
        }
        match rule.evaluate(&context) {
            rules::Check::Pass => advice.rules_evaluated += 1,
            rules::Check::Found(findings) => {
                advice.rules_evaluated += 1;
                let weak = on_weak_evidence(rule, &inferred);
                advice
                    .findings
                    .extend(findings.into_iter().map(|finding| match weak {
                        Some(role) => downgrade(finding, role),
                        None => finding,
                    }));
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
    advice.evidence = inferred.evidence;
    advice.disregarded = inferred.disregarded;
    advice
}

/// The role, when a rule applies to this host only through roles whose evidence is weak.
fn on_weak_evidence(rule: &rules::Rule, inferred: &Inferred) -> Option<Role> {
    let mut through = rule.applies.iter().filter_map(|applies| match applies {
        rules::Applies::Role(role) if inferred.roles.contains(role) => Some(Some(*role)),
        rules::Applies::Role(_) => None,
        // A rule for any host or any director does not hang on a real-server role.
        _ => Some(None),
    });
    let mut weak = None;
    for role in through.by_ref() {
        match role {
            Some(role) if inferred.strength(role) == Some(Strength::Weak) => weak = Some(role),
            _ => return None,
        }
    }
    weak
}

/// A finding of a rule that applies through weakly evidenced roles: a warning at most, saying
/// why.
fn downgrade(mut finding: Finding, role: Role) -> Finding {
    if finding.severity == Severity::Critical {
        finding.severity = Severity::Warning;
        finding.summary = format!(
            "{} (a warning, not critical: the evidence that this is a {} is weak)",
            finding.summary,
            role.title()
        );
    }
    finding
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
    fn the_role_flag_help_lists_every_role() {
        use clap::CommandFactory;
        let help = crate::cli::Cli::command().render_long_help().to_string();
        let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
        for role in Role::ALL {
            assert!(help.contains(role.id()), "--role help lacks {}", role.id());
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

    mod evidence {
        use super::*;
        use crate::model::interfaces::{
            ARPHRD_NONE, ARPHRD_TUNNEL, InterfaceAddress, Interfaces, KUBE_IPVS_DUMMY, Link,
        };
        use crate::model::sysctl::Sysctls;

        const ETHER: u16 = 1;
        const LOOPBACK: u16 = 772;

        fn link(index: u32, name: &str, kind: Option<&str>, hardware_type: u16) -> Link {
            Link {
                index,
                name: name.into(),
                up: true,
                running: true,
                noarp: hardware_type != ETHER,
                loopback: hardware_type == LOOPBACK,
                hardware_type,
                kind: kind.map(String::from),
                routes_out: None,
            }
        }

        fn address(index: u32, text: &str) -> InterfaceAddress {
            let (address, prefix) = text.split_once('/').unwrap_or((text, "32"));
            InterfaceAddress {
                index,
                address: address.parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
                prefix_len: prefix.parse().unwrap_or(32),
            }
        }

        /// `lo` with 127.0.0.1, `eth0` with an ordinary address, plus `extra` links and
        /// addresses; ARP settings at the kernel's defaults.
        fn host(extra: Vec<Link>, addresses: &[(u32, &str)]) -> Snapshot {
            let mut links = vec![link(1, "lo", None, LOOPBACK), link(2, "eth0", None, ETHER)];
            links.extend(extra);
            let mut all = vec![address(1, "127.0.0.1/8"), address(2, "198.51.100.7/24")];
            all.extend(addresses.iter().map(|(i, a)| address(*i, a)));
            // The sysctl collector reads conf/all and conf/<device> of every device.
            let sysctl = Sysctls {
                values: std::iter::once("all")
                    .chain(links.iter().map(|l| l.name.as_str()))
                    .flat_map(|device| {
                        ["arp_ignore", "arp_announce", "rp_filter"].map(|setting| {
                            (format!("net.ipv4.conf.{device}.{setting}"), "0".into())
                        })
                    })
                    .collect(),
            };
            Snapshot {
                interfaces: Some(Interfaces {
                    links,
                    addresses: all,
                }),
                sysctl: Some(sysctl),
                ..Snapshot::default()
            }
        }

        fn evidence_of(snapshot: &Snapshot) -> Vec<(Role, Strength, String)> {
            infer(snapshot)
                .evidence
                .into_iter()
                .map(|e| (e.role, e.strength, e.detail))
                .collect()
        }

        fn worst(snapshot: &Snapshot) -> Option<Severity> {
            advise(snapshot, &AdviceOptions::default())
                .findings
                .iter()
                .map(|f| f.severity)
                .max()
        }

        #[test]
        fn a_veth_without_arp_holding_a_prefix_is_no_real_server() {
            // The shape that once gave "DR real server" and two critical ARP findings.
            let snapshot = host(
                vec![link(3, "veth0", Some("veth"), ETHER)]
                    .into_iter()
                    .map(|mut l| {
                        l.noarp = true;
                        l
                    })
                    .collect(),
                &[(3, "10.9.0.1/24")],
            );
            let inferred = infer(&snapshot);
            assert_eq!(inferred.roles, Vec::<Role>::new());
            assert_eq!(
                inferred.disregarded,
                vec![Disregarded {
                    detail: "10.9.0.1/24 on veth0".into(),
                    reason: "a veth device".into()
                }]
            );
            assert_eq!(worst(&snapshot), None);
        }

        #[test]
        fn wireguard_tun_ppp_gre_vxlan_geneve_and_bridges_hold_no_virtual_address() {
            for kind in [
                "wireguard",
                "tun",
                "ppp",
                "gre",
                "vxlan",
                "geneve",
                "bridge",
            ] {
                let snapshot = host(
                    vec![link(3, "x0", Some(kind), ARPHRD_NONE)],
                    &[(3, "10.8.0.1/32"), (3, "10.8.1.1/24")],
                );
                assert_eq!(infer_roles(&snapshot), Vec::<Role>::new(), "{kind}");
                assert_eq!(worst(&snapshot), None, "{kind}");
            }
            // A point-to-point device of no kind the kernel names is set aside by its type.
            let snapshot = host(
                vec![link(3, "ppp0", None, ARPHRD_NONE)],
                &[(3, "10.8.0.1/32")],
            );
            assert_eq!(infer_roles(&snapshot), Vec::<Role>::new());
        }

        #[test]
        fn a_host_address_on_lo_is_a_dr_real_server_with_its_evidence() {
            let snapshot = host(Vec::new(), &[(1, "192.0.2.10/32")]);
            assert_eq!(
                evidence_of(&snapshot),
                vec![(
                    Role::DrRealServer,
                    Strength::Strong,
                    "192.0.2.10/32 on lo".into()
                )]
            );
            let advice = advise(&snapshot, &AdviceOptions::default());
            assert_eq!(
                crate::report::evidence_lines(&advice),
                vec!["DR real server: 192.0.2.10/32 on lo"]
            );
            assert_eq!(worst(&snapshot), Some(Severity::Critical));
        }

        #[test]
        fn a_host_address_on_a_noarp_dummy_is_a_dr_real_server() {
            let snapshot = host(
                vec![link(3, "vip0", Some("dummy"), ETHER)]
                    .into_iter()
                    .map(|mut l| {
                        l.noarp = true;
                        l
                    })
                    .collect(),
                &[(3, "2001:db8::10/128")],
            );
            assert_eq!(
                evidence_of(&snapshot),
                vec![(
                    Role::DrRealServer,
                    Strength::Strong,
                    "2001:db8::10/128 on vip0".into()
                )]
            );
        }

        #[test]
        fn weak_evidence_says_so_and_raises_no_critical_finding() {
            // A whole prefix on lo, and a host address on a NOARP device of no known kind.
            for (extra, address) in [
                (Vec::new(), (1, "192.0.2.0/24")),
                (vec![link(3, "odd0", None, 0xfff0)], (3, "192.0.2.10/32")),
            ] {
                let snapshot = host(extra, &[address]);
                let inferred = infer(&snapshot);
                assert_eq!(inferred.roles, vec![Role::DrRealServer]);
                assert_eq!(inferred.strength(Role::DrRealServer), Some(Strength::Weak));
                let advice = advise(&snapshot, &AdviceOptions::default());
                assert!(!advice.findings.is_empty());
                assert_eq!(worst(&snapshot), Some(Severity::Warning), "{address:?}");
                assert!(
                    crate::report::evidence_lines(&advice)
                        .iter()
                        .any(|l| l.starts_with("DR real server (weak evidence: ")),
                    "{:?}",
                    crate::report::evidence_lines(&advice)
                );
                // Given with --role, the same host gets the full severity.
                let forced = advise(
                    &snapshot,
                    &AdviceOptions {
                        forced_roles: Some(vec![Role::DrRealServer]),
                        ..AdviceOptions::default()
                    },
                );
                assert!(
                    forced
                        .findings
                        .iter()
                        .any(|f| f.severity == Severity::Critical)
                );
            }
        }

        fn tunl0(routes_out: Option<u32>) -> Link {
            Link {
                routes_out,
                ..link(3, "tunl0", Some("ipip"), ARPHRD_TUNNEL)
            }
        }

        #[test]
        fn a_tunnel_that_routes_nothing_out_is_a_tun_real_server() {
            let snapshot = host(vec![tunl0(Some(0))], &[(3, "192.0.2.20/32")]);
            assert_eq!(
                evidence_of(&snapshot),
                vec![(
                    Role::TunRealServer,
                    Strength::Strong,
                    "192.0.2.20/32 on tunl0".into()
                )]
            );
        }

        #[test]
        fn calicos_tunl0_with_routes_to_other_nodes_is_no_tun_real_server() {
            let snapshot = host(vec![tunl0(Some(3))], &[(3, "10.244.1.0/32")]);
            let inferred = infer(&snapshot);
            assert_eq!(inferred.roles, Vec::<Role>::new());
            assert!(
                inferred
                    .disregarded
                    .iter()
                    .any(|d| d.detail == "10.244.1.0/32 on tunl0"
                        && d.reason.starts_with("3 route(s) leave through tunl0")),
                "{:?}",
                inferred.disregarded
            );
            assert_eq!(worst(&snapshot), None);
        }

        #[test]
        fn a_single_node_calicos_tunl0_routes_nothing_and_is_still_no_tun_real_server() {
            let pod = Link {
                noarp: false,
                ..link(4, "cali1a2b3c4d5e6", Some("veth"), ETHER)
            };
            let snapshot = host(vec![tunl0(Some(0)), pod], &[(3, "10.244.1.0/32")]);
            let inferred = infer(&snapshot);
            assert_eq!(inferred.roles, Vec::<Role>::new());
            assert!(
                inferred.disregarded.iter().any(|d| {
                    d.detail
                    == "10.244.1.0/32 on tunl0"
                    && d.reason.starts_with(
                        "Calico's tunnel: the host has Calico's pod interfaces (cali1a2b3c4d5e6)"
                    )
                }),
                "{:?}",
                inferred.disregarded
            );
            assert_eq!(worst(&snapshot), None);
            // Without the pod interface, the same tunnel is a TUN real server.
            let plain = host(vec![tunl0(Some(0))], &[(3, "10.244.1.0/32")]);
            assert_eq!(infer(&plain).roles, vec![Role::TunRealServer]);
        }

        #[test]
        fn a_tunnel_whose_routes_are_unknown_is_weak_evidence() {
            let snapshot = host(vec![tunl0(None)], &[(3, "192.0.2.20/32")]);
            assert_eq!(
                evidence_of(&snapshot),
                vec![(
                    Role::TunRealServer,
                    Strength::Weak,
                    "192.0.2.20/32 on tunl0".into()
                )]
            );
            assert_eq!(worst(&snapshot), Some(Severity::Warning));
        }

        #[test]
        fn kube_proxys_dummy_makes_a_director_not_a_real_server() {
            let mut dummy = link(3, KUBE_IPVS_DUMMY, Some("dummy"), ETHER);
            dummy.noarp = true;
            let addresses = [
                (3, "10.96.0.1/32"),
                (3, "10.96.0.10/32"),
                (3, "10.96.12.7/32"),
            ];
            let mut snapshot = host(vec![dummy], &addresses);
            // Without IPVS services (or before kube-proxy made them): no role at all.
            assert_eq!(infer_roles(&snapshot), Vec::<Role>::new());
            assert_eq!(
                infer(&snapshot).disregarded,
                vec![Disregarded {
                    detail: "3 addresses on kube-ipvs0".into(),
                    reason: "kube-proxy's dummy for service addresses".into()
                }]
            );
            snapshot.ipvs = snapshot_of(vec![service_with(&[ForwardMethod::Masq])]).ipvs;
            let inferred = infer(&snapshot);
            assert_eq!(inferred.roles, vec![Role::NatDirector]);
            assert_eq!(
                inferred.evidence.first().map(|e| e.detail.as_str()),
                Some("1 IPVS service(s) with 1 real server(s) forwarded by masquerading (NAT)")
            );
        }
    }
}
