//! A real Prometheus against the real-kernel lab. Debian's `prometheus`, run on this host with
//! a data directory of its own, scrapes every three seconds the exporters running inside the lab's
//! guest (a NAT director and a keepalived pair, reached through qemu's user network on loopback
//! ports) and evaluates the project's recording and alert rules in their lab variant (short
//! `for:`), while `tests/lab/scenarios/prometheus.sh` goes through its phases: traffic, a drain,
//! a misconfiguration and a VRRP failover. Then, over Prometheus's HTTP API:
//!
//! 1. every query of every dashboard returns data during the run, except the few in
//!    [`NO_DATA`], each with the reason;
//! 2. every recording rule produced series;
//! 3. the alerts each phase provokes ([`EXPECTED`]) were pending or firing after its phase began
//!    and not before, with the labels that say where; no other alert was.
//!
//! Tier `test-lab`: `cargo test --features test-lab --test lab_prometheus` (root, qemu, a Debian
//! mirror the first time, prometheus and jsonnet installed; about five minutes). The run's
//! files (Prometheus's data, its configuration, the phase marks) stay in
//! `target/tmp/lab-prometheus-<pid>/`; `IPVS_LAB_PROM_RESULTS=DIR` checks such a directory
//! again without booting (Prometheus is started on its data).

// Test code: a failed unwrap or index is a failed test (the [lints] table guards src/).
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::panic, clippy::indexing_slicing)]
#![allow(clippy::cast_possible_truncation)]

mod support;

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The phases of the scenario, in order, as it marks them on the console.
const PHASES: [&str; 6] = ["ready", "traffic", "drain", "misconfig", "failover", "end"];

/// The exporters in the guest: Prometheus's `instance` label, and the guest port.
const TARGETS: [(&str, u16); 3] = [("director", 9748), ("lb1", 9749), ("lb2", 9750)];

/// How often Prometheus scrapes and evaluates. The guest is one emulated CPU serving three
/// exporters; on a loaded two-core host a scrape through qemu's user network can take more than
/// a second (at two seconds, a run beside other builds saw 84-89 % of scrapes answered), so
/// scrapes are every three seconds (with a timeout as long) and rules are evaluated every
/// second.
const SCRAPE_INTERVAL: &str = "3s";

/// The value the checks give the dashboards' `$__rate_interval`: what Grafana computes for a
/// data source scraped every three seconds (four scrape intervals), and a little more.
const RATE_INTERVAL: &str = "15s";

/// Dashboard queries allowed to return nothing in the lab: (dashboard file, panel title, the
/// panel's query ids, none meaning all of them, reason).
const NO_DATA: &[(&str, &str, &[&str], &str)] = &[
    (
        "host-tuning.json",
        "Interrupt imbalance",
        &[],
        "the guest has one CPU: nothing can be uneven, so the exporter gives no ratio",
    ),
    (
        "keepalived-vrrp.json",
        "Real-server health",
        &[],
        KEEPALIVED_VRRP_ONLY,
    ),
    (
        "keepalived-vrrp.json",
        "Real-server state over time",
        &[],
        KEEPALIVED_VRRP_ONLY,
    ),
    (
        "keepalived-vrrp.json",
        "Virtual servers: quorum and sorry server",
        &[],
        KEEPALIVED_VRRP_ONLY,
    ),
];

/// Why the keepalived health panels have no data here.
const KEEPALIVED_VRRP_ONLY: &str = "the scenario's keepalived runs VRRP only, with no \
     virtual_server (the lab's checkers scenario proves these series against ipvsadm, and \
     tests/alerts.rs runs these queries on a static exporter)";

/// An alert the scenario provokes: its name, the phase that provokes it, and labels it must carry.
type Provoked = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

