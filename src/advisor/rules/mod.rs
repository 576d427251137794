//! The advisor's rules, as data: each has a stable kebab-case id (never renumbered), a
//! severity, the roles it applies to, What / Why / Fix text for `doctor --explain`, and a
//! check over a snapshot. One file per area.

mod backlog;
mod conntrack;
mod forwarding;
mod ipvs;
mod keepalived;
mod keepalived_health;
mod nic;
mod realserver;
mod services;

use super::{Finding, Role, Severity};
use crate::model::IpvsTable;
use crate::model::conntrack::Conntrack;
use crate::model::keepalived_health::KeepalivedHealth;
use crate::model::netdev::NetDevices;
use crate::model::snapshot::Snapshot;
use crate::model::sysctl::Sysctls;

/// What a rule looks at.
pub struct Context<'a> {
    pub snapshot: &'a Snapshot,
    pub roles: &'a [Role],
    /// keepalived's virtual servers against the kernel's table, worked out once for all the
    /// rules that read it (see [`Context::keepalived_health`]).
    keepalived_health: std::cell::OnceCell<Option<KeepalivedHealth>>,
}

impl<'a> Context<'a> {
    pub fn new(snapshot: &'a Snapshot, roles: &'a [Role]) -> Self {
        Context {
            snapshot,
            roles,
            keepalived_health: std::cell::OnceCell::new(),
        }
    }

    /// keepalived's configured virtual servers against the kernel's IPVS table, or `None`
    /// when keepalived was not read; computed at the first call.
    pub fn keepalived_health(&self) -> Option<&KeepalivedHealth> {
        self.keepalived_health
            .get_or_init(|| {
                self.snapshot.keepalived.as_ref().map(|k| {
                    crate::model::keepalived_health::compare(k, self.snapshot.ipvs.as_ref())
                })
            })
            .as_ref()
    }
}

impl Context<'_> {
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// The sysctls, or why the rule cannot be evaluated.
    pub fn sysctls(&self) -> Result<&Sysctls, Skip> {
        self.snapshot
            .sysctl
            .as_ref()
            .ok_or_else(|| Skip("the sysctl collector gave no data".to_string()))
    }

    /// The IPVS table, or why the rule cannot be evaluated.
    pub fn ipvs(&self) -> Result<&IpvsTable, Skip> {
        self.snapshot
            .ipvs
            .as_ref()
            .ok_or_else(|| Skip("no IPVS table".to_string()))
    }

    /// Connection tracking's table and counters, or why the rule cannot be evaluated.
    pub fn conntrack(&self) -> Result<&Conntrack, Skip> {
        self.snapshot.conntrack.as_ref().ok_or_else(|| {
            Skip("no connection tracking data (nf_conntrack not loaded?)".to_string())
        })
    }

    /// The network devices, or why the rule cannot be evaluated.
    pub fn netdev(&self) -> Result<&NetDevices, Skip> {
        self.snapshot
            .netdev
            .as_ref()
            .ok_or_else(|| Skip("no network device data".to_string()))
    }
}

/// Sysctls that older kernels lack, with the Linux release that brought each.
/// `net.ipv4.vs.run_estimation`: kernel commit 2232642ec3fb ("ipvs: add sysctl_run_estimation
/// to support disable estimation"), merged for 5.16; the lab finds it absent on 5.10 and
/// present on 6.1 and 6.12.
const SYSCTLS_SINCE: &[(&str, (u32, u32))] = &[("net.ipv4.vs.run_estimation", (5, 16))];

/// Host-wide `net.core` sysctls, which the kernel shows in the initial network namespace only
/// (seen in the lab on 5.10, 6.1 and 6.12; `net.core.somaxconn` is per namespace and shows).
const INITIAL_NAMESPACE_ONLY: &[&str] = &[
    "net.core.netdev_budget",
    "net.core.netdev_budget_usecs",
    "net.core.netdev_max_backlog",
    "net.core.rps_sock_flow_entries",
];

