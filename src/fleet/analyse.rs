//! From the answers to the fleet's queries to findings: which exporters are up, the VRRP
//! groups across hosts and what is wrong with them, directors that should match and do not,
//! connection sync that lags, and every host's advisor findings grouped by rule. Pure: the
//! answers come in as [`FleetData`], nothing here sends a query.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::Host;
use super::queries::Query;
use super::rules::{self, FleetRule};
use crate::advisor::Severity;
use crate::model::prometheus::Sample;

/// The answers, by query.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FleetData {
    pub answers: BTreeMap<Query, Vec<Sample>>,
}

impl FleetData {
    fn samples(&self, query: Query) -> &[Sample] {
        self.answers.get(&query).map_or(&[], Vec::as_slice)
    }
}

/// How the answers are read.
#[derive(Debug, Clone, PartialEq)]
pub struct AnalyseOptions {
    pub cluster_label: String,
    /// The lookback as given, for the words of a stale host's finding.
    pub lookback: String,
}

/// A service on the MASTER with fewer connections than this is not judged by
/// `fleet-sync-behind` (a handful of connections says little about the sync).
pub const SYNC_MIN_HELD: f64 = 100.0;
/// A backup below this share of its MASTER's connections is behind.
pub const SYNC_MIN_SHARE: f64 = 0.5;

/// Whether an exporter answered at the time asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HostStatus {
    Up,
    /// `up` is 0: the last scrape failed.
    Down,
    /// No `up` sample at that time, one within the lookback.
    Stale,
}

/// One exporter in the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostView {
    pub name: String,
    #[serde(flatten)]
    pub host: Host,
    pub status: HostStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// One member of a VRRP group.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MemberView {
    pub host: String,
    pub vrrp_instance: String,
    /// Its state; the last known one when not seen.
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<f64>,
    /// Whether its exporter is up (otherwise its state is the last known within the lookback).
    pub seen: bool,
}

/// VRRP instances on several hosts that share a VRID and a virtual address.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupView {
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cluster: String,
    pub vrid: String,
    pub addresses: Vec<String>,
    pub members: Vec<MemberView>,
    /// Routers its members hear advertising the VRID (`--collector.vrrp.listen`), by source
    /// address: a MASTER, whether its exporter is seen or not.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub heard_advertising: Vec<String>,
}

/// One finding about the fleet.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FleetFinding {
    /// A fleet rule's id, or the advisor rule's for a host's own findings.
    pub rule: String,
    pub severity: Severity,
    /// What it is about: a host, a VRRP group, a virtual service, a rule.
    pub subject: String,
    /// The hosts involved.
    pub hosts: Vec<String>,
    pub summary: String,
    /// What differs host by host, one line each.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
    pub fix: String,
}

/// What the analysis found.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FleetAnalysis {
    pub hosts: Vec<HostView>,
    pub vrrp_groups: Vec<GroupView>,
    /// The sets of directors whose tables were compared, by host name.
    pub director_sets: Vec<Vec<String>>,
    pub findings: Vec<FleetFinding>,
}

impl FleetAnalysis {
    /// The highest severity among the findings.
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }
}

fn finding(
    rule: &FleetRule,
    subject: impl Into<String>,
    hosts: &[&Host],
    summary: String,
    details: Vec<String>,
) -> FleetFinding {
    FleetFinding {
        rule: rule.id.to_string(),
        severity: rule.severity,
        subject: subject.into(),
        hosts: hosts.iter().map(ToString::to_string).collect(),
        summary,
        details,
        fix: rule.fix.to_string(),
    }
}

/// A number as Prometheus prints it, without a useless `.0`.
fn number(value: f64) -> String {
    format!("{value}")
}

/// Names a list of hosts: `lb1, lb2 and lb3`.
fn names(hosts: &[&Host]) -> String {
    let names: Vec<String> = hosts.iter().map(ToString::to_string).collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => names.join(""),
    }
}

/// Works out every finding from the answers.
pub fn analyse(data: &FleetData, options: &AnalyseOptions) -> FleetAnalysis {
    let cluster = options.cluster_label.as_str();
    let status = host_status(data, cluster);
    let is_up = |h: &Host| status.get(h) == Some(&HostStatus::Up);
    let versions = host_versions(data, cluster);

    let mut findings = exporter_findings(&status, &options.lookback);
    let groups = vrrp_groups(data, cluster, &status);
    for group in &groups {
        findings.extend(group_findings(group, data, cluster, &is_up));
    }

    let sets = director_sets(&groups, data, cluster, &is_up);
    findings.extend(director_findings(&sets, data, cluster));
    findings.extend(sync_findings(&groups, data, cluster, &is_up));
    let advisor = advisor_findings(data, cluster, &split_brain_members(&groups));
    findings.extend(advisor.findings);
    fold_into_split_brains(&mut findings, &groups, advisor.folded);
    findings.extend(version_findings(&versions, &is_up));

    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| rule_order(&a.rule).cmp(&rule_order(&b.rule)))
            .then_with(|| a.subject.cmp(&b.subject))
    });

    FleetAnalysis {
        hosts: status
            .iter()
            .map(|(host, state)| HostView {
                name: host.to_string(),
                host: host.clone(),
                status: *state,
                version: versions.get(host).cloned(),
            })
            .collect(),
        vrrp_groups: groups.iter().map(Group::view).collect(),
        director_sets: sets
            .iter()
            .map(|set| set.iter().map(ToString::to_string).collect())
            .collect(),
        findings,
    }
}

/// Every host's exporter: up, down, or stale.
fn host_status(data: &FleetData, cluster: &str) -> BTreeMap<Host, HostStatus> {
    let mut status = BTreeMap::new();
    for sample in data.samples(Query::Up) {
        let state = if sample.value == 1.0 {
            HostStatus::Up
        } else if sample.value < 0.0 {
            HostStatus::Stale
        } else {
            HostStatus::Down
        };
        status.insert(Host::of(sample, cluster), state);
    }
    status
}

/// Every host's exporter version, with its revision when it has one.
fn host_versions(data: &FleetData, cluster: &str) -> BTreeMap<Host, String> {
    let mut versions = BTreeMap::new();
    for sample in data.samples(Query::BuildInfo) {
        let revision = sample.label("revision");
        let version = if revision.is_empty() {
            sample.label("version").to_string()
        } else {
            format!("{} ({revision})", sample.label("version"))
        };
        versions.insert(Host::of(sample, cluster), version);
    }
    versions
}

/// A finding for each exporter that is down or stale.
fn exporter_findings(status: &BTreeMap<Host, HostStatus>, lookback: &str) -> Vec<FleetFinding> {
    let mut findings = Vec::new();
    for (host, state) in status {
        let summary = match state {
            HostStatus::Up => continue,
            HostStatus::Down => "its exporter is down: up is 0, the last scrape failed".to_string(),
            HostStatus::Stale => format!(
                "its exporter is stale: no sample at the time asked for, the last within {lookback}"
            ),
        };
        findings.push(finding(
            &rules::EXPORTER_DOWN,
            host.to_string(),
            &[host],
            summary,
            Vec::new(),
        ));
    }
    findings
}

