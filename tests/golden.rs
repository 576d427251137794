//! End to end on fixture trees: the real binary is pointed at `tests/fixtures/<scenario>` and
//! its /metrics and `doctor` output are compared with `tests/golden/<scenario>/`.
//! `UPDATE_GOLDEN=1 cargo test --test golden` rewrites the goldens; review the diff.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::{Exporter, http_get, normalize_metrics};

const SCENARIOS: &[&str] = &[
    "no-ipvs",
    "nat-director",
    "mixed-director",
    "host",
    "keepalived-director",
    "keepalived-stopped",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Relative to the package root, where the tests run, so that no absolute path ends up in
/// a golden file.
fn procfs(scenario: &str) -> PathBuf {
    Path::new("tests/fixtures").join(scenario).join("proc")
}

/// Flags that point the exporter at a fixture tree. The fixtures are procfs trees, so the
/// ipvs collector is told to read procfs rather than this host's kernel over netlink. The
/// fixture is also the root filesystem, so that keepalived's files come from it, not the host.
fn fixture_args(scenario: &str) -> Vec<String> {
    vec![
        "--path.procfs".into(),
        procfs(scenario).to_string_lossy().into_owned(),
        "--collector.ipvs.source".into(),
        "procfs".into(),
        "--path.sysfs".into(),
        Path::new("tests/fixtures")
            .join(scenario)
            .join("sys")
            .to_string_lossy()
            .into_owned(),
        "--no-collector.netdev.ethtool".into(),
        "--path.rootfs".into(),
        Path::new("tests/fixtures")
            .join(scenario)
            .to_string_lossy()
            .into_owned(),
    ]
}

/// Compares `actual` with the golden file, or rewrites it when UPDATE_GOLDEN is set.
fn check_golden(scenario: &str, file: &str, actual: &str) {
    let path = root().join("tests/golden").join(scenario).join(file);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("create golden dir");
        }
        std::fs::write(&path, actual).expect("write golden");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|err| {
        panic!(
            "cannot read {}: {err} (UPDATE_GOLDEN=1 writes it)",
            path.display()
        )
    });
    if expected != actual {
        let diff = first_difference(&expected, actual);
        panic!(
            "{} differs from the output (UPDATE_GOLDEN=1 rewrites it):\n{diff}",
            path.display()
        );
    }
}

fn first_difference(expected: &str, actual: &str) -> String {
    let mut e = expected.lines();
    let mut a = actual.lines();
    for number in 1.. {
        match (e.next(), a.next()) {
            (None, None) => break,
            (x, y) if x == y => continue,
            (x, y) => return format!("line {number}:\n  golden: {x:?}\n  actual: {y:?}"),
        }
    }
    "outputs differ only in line endings".to_string()
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

#[test]
fn doctor_matches_the_goldens() {
    for scenario in SCENARIOS {
        let (json, code) = doctor(scenario, "json");
        assert_eq!(code, Some(0), "{scenario}: doctor exit code");
        let parsed: serde_json::Value = serde_json::from_str(&json).expect("doctor JSON parses");
        assert!(
            parsed.get("role").is_some_and(|r| r.is_array()),
            "{scenario}: role"
        );
        check_golden(scenario, "doctor.json", &json);
        let (text, code) = doctor(scenario, "text");
        assert_eq!(code, Some(0), "{scenario}: doctor exit code (text)");
        check_golden(scenario, "doctor.txt", &text);
    }
}

#[test]
fn promtool_accepts_every_golden() {
    for scenario in SCENARIOS {
        let path = root()
            .join("tests/golden")
            .join(scenario)
            .join("metrics.prom");
        let file = std::fs::File::open(&path).expect("open golden");
        let out = Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(file)
            .output()
            .expect("promtool must be installed (Debian package prometheus); the test command installs it");
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success() && said.trim().is_empty(),
            "promtool on {}: {said}",
            path.display()
        );
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
    let keepalived =
        std::fs::read_to_string(root().join("tests/golden/keepalived-director/metrics.prom"))
            .expect("golden");
    for needle in [
        "ipvs_keepalived_up 1",
        "ipvs_keepalived_config_errors 1",
        "ipvs_vrrp_priority{instance=\"VI_GONE\"} 50",
        "ipvs_keepalived_config_files 2",
        "ipvs_vrrp_state{instance=\"VI_LO\",interface=\"lo\",vrid=\"11\",state=\"MASTER\"} 1",
        "ipvs_vrrp_state{instance=\"VI_STANDBY\",interface=\"lo\",vrid=\"12\",state=\"BACKUP\"} 1",
        "ipvs_vrrp_state{instance=\"VI_GONE\",interface=\"vrrp-fixture0\",vrid=\"13\",state=\"FAULT\"} 1",
        "ipvs_vrrp_vip_present{instance=\"VI_LO\",interface=\"lo\",address=\"127.0.0.1\"} 1",
        "ipvs_vrrp_vip_present{instance=\"VI_STANDBY\",interface=\"lo\",address=\"192.0.2.250\"} 0",
        "ipvs_vrrp_priority{instance=\"VI_STANDBY\"} 100",
        "ipvs_vrrp_priority{instance=\"VI_LO\"} 200",
    ] {
        assert!(
            keepalived.contains(needle),
            "keepalived-director golden lacks {needle}"
        );
    }
    let stopped =
        std::fs::read_to_string(root().join("tests/golden/keepalived-stopped/metrics.prom"))
            .expect("golden");
    assert!(stopped.contains("ipvs_keepalived_up 0"));
    assert_eq!(
        stopped
            .lines()
            .filter(|l| l.starts_with("ipvs_vrrp_state{") && l.ends_with(" 1"))
            .filter(|l| l.contains("state=\"STOP\""))
            .count(),
        3,
        "every instance is STOP while keepalived is not running"
    );
    let none =
        std::fs::read_to_string(root().join("tests/golden/no-ipvs/metrics.prom")).expect("golden");
    assert!(none.contains("ipvs_up 0"));
    assert!(none.contains("ipvs_scrape_collector_success{collector=\"ipvs\"} 1"));
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
