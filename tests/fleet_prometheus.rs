//! `ipvs_exporter fleet` against a real Prometheus (test-host tier: Debian's `prometheus`,
//! which tests/run.sh installs). Prometheus scrapes, on loopback, two exporters on the
//! keepalived-director fixture (the same VRRP instances, so both hold VRID 11 as MASTER),
//! the mixed-director and nat-director fixtures under one `cluster` label, and a port where
//! nothing listens. fleet's findings are checked against the exporters' own /metrics (VRRP
//! states, virtual services) and doctor's golden report (advisor findings); then one exporter
//! of the pair is stopped, and fleet must see it down and its group not fully seen, through
//! the lookback queries a real Prometheus evaluates.

// Test code: a failed unwrap or index is a failed test (the [lints] table guards src/).
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::panic, clippy::indexing_slicing)]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ipvs_exporter::fleet::queries::Query;
use support::{Exporter, http_get};

fn fixture_args(scenario: &str) -> Vec<String> {
    let base = Path::new("tests/fixtures").join(scenario);
    let path = |sub: &str| base.join(sub).to_string_lossy().into_owned();
    vec![
        "--path.procfs".into(),
        path("proc"),
        "--collector.ipvs.source".into(),
        "procfs".into(),
        "--collector.conntrack.source".into(),
        "procfs".into(),
        "--path.sysfs".into(),
        path("sys"),
        "--no-collector.netdev.ethtool".into(),
        "--no-collector.interfaces".into(),
        "--path.rootfs".into(),
        base.to_string_lossy().into_owned(),
    ]
}

/// A Prometheus server in a temporary directory, killed and removed when dropped.
struct Prometheus {
    child: Child,
    address: SocketAddr,
    dir: PathBuf,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Prometheus {
    /// Writes a new configuration without the target `gone` and has Prometheus read it
    /// (SIGHUP), waiting until `gone` has left its active targets.
    fn reload(&self, config: &str, gone: &str) {
        std::fs::write(self.dir.join("prometheus.yml"), config).unwrap();
        let status = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        while http_get(self.address, "/api/v1/targets?state=active", &[])
            .body
            .contains(gone)
        {
            assert!(
                Instant::now() < deadline,
                "prometheus did not drop {gone} within 30 s"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn start(config: &str) -> Prometheus {
        let dir =
            std::env::temp_dir().join(format!("ipvs-fleet-prometheus-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("prometheus.yml"), config).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let address: SocketAddr = ([127, 0, 0, 1], port).into();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", dir.join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address={address}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("prometheus could not be run ({e}): install the Debian package prometheus (tests/run.sh does)")
            });
        let server = Prometheus {
            child,
            address,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !(std::net::TcpStream::connect(address).is_ok()
            && http_get(address, "/-/ready", &[]).status == 200)
        {
            assert!(
                Instant::now() < deadline,
                "prometheus not ready within 60 s"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        server
    }
}

struct Run {
    code: Option<i32>,
    report: serde_json::Value,
    stderr: String,
}

fn fleet(prometheus: &Prometheus) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_ipvs_exporter"))
        .args(["fleet", "--format", "json", "--prometheus"])
        .arg(format!("http://{}", prometheus.address))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    Run {
        code: out.status.code(),
        report: serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null),
        stderr,
    }
}

/// Runs fleet until `ready` accepts its report (Prometheus needs a few scrapes), for 60 s.
fn fleet_until(prometheus: &Prometheus, what: &str, ready: impl Fn(&Run) -> bool) -> Run {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let run = fleet(prometheus);
        if ready(&run) {
            return run;
        }
        assert!(
            Instant::now() < deadline,
            "{what} not seen within 60 s; last run: {:?} {}\n{:#}",
            run.code,
            run.stderr,
            run.report
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn findings<'a>(report: &'a serde_json::Value, rule: &str) -> Vec<&'a serde_json::Value> {
    report["findings"]
        .as_array()
        .map(|all| all.iter().filter(|f| f["rule"] == rule).collect())
        .unwrap_or_default()
}

fn strings(value: &serde_json::Value) -> Vec<String> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

/// The value of each series of `family` in an exporter's /metrics, by its labels.
fn series(exporter: &Exporter, family: &str) -> Vec<(BTreeMap<String, String>, f64)> {
    let body = http_get(exporter.address, "/metrics", &[]).body;
    body.lines()
        .filter(|l| l.starts_with(&format!("{family}{{")))
        .map(|line| {
            let (head, value) = line.rsplit_once(' ').unwrap();
            let inner = &head[family.len() + 1..head.len() - 1];
            let labels = inner
                .split("\",")
                .filter(|kv| !kv.is_empty())
                .map(|kv| {
                    let (k, v) = kv.split_once("=\"").unwrap();
                    (k.to_string(), v.trim_end_matches('"').to_string())
                })
                .collect();
            (labels, value.parse().unwrap())
        })
        .collect()
}

/// A virtual service as fleet names it, from an exporter's labels.
fn service_text(labels: &BTreeMap<String, String>) -> String {
    if labels["proto"] == "FWM" {
        format!("FWM {}", labels["local_mark"])
    } else if labels["local_address"].contains(':') {
        format!(
            "{} [{}]:{}",
            labels["proto"], labels["local_address"], labels["local_port"]
        )
    } else {
        format!(
            "{} {}:{}",
            labels["proto"], labels["local_address"], labels["local_port"]
        )
    }
}

/// A host that hears another router advertise VRID 77 (as `--collector.vrrp.listen` exports
/// it) while its own instance is BACKUP: exposition text whose advert counter grows at each
/// scrape, served on a loopback port for as long as the test runs.
fn serve_listener() -> SocketAddr {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { continue };
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(read) => head.extend_from_slice(&buf[..read]),
                }
            }
            let instance = "vrrp_instance=\"VI_77\",interface=\"eth0\",vrid=\"77\"";
            let peer = "interface=\"eth0\",vrid=\"77\",source=\"198.51.100.2\"";
            let text = format!(
                "# TYPE ipvs_vrrp_state gauge\n\
                 ipvs_vrrp_state{{{instance},state=\"BACKUP\"}} 1\n\
                 ipvs_vrrp_state{{{instance},state=\"MASTER\"}} 0\n\
                 # TYPE ipvs_vrrp_vip_present gauge\n\
                 ipvs_vrrp_vip_present{{vrrp_instance=\"VI_77\",interface=\"eth0\",address=\"198.51.100.77\"}} 0\n\
                 # TYPE ipvs_vrrp_peer_advertisements counter\n\
                 ipvs_vrrp_peer_advertisements_total{{{peer}}} {}\n\
                 # TYPE ipvs_vrrp_peer_priority gauge\n\
                 ipvs_vrrp_peer_priority{{{peer}}} 150\n",
                n * 10
            );
            let reply = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            );
            let _ = stream.write_all(reply.as_bytes());
        }
    });
    address
}

