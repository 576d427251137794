//! Conntrack statistics on real kernel replies: the ctnetlink exchange captured with
//! `ipvs_exporter capture-netlink conntrack` (tests/fixtures/conntrack/*/exchanges.txt) is
//! replayed through the reader, and the /proc/net/stat/nf_conntrack read at the same moment is
//! parsed; both are compared with what `conntrack -S` printed then (conntrack-S.txt beside them).
//! The per-CPU replies are decoded one by one, and the collector is run with the replay standing
//! in for its netlink reader.

// Test code: a failed unwrap or index is a failed test (the [lints] table guards src/).
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::panic, clippy::indexing_slicing)]
#![allow(clippy::cast_possible_truncation)]

mod support;

use std::path::PathBuf;

use ipvs_exporter::parse::conntrack::parse_stat_nf_conntrack;
use ipvs_exporter::source::conntrack::read_statistics;
use ipvs_exporter_testkit::{Replay, read_capture};
use support::parse_conntrack_statistics;

const SCENARIOS: &[&str] = &["idle", "traffic"];

fn fixture_path(scenario: &str, file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/conntrack")
        .join(scenario)
        .join(file)
}

fn fixture(scenario: &str, file: &str) -> String {
    let path = fixture_path(scenario, file);
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

/// ctnetlink's per-CPU statistics decoded from the captured replies, checked against what
/// `conntrack -S` and the proc file said at the same moment.
mod decode {
    use ipvs_exporter::netlink::capture::Exchange;
    use ipvs_exporter::netlink::decode::{Control, DecodeError, Message, messages};
    use ipvs_exporter::netlink::uapi::{AF_UNSPEC, NFNETLINK_V0};
    use ipvs_exporter::parse::conntrack::{
        StatisticsSum, decode_stats_cpu, parse_stat_nf_conntrack,
    };
    use ipvs_exporter_testkit::read_capture;

    /// ctnetlink's reply on this machine (kernel 6.18, two CPUs) in a network namespace that
    /// had seen loopback traffic, out-of-state TCP segments, stray ICMP errors and entries made
    /// with `conntrack -I`. `conntrack -S` printed, at the same moment:
    /// cpu=0 found=0 invalid=32 insert=1 ... error=4 ...; cpu=1 invalid=16 insert=3 error=6.
    const TRAFFIC_CAPTURE: &str = include_str!("fixtures/conntrack/traffic/exchanges.txt");

    /// The same on the idle host: every statistic 0.
    const IDLE_CAPTURE: &str = include_str!("fixtures/conntrack/idle/exchanges.txt");

    /// `/proc/net/stat/nf_conntrack` in that namespace, read between the capture and
    /// `conntrack -S`.
    const TRAFFIC_PROC: &str =
        include_str!("fixtures/conntrack/traffic/proc/net/stat/nf_conntrack");

    fn replies(capture: &str) -> Vec<Vec<u8>> {
        let mut exchanges: Vec<Exchange> = read_capture(capture).expect("capture parses");
        assert_eq!(exchanges.len(), 1, "one request, one dump");
        exchanges.remove(0).1
    }

    fn data<'a>(replies: &'a [Vec<u8>]) -> Vec<Result<Message<'a>, DecodeError>> {
        replies
            .iter()
            .flat_map(|buffer| messages(buffer))
            .filter(|m| !matches!(m, Ok(m) if m.control() == Ok(Control::Done)))
            .collect()
    }

    fn value(sum: &StatisticsSum, name: &str) -> Option<u64> {
        sum.statistics
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| *v)
    }

    fn names(sum: &StatisticsSum) -> Vec<&str> {
        sum.statistics.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// What this kernel sends, in its order, and what `conntrack -S` calls it.
    const KERNEL_6_18: &[&str] = &[
        "found",
        "invalid",
        "insert",
        "insert_failed",
        "drop",
        "early_drop",
        "error",
        "search_restart",
        "clash_resolve",
        "chaintoolong",
    ];

    #[test]
    fn captured_dump_sums_both_cpus_as_conntrack_s_does() {
        let replies = replies(TRAFFIC_CAPTURE);
        let sum = decode_stats_cpu(data(&replies)).expect("decodes");
        assert_eq!(sum.cpus, 2);
        assert_eq!(sum.problems, Vec::<String>::new());
        assert_eq!(sum.unknown_attributes, Vec::<u16>::new());
        assert_eq!(names(&sum), KERNEL_6_18);
        assert_eq!(value(&sum, "invalid"), Some(32 + 16));
        assert_eq!(value(&sum, "insert"), Some(1 + 3));
        assert_eq!(value(&sum, "error"), Some(4 + 6));
        for zero in [
            "found",
            "insert_failed",
            "drop",
            "early_drop",
            "clash_resolve",
        ] {
            assert_eq!(value(&sum, zero), Some(0), "{zero}");
        }
    }

    #[test]
    fn each_reply_is_one_cpu_with_big_endian_values() {
        let replies = replies(TRAFFIC_CAPTURE);
        let per_cpu: Vec<(u16, Option<u64>, Option<u64>)> = data(&replies)
            .into_iter()
            .map(|message| {
                let message = message.expect("framing");
                let (header, _) = message.netfilter().expect("nfgenmsg");
                assert_eq!(
                    (u16::from(header.family), header.version),
                    (AF_UNSPEC, NFNETLINK_V0)
                );
                let one = decode_stats_cpu([Ok(message)]).expect("decodes");
                (header.res_id, value(&one, "invalid"), value(&one, "error"))
            })
            .collect();
        // Read as host-endian, 32 would be 0x20000000.
        assert_eq!(
            per_cpu,
            vec![(0, Some(32), Some(4)), (1, Some(16), Some(6))]
        );
    }

    #[test]
    fn idle_host_sends_every_statistic_as_zero() {
        let replies = replies(IDLE_CAPTURE);
        let sum = decode_stats_cpu(data(&replies)).expect("decodes");
        assert_eq!(sum.cpus, 2);
        assert_eq!(names(&sum), KERNEL_6_18);
        assert!(sum.statistics.iter().all(|(_, v)| *v == 0));
    }

    #[test]
    fn truncated_replies_are_errors_not_panics() {
        let replies = replies(TRAFFIC_CAPTURE);
        let first = &replies[0];
        for end in 0..first.len() {
            let _ = decode_stats_cpu(messages(&first[..end]));
        }
        // Cut inside the second CPU's attributes: its length field now lies.
        assert!(decode_stats_cpu(messages(&first[..first.len() - 3])).is_err());
    }

    #[test]
    fn proc_file_and_netlink_agree_on_every_statistic_both_have() {
        let replies = replies(TRAFFIC_CAPTURE);
        let netlink = decode_stats_cpu(data(&replies)).expect("decodes");
        let procfs = parse_stat_nf_conntrack(TRAFFIC_PROC).value;
        for (name, sum) in &netlink.statistics {
            assert_eq!(value(&procfs, name), Some(*sum), "{name}");
        }
    }
}