/// A member's own advisor hearing the other master is the split brain seen from that host:
/// said in the split brain's details rather than as a second problem.
fn fold_into_split_brains(
    findings: &mut [FleetFinding],
    groups: &[Group],
    folded: Vec<(Host, String, String)>,
) {
    for (host, vrid, subject) in folded {
        if let Some(split) = findings.iter_mut().find(|f| {
            f.rule == rules::VRRP_SPLIT_BRAIN.id
                && f.hosts.contains(&host.to_string())
                && groups
                    .iter()
                    .any(|g| g.vrid == vrid && g.name() == f.subject)
        }) {
            split.details.push(format!(
                "{host}: its own advisor hears the other master too (vrrp-two-masters: {subject})"
            ));
        }
    }
}

/// Fleet rules in their order, then advisor rules in theirs, then the rest.
fn rule_order(id: &str) -> usize {
    if let Some(at) = rules::FLEET_RULES.iter().position(|r| r.id == id) {
        return at;
    }
    let fleet = rules::FLEET_RULES.len();
    crate::advisor::rules::RULES
        .iter()
        .position(|r| r.id == id)
        .map_or(usize::MAX, |at| fleet + at)
}

/// One VRRP instance on one host.
#[derive(Debug, Clone)]
struct Instance {
    host: Host,
    name: String,
    vrid: String,
    state: String,
    addresses: BTreeSet<String>,
    seen: bool,
}

/// A VRRP group: its instances, sorted by host.
#[derive(Debug, Clone)]
struct Group {
    cluster: String,
    vrid: String,
    instances: Vec<Instance>,
    priorities: BTreeMap<(Host, String), f64>,
    /// Sources the members seen hear advertising the VRID.
    heard: BTreeSet<String>,
}

impl Group {
    fn addresses(&self) -> BTreeSet<&str> {
        self.instances
            .iter()
            .flat_map(|i| i.addresses.iter().map(String::as_str))
            .collect()
    }

    fn name(&self) -> String {
        let addresses = self.addresses();
        let mut name = format!("VRID {}", self.vrid);
        if let Some(first) = addresses.first() {
            name.push_str(&format!(" {first}"));
            if addresses.len() > 1 {
                name.push_str(&format!(" (+{})", addresses.len() - 1));
            }
        }
        if self.cluster.is_empty() {
            name
        } else {
            format!("{}: {name}", self.cluster)
        }
    }

    fn priority(&self, instance: &Instance) -> Option<f64> {
        self.priorities
            .get(&(instance.host.clone(), instance.name.clone()))
            .copied()
    }

    fn view(&self) -> GroupView {
        GroupView {
            name: self.name(),
            cluster: self.cluster.clone(),
            vrid: self.vrid.clone(),
            addresses: self.addresses().into_iter().map(String::from).collect(),
            members: self
                .instances
                .iter()
                .map(|i| MemberView {
                    host: i.host.to_string(),
                    vrrp_instance: i.name.clone(),
                    state: i.state.clone(),
                    priority: self.priority(i),
                    seen: i.seen,
                })
                .collect(),
            heard_advertising: self.heard.iter().cloned().collect(),
        }
    }
}

/// Union-find over instance indices.
fn root(parent: &mut [usize], at: usize) -> usize {
    let mut at = at;
    while let Some(&up) = parent.get(at) {
        if up == at {
            break;
        }
        at = up;
    }
    at
}

/// Instances grouped: one cluster label and VRID, sharing a virtual address (instances
/// without any address group by cluster label and VRID).
fn vrrp_groups(data: &FleetData, cluster: &str, status: &BTreeMap<Host, HostStatus>) -> Vec<Group> {
    let priorities = vrrp_priorities(data, cluster);
    let mut groups: Vec<Group> = sharing_an_address(vrrp_instances(data, cluster, status))
        .into_iter()
        .filter_map(|instances| {
            let first = instances.first()?;
            let (group_cluster, vrid) = (first.host.cluster.clone(), first.vrid.clone());
            let priorities = instances
                .iter()
                .filter_map(|i| {
                    let key = (i.host.clone(), i.name.clone());
                    priorities.get(&key).map(|p| (key, *p))
                })
                .collect();
            let members: BTreeSet<&Host> = instances
                .iter()
                .filter(|i| i.seen)
                .map(|i| &i.host)
                .collect();
            let heard = data
                .samples(Query::VrrpPeers)
                .iter()
                .filter(|s| s.label("vrid") == vrid && members.contains(&Host::of(s, cluster)))
                .map(|s| s.label("source").to_string())
                .collect();
            Some(Group {
                cluster: group_cluster,
                vrid,
                instances,
                priorities,
                heard,
            })
        })
        .collect();
    groups.sort_by_key(Group::name);
    groups
}

/// Every host's VRRP instances with their state and virtual addresses, by host and name.
fn vrrp_instances(
    data: &FleetData,
    cluster: &str,
    status: &BTreeMap<Host, HostStatus>,
) -> Vec<Instance> {
    let mut instances: BTreeMap<(Host, String), Instance> = BTreeMap::new();
    for sample in data.samples(Query::VrrpState) {
        let host = Host::of(sample, cluster);
        let name = sample.label("vrrp_instance").to_string();
        let seen = status.get(&host) == Some(&HostStatus::Up);
        instances
            .entry((host.clone(), name.clone()))
            .or_insert(Instance {
                host,
                name,
                vrid: sample.label("vrid").to_string(),
                state: sample.label("state").to_string(),
                addresses: BTreeSet::new(),
                seen,
            });
    }
    for sample in data.samples(Query::VrrpAddresses) {
        let key = (
            Host::of(sample, cluster),
            sample.label("vrrp_instance").to_string(),
        );
        if let Some(instance) = instances.get_mut(&key) {
            instance
                .addresses
                .insert(sample.label("address").to_string());
        }
    }
    instances.into_values().collect()
}

/// Every VRRP instance's configured priority, by host and instance name.
fn vrrp_priorities(data: &FleetData, cluster: &str) -> BTreeMap<(Host, String), f64> {
    let mut priorities = BTreeMap::new();
    for sample in data.samples(Query::VrrpPriority) {
        let key = (
            Host::of(sample, cluster),
            sample.label("vrrp_instance").to_string(),
        );
        priorities.insert(key, sample.value);
    }
    priorities
}