#[test]
fn fleet_reads_a_real_prometheus_scraping_exporters_on_fixtures() {
    let lb1 = Exporter::start(&fixture_args("keepalived-director"));
    let lb2 = Exporter::start(&fixture_args("keepalived-director"));
    let mixed = Exporter::start(&fixture_args("mixed-director"));
    let nat = Exporter::start(&fixture_args("nat-director"));
    let nothing = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let listening = serve_listener();
    let config = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: ipvs_exporter\n    static_configs:\n      - targets: ['{}', '{}', '{nothing}']\n      - targets: ['{}', '{}']\n        labels: {{cluster: dc1}}\n      - targets: ['{listening}']\n        labels: {{cluster: dc2}}\n",
        lb1.address, lb2.address, mixed.address, nat.address
    );
    let prometheus = Prometheus::start(&config);
    let (lb1_name, lb2_name) = (lb1.address.to_string(), lb2.address.to_string());
    let (mixed_name, nat_name) = (
        format!("dc1/{}", mixed.address),
        format!("dc1/{}", nat.address),
    );

    let run = fleet_until(&prometheus, "six hosts and four VRRP groups", |run| {
        let groups = run.report["vrrp_groups"].as_array();
        run.report["summary"]["hosts"] == 6
            && run.report["summary"]["up"] == 5
            && groups.is_some_and(|g| {
                g.len() == 4
                    && g.iter()
                        .filter(|g| g["members"].as_array().map(Vec::len) == Some(2))
                        .count()
                        == 3
            })
            && groups.is_some_and(|g| {
                g.iter().any(|g| {
                    g["vrid"] == "77"
                        && g["heard_advertising"] == serde_json::json!(["198.51.100.2"])
                })
            })
            && !findings(&run.report, "service-without-weight").is_empty()
    });
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    let report = &run.report;
    assert_eq!(report["queries"], Query::ALL.len());

    // The VRRP groups hold each exporter's own states.
    let own_states: BTreeMap<(String, String), String> = series(&lb1, "ipvs_vrrp_state")
        .into_iter()
        .filter(|(_, v)| *v == 1.0)
        .map(|(l, _)| {
            (
                (l["vrid"].clone(), l["vrrp_instance"].clone()),
                l["state"].clone(),
            )
        })
        .collect();
    assert_eq!(own_states.len(), 3, "{own_states:?}");
    let pair_groups = |report: &serde_json::Value| -> Vec<serde_json::Value> {
        report["vrrp_groups"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|g| g["vrid"] != "77")
            .cloned()
            .collect()
    };
    for group in &pair_groups(report) {
        let vrid = group["vrid"].as_str().unwrap().to_string();
        for member in group["members"].as_array().unwrap() {
            let key = (
                vrid.clone(),
                member["vrrp_instance"].as_str().unwrap().to_string(),
            );
            assert_eq!(
                member["state"].as_str(),
                own_states.get(&key).map(String::as_str),
                "{group}"
            );
            assert_eq!(member["seen"], true);
        }
    }
    let masters: Vec<&(String, String)> = own_states
        .iter()
        .filter(|(_, s)| *s == "MASTER")
        .map(|(k, _)| k)
        .collect();
    // Each VRID the exporters hold as MASTER is a split brain (both run the same fixture);
    // each other one has no MASTER.
    let split = findings(report, "fleet-vrrp-split-brain");
    assert_eq!(split.len(), masters.len());
    for finding in &split {
        let hosts: BTreeSet<String> = strings(&finding["hosts"]).into_iter().collect();
        assert_eq!(hosts, BTreeSet::from([lb1_name.clone(), lb2_name.clone()]));
    }
    let no_master = findings(report, "fleet-vrrp-no-master");
    assert_eq!(no_master.len(), own_states.len() - masters.len());
    assert!(no_master.iter().all(|f| f["severity"] == "critical"));

    // VRID 77's only member seen is BACKUP, and hears 198.51.100.2 advertise it: a MASTER
    // outside the fleet's view, so no finding about it.
    assert!(
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| !f["subject"].as_str().unwrap().contains("VRID 77")),
        "{report:#}"
    );

    let down = findings(report, "fleet-exporter-down");
    assert_eq!(down.len(), 1);
    assert_eq!(strings(&down[0]["hosts"]), [nothing.to_string()]);

    // The directors of cluster dc1 differ exactly by the services one has and the other
    // does not, as their own /metrics list them.
    let services = |e: &Exporter| -> BTreeSet<String> {
        series(e, "ipvs_service_info")
            .iter()
            .map(|(l, _)| service_text(l))
            .collect()
    };
    let (on_mixed, on_nat) = (services(&mixed), services(&nat));
    let only_one: BTreeSet<String> = on_mixed.symmetric_difference(&on_nat).cloned().collect();
    assert!(!only_one.is_empty());
    let absent: BTreeSet<String> = findings(report, "fleet-director-mismatch")
        .iter()
        .filter(|f| {
            f["details"][0]
                .as_str()
                .is_some_and(|d| d.starts_with("absent on"))
        })
        .map(|f| f["subject"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(absent, only_one);
    let pair: Vec<String> = BTreeSet::from([mixed_name.clone(), nat_name.clone()])
        .into_iter()
        .collect();
    assert!(
        report["director_sets"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!(pair)),
        "{:#}",
        report["director_sets"]
    );

    // Advisor findings: the rules doctor's golden report has for mixed-director, on that host.
    let golden: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string("tests/golden/mixed-director/doctor.json").unwrap(),
    )
    .unwrap();
    let golden_rules: BTreeSet<String> = golden["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap().to_string())
        .collect();
    let on_mixed_rules: BTreeSet<String> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| !f["rule"].as_str().unwrap().starts_with("fleet-"))
        .filter(|f| strings(&f["hosts"]).contains(&mixed_name))
        .map(|f| f["rule"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(on_mixed_rules, golden_rules);

    // One exporter of the pair stops: its host is down, the groups are not fully seen, and
    // its instances are still known from the lookback.
    drop(lb2);
    let run = fleet_until(&prometheus, "the stopped exporter down", |run| {
        findings(&run.report, "fleet-exporter-down")
            .iter()
            .any(|f| strings(&f["hosts"]) == [lb2_name.clone()])
    });
    let report = &run.report;
    let unseen = findings(report, "fleet-vrrp-member-unseen");
    assert_eq!(unseen.len(), 3, "{report:#}");
    assert!(
        unseen
            .iter()
            .all(|f| strings(&f["hosts"]) == [lb2_name.clone()])
    );
    assert!(findings(report, "fleet-vrrp-split-brain").is_empty());
    // with a member not seen, a group without MASTER is a warning
    assert!(
        findings(report, "fleet-vrrp-no-master")
            .iter()
            .all(|f| f["severity"] == "warning")
    );
    for group in &pair_groups(report) {
        assert_eq!(group["members"].as_array().unwrap().len(), 2, "{group}");
    }

    // The target that never answered leaves the configuration: Prometheus marks its series
    // stale, and fleet still knows it from the lookback, as stale.
    let without = config.replace(&format!(", '{nothing}'"), "");
    assert_ne!(without, config);
    prometheus.reload(&without, &nothing.to_string());
    let run = fleet_until(&prometheus, "the removed target stale", |run| {
        run.report["hosts"].as_array().is_some_and(|hosts| {
            hosts
                .iter()
                .any(|h| h["name"] == nothing.to_string() && h["status"] == "stale")
        })
    });
    assert_eq!(run.report["summary"]["stale"], 1, "{:#}", run.report);
    let down = findings(&run.report, "fleet-exporter-down");
    assert!(
        down.iter().any(
            |f| f["summary"].as_str().is_some_and(|s| s.contains("stale"))
                && strings(&f["hosts"]) == [nothing.to_string()]
        ),
        "{down:?}"
    );
}
