//! Conntrack statistics on real kernel replies: the ctnetlink exchange captured with
//! `ipvs_exporter capture-netlink conntrack` (tests/fixtures/conntrack/*/exchanges.txt) is
//! replayed through the reader, and the /proc/net/stat/nf_conntrack read at the same moment is
//! parsed; both are compared with what `conntrack -S` printed then (conntrack-S.txt beside them).

// Test code: a failed unwrap or index is a failed test (the [lints] table guards src/).
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::panic, clippy::indexing_slicing)]
#![allow(clippy::cast_possible_truncation)]

mod support;

use std::path::PathBuf;

use ipvs_exporter::netlink::capture::{Replay, read_capture};
use ipvs_exporter::parse::conntrack::parse_stat_nf_conntrack;
use ipvs_exporter::source::conntrack::read_statistics;
use support::parse_conntrack_statistics;

const SCENARIOS: &[&str] = &["idle", "traffic"];

fn fixture(scenario: &str, file: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/conntrack")
        .join(scenario)
        .join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn netlink_replay_equals_conntrack_s() {
    for scenario in SCENARIOS {
        let exchanges = read_capture(&fixture(scenario, "exchanges.txt")).expect("capture parses");
        let sum = read_statistics(&mut Replay::new(exchanges))
            .expect("the recorded request is the one the reader sends");
        assert_eq!(sum.problems, Vec::<String>::new(), "{scenario}");
        assert_eq!(sum.unknown_attributes, Vec::<u16>::new(), "{scenario}");
        let expected = parse_conntrack_statistics(&fixture(scenario, "conntrack-S.txt"));
        assert_eq!(
            sum.statistics, expected,
            "{scenario}: names, order and sums"
        );
        assert_eq!(sum.cpus, 2, "{scenario}");
    }
}

#[test]
fn proc_file_agrees_with_conntrack_s_on_every_statistic_it_prints() {
    for scenario in SCENARIOS {
        let parsed = parse_stat_nf_conntrack(&fixture(scenario, "proc/net/stat/nf_conntrack"));
        assert!(
            parsed.problems.is_empty(),
            "{scenario}: {:?}",
            parsed.problems
        );
        let expected = parse_conntrack_statistics(&fixture(scenario, "conntrack-S.txt"));
        for (name, value) in &expected {
            let got = parsed
                .value
                .statistics
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| *v);
            assert_eq!(got, Some(*value), "{scenario}: {name}");
        }
    }
}

#[test]
fn the_traffic_capture_is_not_all_zeros() {
    // Guards the fixture: byte order and summing are only tested by numbers that differ.
    let expected = parse_conntrack_statistics(&fixture("traffic", "conntrack-S.txt"));
    let moved: Vec<&str> = expected
        .iter()
        .filter(|(_, v)| *v != 0)
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(moved, vec!["invalid", "insert", "error"]);
}