/// Why `key` is not among the sysctls read: a kernel older than the sysctl, a network
/// namespace that does not show it, or (when neither explains it) that it could not be read.
pub fn missing_sysctl(sysctls: &Sysctls, key: &str) -> String {
    if let Some((_, since)) = SYSCTLS_SINCE.iter().find(|(k, _)| *k == key)
        && let Some(release) = sysctls.get("kernel.osrelease")
        && ipvs::kernel_version(release).is_some_and(|version| version < *since)
    {
        return format!(
            "{key} does not exist on kernel {release}: it came with Linux {}.{}",
            since.0, since.1
        );
    }
    // somaxconn is per namespace: read while the host-wide key is not, the key is hidden
    if INITIAL_NAMESPACE_ONLY.contains(&key) && sysctls.get("net.core.somaxconn").is_some() {
        return format!(
            "{key} is not visible here: the kernel shows this host-wide setting only in the \
             initial network namespace (run doctor in the host's namespace to check it)"
        );
    }
    format!("{key} could not be read")
}

/// Why a rule could not judge the host: the data it needs is missing. A check returns it as
/// its error, so a missing input ends the check with `?`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip(pub String);

/// What a rule's check returns: its findings (none when all is well), or why it could not
/// judge.
pub type Outcome = Result<Vec<Finding>, Skip>;

/// What a rule concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// Nothing wrong.
    Pass,
    Found(Vec<Finding>),
    /// The data it needs is missing: why.
    Skipped(String),
}

impl From<Outcome> for Check {
    fn from(outcome: Outcome) -> Self {
        match outcome {
            Ok(findings) if findings.is_empty() => Check::Pass,
            Ok(findings) => Check::Found(findings),
            Err(Skip(reason)) => Check::Skipped(reason),
        }
    }
}

/// Which hosts a rule is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applies {
    /// Any host, with or without IPVS.
    AnyHost,
    /// Any IPVS director.
    AnyDirector,
    Role(Role),
}

/// One rule.
pub struct Rule {
    pub id: &'static str,
    /// The severity of its findings (a rule may report a lower one for a milder case).
    pub severity: Severity,
    pub applies: &'static [Applies],
    /// One line: what it checks.
    pub what: &'static str,
    /// Why it matters, and where the advice comes from.
    pub why: &'static str,
    /// Why its findings have the severity they have (and when a milder case gets a lower
    /// one): the risk to traffic, for `doctor --explain`.
    pub severity_why: &'static str,
    /// How to fix it: the command, and the file that makes it last.
    pub fix: &'static str,
    pub check: fn(&Context) -> Outcome,
}

impl Rule {
    /// Runs the check over what the context shows.
    pub fn evaluate(&self, context: &Context) -> Check {
        (self.check)(context).into()
    }

    pub fn applies_to(&self, roles: &[Role]) -> bool {
        self.applies.iter().any(|applies| match applies {
            Applies::AnyHost => true,
            Applies::AnyDirector => roles.iter().any(|r| r.is_director()),
            Applies::Role(role) => roles.contains(role),
        })
    }

