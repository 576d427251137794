//! The example Alertmanager configuration, `alerts/alertmanager.yml` (test-host tier: needs
//! Debian's prometheus-alertmanager, which tests/run.sh installs): `amtool check-config` takes
//! it, `amtool config routes test` sends each severity of the rules to its receiver, every
//! inhibition names alerts of the rules file and only labels both alerts carry (as their
//! promtool unit tests show them), and a real Alertmanager on loopback, given the two alerts of
//! each inhibition, reports the target inhibited by the source and leaves the same alert on
//! another host alone.

// Test code: a failed unwrap or index is a failed test (the [lints] table guards src/).
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::panic, clippy::indexing_slicing)]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn alerts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("alerts")
}

fn config_path() -> PathBuf {
    alerts_dir().join("alertmanager.yml")
}

/// Runs a tool of prometheus-alertmanager; fails loudly when it is missing.
fn run(tool: &str, args: &[&str]) -> Output {
    Command::new(tool).args(args).output().unwrap_or_else(|e| {
        panic!("{tool} could not be run ({e}): install the Debian package prometheus-alertmanager (tests/run.sh does)")
    })
}

fn said(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// One inhibit rule as the configuration writes it: matchers as (label, value) pairs.
#[derive(Debug)]
struct Inhibition {
    source: Vec<(String, String)>,
    target: Vec<(String, String)>,
    equal: Vec<String>,
}

impl Inhibition {
    fn alertname(matchers: &[(String, String)]) -> String {
        matchers
            .iter()
            .find(|(k, _)| k == "alertname")
            .map(|(_, v)| v.clone())
            .expect("an alertname matcher")
    }
}

/// `['a="b"', 'c="d"']` -> [("a", "b"), ("c", "d")]; `[a, b]` -> [("a", ""), ("b", "")].
fn flow_list(text: &str) -> Vec<(String, String)> {
    let inner = text
        .trim()
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or_else(|| panic!("not a flow list: {text}"));
    inner
        .split(',')
        .map(|item| item.trim().trim_matches('\''))
        .filter(|item| !item.is_empty())
        .map(|item| match item.split_once('=') {
            Some((k, v)) => (k.to_string(), v.trim_matches('"').to_string()),
            None => (item.to_string(), String::new()),
        })
        .collect()
}

/// The inhibit rules of the example (written one key a line, matchers as flow lists); their
/// number is checked against what amtool counts.
fn inhibitions() -> Vec<Inhibition> {
    let text = std::fs::read_to_string(config_path()).expect("alerts/alertmanager.yml");
    let section = text
        .split("\ninhibit_rules:\n")
        .nth(1)
        .expect("an inhibit_rules section");
    let mut out: Vec<Inhibition> = Vec::new();
    for line in section.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("- source_matchers:") {
            out.push(Inhibition {
                source: flow_list(rest),
                target: Vec::new(),
                equal: Vec::new(),
            });
        } else if let Some(rest) = line.strip_prefix("target_matchers:") {
            out.last_mut().expect("a rule").target = flow_list(rest);
        } else if let Some(rest) = line.strip_prefix("equal:") {
            out.last_mut().expect("a rule").equal =
                flow_list(rest).into_iter().map(|(k, _)| k).collect();
        }
    }
    out
}

/// Each alert of the rules file with its severity.
fn severities() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(alerts_dir().join("ipvs_exporter.alerts.yaml"))
        .expect("alerts file");
    let mut out = BTreeMap::new();
    let mut name = None;
    for line in text.lines().map(str::trim) {
        if let Some(n) = line.strip_prefix("- alert: ") {
            name = Some(n.trim_matches('"').to_string());
        } else if let Some(s) = line.strip_prefix("severity: ") {
            out.insert(
                name.take().expect("severity after alert"),
                s.trim_matches('"').to_string(),
            );
        }
    }
    out
}

/// The labels an alert carries in the firing cases of its promtool unit tests
/// (`alerts/tests/*.yaml`), one set per case.
fn labels_in_unit_tests(alert: &str) -> Vec<BTreeSet<String>> {
    let mut cases = Vec::new();
    for entry in std::fs::read_dir(alerts_dir().join("tests")).expect("alerts/tests") {
        let text = std::fs::read_to_string(entry.expect("entry").path()).expect("test file");
        let lines: Vec<&str> = text.lines().collect();
        let mut in_alert = false;
        let mut labels: Option<(usize, BTreeSet<String>)> = None;
        for line in &lines {
            let indent = line.len() - line.trim_start().len();
            let trimmed = line.trim();
            if let Some((at, set)) = labels.take() {
                if indent > at && !trimmed.is_empty() {
                    let key = trimmed.split(':').next().unwrap_or_default().to_string();
                    let mut set = set;
                    set.insert(key);
                    labels = Some((at, set));
                    continue;
                }
                cases.push(set);
            }
            if let Some(name) = trimmed.strip_prefix("alertname: ") {
                in_alert = name == alert;
            } else if in_alert && trimmed == "- exp_labels:" {
                labels = Some((indent + 2, BTreeSet::new()));
            }
        }
        if let Some((_, set)) = labels {
            cases.push(set);
        }
    }
    cases
}

