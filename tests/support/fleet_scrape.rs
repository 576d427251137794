//! What fleet's end-to-end tests against a real time-series server share: hosts from fixture
//! trees and from fixed exposition text, a Prometheus or a VictoriaMetrics scraping them on
//! loopback (killed and removed when dropped), and running `ipvs_exporter fleet` against one
//! of them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{Exporter, fixture_args, http_get, serve_exposition};

/// A host that hears another router advertise VRID 77 (as `--collector.vrrp.listen` exports
/// it) while its own instance is BACKUP: the advert counter grows at each scrape.
pub fn serve_listener() -> SocketAddr {
    serve_exposition(|_, n| {
        let instance = "vrrp_instance=\"VI_77\",interface=\"eth0\",vrid=\"77\"";
        let peer = "interface=\"eth0\",vrid=\"77\",source=\"198.51.100.2\"";
        format!(
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
        )
    })
}

/// The hosts the fleet tests scrape: two exporters on the keepalived-director fixture (the
/// same VRRP instances, so both hold VRID 11 as MASTER), the mixed-director and nat-director
/// fixtures under cluster `dc1`, a port where nothing listens, and the VRID 77 listener
/// ([`serve_listener`]) under cluster `dc2`.
pub struct FixtureFleet {
    pub lb1: Exporter,
    pub lb2: Exporter,
    pub mixed: Exporter,
    pub nat: Exporter,
    pub nothing: SocketAddr,
    pub listening: SocketAddr,
}

impl FixtureFleet {
    pub fn start() -> FixtureFleet {
        let nothing = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        FixtureFleet {
            lb1: Exporter::start(&fixture_args("keepalived-director")),
            lb2: Exporter::start(&fixture_args("keepalived-director")),
            mixed: Exporter::start(&fixture_args("mixed-director")),
            nat: Exporter::start(&fixture_args("nat-director")),
            nothing,
            listening: serve_listener(),
        }
    }

    /// A prometheus.yml scraping every host each second as job `ipvs_exporter`, with
    /// `extra_targets` (`address`, cluster label value) added.
    pub fn config(&self, extra_targets: &[(SocketAddr, &str)]) -> String {
        let mut config = format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: ipvs_exporter\n    static_configs:\n      - targets: ['{}', '{}', '{}']\n      - targets: ['{}', '{}']\n        labels: {{cluster: dc1}}\n      - targets: ['{}']\n        labels: {{cluster: dc2}}\n",
            self.lb1.address,
            self.lb2.address,
            self.nothing,
            self.mixed.address,
            self.nat.address,
            self.listening
        );
        for (address, cluster) in extra_targets {
            config.push_str(&format!(
                "      - targets: ['{address}']\n        labels: {{cluster: {cluster}}}\n"
            ));
        }
        config
    }
}

/// Which time-series server scrapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Debian's `prometheus`.
    Prometheus,
    /// Debian's `victoria-metrics` (single node), scraping with `-promscrape.config`.
    VictoriaMetrics,
}

impl Kind {
    fn program(self) -> &'static str {
        match self {
            Kind::Prometheus => "prometheus",
            Kind::VictoriaMetrics => "victoria-metrics",
        }
    }
}

/// A time-series server in a temporary directory, scraping with a Prometheus scrape
/// configuration; killed and its directory removed when dropped.
pub struct Scraper {
    child: Child,
    pub kind: Kind,
    pub address: SocketAddr,
    dir: PathBuf,
}

impl Drop for Scraper {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Scraper {
    /// Starts the server with `config` (a prometheus.yml) and waits until it is ready.
    pub fn start(kind: Kind, config: &str) -> Scraper {
        let dir = std::env::temp_dir().join(format!(
            "ipvs-fleet-{}-{}",
            kind.program(),
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let config_file = dir.join("prometheus.yml");
        std::fs::write(&config_file, config).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let address: SocketAddr = ([127, 0, 0, 1], port).into();
        let data = dir.join("data");
        let mut command = Command::new(kind.program());
        match kind {
            Kind::Prometheus => command
                .arg(format!("--config.file={}", config_file.display()))
                .arg(format!("--storage.tsdb.path={}", data.display()))
                .arg(format!("--web.listen-address={address}")),
            Kind::VictoriaMetrics => command
                .arg(format!("-promscrape.config={}", config_file.display()))
                .arg(format!("-storageDataPath={}", data.display()))
                .arg(format!("-httpListenAddr={address}")),
        };
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "{} could not be run ({e}): install the Debian package {} (tests/run.sh does)",
                    kind.program(),
                    kind.program()
                )
            });
        let server = Scraper {
            child,
            kind,
            address,
            dir,
        };
        let ready = match kind {
            Kind::Prometheus => "/-/ready",
            Kind::VictoriaMetrics => "/health",
        };
        super::wait_until_ready(address, ready, kind.program());
        server
    }

    /// The query API's base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Writes a new configuration without the target `gone` and has the server read it
    /// (SIGHUP), waiting until `gone` has left its active targets.
    pub fn reload(&self, config: &str, gone: &str) {
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
                "{} did not drop {gone} within 30 s",
                self.kind.program()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// One run of `ipvs_exporter fleet --format json`.
pub struct FleetRun {
    pub code: Option<i32>,
    pub report: serde_json::Value,
    pub stderr: String,
}

/// Runs fleet against `server`, at `time` (unix seconds) or the server's now.
pub fn fleet(server: &Scraper, time: Option<u64>) -> FleetRun {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ipvs_exporter"));
    command
        .args(["fleet", "--format", "json", "--prometheus"])
        .arg(server.url());
    if let Some(time) = time {
        command.args(["--time", &time.to_string()]);
    }
    let out = command.output().unwrap();
    FleetRun {
        code: out.status.code(),
        report: serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs fleet at the server's now until `ready` accepts its report (the server needs a few
/// scrapes), for 60 s.
pub fn fleet_until(server: &Scraper, what: &str, ready: impl Fn(&FleetRun) -> bool) -> FleetRun {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let run = fleet(server, None);
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

/// The findings of `rule` in a report.
pub fn findings<'a>(report: &'a serde_json::Value, rule: &str) -> Vec<&'a serde_json::Value> {
    report["findings"]
        .as_array()
        .map(|all| all.iter().filter(|f| f["rule"] == rule).collect())
        .unwrap_or_default()
}

/// A JSON array of strings.
pub fn strings(value: &serde_json::Value) -> Vec<String> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}
