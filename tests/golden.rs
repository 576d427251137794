//! End to end on fixture trees: the real binary is pointed at `tests/fixtures/<scenario>` and
//! its /metrics and `doctor` output are compared with `tests/golden/<scenario>/`.
//! `UPDATE_GOLDEN=1 cargo test --test golden` rewrites the goldens; review the diff.

// Test code: a failed unwrap or index is a failed test (the [lints] table guards src/).
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::panic, clippy::indexing_slicing)]
#![allow(clippy::cast_possible_truncation)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::{Exporter, fixture_args, http_get, normalize_metrics};

/// `conntrack/traffic` is a host without IPVS whose conntrack statistics come from its
/// `/proc/net/stat/nf_conntrack` (captured on a 6.18 kernel, two CPUs).
const SCENARIOS: &[&str] = &[
    "no-ipvs",
    "nat-director",
    "mixed-director",
    "host",
    "conntrack/traffic",
    "keepalived-director",
    "keepalived-stopped",
    "keepalived-health",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Relative to the package root, where the tests run, so that no absolute path ends up in
/// a golden file.
fn procfs(scenario: &str) -> PathBuf {
    Path::new("tests/fixtures").join(scenario).join("proc")
}

/// Compares `actual` with tests/golden/<scenario>/<file> (UPDATE_GOLDEN=1 rewrites it).
fn check_golden(scenario: &str, file: &str, actual: &str) {
    support::check_golden(
        &root().join("tests/golden").join(scenario).join(file),
        actual,
    );
}

fn doctor(scenario: &str, format: &str) -> (String, Option<i32>) {
    let out = Command::new(env!("CARGO_BIN_EXE_ipvs_exporter"))
        .current_dir(root())
        .args(["doctor", "--format", format])
        .args(fixture_args(scenario))
        .output()
        .expect("run doctor");
    (
        String::from_utf8(out.stdout).expect("doctor prints UTF-8"),
        out.status.code(),
    )
}

#[test]
fn metrics_match_the_goldens() {
    for scenario in SCENARIOS {
        let exporter = Exporter::start(&fixture_args(scenario));
        let response = http_get(exporter.address, "/metrics", &[]);
        assert_eq!(response.status, 200, "{scenario}: /metrics status");
        assert!(
            response
                .header("content-type")
                .is_some_and(|v| v.starts_with("text/plain; version=0.0.4")),
            "{scenario}: classic content type, got {:?}",
            response.header("content-type")
        );
        check_golden(scenario, "metrics.prom", &normalize_metrics(&response.body));
        exporter.stop();
    }
}

/// doctor's exit code per scenario: mixed-director has services without a weighted real
/// server (critical).
fn expected_exit_code(scenario: &str) -> i32 {
    match scenario {
        // services without a weighted real server; keepalived configured but stopped
        // a keepalived virtual server below its quorum
        "mixed-director" | "keepalived-stopped" | "keepalived-health" => 2,
        _ => 0,
    }
}

#[test]
fn doctor_matches_the_goldens() {
    for scenario in SCENARIOS {
        let (json, code) = doctor(scenario, "json");
        assert_eq!(
            code,
            Some(expected_exit_code(scenario)),
            "{scenario}: doctor exit code"
        );
        let parsed: serde_json::Value = serde_json::from_str(&json).expect("doctor JSON parses");
        assert!(
            parsed.get("role").is_some_and(|r| r.is_array()),
            "{scenario}: role"
        );
        check_golden(scenario, "doctor.json", &json);
        let (text, code) = doctor(scenario, "text");
        assert_eq!(
            code,
            Some(expected_exit_code(scenario)),
            "{scenario}: doctor exit code (text)"
        );
        check_golden(scenario, "doctor.txt", &text);
    }
}

#[test]
fn no_golden_repeats_a_series() {
    for scenario in SCENARIOS {
        let text = std::fs::read_to_string(
            root()
                .join("tests/golden")
                .join(scenario)
                .join("metrics.prom"),
        )
        .expect("golden");
        let mut seen = std::collections::HashSet::new();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let series = line.rsplit_once(' ').map_or(line, |(series, _)| series);
            assert!(seen.insert(series), "{scenario}: {series} appears twice");
        }
    }
}