/// The receiver `amtool config routes test` picks for a label set.
fn route(labels: &[String]) -> String {
    let config = format!("--config.file={}", config_path().display());
    let mut args = vec!["config", "routes", "test", config.as_str()];
    args.extend(labels.iter().map(String::as_str));
    let out = run("amtool", &args);
    assert!(
        out.status.success(),
        "amtool config routes test: {}",
        said(&out)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn amtool_checks_the_config() {
    let path = config_path();
    let out = run(
        "amtool",
        &["check-config", path.to_str().expect("UTF-8 path")],
    );
    let text = said(&out);
    assert!(out.status.success(), "amtool check-config: {text}");
    assert!(text.contains("SUCCESS"), "{text}");
    // the rules this file's reader sees are all of them
    let count = inhibitions().len();
    assert!(count >= 2, "inhibit rules read: {count}");
    assert!(
        text.contains(&format!(" - {count} inhibit rules")),
        "amtool counts other inhibit rules than the {count} read here: {text}"
    );
}

/// Every severity the rules use goes to its receiver: critical pages, warning makes a ticket,
/// info goes nowhere; an alert without a known severity still makes a ticket.
#[test]
fn each_severity_routes_to_its_receiver() {
    let expected = [
        ("critical", "pager"),
        ("warning", "ticket"),
        ("info", "blackhole"),
        ("", "ticket"),
        ("page-me", "ticket"),
    ];
    let used: BTreeSet<String> = severities().into_values().collect();
    for severity in &used {
        assert!(
            expected.iter().any(|(s, _)| s == severity),
            "severity {severity} of the rules has no expected receiver here"
        );
    }
    assert!(used.len() >= 3, "severities in the rules: {used:?}");
    for (severity, receiver) in expected {
        let labels = if severity.is_empty() {
            vec!["alertname=IpvsSomething".to_string()]
        } else {
            vec![format!("severity={severity}")]
        };
        assert_eq!(route(&labels), receiver, "severity {severity:?}");
    }
}

/// Each inhibition: both alerts exist in the rules file, route as their severity says, and
/// carry every label of `equal` (the cluster label, which the unit tests leave out, along
/// with the host's job and instance).
#[test]
fn inhibitions_name_rules_and_labels_both_alerts_carry() {
    let severity = severities();
    let receiver = |s: &str| match s {
        "critical" => "pager",
        "warning" => "ticket",
        _ => "blackhole",
    };
    let rules = inhibitions();
    assert!(!rules.is_empty());
    for rule in &rules {
        assert!(!rule.equal.is_empty(), "{rule:?}: no equal labels");
        for side in [&rule.source, &rule.target] {
            let name = Inhibition::alertname(side);
            let Some(sev) = severity.get(&name) else {
                panic!("{name} is not an alert of alerts/ipvs_exporter.alerts.yaml");
            };
            let labels: Vec<String> = side
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .chain([format!("severity={sev}")])
                .collect();
            assert_eq!(route(&labels), receiver(sev), "{name}");
            let cases = labels_in_unit_tests(&name);
            assert!(!cases.is_empty(), "{name}: no firing case in alerts/tests");
            for (k, v) in side {
                if k != "alertname" {
                    assert!(
                        cases.iter().any(|c| c.contains(k)),
                        "{name}: matcher {k}={v} on a label its unit tests never show"
                    );
                }
            }
            for label in &rule.equal {
                let carried = if label == "cluster" {
                    cases
                        .iter()
                        .any(|c| c.contains("job") && c.contains("instance"))
                } else {
                    cases.iter().any(|c| c.contains(label))
                };
                assert!(
                    carried,
                    "{name}: equal label {label} is not among the labels its firing unit tests show: {cases:?}"
                );
            }
        }
    }
}

/// An Alertmanager, killed when dropped.
struct Alertmanager {
    child: Child,
    address: SocketAddr,
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.0 request (no chunked answers); the status and the body.
fn http(address: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let request = format!(
        "{method} {path} HTTP/1.0\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("send");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("read");
    let (head, body) = raw.split_once("\r\n\r\n").expect("end of headers");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    (status, body.to_string())
}

impl Alertmanager {
    fn start(dir: &Path) -> Alertmanager {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let address: SocketAddr = ([127, 0, 0, 1], port).into();
        let child = Command::new("prometheus-alertmanager")
            .arg(format!("--config.file={}", config_path().display()))
            .arg(format!("--storage.path={}", dir.display()))
            .arg(format!("--web.listen-address={address}"))
            // a single instance: no gossip port
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("prometheus-alertmanager could not be run ({e}): install the Debian package prometheus-alertmanager (tests/run.sh does)")
            });
        let server = Alertmanager { child, address };
        support::wait_until_ready(address, "/-/ready", "alertmanager");
        server
    }

    fn alerts(&self) -> Vec<serde_json::Value> {
        let (status, body) = http(self.address, "GET", "/api/v2/alerts", "");
        assert_eq!(status, 200, "GET /api/v2/alerts: {body}");
        serde_json::from_str::<serde_json::Value>(&body)
            .expect("alerts JSON")
            .as_array()
            .cloned()
            .expect("a list of alerts")
    }
}

/// A real Alertmanager is given, for each inhibition, the source alert, the target on the
/// same host and the target on another host: it reports exactly the first target inhibited,
/// by the source's fingerprint.
#[test]
fn a_real_alertmanager_inhibits_each_target() {
    let dir = std::env::temp_dir().join(format!("ipvs-alertmanager-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("storage dir");
    let am = Alertmanager::start(&dir);
    let severity = severities();
    let rules = inhibitions();

    let label_set = |matchers: &[(String, String)], equal: &[String], host: &str| {
        let name = Inhibition::alertname(matchers);
        let mut labels: BTreeMap<String, String> = matchers.iter().cloned().collect();
        labels.insert("severity".into(), severity[&name].clone());
        for l in equal {
            labels.insert(l.clone(), format!("{l}-value"));
        }
        labels.insert("job".into(), "ipvs_exporter".into());
        labels.insert("instance".into(), host.into());
        labels
    };
    // (rule index, which, labels)
    let mut posted = Vec::new();
    for (i, rule) in rules.iter().enumerate() {
        let host = format!("lb{i}:9748");
        let other = format!("other{i}:9748");
        posted.push((i, "source", label_set(&rule.source, &rule.equal, &host)));
        posted.push((i, "target", label_set(&rule.target, &rule.equal, &host)));
        posted.push((i, "control", label_set(&rule.target, &rule.equal, &other)));
    }
    let body = serde_json::to_string(
        &posted
            .iter()
            .map(|(_, _, labels)| serde_json::json!({"labels": labels}))
            .collect::<Vec<_>>(),
    )
    .expect("JSON");
    let (status, answer) = http(am.address, "POST", "/api/v2/alerts", &body);
    assert_eq!(status, 200, "POST /api/v2/alerts: {answer}");

    // the inhibitor learns of the sources asynchronously: ask until every target is marked
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let alerts = am.alerts();
        let find = |labels: &BTreeMap<String, String>| {
            alerts
                .iter()
                .find(|a| {
                    labels
                        .iter()
                        .all(|(k, v)| a["labels"][k.as_str()].as_str() == Some(v.as_str()))
                        && a["labels"].as_object().map(|o| o.len()) == Some(labels.len())
                })
                .cloned()
        };
        let mut problems = Vec::new();
        for (i, which, labels) in &posted {
            let Some(alert) = find(labels) else {
                problems.push(format!("rule {i} {which}: not listed"));
                continue;
            };
            let by: Vec<String> = alert["status"]["inhibitedBy"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| f.as_str().map(String::from))
                .collect();
            let state = alert["status"]["state"].as_str().unwrap_or_default();
            if *which == "target" {
                let source = posted
                    .iter()
                    .find(|(j, w, _)| j == i && *w == "source")
                    .and_then(|(_, _, l)| find(l))
                    .and_then(|a| a["fingerprint"].as_str().map(String::from));
                if by.len() != 1 || Some(&by[0]) != source.as_ref() || state != "suppressed" {
                    problems.push(format!(
                        "rule {i} target {labels:?}: state {state}, inhibited by {by:?}, source {source:?}"
                    ));
                }
            } else if !by.is_empty() || state != "active" {
                problems.push(format!(
                    "rule {i} {which} {labels:?}: state {state}, inhibited by {by:?}"
                ));
            }
        }
        if problems.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "after 30 s:\n{}",
            problems.join("\n")
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    drop(am);
    let _ = std::fs::remove_dir_all(&dir);
}
