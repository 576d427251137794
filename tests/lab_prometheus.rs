//! A real Prometheus against the real-kernel lab. Debian's `prometheus`, run on this host with
//! a data directory of its own, scrapes every three seconds the exporters running inside the lab's
//! guest (a NAT director and a keepalived pair, reached through qemu's user network on loopback
//! ports) and evaluates the project's recording and alert rules in their lab variant (short
//! `for:`), while `tests/lab/scenarios/prometheus.sh` goes through its phases: traffic, a drain,
//! a misconfiguration, a VRRP split brain of the keepalived pair beside a difference in their
//! configured weights, everything fixed, and a VRRP failover. Prometheus sends its alerts to
//! Debian's Alertmanager, also on this host. Then, over Prometheus's HTTP API:
//!
//! 1. every query of every dashboard returns data during the run, except the few in
//!    [`NO_DATA`], each with the reason;
//! 2. every recording rule produced series;
//! 3. the alerts each phase provokes ([`EXPECTED`]) were pending or firing after its phase began
//!    and not before, with the labels that say where; no other alert was; those in [`STOPS`]
//!    no longer fired once the phase that ends their cause had begun;
//! 4. `ipvs_exporter fleet` against this Prometheus, at a moment of the split brain, finds
//!    exactly the three problems of that moment (the split brain, the pair's different weight,
//!    the director's critical finding) with the hosts keepalived's logs, the kernel's addresses
//!    and the configurations name, and exits 2; at a moment of the fixed phase it finds nothing
//!    and exits 0;
//! 5. the alerts Prometheus had firing when the phases ended are those Alertmanager held, label
//!    for label (read over both APIs while the guest still runs).
//!
//! Tier `test-lab`: `cargo test --features test-lab --test lab_prometheus` (root, qemu, a Debian
//! mirror the first time, prometheus, prometheus-alertmanager and jsonnet installed; about six
//! minutes). The run's files (Prometheus's data, its configuration, the phase marks, the
//! alerts read at the end, fleet's answers) stay in `target/tmp/lab-prometheus-<pid>/`;
//! `IPVS_LAB_PROM_RESULTS=DIR` checks such a directory again without booting (Prometheus is
//! started on its data; the Alertmanager comparison reads what the run saved).

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
const PHASES: [&str; 8] = [
    "ready",
    "traffic",
    "drain",
    "misconfig",
    "splitbrain",
    "fixed",
    "failover",
    "end",
];

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
        &["D"],
        "the pair's virtual server has no health checks, so keepalived's checkers have no view \
         of its real servers to export (the lab's datadump scenario proves \
         ipvs_keepalived_real_server_checker_alive against keepalived's data dump)",
    ),
    (
        "keepalived-vrrp.json",
        "Virtual servers: quorum and sorry server",
        &["G"],
        "the pair's virtual server has no sorry server (the lab's checkers scenario proves \
         ipvs_keepalived_virtual_server_sorry_server_active against ipvsadm)",
    ),
];

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
    // lb2's keepalived.conf gives the pair's real server 10.9.0.52 weight 3, lb1's weight 2,
    // from the start: the pair's configured weights differ
    (
        "IpvsVrrpMembersWeightsDiffer",
        "ready",
        &[
            ("vrid", "51"),
            ("local_address", "10.9.0.100"),
            ("remote_address", "10.9.0.52"),
        ],
    ),
    // VRRP dropped on lb2's link: lb2 hears no adverts and becomes MASTER beside lb1 ...
    ("IpvsVrrpSplitBrain", "splitbrain", &[("vrid", "51")]),
    // ... while its exporter remembers lb1 advertising (it heard it until the drop began)
    (
        "IpvsAdvisorCriticalFinding",
        "splitbrain",
        &[("instance", "lb2"), ("rule", "vrrp-two-masters")],
    ),
    // lb1's keepalived stopped while its configuration has a VRRP instance
    ("IpvsKeepalivedDown", "failover", &[("instance", "lb1")]),
    (
        "IpvsAdvisorCriticalFinding",
        "failover",
        &[("instance", "lb1"), ("rule", "keepalived-not-running")],
    ),
    // keepalived, stopping, removes the virtual server it had programmed in lb1
    ("IpvsServicesGone", "failover", &[("instance", "lb1")]),
    // ... so the pair's members no longer have the same services on VRID 51's address
    (
        "IpvsVrrpMembersServicesDiffer",
        "failover",
        &[("vrid", "51"), ("local_address", "10.9.0.100")],
    ),
    // and with keepalived not running, the rules that compare its virtual servers with the
    // kernel's table cannot be judged
    (
        "IpvsAdvisorRuleSkipped",
        "failover",
        &[("instance", "lb1"), ("rule", "keepalived-real-server-down")],
    ),
];