/// The instances in sets, joined when they share a cluster label, a VRID and a virtual
/// address (instances without an address join by cluster label and VRID).
fn sharing_an_address(list: Vec<Instance>) -> Vec<Vec<Instance>> {
    let mut parent: Vec<usize> = (0..list.len()).collect();
    let mut first_with: BTreeMap<(&str, &str, &str), usize> = BTreeMap::new();
    for (at, instance) in list.iter().enumerate() {
        let keys: Vec<&str> = if instance.addresses.is_empty() {
            vec![""]
        } else {
            instance.addresses.iter().map(String::as_str).collect()
        };
        for address in keys {
            let key = (
                instance.host.cluster.as_str(),
                instance.vrid.as_str(),
                address,
            );
            match first_with.get(&key) {
                Some(&other) => {
                    let (a, b) = (root(&mut parent, at), root(&mut parent, other));
                    if let Some(slot) = parent.get_mut(a) {
                        *slot = b;
                    }
                }
                None => {
                    first_with.insert(key, at);
                }
            }
        }
    }
    let mut by_root: BTreeMap<usize, Vec<Instance>> = BTreeMap::new();
    for (at, instance) in list.iter().enumerate() {
        by_root
            .entry(root(&mut parent, at))
            .or_default()
            .push(instance.clone());
    }
    by_root.into_values().collect()
}

fn group_findings(
    group: &Group,
    data: &FleetData,
    cluster: &str,
    is_up: &dyn Fn(&Host) -> bool,
) -> Vec<FleetFinding> {
    let seen: Vec<&Instance> = group.instances.iter().filter(|i| i.seen).collect();
    let unseen: Vec<&Instance> = group.instances.iter().filter(|i| !i.seen).collect();
    let masters: Vec<&Instance> = seen
        .iter()
        .copied()
        .filter(|i| i.state == "MASTER")
        .collect();
    let mut out: Vec<FleetFinding> = [
        member_unseen(group, &seen, &unseen),
        split_brain(group, &masters),
        no_master(group, &seen, &unseen, &masters),
    ]
    .into_iter()
    .flatten()
    .collect();
    out.extend(equal_priorities(group, &seen));
    out.extend(address_mismatch(group, &seen));
    out.extend(advert_interval(group, data, cluster, is_up));
    out
}

/// The hosts of instances, in their order.
fn hosts_of(list: &[&Instance]) -> Vec<Host> {
    list.iter().map(|i| i.host.clone()).collect()
}

/// Members whose exporter is down or stale.
fn member_unseen(group: &Group, seen: &[&Instance], unseen: &[&Instance]) -> Option<FleetFinding> {
    if unseen.is_empty() {
        return None;
    }
    let hosts = hosts_of(unseen);
    let refs: Vec<&Host> = hosts.iter().collect();
    let details = unseen
        .iter()
        .map(|i| format!("{}: {} last known as {}", i.host, i.name, i.state))
        .collect();
    Some(finding(
        &rules::VRRP_MEMBER_UNSEEN,
        group.name(),
        &refs,
        format!(
            "{} of {} members seen: the exporter of {} is down or stale",
            seen.len(),
            group.instances.len(),
            names(&refs)
        ),
        details,
    ))
}

/// More than one member seen in MASTER.
fn split_brain(group: &Group, masters: &[&Instance]) -> Option<FleetFinding> {
    if masters.len() < 2 {
        return None;
    }
    let hosts = hosts_of(masters);
    let refs: Vec<&Host> = hosts.iter().collect();
    Some(finding(
        &rules::VRRP_SPLIT_BRAIN,
        group.name(),
        &refs,
        format!("{} are all MASTER", names(&refs)),
        masters
            .iter()
            .map(|i| format!("{}: {} MASTER", i.host, i.name))
            .collect(),
    ))
}

/// No member seen in MASTER, and no router heard advertising: a router heard advertising is a
/// MASTER, even one whose exporter is not seen (as the alert rules judge it).
fn no_master(
    group: &Group,
    seen: &[&Instance],
    unseen: &[&Instance],
    masters: &[&Instance],
) -> Option<FleetFinding> {
    if !masters.is_empty() || seen.is_empty() || !group.heard.is_empty() {
        return None;
    }
    let hosts = hosts_of(&group.instances.iter().collect::<Vec<_>>());
    let refs: Vec<&Host> = hosts.iter().collect();
    let mut no_master = finding(
        &rules::VRRP_NO_MASTER,
        group.name(),
        &refs,
        "no member is MASTER".to_string(),
        group
            .instances
            .iter()
            .map(|i| {
                let known = if i.seen {
                    ""
                } else {
                    " (last known; not seen)"
                };
                format!("{}: {} {}{known}", i.host, i.name, i.state)
            })
            .collect(),
    );
    if !unseen.is_empty() {
        no_master.severity = Severity::Warning;
        no_master.summary = "no member seen is MASTER; a member not seen may be".to_string();
    }
    Some(no_master)
}

/// Equal configured priorities among the members seen.
fn equal_priorities(group: &Group, seen: &[&Instance]) -> Vec<FleetFinding> {
    let mut by_priority: BTreeMap<String, Vec<&Instance>> = BTreeMap::new();
    for instance in seen {
        if let Some(priority) = group.priority(instance) {
            by_priority
                .entry(number(priority))
                .or_default()
                .push(instance);
        }
    }
    by_priority
        .iter()
        .filter(|(_, same)| same.len() > 1)
        .map(|(priority, same)| {
            let hosts = hosts_of(same);
            let refs: Vec<&Host> = hosts.iter().collect();
            finding(
                &rules::VRRP_EQUAL_PRIORITY,
                group.name(),
                &refs,
                format!("{} have the same priority {priority}", names(&refs)),
                Vec::new(),
            )
        })
        .collect()
}

/// Members seen whose address lists differ.
fn address_mismatch(group: &Group, seen: &[&Instance]) -> Option<FleetFinding> {
    let lists: BTreeSet<&BTreeSet<String>> = seen.iter().map(|i| &i.addresses).collect();
    if lists.len() < 2 {
        return None;
    }
    let hosts = hosts_of(seen);
    let refs: Vec<&Host> = hosts.iter().collect();
    let all = group.addresses();
    let details = seen
        .iter()
        .map(|i| {
            let missing: Vec<&str> = all
                .iter()
                .copied()
                .filter(|a| !i.addresses.contains(*a))
                .collect();
            let has: Vec<&str> = i.addresses.iter().map(String::as_str).collect();
            if missing.is_empty() {
                format!("{}: {}", i.host, has.join(", "))
            } else {
                format!(
                    "{}: {} (lacks {})",
                    i.host,
                    has.join(", "),
                    missing.join(", ")
                )
            }
        })
        .collect();
    Some(finding(
        &rules::VRRP_ADDRESS_MISMATCH,
        group.name(),
        &refs,
        "the members do not have the same virtual addresses".to_string(),
        details,
    ))
}