    /// Who it applies to, for people.
    pub fn applies_text(&self) -> String {
        self.applies
            .iter()
            .map(|a| match a {
                Applies::AnyHost => "any host".to_string(),
                Applies::AnyDirector => "any IPVS director".to_string(),
                Applies::Role(role) => role.title().to_string(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// A finding of this rule.
    pub fn finding(
        &self,
        subject: impl Into<String>,
        observed: impl Into<String>,
        expected: impl Into<String>,
        summary: impl Into<String>,
    ) -> Finding {
        Finding {
            rule: self.id,
            severity: self.severity,
            subject: subject.into(),
            observed: observed.into(),
            expected: expected.into(),
            summary: summary.into(),
            fix: self.fix.to_string(),
            sysctl: None,
        }
    }

    /// A finding about a sysctl, with the exact commands that fix it.
    pub fn sysctl_finding(
        &self,
        key: &str,
        observed: &str,
        wanted: &str,
        summary: String,
    ) -> Finding {
        Finding {
            fix: sysctl_fix(key, wanted),
            sysctl: Some((key.to_string(), wanted.to_string())),
            ..self.finding(key, observed, wanted, summary)
        }
    }
}

/// The file `doctor --emit-sysctl` suggests.
pub const SYSCTL_FILE: &str = "/etc/sysctl.d/90-ipvs.conf";

/// `sysctl -w key=value` now, and the line that keeps it after a reboot.
pub fn sysctl_fix(key: &str, value: &str) -> String {
    format!("sysctl -w {key}={value}; to keep it, add the line `{key} = {value}` to {SYSCTL_FILE}")
}

/// Every rule, in the order `doctor` evaluates them.
pub static RULES: &[&Rule] = &[
    &forwarding::NAT_IP_FORWARD,
    &forwarding::NAT_IPV6_FORWARDING,
    &ipvs::RUN_ESTIMATION,
    &ipvs::IPVS_CONNTRACK,
    &ipvs::EXPIRE_NODEST_CONN,
    &ipvs::EXPIRE_QUIESCENT_TEMPLATE,
    &ipvs::CONN_REUSE_MODE,
    &ipvs::CONNECTION_TABLE_SIZE,
    &conntrack::CONNTRACK_USAGE,
    &conntrack::CONNTRACK_DROPS,
    &conntrack::CONNTRACK_HASH_CHAINS,
    &backlog::NETDEV_MAX_BACKLOG,
    &backlog::NETDEV_BUDGET,
    &backlog::SOMAXCONN,
    &backlog::TCP_MAX_SYN_BACKLOG,
    &backlog::TCP_SYNCOOKIES,
    &nic::IRQS_ON_ONE_CPU,
    &nic::FEW_QUEUES_WITHOUT_RPS,
    &nic::LRO_WHILE_FORWARDING,
    &nic::GRO_OFF,
    &services::SERVICE_WITHOUT_WEIGHT,
    &services::QUIESCED_SERVER_GETS_CONNECTIONS,
    &realserver::ARP_IGNORE,
    &realserver::ARP_ANNOUNCE,
    &realserver::VIP_PREFIX,
    &realserver::TUN_RP_FILTER,
    &keepalived::NOT_RUNNING,
    &keepalived::VIPS_WHILE_BACKUP,
    &keepalived::TWO_MASTERS,
    &keepalived_health::REAL_SERVER_DOWN,
    &keepalived_health::QUORUM_LOST,
    &keepalived_health::SORRY_SERVER_ACTIVE,
    &keepalived_health::UNMANAGED_SERVICE,
    &keepalived_health::UNMANAGED_REAL_SERVER,
    &keepalived_health::VIRTUAL_SERVER_ABSENT,
    &keepalived_health::SETTINGS_DRIFT,
    &keepalived::FLAPPING,
    &keepalived::PRIORITY_DEGRADED,
    &keepalived::SYNC_GROUP_SPLIT,
    &keepalived::NOTIFY_FIFO_IGNORED,
    &keepalived::SCRIPT_DISABLED,
];

/// The rule with this id.
pub fn find(id: &str) -> Option<&'static Rule> {
    RULES.iter().copied().find(|rule| rule.id == id)
}

#[cfg(test)]
pub(crate) mod testing {
    //! Snapshots for rule tests.

    use super::*;
    use crate::model::sysctl::Sysctls;

    pub fn sysctls(pairs: &[(&str, &str)]) -> Sysctls {
        Sysctls {
            values: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    pub fn run(rule: &Rule, snapshot: &Snapshot, roles: &[Role]) -> Check {
        rule.evaluate(&Context::new(snapshot, roles))
    }

    pub fn found_subjects(check: &Check) -> Vec<String> {
        match check {
            Check::Found(findings) => findings.iter().map(|f| f.subject.clone()).collect(),
            _ => Vec::new(),
        }
    }
}

/// A rule id's form, advisor's and fleet's: lower-case letters, digits and dashes.
#[cfg(test)]
pub(crate) fn is_kebab_case(id: &str) -> bool {
    id.bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_kebab_case_and_every_rule_explains_itself() {
        let mut seen = std::collections::BTreeSet::new();
        for rule in RULES {
            assert!(seen.insert(rule.id), "{} twice", rule.id);
            assert!(is_kebab_case(rule.id), "{}", rule.id);
            for text in [rule.what, rule.why, rule.severity_why, rule.fix] {
                assert!(text.len() > 20, "{}: thin text {text:?}", rule.id);
            }
            assert!(!rule.applies.is_empty());
        }
    }
}
