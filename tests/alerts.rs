//! The Prometheus rules in `alerts/` (test-host tier: needs promtool and jsonnet, which
//! tests/run.sh installs): promtool accepts the committed rule files and passes their unit
//! tests in `alerts/tests/`, every alert has a firing and a silent case there, the committed
//! files are what `alerts/generate.sh` renders from the jsonnet sources, the lab variant
//! keeps the recording rule names, and a real Prometheus scraping the exporter on fixture
//! trees evaluates the rules to what the advisor and the goldens say (and, on static fixtures
//! of keepalived's decisions, fires exactly the alerts they call for).

// Test code: a failed unwrap or index is a failed test (the [lints] table guards src/).
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::panic, clippy::indexing_slicing)]
#![allow(clippy::cast_possible_truncation)]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::{Exporter, fixture_args, http_get, serve_exposition};

const RULE_FILES: &[&str] = &["ipvs_exporter.rules.yaml", "ipvs_exporter.alerts.yaml"];

fn alerts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("alerts")
}

/// Runs a tool, failing loudly with the Debian package to install when it is missing.
fn run(tool: &str, package: &str, args: &[&str], dir: &Path) -> Output {
    Command::new(tool)
        .args(args)
        .current_dir(dir)
        // generate.sh's overrides of the mixin's configuration: the committed files are the
        // defaults'
        .env_remove("IPVS_SELECTOR")
        .env_remove("IPVS_CLUSTER_LABEL")
        .env_remove("IPVS_MIXIN_CONFIG")
        .output()
        .unwrap_or_else(|e| {
            panic!("{tool} could not be run ({e}): install the Debian package {package} (tests/run.sh does)")
        })
}

