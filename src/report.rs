//! The host report shared by `doctor` and `/report`: what the snapshot shows and what the
//! advisor concluded, as text or Markdown for people, JSON for programs, and HTML (in
//! [`html`]) for browsers. Every format gives the findings grouped by rule ([`by_rule`]): the
//! rule's text and fix once, then the subjects it found. Pure.

mod html;

use std::fmt::Write as _;

use serde::Serialize;

use crate::advisor::rules::{self, Rule};
use crate::advisor::{Advice, Disregarded, Evidence, Finding, Severity, Skipped, Strength};
use crate::model::drain::{DrainingBackend, draining_backends};
use crate::model::keepalived_health;
use crate::model::snapshot::{Outcome, Snapshot};
use crate::model::{AddressFamily, IpvsTable, ServiceKey, SocketText};

pub use html::render_html;

/// The formats `doctor` and `fleet` write (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DoctorFormat {
    Text,
    Json,
    Markdown,
}

/// `doctor`'s exit codes.
pub mod exit_code {
    /// No warning or critical finding.
    pub const CLEAN: u8 = 0;
    /// At least one warning, no critical finding.
    pub const WARNINGS: u8 = 1;
    /// At least one critical finding.
    pub const CRITICAL: u8 = 2;
    /// `doctor` itself could not run (bad flags, no runtime).
    pub const COULD_NOT_RUN: u8 = 3;
}

/// The exit code that a set of findings calls for.
pub fn exit_code_for(advice: &Advice) -> u8 {
    exit_code_for_severity(advice.findings.iter().map(|f| f.severity).max())
}

/// The exit code for the worst severity found (`None`: no finding).
pub fn exit_code_for_severity(worst: Option<Severity>) -> u8 {
    match worst {
        Some(Severity::Critical) => exit_code::CRITICAL,
        Some(Severity::Warning) => exit_code::WARNINGS,
        Some(Severity::Info) | None => exit_code::CLEAN,
    }
}

/// The findings of one rule, as every human format shows them: the rule once, its subjects
/// after.
pub struct RuleGroup<'a> {
    pub rule_id: &'static str,
    /// The rule's own text; `None` only for an id the rule table lacks.
    pub rule: Option<&'static Rule>,
    /// The highest severity among its findings.
    pub severity: Severity,
    /// Its findings in the advisor's order.
    pub findings: Vec<&'a Finding>,
    /// Each distinct fix once, in the order first met, with the subjects it is for.
    pub fixes: Vec<FixGroup<'a>>,
}

/// One fix text of a rule and the subjects that need it.
pub struct FixGroup<'a> {
    pub fix: &'a str,
    pub subjects: Vec<&'a str>,
}

impl RuleGroup<'_> {
    /// The rule's one-line title (what it checks), or its id when unknown.
    pub fn title(&self) -> &'static str {
        self.rule.map_or(self.rule_id, |r| r.what)
    }

    /// Why the rule matters, when known.
    pub fn why(&self) -> Option<&'static str> {
        self.rule.map(|r| r.why)
    }

    /// How many findings of `severity` it has.
    pub fn count(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == severity)
            .count()
    }
}

/// The findings grouped by rule: the most severe groups first, then by rule id (the order
/// the advisor sorts its findings in).
pub fn by_rule(findings: &[Finding]) -> Vec<RuleGroup<'_>> {
    let mut groups: Vec<RuleGroup<'_>> = Vec::new();
    for finding in findings {
        let group = match groups.iter_mut().position(|g| g.rule_id == finding.rule) {
            Some(at) => groups.get_mut(at),
            None => {
                groups.push(RuleGroup {
                    rule_id: finding.rule,
                    rule: rules::find(finding.rule),
                    severity: finding.severity,
                    findings: Vec::new(),
                    fixes: Vec::new(),
                });
                groups.last_mut()
            }
        };
        let Some(group) = group else { continue };
        group.severity = group.severity.max(finding.severity);
        group.findings.push(finding);
        match group.fixes.iter_mut().find(|f| f.fix == finding.fix) {
            Some(fix) => fix.subjects.push(&finding.subject),
            None => group.fixes.push(FixGroup {
                fix: &finding.fix,
                subjects: vec![&finding.subject],
            }),
        }
    }
    groups.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.rule_id.cmp(b.rule_id)));
    groups
}

/// How many findings there are of each severity, most severe first.
pub fn severity_counts(findings: &[Finding]) -> [(Severity, usize); 3] {
    Severity::ALL.map(|severity| {
        (
            severity,
            findings.iter().filter(|f| f.severity == severity).count(),
        )
    })
}

/// The rules evaluated that found nothing.
pub fn rules_passed(advice: &Advice) -> usize {
    let with_findings: std::collections::BTreeSet<&str> =
        advice.findings.iter().map(|f| f.rule).collect();
    advice.rules_evaluated.saturating_sub(with_findings.len())
}