/// Adverts of another interval received by a member.
fn advert_interval(
    group: &Group,
    data: &FleetData,
    cluster: &str,
    is_up: &dyn Fn(&Host) -> bool,
) -> Option<FleetFinding> {
    let members: BTreeSet<(Host, &str)> = group
        .instances
        .iter()
        .map(|i| (i.host.clone(), i.name.as_str()))
        .collect();
    let mut interval: Vec<(Host, String, f64)> = Vec::new();
    for sample in data.samples(Query::VrrpAdvertInterval) {
        let host = Host::of(sample, cluster);
        let instance = sample.label("vrrp_instance");
        if is_up(&host) && members.contains(&(host.clone(), instance)) {
            interval.push((host, instance.to_string(), sample.value));
        }
    }
    if interval.is_empty() {
        return None;
    }
    let hosts: Vec<Host> = interval.iter().map(|(h, _, _)| h.clone()).collect();
    let refs: Vec<&Host> = hosts.iter().collect();
    Some(finding(
        &rules::VRRP_ADVERT_INTERVAL,
        group.name(),
        &refs,
        format!(
            "{} received adverts with another advert interval in the last {}",
            names(&refs),
            super::queries::ADVERT_INTERVAL_WINDOW
        ),
        interval
            .iter()
            .map(|(h, i, n)| format!("{h}: {i} counted about {} such adverts", n.round()))
            .collect(),
    ))
}

/// Sets of directors that should have the same table: the members seen of each VRRP group;
/// and, for directors in no VRRP group, those that share a cluster label.
fn director_sets(
    groups: &[Group],
    data: &FleetData,
    cluster: &str,
    is_up: &dyn Fn(&Host) -> bool,
) -> Vec<BTreeSet<Host>> {
    let mut sets: BTreeSet<BTreeSet<Host>> = BTreeSet::new();
    let mut in_groups: BTreeSet<Host> = BTreeSet::new();
    for group in groups {
        let members: BTreeSet<Host> = group.instances.iter().map(|i| i.host.clone()).collect();
        in_groups.extend(members.iter().cloned());
        let seen: BTreeSet<Host> = members.into_iter().filter(|h| is_up(h)).collect();
        if seen.len() > 1 {
            sets.insert(seen);
        }
    }
    let mut by_cluster: BTreeMap<String, BTreeSet<Host>> = BTreeMap::new();
    for sample in data.samples(Query::Services) {
        let host = Host::of(sample, cluster);
        if !host.cluster.is_empty() && !in_groups.contains(&host) && is_up(&host) {
            by_cluster
                .entry(host.cluster.clone())
                .or_default()
                .insert(host);
        }
    }
    sets.extend(by_cluster.into_values().filter(|set| set.len() > 1));
    sets.into_iter().collect()
}

/// A virtual service, by the labels the exporter gives it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct ServiceKey {
    netns: String,
    proto: String,
    address: String,
    port: String,
    mark: String,
    /// keepalived's virtual_server_group, for its configured real servers.
    group: String,
}

impl ServiceKey {
    fn of(sample: &Sample) -> ServiceKey {
        ServiceKey {
            netns: sample.label("netns").to_string(),
            proto: sample.label("proto").to_string(),
            address: sample.label("local_address").to_string(),
            port: sample.label("local_port").to_string(),
            mark: sample.label("local_mark").to_string(),
            group: sample.label("virtual_server_group").to_string(),
        }
    }

    fn text(&self) -> String {
        let mut text = if self.proto == "FWM" {
            format!("FWM {}", self.mark)
        } else if self.address.contains(':') {
            format!("{} [{}]:{}", self.proto, self.address, self.port)
        } else {
            format!("{} {}:{}", self.proto, self.address, self.port)
        };
        if !self.group.is_empty() {
            text = format!("virtual_server_group {} {text}", self.group);
        }
        if !self.netns.is_empty() {
            text = format!("netns {}: {text}", self.netns);
        }
        text
    }
}

fn real_server(sample: &Sample) -> String {
    let address = sample.label("remote_address");
    let port = sample.label("remote_port");
    if address.contains(':') {
        format!("[{address}]:{port}")
    } else {
        format!("{address}:{port}")
    }
}

