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

use ipvs_exporter::fleet::queries::Query;
use support::fleet_scrape::{FixtureFleet, Kind, Scraper, findings, fleet_until, strings};
use support::{Exporter, http_get};

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

#[test]
fn fleet_reads_a_real_prometheus_scraping_exporters_on_fixtures() {
    let hosts = FixtureFleet::start();
    let config = hosts.config(&[]);
    let FixtureFleet {
        lb1,
        lb2,
        mixed,
        nat,
        nothing,
        ..
    } = hosts;
    let prometheus = Scraper::start(Kind::Prometheus, &config);
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