fn said(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn generate(args: &[&str]) -> tempfile_dir::TempDir {
    let dir = tempfile_dir::TempDir::new("ipvs-alerts");
    let mut full: Vec<&str> = args.to_vec();
    let path = dir.path().to_string_lossy().into_owned();
    full.push(&path);
    let out = run(
        "bash",
        "bash",
        &[&["generate.sh"], full.as_slice()].concat(),
        &alerts_dir(),
    );
    assert!(out.status.success(), "generate.sh {args:?}: {}", said(&out));
    dir
}

/// A temporary directory removed on drop (std only).
mod tempfile_dir {
    use std::path::{Path, PathBuf};

    pub struct TempDir(PathBuf);

    impl TempDir {
        pub fn new(prefix: &str) -> TempDir {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            let path =
                std::env::temp_dir().join(format!("{prefix}-{}-{nanos}", std::process::id()));
            std::fs::create_dir_all(&path).expect("create a temporary directory");
            TempDir(path)
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Values of `key: "value"` lines (the generated files quote every string).
fn values_of(text: &str, key: &str) -> Vec<String> {
    let prefix = format!("- {key}: ");
    text.lines()
        .filter_map(|l| l.trim_start().strip_prefix(&prefix))
        .map(|v| v.trim_matches('"').to_string())
        .collect()
}

#[test]
fn promtool_checks_the_rule_files() {
    let out = run(
        "promtool",
        "prometheus",
        &[&["check", "rules"], RULE_FILES].concat(),
        &alerts_dir(),
    );
    assert!(out.status.success(), "promtool check rules: {}", said(&out));
    let text = said(&out);
    assert_eq!(text.matches("SUCCESS").count(), RULE_FILES.len(), "{text}");
}

#[test]
fn promtool_unit_tests_pass() {
    let tests_dir = alerts_dir().join("tests");
    let mut files: Vec<String> = std::fs::read_dir(&tests_dir)
        .expect("alerts/tests")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "unit test files: {files:?}");
    let args: Vec<&str> = ["test", "rules"]
        .into_iter()
        .chain(files.iter().map(String::as_str))
        .collect();
    // promtool evaluates the groups in the order the files give; run a few times so that an
    // order the tests forgot to pin shows up
    for _ in 0..3 {
        let out = run("promtool", "prometheus", &args, &tests_dir);
        assert!(out.status.success(), "promtool test rules: {}", said(&out));
        assert_eq!(
            said(&out).matches("SUCCESS").count(),
            files.len(),
            "{}",
            said(&out)
        );
    }
}

#[test]
fn every_alert_has_a_firing_and_a_silent_case() {
    let alerts = std::fs::read_to_string(alerts_dir().join("ipvs_exporter.alerts.yaml"))
        .expect("alerts file");
    let names: BTreeSet<String> = values_of(&alerts, "alert").into_iter().collect();
    assert!(names.len() >= 25, "alerts: {names:?}");
    let mut firing = BTreeSet::new();
    let mut silent = BTreeSet::new();
    for entry in std::fs::read_dir(alerts_dir().join("tests")).expect("alerts/tests") {
        let text = std::fs::read_to_string(entry.expect("entry").path()).expect("test file");
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        for (i, line) in lines.iter().enumerate() {
            let Some(name) = line.strip_prefix("alertname: ") else {
                continue;
            };
            match lines.get(i + 1) {
                Some(&"exp_alerts: []") => silent.insert(name.to_string()),
                Some(&"exp_alerts:") => {
                    // a firing case names its labels and annotations
                    let rest = lines[i + 2..].join("\n");
                    let case = rest.split("alertname: ").next().unwrap_or_default();
                    assert!(
                        case.contains("exp_labels:") && case.contains("exp_annotations:"),
                        "{name}: a firing case without exp_labels and exp_annotations"
                    );
                    firing.insert(name.to_string())
                }
                other => panic!("{name}: unexpected {other:?}"),
            };
        }
    }
    let no_firing: Vec<_> = names.difference(&firing).collect();
    let no_silent: Vec<_> = names.difference(&silent).collect();
    assert!(
        no_firing.is_empty(),
        "alerts without a firing case: {no_firing:?}"
    );
    assert!(
        no_silent.is_empty(),
        "alerts without a silent case: {no_silent:?}"
    );
    let unknown: Vec<_> = firing
        .union(&silent)
        .filter(|n| !names.contains(*n))
        .collect();
    assert!(
        unknown.is_empty(),
        "tests of alerts that do not exist: {unknown:?}"
    );
}

#[test]
fn committed_rule_files_are_what_the_generator_renders() {
    let fresh = generate(&[]);
    for name in RULE_FILES {
        let committed = std::fs::read(alerts_dir().join(name)).expect("committed rule file");
        let rendered = std::fs::read(fresh.path().join(name)).expect("rendered rule file");
        assert!(
            committed == rendered,
            "alerts/{name} is not what alerts/generate.sh renders from alerts/*.libsonnet: run alerts/generate.sh and commit"
        );
    }
}

/// The selector of `alerts/config.libsonnet`, the one the committed files carry.
const DEFAULT_SELECTOR: &str = r#"job="ipvs_exporter""#;

/// `alerts/generate.sh --selector` (the README's way to another job): the files are the
/// committed ones with the default selector replaced wherever it stands, and promtool takes
/// them.
#[test]
fn another_selector_replaces_the_default_in_every_rule() {
    const OTHER: &str = r#"job="lb", env="prod""#;
    let fresh = generate(&["--selector", OTHER]);
    for name in RULE_FILES {
        let committed =
            std::fs::read_to_string(alerts_dir().join(name)).expect("committed rule file");
        let rendered = std::fs::read_to_string(fresh.path().join(name)).expect("rendered");
        assert!(
            committed.matches(DEFAULT_SELECTOR).count() >= 10,
            "{name}: the committed file hardly uses {DEFAULT_SELECTOR}"
        );
        assert!(
            !rendered.contains(DEFAULT_SELECTOR),
            "{name}: the default selector is left somewhere"
        );
        assert!(
            rendered == committed.replace(DEFAULT_SELECTOR, OTHER),
            "{name}: --selector changed more (or less) than the selector"
        );
    }
    let out = run(
        "promtool",
        "prometheus",
        &[&["check", "rules"], RULE_FILES].concat(),
        fresh.path(),
    );
    assert!(out.status.success(), "promtool check rules: {}", said(&out));
}

#[test]
fn the_lab_variant_keeps_names_and_shortens_waits() {
    let lab = generate(&["--lab"]);
    let out = run(
        "promtool",
        "prometheus",
        &[&["check", "rules"], RULE_FILES].concat(),
        lab.path(),
    );
    assert!(
        out.status.success(),
        "promtool check rules (lab): {}",
        said(&out)
    );
    for name in RULE_FILES {
        let committed =
            std::fs::read_to_string(alerts_dir().join(name)).expect("committed rule file");
        let rendered = std::fs::read_to_string(lab.path().join(name)).expect("lab rule file");
        for key in ["record", "alert"] {
            assert_eq!(
                values_of(&committed, key),
                values_of(&rendered, key),
                "{name}: {key} names"
            );
        }
        let fors: Vec<String> = rendered
            .lines()
            .filter_map(|l| l.trim().strip_prefix("for: "))
            .map(|v| v.trim_matches('"').to_string())
            .collect();
        for d in &fors {
            assert!(d.ends_with('s'), "{name}: lab for: {d} is not in seconds");
        }
    }
}

/// Each alert links to its own section of docs/runbooks.md, and that section justifies the
/// alert's `for:` as the committed file has it.
#[test]
fn every_alert_has_its_runbook_section() {
    let alerts = std::fs::read_to_string(alerts_dir().join("ipvs_exporter.alerts.yaml"))
        .expect("alerts file");
    let runbooks =
        std::fs::read_to_string(alerts_dir().join("../docs/runbooks.md")).expect("runbooks");
    let names = values_of(&alerts, "alert");
    let fors: Vec<String> = alerts
        .lines()
        .filter_map(|l| l.trim().strip_prefix("for: "))
        .map(|v| v.trim_matches('"').to_string())
        .collect();
    let urls: Vec<String> = alerts
        .lines()
        .filter_map(|l| l.trim().strip_prefix("runbook_url: "))
        .map(|v| v.trim_matches('"').to_string())
        .collect();
    assert_eq!(names.len(), fors.len());
    assert_eq!(names.len(), urls.len());
    for ((name, wait), url) in names.iter().zip(&fors).zip(&urls) {
        assert!(
            url.ends_with(&format!("docs/runbooks.md#{}", name.to_lowercase())),
            "{name}: runbook_url {url}"
        );
        let heading = format!("\n## {name}\n");
        let start = runbooks
            .find(&heading)
            .unwrap_or_else(|| panic!("docs/runbooks.md has no section {name}"));
        let section = &runbooks[start + heading.len()..];
        let section = section.split("\n## ").next().unwrap_or_default();
        assert!(
            section.contains(&format!("**Why `for: {wait}`")),
            "{name}: its runbook section does not justify for: {wait}"
        );
    }
}

/// The static fixtures of keepalived's decisions (`tests/fixtures/alerts/<name>.prom`): a
/// director whose keepalived runs, and its peer whose keepalived is stopped.
const STATIC_SCENARIOS: [&str; 2] = ["keepalived-decisions", "keepalived-decisions-stopped"];

fn static_fixture(name: &str) -> String {
    std::fs::read_to_string(format!("tests/fixtures/alerts/{name}.prom")).expect("fixture")
}

/// An alert as one line: its name and its labels, but those that say where (job, instance,
/// scenario) and its severity.
fn alert_line(a: &BTreeMap<String, String>) -> String {
    let labels: Vec<String> = a
        .iter()
        .filter(|(k, _)| {
            !["alertname", "job", "instance", "scenario", "severity"].contains(&k.as_str())
        })
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    format!("{} {}", a["alertname"], labels.join(","))
        .trim_end()
        .to_string()
}

/// A Prometheus server, killed when dropped.
struct Prometheus {
    child: Child,
    address: std::net::SocketAddr,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    fn start(config: &Path, data: &Path) -> Prometheus {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let address: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address={address}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("prometheus could not be run ({e}): install the Debian package prometheus (tests/run.sh does)")
            });
        let server = Prometheus { child, address };
        // it listens before it has loaded its storage and rules: wait for /-/ready
        support::wait_until_ready(address, "/-/ready", "prometheus");
        server
    }

    fn api(&self, path: &str) -> serde_json::Value {
        let response = http_get(self.address, path, &[]);
        assert_eq!(response.status, 200, "{path}: {}", response.body);
        let value: serde_json::Value = serde_json::from_str(&response.body).expect("API JSON");
        assert_eq!(value["status"], "success", "{path}: {value}");
        value["data"].clone()
    }

    /// An instant query's series as (labels, value).
    fn query(&self, promql: &str) -> Vec<(BTreeMap<String, String>, f64)> {
        let encoded: String = promql
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        let data = self.api(&format!("/api/v1/query?query={encoded}"));
        data["result"]
            .as_array()
            .expect("a vector result")
            .iter()
            .map(|s| {
                let labels = s["metric"]
                    .as_object()
                    .expect("labels")
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect();
                let value = s["value"][1]
                    .as_str()
                    .and_then(|v| v.parse().ok())
                    .expect("a sample value");
                (labels, value)
            })
            .collect()
    }

    /// The labels of the alerts in a state (`alertname` among them), sorted.
    fn alerts(&self, state: &str) -> Vec<BTreeMap<String, String>> {
        let mut alerts: Vec<BTreeMap<String, String>> = self.api("/api/v1/alerts")["alerts"]
            .as_array()
            .expect("alerts")
            .iter()
            .filter(|a| a["state"] == state)
            .map(|a| {
                a["labels"]
                    .as_object()
                    .expect("labels")
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .collect();
        alerts.sort();
        alerts
    }
}

fn names(alerts: &[BTreeMap<String, String>]) -> BTreeSet<String> {
    alerts.iter().map(|a| a["alertname"].clone()).collect()
}

/// Prometheus scrapes the exporter on four fixture trees, and two static fixtures of
/// keepalived's decisions, every second with the lab variant of the rules; the alerts that
/// fire are those the fixtures call for (checked against the advisor's findings in the
/// goldens, and exactly, alert by alert, on the static fixtures), the others stay quiet, the
/// keepalived dashboard's new panels have data, and the recording rules agree with the goldens.
#[test]
fn prometheus_evaluates_the_rules_on_the_exporter() {
    let scenarios = [
        "mixed-director",
        "nat-director",
        "keepalived-stopped",
        "host",
    ];
    let exporters: Vec<(&str, Exporter)> = scenarios
        .iter()
        .map(|s| (*s, Exporter::start(&fixture_args(s))))
        .collect();
    let statics: Vec<(&str, std::net::SocketAddr)> = STATIC_SCENARIOS
        .iter()
        .map(|s| {
            let text = static_fixture(s);
            (*s, serve_exposition(move |_, _| text.clone()))
        })
        .collect();
    let rules = generate(&["--lab"]);
    let dir = rules.path();
    let targets: String = exporters
        .iter()
        .map(|(scenario, e)| (*scenario, e.address))
        .chain(statics.iter().copied())
        .map(|(scenario, address)| {
            format!("      - targets: ['{address}']\n        labels: {{scenario: '{scenario}'}}\n")
        })
        .collect();
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {0}/ipvs_exporter.rules.yaml\n  - {0}/ipvs_exporter.alerts.yaml\nscrape_configs:\n  - job_name: ipvs_exporter\n    static_configs:\n{targets}",
        dir.display()
    );
    std::fs::write(dir.join("prometheus.yml"), config).expect("write prometheus.yml");
    let prometheus = Prometheus::start(&dir.join("prometheus.yml"), &dir.join("data"));

    let expected: BTreeSet<String> = [
        "IpvsServiceWithoutRealServer",
        "IpvsKeepalivedDown",
        "IpvsKeepalivedConfigErrors",
        "IpvsVrrpNoMaster",
        "IpvsAdvisorCriticalFinding",
        "IpvsAdvisorWarningFinding",
        "IpvsKeepalivedRealServerDown",
        "IpvsKeepalivedQuorumLost",
        "IpvsKeepalivedSorryServerActive",
        "IpvsKeepalivedConfigDrift",
        "IpvsVrrpFlapping",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    // All the fixtures' alerts become active within the first scrapes and fire 10 s later,
    // give or take a scrape: wait until the expected ones fire and the set has stopped
    // changing for 5 s.
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut last = Vec::new();
    let mut since = Instant::now();
    let firing = loop {
        let firing = prometheus.alerts("firing");
        if firing != last {
            last = firing.clone();
            since = Instant::now();
        }
        let settled = since.elapsed() >= Duration::from_secs(5);
        if (names(&firing).is_superset(&expected) && settled) || Instant::now() > deadline {
            break firing;
        }
        std::thread::sleep(Duration::from_secs(1));
    };
    let fired = names(&firing);
    let missing: Vec<_> = expected.difference(&fired).collect();
    assert!(
        missing.is_empty(),
        "not firing: {missing:?}; firing: {fired:?}"
    );

    let scenario_of = |a: &BTreeMap<String, String>| a.get("scenario").cloned().unwrap_or_default();
    let of = |name: &str| -> Vec<&BTreeMap<String, String>> {
        firing.iter().filter(|a| a["alertname"] == name).collect()
    };

    // A service as the advisor names it: "TCP 192.0.2.12:8443", "FWM 268435457".
    let text = |l: &BTreeMap<String, String>| match l.get("local_mark") {
        Some(mark) if l["proto"] == "FWM" => format!("FWM {mark}"),
        _ => format!("{} {}:{}", l["proto"], l["local_address"], l["local_port"]),
    };
    // The services without a usable real server are those the advisor names.
    let doctor: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string("tests/golden/mixed-director/doctor.json").expect("golden"),
    )
    .expect("doctor JSON");
    let from_advisor: BTreeSet<String> = doctor["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["rule"] == "service-without-weight")
        .map(|f| f["subject"].as_str().expect("subject").to_string())
        .collect();
    assert!(!from_advisor.is_empty());
    let from_alerts: BTreeSet<String> = of("IpvsServiceWithoutRealServer")
        .iter()
        .map(|a| {
            assert_eq!(scenario_of(a), "mixed-director");
            assert_eq!(a["severity"], "critical");
            text(a)
        })
        .collect();
    assert_eq!(from_alerts, from_advisor);

    // keepalived is configured but stopped in keepalived-stopped, with three VRIDs, one
    // configuration error, and its critical findings.
    // (and in the static keepalived-decisions-stopped, with VRID 77 held by its peer)
    let down: BTreeSet<String> = of("IpvsKeepalivedDown")
        .iter()
        .map(|a| scenario_of(a))
        .collect();
    assert_eq!(
        down,
        ["keepalived-stopped", "keepalived-decisions-stopped"]
            .into_iter()
            .map(String::from)
            .collect()
    );
    let vrids: BTreeSet<String> = of("IpvsVrrpNoMaster")
        .iter()
        .map(|a| a["vrid"].clone())
        .collect();
    assert_eq!(
        vrids,
        ["11", "12", "13"].into_iter().map(String::from).collect()
    );
    let critical: BTreeSet<(String, String)> = of("IpvsAdvisorCriticalFinding")
        .iter()
        .map(|a| (scenario_of(a), a["rule"].clone()))
        .collect();
    let mut from_goldens = BTreeSet::new();
    // the static fixtures' critical findings
    for scenario in STATIC_SCENARIOS {
        for line in static_fixture(scenario).lines() {
            if line.starts_with("ipvs_advisor_finding{") && line.contains("severity=\"critical\"") {
                let rule = line
                    .split("rule=\"")
                    .nth(1)
                    .and_then(|r| r.split('"').next());
                from_goldens.insert((scenario.to_string(), rule.expect("rule").to_string()));
            }
        }
    }
    for scenario in scenarios {
        let doctor: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(format!("tests/golden/{scenario}/doctor.json"))
                .expect("golden"),
        )
        .expect("doctor JSON");
        for f in doctor["findings"].as_array().expect("findings") {
            if f["severity"] == "critical" {
                from_goldens.insert((
                    scenario.to_string(),
                    f["rule"].as_str().unwrap_or_default().to_string(),
                ));
            }
        }
    }
    assert_eq!(critical, from_goldens);

    // keepalived's decisions: on the director whose keepalived runs, exactly the real servers
    // its checks took out, the virtual server below quorum and on its sorry server, the real
    // server added by hand, the flapping instance, and the advisor's findings but the drift
    // rule's (IpvsKeepalivedConfigDrift has it); on its peer, whose keepalived is stopped,
    // nothing of these although its series read quorum lost, an unmanaged service and 3
    // transitions: only IpvsKeepalivedDown and the advisor's keepalived-not-running.
    let pending = prometheus.alerts("pending");
    for (scenario, want) in [
        (
            "keepalived-decisions",
            &[
                "IpvsAdvisorCriticalFinding rule=keepalived-quorum-lost,subject=FWM 7 (group web)",
                "IpvsAdvisorWarningFinding rule=keepalived-real-server-down,subject=FWM 7 (group web) -> 10.0.2.1:80",
                "IpvsAdvisorWarningFinding rule=keepalived-real-server-down,subject=TCP 192.0.2.10:80 -> 10.0.1.2:80",
                "IpvsAdvisorWarningFinding rule=keepalived-sorry-server-active,subject=FWM 7 (group web)",
                "IpvsAdvisorWarningFinding rule=vrrp-flapping,subject=VI_1",
                "IpvsDrainNotFinishing local_address=192.0.2.10,local_port=80,proto=TCP,remote_address=10.0.1.3,remote_port=80",
                "IpvsKeepalivedConfigDrift rule=keepalived-unmanaged-real-server,subject=TCP 192.0.2.10:80 -> 10.0.1.9:80",
                "IpvsKeepalivedQuorumLost local_mark=7,local_port=0,proto=FWM,virtual_server_group=web",
                "IpvsKeepalivedRealServerDown local_address=192.0.2.10,local_port=80,proto=TCP,remote_address=10.0.1.2,remote_port=80,state=down",
                "IpvsKeepalivedRealServerDown local_mark=7,local_port=0,proto=FWM,remote_address=10.0.2.1,remote_port=80,state=down,virtual_server_group=web",
                "IpvsKeepalivedSorryServerActive local_mark=7,local_port=0,proto=FWM,virtual_server_group=web",
                "IpvsVrrpFlapping vrrp_instance=VI_1",
            ][..],
        ),
        (
            "keepalived-decisions-stopped",
            &[
                "IpvsAdvisorCriticalFinding rule=keepalived-not-running,subject=keepalived",
                "IpvsKeepalivedDown",
            ][..],
        ),
    ] {
        let fired: BTreeSet<String> = firing
            .iter()
            .filter(|a| scenario_of(a) == scenario)
            .map(alert_line)
            .collect();
        let want: BTreeSet<String> = want.iter().map(|s| s.to_string()).collect();
        assert_eq!(fired, want, "{scenario}: firing");
        let waiting: Vec<String> = pending
            .iter()
            .filter(|a| scenario_of(a) == scenario)
            .map(alert_line)
            .collect();
        assert!(waiting.is_empty(), "{scenario}: pending {waiting:?}");
    }

    // ... and the fixture trees, which have none of these series, none of these alerts
    for name in [
        "IpvsKeepalivedRealServerDown",
        "IpvsKeepalivedQuorumLost",
        "IpvsKeepalivedSorryServerActive",
        "IpvsKeepalivedConfigDrift",
        "IpvsVrrpFlapping",
    ] {
        let elsewhere: Vec<String> = firing
            .iter()
            .chain(&pending)
            .filter(|a| a["alertname"] == name && scenario_of(a) != "keepalived-decisions")
            .map(|a| format!("{} {}", scenario_of(a), alert_line(a)))
            .collect();
        assert!(elsewhere.is_empty(), "{name} elsewhere: {elsewhere:?}");
    }

    // The keepalived dashboard's panels on keepalived's decisions, drains and recent
    // transitions have data on the director whose keepalived runs (the lab has no keepalived
    // virtual servers to show them).
    let decisions = statics
        .iter()
        .find(|(s, _)| *s == "keepalived-decisions")
        .map(|(_, a)| a.to_string())
        .expect("the static director");
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string("dashboards/keepalived-vrrp.json").expect("dashboard"),
    )
    .expect("dashboard JSON");
    let mut checked = 0;
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().unwrap_or_default();
            if ![
                "ipvs_keepalived_real_server_",
                "ipvs_keepalived_virtual_server_",
                "ipvs_backend_draining",
                "ipvs_backend_drain_",
                "ipvs_vrrp_became_master_recent",
            ]
            .iter()
            .any(|m| expr.contains(m))
            {
                continue;
            }
            let expr = expr
                .replace("$job", "ipvs_exporter")
                .replace("$instance", &decisions)
                .replace("$cluster", ".*")
                .replace("$__rate_interval", "15s");
            let result = prometheus.query(&expr);
            assert!(
                !result.is_empty(),
                "panel {}: no data for {expr}",
                panel["title"]
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 16,
        "{checked} queries of keepalived's decisions checked"
    );

    // What the fixtures do not call for stays quiet (not even pending).
    for quiet in [
        "IpvsExporterDown",
        "IpvsCollectorFailing",
        "IpvsServicesGone",
        "IpvsVrrpSplitBrain",
        "IpvsVrrpSplitBrainAdverts",
        "IpvsConntrackTableFull",
        "IpvsTrafficFarFromWeights",
        "IpvsBackendQuiescedGetsConnections",
    ] {
        assert!(
            !fired.contains(quiet) && !names(&pending).contains(quiet),
            "{quiet} should be quiet on the fixtures"
        );
    }

    // Recording rules against the goldens.
    let services = prometheus.query("instance:ipvs_services:count");
    for scenario in scenarios {
        let golden = std::fs::read_to_string(format!("tests/golden/{scenario}/metrics.prom"))
            .expect("golden");
        let in_golden = golden
            .lines()
            .filter(|l| l.starts_with("ipvs_service_info{"))
            .count();
        let recorded: Vec<f64> = services
            .iter()
            .filter(|(l, _)| {
                l.get("instance").is_some_and(|i| {
                    exporters
                        .iter()
                        .any(|(s, e)| *s == scenario && *i == e.address.to_string())
                })
            })
            .map(|(_, v)| *v)
            .collect();
        // a host without IPVS has no ipvs_up 1 and so may have no count at all
        if in_golden > 0 || golden.contains("ipvs_up 1") {
            assert_eq!(
                recorded,
                [in_golden as f64],
                "{scenario}: instance:ipvs_services:count"
            );
        }
    }
    // Weighted real servers per service: none exactly where the advisor says so.
    let weighted: BTreeMap<String, f64> = prometheus
        .query("service:ipvs_backends_weighted:count{scenario=\"mixed-director\"}")
        .iter()
        .map(|(l, v)| (text(l), *v))
        .collect();
    let listed = prometheus.query("ipvs_service_info{scenario=\"mixed-director\"}");
    assert_eq!(listed.len(), 14, "mixed-director has 14 services");
    for (labels, _) in &listed {
        let service = text(labels);
        let usable = weighted.get(&service).copied().unwrap_or(0.0);
        assert_eq!(
            usable == 0.0,
            from_advisor.contains(&service),
            "{service}: {usable} weighted real servers"
        );
    }
}

/// The alert table of docs/alerts.md lists every alert, in order, with the severity and `for:`
/// it has.
#[test]
fn the_doc_lists_every_alert_as_it_is() {
    let alerts = std::fs::read_to_string(alerts_dir().join("ipvs_exporter.alerts.yaml"))
        .expect("alerts file");
    let field = |key: &str| -> Vec<String> {
        alerts
            .lines()
            .filter_map(|l| l.trim().strip_prefix(&format!("{key}: ")))
            .map(|v| v.trim_matches('"').to_string())
            .collect()
    };
    let from_rules: Vec<(String, String, String)> = values_of(&alerts, "alert")
        .into_iter()
        .zip(field("severity"))
        .zip(field("for"))
        .map(|((n, s), f)| (n, s, f))
        .collect();
    let doc =
        std::fs::read_to_string(alerts_dir().join("../docs/alerts.md")).expect("docs/alerts.md");
    let from_doc: Vec<(String, String, String)> = doc
        .lines()
        .filter(|l| l.starts_with("| [`Ipvs"))
        .map(|l| {
            let cells: Vec<&str> = l.split(" | ").collect();
            let name = cells[0]
                .trim_start_matches("| [`")
                .split('`')
                .next()
                .unwrap_or_default();
            let wait = cells[cells.len() - 1].trim_end_matches(" |");
            (name.to_string(), cells[1].to_string(), wait.to_string())
        })
        .collect();
    assert_eq!(from_doc, from_rules, "docs/alerts.md's alert table");
}
