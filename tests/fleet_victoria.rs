//! `ipvs_exporter fleet` against VictoriaMetrics gives the report it gives against Prometheus
//! (test-host tier: Debian's `victoria-metrics` and `prometheus`, which tests/run.sh
//! installs). Both scrape, with the same scrape configuration, the hosts fleet_prometheus.rs
//! uses, and a host whose VRRP counters were set before the servers first saw it (a peer
//! heard once, adverts of another interval counted once) beside one whose count grows. The
//! test goes through the same three moments (all up, an exporter stopped, a target removed),
//! notes a time in each, and then runs fleet at each of those times against both servers:
//! the JSON reports must be equal but for the server's URL. fleet_prometheus.rs checks the
//! Prometheus report against the exporters themselves; here each moment's report must also
//! show what that moment is about, so that two equally empty reports cannot pass.

// Test code: a failed unwrap or index is a failed test (the [lints] table guards src/).
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::panic, clippy::indexing_slicing)]

mod support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use support::fleet_scrape::{
    FixtureFleet, FleetRun, Kind, Scraper, findings, fleet, fleet_until, strings,
};
use support::serve_exposition;

/// How far behind now VictoriaMetrics answers a query at now: its `-search.latencyOffset`,
/// 30 s by default. The times compared are older than this when fleet runs at them.
const VICTORIA_LATENCY_OFFSET: Duration = Duration::from_secs(30);

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A time a little after now, once it has passed: both servers have scraped since the
/// moment a report at now first showed.
fn moment() -> u64 {
    let at = unix_now() + 3;
    while unix_now() <= at + 1 {
        std::thread::sleep(Duration::from_millis(200));
    }
    at
}

/// A host whose counters are not new when the servers first scrape it: VRID 78's BACKUP
/// heard 198.51.100.3 three times and counted two adverts of another interval, all before
/// the first scrape, and nothing since; VRID 79's MASTER counts five such adverts from its
/// fourth scrape on.
fn serve_counted_before() -> std::net::SocketAddr {
    serve_exposition(|_, n| {
        let vi78 = "vrrp_instance=\"VI_78\",interface=\"eth0\",vrid=\"78\"";
        let vi79 = "vrrp_instance=\"VI_79\",interface=\"eth0\",vrid=\"79\"";
        let peer = "interface=\"eth0\",vrid=\"78\",source=\"198.51.100.3\"";
        format!(
            "# TYPE ipvs_vrrp_state gauge\n\
             ipvs_vrrp_state{{{vi78},state=\"BACKUP\"}} 1\n\
             ipvs_vrrp_state{{{vi78},state=\"MASTER\"}} 0\n\
             ipvs_vrrp_state{{{vi79},state=\"BACKUP\"}} 0\n\
             ipvs_vrrp_state{{{vi79},state=\"MASTER\"}} 1\n\
             # TYPE ipvs_vrrp_vip_present gauge\n\
             ipvs_vrrp_vip_present{{vrrp_instance=\"VI_78\",interface=\"eth0\",address=\"198.51.100.78\"}} 0\n\
             ipvs_vrrp_vip_present{{vrrp_instance=\"VI_79\",interface=\"eth0\",address=\"198.51.100.79\"}} 1\n\
             # TYPE ipvs_vrrp_peer_advertisements counter\n\
             ipvs_vrrp_peer_advertisements_total{{{peer}}} 3\n\
             # TYPE ipvs_vrrp_peer_priority gauge\n\
             ipvs_vrrp_peer_priority{{{peer}}} 150\n\
             # TYPE ipvs_vrrp_advert_errors counter\n\
             ipvs_vrrp_advert_errors_total{{vrrp_instance=\"VI_78\",reason=\"advert_interval\"}} 2\n\
             ipvs_vrrp_advert_errors_total{{vrrp_instance=\"VI_79\",reason=\"advert_interval\"}} {}\n",
            if n < 3 { 0 } else { 5 }
        )
    })
}

/// The findings about `subject`'s VRID, by rule.
fn rules_on(report: &serde_json::Value, vrid: &str) -> Vec<String> {
    let mut rules: Vec<String> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| {
            f["subject"]
                .as_str()
                .unwrap()
                .contains(&format!("VRID {vrid} "))
        })
        .map(|f| f["rule"].as_str().unwrap().to_string())
        .collect();
    rules.sort();
    rules
}

/// The report without the field that names the server.
fn without_url(run: &FleetRun) -> serde_json::Value {
    let mut report = run.report.clone();
    report.as_object_mut().unwrap().remove("prometheus");
    report
}