/// The alerts the scenario provokes.
const EXPECTED: &[Provoked] = &[
    // weight 0 on 10.1.2.2:9000 while the client holds a connection to it
    (
        "IpvsDrainNotFinishing",
        "drain",
        &[
            ("instance", "director"),
            ("local_port", "9000"),
            ("remote_address", "10.1.2.2"),
            ("remote_port", "9000"),
        ],
    ),
    // a new service whose only real server has weight 0 ...
    (
        "IpvsServiceWithoutRealServer",
        "misconfig",
        &[("instance", "director"), ("local_port", "8081")],
    ),
    // ... which the advisor finds too
    (
        "IpvsAdvisorCriticalFinding",
        "misconfig",
        &[("instance", "director"), ("rule", "service-without-weight")],
    ),
    // net.ipv4.vs.expire_nodest_conn=0
    (
        "IpvsAdvisorWarningFinding",
        "misconfig",
        &[
            ("instance", "director"),
            ("rule", "ipvs-expire-nodest-conn"),
        ],
    ),
    // net.ipv4.vs.run_estimation=0: the advisor, the setting itself, and its effect (the
    // kernel's counters stop while the held connections stay active)
    (
        "IpvsAdvisorWarningFinding",
        "misconfig",
        &[("instance", "director"), ("rule", "ipvs-run-estimation")],
    ),
    (
        "IpvsEstimationDisabled",
        "misconfig",
        &[("instance", "director")],
    ),
    (
        "IpvsCountersFrozen",
        "misconfig",
        &[("instance", "director")],
    ),
    // lb1's keepalived stopped while its configuration has a VRRP instance
    ("IpvsKeepalivedDown", "failover", &[("instance", "lb1")]),
    (
        "IpvsAdvisorCriticalFinding",
        "failover",
        &[("instance", "lb1"), ("rule", "keepalived-not-running")],
    ),
];

/// Alerts that may show from a phase on without the scenario meaning to provoke them, but only
/// pending, never firing: (alert name, phase, reason).
const TOLERATED: &[(&str, &str, &str)] = &[
    (
        "IpvsExporterDown",
        "ready",
        "a scrape through qemu's user network on a loaded host times out now and then (the test \
         asks for 90 % of them to succeed); one failed scrape makes the alert pending, its for: \
         keeps it from firing",
    ),
    (
        "IpvsVrrpSplitBrain",
        "failover",
        "when lb1's keepalived is killed, Prometheus keeps lb1's last sample (MASTER) until it is \
         scraped again or goes stale, while lb2 already reports MASTER: for an evaluation or two \
         two hosts count as MASTER for VRID 51; its for: keeps it from firing",
    ),
    (
        "IpvsVrrpNoMaster",
        "ready",
        "a failed scrape of the master's exporter (above) makes its series stale, so for an \
         evaluation or two no host is MASTER; and between lb1's keepalived leaving and lb2 taking \
         the address no host is MASTER for a moment (lb1 shows STOP at once, lb2 MASTER after \
         its advert timeout): it may be pending",
    ),
];

/// Seconds after the `ready` mark before the checks of unprovoked alerts begin: alerts of the
/// boot (the targets were down until the exporters started) need an evaluation or two to
/// resolve.
const SETTLE_SECONDS: f64 = 10.0;

fn say(msg: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{msg}");
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn need_tool(name: &str, package: &str) -> PathBuf {
    for dir in ["/usr/bin", "/usr/sbin", "/usr/local/bin", "/bin", "/sbin"] {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return p;
        }
    }
    panic!("{name} not found: install the Debian package {package} (tests/run.sh does)");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

// ------------------------------------------------------------------ Prometheus

struct Prometheus {
    child: Child,
    port: u16,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    /// Starts Prometheus on `dir`'s configuration and data and waits until it is ready.
    fn start(dir: &Path) -> Prometheus {
        let bin = need_tool("prometheus", "prometheus");
        let port = free_port();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("prometheus.log"))
            .unwrap();
        let child = Command::new(bin)
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--storage.tsdb.retention.time=30d")
            .arg("--log.level=warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("prometheus starts");
        let mut prom = Prometheus { child, port };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = prom.child.try_wait() {
                panic!(
                    "prometheus exited ({status}); see {}",
                    dir.join("prometheus.log").display()
                );
            }
            if prom.get("/-/ready").is_ok() {
                return prom;
            }
            assert!(
                Instant::now() < deadline,
                "prometheus not ready within 60 s; see {}",
                dir.join("prometheus.log").display()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// A GET on Prometheus's loopback port; the body of a 200 answer.
    fn get(&self, path: &str) -> Result<String, String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(60))).ok();
        write!(
            s,
            "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        .map_err(|e| e.to_string())?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").ok_or("no HTTP header")?;
        if !head.starts_with("HTTP/1.0 200") && !head.starts_with("HTTP/1.1 200") {
            return Err(format!(
                "{}: {}",
                head.lines().next().unwrap_or(""),
                body.trim()
            ));
        }
        Ok(body.to_string())
    }

    fn api(&self, path: &str, params: &[(&str, String)]) -> Value {
        let query: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect();
        let url = format!("{path}?{}", query.join("&"));
        let body = self
            .get(&url)
            .unwrap_or_else(|e| panic!("prometheus {path} {params:?}: {e}"));
        let v: Value = serde_json::from_str(&body).expect("prometheus answers JSON");
        assert_eq!(v["status"], "success", "{path} {params:?}: {body}");
        v["data"].clone()
    }

    /// The series a range query returns between `start` and `end` (seconds since the epoch).
    fn range(&self, expr: &str, start: f64, end: f64) -> Vec<Value> {
        let data = self.api(
            "/api/v1/query_range",
            &[
                ("query", expr.to_string()),
                ("start", format!("{start:.3}")),
                ("end", format!("{end:.3}")),
                ("step", "1".to_string()),
            ],
        );
        data["result"].as_array().cloned().unwrap_or_default()
    }
}