/// Label names of one exposition line (`name{a="x",b="y"} 1`), values skipped with their
/// escapes; empty for comments and series without labels.
fn label_names(line: &str) -> Vec<String> {
    let Some(open) = line.find('{') else {
        return Vec::new();
    };
    let mut names = Vec::new();
    let mut chars = line[open + 1..].chars();
    let mut name = String::new();
    while let Some(c) = chars.next() {
        match c {
            '}' => break,
            ',' | ' ' => {}
            '=' => {
                assert_eq!(chars.next(), Some('"'), "a label value is quoted: {line}");
                while let Some(v) = chars.next() {
                    match v {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        _ => {}
                    }
                }
                names.push(std::mem::take(&mut name));
            }
            c => name.push(c),
        }
    }
    names
}

/// Labels a Prometheus server attaches to every scraped series (`job`, `instance`) or keeps
/// for itself (`__...`): an exporter label of that name is renamed `exported_...` or dropped
/// at scrape time, and queries written against the documented name find nothing.
fn assert_no_reserved_label(what: &str, exposition: &str) {
    let mut series = 0;
    for line in exposition.lines().filter(|l| !l.starts_with('#')) {
        for name in label_names(line) {
            assert!(
                name != "job" && name != "instance" && !name.starts_with("__"),
                "{what}: label {name:?} is reserved or attached by Prometheus: {line}"
            );
        }
        series += 1;
    }
    assert!(series > 0, "{what}: no series to check");
}

#[test]
fn label_names_reads_escaped_values() {
    assert_eq!(
        label_names(r#"a{x="1,y=\"2\"}",instance="z"} 3"#),
        ["x", "instance"]
    );
    assert!(label_names("ipvs_up 1").is_empty());
}

#[test]
fn no_family_uses_a_label_prometheus_reserves() {
    let golden = root().join("tests/golden");
    let mut files = Vec::new();
    let mut dirs = vec![golden];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("read golden dir") {
            let path = entry.expect("golden entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "prom") {
                files.push(path);
            }
        }
    }
    assert!(files.len() >= SCENARIOS.len(), "goldens found: {files:?}");
    for path in &files {
        let text = std::fs::read_to_string(path).expect("golden");
        assert_no_reserved_label(&path.display().to_string(), &text);
    }
    // Live, with every default collector on (this host's interfaces too), in both formats.
    let mut args = fixture_args("no-ipvs");
    args.retain(|a| a != "--no-collector.interfaces");
    let exporter = Exporter::start(&args);
    let plain = http_get(exporter.address, "/metrics", &[]);
    assert_eq!(plain.status, 200);
    assert_no_reserved_label("live no-ipvs", &plain.body);
    let om = http_get(
        exporter.address,
        "/metrics",
        &[("Accept", "application/openmetrics-text;version=1.0.0")],
    );
    assert_no_reserved_label("live no-ipvs (OpenMetrics)", &om.body);
    exporter.stop();
}

#[test]
fn skipped_rules_metric_matches_doctor() {
    let mut any = false;
    for scenario in SCENARIOS {
        let dir = root().join("tests/golden").join(scenario);
        let doctor: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("doctor.json")).expect("golden"),
        )
        .expect("doctor JSON");
        let mut from_doctor: Vec<String> = doctor["skipped"]
            .as_array()
            .expect("skipped is a list")
            .iter()
            .map(|s| s["rule"].as_str().expect("rule id").to_string())
            .collect();
        let metrics = std::fs::read_to_string(dir.join("metrics.prom")).expect("golden");
        let mut from_metrics: Vec<String> = metrics
            .lines()
            .filter_map(|l| l.strip_prefix("ipvs_advisor_rule_skipped{rule=\""))
            .filter_map(|l| l.strip_suffix("\"} 1"))
            .map(str::to_string)
            .collect();
        from_doctor.sort();
        from_metrics.sort();
        assert_eq!(from_metrics, from_doctor, "{scenario}");
        any |= !from_doctor.is_empty();
    }
    assert!(any, "some scenario skips a rule");
}