/// Each top-level field where the two reports differ, and the entries of a list that only
/// one of them has.
fn differences(a: &serde_json::Value, b: &serde_json::Value) -> String {
    let mut out = String::new();
    for (key, left) in a.as_object().unwrap() {
        let right = &b[key];
        if left == right {
            continue;
        }
        match (left.as_array(), right.as_array()) {
            (Some(l), Some(r)) => {
                for item in l.iter().filter(|i| !r.contains(i)) {
                    out.push_str(&format!("{key}: Prometheus only: {item}\n"));
                }
                for item in r.iter().filter(|i| !l.contains(i)) {
                    out.push_str(&format!("{key}: VictoriaMetrics only: {item}\n"));
                }
            }
            _ => out.push_str(&format!(
                "{key}: Prometheus {left}, VictoriaMetrics {right}\n"
            )),
        }
    }
    out
}

#[test]
fn fleet_reports_the_same_on_victoria_metrics_as_on_prometheus() {
    let hosts = FixtureFleet::start();
    let counted_before = serve_counted_before();
    let config = hosts.config(&[(counted_before, "dc3")]);
    let FixtureFleet { lb2, nothing, .. } = &hosts;
    let (lb2_name, nothing_name) = (lb2.address.to_string(), nothing.to_string());
    let prometheus = Scraper::start(Kind::Prometheus, &config);
    let victoria = Scraper::start(Kind::VictoriaMetrics, &config);

    // What each moment's report must show, on either server.
    type Check = Box<dyn Fn(&serde_json::Value) -> bool>;
    let all_up: Check = Box::new(|report| {
        report["summary"]["hosts"] == 7
            && report["summary"]["up"] == 6
            && report["vrrp_groups"].as_array().is_some_and(|groups| {
                groups.iter().any(|g| {
                    g["vrid"] == "77"
                        && g["heard_advertising"] == serde_json::json!(["198.51.100.2"])
                })
            })
            && !findings(report, "service-without-weight").is_empty()
            // VRID 78's peer was heard before the first scrape, not since: no MASTER; the
            // adverts of another interval it counted then are not recent; VRID 79's are.
            && rules_on(report, "78") == ["fleet-vrrp-no-master"]
            && rules_on(report, "79") == ["fleet-vrrp-advert-interval-mismatch"]
    });
    let lb2_down_name = lb2_name.clone();
    let lb2_down: Check = Box::new(move |report| {
        findings(report, "fleet-exporter-down")
            .iter()
            .any(|f| strings(&f["hosts"]) == [lb2_down_name.clone()])
            && findings(report, "fleet-vrrp-member-unseen").len() == 3
    });
    let removed_name = nothing_name.clone();
    let removed_stale: Check = Box::new(move |report| {
        report["hosts"].as_array().is_some_and(|hosts| {
            hosts
                .iter()
                .any(|h| h["name"] == removed_name && h["status"] == "stale")
        }) && report["summary"]["stale"] == 1
    });

    let mut moments: Vec<(&str, u64, &Check)> = Vec::new();
    fleet_until(&prometheus, "every host up", |run| all_up(&run.report));
    moments.push(("all up", moment(), &all_up));

    let FixtureFleet {
        lb1,
        lb2,
        mixed,
        nat,
        ..
    } = hosts;
    drop(lb2);
    fleet_until(&prometheus, "the stopped exporter down", |run| {
        lb2_down(&run.report)
    });
    moments.push(("an exporter stopped", moment(), &lb2_down));

    let without = config.replace(&format!(", '{nothing_name}'"), "");
    assert_ne!(without, config);
    prometheus.reload(&without, &nothing_name);
    victoria.reload(&without, &nothing_name);
    fleet_until(&prometheus, "the removed target stale", |run| {
        removed_stale(&run.report)
    });
    moments.push(("a target removed", moment(), &removed_stale));

    // VictoriaMetrics answers a query at a time within its latency offset of now from the
    // samples before that offset: wait until the last moment is older.
    let last = moments.last().unwrap().1;
    while unix_now() <= last + VICTORIA_LATENCY_OFFSET.as_secs() + 1 {
        std::thread::sleep(Duration::from_millis(500));
    }
    for (what, time, check) in &moments {
        let on_prometheus = fleet(&prometheus, Some(*time));
        let on_victoria = fleet(&victoria, Some(*time));
        let (a, b) = (without_url(&on_prometheus), without_url(&on_victoria));
        for (server, run) in [
            ("Prometheus", &on_prometheus),
            ("VictoriaMetrics", &on_victoria),
        ] {
            assert!(
                check(&run.report),
                "{what} at {time}: the report from {server} does not show it ({:?} {})\n{:#}\n\
                 differences:\n{}",
                run.code,
                run.stderr,
                run.report,
                differences(&a, &b)
            );
        }
        assert!(
            a == b,
            "{what} at {time}: the reports differ\n{}",
            differences(&a, &b)
        );
        assert_eq!(on_prometheus.code, on_victoria.code, "{what}");
        assert_eq!(on_victoria.report["prometheus"], victoria.url());
    }
    drop((lb1, mixed, nat));
}
