//! The fleet report as text (a terminal), JSON (scripts) and Markdown (tickets), and the
//! fleet rules' text for `fleet --explain`, laid out as doctor's.

use std::fmt::Write as _;

use serde::Serialize;

use super::analyse::{FleetAnalysis, FleetFinding, HostStatus};
use super::rules::{APPLIES_TO, FLEET_RULES, FleetRule};
use crate::advisor::Severity;

/// Where the analysis came from, and how many queries it took.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Provenance {
    /// The query API's base URL.
    pub prometheus: String,
    /// The label matchers every query carried.
    pub selector: String,
    /// The evaluation time, RFC 3339 (none when no query returned a sample).
    pub time: Option<String>,
    /// The number of queries sent (a fixed number, whatever the fleet's size).
    pub queries: usize,
    /// What the server said about its answers (a partial response, for one).
    pub warnings: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Summary {
    hosts: usize,
    up: usize,
    down: usize,
    stale: usize,
    critical: usize,
    warning: usize,
    info: usize,
}

fn summary(analysis: &FleetAnalysis) -> Summary {
    let status = |s: HostStatus| analysis.hosts.iter().filter(|h| h.status == s).count();
    let severity = |s: Severity| analysis.findings.iter().filter(|f| f.severity == s).count();
    Summary {
        hosts: analysis.hosts.len(),
        up: status(HostStatus::Up),
        down: status(HostStatus::Down),
        stale: status(HostStatus::Stale),
        critical: severity(Severity::Critical),
        warning: severity(Severity::Warning),
        info: severity(Severity::Info),
    }
}

#[derive(Serialize)]
struct JsonReport<'a> {
    prometheus: &'a str,
    selector: &'a str,
    time: Option<&'a str>,
    queries: usize,
    warnings: &'a [String],
    summary: Summary,
    #[serde(flatten)]
    analysis: &'a FleetAnalysis,
}

/// The report as one JSON object.
pub fn render_json(provenance: &Provenance, analysis: &FleetAnalysis) -> String {
    let report = JsonReport {
        prometheus: &provenance.prometheus,
        selector: &provenance.selector,
        time: provenance.time.as_deref(),
        queries: provenance.queries,
        warnings: &provenance.warnings,
        summary: summary(analysis),
        analysis,
    };
    let mut out = serde_json::to_string_pretty(&report).unwrap_or_default();
    out.push('\n');
    out
}

fn heading(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "CRITICAL",
        Severity::Warning => "WARNING",
        Severity::Info => "INFO",
    }
}

fn header_line(provenance: &Provenance, analysis: &FleetAnalysis) -> String {
    let s = summary(analysis);
    format!(
        "{} hosts ({} up, {} down, {} stale) from {} {{{}}} at {}; {} queries",
        s.hosts,
        s.up,
        s.down,
        s.stale,
        provenance.prometheus,
        provenance.selector,
        provenance.time.as_deref().unwrap_or("the server's now"),
        provenance.queries
    )
}

fn severities(analysis: &FleetAnalysis) -> impl Iterator<Item = (Severity, Vec<&FleetFinding>)> {
    Severity::ALL.into_iter().filter_map(|severity| {
        let group: Vec<&FleetFinding> = analysis
            .findings
            .iter()
            .filter(|f| f.severity == severity)
            .collect();
        (!group.is_empty()).then_some((severity, group))
    })
}

/// The report as text for a terminal.
pub fn render_text(provenance: &Provenance, analysis: &FleetAnalysis) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Fleet: {}", header_line(provenance, analysis));
    for warning in &provenance.warnings {
        let _ = writeln!(out, "  the server warns: {warning}");
    }
    let _ = writeln!(out);
    if !analysis.vrrp_groups.is_empty() {
        let _ = writeln!(out, "VRRP groups:");
        for group in &analysis.vrrp_groups {
            let members: Vec<String> = group
                .members
                .iter()
                .map(|m| {
                    let priority = m.priority.map(|p| format!(" {p}")).unwrap_or_default();
                    let seen = if m.seen { "" } else { " (not seen)" };
                    format!("{} {}{priority}{seen}", m.host, m.state)
                })
                .collect();
            let _ = writeln!(out, "  {}: {}", group.name, members.join(", "));
            if !group.heard_advertising.is_empty() {
                let _ = writeln!(
                    out,
                    "    heard advertising: {}",
                    group.heard_advertising.join(", ")
                );
            }
        }
        let _ = writeln!(out);
    }
    if !analysis.director_sets.is_empty() {
        let _ = writeln!(out, "Directors compared:");
        for set in &analysis.director_sets {
            let _ = writeln!(out, "  {}", set.join(", "));
        }
        let _ = writeln!(out);
    }
    if analysis.findings.is_empty() {
        let _ = writeln!(out, "Findings: none");
        return out;
    }
    let _ = writeln!(out, "Findings: {}", analysis.findings.len());
    for (severity, group) in severities(analysis) {
        let _ = writeln!(out);
        let _ = writeln!(out, "{}", heading(severity));
        for finding in group {
            let _ = writeln!(
                out,
                "  {}: {} [{}]",
                finding.subject, finding.summary, finding.rule
            );
            let _ = writeln!(out, "    hosts: {}", finding.hosts.join(", "));
            for detail in &finding.details {
                let _ = writeln!(out, "    {detail}");
            }
            let _ = writeln!(out, "    fix: {}", finding.fix);
        }
    }
    out
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// The report as Markdown, for tickets and chat.
pub fn render_markdown(provenance: &Provenance, analysis: &FleetAnalysis) -> String {
    let mut out = String::from("# ipvs_exporter fleet\n\n");
    let _ = writeln!(out, "{}\n", cell(&header_line(provenance, analysis)));
    for warning in &provenance.warnings {
        let _ = writeln!(out, "- the server warns: {}", cell(warning));
    }
    if !analysis.vrrp_groups.is_empty() {
        let _ = writeln!(out, "## VRRP groups\n");
        let _ = writeln!(out, "| group | host | instance | state | priority | seen |");
        let _ = writeln!(out, "|---|---|---|---|---|---|");
        for group in &analysis.vrrp_groups {
            for m in &group.members {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {} |",
                    cell(&group.name),
                    cell(&m.host),
                    cell(&m.vrrp_instance),
                    cell(&m.state),
                    m.priority.map(|p| p.to_string()).unwrap_or_default(),
                    if m.seen { "yes" } else { "no" }
                );
            }
        }
        let _ = writeln!(out);
    }
    if analysis.findings.is_empty() {
        let _ = writeln!(out, "## Findings\n\nNone.");
        return out;
    }
    let _ = writeln!(out, "## Findings\n");
    for (severity, group) in severities(analysis) {
        let _ = writeln!(out, "### {}\n", heading(severity));
        for finding in group {
            let _ = writeln!(
                out,
                "- **{}**: {} (`{}`; hosts: {})",
                cell(&finding.subject),
                cell(&finding.summary),
                finding.rule,
                cell(&finding.hosts.join(", "))
            );
            for detail in &finding.details {
                let _ = writeln!(out, "  - {}", cell(detail));
            }
            let _ = writeln!(out, "  - fix: {}", cell(&finding.fix));
        }
        let _ = writeln!(out);
    }
    out
}