/// One thing compared about a service: (category, name) -> value.
type Facets = BTreeMap<(&'static str, String), String>;

/// Categories whose facet a host may lack without it being a difference (the forwarding
/// method of a real server that only some hosts have: the real server's absence is said).
const COMPARED_WHERE_PRESENT: &[&str] = &["forwarding"];

/// Per host, per service, its facets.
type FacetsByHost = BTreeMap<Host, BTreeMap<ServiceKey, Facets>>;

/// What each host's answers say about its services, by where it comes from.
struct TableFacets {
    /// Scheduler, flags and persistence of the kernel's services.
    kernel: FacetsByHost,
    /// The real servers' weights in the kernel's table.
    kernel_weights: FacetsByHost,
    /// The real servers' forwarding methods.
    forwarding: FacetsByHost,
    /// The real servers' weights in keepalived's configuration.
    configured: FacetsByHost,
}

impl TableFacets {
    fn of(data: &FleetData, cluster: &str) -> TableFacets {
        let (kernel_weights, forwarding) = real_server_facets(data, cluster);
        TableFacets {
            kernel: service_facets(data, cluster),
            kernel_weights,
            forwarding,
            configured: configured_facets(data, cluster),
        }
    }
}

/// Each service's scheduler, flags and persistence, by host.
fn service_facets(data: &FleetData, cluster: &str) -> FacetsByHost {
    let mut kernel = FacetsByHost::new();
    for sample in data.samples(Query::Services) {
        let facets = kernel
            .entry(Host::of(sample, cluster))
            .or_default()
            .entry(ServiceKey::of(sample))
            .or_default();
        facets.insert(
            ("scheduler", String::new()),
            sample.label("scheduler").to_string(),
        );
        facets.insert(("flags", String::new()), sample.label("flags").to_string());
        facets.insert(
            ("persistence", String::new()),
            match sample.label("persistent") {
                "" | "false" | "0" | "no" => "none".to_string(),
                other => other.to_string(),
            },
        );
    }
    for sample in data.samples(Query::Persistence) {
        if let Some(facets) = kernel
            .get_mut(&Host::of(sample, cluster))
            .and_then(|s| s.get_mut(&ServiceKey::of(sample)))
        {
            facets.insert(
                ("persistence", String::new()),
                format!("{}s", number(sample.value)),
            );
        }
    }
    kernel
}

/// The kernel's real servers: their weights, and their forwarding methods, by host.
fn real_server_facets(data: &FleetData, cluster: &str) -> (FacetsByHost, FacetsByHost) {
    let mut kernel_weights = FacetsByHost::new();
    let mut forwarding = FacetsByHost::new();
    for sample in data.samples(Query::RealServers) {
        let host = Host::of(sample, cluster);
        let key = ServiceKey::of(sample);
        kernel_weights
            .entry(host.clone())
            .or_default()
            .entry(key.clone())
            .or_default()
            .insert(
                ("real servers", real_server(sample)),
                format!("weight {}", number(sample.value)),
            );
        forwarding
            .entry(host)
            .or_default()
            .entry(key)
            .or_default()
            .insert(
                ("forwarding", real_server(sample)),
                sample.label("forward").to_string(),
            );
    }
    (kernel_weights, forwarding)
}

/// The real servers keepalived's configuration has, with their weights, by host.
fn configured_facets(data: &FleetData, cluster: &str) -> FacetsByHost {
    let mut configured = FacetsByHost::new();
    for sample in data.samples(Query::KeepalivedRealServers) {
        configured
            .entry(Host::of(sample, cluster))
            .or_default()
            .entry(ServiceKey::of(sample))
            .or_default()
            .insert(
                ("real servers", real_server(sample)),
                format!("configured weight {}", number(sample.value)),
            );
    }
    configured
}

fn director_findings(
    sets: &[BTreeSet<Host>],
    data: &FleetData,
    cluster: &str,
) -> Vec<FleetFinding> {
    let table = TableFacets::of(data, cluster);
    let mut out = Vec::new();
    for set in sets {
        let from_keepalived = set.iter().all(|h| table.configured.contains_key(h));
        let weights = if from_keepalived {
            &table.configured
        } else {
            &table.kernel_weights
        };
        let services = services_of(set, [&table.kernel, weights, &table.forwarding]);
        let members: Vec<&Host> = set.iter().collect();
        for (key, per_host) in &services {
            let (details, categories) = differences(&members, per_host);
            if details.is_empty() {
                continue;
            }
            let what: Vec<&str> = categories.into_iter().collect();
            let source = if from_keepalived {
                "keepalived's configuration"
            } else {
                "the kernel's table"
            };
            out.push(finding(
                &rules::DIRECTOR_MISMATCH,
                key.text(),
                &members,
                format!(
                    "{} differ in {} (real servers from {source})",
                    names(&members),
                    what.join(", ")
                ),
                details,
            ));
        }
    }
    out
}

/// Per service, per member of the set: its facets from every source (a member without the
/// service is not in its map).
fn services_of<'h>(
    set: &'h BTreeSet<Host>,
    sources: [&FacetsByHost; 3],
) -> BTreeMap<ServiceKey, BTreeMap<&'h Host, Facets>> {
    let mut services: BTreeMap<ServiceKey, BTreeMap<&Host, Facets>> = BTreeMap::new();
    for host in set {
        for source in sources {
            for (key, facets) in source.get(host).into_iter().flatten() {
                services
                    .entry(key.clone())
                    .or_default()
                    .entry(host)
                    .or_default()
                    .extend(facets.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
        }
    }
    services
}

/// How the members differ about one service: a line for its absence and for each facet that
/// differs, and the categories that do.
fn differences<'f>(
    members: &[&Host],
    per_host: &'f BTreeMap<&Host, Facets>,
) -> (Vec<String>, BTreeSet<&'f str>) {
    let mut details = Vec::new();
    let mut categories: BTreeSet<&str> = BTreeSet::new();
    let absent: Vec<&Host> = members
        .iter()
        .copied()
        .filter(|h| !per_host.contains_key(h))
        .collect();
    if !absent.is_empty() {
        let present: Vec<&Host> = per_host.keys().copied().collect();
        details.push(format!(
            "absent on {} (present on {})",
            names(&absent),
            names(&present)
        ));
        categories.insert("presence");
    }
    let facet_names: BTreeSet<&(&'static str, String)> =
        per_host.values().flat_map(|f| f.keys()).collect();
    for facet in facet_names {
        let values: Vec<(&Host, Option<&String>)> =
            per_host.iter().map(|(h, f)| (*h, f.get(facet))).collect();
        let judged: Vec<&(&Host, Option<&String>)> = if COMPARED_WHERE_PRESENT.contains(&facet.0) {
            values.iter().filter(|(_, v)| v.is_some()).collect()
        } else {
            values.iter().collect()
        };
        let distinct: BTreeSet<Option<&String>> = judged.iter().map(|(_, v)| *v).collect();
        if distinct.len() < 2 {
            continue;
        }
        categories.insert(facet.0);
        let label = if facet.1.is_empty() {
            facet.0.to_string()
        } else {
            format!("{} {}", facet.0, facet.1)
        };
        let by_host: Vec<String> = judged
            .iter()
            .map(|(h, v)| format!("{h} {}", v.map_or("absent", String::as_str)))
            .collect();
        details.push(format!("{label}: {}", by_host.join("; ")));
    }
    (details, categories)
}

fn sync_findings(
    groups: &[Group],
    data: &FleetData,
    cluster: &str,
    is_up: &dyn Fn(&Host) -> bool,
) -> Vec<FleetFinding> {
    let mut daemons: BTreeMap<Host, BTreeSet<String>> = BTreeMap::new();
    for sample in data.samples(Query::SyncDaemons) {
        daemons
            .entry(Host::of(sample, cluster))
            .or_default()
            .insert(sample.label("state").to_string());
    }
    let mut held: BTreeMap<Host, BTreeMap<ServiceKey, f64>> = BTreeMap::new();
    for sample in data.samples(Query::HeldConnections) {
        held.entry(Host::of(sample, cluster))
            .or_default()
            .insert(ServiceKey::of(sample), sample.value);
    }
    let runs = |host: &Host, state: &str| daemons.get(host).is_some_and(|s| s.contains(state));
    let mut out = Vec::new();
    for group in groups {
        let seen: Vec<&Instance> = group.instances.iter().filter(|i| is_up(&i.host)).collect();
        let masters: Vec<&&Instance> = seen.iter().filter(|i| i.state == "MASTER").collect();
        let [master] = masters.as_slice() else {
            continue;
        };
        if !runs(&master.host, "master") {
            continue;
        }
        let addresses = group.addresses();
        for backup in seen.iter().filter(|i| i.state == "BACKUP") {
            let hosts = [&master.host, &backup.host];
            if !runs(&backup.host, "backup") {
                out.push(finding(
                    &rules::SYNC_BACKUP_MISSING,
                    group.name(),
                    &hosts,
                    format!(
                        "{} (MASTER) runs a master sync daemon; {} (BACKUP) runs no backup sync daemon",
                        master.host, backup.host
                    ),
                    Vec::new(),
                ));
                continue;
            }
            let empty = BTreeMap::new();
            let on_backup = held.get(&backup.host).unwrap_or(&empty);
            for (key, &on_master) in held.get(&master.host).unwrap_or(&empty) {
                if !addresses.contains(key.address.as_str()) || on_master < SYNC_MIN_HELD {
                    continue;
                }
                let behind = on_backup.get(key).copied().unwrap_or(0.0);
                if behind < on_master * SYNC_MIN_SHARE {
                    out.push(finding(
                        &rules::SYNC_BEHIND,
                        key.text(),
                        &hosts,
                        format!(
                            "{} (BACKUP) holds {} connections of {}; its MASTER {} holds {}",
                            backup.host,
                            number(behind),
                            key.text(),
                            master.host,
                            number(on_master)
                        ),
                        Vec::new(),
                    ));
                }
            }
        }
    }
    out
}

/// The (host, VRID) of every MASTER in a split brain: the groups with more than one member seen
/// as MASTER (as [`group_findings`] judges it).
fn split_brain_members(groups: &[Group]) -> BTreeSet<(Host, String)> {
    groups
        .iter()
        .filter(|g| {
            g.instances
                .iter()
                .filter(|i| i.seen && i.state == "MASTER")
                .count()
                > 1
        })
        .flat_map(|g| {
            g.instances
                .iter()
                .filter(|i| i.seen && i.state == "MASTER")
                .map(|i| (i.host.clone(), g.vrid.clone()))
        })
        .collect()
}

/// The advisor's findings as fleet findings, and the `vrrp-two-masters` findings left out of
/// them because a fleet split brain already covers them: (host, VRID, subject).
struct AdvisorFindings {
    findings: Vec<FleetFinding>,
    folded: Vec<(Host, String, String)>,
}

/// The VRID of a `vrrp-two-masters` subject, `INTERFACE vrid N`.
fn two_masters_vrid(subject: &str) -> Option<&str> {
    subject.rsplit_once(" vrid ").map(|(_, vrid)| vrid)
}

/// Every host's advisor findings, one fleet finding per rule with the hosts that have it; a
/// `vrrp-two-masters` finding of a MASTER in a split brain fleet found (`in_split_brain`) is
/// folded into that split brain instead.
fn advisor_findings(
    data: &FleetData,
    cluster: &str,
    in_split_brain: &BTreeSet<(Host, String)>,
) -> AdvisorFindings {
    let mut by_rule: BTreeMap<String, BTreeMap<Host, (Severity, BTreeSet<String>)>> =
        BTreeMap::new();
    let mut folded = Vec::new();
    for sample in data.samples(Query::AdvisorFindings) {
        let host = Host::of(sample, cluster);
        let subject = sample.label("subject");
        if sample.label("rule") == "vrrp-two-masters"
            && let Some(vrid) = two_masters_vrid(subject)
            && in_split_brain.contains(&(host.clone(), vrid.to_string()))
        {
            folded.push((host, vrid.to_string(), subject.to_string()));
            continue;
        }
        let severity = match sample.label("severity") {
            "critical" => Severity::Critical,
            "info" => Severity::Info,
            _ => Severity::Warning,
        };
        let entry = by_rule
            .entry(sample.label("rule").to_string())
            .or_default()
            .entry(host)
            .or_insert((severity, BTreeSet::new()));
        entry.0 = entry.0.max(severity);
        entry.1.insert(sample.label("subject").to_string());
    }
    let findings = by_rule
        .into_iter()
        .map(|(rule, hosts)| {
            let known = crate::advisor::rules::find(&rule);
            let severity = hosts
                .values()
                .map(|(s, _)| *s)
                .max()
                .unwrap_or(Severity::Warning);
            let subjects: BTreeSet<&str> = hosts
                .values()
                .flat_map(|(_, s)| s.iter().map(String::as_str))
                .collect();
            let subject = if subjects.len() <= 3 {
                subjects.iter().copied().collect::<Vec<_>>().join(", ")
            } else {
                format!("{} subjects", subjects.len())
            };
            let what = known.map_or("an advisor finding (a newer exporter's rule)", |r| r.what);
            FleetFinding {
                summary: format!(
                    "the advisor finds it on {} host{} (it checks: {what})",
                    hosts.len(),
                    if hosts.len() == 1 { "" } else { "s" }
                ),
                details: hosts
                    .iter()
                    .map(|(h, (_, s))| {
                        format!("{h}: {}", s.iter().cloned().collect::<Vec<_>>().join(", "))
                    })
                    .collect(),
                hosts: hosts.keys().map(ToString::to_string).collect(),
                fix: known.map_or_else(
                    || format!("ipvs_exporter doctor --explain {rule} on the host"),
                    |r| r.fix.to_string(),
                ),
                rule,
                severity,
                subject,
            }
        })
        .collect();
    AdvisorFindings { findings, folded }
}

fn version_findings(
    versions: &BTreeMap<Host, String>,
    is_up: &dyn Fn(&Host) -> bool,
) -> Vec<FleetFinding> {
    let mut by_version: BTreeMap<&str, Vec<&Host>> = BTreeMap::new();
    for (host, version) in versions {
        if is_up(host) {
            by_version.entry(version.as_str()).or_default().push(host);
        }
    }
    if by_version.len() < 2 {
        return Vec::new();
    }
    let hosts: Vec<&Host> = by_version.values().flatten().copied().collect();
    vec![finding(
        &rules::EXPORTER_VERSIONS,
        "ipvs_exporter_build_info",
        &hosts,
        format!("{} versions of the exporter run", by_version.len()),
        by_version
            .iter()
            .map(|(v, hosts)| format!("{v}: {}", names(hosts)))
            .collect(),
    )]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads a fixture of tests/fixtures/fleet (see its README).
    fn fixture(name: &str) -> FleetData {
        let path = format!(
            "{}/tests/fixtures/fleet/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).expect("fixture");
        type Pairs = Vec<(BTreeMap<String, String>, f64)>;
        let raw: BTreeMap<String, Pairs> = serde_json::from_str(&text).expect("fixture JSON");
        let mut data = FleetData::default();
        for (name, samples) in raw {
            let query = Query::ALL
                .into_iter()
                .find(|q| q.name() == name)
                .unwrap_or_else(|| panic!("{path}: no query {name}"));
            let samples = samples
                .into_iter()
                .map(|(mut labels, value)| {
                    labels
                        .entry("job".into())
                        .or_insert_with(|| "ipvs_exporter".into());
                    Sample { labels, value }
                })
                .collect();
            data.answers.insert(query, samples);
        }
        data
    }

    fn options() -> AnalyseOptions {
        AnalyseOptions {
            cluster_label: "cluster".into(),
            lookback: "3600s".into(),
        }
    }

    fn run(name: &str) -> FleetAnalysis {
        analyse(&fixture(name), &options())
    }

    /// (rule, severity, subject, hosts) of each finding.
    fn brief(analysis: &FleetAnalysis) -> Vec<(String, &'static str, String, String)> {
        analysis
            .findings
            .iter()
            .map(|f| {
                (
                    f.rule.clone(),
                    f.severity.as_str(),
                    f.subject.clone(),
                    f.hosts.join(" "),
                )
            })
            .collect()
    }

    fn one<'a>(analysis: &'a FleetAnalysis, rule: &str, subject: &str) -> &'a FleetFinding {
        let found: Vec<&FleetFinding> = analysis
            .findings
            .iter()
            .filter(|f| f.rule == rule && f.subject == subject)
            .collect();
        assert_eq!(found.len(), 1, "{rule} {subject}: {:#?}", brief(analysis));
        found[0]
    }

    #[test]
    fn a_healthy_pair_has_no_finding_and_one_group_of_two() {
        let analysis = run("healthy");
        assert!(analysis.findings.is_empty(), "{:#?}", brief(&analysis));
        assert_eq!(analysis.worst(), None);
        assert_eq!(analysis.vrrp_groups.len(), 1);
        let group = &analysis.vrrp_groups[0];
        assert_eq!(group.name, "VRID 51 192.0.2.10");
        let states: Vec<(&str, &str)> = group
            .members
            .iter()
            .map(|m| (m.host.as_str(), m.state.as_str()))
            .collect();
        assert_eq!(states, [("lb1:9748", "MASTER"), ("lb2:9748", "BACKUP")]);
        assert_eq!(analysis.director_sets, [["lb1:9748", "lb2:9748"]]);
    }

    #[test]
    fn two_masters_are_a_split_brain_and_advisor_findings_keep_their_rule() {
        let analysis = run("split-brain");
        assert_eq!(analysis.worst(), Some(Severity::Critical));
        assert_eq!(
            brief(&analysis),
            [
                (
                    "fleet-vrrp-split-brain".to_string(),
                    "critical",
                    "VRID 51 192.0.2.10".to_string(),
                    "lb1:9748 lb2:9748".to_string()
                ),
                (
                    "rs-arp-ignore".to_string(),
                    "critical",
                    "net.ipv4.conf.all.arp_ignore".to_string(),
                    "lb2:9748".to_string()
                ),
            ]
        );
    }

    /// A MASTER's own `vrrp-two-masters` for the VRID of a split brain fleet found is that split
    /// brain seen from the host: one finding, not two. The same rule for another VRID stays.
    #[test]
    fn a_masters_own_two_masters_finding_is_folded_into_the_split_brain() {
        let mut data = fixture("split-brain");
        let advisor = |instance: &str, subject: &str| Sample {
            labels: [
                ("job", "ipvs_exporter"),
                ("instance", instance),
                ("rule", "vrrp-two-masters"),
                ("severity", "critical"),
                ("subject", subject),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
            value: 1.0,
        };
        let findings = data.answers.entry(Query::AdvisorFindings).or_default();
        findings.push(advisor("lb2:9748", "eth0 vrid 51"));
        findings.push(advisor("lb1:9748", "eth1 vrid 99"));
        let analysis = analyse(&data, &options());
        let rules: Vec<(String, String)> = analysis
            .findings
            .iter()
            .map(|f| (f.rule.clone(), f.hosts.join(" ")))
            .collect();
        assert!(
            rules.contains(&("vrrp-two-masters".to_string(), "lb1:9748".to_string())),
            "VRID 99 is in no split brain: its finding stays: {rules:?}"
        );
        let two_masters: Vec<&FleetFinding> = analysis
            .findings
            .iter()
            .filter(|f| f.rule == "vrrp-two-masters")
            .collect();
        assert_eq!(two_masters.len(), 1, "{rules:?}");
        assert_eq!(two_masters[0].subject, "eth1 vrid 99");
        let split = one(&analysis, "fleet-vrrp-split-brain", "VRID 51 192.0.2.10");
        assert!(
            split
                .details
                .iter()
                .any(|d| d.starts_with("lb2:9748: its own advisor hears the other master too")),
            "{:?}",
            split.details
        );
    }

    #[test]
    fn drift_is_found_host_by_host_with_warnings_only() {
        let analysis = run("drift");
        assert_eq!(
            analysis.worst(),
            Some(Severity::Warning),
            "{:#?}",
            brief(&analysis)
        );
        let group51 = "VRID 51 192.0.2.10 (+1)";
        let group52 = "VRID 52 192.0.2.20";

        let stale = one(&analysis, "fleet-exporter-down", "lb4:9748");
        assert!(stale.summary.contains("stale"), "{}", stale.summary);

        let unseen = one(&analysis, "fleet-vrrp-member-unseen", group52);
        assert_eq!(unseen.hosts, ["lb4:9748"]);
        assert_eq!(unseen.details, ["lb4:9748: VI_2 last known as MASTER"]);
        // lb3 is BACKUP and lb4, last seen MASTER, is not seen: a warning, not critical
        let no_master = one(&analysis, "fleet-vrrp-no-master", group52);
        assert_eq!(no_master.severity, Severity::Warning);

        let equal = one(&analysis, "fleet-vrrp-equal-priority", group51);
        assert_eq!(equal.hosts, ["lb1:9748", "lb2:9748"]);
        let addresses = one(&analysis, "fleet-vrrp-address-mismatch", group51);
        assert!(
            addresses
                .details
                .contains(&"lb2:9748: 192.0.2.10 (lacks 192.0.2.11)".to_string()),
            "{:?}",
            addresses.details
        );
        let interval = one(&analysis, "fleet-vrrp-advert-interval-mismatch", group51);
        assert_eq!(interval.hosts, ["lb2:9748"]);

        let http = one(&analysis, "fleet-director-mismatch", "TCP 192.0.2.10:80");
        assert_eq!(
            http.details,
            [
                "real servers 10.0.0.2:80: lb1:9748 weight 1; lb2:9748 weight 2",
                "scheduler: lb1:9748 wrr; lb2:9748 rr",
            ]
        );
        assert!(
            http.summary.contains("the kernel's table"),
            "{}",
            http.summary
        );
        let https = one(&analysis, "fleet-director-mismatch", "TCP 192.0.2.11:443");
        assert_eq!(https.details, ["absent on lb2:9748 (present on lb1:9748)"]);

        let behind = one(&analysis, "fleet-sync-behind", "TCP 192.0.2.10:80");
        assert_eq!(behind.hosts, ["lb1:9748", "lb2:9748"]);
        assert!(
            behind.summary.contains("holds 10 connections"),
            "{}",
            behind.summary
        );
        // 50 connections on the MASTER are too few to judge the sync by
        assert!(
            !analysis
                .findings
                .iter()
                .any(|f| f.rule == "fleet-sync-behind" && f.subject.contains("443"))
        );

        let drops = one(&analysis, "conntrack-drops", "nf_conntrack");
        assert_eq!(drops.hosts, ["lb1:9748", "lb2:9748"]);
        assert_eq!(drops.severity, Severity::Warning);

        let versions = one(
            &analysis,
            "fleet-exporter-versions",
            "ipvs_exporter_build_info",
        );
        assert_eq!(versions.severity, Severity::Info);
        assert_eq!(
            versions.details,
            [
                "0.1.0 (aaa): lb1:9748 and lb2:9748",
                "0.2.0 (bbb): lb3:9748"
            ]
        );
        assert_eq!(analysis.findings.len(), 11, "{:#?}", brief(&analysis));
        // lb3's group has no other member seen: nothing to compare it with
        assert_eq!(analysis.director_sets, [["lb1:9748", "lb2:9748"]]);
    }

    #[test]
    fn a_router_heard_advertising_is_a_master_even_unseen() {
        let mut data = fixture("healthy");
        if let Some(states) = data.answers.get_mut(&Query::VrrpState) {
            states[0].labels.insert("state".into(), "BACKUP".into());
        }
        let no_master = analyse(&data, &options());
        assert_eq!(
            brief(&no_master),
            [(
                "fleet-vrrp-no-master".to_string(),
                "critical",
                "VRID 51 192.0.2.10".to_string(),
                "lb1:9748 lb2:9748".to_string()
            )]
        );
        let heard = |vrid: &str| Sample {
            labels: [
                ("job", "ipvs_exporter"),
                ("instance", "lb2:9748"),
                ("vrid", vrid),
                ("source", "192.0.2.2"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
            value: 150.0,
        };
        // adverts for another VRID say nothing about this one
        data.answers.insert(Query::VrrpPeers, vec![heard("52")]);
        assert_eq!(analyse(&data, &options()).findings.len(), 1);
        data.answers.insert(Query::VrrpPeers, vec![heard("51")]);
        let analysis = analyse(&data, &options());
        assert!(analysis.findings.is_empty(), "{:#?}", brief(&analysis));
        assert_eq!(analysis.vrrp_groups[0].heard_advertising, ["192.0.2.2"]);
    }

    #[test]
    fn keepalived_weights_are_compared_when_every_director_exports_them() {
        let mut data = fixture("healthy");
        // the kernel's weights differ (a health check took 10.0.0.1 down on lb2) ...
        if let Some(real) = data.answers.get_mut(&Query::RealServers) {
            real[1].value = 0.0;
        }
        let configured = |instance: &str, weight: f64| Sample {
            labels: [
                ("job", "ipvs_exporter"),
                ("instance", instance),
                ("proto", "TCP"),
                ("local_address", "192.0.2.10"),
                ("local_port", "80"),
                ("local_mark", ""),
                ("virtual_server_group", ""),
                ("remote_address", "10.0.0.1"),
                ("remote_port", "80"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
            value: weight,
        };
        // ... the configurations do not
        data.answers.insert(
            Query::KeepalivedRealServers,
            vec![configured("lb1:9748", 1.0), configured("lb2:9748", 1.0)],
        );
        assert!(analyse(&data, &options()).findings.is_empty());
        // a configured weight that differs is found, as keepalived's
        data.answers.insert(
            Query::KeepalivedRealServers,
            vec![configured("lb1:9748", 1.0), configured("lb2:9748", 3.0)],
        );
        let analysis = analyse(&data, &options());
        let finding = one(&analysis, "fleet-director-mismatch", "TCP 192.0.2.10:80");
        assert_eq!(
            finding.details,
            [
                "real servers 10.0.0.1:80: lb1:9748 configured weight 1; lb2:9748 configured weight 3"
            ]
        );
        assert!(finding.summary.contains("keepalived's configuration"));
    }

    #[test]
    fn directors_outside_vrrp_are_compared_by_cluster_label() {
        let mut data = FleetData::default();
        let sample = |pairs: &[(&str, &str)], value: f64| Sample {
            labels: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            value,
        };
        data.answers.insert(
            Query::Up,
            ["a", "b", "c"]
                .iter()
                .map(|i| sample(&[("cluster", "dc1"), ("job", "j"), ("instance", i)], 1.0))
                .chain(std::iter::once(sample(
                    &[("cluster", "dc2"), ("job", "j"), ("instance", "d")],
                    1.0,
                )))
                .collect(),
        );
        let service = |instance: &str, cluster: &str, scheduler: &str| {
            sample(
                &[
                    ("cluster", cluster),
                    ("job", "j"),
                    ("instance", instance),
                    ("proto", "UDP"),
                    ("local_address", "2001:db8::53"),
                    ("local_port", "53"),
                    ("scheduler", scheduler),
                    ("persistent", "false"),
                ],
                1.0,
            )
        };
        data.answers.insert(
            Query::Services,
            vec![
                service("a", "dc1", "mh"),
                service("b", "dc1", "mh"),
                service("c", "dc1", "rr"),
                service("d", "dc2", "rr"),
            ],
        );
        let analysis = analyse(&data, &options());
        assert_eq!(analysis.director_sets, [["dc1/a", "dc1/b", "dc1/c"]]);
        let finding = one(
            &analysis,
            "fleet-director-mismatch",
            "UDP [2001:db8::53]:53",
        );
        assert_eq!(finding.details, ["scheduler: dc1/a mh; dc1/b mh; dc1/c rr"]);
    }

    #[test]
    fn groups_join_on_a_shared_address_and_part_on_cluster_or_vrid() {
        let mut data = FleetData::default();
        let labels =
            |cluster: &str, instance: &str, extra: &[(&str, &str)]| -> BTreeMap<String, String> {
                [("cluster", cluster), ("job", "j"), ("instance", instance)]
                    .iter()
                    .chain(extra)
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            };
        let mut up = Vec::new();
        let mut states = Vec::new();
        let mut vips = Vec::new();
        // (cluster, host, vrid, state, addresses)
        for (cluster, host, vrid, state, addresses) in [
            ("x", "h1", "7", "MASTER", &["10.1.0.1", "10.1.0.2"][..]),
            ("x", "h2", "7", "BACKUP", &["10.1.0.2"][..]),
            ("y", "h3", "7", "MASTER", &["10.1.0.1"][..]),
            ("x", "h4", "8", "MASTER", &["10.1.0.1"][..]),
        ] {
            up.push(Sample {
                labels: labels(cluster, host, &[]),
                value: 1.0,
            });
            states.push(Sample {
                labels: labels(
                    cluster,
                    host,
                    &[("vrrp_instance", "V"), ("vrid", vrid), ("state", state)],
                ),
                value: 1.0,
            });
            for a in addresses {
                vips.push(Sample {
                    labels: labels(cluster, host, &[("vrrp_instance", "V"), ("address", a)]),
                    value: 1.0,
                });
            }
        }
        data.answers.insert(Query::Up, up);
        data.answers.insert(Query::VrrpState, states);
        data.answers.insert(Query::VrrpAddresses, vips);
        let analysis = analyse(&data, &options());
        let groups: Vec<(String, Vec<String>)> = analysis
            .vrrp_groups
            .iter()
            .map(|g| {
                (
                    g.name.clone(),
                    g.members.iter().map(|m| m.host.clone()).collect(),
                )
            })
            .collect();
        assert_eq!(
            groups,
            [
                (
                    "x: VRID 7 10.1.0.1 (+1)".to_string(),
                    vec!["x/h1".to_string(), "x/h2".to_string()]
                ),
                ("x: VRID 8 10.1.0.1".to_string(), vec!["x/h4".to_string()]),
                ("y: VRID 7 10.1.0.1".to_string(), vec!["y/h3".to_string()]),
            ]
        );
        // no split brain: the masters are in different groups
        assert!(
            analysis
                .findings
                .iter()
                .all(|f| f.rule != "fleet-vrrp-split-brain")
        );
    }
}
