//! The report as one self-contained web page (`/report` for browsers): a summary of the
//! findings by severity, the findings grouped by rule (the rule's text and fix once, then its
//! subjects), the rules not evaluated grouped by reason, the collectors' status, and the IPVS
//! services with each real server's weight and connections drawn as bars. Inline CSS only: no
//! script, font or other asset, so it reads the same saved to a file, offline or printed. Pure.

use std::fmt::Write as _;

use crate::advisor::{Advice, Finding, Severity};
use crate::model::drain::whole_duration;
use crate::model::snapshot::{Outcome, Snapshot};
use crate::model::{Backend, IpvsTable, Service, SocketText};

use super::{RuleGroup, by_rule, draining, evidence_lines, rules_passed, severity_counts};

/// Text made safe for HTML element content and quoted attribute values.
pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// Escaped text in which each pair of backticks becomes `<code>` (as the rules write
/// commands and file lines); an unpaired backtick stays as it is.
fn escape_with_code(text: &str) -> String {
    let parts: Vec<&str> = text.split('`').collect();
    if parts.len().is_multiple_of(2) {
        return escape(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for (i, part) in parts.iter().enumerate() {
        if !i.is_multiple_of(2) {
            let _ = write!(out, "<code>{}</code>", escape(part));
        } else {
            out.push_str(&escape(part));
        }
    }
    out
}

const STYLE: &str = "\
:root{--critical:#c62828;--warning:#b45f06;--info:#1565c0;--ok:#2e7d32;--skipped:#6b7785;\
--ink:#1f2328;--muted:#5d6876;--line:#d8dee4;--soft:#f4f6f8;--weight:#3a76c4;\
--active:#2e8b57;--inactive:#9fd3b4}\
*{box-sizing:border-box}\
html{-webkit-text-size-adjust:100%}\
body{margin:0;color:var(--ink);background:#fff;\
font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial,sans-serif}\
main{max-width:76rem;margin:0 auto;padding:1.25rem 1.5rem 3rem}\
h1{font-size:1.45rem;margin:0 0 .2rem}\
h2{font-size:1.1rem;margin:2rem 0 .7rem;padding-bottom:.3rem;border-bottom:1px solid var(--line)}\
h3{font-size:1rem;margin:0}\
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,'DejaVu Sans Mono',monospace;\
font-size:.88em;overflow-wrap:anywhere}\
p{margin:.35rem 0}\
.muted,.evidence{color:var(--muted)}\
.evidence{margin:.3rem 0 0;padding-left:1.2rem;font-size:.9em}\
.critical{--c:var(--critical)}.warning{--c:var(--warning)}.info{--c:var(--info)}\
.ok{--c:var(--ok)}.skipped{--c:var(--skipped)}\
.summary{display:grid;grid-template-columns:repeat(auto-fit,minmax(8.5rem,1fr));gap:.6rem;\
margin:1rem 0 0}\
.count{border:1px solid var(--line);border-top:.3rem solid var(--c);border-radius:.4rem;\
padding:.45rem .75rem .55rem}\
.count .n{display:block;font-size:1.9rem;font-weight:700;line-height:1.15;color:var(--c)}\
.count.zero{border-top-color:var(--line)}.count.zero .n{color:#a3acb7}\
.count .label{font-weight:600}.count small{display:block;color:var(--muted)}\
.verdict{margin:.9rem 0 0;padding:.55rem .8rem;border-radius:.4rem;background:var(--soft);\
border-left:.3rem solid var(--c);font-weight:600}\
.badge{display:inline-block;background:var(--c);color:#fff;border-radius:.25rem;\
padding:.05rem .45rem;font-size:.72rem;font-weight:700;letter-spacing:.04em;\
text-transform:uppercase;vertical-align:.1em}\
.rule{border:1px solid var(--line);border-left:.35rem solid var(--c);border-radius:.4rem;\
padding:.7rem 1rem .8rem;margin:0 0 .9rem;break-inside:avoid}\
.rule h3 code{font-size:1em}.rule .n-subjects{color:var(--muted);font-weight:400}\
.checks{margin:.35rem 0 0}.why{color:var(--muted);font-size:.92em}\
.subjects{list-style:none;margin:.55rem 0;padding:0;border-top:1px solid #eceff2}\
.subjects li{padding:.3rem 0;border-bottom:1px solid #eceff2}\
.subjects .summary-text{font-weight:600}\
.seen{display:block;color:var(--muted);font-size:.9em}\
.seen b{color:var(--ink);font-weight:600}\
.fix{margin:.55rem 0 0;padding:.5rem .75rem;background:var(--soft);border-radius:.3rem}\
.fix strong{color:var(--c)}\
.skipped-list{list-style:none;margin:0;padding:0}\
.skipped-list li{padding:.25rem 0}\
.skipped-list code{display:inline-block;background:var(--soft);border:1px solid var(--line);\
border-radius:.25rem;padding:0 .35rem;margin:.1rem .15rem 0 0}\
.collectors{display:grid;grid-template-columns:repeat(auto-fill,minmax(14rem,1fr));gap:.5rem;\
list-style:none;margin:0;padding:0}\
.collector{border:1px solid var(--line);border-left:.3rem solid var(--c);border-radius:.35rem;\
padding:.35rem .6rem}\
.collector.nodata{--c:var(--skipped)}.collector.failed{--c:var(--critical)}\
.collector .status{font-weight:700;color:var(--c)}\
.collector .detail{display:block;color:var(--muted);font-size:.86em;overflow-wrap:anywhere}\
.service{border:1px solid var(--line);border-radius:.4rem;margin:0 0 .9rem;break-inside:avoid}\
.service header{padding:.5rem .8rem;background:var(--soft);border-bottom:1px solid var(--line);\
border-radius:.4rem .4rem 0 0}\
.service header .facts{color:var(--muted);font-size:.9em}\
.service header .badge{margin-left:.3rem}\
.service header a{text-decoration:none}\
.service.empty{border-color:var(--critical)}\
table{border-collapse:collapse;width:100%}\
th,td{text-align:left;padding:.3rem .8rem;vertical-align:middle}\
th{font-size:.78rem;font-weight:600;color:var(--muted);text-transform:uppercase;\
letter-spacing:.03em;border-bottom:1px solid var(--line)}\
td{border-bottom:1px solid #eceff2}tr:last-child td{border-bottom:0}\
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}\
.rs{table-layout:fixed}.rs th:nth-child(1){width:30%}.rs th:nth-child(2){width:9%}\
.rs th:nth-child(3){width:8%}.rs th:nth-child(4){width:18%}.rs th:nth-child(5){width:8%}\
.rs th:nth-child(6){width:9%}.rs th:nth-child(7){width:18%}\
.bar{display:flex;height:.7rem;background:#e9edf1;border-radius:.2rem;overflow:hidden;\
min-width:4rem;-webkit-print-color-adjust:exact;print-color-adjust:exact}\
.bar span{display:block;height:100%}\
.bar .weight{background:var(--weight)}.bar .active{background:var(--active)}\
.bar .inactive{background:var(--inactive)}\
tr.drained td{background:repeating-linear-gradient(135deg,#fff 0 .4rem,#f3f4f6 .4rem .8rem);\
-webkit-print-color-adjust:exact;print-color-adjust:exact}\
tr.drained .addr code{color:var(--muted);text-decoration:line-through}\
.tag{display:inline-block;border:1px solid currentColor;border-radius:.25rem;padding:0 .3rem;\
font-size:.72rem;font-weight:700;text-transform:uppercase;margin-left:.35rem;color:var(--warning)}\
.legend{display:flex;flex-wrap:wrap;gap:1rem;color:var(--muted);font-size:.85em;margin:.2rem 0 .7rem}\
.legend i{display:inline-block;width:.8rem;height:.8rem;border-radius:.15rem;\
vertical-align:-.1rem;margin-right:.3rem;-webkit-print-color-adjust:exact;print-color-adjust:exact}\
.plain{border-top:1px solid var(--line)}.plain code{white-space:nowrap}\
@media (max-width:40rem){main{padding:.8rem}\
.rs thead{display:none}.rs tr{display:grid;grid-template-columns:1fr 1fr;\
border-bottom:1px solid #eceff2;padding:.3rem 0}\
.rs td{border:0;padding:.15rem .6rem}.rs td.addr{grid-column:1/-1}\
.rs td.num{text-align:left}\
.rs td[data-label]::before{content:attr(data-label) ' ';color:var(--muted);font-size:.85em}\
.plain,.plain tbody,.plain tr,.plain td,.plain th{display:block;width:auto}\
.plain tr:first-child{display:none}.plain tr{border-bottom:1px solid var(--line)}\
.plain td{border:0}}\
@media print{body{font-size:11pt}main{max-width:none;padding:0}\
h2{break-after:avoid}a{color:inherit;text-decoration:none}}";

/// The report as a web page (`/report` for browsers).
pub fn render_html(snapshot: &Snapshot, advice: &Advice) -> String {
    let mut out = String::with_capacity(16 * 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>ipvs_exporter report</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n"
    );
    html_head(&mut out, snapshot, advice);
    let groups = by_rule(&advice.findings);
    html_summary(&mut out, advice, &groups);
    html_findings(&mut out, &groups);
    html_skipped(&mut out, advice);
    html_collectors(&mut out, snapshot);
    html_ipvs(&mut out, snapshot, &advice.findings);
    html_draining(&mut out, snapshot);
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

/// The title, the host's role and what shows it.
fn html_head(out: &mut String, snapshot: &Snapshot, advice: &Advice) {
    out.push_str("<header>\n<h1>ipvs_exporter report</h1>\n");
    let roles: Vec<&str> = advice.roles.iter().map(|r| r.title()).collect();
    let _ = writeln!(
        out,
        "<p id=\"role\"><b>Role:</b> {}</p>",
        escape(&if roles.is_empty() {
            "none (no IPVS services)".to_string()
        } else {
            roles.join(", ")
        })
    );
    if let Some(table) = &snapshot.ipvs {
        let _ = writeln!(out, "<p class=\"muted\">{}</p>", escape(&ipvs_line(table)));
    }
    let lines = evidence_lines(advice);
    if !lines.is_empty() {
        out.push_str("<ul class=\"evidence\" id=\"evidence\">\n");
        for line in lines {
            let _ = writeln!(out, "<li>{}</li>", escape(&line));
        }
        out.push_str("</ul>\n");
    }
    out.push_str("</header>\n");
}

/// `IPVS 1.2.1 · 14 services · 20 real servers · connection table 4096 buckets`.
fn ipvs_line(table: &IpvsTable) -> String {
    let real_servers: usize = table.services.iter().map(|s| s.backends.len()).sum();
    let mut line = format!(
        "IPVS {} · {} services · {real_servers} real servers",
        table.version.as_deref().unwrap_or("(version unknown)"),
        table.services.len()
    );
    if let Some(buckets) = table.connection_table_buckets {
        let _ = write!(line, " · connection table {buckets} buckets");
    }
    line
}

/// One card per severity with its number of findings, one for the rules that found nothing
/// and one for those not evaluated, then a one-line verdict.
fn html_summary(out: &mut String, advice: &Advice, groups: &[RuleGroup]) {
    out.push_str("<section id=\"summary\" aria-label=\"Summary\">\n<div class=\"summary\">\n");
    for (severity, n) in severity_counts(&advice.findings) {
        let rules = groups.iter().filter(|g| g.count(severity) > 0).count();
        let _ = writeln!(
            out,
            "<div class=\"count {sev}{zero}\" data-severity=\"{sev}\" data-count=\"{n}\">\
             <span class=\"n\">{n}</span><span class=\"label\">{sev}</span>\
             <small>{}</small></div>",
            if n == 0 {
                "none".to_string()
            } else {
                format!("{} from {}", plural(n, "finding"), plural(rules, "rule"))
            },
            sev = severity.as_str(),
            zero = if n == 0 { " zero" } else { "" },
        );
    }
    let passed = rules_passed(advice);
    let _ = writeln!(
        out,
        "<div class=\"count ok\" data-severity=\"ok\" data-count=\"{passed}\">\
         <span class=\"n\">{passed}</span><span class=\"label\">ok</span>\
         <small>rules found nothing, of {} evaluated</small></div>",
        advice.rules_evaluated
    );
    let skipped = advice.skipped.len();
    let _ = writeln!(
        out,
        "<div class=\"count skipped{}\" data-severity=\"skipped\" data-count=\"{skipped}\">\
         <span class=\"n\">{skipped}</span><span class=\"label\">not evaluated</span>\
         <small>{}</small></div>",
        if skipped == 0 { " zero" } else { "" },
        if skipped == 0 {
            "every rule that applies ran"
        } else {
            "rules that lacked data"
        }
    );
    out.push_str("</div>\n");
    let worst = advice.findings.iter().map(|f| f.severity).max();
    let (class, verdict) = match worst {
        Some(Severity::Critical) => (
            "critical",
            "Critical findings: traffic is or will be refused or lost. Fix them first.",
        ),
        Some(Severity::Warning) => (
            "warning",
            "Warnings: the host works, but under load or during maintenance it will not as it should.",
        ),
        Some(Severity::Info) => ("info", "Only suggestions: nothing is wrong."),
        None => ("ok", "No findings: every rule evaluated found nothing."),
    };
    let _ = writeln!(
        out,
        "<p class=\"verdict {class}\" id=\"verdict\">{}</p>\n</section>",
        escape(verdict)
    );
}

/// `1 finding`, `3 findings`.
fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// The findings, one block per rule.
fn html_findings(out: &mut String, groups: &[RuleGroup]) {
    out.push_str("<section id=\"findings\">\n<h2>Findings by rule</h2>\n");
    if groups.is_empty() {
        out.push_str("<p class=\"muted\">None.</p>\n");
    }
    for group in groups {
        html_rule(out, group);
    }
    out.push_str("</section>\n");
}

/// One rule: its id, severity and text once, its subjects, and its fix once (or each
/// distinct fix once, with the subjects it is for).
fn html_rule(out: &mut String, group: &RuleGroup) {
    let sev = group.severity.as_str();
    let id = escape(group.rule_id);
    let _ = writeln!(
        out,
        "<article class=\"rule {sev}\" id=\"rule-{id}\" data-rule=\"{id}\" data-severity=\"{sev}\" \
         data-findings=\"{n}\">\n<h3><span class=\"badge\">{sev}</span> <code>{id}</code> \
         <span class=\"n-subjects\">· {}</span></h3>",
        plural(group.findings.len(), "subject"),
        n = group.findings.len(),
    );
    if let Some(rule) = group.rule {
        let _ = writeln!(
            out,
            "<p class=\"checks\"><b>Checks:</b> {}</p>\n<p class=\"why\"><b>Why:</b> {}</p>",
            escape_with_code(rule.what),
            escape_with_code(rule.why)
        );
    }
    out.push_str("<ul class=\"subjects\">\n");
    for finding in &group.findings {
        html_subject(out, finding, group.severity);
    }
    out.push_str("</ul>\n");
    for fix in &group.fixes {
        let whom = if group.fixes.len() == 1 {
            String::new()
        } else {
            let subjects: Vec<String> = fix
                .subjects
                .iter()
                .map(|s| format!("<code>{}</code>", escape(s)))
                .collect();
            format!(" for {}", subjects.join(", "))
        };
        let _ = writeln!(
            out,
            "<p class=\"fix\"><strong>Fix{whom}:</strong> {}</p>",
            escape_with_code(fix.fix)
        );
    }
    out.push_str("</article>\n");
}

/// One subject of a rule: what was found, and what was seen against what is expected.
fn html_subject(out: &mut String, finding: &Finding, group_severity: Severity) {
    let milder = if finding.severity == group_severity {
        String::new()
    } else {
        format!(
            "<span class=\"badge {0}\">{0}</span> ",
            finding.severity.as_str()
        )
    };
    let _ = writeln!(
        out,
        "<li data-subject=\"{subject}\" data-severity=\"{sev}\">{milder}\
         <span class=\"summary-text\">{}</span>\
         <span class=\"seen\"><code>{subject}</code>: <b>{}</b>, expected <b>{}</b></span></li>",
        escape(&finding.summary),
        escape(&finding.observed),
        escape(&finding.expected),
        subject = escape(&finding.subject),
        sev = finding.severity.as_str(),
    );
}

/// The rules not evaluated, one line per reason.
fn html_skipped(out: &mut String, advice: &Advice) {
    if advice.skipped.is_empty() {
        return;
    }
    let mut reasons: Vec<(&str, Vec<&str>)> = Vec::new();
    for skipped in &advice.skipped {
        match reasons.iter_mut().find(|(r, _)| *r == skipped.reason) {
            Some((_, rules)) => rules.push(skipped.rule),
            None => reasons.push((&skipped.reason, vec![skipped.rule])),
        }
    }
    let _ = writeln!(
        out,
        "<section id=\"skipped\">\n<h2>Not evaluated <span class=\"muted\">({})</span></h2>\n\
         <ul class=\"skipped-list\">",
        plural(advice.skipped.len(), "rule")
    );
    for (reason, rules) in reasons {
        let ids: Vec<String> = rules
            .iter()
            .map(|r| format!("<code data-rule=\"{0}\">{0}</code>", escape(r)))
            .collect();
        let _ = writeln!(
            out,
            "<li><span class=\"reason\">{}:</span> {}</li>",
            escape(reason),
            ids.join(" ")
        );
    }
    out.push_str("</ul>\n</section>\n");
}

/// The collectors, one card each: its status, and the records it skipped.
fn html_collectors(out: &mut String, snapshot: &Snapshot) {
    if snapshot.collectors.is_empty() {
        return;
    }
    out.push_str("<section id=\"collectors\">\n<h2>Collectors</h2>\n<ul class=\"collectors\">\n");
    for report in &snapshot.collectors {
        let (class, status, detail) = match &report.outcome {
            Outcome::Ok => ("ok", "ok", String::new()),
            Outcome::NoData(reason) => ("nodata", "no data", reason.clone()),
            Outcome::Failed(reason) => ("failed", "failed", reason.clone()),
            Outcome::TimedOut => ("failed", "failed", "timed out".to_string()),
            Outcome::StillRunning => (
                "failed",
                "failed",
                "previous run still in progress".to_string(),
            ),
        };
        let _ = write!(
            out,
            "<li class=\"collector {class}\" data-collector=\"{name}\" data-status=\"{class}\">\
             <b>{name}</b> <span class=\"status\">{status}</span>",
            name = escape(report.name),
        );
        if !detail.is_empty() {
            let _ = write!(out, "<span class=\"detail\">{}</span>", escape(&detail));
        }
        for problem in &report.problems {
            let _ = write!(
                out,
                "<span class=\"detail skipped-record\">skipped {}</span>",
                escape(problem)
            );
        }
        out.push_str("</li>\n");
    }
    out.push_str("</ul>\n</section>\n");
}

/// A share as a CSS width: `33.33%`.
fn percent(part: i64, whole: i64) -> String {
    if whole <= 0 || part <= 0 {
        return "0%".to_string();
    }
    let share = (part as f64) * 100.0 / (whole as f64);
    let text = format!("{share:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}%")
}

/// The IPVS services, one block each with its real servers' weights and connections drawn.
fn html_ipvs(out: &mut String, snapshot: &Snapshot, findings: &[Finding]) {
    out.push_str("<section id=\"ipvs\">\n<h2>IPVS services</h2>\n");
    let Some(table) = &snapshot.ipvs else {
        out.push_str("<p class=\"muted\">Not available on this host.</p>\n</section>\n");
        return;
    };
    if table.services.is_empty() {
        out.push_str("<p class=\"muted\">No services.</p>\n</section>\n");
        return;
    }
    out.push_str(
        "<p class=\"legend\"><span><i style=\"background:var(--weight)\"></i>weight: share of \
         the service's total weight</span><span><i style=\"background:var(--active)\"></i>active \
         and <i style=\"background:var(--inactive)\"></i>inactive connections: share of the \
         service's connections</span><span class=\"tag\">drained</span> weight 0: no new \
         connections</p>\n",
    );
    for service in &table.services {
        html_service(out, service, findings);
    }
    out.push_str("</section>\n");
}

fn html_service(out: &mut String, service: &Service, findings: &[Finding]) {
    let name = service.key.to_string();
    let total_weight: i64 = service.backends.iter().map(|b| b.weight.max(0)).sum();
    let active: i64 = service.backends.iter().map(|b| b.active_connections).sum();
    let inactive: i64 = service
        .backends
        .iter()
        .map(|b| b.inactive_connections)
        .sum();
    let connections = active.max(0) + inactive.max(0);
    let flags = service.flags.label(&service.scheduler);
    let empty = total_weight == 0;
    let _ = write!(
        out,
        "<article class=\"service{}\" data-service=\"{}\" data-total-weight=\"{total_weight}\">\n\
         <header><h3><code>{}</code>",
        if empty { " empty" } else { "" },
        escape(&name),
        escape(&name)
    );
    // The rules that found something about this service or one of its real servers.
    let mut about: Vec<(&str, Severity)> = Vec::new();
    let real_server_prefix = format!("{name} -> ");
    for f in findings {
        if (f.subject == name || f.subject.starts_with(&real_server_prefix))
            && !about.iter().any(|(rule, _)| *rule == f.rule)
        {
            about.push((f.rule, f.severity));
        }
    }
    for (rule, severity) in about {
        let _ = write!(
            out,
            "<a href=\"#rule-{0}\" class=\"badge {1}\" title=\"{0}\">{0}</a>",
            escape(rule),
            severity.as_str()
        );
    }
    let mut facts = vec![format!("scheduler {}", service.scheduler)];
    if !flags.is_empty() {
        facts.push(flags);
    }
    facts.push(plural(service.backends.len(), "real server"));
    facts.push(format!("total weight {total_weight}"));
    facts.push(format!("{active} active, {inactive} inactive connections"));
    let _ = writeln!(
        out,
        "</h3>\n<div class=\"facts\">{}</div></header>",
        escape(&facts.join(" · "))
    );
    if service.backends.is_empty() {
        out.push_str(
            "<p class=\"muted\" style=\"padding:.4rem .8rem\">No real servers: the service refuses \
             every new connection.</p>\n</article>\n",
        );
        return;
    }
    if empty {
        out.push_str(
            "<p class=\"muted\" style=\"padding:.4rem .8rem 0\">No real server of weight above 0: \
             the service refuses every new connection.</p>\n",
        );
    }
    out.push_str(
        "<table class=\"rs\"><thead><tr><th>real server</th><th>forward</th><th>weight</th>\
         <th></th><th>active</th><th>inactive</th><th>connections</th></tr></thead><tbody>\n",
    );
    for b in &service.backends {
        html_backend(out, b, total_weight, connections);
    }
    out.push_str("</tbody></table>\n</article>\n");
}

fn html_backend(out: &mut String, b: &Backend, total_weight: i64, connections: i64) {
    let drained = b.weight == 0;
    let address = SocketText(&b.address, b.port).to_string();
    let _ = writeln!(
        out,
        "<tr class=\"{}\" data-real-server=\"{}\" data-weight=\"{}\">\
         <td class=\"addr\"><code>{}</code>{}</td>\
         <td data-label=\"forward\">{}</td>\
         <td class=\"num\" data-label=\"weight\">{}</td>\
         <td class=\"graph\"><div class=\"bar\" title=\"weight {} of {total_weight}\">\
         <span class=\"weight\" style=\"width:{}\"></span></div></td>\
         <td class=\"num\" data-label=\"active\">{}</td>\
         <td class=\"num\" data-label=\"inactive\">{}</td>\
         <td class=\"graph\"><div class=\"bar\" title=\"{} active, {} inactive of {connections}\">\
         <span class=\"active\" style=\"width:{}\"></span>\
         <span class=\"inactive\" style=\"width:{}\"></span></div></td></tr>",
        if drained { "drained" } else { "serving" },
        escape(&address),
        b.weight,
        escape(&address),
        if drained {
            "<span class=\"tag\">drained</span>"
        } else {
            ""
        },
        b.forward.as_str(),
        b.weight,
        b.weight,
        percent(b.weight, total_weight),
        b.active_connections,
        b.inactive_connections,
        b.active_connections,
        b.inactive_connections,
        percent(b.active_connections, connections),
        percent(b.inactive_connections, connections),
    );
}

/// The real servers of weight 0 and how long they may take to empty.
fn html_draining(out: &mut String, snapshot: &Snapshot) {
    let drains = draining(snapshot);
    if drains.is_empty() {
        return;
    }
    out.push_str(
        "<section id=\"drain\">\n<h2>Draining real servers</h2>\n<table id=\"draining\" \
         class=\"plain\">\n<tr><th>service</th><th>real server</th><th>active</th>\
         <th>inactive</th><th>templates</th><th>estimate</th><th>bounds</th></tr>\n",
    );
    for d in &drains {
        let bounds = [
            d.inactive_expire_seconds.map(|s| {
                format!(
                    "inactive expire within {} of their last packet",
                    whole_duration(f64::from(s))
                )
            }),
            d.templates_expire_seconds.map(|s| {
                format!(
                    "templates within {} of their last connection",
                    whole_duration(f64::from(s))
                )
            }),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("; ");
        let _ = writeln!(
            out,
            "<tr><td><code>{}</code></td><td><code>{}</code></td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td></tr>",
            escape(&d.service.to_string()),
            escape(&SocketText(&d.address, d.port).to_string()),
            d.active_connections,
            d.inactive_connections,
            d.persistent_connections
                .map_or_else(|| "unknown".to_string(), |n| n.to_string()),
            escape(&d.estimate.describe()),
            escape(&bounds)
        );
    }
    out.push_str("</table>\n</section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advisor::Skipped;
    use crate::advisor::rules;
    use crate::model::snapshot::CollectorReport;
    use crate::model::{ForwardMethod, IpvsSource, Protocol, ServiceKey};

    fn key(port: u16) -> ServiceKey {
        ServiceKey::Address {
            protocol: Protocol::Tcp,
            address: std::net::Ipv4Addr::new(10, 0, 0, 1).into(),
            port,
        }
    }

    fn backend(last: u8, weight: i64, active: i64, inactive: i64) -> Backend {
        Backend {
            weight,
            active_connections: active,
            inactive_connections: inactive,
            ..Backend::new([10, 1, 0, last].into(), 80, ForwardMethod::Masq)
        }
    }

    fn rule(id: &str) -> &'static rules::Rule {
        rules::find(id).unwrap_or_else(|| panic!("no rule {id}"))
    }

    /// A director with three services (weights 1:2:3 with connections, one with a drained real
    /// server, one whose only real server is drained), findings of three rules (one rule with
    /// five subjects, one with two subjects needing different fixes), rules not evaluated for
    /// two reasons, and collectors of every outcome.
    fn director() -> (Snapshot, Advice) {
        let snapshot = Snapshot {
            ipvs: Some(IpvsTable {
                source: IpvsSource::Procfs,
                version: Some("1.2.1".into()),
                services: vec![
                    Service {
                        backends: vec![
                            backend(1, 1, 10, 30),
                            backend(2, 2, 20, 20),
                            backend(3, 3, 30, 10),
                        ],
                        ..Service::new(key(80), "wrr")
                    },
                    Service {
                        backends: vec![backend(1, 0, 1, 0), backend(2, 4, 3, 0)],
                        ..Service::new(key(9000), "rr")
                    },
                    Service {
                        backends: vec![backend(3, 0, 0, 0)],
                        ..Service::new(key(8081), "rr")
                    },
                ],
                ..IpvsTable::default()
            }),
            collectors: vec![
                CollectorReport {
                    name: "ipvs",
                    outcome: Outcome::Ok,
                    duration: std::time::Duration::ZERO,
                    problems: vec!["line 3: odd".into()],
                },
                CollectorReport {
                    name: "conntrack",
                    outcome: Outcome::NoData("nf_conntrack not loaded".into()),
                    duration: std::time::Duration::ZERO,
                    problems: vec![],
                },
                CollectorReport {
                    name: "softnet",
                    outcome: Outcome::TimedOut,
                    duration: std::time::Duration::ZERO,
                    problems: vec![],
                },
            ],
            ..Snapshot::default()
        };
        let without_weight = rule("service-without-weight");
        let mut findings: Vec<Finding> = [8081, 8082, 8083, 8084, 8085]
            .iter()
            .map(|port| {
                let name = key(*port).to_string();
                without_weight.finding(
                    name.clone(),
                    "real servers: 1, none of weight above 0",
                    "at least one real server of weight above 0",
                    format!("{name} cannot take new connections"),
                )
            })
            .collect();
        let nodest = rule("ipvs-expire-nodest-conn");
        findings.push(nodest.sysctl_finding(
            "net.ipv4.vs.expire_nodest_conn",
            "0",
            "1",
            "connections to removed real servers linger".into(),
        ));
        let arp = rule("rs-arp-ignore");
        for device in ["eth0", "eth1"] {
            findings.push(arp.sysctl_finding(
                &format!("net.ipv4.conf.{device}.arp_ignore"),
                "0",
                "1",
                format!("{device} would answer ARP for the virtual address"),
            ));
        }
        // a milder case of the arp rule, as rules may report
        if let Some(last) = findings.last_mut() {
            last.severity = Severity::Warning;
        }
        let advice = Advice {
            findings,
            skipped: vec![
                Skipped {
                    rule: "somaxconn",
                    reason: "the sysctl collector gave no data".into(),
                },
                Skipped {
                    rule: "tcp-syncookies",
                    reason: "the sysctl collector gave no data".into(),
                },
                Skipped {
                    rule: "conntrack-usage",
                    reason: "no connection tracking data".into(),
                },
            ],
            rules_evaluated: 12,
            ..Advice::default()
        };
        (snapshot, advice)
    }

    /// The text between `start` and the next `end` after it.
    fn between<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
        let from = html
            .find(start)
            .unwrap_or_else(|| panic!("no {start} in {html}"));
        let rest = html.get(from..).unwrap_or_default();
        let to = rest.find(end).map_or(rest.len(), |at| at + end.len());
        rest.get(..to).unwrap_or_default()
    }

    #[test]
    fn the_summary_counts_the_findings_by_severity_and_the_rules() {
        let (snapshot, advice) = director();
        let html = render_html(&snapshot, &advice);
        // 5 + 1 + 1 critical (the nodest rule is a warning by itself, the first arp one
        // critical), counted here from the findings, not from the renderer's helpers.
        let count = |severity: Severity| {
            advice
                .findings
                .iter()
                .filter(|f| f.severity == severity)
                .count()
        };
        assert_eq!(count(Severity::Critical), 6);
        assert_eq!(count(Severity::Warning), 2);
        for (name, n) in [
            ("critical", 6),
            ("warning", 2),
            ("info", 0),
            // 12 evaluated, 3 of them with findings
            ("ok", 9),
            ("skipped", 3),
        ] {
            assert!(
                html.contains(&format!(
                    "data-severity=\"{name}\" data-count=\"{n}\"><span class=\"n\">{n}</span>"
                )),
                "{name} {n}:\n{}",
                between(&html, "<section id=\"summary\"", "</section>")
            );
        }
        assert!(html.contains("<span class=\"n\">6</span><span class=\"label\">critical</span><small>6 findings from 2 rules</small>"), "{html}");
        assert!(html.contains("class=\"verdict critical\""));
        // The summary comes before the findings, which come before the table.
        let at = |what: &str| html.find(what).unwrap_or(usize::MAX);
        assert!(at("id=\"summary\"") < at("id=\"findings\""));
        assert!(at("id=\"findings\"") < at("id=\"ipvs\""));
    }

    #[test]
    fn findings_are_grouped_by_rule_with_the_rule_text_and_fix_once() {
        let (snapshot, advice) = director();
        let html = render_html(&snapshot, &advice);
        assert_eq!(html.matches("<article class=\"rule ").count(), 3, "{html}");
        let group = between(
            &html,
            "<article class=\"rule critical\" id=\"rule-service-without-weight\"",
            "</article>",
        );
        assert!(group.contains("data-findings=\"5\""), "{group}");
        let without_weight = rule("service-without-weight");
        // The rule's text once in the whole page, the fix once (its backticks as code).
        assert_eq!(html.matches(&escape(without_weight.why)).count(), 1);
        assert_eq!(html.matches(&escape(without_weight.what)).count(), 1);
        let fix = escape_with_code(without_weight.fix);
        assert_eq!(html.matches(&fix).count(), 1, "{group}");
        assert_eq!(group.matches("class=\"fix\"").count(), 1, "{group}");
        // Every subject once, with what was seen.
        for port in [8081, 8082, 8083, 8084, 8085] {
            assert_eq!(
                group
                    .matches(&format!("data-subject=\"TCP 10.0.0.1:{port}\""))
                    .count(),
                1,
                "{group}"
            );
        }
        assert!(group.contains("<b>real servers: 1, none of weight above 0</b>"));
        // Two subjects with different fixes: each fix once, saying whom it is for.
        let arp = between(&html, "id=\"rule-rs-arp-ignore\"", "</article>");
        assert_eq!(arp.matches("class=\"fix\"").count(), 2, "{arp}");
        assert!(
            arp.contains("Fix for <code>net.ipv4.conf.eth0.arp_ignore</code>:"),
            "{arp}"
        );
        assert!(arp.contains("net.ipv4.conf.eth1.arp_ignore = 1"), "{arp}");
        // The group takes its highest severity; the milder subject says its own.
        assert!(arp.contains("data-severity=\"critical\""), "{arp}");
        assert!(
            arp.contains("<span class=\"badge warning\">warning</span>"),
            "{arp}"
        );
        // Most severe first, then by rule id.
        let at = |id: &str| html.find(&format!("id=\"rule-{id}\"")).unwrap_or(0);
        assert!(at("rs-arp-ignore") < at("service-without-weight"));
        assert!(at("service-without-weight") < at("ipvs-expire-nodest-conn"));
    }

    #[test]
    fn rules_not_evaluated_are_grouped_by_reason() {
        let (snapshot, advice) = director();
        let html = render_html(&snapshot, &advice);
        let skipped = between(&html, "<section id=\"skipped\">", "</section>");
        assert_eq!(skipped.matches("<li>").count(), 2, "{skipped}");
        assert!(skipped.contains(
            "<li><span class=\"reason\">the sysctl collector gave no data:</span> \
             <code data-rule=\"somaxconn\">somaxconn</code> \
             <code data-rule=\"tcp-syncookies\">tcp-syncookies</code></li>"
        ));
        assert!(!html.contains("id=\"rule-somaxconn\""), "not a finding");
    }

    #[test]
    fn bars_draw_each_real_server_share_of_weight_and_connections() {
        let (snapshot, advice) = director();
        let html = render_html(&snapshot, &advice);
        let service = between(&html, "data-service=\"TCP 10.0.0.1:80\"", "</article>");
        assert!(service.contains("data-total-weight=\"6\""), "{service}");
        // weights 1, 2 and 3 of 6; connections 40 of 120 each, active 10/20/30.
        for (last, weight, active, inactive) in [
            (1, "16.67%", "8.33%", "25%"),
            (2, "33.33%", "16.67%", "16.67%"),
            (3, "50%", "25%", "8.33%"),
        ] {
            let row = between(
                service,
                &format!("data-real-server=\"10.1.0.{last}:80\""),
                "</tr>",
            );
            assert!(
                row.contains(&format!("class=\"weight\" style=\"width:{weight}\"")),
                "{row}"
            );
            assert!(
                row.contains(&format!("class=\"active\" style=\"width:{active}\"")),
                "{row}"
            );
            assert!(
                row.contains(&format!("class=\"inactive\" style=\"width:{inactive}\"")),
                "{row}"
            );
        }
        // A drained real server: its own row class, a tag, an empty weight bar.
        let drained = between(&html, "data-service=\"TCP 10.0.0.1:9000\"", "</article>");
        let row = between(drained, "data-real-server=\"10.1.0.1:80\"", "</tr>");
        assert!(drained.contains("<tr class=\"drained\" data-real-server=\"10.1.0.1:80\""));
        assert!(row.contains("<span class=\"tag\">drained</span>"), "{row}");
        assert!(row.contains("style=\"width:0%\""), "{row}");
        assert!(drained.contains("<tr class=\"serving\" data-real-server=\"10.1.0.2:80\""));
        // A service with nothing to send to, and the finding about it linked from it.
        let empty = between(
            &html,
            "<article class=\"service empty\" data-service=\"TCP 10.0.0.1:8081\"",
            "</header>",
        );
        assert!(
            empty.contains("href=\"#rule-service-without-weight\""),
            "{empty}"
        );
    }

    #[test]
    fn collectors_show_their_status_and_skipped_records() {
        let (snapshot, advice) = director();
        let html = render_html(&snapshot, &advice);
        let collectors = between(&html, "<section id=\"collectors\">", "</section>");
        for (name, status) in [
            ("ipvs", "ok"),
            ("conntrack", "nodata"),
            ("softnet", "failed"),
        ] {
            assert!(
                collectors.contains(&format!(
                    "data-collector=\"{name}\" data-status=\"{status}\""
                )),
                "{name}: {collectors}"
            );
        }
        assert!(collectors.contains("skipped line 3: odd"));
        assert!(collectors.contains("timed out"));
    }

    #[test]
    fn the_page_is_self_contained() {
        let (snapshot, advice) = director();
        for html in [
            render_html(&snapshot, &advice),
            render_html(&Snapshot::default(), &Advice::default()),
        ] {
            let lower = html.to_lowercase();
            for outside in [
                "<script",
                "<link",
                "src=",
                "http:",
                "https:",
                "url(",
                "@import",
                "@font-face",
                "javascript:",
            ] {
                assert!(!lower.contains(outside), "{outside} in {html}");
            }
            // no event handler attribute (` onload=`, ` onclick=` ...)
            for (at, _) in lower.match_indices(" on") {
                let name: String = lower
                    .get(at + 3..)
                    .unwrap_or_default()
                    .chars()
                    .take_while(char::is_ascii_alphabetic)
                    .collect();
                let after = lower.get(at + 3 + name.len()..).unwrap_or_default();
                assert!(!after.starts_with('='), "on{name}= in {html}");
            }
            assert!(html.starts_with("<!DOCTYPE html>\n"));
            assert!(html.ends_with("</html>\n"));
            assert!(html.contains("<meta name=\"viewport\""));
            assert!(html.contains("@media print"));
            assert!(html.contains("@media (max-width:40rem)"));
        }
    }

    #[test]
    fn everything_from_the_host_is_escaped() {
        let hostile = "<img src=x onerror=\"alert(1)\">&'";
        let escaped = "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;&#39;";
        let (mut snapshot, mut advice) = director();
        if let Some(table) = snapshot.ipvs.as_mut() {
            table.version = Some(hostile.into());
            if let Some(service) = table.services.first_mut() {
                service.scheduler = hostile.into();
            }
        }
        for collector in &mut snapshot.collectors {
            collector.problems.push(hostile.into());
            if let Outcome::NoData(reason) = &mut collector.outcome {
                *reason = hostile.into();
            }
        }
        for finding in &mut advice.findings {
            finding.subject = format!("{} {hostile}", finding.subject);
            finding.observed = hostile.into();
            finding.expected = hostile.into();
            finding.summary = hostile.into();
            finding.fix = format!("`{hostile}` {hostile}");
        }
        for skipped in &mut advice.skipped {
            skipped.reason = hostile.into();
        }
        advice.evidence.push(crate::advisor::Evidence {
            role: crate::advisor::Role::NatDirector,
            strength: crate::advisor::Strength::Strong,
            detail: hostile.into(),
            caveat: String::new(),
        });
        let html = render_html(&snapshot, &advice);
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("onerror=\"alert"), "{html}");
        // the scheduler, the version, the evidence, each collector, subject, observed,
        // expected, summary, fix (in and out of code), skipped reason: all there, escaped
        assert!(html.matches(escaped).count() > 30, "{html}");
        assert!(html.contains(&format!("<code>{escaped}</code> {escaped}")));
        assert!(html.contains(&format!("data-subject=\"TCP 10.0.0.1:8081 {escaped}\"")));
    }

    #[test]
    fn backticks_become_code_only_in_pairs() {
        assert_eq!(
            escape_with_code("add `a = 1` to <f>"),
            "add <code>a = 1</code> to &lt;f&gt;"
        );
        assert_eq!(escape_with_code("one ` alone"), "one ` alone");
        assert_eq!(escape_with_code("``"), "<code></code>");
    }

    #[test]
    fn shares_are_percentages_of_the_whole() {
        assert_eq!(percent(1, 3), "33.33%");
        assert_eq!(percent(3, 3), "100%");
        assert_eq!(percent(1, 8), "12.5%");
        assert_eq!(percent(0, 3), "0%");
        assert_eq!(percent(5, 0), "0%");
        assert_eq!(percent(-1, 3), "0%");
    }

    #[test]
    fn a_host_without_ipvs_or_findings_says_so() {
        let html = render_html(&Snapshot::default(), &Advice::default());
        assert!(html.contains("<p class=\"muted\">None.</p>"), "{html}");
        assert!(html.contains("Not available on this host."));
        assert!(html.contains("class=\"verdict ok\""));
        assert!(!html.contains("id=\"skipped\""));
    }
}