/// Percent-encoding for a query parameter.
fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

// ------------------------------------------------------------------ the run

/// The run's directory and the host time each phase began.
struct Run {
    dir: PathBuf,
    marks: BTreeMap<String, f64>,
}

impl Run {
    fn at(&self, phase: &str) -> f64 {
        *self
            .marks
            .get(phase)
            .unwrap_or_else(|| panic!("the scenario never marked phase {phase}"))
    }
}

/// Renders the lab variant of the rules into `dir/rules/` (or takes the rule files already in
/// `IPVS_LAB_RULES_DIR`).
fn lab_rules(dir: &Path) -> Vec<PathBuf> {
    let out = dir.join("rules");
    std::fs::create_dir_all(&out).unwrap();
    if let Some(given) = std::env::var_os("IPVS_LAB_RULES_DIR") {
        for e in std::fs::read_dir(&given).unwrap().flatten() {
            std::fs::copy(e.path(), out.join(e.file_name())).unwrap();
        }
    } else {
        need_tool("jsonnet", "jsonnet");
        let status = Command::new("bash")
            .arg(repo().join("alerts/generate.sh"))
            .arg("--lab")
            .arg(&out)
            .status()
            .expect("bash runs alerts/generate.sh");
        assert!(status.success(), "alerts/generate.sh --lab failed");
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
        })
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "alerts/generate.sh --lab wrote no rule file"
    );
    files
}

fn write_config(dir: &Path, rules: &[PathBuf], ports: &[u16]) {
    let mut cfg = format!(
        "global:\n  scrape_interval: {SCRAPE_INTERVAL}\n  scrape_timeout: {SCRAPE_INTERVAL}\n  evaluation_interval: 1s\nrule_files:\n",
    );
    for r in rules {
        cfg += &format!("  - {}\n", r.display());
    }
    cfg += "scrape_configs:\n  - job_name: ipvs_exporter\n    static_configs:\n";
    for ((name, _), port) in TARGETS.iter().zip(ports) {
        cfg += &format!(
            "      - targets: ['127.0.0.1:{port}']\n        labels: {{instance: {name}}}\n"
        );
    }
    std::fs::write(dir.join("prometheus.yml"), cfg).unwrap();
}