/// `5 critical, 2 warning, 0 info`.
fn counts_text(findings: &[Finding]) -> String {
    severity_counts(findings)
        .iter()
        .map(|(severity, n)| format!("{n} {}", severity.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `1 rule` or `3 rules`.
fn rules_text(n: usize) -> String {
    if n == 1 {
        "1 rule".to_string()
    } else {
        format!("{n} rules")
    }
}

/// The report as JSON sees it: stable field names, no timings.
#[derive(Debug, Serialize)]
pub struct Report<'a> {
    pub role: Vec<&'static str>,
    /// What shows each role.
    pub evidence: &'a [Evidence],
    /// Addresses that look like a real server's and are not taken as one, and why.
    pub disregarded: &'a [Disregarded],
    pub findings: &'a [Finding],
    pub skipped: &'a [Skipped],
    pub rules_evaluated: usize,
    pub ipvs: Option<IpvsView>,
    /// Real servers of weight 0 in the IPVS table, and what is left of them.
    pub draining: Vec<DrainingView>,
    /// What keepalived programs from its configuration against the kernel's table; `null`
    /// when no keepalived configuration was read or it has no virtual server.
    pub keepalived: Option<KeepalivedView>,
    pub collectors: Vec<CollectorView<'a>>,
}

/// keepalived's virtual servers as it programs them, each against the kernel's table.
#[derive(Debug, Serialize)]
pub struct KeepalivedView {
    /// Whether keepalived runs and the table was read (otherwise every state is unknown).
    pub known: bool,
    pub services: Vec<KeepalivedServiceView>,
}

/// One service keepalived programs (one per address and mark of a group).
#[derive(Debug, Serialize)]
pub struct KeepalivedServiceView {
    #[serde(flatten)]
    pub service: ServiceIdentity,
    pub group: String,
    pub scheduler: String,
    pub persistence_timeout: Option<u32>,
    /// The persistence netmask: an IPv4 mask in dotted form or an IPv6 prefix length.
    pub persistence_netmask: Option<String>,
    pub one_packet: bool,
    pub present: Option<bool>,
    pub quorum: u32,
    pub hysteresis: u32,
    pub quorum_up: Option<bool>,
    pub live_weight: Option<i64>,
    pub real_servers: Vec<KeepalivedRealServerView>,
    pub sorry_server: Option<KeepalivedSorryServerView>,
}

/// A configured real server: where keepalived puts it, and what the kernel has.
#[derive(Debug, Serialize)]
pub struct KeepalivedRealServerView {
    pub address: String,
    pub port: u16,
    pub forward: &'static str,
    pub weight: i32,
    /// `inhibit_on_failure`: a failed real server stays at weight 0.
    pub inhibit: bool,
    pub kernel_weight: Option<i64>,
    pub state: &'static str,
    pub checker_alive: Option<bool>,
}

/// A sorry server: where keepalived puts it, and whether it is in use.
#[derive(Debug, Serialize)]
pub struct KeepalivedSorryServerView {
    pub address: String,
    pub port: u16,
    pub forward: &'static str,
    pub inhibit: bool,
    pub active: Option<bool>,
}

/// A service's identity as the metrics label it.
#[derive(Debug, Serialize)]
pub struct ServiceIdentity {
    pub proto: String,
    pub local_address: Option<String>,
    pub local_port: Option<u16>,
    pub local_mark: Option<u32>,
    pub family: Option<&'static str>,
}

impl ServiceIdentity {
    fn of(key: &ServiceKey) -> Self {
        let (proto, local_address, local_port, local_mark) = match key {
            ServiceKey::Address {
                protocol,
                address,
                port,
            } => (
                protocol.to_string(),
                Some(address.to_string()),
                Some(*port),
                None,
            ),
            ServiceKey::FirewallMark { mark, .. } => ("FWM".to_string(), None, None, Some(*mark)),
        };
        ServiceIdentity {
            proto,
            local_address,
            local_port,
            local_mark,
            family: key.family().map(|f| f.as_str()),
        }
    }
}

fn keepalived_view(snapshot: &Snapshot) -> Option<KeepalivedView> {
    let keepalived = snapshot.keepalived.as_ref()?;
    if keepalived.config.virtual_servers.is_empty() {
        return None;
    }
    let health = keepalived_health::compare(keepalived, snapshot.ipvs.as_ref());
    let services = health
        .virtual_servers
        .iter()
        .map(|v| {
            let family = v.service.family();
            KeepalivedServiceView {
                service: ServiceIdentity::of(&v.service),
                group: v.group.clone(),
                scheduler: v.scheduler.clone(),
                persistence_timeout: v.persistence.map(|p| p.timeout_seconds),
                persistence_netmask: v.persistence.map(|p| match family {
                    Some(AddressFamily::Inet6) => p.netmask.to_string(),
                    _ => std::net::Ipv4Addr::from(p.netmask).to_string(),
                }),
                one_packet: v.one_packet,
                present: v.present,
                quorum: v.quorum,
                hysteresis: v.hysteresis,
                quorum_up: v.quorum_up,
                live_weight: v.live_weight,
                real_servers: v
                    .real_servers
                    .iter()
                    .map(|r| KeepalivedRealServerView {
                        address: r.address.to_string(),
                        port: r.port,
                        forward: r.forward.as_str(),
                        weight: r.configured_weight,
                        inhibit: r.inhibit_on_failure,
                        kernel_weight: r.kernel_weight,
                        state: r.state.as_str(),
                        checker_alive: r.checker_alive,
                    })
                    .collect(),
                sorry_server: v.sorry_server.as_ref().map(|s| KeepalivedSorryServerView {
                    address: s.address.to_string(),
                    port: s.port,
                    forward: s.forward.as_str(),
                    inhibit: s.inhibit,
                    active: s.active,
                }),
            }
        })
        .collect();
    Some(KeepalivedView {
        known: health.known,
        services,
    })
}

/// A draining real server as the JSON report shows it.
#[derive(Debug, Serialize)]
pub struct DrainingView {
    /// The service as ipvsadm writes it (`TCP 10.0.0.1:80`, `FWM 3`).
    pub service: String,
    pub address: String,
    pub port: u16,
    pub active_connections: i64,
    pub inactive_connections: i64,
    /// `null` when unknown (IPVS read from /proc).
    pub persistent_connections: Option<i64>,
    /// Rough seconds until no active connection is left; `null` when it cannot tell.
    pub estimated_seconds: Option<f64>,
    /// The estimate for people, or why there is none.
    pub estimate: String,
    pub inactive_expire_seconds: Option<u32>,
    pub templates_expire_seconds: Option<u32>,
}

impl DrainingView {
    fn of(d: &DrainingBackend) -> Self {
        DrainingView {
            service: d.service.to_string(),
            address: d.address.to_string(),
            port: d.port,
            active_connections: d.active_connections,
            inactive_connections: d.inactive_connections,
            persistent_connections: d.persistent_connections,
            estimated_seconds: d.estimate.seconds(),
            estimate: d.estimate.describe(),
            inactive_expire_seconds: d.inactive_expire_seconds,
            templates_expire_seconds: d.templates_expire_seconds,
        }
    }
}

/// The draining real servers of the snapshot's own IPVS table.
fn draining(snapshot: &Snapshot) -> Vec<DrainingBackend> {
    snapshot
        .ipvs
        .as_ref()
        .map(draining_backends)
        .unwrap_or_default()
}

#[derive(Debug, Serialize)]
pub struct IpvsView {
    pub version: Option<String>,
    pub connection_table_buckets: Option<u64>,
    pub services: Vec<ServiceView>,
}

#[derive(Debug, Serialize)]
pub struct ServiceView {
    #[serde(flatten)]
    pub service: ServiceIdentity,
    pub scheduler: String,
    pub flags: String,
    pub real_servers: Vec<RealServerView>,
}

#[derive(Debug, Serialize)]
pub struct RealServerView {
    pub address: String,
    pub port: u16,
    pub forward: &'static str,
    pub weight: i64,
    pub active_connections: i64,
    pub inactive_connections: i64,
}

#[derive(Debug, Serialize)]
pub struct CollectorView<'a> {
    pub name: &'static str,
    #[serde(flatten)]
    pub outcome: &'a Outcome,
    pub skipped_records: &'a [String],
}

impl<'a> Report<'a> {
    pub fn new(snapshot: &'a Snapshot, advice: &'a Advice) -> Self {
        Report {
            role: advice.roles.iter().map(|r| r.id()).collect(),
            evidence: &advice.evidence,
            disregarded: &advice.disregarded,
            findings: &advice.findings,
            skipped: &advice.skipped,
            rules_evaluated: advice.rules_evaluated,
            ipvs: snapshot.ipvs.as_ref().map(ipvs_view),
            draining: draining(snapshot).iter().map(DrainingView::of).collect(),
            keepalived: keepalived_view(snapshot),
            collectors: snapshot
                .collectors
                .iter()
                .map(|c| CollectorView {
                    name: c.name,
                    outcome: &c.outcome,
                    skipped_records: &c.problems,
                })
                .collect(),
        }
    }
}

fn ipvs_view(table: &IpvsTable) -> IpvsView {
    IpvsView {
        version: table.version.clone(),
        connection_table_buckets: table.connection_table_buckets,
        services: table
            .services
            .iter()
            .map(|service| ServiceView {
                service: ServiceIdentity::of(&service.key),
                scheduler: service.scheduler.clone(),
                flags: service.flags.label(&service.scheduler),
                real_servers: service
                    .backends
                    .iter()
                    .map(|b| RealServerView {
                        address: b.address.to_string(),
                        port: b.port,
                        forward: b.forward.as_str(),
                        weight: b.weight,
                        active_connections: b.active_connections,
                        inactive_connections: b.inactive_connections,
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// The report as pretty JSON, ending in a newline.
pub fn render_json(snapshot: &Snapshot, advice: &Advice) -> String {
    let report = Report::new(snapshot, advice);
    match serde_json::to_string_pretty(&report) {
        Ok(mut json) => {
            json.push('\n');
            json
        }
        // Serializing plain owned data cannot fail; say so plainly if it ever does.
        Err(err) => format!("{{\"error\": {:?}}}\n", err.to_string()),
    }
}

/// One line per piece of evidence (`DR real server: 192.0.2.10/32 on lo`), then one per
/// address set aside (`not a role: 10.0.0.1/24 on wg0 (a wireguard device)`).
pub fn evidence_lines(advice: &Advice) -> Vec<String> {
    let mut lines: Vec<String> = advice
        .evidence
        .iter()
        .map(|e| match e.strength {
            Strength::Strong => format!("{}: {}", e.role.title(), e.detail),
            Strength::Weak => format!(
                "{} (weak evidence: {}): {}",
                e.role.title(),
                e.caveat,
                e.detail
            ),
        })
        .collect();
    lines.extend(
        advice
            .disregarded
            .iter()
            .map(|d| format!("not a role: {} ({})", d.detail, d.reason)),
    );
    lines
}

/// Whether text output gets colour: stdout is a terminal and `NO_COLOR` is not set.
pub fn use_colour() -> bool {
    use std::io::IsTerminal;
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
}

fn paint(text: &str, severity: Severity, colour: bool) -> String {
    if !colour {
        return text.to_string();
    }
    let code = match severity {
        Severity::Critical => "1;31",
        Severity::Warning => "1;33",
        Severity::Info => "1;36",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

fn heading(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "CRITICAL",
        Severity::Warning => "WARNING",
        Severity::Info => "INFO",
    }
}

/// The report as text for a terminal: the host, then findings grouped by severity with
/// their fixes, then what could not be checked.
pub fn render_text(snapshot: &Snapshot, advice: &Advice, colour: bool) -> String {
    let mut out = String::new();
    let roles: Vec<&str> = advice.roles.iter().map(|r| r.title()).collect();
    let role_text = if roles.is_empty() {
        "none (no IPVS services)".to_string()
    } else {
        roles.join(", ")
    };
    let _ = writeln!(out, "Role: {role_text}");
    for line in evidence_lines(advice) {
        let _ = writeln!(out, "  {line}");
    }
    let _ = writeln!(out);

    match &snapshot.ipvs {
        None => {
            let _ = writeln!(out, "IPVS: not available on this host");
        }
        Some(table) => write_ipvs(&mut out, table),
    }
    let _ = writeln!(out);
    let drains = draining(snapshot);
    if !drains.is_empty() {
        let _ = writeln!(out, "Draining real servers (weight 0):");
        for d in &drains {
            let _ = writeln!(
                out,
                "  {} -> {}: {}",
                d.service,
                SocketText(&d.address, d.port),
                d.describe_left()
            );
        }
        let _ = writeln!(out);
    }

    if !snapshot.collectors.is_empty() {
        let _ = writeln!(out, "Collectors:");
        for report in &snapshot.collectors {
            let status = collector_status(&report.outcome);
            let _ = writeln!(out, "  {:<10} {status}", report.name);
            for problem in &report.problems {
                let _ = writeln!(out, "  {:<10} skipped {problem}", "");
            }
        }
        let _ = writeln!(out);
    }
    write_findings_text(&mut out, advice, colour);
    out
}

/// A collector's outcome in a few words, as text and Markdown print it.
fn collector_status(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Ok => "ok".to_string(),
        Outcome::NoData(reason) => format!("no data: {reason}"),
        Outcome::Failed(reason) => format!("FAILED: {reason}"),
        Outcome::TimedOut => "FAILED: timed out".to_string(),
        Outcome::StillRunning => "FAILED: previous run still in progress".to_string(),
    }
}

fn write_findings_text(out: &mut String, advice: &Advice, colour: bool) {
    if advice.findings.is_empty() {
        let _ = writeln!(
            out,
            "Findings: none ({} rules evaluated)",
            advice.rules_evaluated
        );
    } else {
        let groups = by_rule(&advice.findings);
        let _ = writeln!(
            out,
            "Findings: {} from {}: {} ({} rules evaluated, {} found nothing)",
            advice.findings.len(),
            rules_text(groups.len()),
            counts_text(&advice.findings),
            advice.rules_evaluated,
            rules_passed(advice)
        );
        for severity in Severity::ALL {
            let of_severity: Vec<&RuleGroup> =
                groups.iter().filter(|g| g.severity == severity).collect();
            if of_severity.is_empty() {
                continue;
            }
            let _ = writeln!(out);
            let _ = writeln!(out, "{}", paint(heading(severity), severity, colour));
            for group in of_severity {
                write_group_text(out, group);
            }
        }
    }
    if !advice.skipped.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "Not evaluated:");
        for skipped in &advice.skipped {
            let _ = writeln!(out, "  {}: {}", skipped.rule, skipped.reason);
        }
    }
}

/// One rule's findings as text: the rule and its text once, each subject, the fix once.
fn write_group_text(out: &mut String, group: &RuleGroup) {
    let n = group.findings.len();
    let _ = writeln!(
        out,
        "  {} ({n} finding{})",
        group.rule_id,
        if n == 1 { "" } else { "s" }
    );
    if let Some(rule) = group.rule {
        let _ = writeln!(out, "    checks: {}", rule.what);
        let _ = writeln!(out, "    why: {}", rule.why);
    }
    for finding in &group.findings {
        let milder = if finding.severity == group.severity {
            String::new()
        } else {
            format!("({}) ", finding.severity.as_str())
        };
        let _ = writeln!(out, "    - {milder}{}", finding.summary);
        let _ = writeln!(
            out,
            "      {}: {} (expected {})",
            finding.subject, finding.observed, finding.expected
        );
    }
    for fix in &group.fixes {
        if group.fixes.len() == 1 {
            let _ = writeln!(out, "    fix: {}", fix.fix);
        } else {
            let _ = writeln!(out, "    fix for {}: {}", fix.subjects.join(", "), fix.fix);
        }
    }
}

/// The report as Markdown, for tickets and chat.
pub fn render_markdown(snapshot: &Snapshot, advice: &Advice) -> String {
    let mut out = String::from("# ipvs_exporter doctor\n\n");
    let roles: Vec<&str> = advice.roles.iter().map(|r| r.title()).collect();
    let _ = writeln!(
        out,
        "**Role:** {}\n",
        if roles.is_empty() {
            "none".to_string()
        } else {
            roles.join(", ")
        }
    );
    let lines = evidence_lines(advice);
    for line in &lines {
        let _ = writeln!(out, "- {}", line.replace('|', "\\|"));
    }
    if !lines.is_empty() {
        let _ = writeln!(out);
    }
    match &snapshot.ipvs {
        None => {
            let _ = writeln!(out, "**IPVS:** not available on this host\n");
        }
        Some(table) => write_ipvs_markdown(&mut out, table),
    }
    write_drains_markdown(&mut out, snapshot);
    write_collectors_markdown(&mut out, snapshot);
    write_findings_markdown(&mut out, advice);
    out
}

/// The real servers left to drain (weight 0), as a Markdown list; nothing when none is.
fn write_drains_markdown(out: &mut String, snapshot: &Snapshot) {
    let drains = draining(snapshot);
    if !drains.is_empty() {
        let _ = writeln!(out, "## Draining real servers (weight 0)\n");
        for d in &drains {
            let _ = writeln!(
                out,
                "- `{} -> {}`: {}",
                d.service,
                SocketText(&d.address, d.port),
                d.describe_left().replace('|', "\\|")
            );
        }
        let _ = writeln!(out);
    }
}

/// Each collector's status, and what it skipped, as a Markdown table.
fn write_collectors_markdown(out: &mut String, snapshot: &Snapshot) {
    if !snapshot.collectors.is_empty() {
        let _ = writeln!(out, "## Collectors\n");
        let _ = writeln!(out, "| collector | status |");
        let _ = writeln!(out, "|---|---|");
        for report in &snapshot.collectors {
            let _ = writeln!(
                out,
                "| `{}` | {} |",
                report.name,
                markdown_cell(&collector_status(&report.outcome))
            );
            for problem in &report.problems {
                let _ = writeln!(out, "| | skipped {} |", markdown_cell(problem));
            }
        }
        let _ = writeln!(out);
    }
}

/// The findings grouped by rule, then the rules that could not be evaluated, in Markdown.
fn write_findings_markdown(out: &mut String, advice: &Advice) {
    let _ = writeln!(
        out,
        "## Findings ({} rules evaluated)\n",
        advice.rules_evaluated
    );
    if advice.findings.is_empty() {
        let _ = writeln!(out, "None.\n");
    } else {
        let groups = by_rule(&advice.findings);
        let _ = writeln!(
            out,
            "**{}** from {}; {} found nothing.\n",
            counts_text(&advice.findings),
            rules_text(groups.len()),
            rules_text(rules_passed(advice))
        );
        for group in &groups {
            write_group_markdown(out, group);
        }
    }
    if !advice.skipped.is_empty() {
        let _ = writeln!(out, "## Not evaluated\n");
        for s in &advice.skipped {
            let _ = writeln!(out, "- `{}`: {}", s.rule, s.reason);
        }
    }
}

/// One rule's findings as Markdown: a heading, the rule's text, a table of the subjects, and
/// the fix once.
fn write_group_markdown(out: &mut String, group: &RuleGroup) {
    let _ = writeln!(
        out,
        "### {}: `{}`\n",
        group.severity.as_str(),
        group.rule_id
    );
    if let Some(rule) = group.rule {
        let _ = writeln!(out, "**Checks:** {}\n", rule.what);
        let _ = writeln!(out, "**Why:** {}\n", rule.why);
    }
    let _ = writeln!(
        out,
        "| severity | subject | observed | expected | summary |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|");
    for f in &group.findings {
        let _ = writeln!(
            out,
            "| {} | `{}` | {} | {} | {} |",
            f.severity.as_str(),
            markdown_cell(&f.subject),
            markdown_cell(&f.observed),
            markdown_cell(&f.expected),
            markdown_cell(&f.summary)
        );
    }
    let _ = writeln!(out);
    for fix in &group.fixes {
        if group.fixes.len() == 1 {
            let _ = writeln!(out, "**Fix:** {}\n", fix.fix);
        } else {
            let subjects: Vec<String> = fix.subjects.iter().map(|s| format!("`{s}`")).collect();
            let _ = writeln!(out, "**Fix for {}:** {}\n", subjects.join(", "), fix.fix);
        }
    }
}

/// Text for a Markdown table cell: one line, `|` escaped.
fn markdown_cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// The IPVS table as Markdown: the summary line the text report has, then one row per real
/// server (one for a service without any).
fn write_ipvs_markdown(out: &mut String, table: &IpvsTable) {
    let real_servers: usize = table.services.iter().map(|s| s.backends.len()).sum();
    let version = table.version.as_deref().unwrap_or("unknown");
    let buckets = table
        .connection_table_buckets
        .map(|b| format!(", connection table {b} buckets"))
        .unwrap_or_default();
    let _ = writeln!(out, "## IPVS\n");
    let _ = writeln!(
        out,
        "IPVS {}{buckets}: {} services, {real_servers} real servers\n",
        markdown_cell(version),
        table.services.len()
    );
    if table.services.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "| service | scheduler | flags | real server | forward | weight | active | inactive |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
    for service in &table.services {
        let flags = service.flags.label(&service.scheduler);
        let head = format!(
            "| `{}` | {} | {} |",
            markdown_cell(&service.key.to_string()),
            markdown_cell(&service.scheduler),
            markdown_cell(&flags)
        );
        if service.backends.is_empty() {
            let _ = writeln!(out, "{head} (no real servers) | | | | |");
        }
        for b in &service.backends {
            let _ = writeln!(
                out,
                "{head} `{}` | {} | {} | {} | {} |",
                SocketText(&b.address, b.port),
                b.forward.as_str(),
                b.weight,
                b.active_connections,
                b.inactive_connections
            );
        }
    }
    let _ = writeln!(out);
}

/// A rule's full text, for `doctor --explain`.
pub fn explain(rule: &Rule) -> String {
    format!(
        "{id} ({severity}; applies to: {applies})\n\nWhat: {what}\n\nWhy: {why}\n\n\
         Severity: {severity_why}\n\nFix: {fix}\n",
        id = rule.id,
        severity = rule.severity.as_str(),
        applies = rule.applies_text(),
        what = rule.what,
        why = rule.why,
        severity_why = rule.severity_why,
        fix = rule.fix
    )
}

/// A rule's full text as JSON sees it (`doctor --explain RULE --format json`).
#[derive(Debug, Serialize)]
pub struct RuleView {
    pub id: &'static str,
    pub severity: Severity,
    pub applies_to: String,
    pub what: &'static str,
    pub why: &'static str,
    pub severity_why: &'static str,
    pub fix: &'static str,
}

impl RuleView {
    pub fn of(rule: &Rule) -> RuleView {
        RuleView {
            id: rule.id,
            severity: rule.severity,
            applies_to: rule.applies_text(),
            what: rule.what,
            why: rule.why,
            severity_why: rule.severity_why,
            fix: rule.fix,
        }
    }
}

/// A rule's full text as one JSON object.
pub fn explain_json(rule: &Rule) -> String {
    let mut out = serde_json::to_string_pretty(&RuleView::of(rule)).unwrap_or_default();
    out.push('\n');
    out
}

/// Every rule in one line each, id, severity and what it checks (`doctor --explain`).
pub fn rule_list(rules: &[&Rule]) -> String {
    rule_lines(rules.iter().map(|r| (r.id, r.severity, r.what)))
}

/// One line per rule, `(id, severity, what it checks)`, the ids padded to the longest (the
/// lists of `doctor --explain` and `fleet --explain`).
pub fn rule_lines<'a>(rules: impl Iterator<Item = (&'a str, Severity, &'a str)> + Clone) -> String {
    let width = rules.clone().map(|(id, _, _)| id.len()).max().unwrap_or(0);
    let mut out = String::new();
    for (id, severity, what) in rules {
        let _ = writeln!(out, "{id:<width$}  {:<8}  {what}", severity.as_str());
    }
    out
}

/// Every rule's full text as a JSON array.
pub fn rule_list_json(rules: &[&Rule]) -> String {
    let views: Vec<RuleView> = rules.iter().map(|rule| RuleView::of(rule)).collect();
    let mut out = serde_json::to_string_pretty(&views).unwrap_or_default();
    out.push('\n');
    out
}

/// A sysctl.d file that sets what the sysctl findings ask for (`doctor --emit-sysctl`).
pub fn render_sysctl_file(advice: &Advice) -> String {
    let mut out = format!(
        "# Written by ipvs_exporter doctor --emit-sysctl. Review it, then install it as\n\
         # {} and load it with `sysctl --system`.\n",
        crate::advisor::rules::SYSCTL_FILE
    );
    let mut seen = std::collections::BTreeSet::new();
    for finding in &advice.findings {
        if let Some((key, value)) = &finding.sysctl
            && seen.insert(key.clone())
        {
            let _ = writeln!(out, "# {} [{}]", finding.summary, finding.rule);
            let _ = writeln!(out, "{key} = {value}");
        }
    }
    if seen.is_empty() {
        out.push_str("# No sysctl finding: nothing to set.\n");
    }
    out
}

fn write_ipvs(out: &mut String, table: &IpvsTable) {
    let real_servers: usize = table.services.iter().map(|s| s.backends.len()).sum();
    let version = table.version.as_deref().unwrap_or("unknown");
    let buckets = table
        .connection_table_buckets
        .map(|b| format!(", connection table {b} buckets"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "IPVS {version}{buckets}: {} services, {real_servers} real servers",
        table.services.len()
    );
    for service in &table.services {
        let flags = service.flags.label(&service.scheduler);
        let flags = if flags.is_empty() {
            String::new()
        } else {
            format!(" [{flags}]")
        };
        let _ = writeln!(
            out,
            "  {}  scheduler {}{flags}",
            service.key, service.scheduler
        );
        if service.backends.is_empty() {
            let _ = writeln!(out, "    (no real servers)");
        }
        for b in &service.backends {
            let _ = writeln!(
                out,
                "    -> {:<28} {:<6} weight {:<5} active {:<6} inactive {}",
                SocketText(&b.address, b.port).to_string(),
                b.forward.as_str(),
                b.weight,
                b.active_connections,
                b.inactive_connections
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advisor::{Role, Strength};

    fn advice() -> Advice {
        Advice {
            roles: vec![Role::DrRealServer],
            evidence: vec![
                Evidence {
                    role: Role::DrRealServer,
                    strength: Strength::Strong,
                    detail: "192.0.2.10/32 on lo".into(),
                    caveat: String::new(),
                },
                Evidence {
                    role: Role::DrRealServer,
                    strength: Strength::Weak,
                    detail: "192.0.2.0/24 on lo".into(),
                    caveat: "a whole prefix, not a single address (/32)".into(),
                },
            ],
            disregarded: vec![Disregarded {
                detail: "10.7.2.1/24 on wg0".into(),
                reason: "a wireguard device".into(),
            }],
            ..Advice::default()
        }
    }

    #[test]
    fn every_format_prints_the_evidence_for_each_role() {
        let snapshot = Snapshot::default();
        let advice = advice();
        let lines = [
            "DR real server: 192.0.2.10/32 on lo",
            "DR real server (weak evidence: a whole prefix, not a single address (/32)): \
             192.0.2.0/24 on lo",
            "not a role: 10.7.2.1/24 on wg0 (a wireguard device)",
        ];
        assert_eq!(evidence_lines(&advice), lines);
        let text = render_text(&snapshot, &advice, false);
        let markdown = render_markdown(&snapshot, &advice);
        let html = render_html(&snapshot, &advice);
        for line in lines {
            assert!(text.contains(&format!("\n  {line}\n")), "text: {text}");
            assert!(
                markdown.contains(&format!("- {line}\n")),
                "markdown: {markdown}"
            );
            assert!(
                html.contains(&format!("<li>{}</li>", html::escape(line))),
                "html: {html}"
            );
        }
        let json: serde_json::Value =
            serde_json::from_str(&render_json(&snapshot, &advice)).unwrap_or_default();
        assert_eq!(json["evidence"][1]["strength"], "weak");
        assert_eq!(json["evidence"][0].get("caveat"), None);
        assert_eq!(json["disregarded"][0]["reason"], "a wireguard device");
    }

    #[test]
    fn every_format_lists_draining_real_servers_with_what_is_left() {
        use crate::model::{Backend, ForwardMethod, IpvsSource, Protocol, Service};
        let key = ServiceKey::Address {
            protocol: Protocol::Tcp,
            address: "10.0.0.1"
                .parse()
                .unwrap_or(std::net::Ipv4Addr::LOCALHOST.into()),
            port: 80,
        };
        let backend = |last: u8, weight: i64, active: i64| Backend {
            weight,
            active_connections: active,
            inactive_connections: 2,
            ..Backend::new([10, 1, 0, last].into(), 80, ForwardMethod::Masq)
        };
        let snapshot = Snapshot {
            ipvs: Some(IpvsTable {
                source: IpvsSource::Procfs,
                services: vec![Service {
                    backends: vec![backend(1, 0, 3), backend(2, 1, 9)],
                    ..Service::new(key, "wlc")
                }],
                ..IpvsTable::default()
            }),
            ..Snapshot::default()
        };
        let advice = Advice::default();
        let left = "active 3, inactive 2, templates unknown; no estimate of when no active \
                    connections are left (needs two scrapes or more)";
        let text = render_text(&snapshot, &advice, false);
        assert!(
            text.contains(&format!(
                "Draining real servers (weight 0):\n  TCP 10.0.0.1:80 -> 10.1.0.1:80: {left}\n"
            )),
            "{text}"
        );
        assert!(
            !text.contains("-> 10.1.0.2:80:"),
            "weight 1 is not draining: {text}"
        );
        let markdown = render_markdown(&snapshot, &advice);
        assert!(
            markdown.contains(&format!("- `TCP 10.0.0.1:80 -> 10.1.0.1:80`: {left}\n")),
            "{markdown}"
        );
        let html = render_html(&snapshot, &advice);
        assert!(
            html.contains("<table id=\"draining\" class=\"plain\">"),
            "{html}"
        );
        assert!(
            html.contains(
                "<td><code>10.1.0.1:80</code></td><td class=\"num\">3</td>\
                 <td class=\"num\">2</td><td class=\"num\">unknown</td>"
            ),
            "{html}"
        );
        let json: serde_json::Value =
            serde_json::from_str(&render_json(&snapshot, &advice)).unwrap_or_default();
        let draining = &json["draining"];
        assert_eq!(draining.as_array().map(Vec::len), Some(1), "{json}");
        assert_eq!(draining[0]["service"], "TCP 10.0.0.1:80");
        assert_eq!(draining[0]["address"], "10.1.0.1");
        assert_eq!(draining[0]["active_connections"], 3);
        assert_eq!(
            draining[0]["persistent_connections"],
            serde_json::Value::Null
        );
        assert_eq!(draining[0]["estimated_seconds"], serde_json::Value::Null);
        // Nothing draining: no section.
        let empty = render_text(&Snapshot::default(), &advice, false);
        assert!(!empty.contains("Draining"));
    }

    #[test]
    fn markdown_carries_the_collectors_and_the_service_table_of_the_text() {
        use crate::model::snapshot::CollectorReport;
        use crate::model::{Backend, ForwardMethod, IpvsSource, Protocol, Service};
        let key = |port: u16| ServiceKey::Address {
            protocol: Protocol::Tcp,
            address: std::net::Ipv4Addr::new(10, 0, 0, 1).into(),
            port,
        };
        let backend = Backend {
            weight: 5,
            active_connections: 7,
            inactive_connections: 2,
            ..Backend::new([10, 1, 0, 9].into(), 8080, ForwardMethod::Route)
        };
        let report = |name, outcome, problems: Vec<String>| CollectorReport {
            name,
            outcome,
            duration: std::time::Duration::ZERO,
            problems,
        };
        let snapshot = Snapshot {
            ipvs: Some(IpvsTable {
                source: IpvsSource::Procfs,
                services: vec![
                    Service {
                        backends: vec![backend],
                        ..Service::new(key(80), "wlc")
                    },
                    Service::new(key(443), "rr"),
                ],
                ..IpvsTable::default()
            }),
            collectors: vec![
                report("ipvs", Outcome::Ok, vec!["line 3: odd | line".into()]),
                report("conntrack", Outcome::NoData("no module".into()), vec![]),
                report("softnet", Outcome::TimedOut, vec![]),
            ],
            ..Snapshot::default()
        };
        let advice = Advice::default();
        let text = render_text(&snapshot, &advice, false);
        let markdown = render_markdown(&snapshot, &advice);
        // What the text says, the Markdown says too.
        for said in [
            "ipvs       ok",
            "conntrack  no data: no module",
            "softnet    FAILED: timed out",
            "-> 10.1.0.9:8080",
            "(no real servers)",
        ] {
            assert!(text.contains(said), "text: {text}");
        }
        for row in [
            "| `ipvs` | ok |",
            "| | skipped line 3: odd \\| line |",
            "| `conntrack` | no data: no module |",
            "| `softnet` | FAILED: timed out |",
            "| `TCP 10.0.0.1:80` | wlc |  | `10.1.0.9:8080` | route | 5 | 7 | 2 |",
            "| `TCP 10.0.0.1:443` | rr |  | (no real servers) | | | | |",
        ] {
            assert!(markdown.contains(row), "{row} in:\n{markdown}");
        }
        assert!(
            markdown.contains(": 2 services, 1 real servers\n"),
            "{markdown}"
        );
        for heading in ["\n## IPVS\n", "\n## Collectors\n"] {
            assert!(markdown.contains(heading), "{heading} in {markdown}");
        }
        // Every table row has as many cells as its header.
        for line in markdown.lines().filter(|l| l.starts_with("| `TCP")) {
            assert_eq!(line.replace("\\|", "").matches('|').count(), 9, "{line}");
        }
    }

    /// Three services without weight (one fix) and two interfaces answering ARP (a fix each).
    fn grouped_advice() -> Advice {
        let rule = |id| rules::find(id).unwrap_or_else(|| panic!("no rule {id}"));
        let mut findings: Vec<Finding> = [8081, 8082, 8083]
            .iter()
            .map(|port| {
                rule("service-without-weight").finding(
                    format!("TCP 10.0.0.1:{port}"),
                    "real servers: 1, none of weight above 0",
                    "at least one real server of weight above 0",
                    format!("TCP 10.0.0.1:{port} cannot take new connections"),
                )
            })
            .collect();
        for device in ["eth0", "eth1"] {
            findings.push(rule("rs-arp-ignore").sysctl_finding(
                &format!("net.ipv4.conf.{device}.arp_ignore"),
                "0",
                "1",
                format!("{device} would answer ARP"),
            ));
        }
        Advice {
            findings,
            rules_evaluated: 10,
            ..Advice::default()
        }
    }

    #[test]
    fn findings_are_grouped_by_rule_most_severe_first() {
        let mut advice = grouped_advice();
        let nodest = rules::find("ipvs-expire-nodest-conn")
            .map(|r| r.sysctl_finding("net.ipv4.vs.expire_nodest_conn", "0", "1", "linger".into()));
        advice
            .findings
            .insert(0, nodest.unwrap_or_else(|| panic!("rule")));
        let groups = by_rule(&advice.findings);
        let ids: Vec<&str> = groups.iter().map(|g| g.rule_id).collect();
        assert_eq!(
            ids,
            [
                "rs-arp-ignore",
                "service-without-weight",
                "ipvs-expire-nodest-conn"
            ]
        );
        let without_weight = &groups[1];
        assert_eq!(without_weight.findings.len(), 3);
        assert_eq!(without_weight.fixes.len(), 1);
        assert_eq!(
            without_weight.fixes[0].subjects,
            [
                "TCP 10.0.0.1:8081",
                "TCP 10.0.0.1:8082",
                "TCP 10.0.0.1:8083"
            ]
        );
        assert_eq!(groups[0].fixes.len(), 2, "one fix per interface");
        assert_eq!(groups[2].severity, Severity::Warning);
        assert_eq!(rules_passed(&advice), 7);
        assert_eq!(
            severity_counts(&advice.findings),
            [
                (Severity::Critical, 5),
                (Severity::Warning, 1),
                (Severity::Info, 0)
            ]
        );
    }

    #[test]
    fn text_and_markdown_give_each_rule_and_fix_once() {
        let advice = grouped_advice();
        let snapshot = Snapshot::default();
        let text = render_text(&snapshot, &advice, false);
        let markdown = render_markdown(&snapshot, &advice);
        let without_weight =
            rules::find("service-without-weight").unwrap_or_else(|| panic!("rule"));
        for (name, out) in [("text", &text), ("markdown", &markdown)] {
            assert_eq!(out.matches(without_weight.fix).count(), 1, "{name}: {out}");
            assert_eq!(out.matches(without_weight.why).count(), 1, "{name}: {out}");
            assert_eq!(out.matches(without_weight.what).count(), 1, "{name}: {out}");
            for port in [8081, 8082, 8083] {
                assert_eq!(
                    out.matches(&format!("TCP 10.0.0.1:{port} cannot take new connections"))
                        .count(),
                    1,
                    "{name}: {out}"
                );
            }
            for device in ["eth0", "eth1"] {
                let fix = rules::sysctl_fix(&format!("net.ipv4.conf.{device}.arp_ignore"), "1");
                assert_eq!(out.matches(&fix).count(), 1, "{name}: {fix} in {out}");
            }
        }
        assert!(
            text.contains(
                "Findings: 5 from 2 rules: 5 critical, 0 warning, 0 info \
                 (10 rules evaluated, 8 found nothing)\n"
            ),
            "{text}"
        );
        assert!(text.contains("\n  service-without-weight (3 findings)\n    checks: "));
        assert!(text.contains("\n    fix for net.ipv4.conf.eth0.arp_ignore: sysctl -w"));
        assert!(
            markdown.contains(
                "**5 critical, 0 warning, 0 info** from 2 rules; 8 rules found nothing.\n"
            )
        );
        assert!(markdown.contains("\n### critical: `service-without-weight`\n"));
        assert!(markdown.contains("**Fix for `net.ipv4.conf.eth1.arp_ignore`:** sysctl -w"));
        assert_eq!(
            markdown.matches("| critical | `TCP 10.0.0.1:808").count(),
            3
        );
    }
}
