//! A setting the advisor could not read is said to be unread, in every place findings show:
//! doctor's text, JSON and Markdown, `/report`, and the `ipvs_advisor_*` metrics. Never the
//! kernel's default shown as if it had been observed.
//!
//! `tests/fixtures/unread-budget/proc` has a softnet_stat whose CPUs ran out of budget, and no
//! `sys/net/core/netdev_budget`: before, doctor printed `net.core.netdev_budget: 300`, the
//! kernel's default, as the observed value.

// Test code: a failed unwrap or index is a failed test (the [lints] table guards src/).
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::panic, clippy::indexing_slicing)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::{Exporter, http_get};

const FIXTURE: &str = "tests/fixtures/unread-budget";
const UNREAD: &str = "net.core.netdev_budget could not be read";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn args() -> Vec<String> {
    let fixture = Path::new(FIXTURE);
    vec![
        "--path.procfs".into(),
        fixture.join("proc").to_string_lossy().into_owned(),
        "--path.sysfs".into(),
        fixture.join("sys").to_string_lossy().into_owned(),
        "--path.rootfs".into(),
        FIXTURE.into(),
        "--collector.ipvs.source".into(),
        "procfs".into(),
        "--collector.conntrack.source".into(),
        "procfs".into(),
        "--no-collector.interfaces".into(),
    ]
}

fn doctor(format: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_ipvs_exporter"))
        .current_dir(root())
        .args(["doctor", "--format", format])
        .args(args())
        .output()
        .expect("run doctor");
    assert!(
        out.status.code().is_some_and(|c| c <= 2),
        "doctor ran: {out:?}"
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// The fixture is what it claims: the budget is absent, and the CPUs were squeezed (so a rule
/// that assumed the default would have built a finding from it).
#[test]
fn the_fixture_lacks_the_budget_and_has_squeezes() {
    let proc = root().join(FIXTURE).join("proc");
    assert!(!proc.join("sys/net/core/netdev_budget").exists());
    let squeezed: u64 = std::fs::read_to_string(proc.join("net/softnet_stat"))
        .unwrap()
        .lines()
        .map(|row| u64::from_str_radix(row.split_whitespace().nth(2).unwrap(), 16).unwrap())
        .sum();
    assert_eq!(squeezed, 0x12 + 0x7);
}

#[test]
fn doctor_says_the_budget_could_not_be_read_in_every_format() {
    let text = doctor("text");
    assert!(
        text.contains(&format!("netdev-budget: {UNREAD}")),
        "text:\n{text}"
    );
    let markdown = doctor("markdown");
    assert!(
        markdown.contains(&format!("- `netdev-budget`: {UNREAD}")),
        "markdown:\n{markdown}"
    );
    let json: serde_json::Value = serde_json::from_str(&doctor("json")).unwrap();
    let skipped: Vec<(&str, &str)> = json["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["rule"].as_str().unwrap(), s["reason"].as_str().unwrap()))
        .collect();
    assert!(
        skipped.contains(&("netdev-budget", UNREAD)),
        "json: {skipped:?}"
    );
    // And nowhere a finding built from it: no netdev-budget finding, no 300.
    assert!(
        !json["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["rule"] == "netdev-budget"),
        "{json}"
    );
    for (format, out) in [("text", &text), ("markdown", &markdown)] {
        assert!(!out.contains("netdev_budget: 300"), "{format}:\n{out}");
        assert!(!out.contains("| 300 |"), "{format}:\n{out}");
    }
}

#[test]
fn report_and_metrics_say_it_too() {
    let exporter = Exporter::start(&args());
    let address = exporter.address;
    let text = http_get(address, "/report", &[]).body;
    assert!(text.contains(&format!("netdev-budget: {UNREAD}")), "{text}");
    let json: serde_json::Value =
        serde_json::from_str(&http_get(address, "/report?format=json", &[]).body).unwrap();
    assert!(
        json["skipped"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["rule"] == "netdev-budget" && s["reason"] == UNREAD),
        "{json}"
    );
    let html = http_get(address, "/report", &[("Accept", "text/html")]).body;
    assert!(html.contains(UNREAD), "{html}");
    let metrics = http_get(address, "/metrics", &[]).body;
    assert!(
        metrics.contains("ipvs_advisor_rule_skipped{rule=\"netdev-budget\"} 1\n"),
        "{metrics}"
    );
    assert!(
        !metrics.contains("ipvs_advisor_finding{rule=\"netdev-budget\""),
        "{metrics}"
    );
    // The squeezes themselves are still there to see.
    assert!(metrics.contains("ipvs_softnet_times_squeezed_total{cpu=\"0\"} 18\n"));
    exporter.stop();
}

/// The host golden showed the assumed 300 before; the fixture has no netdev_budget either.
#[test]
fn the_host_golden_says_the_budget_could_not_be_read() {
    assert!(
        !root()
            .join("tests/fixtures/host/proc/sys/net/core/netdev_budget")
            .exists()
    );
    let golden: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("tests/golden/host/doctor.json")).unwrap(),
    )
    .unwrap();
    assert!(
        golden["skipped"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["rule"] == "netdev-budget" && s["reason"] == UNREAD),
        "{golden}"
    );
    assert!(
        !golden["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["rule"] == "netdev-budget")
    );
}