/// A fleet rule's full text, as doctor prints an advisor rule's.
pub fn explain(rule: &FleetRule) -> String {
    format!(
        "{id} ({severity}; applies to: {APPLIES_TO})\n\nWhat: {what}\n\nWhy: {why}\n\n\
         Severity: {severity_why}\n\nFix: {fix}\n",
        id = rule.id,
        severity = rule.severity.as_str(),
        what = rule.what,
        why = rule.why,
        severity_why = rule.severity_why,
        fix = rule.fix
    )
}

#[derive(Serialize)]
struct RuleView {
    id: &'static str,
    severity: Severity,
    applies_to: &'static str,
    what: &'static str,
    why: &'static str,
    severity_why: &'static str,
    fix: &'static str,
}

impl RuleView {
    fn of(rule: &FleetRule) -> RuleView {
        RuleView {
            id: rule.id,
            severity: rule.severity,
            applies_to: APPLIES_TO,
            what: rule.what,
            why: rule.why,
            severity_why: rule.severity_why,
            fix: rule.fix,
        }
    }
}

/// A fleet rule's full text as one JSON object, with the fields doctor's has.
pub fn explain_json(rule: &FleetRule) -> String {
    let mut out = serde_json::to_string_pretty(&RuleView::of(rule)).unwrap_or_default();
    out.push('\n');
    out
}

/// Every fleet rule in one line each (then, as doctor lists them, the advisor's rules, whose
/// findings fleet groups by host).
pub fn rule_list() -> String {
    let mut out = crate::report::rule_lines(FLEET_RULES.iter().map(|r| (r.id, r.severity, r.what)));
    let _ = writeln!(
        out,
        "\nEvery host's advisor findings are grouped by their rule (ipvs_exporter doctor --explain lists them):"
    );
    out.push_str(&crate::report::rule_list(crate::advisor::rules::RULES));
    out
}

/// Every fleet rule's full text as a JSON array.
pub fn rule_list_json() -> String {
    let views: Vec<RuleView> = FLEET_RULES.iter().map(|rule| RuleView::of(rule)).collect();
    let mut out = serde_json::to_string_pretty(&views).unwrap_or_default();
    out.push('\n');
    out
}

/// What `fleet --explain [RULE]` prints: a fleet rule's text, else an advisor rule's (fleet
/// reports hosts' advisor findings under their rule's id); without RULE, the list.
pub fn explain_any(
    id: Option<&str>,
    format: crate::report::DoctorFormat,
) -> Result<String, UnknownRule> {
    use crate::report::DoctorFormat;
    let json = format == DoctorFormat::Json;
    let Some(id) = id else {
        return Ok(if json { rule_list_json() } else { rule_list() });
    };
    if let Some(rule) = super::rules::find(id) {
        return Ok(if json {
            explain_json(rule)
        } else {
            explain(rule)
        });
    }
    if let Some(rule) = crate::advisor::rules::find(id) {
        return Ok(if json {
            crate::report::explain_json(rule)
        } else {
            crate::report::explain(rule)
        });
    }
    Err(UnknownRule(id.to_string()))
}

/// `--explain` named no rule.
#[derive(Debug, thiserror::Error)]
#[error("no rule {0:?}; `ipvs_exporter fleet --explain` lists them")]
pub struct UnknownRule(pub String);

/// Unix seconds as RFC 3339 (UTC), to the millisecond.
pub fn rfc3339(unix_seconds: f64) -> Option<String> {
    if !unix_seconds.is_finite() {
        return None;
    }
    // within i128 for any finite time the API can send back; a time out of range is refused
    #[allow(clippy::cast_possible_truncation)]
    let nanos = (unix_seconds * 1e3).round() as i128 * 1_000_000;
    let time = time::OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()?;
    time.format(&time::format_description::well_known::Rfc3339)
        .ok()
}
