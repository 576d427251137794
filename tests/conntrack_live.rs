//! Live: the exporter reads this host's conntrack statistics and table size, and they are
//! compared with `conntrack -S` and /proc/sys/net/netfilter. No traffic is made; a statistic
//! that moves anyway must land between the `conntrack -S` reads before and after the scrape.
//! Fails (does not skip) without the `conntrack` tool: the test command installs it.
//!
//! Tier `test-host`: `cargo test --features test-host --test conntrack_live`.

// Test code: a failed unwrap or index is a failed test (the [lints] table guards src/).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use std::collections::HashMap;

use support::{Exporter, conntrack_statistics, http_get, metric_values};

const ONLY_CONNTRACK: &[&str] = &[
    "--no-collector.ipvs",
    "--no-collector.softnet",
    "--no-collector.netdev",
];

fn sysctl(name: &str) -> u64 {
    let path = format!("/proc/sys/net/netfilter/{name}");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e} (conntrack -S should have loaded nf_conntrack)"))
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

struct Reads {
    before: Vec<(String, u64)>,
    after: Vec<(String, u64)>,
    entries: (u64, u64),
    metrics: HashMap<String, f64>,
}

/// `conntrack -S` (which also loads conntrack if it was not), a scrape, `conntrack -S` again.
fn read_around_a_scrape(extra_args: &[&str]) -> Reads {
    let before = conntrack_statistics();
    let entries_before = sysctl("nf_conntrack_count");
    let args: Vec<&str> = ONLY_CONNTRACK.iter().chain(extra_args).copied().collect();
    let exporter = Exporter::start(&args);
    let response = http_get(exporter.address, "/metrics", &[]);
    let after = conntrack_statistics();
    let entries_after = sysctl("nf_conntrack_count");
    assert_eq!(response.status, 200);
    exporter.stop();
    Reads {
        before,
        after,
        entries: (
            entries_before.min(entries_after),
            entries_before.max(entries_after),
        ),
        metrics: metric_values(&response.body),
    }
}

fn check_statistics(reads: &Reads) -> Vec<String> {
    let mut compared = Vec::new();
    for (name, low) in &reads.before {
        let high = reads
            .after
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| *v)
            .unwrap_or_else(|| panic!("conntrack -S stopped printing {name}"));
        let series = format!("ipvs_conntrack_{name}_total");
        let value = *reads
            .metrics
            .get(&series)
            .unwrap_or_else(|| panic!("{series} is missing; conntrack -S prints {name}={low}"));
        assert!(
            (*low as f64) <= value && value <= (high as f64),
            "{series} is {value}, conntrack -S said {low} before and {high} after"
        );
        compared.push(format!("{name}={value}"));
    }
    compared
}

fn check_table(reads: &Reads) {
    let entries = reads.metrics["ipvs_conntrack_entries"];
    let (low, high) = reads.entries;
    assert!(
        (low as f64) <= entries && entries <= (high as f64),
        "ipvs_conntrack_entries is {entries}, nf_conntrack_count was {low}..{high}"
    );
    assert_eq!(
        reads.metrics.get("ipvs_conntrack_entries_limit"),
        Some(&(sysctl("nf_conntrack_max") as f64))
    );
    assert_eq!(
        reads.metrics.get("ipvs_conntrack_buckets"),
        Some(&(sysctl("nf_conntrack_buckets") as f64))
    );
    assert_eq!(
        reads
            .metrics
            .get("ipvs_scrape_collector_success{collector=\"conntrack\"}"),
        Some(&1.0)
    );
}

fn exported_statistics(reads: &Reads) -> Vec<String> {
    let mut names: Vec<String> = reads
        .metrics
        .keys()
        .filter_map(|series| {
            series
                .strip_prefix("ipvs_conntrack_")?
                .strip_suffix("_total")
        })
        .map(str::to_string)
        .collect();
    names.sort();
    names
}

#[test]
fn default_source_matches_conntrack_s_and_the_sysctls() {
    let reads = read_around_a_scrape(&[]);
    let compared = check_statistics(&reads);
    check_table(&reads);
    let netlink = reads
        .metrics
        .contains_key("ipvs_conntrack_statistics_info{source=\"netlink\"}");
    if netlink {
        // Over netlink the exporter shows exactly what conntrack -S shows.
        let mut printed: Vec<String> = reads.before.iter().map(|(n, _)| n.clone()).collect();
        printed.sort();
        assert_eq!(exported_statistics(&reads), printed);
    } else {
        assert!(
            reads
                .metrics
                .contains_key("ipvs_conntrack_statistics_info{source=\"procfs\"}"),
            "no ipvs_conntrack_statistics_info at all"
        );
    }
    assert_eq!(
        reads
            .metrics
            .get("ipvs_scrape_collector_skipped_records{collector=\"conntrack\"}"),
        Some(&0.0)
    );
    eprintln!(
        "conntrack live ({}): {}",
        if netlink { "netlink" } else { "procfs" },
        compared.join(" ")
    );
}

#[test]
fn procfs_source_matches_conntrack_s_or_says_why_not() {
    let reads = read_around_a_scrape(&["--collector.conntrack.source", "procfs"]);
    check_table(&reads);
    let skipped = reads
        .metrics
        .get("ipvs_scrape_collector_skipped_records{collector=\"conntrack\"}")
        .copied();
    if std::path::Path::new("/proc/net/stat/nf_conntrack").exists() {
        let compared = check_statistics(&reads);
        assert!(
            reads
                .metrics
                .contains_key("ipvs_conntrack_statistics_info{source=\"procfs\"}")
        );
        assert_eq!(skipped, Some(0.0));
        assert!(
            !reads.metrics.contains_key("ipvs_conntrack_entries_total"),
            "the table size column is not a statistic"
        );
        eprintln!("conntrack live (procfs): {}", compared.join(" "));
    } else {
        // A kernel without the file: the table is still there, the statistics are a problem.
        assert_eq!(exported_statistics(&reads), Vec::<String>::new());
        assert_eq!(skipped, Some(1.0));
    }
}