#[test]
fn golden_scenarios_cover_what_they_claim() {
    // Guards the fixtures themselves: a NAT director with traffic, and a mixed table.
    let nat = std::fs::read_to_string(root().join("tests/golden/nat-director/metrics.prom"))
        .expect("golden");
    assert!(nat.contains("ipvs_up 1"));
    assert!(nat.contains("forward=\"masq\""));
    let mixed = std::fs::read_to_string(root().join("tests/golden/mixed-director/metrics.prom"))
        .expect("golden");
    for needle in [
        "proto=\"FWM\"",
        "proto=\"SCTP\"",
        "proto=\"UDP\"",
        "forward=\"route\"",
        "forward=\"tunnel\"",
        "family=\"inet6\"",
        "persistent=\"true\"",
        "flags=\"ops\"",
    ] {
        assert!(
            mixed.contains(needle),
            "mixed-director golden lacks {needle}"
        );
    }
    let none =
        std::fs::read_to_string(root().join("tests/golden/no-ipvs/metrics.prom")).expect("golden");
    assert!(none.contains("ipvs_up 0"));
    assert!(none.contains("ipvs_scrape_collector_success{collector=\"ipvs\"} 1"));
    let conntrack =
        std::fs::read_to_string(root().join("tests/golden/conntrack/traffic/metrics.prom"))
            .expect("golden");
    for needle in [
        "ipvs_conntrack_entries 31\n",
        "ipvs_conntrack_invalid_total 48\n",
        "ipvs_conntrack_error_total 10\n",
        "ipvs_conntrack_statistics_info{source=\"procfs\"} 1\n",
    ] {
        assert!(
            conntrack.contains(needle),
            "conntrack golden lacks {needle:?}"
        );
    }
    // keepalived-health: the states and figures worked out by hand from its keepalived.conf
    // and proc/net/ip_vs (a record is no truth by itself).
    let health =
        std::fs::read_to_string(root().join("tests/golden/keepalived-health/metrics.prom"))
            .expect("golden");
    let vs80 = r#"proto="TCP",local_address="192.0.2.10",local_port="80",local_mark="",virtual_server_group="""#;
    let fwm5 =
        r#"proto="FWM",local_address="",local_port="0",local_mark="5",virtual_server_group="WEB""#;
    for needle in [
        // weight 2 as configured: up; weight 0 with inhibit_on_failure: down; absent: down
        format!(r#"ipvs_keepalived_real_server_state{{{vs80},remote_address="10.0.0.1",remote_port="80",state="up"}} 1"#),
        format!(r#"ipvs_keepalived_real_server_state{{{vs80},remote_address="10.0.0.2",remote_port="80",state="down"}} 1"#),
        format!(r#"ipvs_keepalived_real_server_state{{{vs80},remote_address="10.0.0.3",remote_port="80",state="down"}} 1"#),
        // live weight 2 of quorum 3, sorry server 10.0.0.99 at weight 1
        format!(r#"ipvs_keepalived_virtual_server_live_weight{{{vs80}}} 2"#),
        format!(r#"ipvs_keepalived_virtual_server_quorum_up{{{vs80}}} 0"#),
        format!(r#"ipvs_keepalived_virtual_server_sorry_server_active{{{vs80}}} 1"#),
        // the group's firewall mark: weight 3 against the default 1, port 0
        format!(r#"ipvs_keepalived_real_server_state{{{fwm5},remote_address="10.0.1.1",remote_port="0",state="reweighted"}} 1"#),
        // the group's second address is not in the table
        r#"ipvs_keepalived_virtual_server_present{proto="TCP",local_address="192.0.2.21",local_port="443",local_mark="",virtual_server_group="WEB"} 0"#.to_string(),
        r#"ipvs_advisor_finding{rule="keepalived-unmanaged-service",severity="warning",subject="UDP 192.0.2.30:53"} 1"#.to_string(),
        r#"ipvs_advisor_finding{rule="keepalived-unmanaged-real-server",severity="warning",subject="TCP 192.0.2.10:80 -> 10.0.0.7:80"} 1"#.to_string(),
    ] {
        assert!(health.contains(&format!("{needle}\n")), "keepalived-health golden lacks {needle}");
    }
    assert!(
        !conntrack.contains("ipvs_conntrack_entries_total"),
        "the table size column of /proc/net/stat/nf_conntrack is not a statistic"
    );
}

#[test]
fn http_endpoints_behave() {
    let exporter = Exporter::start(&fixture_args("nat-director"));
    let address = exporter.address;
    assert_eq!(http_get(address, "/healthz", &[]).status, 200);
    assert_eq!(http_get(address, "/nope", &[]).status, 404);
    let landing = http_get(address, "/", &[]);
    assert_eq!(landing.status, 200);
    assert!(landing.body.contains("href=\"/metrics\""));

    let post = support::http_request(address, "POST", "/metrics", &[]);
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET, HEAD"));

    let om = http_get(
        address,
        "/metrics",
        &[(
            "Accept",
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        )],
    );
    assert!(
        om.header("content-type")
            .is_some_and(|v| v.starts_with("application/openmetrics-text; version=1.0.0"))
    );
    assert!(
        om.body.ends_with("# EOF\n"),
        "OpenMetrics output must end in # EOF"
    );
    assert!(om.body.contains("# TYPE ipvs_connections counter\n"));
    assert!(om.body.contains("# UNIT ipvs_incoming_bytes bytes\n"));

    let gzipped =
        support::http_request_raw(address, "GET", "/metrics", &[("Accept-Encoding", "gzip")]);
    assert_eq!(gzipped.header("content-encoding"), Some("gzip"));
    let plain = http_get(address, "/metrics", &[]);
    let inflated = support::gunzip(&gzipped.raw_body);
    assert_eq!(normalize_metrics(&inflated), normalize_metrics(&plain.body));

    let code = exporter.stop();
    assert_eq!(code, Some(0), "SIGTERM ends the exporter cleanly");
}

#[test]
fn report_endpoint_serves_the_doctor_report() {
    let exporter = Exporter::start(&fixture_args("mixed-director"));
    let address = exporter.address;
    let json = http_get(address, "/report", &[("Accept", "application/json")]);
    assert_eq!(json.status, 200);
    assert_eq!(json.header("content-type"), Some("application/json"));
    let (doctor_json, _) = doctor("mixed-director", "json");
    assert_eq!(json.body, doctor_json, "/report JSON is doctor's JSON");
    assert_eq!(
        http_get(address, "/report?format=json", &[]).body,
        doctor_json
    );

    let html = http_get(address, "/report", &[("Accept", "text/html,*/*;q=0.8")]);
    assert!(
        html.header("content-type")
            .is_some_and(|v| v.starts_with("text/html"))
    );
    // The page groups doctor's findings by rule: counted here from doctor's JSON.
    let parsed: serde_json::Value = serde_json::from_str(&doctor_json).expect("doctor JSON");
    let findings = parsed["findings"].as_array().expect("findings");
    let critical = findings
        .iter()
        .filter(|f| f["severity"] == "critical")
        .count();
    assert_eq!(critical, 5, "mixed-director's services without weight");
    assert!(
        html.body.contains(&format!(
            "data-severity=\"critical\" data-count=\"{critical}\">"
        )),
        "{}",
        html.body
    );
    assert_eq!(
        html.body.matches("<article class=\"rule ").count(),
        1,
        "one rule found something"
    );
    assert!(html.body.contains(&format!(
        "id=\"rule-service-without-weight\" data-rule=\"service-without-weight\" \
         data-severity=\"critical\" data-findings=\"{critical}\">"
    )));
    // As HTML writes text (the fix has an apostrophe).
    let escaped = |text: &str| {
        text.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
            .replace('\'', "&#39;")
    };
    let fix = escaped(findings[0]["fix"].as_str().expect("fix"));
    assert_eq!(html.body.matches(&fix).count(), 1, "the fix once: {fix}");
    for finding in findings {
        let summary = escaped(finding["summary"].as_str().expect("summary"));
        assert_eq!(html.body.matches(&summary).count(), 1, "{summary}");
    }
    assert!(
        html.body
            .contains("<article class=\"service\" data-service=\"FWM 268435457\"")
    );
    // A record of the whole page, to see what a change does to it.
    check_golden("mixed-director", "report.html", &html.body);

    let text = http_get(address, "/report", &[]);
    assert!(text.body.contains("CRITICAL\n"), "{}", text.body);
    assert!(!text.body.contains('\u{1b}'), "no colour over HTTP");
    assert_eq!(http_get(address, "/report?format=yaml", &[]).status, 400);
    exporter.stop();
}

#[test]
fn doctor_explains_every_rule_and_emits_sysctl() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_ipvs_exporter"))
            .current_dir(root())
            .args(args)
            .output()
            .expect("run doctor")
    };
    let json = run(&[
        "doctor",
        "--format",
        "json",
        "--no-collector.ipvs",
        "--no-collector.netdev",
    ]);
    assert!(json.status.code().is_some_and(|c| c <= 2));
    let ids_text =
        String::from_utf8_lossy(&run(&["doctor", "--explain", "nope"]).stderr).to_string();
    let ids: Vec<&str> = ids_text
        .split("the rules are: ")
        .nth(1)
        .expect("doctor lists the rules")
        .trim()
        .split(", ")
        .collect();
    assert!(ids.len() >= 20, "{ids:?}");
    for id in ids {
        let out = run(&["doctor", "--explain", id]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{id}");
        for part in ["What: ", "Why: ", "Fix: "] {
            assert!(text.contains(part), "{id}: {text}");
        }
    }
    let emitted = run(&[
        "doctor",
        "--emit-sysctl",
        "--role",
        "nat-director",
        "--path.procfs",
        "tests/fixtures/sysctl-bad/proc",
        "--collector.ipvs.source",
        "procfs",
    ]);
    let file = String::from_utf8_lossy(&emitted.stdout);
    assert!(file.contains("\nnet.ipv4.ip_forward = 1\n"), "{file}");
    assert!(
        file.contains("\nnet.ipv4.vs.run_estimation = 1\n"),
        "{file}"
    );
    // The file printed is a success, critical findings or not (the same run without
    // --emit-sysctl exits 2: see doctor_exit_codes in tests/cli_args.rs).
    assert_eq!(emitted.status.code(), Some(0), "the file printed: exit 0");
}

#[test]
fn bad_flags_fail_before_listening() {
    for args in [
        vec!["--collector.nope"],
        vec!["--web.listen-address", "not-an-address"],
        vec!["--log.format", "xml"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_ipvs_exporter"))
            .args(&args)
            .output()
            .expect("run exporter");
        assert!(!out.status.success(), "{args:?} must fail");
        assert!(!out.stderr.is_empty(), "{args:?} must say why");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_ipvs_exporter"))
        .args(["doctor", "--format", "yaml"])
        .output()
        .expect("run doctor");
    assert_eq!(
        out.status.code(),
        Some(3),
        "a doctor usage error is exit code 3"
    );
}

#[test]
fn fixture_paths_exist() {
    for scenario in SCENARIOS {
        assert!(
            root().join(procfs(scenario)).is_dir(),
            "{scenario} has a proc tree"
        );
    }
}