fn run_dir() -> PathBuf {
    let base = Path::new(env!("CARGO_TARGET_TMPDIR"));
    if let Ok(entries) = std::fs::read_dir(base) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name.strip_prefix("lab-prometheus-")
                && pid.parse::<u32>().is_ok()
                && !Path::new("/proc").join(pid).exists()
            {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    base.join(format!("lab-prometheus-{}", std::process::id()))
}

/// Boots the lab with the prometheus scenario while Prometheus scrapes it; returns the marks.
fn boot(dir: &Path) -> (Prometheus, BTreeMap<String, f64>) {
    let rules = lab_rules(dir);
    let ports: Vec<u16> = TARGETS.iter().map(|_| free_port()).collect();
    write_config(dir, &rules, &ports);
    let prom = Prometheus::start(dir);
    let fwd: Vec<String> = TARGETS
        .iter()
        .zip(&ports)
        .map(|((_, guest), host)| format!("tcp:127.0.0.1:{host}-:{guest}"))
        .collect();
    let out = dir.join("lab");
    let lab_dir = repo().join("tests/lab");
    let start = Instant::now();
    let mut child = Command::new("bash")
        .arg(lab_dir.join("run.sh"))
        .arg(lab_dir.join("scenarios/prometheus.sh"))
        .arg(&out)
        .env("IPVS_EXPORTER_BIN", env!("CARGO_BIN_EXE_ipvs_exporter"))
        .env("IPVS_LAB_HOSTFWD", fwd.join(","))
        .env_remove("IPVS_LAB_NO_EXPORTER")
        .stdin(Stdio::null())
        .spawn()
        .expect("bash runs tests/lab/run.sh");
    // the phases' marks, timed as they appear on the guest's console
    let console = out.join("console.log");
    let mut marks = BTreeMap::new();
    let mut seen = 0usize;
    let status = loop {
        if let Ok(f) = std::fs::File::open(&console) {
            let lines: Vec<String> = std::io::BufReader::new(f)
                .lines()
                .map_while(Result::ok)
                .collect();
            for line in lines.iter().skip(seen) {
                if let Some(rest) = line.trim().strip_prefix("@@LAB-MARK ") {
                    let phase = rest.trim().to_string();
                    if let std::collections::btree_map::Entry::Vacant(e) = marks.entry(phase) {
                        say(&format!(
                            "lab-prometheus: phase {} at {:.0} s",
                            e.key(),
                            start.elapsed().as_secs_f64()
                        ));
                        e.insert(now());
                    }
                }
            }
            // a line still being written is read again next time
            seen = lines.len().saturating_sub(1);
        }
        if let Some(status) = child.try_wait().expect("wait for run.sh") {
            break status;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        status.success(),
        "the lab harness failed ({status}); the reason is on stderr above; console: {}",
        console.display()
    );
    let json = serde_json::to_string_pretty(&marks).unwrap();
    std::fs::write(dir.join("marks.json"), json).unwrap();
    (prom, marks)
}

fn setup() -> (Run, Prometheus) {
    if let Some(d) = std::env::var_os("IPVS_LAB_PROM_RESULTS") {
        let dir = PathBuf::from(d);
        say(&format!(
            "lab-prometheus: checking {} again (IPVS_LAB_PROM_RESULTS); no boot",
            dir.display()
        ));
        let marks: BTreeMap<String, f64> =
            serde_json::from_str(&std::fs::read_to_string(dir.join("marks.json")).unwrap())
                .unwrap();
        let prom = Prometheus::start(&dir);
        return (Run { dir, marks }, prom);
    }
    let dir = run_dir();
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (prom, marks) = boot(&dir);
    (Run { dir, marks }, prom)
}

// ------------------------------------------------------------------ the checks

/// The values the checks give a dashboard's variables: the lab's job, the director for an
/// instance variable that picks one host (all of them otherwise), and every other variable its
/// "All" value as the dashboard defines it (`.*`, which must also match series where the label
/// is empty: no exporter of the lab's runs with --collector.ipvs.netns, so netns is empty on all
/// their series). Longest names first, so that `$local_address` is not taken for `$local`.
fn variable_values(d: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for v in d["templating"]["list"].as_array().into_iter().flatten() {
        let name = v["name"].as_str().unwrap_or("").to_string();
        let value = match name.as_str() {
            "datasource" => continue,
            "job" => "ipvs_exporter".to_string(),
            "instance" if v["multi"] == false => "director".to_string(),
            _ => {
                assert!(
                    v["includeAll"] == true,
                    "variable {name} has no All value to give it"
                );
                v["allValue"]
                    .as_str()
                    .unwrap_or_else(|| panic!("variable {name} has no custom allValue"))
                    .to_string()
            }
        };
        out.push((name, value));
    }
    out.sort_by_key(|(n, _)| std::cmp::Reverse(n.len()));
    out
}

/// Every query of every dashboard, with the dashboards' variables given lab values:
/// (dashboard file, panel title, refId, expression).
fn dashboard_queries() -> Vec<(String, String, String, String)> {
    let mut out = Vec::new();
    for f in support::dashboard_files() {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let d: Value = serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
        let values = variable_values(&d);
        let mut panels: Vec<&Value> = Vec::new();
        for p in d["panels"].as_array().into_iter().flatten() {
            panels.push(p);
            panels.extend(p["panels"].as_array().into_iter().flatten());
        }
        for p in panels {
            for t in p["targets"].as_array().into_iter().flatten() {
                let expr = t["expr"].as_str().unwrap_or("");
                let mut expr = expr.replace("$__rate_interval", RATE_INTERVAL);
                for (var, value) in &values {
                    expr = expr.replace(&format!("${var}"), value);
                }
                // what is left is label_replace's "$1"
                assert!(
                    !expr
                        .split('$')
                        .skip(1)
                        .any(|rest| rest.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')),
                    "{name}: a variable the checks give no value: {expr}"
                );
                out.push((
                    name.clone(),
                    p["title"].as_str().unwrap_or("").to_string(),
                    t["refId"].as_str().unwrap_or("").to_string(),
                    expr,
                ));
            }
        }
    }
    out
}

/// The alert name of every alerting rule and the name of every recording rule Prometheus loaded,
/// with any rule whose last evaluation failed.
fn loaded_rules(prom: &Prometheus) -> (BTreeSet<String>, BTreeSet<String>, Vec<String>) {
    let data = prom.api("/api/v1/rules", &[]);
    let (mut alerts, mut records, mut broken) = (BTreeSet::new(), BTreeSet::new(), Vec::new());
    for g in data["groups"].as_array().into_iter().flatten() {
        for r in g["rules"].as_array().into_iter().flatten() {
            let name = r["name"].as_str().unwrap_or("").to_string();
            if r["health"] != "ok" && r["health"] != "unknown" {
                broken.push(format!("{name}: {} {}", r["health"], r["lastError"]));
            }
            match r["type"].as_str() {
                Some("alerting") => alerts.insert(name),
                Some("recording") => records.insert(name),
                _ => false,
            };
        }
    }
    (alerts, records, broken)
}

#[test]
fn prometheus_scraping_the_lab() {
    let (run, prom) = setup();
    let (start, end) = (run.at("ready"), run.at("end"));
    for w in PHASES.windows(2) {
        assert!(run.at(w[0]) < run.at(w[1]), "phases out of order: {w:?}");
    }
    let mut problems = Vec::new();
    say(&format!(
        "lab-prometheus: run in {}, {:.0} s from ready to end",
        run.dir.display(),
        end - start
    ));

    // every target was scraped during the run, nearly always successfully
    for (name, _) in TARGETS {
        let r = prom.range(
            &format!("up{{job=\"ipvs_exporter\", instance=\"{name}\"}}"),
            start,
            end,
        );
        let values: Vec<f64> = r
            .iter()
            .flat_map(|s| s["values"].as_array().into_iter().flatten())
            .filter_map(|p| p[1].as_str().and_then(|v| v.parse().ok()))
            .collect();
        let up = values.iter().sum::<f64>() / values.len().max(1) as f64;
        say(&format!(
            "lab-prometheus: target {name} up {:.0} % of the time between ready and end",
            up * 100.0
        ));
        if up < 0.9 {
            problems.push(format!(
                "target {name} up only {:.0} % of the time (scrapes time out: the guest is starved?)",
                up * 100.0
            ));
        }
    }

    // (1) the dashboards' queries
    let mut empty_allowed = BTreeSet::new();
    let queries = dashboard_queries();
    for (file, panel, ref_id, expr) in &queries {
        let allowed = NO_DATA.iter().find(|(f, p, refs, _)| {
            f == file && p == panel && (refs.is_empty() || refs.contains(&ref_id.as_str()))
        });
        let result = prom.range(expr, start, end);
        match (result.is_empty(), allowed) {
            (true, None) => problems.push(format!(
                "dashboard {file}, panel {panel:?} query {ref_id}: no data: {expr}"
            )),
            (false, Some(_)) => problems.push(format!(
                "dashboard {file}, panel {panel:?} query {ref_id} has data: remove it from NO_DATA"
            )),
            (true, Some((_, _, _, reason))) => {
                empty_allowed.insert(format!("{file} / {panel}: {reason}"));
            }
            (false, None) => {}
        }
    }
    say(&format!(
        "lab-prometheus: {} dashboard queries, {} allowed without data",
        queries.len(),
        empty_allowed.len()
    ));
    for a in &empty_allowed {
        say(&format!("lab-prometheus: no data, allowed: {a}"));
    }

    // (2) every recording rule produced series
    let (alerts, records, broken) = loaded_rules(&prom);
    problems.extend(broken.into_iter().map(|b| format!("rule failing: {b}")));
    assert!(!records.is_empty(), "no recording rule loaded");
    for r in &records {
        if prom.range(r, start, end).is_empty() {
            problems.push(format!("recording rule {r} produced no series"));
        }
    }
    say(&format!(
        "lab-prometheus: {} recording rules, {} alerts loaded",
        records.len(),
        alerts.len()
    ));

    // (3) the alerts: each expected one after its phase began (and not before), with its
    // labels; no other
    let active = prom.range("ALERTS", start + SETTLE_SECONDS, end);
    let mut seen: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for s in &active {
        let name = s["metric"]["alertname"].as_str().unwrap_or("").to_string();
        seen.entry(name).or_default().push(s);
    }
    for (name, phase, labels) in EXPECTED {
        if !alerts.contains(*name) {
            problems.push(format!(
                "expected alert {name} is not among the loaded rules"
            ));
            continue;
        }
        let since = run.at(phase);
        let matching: Vec<&&Value> = seen
            .get(*name)
            .into_iter()
            .flatten()
            .filter(|s| labels.iter().all(|(k, v)| s["metric"][*k] == *v))
            .collect();
        let first = matching
            .iter()
            .flat_map(|s| s["values"].as_array().into_iter().flatten())
            .filter_map(|p| p[0].as_f64())
            .fold(f64::INFINITY, f64::min);
        if matching.is_empty() {
            problems.push(format!(
                "alert {name} with {labels:?} never pending or firing (provoked in phase {phase}); seen: {:?}",
                seen.get(*name)
                    .into_iter()
                    .flatten()
                    .map(|s| s["metric"].to_string())
                    .collect::<Vec<_>>()
            ));
        } else if first < since {
            problems.push(format!(
                "alert {name} was active {:.0} s before phase {phase} began",
                since - first
            ));
        } else {
            say(&format!(
                "lab-prometheus: {name} active {:.0} s after phase {phase} began",
                first - since
            ));
        }
    }
    for (name, series) in &seen {
        let expected = EXPECTED.iter().any(|(n, _, _)| n == name);
        let tolerated = TOLERATED.iter().find(|(n, _, _)| n == name);
        if let Some((_, phase, reason)) = tolerated {
            let since = run.at(phase);
            let first = series
                .iter()
                .flat_map(|s| s["values"].as_array().into_iter().flatten())
                .filter_map(|p| p[0].as_f64())
                .fold(f64::INFINITY, f64::min);
            let firing: Vec<String> = series
                .iter()
                .filter(|s| s["metric"]["alertstate"] == "firing")
                .map(|s| s["metric"].to_string())
                .collect();
            if first < since {
                problems.push(format!(
                    "alert {name} was active {:.0} s before phase {phase}, from which it is tolerated",
                    since - first
                ));
            } else if !firing.is_empty() {
                problems.push(format!(
                    "alert {name} fired (it is tolerated only pending): {}",
                    firing.join(", ")
                ));
            } else {
                say(&format!(
                    "lab-prometheus: {name} was active (tolerated: {reason})"
                ));
            }
        } else if !expected {
            problems.push(format!(
                "alert {name} was active though the scenario does not provoke it: {}",
                series
                    .iter()
                    .map(|s| s["metric"].to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    let silent: Vec<&String> = alerts.iter().filter(|a| !seen.contains_key(*a)).collect();
    say(&format!(
        "lab-prometheus: {} alerts never pending or firing: {}",
        silent.len(),
        silent
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    assert!(
        problems.is_empty(),
        "{} problem(s); Prometheus's data is in {}:\n  {}",
        problems.len(),
        run.dir.display(),
        problems.join("\n  ")
    );
}