/// The collector's netlink side on the replayed capture: the request it sends is the
/// recorded one, a refusal or an empty dump is an error, and netlink comes first in auto mode.
mod collector {
    use ipvs_exporter::model::conntrack::{Conntrack, StatisticsSource};
    use ipvs_exporter::netlink::decode::{DecodeError, messages};
    use ipvs_exporter::netlink::encode::MessageWriter;
    use ipvs_exporter::netlink::socket::TransportError;
    use ipvs_exporter::netlink::uapi::{NLM_F_MULTI, NLMSG_DONE, NLMSG_ERROR};
    use ipvs_exporter::parse::conntrack::StatisticsSum;
    use ipvs_exporter::source::conntrack::{ConntrackCollector, read_statistics};
    use ipvs_exporter::source::ipvs::SourceMode;
    use ipvs_exporter::source::{Collected, CollectedData, Collector};
    use ipvs_exporter_testkit::{Replay, read_capture, read_capture_file};

    fn replayed() -> Result<StatisticsSum, TransportError> {
        let exchanges = read_capture_file(&super::fixture_path("traffic", "exchanges.txt"))
            .map_err(TransportError::Build)?;
        read_statistics(&mut Replay::new(exchanges))
    }

    /// The request the collector sends: the recorded one, since the replay above accepts only
    /// a request equal to it byte for byte.
    fn statistics_request() -> Vec<u8> {
        read_capture(&super::fixture("traffic", "exchanges.txt"))
            .unwrap()
            .remove(0)
            .0
    }

    fn reading(collected: Collected) -> (Conntrack, Vec<String>) {
        match collected.data {
            CollectedData::Conntrack(conntrack) => (*conntrack, collected.problems),
            other => panic!("expected conntrack data, got {other:?}"),
        }
    }

    /// A reply message to `request`: header, then payload.
    fn message(request: &[u8], kind: u16, flags: u16, payload: &[u8]) -> Vec<u8> {
        let sequence = messages(request).next().unwrap().unwrap().sequence;
        MessageWriter::new(kind, flags, sequence)
            .header(payload)
            .finish()
            .expect("encodes")
    }

    #[test]
    fn replayed_dump_matches_the_request_and_sums_cpus() {
        let sum = replayed().expect("the recorded request is the one sent");
        assert_eq!(sum.cpus, 2);
        assert_eq!(
            sum.statistics
                .iter()
                .filter(|(_, v)| *v != 0)
                .cloned()
                .collect::<Vec<_>>(),
            vec![
                ("invalid".to_string(), 48),
                ("insert".to_string(), 4),
                ("error".to_string(), 10)
            ]
        );
    }

    #[test]
    fn a_refusal_or_an_empty_dump_is_an_error() {
        let request = statistics_request();
        // -EPERM, then the request's header, as nfnetlink answers without CAP_NET_ADMIN.
        let refusal = message(
            &request,
            NLMSG_ERROR,
            0,
            &[&(-1i32).to_ne_bytes(), &request[..16]].concat(),
        );
        let err = read_statistics(&mut Replay::new(vec![(request.clone(), vec![refusal])]))
            .expect_err("refused");
        assert!(err.is_permission(), "{err}");

        let done = message(&request, NLMSG_DONE, NLM_F_MULTI, &0u32.to_ne_bytes());
        let err = read_statistics(&mut Replay::new(vec![(request, vec![done])]))
            .expect_err("an empty dump is no statistics");
        assert!(
            matches!(err, TransportError::Decode(DecodeError::Missing(_))),
            "{err}"
        );
    }

    #[test]
    fn netlink_first_with_the_table_size_from_sysctl() {
        let under_test = ConntrackCollector::with_netlink_reader(
            super::fixture_path("traffic", "proc"),
            SourceMode::Auto,
            replayed,
        );
        let (conntrack, problems) = reading(under_test.collect().expect("collects"));
        assert_eq!(problems, Vec::<String>::new());
        assert_eq!(conntrack.statistics_source, Some(StatisticsSource::Netlink));
        assert_eq!(
            (conntrack.entries, conntrack.limit, conntrack.buckets),
            (Some(31), Some(262_144), Some(262_144))
        );
        assert_eq!(conntrack.statistics.len(), 10);
    }
}