/// Alerts that may show from a phase on without the scenario meaning to provoke them, but only
/// pending, never firing: (alert name, phase, reason).
const TOLERATED: &[(&str, &str, &str)] = &[
    (
        "IpvsKeepalivedConfigDrift",
        "failover",
        "keepalived, stopping, removes its virtual server from the kernel before its process \
         ends: a scrape in between sees keepalived running without the virtual server it \
         configures (keepalived-virtual-server-absent); the next one sees it stopped",
    ),
    (
        "IpvsKeepalivedQuorumLost",
        "failover",
        "the same moment of keepalived's stop: its virtual server gone from the kernel while it \
         still runs counts as a live weight of 0, below the quorum of 1",
    ),
    (
        "IpvsExporterDown",
        "ready",
        "a scrape through qemu's user network on a loaded host times out now and then (the test \
         asks for 90 % of them to succeed); one failed scrape makes the alert pending, its for: \
         keeps it from firing",
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

/// An alert that must fire, not only be pending, after its phase began: (alert name, labels,
/// phase).
type MustFire = (
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static str,
);

/// The alerts that must fire.
const MUST_FIRE: &[MustFire] = &[("IpvsVrrpSplitBrain", &[("vrid", "51")], "splitbrain")];

/// An alert that fires no more once a phase removed its cause: (alert name, labels, the phase,
/// what the phase does). Checked from [`STOP_GRACE_SECONDS`] after the phase began.
type Stop = (
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static str,
    &'static str,
);

/// The alerts whose cause a phase removes.
const STOPS: &[Stop] = &[
    (
        "IpvsAdvisorWarningFinding",
        &[("instance", "director")],
        "splitbrain",
        "expire_nodest_conn and run_estimation are set back to 1",
    ),
    (
        "IpvsVrrpSplitBrain",
        &[("vrid", "51")],
        "fixed",
        "VRRP goes through again: lb2 hears lb1's higher priority and goes back to BACKUP. \
         (When lb1's keepalived is killed later, Prometheus keeps lb1's last sample, MASTER, \
         until it is scraped again while lb2 already reports MASTER: for an evaluation or two \
         two hosts count as MASTER for VRID 51 again, and its for: keeps that from firing.)",
    ),
    (
        "IpvsAdvisorCriticalFinding",
        &[("instance", "lb2"), ("rule", "vrrp-two-masters")],
        "fixed",
        "lb2 goes back to BACKUP",
    ),
    (
        "IpvsAdvisorCriticalFinding",
        &[("instance", "director")],
        "fixed",
        "the :8081 service, whose only real server has weight 0, is deleted",
    ),
    (
        "IpvsServiceWithoutRealServer",
        &[("instance", "director")],
        "fixed",
        "the :8081 service is deleted",
    ),
    (
        "IpvsDrainNotFinishing",
        &[("instance", "director")],
        "fixed",
        "the drained real server is given its weight back",
    ),
    (
        "IpvsVrrpMembersWeightsDiffer",
        &[("vrid", "51")],
        "fixed",
        "lb2 is reloaded with weight 2 for 10.9.0.52, as lb1 has",
    ),
];

/// Seconds after a phase began by which an alert whose cause it removed has resolved: the
/// next scrape (3 s, or one more if it fails) and the next evaluation.
const STOP_GRACE_SECONDS: f64 = 12.0;

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

/// A GET on a loopback port; the body of a 200 answer.
fn loopback_get(port: u16, path: &str) -> Result<String, String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
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

// ------------------------------------------------------------------ Alertmanager

/// Debian's Alertmanager on a loopback port, with a configuration of the test's own: one
/// receiver without integrations, so that it holds the alerts Prometheus sends and sends
/// nothing on. Clustering is off (it would listen on every address).
struct Alertmanager {
    child: Child,
    port: u16,
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The receiver every alert goes to.
const AM_RECEIVER: &str = "lab";

impl Alertmanager {
    fn start(dir: &Path) -> Alertmanager {
        let bin = need_tool("prometheus-alertmanager", "prometheus-alertmanager");
        let am_dir = dir.join("alertmanager");
        std::fs::create_dir_all(am_dir.join("data")).unwrap();
        let config = am_dir.join("alertmanager.yml");
        std::fs::write(
            &config,
            format!(
                "route:\n  receiver: {AM_RECEIVER}\n  group_by: ['alertname']\nreceivers:\n  - name: {AM_RECEIVER}\n"
            ),
        )
        .unwrap();
        let port = free_port();
        let log = std::fs::File::create(am_dir.join("alertmanager.log")).unwrap();
        let child = Command::new(bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.path={}", am_dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .arg("--log.level=warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("prometheus-alertmanager starts");
        let mut am = Alertmanager { child, port };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = am.child.try_wait() {
                panic!(
                    "prometheus-alertmanager exited ({status}); see {}",
                    am_dir.join("alertmanager.log").display()
                );
            }
            if loopback_get(port, "/-/ready").is_ok() {
                return am;
            }
            assert!(
                Instant::now() < deadline,
                "prometheus-alertmanager not ready within 60 s; see {}",
                am_dir.join("alertmanager.log").display()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The alerts it holds (`GET /api/v2/alerts`: active, silenced and inhibited ones).
    fn alerts(&self) -> Vec<Value> {
        let body = loopback_get(self.port, "/api/v2/alerts")
            .unwrap_or_else(|e| panic!("alertmanager /api/v2/alerts: {e}"));
        serde_json::from_str::<Value>(&body)
            .expect("alertmanager answers JSON")
            .as_array()
            .cloned()
            .expect("alertmanager's /api/v2/alerts is a list")
    }
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
        loopback_get(self.port, path)
    }

    /// Its query API's base URL, as `fleet --prometheus` takes it.
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
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

fn write_config(dir: &Path, rules: &[PathBuf], ports: &[u16], alertmanager: u16) {
    let mut cfg = format!(
        "global:\n  scrape_interval: {SCRAPE_INTERVAL}\n  scrape_timeout: {SCRAPE_INTERVAL}\n  evaluation_interval: 1s\nalerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['127.0.0.1:{alertmanager}']\nrule_files:\n",
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
    let alertmanager = Alertmanager::start(dir);
    write_config(dir, &rules, &ports, alertmanager.port);
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
                        let at_end = e.key() == "end";
                        e.insert(now());
                        if at_end {
                            // the exporters still answer for a few seconds: what was firing
                            // then, on both sides
                            save_end_alerts(dir, &prom, &alertmanager);
                        }
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

/// The series of `seen` of alert `name` that carry `labels`.
fn matching<'a>(
    seen: &BTreeMap<String, Vec<&'a Value>>,
    name: &str,
    labels: &[(&str, &str)],
) -> Vec<&'a Value> {
    seen.get(name)
        .into_iter()
        .flatten()
        .copied()
        .filter(|s| labels.iter().all(|(k, v)| s["metric"][*k] == *v))
        .collect()
}

/// The times of a range query's samples.
fn sample_times<'a>(series: impl IntoIterator<Item = &'a Value>) -> Vec<f64> {
    series
        .into_iter()
        .flat_map(|s| s["values"].as_array().into_iter().flatten())
        .filter_map(|p| p[0].as_f64())
        .collect()
}

/// A label set as a map (the two APIs write it as a JSON object).
fn label_set(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
        .collect()
}

// ------------------------------------------------------------------ Alertmanager at the end

/// The alerts Prometheus has firing now (`/api/v1/alerts`).
fn prometheus_firing(prom: &Prometheus) -> Vec<Value> {
    let data = prom.api("/api/v1/alerts", &[]);
    data["alerts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["state"] == "firing")
        .cloned()
        .collect()
}

/// At the end mark, while the exporters still answer: the alerts Prometheus has firing, then
/// Alertmanager's (waiting up to 10 s for the firing ones to arrive: Prometheus sends them
/// from a queue), then Prometheus's again (an alert may have begun firing in between). Saved
/// in `alerts-end.json` for [`alertmanager_checks`].
fn save_end_alerts(dir: &Path, prom: &Prometheus, alertmanager: &Alertmanager) {
    let before = prometheus_firing(prom);
    let wanted: Vec<BTreeMap<String, String>> =
        before.iter().map(|a| label_set(&a["labels"])).collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut held = alertmanager.alerts();
    while Instant::now() < deadline
        && !wanted
            .iter()
            .all(|w| held.iter().any(|h| label_set(&h["labels"]) == *w))
    {
        std::thread::sleep(Duration::from_millis(300));
        held = alertmanager.alerts();
    }
    let after = prometheus_firing(prom);
    let saved = serde_json::json!({
        "prometheus_before": before,
        "alertmanager": held,
        "prometheus_after": after,
    });
    std::fs::write(
        dir.join("alerts-end.json"),
        serde_json::to_string_pretty(&saved).unwrap(),
    )
    .unwrap();
}

/// (5) Every alert Prometheus had firing at the end was in Alertmanager with the same labels,
/// its summary, active and routed to the test's receiver; Alertmanager held no alert that
/// Prometheus did not have firing.
fn alertmanager_checks(run: &Run, problems: &mut Vec<String>) {
    let path = run.dir.join("alerts-end.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        problems.push(format!(
            "{} is missing: the alerts were not read at the end mark",
            path.display()
        ));
        return;
    };
    let saved: Value = serde_json::from_str(&text).unwrap();
    let list = |key: &str| saved[key].as_array().cloned().unwrap_or_default();
    let (before, held, after) = (
        list("prometheus_before"),
        list("alertmanager"),
        list("prometheus_after"),
    );
    if before.is_empty() {
        problems.push("Prometheus had no alert firing at the end mark: nothing to compare".into());
    }
    for alert in &before {
        let labels = label_set(&alert["labels"]);
        let Some(found) = held.iter().find(|h| label_set(&h["labels"]) == labels) else {
            problems.push(format!(
                "alert firing in Prometheus at the end never reached Alertmanager: {labels:?}"
            ));
            continue;
        };
        if found["status"]["state"] != "active" {
            problems.push(format!(
                "Alertmanager holds {labels:?} as {}, not active",
                found["status"]["state"]
            ));
        }
        if found["annotations"]["summary"] != alert["annotations"]["summary"]
            || found["annotations"]["summary"]
                .as_str()
                .unwrap_or("")
                .is_empty()
        {
            problems.push(format!(
                "Alertmanager's summary of {labels:?} is {}, Prometheus's {}",
                found["annotations"]["summary"], alert["annotations"]["summary"]
            ));
        }
        let receivers: Vec<&str> = found["receivers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["name"].as_str())
            .collect();
        if receivers != [AM_RECEIVER] {
            problems.push(format!(
                "Alertmanager routed {labels:?} to {receivers:?}, not to {AM_RECEIVER}"
            ));
        }
    }
    let firing: Vec<BTreeMap<String, String>> = before
        .iter()
        .chain(&after)
        .map(|a| label_set(&a["labels"]))
        .collect();
    for h in &held {
        let labels = label_set(&h["labels"]);
        if !firing.contains(&labels) {
            problems.push(format!(
                "Alertmanager holds an alert Prometheus did not have firing at the end: {labels:?}"
            ));
        }
    }
    say(&format!(
        "lab-prometheus: at the end {} alerts firing in Prometheus, {} in Alertmanager: {}",
        before.len(),
        held.len(),
        before
            .iter()
            .map(|a| {
                let l = label_set(&a["labels"]);
                let mut text = l.get("alertname").cloned().unwrap_or_default();
                for key in ["instance", "rule", "vrid"] {
                    if let Some(v) = l.get(key) {
                        text += &format!(" {key}={v}");
                    }
                }
                text
            })
            .collect::<Vec<_>>()
            .join(", ")
    ));
}

// ------------------------------------------------------------------ fleet against the run

/// One of the pair as the scenario saw it: keepalived's last logged state, and whether the
/// kernel had the VIP on its link (`vrrp-<phase>.txt`).
fn vrrp_view(run: &Run, phase: &str) -> BTreeMap<String, (String, bool)> {
    let path = run.dir.join(format!("lab/prometheus/vrrp-{phase}.txt"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            match f.as_slice() {
                [host, state, vip] => {
                    Some((host.to_string(), (state.to_string(), *vip == "holds-vip")))
                }
                _ => None,
            }
        })
        .collect()
}

/// The weight each real server has in a keepalived configuration the scenario saved:
/// `address:port` -> weight.
fn configured_weights(run: &Run, file: &str) -> BTreeMap<String, i64> {
    let path = run.dir.join("lab/prometheus").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.as_slice() {
            ["real_server", address, port, "{"] => current = Some(format!("{address}:{port}")),
            ["weight", w] => {
                if let Some(rs) = current.take() {
                    out.insert(rs, w.parse().unwrap());
                }
            }
            _ => {}
        }
    }
    out
}

/// `ipvsadm -Ln` as the scenario saved it: service (`TCP 10.0.0.1:80`) -> real server ->
/// weight.
fn ipvsadm_weights(run: &Run, file: &str) -> BTreeMap<String, BTreeMap<String, i64>> {
    let path = run.dir.join("lab/prometheus").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    let mut service: Option<String> = None;
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.as_slice() {
            [proto @ ("TCP" | "UDP" | "SCTP"), address, _scheduler, ..] => {
                let key = format!("{proto} {address}");
                out.entry(key.clone()).or_default();
                service = Some(key);
            }
            ["->", real, _forward, weight, ..] if real.contains(':') => {
                if let (Some(s), Ok(w)) = (&service, weight.parse()) {
                    out.entry(s.clone())
                        .or_default()
                        .insert(real.to_string(), w);
                }
            }
            _ => {}
        }
    }
    out
}

/// The latest moment between `from` and `to` at which the last scrape of every target had
/// succeeded: a failed scrape is a finding of its own (fleet-exporter-down), which this test
/// does not provoke.
fn all_up_moment(prom: &Prometheus, from: f64, to: f64) -> Option<f64> {
    let r = prom.range(
        &format!(
            "count(up{{job=\"ipvs_exporter\"}} == 1) == {}",
            TARGETS.len()
        ),
        from,
        to,
    );
    sample_times(&r).into_iter().reduce(f64::max)
}

/// Runs the exporter's `fleet` against the run's Prometheus at `time`; its exit code and JSON,
/// kept in `fleet-<phase>.json`.
fn run_fleet(run: &Run, prom: &Prometheus, phase: &str, time: f64) -> (Option<i32>, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_ipvs_exporter"))
        .args(["fleet", "--prometheus", &prom.url()])
        .args(["--time", &format!("{time:.3}"), "--format", "json"])
        .stdin(Stdio::null())
        .output()
        .expect("ipvs_exporter fleet runs");
    std::fs::write(run.dir.join(format!("fleet-{phase}.json")), &out.stdout).unwrap();
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "fleet at {phase} ({time:.0}) wrote no JSON ({e}); stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), json)
}

/// Each finding as (rule, its hosts in order).
fn finding_keys(report: &Value) -> BTreeSet<(String, Vec<String>)> {
    report["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| {
            let mut hosts: Vec<String> = f["hosts"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|h| h.as_str().map(str::to_string))
                .collect();
            hosts.sort();
            (f["rule"].as_str().unwrap_or("").to_string(), hosts)
        })
        .collect()
}

/// fleet's VRRP members: host -> state.
fn fleet_members(report: &Value) -> BTreeMap<String, String> {
    report["vrrp_groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["members"].as_array().into_iter().flatten())
        .map(|m| {
            (
                m["host"].as_str().unwrap_or("").to_string(),
                m["state"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// Seconds after a phase began before fleet may be asked about it: lb2 needs about 4 s to
/// give up on lb1's adverts, then a scrape (3 s) and a margin for a slow one.
const FLEET_SETTLE_SECONDS: f64 = 10.0;
/// Seconds before the next phase's mark that fleet's moment keeps away from: a scrape that
/// began before the mark may be answered after the next phase changed things.
const FLEET_MARGIN_SECONDS: f64 = 4.0;

/// (4) `fleet` at a moment of the split brain and at one of the fixed phase, against what
/// keepalived, the kernel and the configurations say.
fn fleet_checks(run: &Run, prom: &Prometheus, problems: &mut Vec<String>) {
    let mut moments = BTreeMap::new();
    for (phase, next) in [("splitbrain", "fixed"), ("fixed", "failover")] {
        let (from, to) = (
            run.at(phase) + FLEET_SETTLE_SECONDS,
            run.at(next) - FLEET_MARGIN_SECONDS,
        );
        match all_up_moment(prom, from, to) {
            Some(t) => {
                moments.insert(phase, t);
            }
            None => problems.push(format!(
                "no moment in phase {phase} at which every exporter's last scrape had succeeded"
            )),
        }
    }

    // the truth: keepalived's logs and the kernel's addresses, the configurations, ipvsadm
    let split = vrrp_view(run, "splitbrain");
    let masters: Vec<String> = split
        .iter()
        .filter(|(_, (state, vip))| state == "MASTER" && *vip)
        .map(|(host, _)| host.clone())
        .collect();
    assert_eq!(
        masters,
        ["lb1", "lb2"],
        "the scenario made no split brain: vrrp-splitbrain.txt says {split:?}"
    );
    let (lb1, lb2, lb2_fixed) = (
        configured_weights(run, "lb1.conf"),
        configured_weights(run, "lb2.conf"),
        configured_weights(run, "lb2-fixed.conf"),
    );
    let differing: BTreeSet<&String> = lb1
        .keys()
        .chain(lb2.keys())
        .filter(|rs| lb1.get(*rs) != lb2.get(*rs))
        .collect();
    assert_eq!(differing.len(), 1, "lb1.conf {lb1:?}, lb2.conf {lb2:?}");
    assert_eq!(lb1, lb2_fixed, "lb2-fixed.conf should have lb1's weights");
    // keepalived programmed what it was configured with
    for (ns, weights) in [("lb1", &lb1), ("lb2", &lb2)] {
        let kernel = ipvsadm_weights(run, &format!("ipvsadm-{ns}-splitbrain.txt"));
        assert_eq!(
            kernel.get("TCP 10.9.0.100:80"),
            Some(weights),
            "{ns}'s kernel and keepalived's configuration differ in the split brain"
        );
    }
    let kernel = ipvsadm_weights(run, "ipvsadm-lb2-fixed.txt");
    assert_eq!(
        kernel.get("TCP 10.9.0.100:80"),
        Some(&lb1),
        "lb2 after its reload"
    );
    let weightless = |file: &str| -> BTreeSet<String> {
        ipvsadm_weights(run, file)
            .into_iter()
            .filter(|(_, reals)| reals.values().all(|w| *w == 0))
            .map(|(service, _)| service)
            .collect()
    };
    let director_weightless = weightless("ipvsadm-splitbrain.txt");
    assert_eq!(
        director_weightless.iter().collect::<Vec<_>>(),
        ["TCP 10.0.0.1:8081"],
        "the director's services without a real server of weight above 0 in the split brain"
    );
    assert!(weightless("ipvsadm-fixed.txt").is_empty());

    if let Some(&t) = moments.get("splitbrain") {
        let (code, report) = run_fleet(run, prom, "splitbrain", t);
        let keys = finding_keys(&report);
        let pair = vec!["lb1".to_string(), "lb2".to_string()];
        // The three problems, and nothing else. lb2's advisor sees the split brain too (it
        // heard lb1 advertise until VRRP was dropped, less than a minute ago: vrrp-two-masters);
        // fleet says so in its split brain's details instead of a fourth finding. lb1 heard no
        // second master: lb2's adverts never reached it.
        let wanted: BTreeSet<(String, Vec<String>)> = [
            ("fleet-vrrp-split-brain".to_string(), masters.clone()),
            ("fleet-director-mismatch".to_string(), pair.clone()),
            (
                "service-without-weight".to_string(),
                vec!["director".into()],
            ),
        ]
        .into_iter()
        .collect();
        say(&format!(
            "lab-prometheus: fleet {:.0} s into splitbrain: exit {code:?}, findings {keys:?}",
            t - run.at("splitbrain")
        ));
        if code != Some(2) {
            problems.push(format!("fleet in the split brain exited {code:?}, not 2"));
        }
        if keys != wanted || report["findings"].as_array().map(Vec::len) != Some(wanted.len()) {
            problems.push(format!(
                "fleet in the split brain found {keys:?}; wanted exactly {wanted:?}"
            ));
        }
        let summary = &report["summary"];
        if summary["critical"] != 2 || summary["warning"] != 1 || summary["info"] != 0 {
            problems.push(format!("fleet's summary in the split brain: {summary}"));
        }
        for f in report["findings"].as_array().into_iter().flatten() {
            let subject = f["subject"].as_str().unwrap_or("");
            match f["rule"].as_str().unwrap_or("") {
                "fleet-director-mismatch" => {
                    if subject != "TCP 10.9.0.100:80" {
                        problems.push(format!("fleet-director-mismatch is about {subject}"));
                    }
                    let details: Vec<&str> = f["details"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .collect();
                    let wanted: Vec<String> = differing
                        .iter()
                        .map(|rs| {
                            format!(
                                "real servers {rs}: lb1 configured weight {}; lb2 configured weight {}",
                                lb1[*rs], lb2[*rs]
                            )
                        })
                        .collect();
                    if details != wanted {
                        problems.push(format!(
                            "fleet-director-mismatch says {details:?}; the configurations say {wanted:?}"
                        ));
                    }
                }
                "fleet-vrrp-split-brain" => {
                    let folded = f["details"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .any(|d| {
                            d.starts_with("lb2: its own advisor hears the other master too")
                                && d.ends_with("(vrrp-two-masters: eth0 vrid 51)")
                        });
                    if !folded {
                        problems.push(format!(
                            "fleet's split brain does not say that lb2's own advisor sees it: {f}"
                        ));
                    }
                }
                "service-without-weight" if !director_weightless.contains(subject) => {
                    problems.push(format!(
                        "service-without-weight is about {subject}; ipvsadm shows {director_weightless:?}"
                    ));
                }
                _ => {}
            }
        }
        let truth: BTreeMap<String, String> = split
            .iter()
            .map(|(h, (state, _))| (h.clone(), state.clone()))
            .collect();
        if fleet_members(&report) != truth {
            problems.push(format!(
                "fleet's VRRP members in the split brain {:?}; keepalived's logs {truth:?}",
                fleet_members(&report)
            ));
        }
        if report["director_sets"] != serde_json::json!([pair]) {
            problems.push(format!(
                "fleet compared {} in the split brain, not lb1 with lb2",
                report["director_sets"]
            ));
        }
    }

    if let Some(&t) = moments.get("fixed") {
        let (code, report) = run_fleet(run, prom, "fixed", t);
        let keys = finding_keys(&report);
        say(&format!(
            "lab-prometheus: fleet {:.0} s into fixed: exit {code:?}, findings {keys:?}",
            t - run.at("fixed")
        ));
        if code != Some(0) || !keys.is_empty() {
            problems.push(format!(
                "fleet once everything was fixed exited {code:?} with findings {keys:?}, not 0 with none"
            ));
        }
        let fixed = vrrp_view(run, "fixed");
        let wanted: BTreeMap<String, (String, bool)> = [
            ("lb1".to_string(), ("MASTER".to_string(), true)),
            ("lb2".to_string(), ("BACKUP".to_string(), false)),
        ]
        .into_iter()
        .collect();
        assert_eq!(fixed, wanted, "vrrp-fixed.txt");
        let truth: BTreeMap<String, String> = fixed
            .iter()
            .map(|(h, (state, _))| (h.clone(), state.clone()))
            .collect();
        if fleet_members(&report) != truth {
            problems.push(format!(
                "fleet's VRRP members once fixed {:?}; keepalived's logs {truth:?}",
                fleet_members(&report)
            ));
        }
        if report["director_sets"] != serde_json::json!([["lb1", "lb2"]]) {
            problems.push(format!(
                "fleet compared {} once fixed, not lb1 with lb2",
                report["director_sets"]
            ));
        }
    }
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
    for (name, labels, phase) in MUST_FIRE {
        let since = run.at(phase);
        let fired = sample_times(
            matching(&seen, name, labels)
                .into_iter()
                .filter(|s| s["metric"]["alertstate"] == "firing"),
        )
        .into_iter()
        .filter(|t| *t >= since)
        .reduce(f64::min);
        match fired {
            Some(t) => say(&format!(
                "lab-prometheus: {name} firing {:.0} s after phase {phase} began",
                t - since
            )),
            None => problems.push(format!(
                "alert {name} with {labels:?} never fired after phase {phase} began"
            )),
        }
    }
    for (name, labels, phase, why) in STOPS {
        let after = run.at(phase) + STOP_GRACE_SECONDS;
        let late = sample_times(
            matching(&seen, name, labels)
                .into_iter()
                .filter(|s| s["metric"]["alertstate"] == "firing"),
        )
        .into_iter()
        .filter(|t| *t > after)
        .reduce(f64::max);
        if let Some(t) = late {
            problems.push(format!(
                "alert {name} with {labels:?} still fired {:.0} s after phase {phase} began ({why})",
                t - run.at(phase)
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

    // (4) fleet in the split brain and once fixed; (5) Alertmanager at the end
    fleet_checks(&run, &prom, &mut problems);
    alertmanager_checks(&run, &mut problems);

    assert!(
        problems.is_empty(),
        "{} problem(s); Prometheus's data is in {}:\n  {}",
        problems.len(),
        run.dir.display(),
        problems.join("\n  ")
    );
}
