//! Connection tracking statistics, from the two places the kernel shows them:
//!
//! - ctnetlink's per-CPU dump (`IPCTNL_MSG_CT_GET_STATS_CPU`): one reply message per possible
//!   CPU, its `nfgenmsg` resource id the CPU number, carrying `CTA_STATS_*` attributes whose
//!   values are 32-bit and big-endian (the kernel writes them with `nla_put_be32`, without the
//!   `NLA_F_NET_BYTEORDER` flag, so nothing in the bytes says so);
//! - `/proc/net/stat/nf_conntrack`: a header line of column names, then one row of hexadecimal
//!   numbers per possible CPU.
//!
//! Both are summed over CPUs and named as `conntrack -S` names them (`found`, `invalid`,
//! `insert_failed`, `clash_resolve`, `chaintoolong`, ...), so a statistic keeps its metric name
//! whichever source gave it. The kernel retired statistics over time: over netlink it stops
//! sending them, in the file their columns stay and print 0.
//!
//! Pure: bytes and text in, values out. Unknown attributes and columns never fail a read.

use super::{LineProblem, Parsed, excerpt};
use crate::netlink::decode::{Attribute, DecodeError, Message, attributes};
use crate::netlink::uapi::{
    CTA_STATS_CHAIN_TOOLONG, CTA_STATS_CLASH_RESOLVE, CTA_STATS_DELETE, CTA_STATS_DELETE_LIST,
    CTA_STATS_DROP, CTA_STATS_EARLY_DROP, CTA_STATS_ERROR, CTA_STATS_FOUND, CTA_STATS_IGNORE,
    CTA_STATS_INSERT, CTA_STATS_INSERT_FAILED, CTA_STATS_INVALID, CTA_STATS_NEW,
    CTA_STATS_SEARCH_RESTART, CTA_STATS_SEARCHED, IPCTNL_MSG_CT_GET_STATS_CPU,
    NFNL_SUBSYS_CTNETLINK,
};

/// The netlink message type of a per-CPU statistics request and of each of its replies.
pub const CT_STATS_CPU_MESSAGE: u16 =
    ((NFNL_SUBSYS_CTNETLINK as u16) << 8) | IPCTNL_MSG_CT_GET_STATS_CPU as u16;

/// The name `conntrack -S` prints for a `CTA_STATS_*` attribute; `None` for one this program
/// does not know (a newer kernel's), which is skipped.
pub fn statistic_name(attribute: u16) -> Option<&'static str> {
    Some(match attribute {
        CTA_STATS_SEARCHED => "searched",
        CTA_STATS_FOUND => "found",
        CTA_STATS_NEW => "new",
        CTA_STATS_INVALID => "invalid",
        CTA_STATS_IGNORE => "ignore",
        CTA_STATS_DELETE => "delete",
        CTA_STATS_DELETE_LIST => "delete_list",
        CTA_STATS_INSERT => "insert",
        CTA_STATS_INSERT_FAILED => "insert_failed",
        CTA_STATS_DROP => "drop",
        CTA_STATS_EARLY_DROP => "early_drop",
        CTA_STATS_ERROR => "error",
        CTA_STATS_SEARCH_RESTART => "search_restart",
        CTA_STATS_CLASH_RESOLVE => "clash_resolve",
        CTA_STATS_CHAIN_TOOLONG => "chaintoolong",
        _ => return None,
    })
}

/// Per-CPU statistics summed, with what the decoder had to leave out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatisticsSum {
    /// `(name, sum over CPUs)`, in the order the kernel first gave them.
    pub statistics: Vec<(String, u64)>,
    /// How many CPUs were summed (netlink: reply messages; procfs: rows).
    pub cpus: usize,
    /// Attribute numbers this program has no name for, each once, in the order seen.
    pub unknown_attributes: Vec<u16>,
    /// Values or messages that could not be used, said plainly.
    pub problems: Vec<String>,
}

impl StatisticsSum {
    fn add(&mut self, name: &str, value: u64) {
        match self.statistics.iter_mut().find(|(n, _)| n == name) {
            Some((_, sum)) => *sum = sum.saturating_add(value),
            None => self.statistics.push((name.to_string(), value)),
        }
    }
}

/// Sums the data messages of a per-CPU statistics dump (errors and the end of the dump taken
/// out already). A message of another type is skipped; an attribute of an unexpected size is
/// skipped and said; a message whose framing lies is an error, since nothing after it can be
/// trusted.
pub fn decode_stats_cpu<'a>(
    messages: impl IntoIterator<Item = Result<Message<'a>, DecodeError>>,
) -> Result<StatisticsSum, DecodeError> {
    let mut sum = StatisticsSum::default();
    for message in messages {
        let message = message?;
        if message.kind != CT_STATS_CPU_MESSAGE {
            sum.problems.push(format!(
                "skipped a netlink message of type {:#06x}, expected {CT_STATS_CPU_MESSAGE:#06x}",
                message.kind
            ));
            continue;
        }
        let (header, body) = message.netfilter()?;
        sum.cpus += 1;
        for attribute in attributes(body) {
            let attribute = attribute?;
            let Some(name) = statistic_name(attribute.kind) else {
                if !sum.unknown_attributes.contains(&attribute.kind) {
                    sum.unknown_attributes.push(attribute.kind);
                }
                continue;
            };
            match counter_value(&attribute) {
                Ok(value) => sum.add(name, value),
                Err(err) => sum.problems.push(format!(
                    "CPU {}: statistic {name} skipped: {err}",
                    header.res_id
                )),
            }
        }
    }
    Ok(sum)
}

/// A statistic's value: 32-bit big-endian as every kernel sends it, or 64-bit big-endian
/// should a kernel ever widen it.
fn counter_value(attribute: &Attribute) -> Result<u64, DecodeError> {
    match attribute.payload.len() {
        8 => attribute.u64_be(),
        _ => attribute.u32_be().map(u64::from),
    }
}

/// Column names of `/proc/net/stat/nf_conntrack` that `conntrack -S` spells differently. The
/// clash resolution count took over the retired `searched` column as `clashres`, the chain
/// length limit later took over `delete_list` as `chainlength`, and `icmp_error` has always
/// been `error` over netlink. Three header layouts are in the field: `searched ... delete_list`,
/// `clashres ... delete_list` and `clashres ... chainlength`.
const PROCFS_RENAMES: &[(&str, &str)] = &[
    ("clashres", "clash_resolve"),
    ("chainlength", "chaintoolong"),
    ("icmp_error", "error"),
];

/// The file's first column: the number of entries in the table, printed on every row. It is
/// `nf_conntrack_count`, not a per-CPU statistic.
const PROCFS_ENTRIES: &str = "entries";

/// Names a statistic may not take because the conntrack families already use them.
const TAKEN_NAMES: &[&str] = &["entries", "entries_limit", "buckets", "statistics_info"];

/// The statistic each column of the header line (line `line`) stands for: `None` for
/// `entries` and for a column whose name is unusable or taken (said in `problems`).
fn header_columns<'a>(
    header: &'a str,
    line: usize,
    problems: &mut Vec<LineProblem>,
) -> Vec<Option<&'a str>> {
    let mut columns: Vec<Option<&str>> = Vec::new();
    for word in header.split_whitespace() {
        let name = PROCFS_RENAMES
            .iter()
            .find(|(file, _)| *file == word)
            .map_or(word, |(_, renamed)| *renamed);
        let column = if word == PROCFS_ENTRIES {
            None
        } else if !is_metric_fragment(name) {
            problems.push(LineProblem {
                line,
                reason: format!("column {} skipped: not a usable name", excerpt(word)),
            });
            None
        } else if TAKEN_NAMES.contains(&name) || columns.contains(&Some(name)) {
            problems.push(LineProblem {
                line,
                reason: format!("column {word:?} skipped: {name:?} is already taken"),
            });
            None
        } else {
            Some(name)
        };
        columns.push(column);
    }
    columns
}

/// Parses `/proc/net/stat/nf_conntrack`: the columns after `entries`, summed over the rows and
/// named as `conntrack -S` names them, in the file's order. A row of the wrong width or with a
/// word that is not hexadecimal is skipped and said; so is a column whose name cannot be part of
/// a metric name. Without a usable row the result is empty.
pub fn parse_stat_nf_conntrack(text: &str) -> Parsed<StatisticsSum> {
    let mut problems = Vec::new();
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty());
    let Some((header_index, header)) = lines.next() else {
        return Parsed {
            value: StatisticsSum::default(),
            problems,
        };
    };
    let is_header = header
        .split_whitespace()
        .any(|word| u64::from_str_radix(word, 16).is_err());
    if !is_header {
        problems.push(LineProblem {
            line: header_index + 1,
            reason: format!("expected a header line of names: {}", excerpt(header)),
        });
        return Parsed {
            value: StatisticsSum::default(),
            problems,
        };
    }
    let columns = header_columns(header, header_index + 1, &mut problems);
    let width = columns.len();

    let mut sum = StatisticsSum::default();
    for (index, line) in lines {
        let values: Result<Vec<u64>, _> = line
            .split_whitespace()
            .map(|word| u64::from_str_radix(word, 16))
            .collect();
        match values {
            Ok(values) if values.len() == width => {
                sum.cpus += 1;
                for (column, value) in columns.iter().zip(values) {
                    if let Some(name) = column {
                        sum.add(name, value);
                    }
                }
            }
            Ok(values) => problems.push(LineProblem {
                line: index + 1,
                reason: format!(
                    "{} columns, the header names {width}: {}",
                    values.len(),
                    excerpt(line)
                ),
            }),
            Err(_) => problems.push(LineProblem {
                line: index + 1,
                reason: format!("not hexadecimal: {}", excerpt(line)),
            }),
        }
    }
    Parsed {
        value: sum,
        problems,
    }
}

/// Whether a name can follow `ipvs_conntrack_` in a metric name: lowercase ASCII letters,
/// digits and underscores, starting with a letter.
fn is_metric_fragment(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::decode::messages;
    use crate::netlink::encode::MessageWriter;
    use crate::netlink::uapi::{AF_UNSPEC, NLM_F_MULTI};

    /// `/proc/net/stat/nf_conntrack` of the traffic fixture (kernel 6.18, two CPUs), read
    /// between its ctnetlink capture and `conntrack -S` (tests/conntrack_replay.rs replays the
    /// capture).
    const TRAFFIC_PROC: &str =
        include_str!("../../tests/fixtures/conntrack/traffic/proc/net/stat/nf_conntrack");

    fn value(sum: &StatisticsSum, name: &str) -> Option<u64> {
        sum.statistics
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| *v)
    }

    fn names(sum: &StatisticsSum) -> Vec<&str> {
        sum.statistics.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// One CPU's reply: an nfnetlink message of `kind` with `attrs`.
    fn reply(kind: u16, cpu: u16, attrs: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let [subsystem, message] = kind.to_be_bytes();
        let mut writer =
            MessageWriter::netfilter(subsystem, message, NLM_F_MULTI, 1, AF_UNSPEC, cpu);
        for (kind, payload) in attrs {
            writer.attribute(*kind, payload);
        }
        writer.finish().expect("encodes")
    }

    #[test]
    fn unknown_attributes_and_odd_sizes_are_skipped_not_fatal() {
        let mut buffer = reply(
            CT_STATS_CPU_MESSAGE,
            0,
            &[
                (CTA_STATS_FOUND, 5u32.to_be_bytes().to_vec()),
                (16, 9u32.to_be_bytes().to_vec()),
                (CTA_STATS_DROP, vec![0, 1]),
                // The byte-order flag some attributes carry is not part of the type.
                (0x4000 | CTA_STATS_INVALID, 2u32.to_be_bytes().to_vec()),
            ],
        );
        buffer.extend(reply(
            CT_STATS_CPU_MESSAGE,
            1,
            &[
                (CTA_STATS_FOUND, (1u64 << 33).to_be_bytes().to_vec()),
                (16, 1u32.to_be_bytes().to_vec()),
                (300, vec![]),
                // Old kernels send the statistics that are retired now.
                (CTA_STATS_SEARCHED, 7u32.to_be_bytes().to_vec()),
            ],
        ));
        buffer.extend(reply(
            0x0100,
            2,
            &[(CTA_STATS_FOUND, 1u32.to_be_bytes().to_vec())],
        ));
        let sum = decode_stats_cpu(messages(&buffer)).expect("decodes");
        assert_eq!(sum.cpus, 2, "the message of another type is not a CPU");
        assert_eq!(
            sum.statistics,
            vec![
                ("found".to_string(), 5 + (1u64 << 33)),
                ("invalid".to_string(), 2),
                ("searched".to_string(), 7),
            ]
        );
        assert_eq!(sum.unknown_attributes, vec![16, 300]);
        assert_eq!(sum.problems.len(), 2, "{:?}", sum.problems);
        assert!(sum.problems[0].contains("CPU 0: statistic drop skipped"));
        assert!(sum.problems[1].contains("type 0x0100"));
    }

    #[test]
    fn every_attribute_number_has_the_name_conntrack_s_prints() {
        let named: Vec<&str> = (0..=16).filter_map(statistic_name).collect();
        assert_eq!(
            named,
            vec![
                "searched",
                "found",
                "new",
                "invalid",
                "ignore",
                "delete",
                "delete_list",
                "insert",
                "insert_failed",
                "drop",
                "early_drop",
                "error",
                "search_restart",
                "clash_resolve",
                "chaintoolong",
            ]
        );
        assert_eq!(CT_STATS_CPU_MESSAGE, 0x0104);
    }

    #[test]
    fn this_machines_proc_file_sums_rows_and_leaves_out_entries() {
        let parsed = parse_stat_nf_conntrack(TRAFFIC_PROC);
        assert_eq!(parsed.problems, Vec::<LineProblem>::new());
        let sum = parsed.value;
        assert_eq!(sum.cpus, 2);
        assert_eq!(
            names(&sum),
            vec![
                "clash_resolve",
                "found",
                "new",
                "invalid",
                "ignore",
                "delete",
                "chaintoolong",
                "insert",
                "insert_failed",
                "drop",
                "early_drop",
                "error",
                "expect_new",
                "expect_create",
                "expect_delete",
                "search_restart",
            ]
        );
        assert_eq!(
            value(&sum, "entries"),
            None,
            "31 on each row: the table size"
        );
        assert_eq!(value(&sum, "invalid"), Some(0x20 + 0x10));
        assert_eq!(value(&sum, "insert"), Some(1 + 3));
        assert_eq!(value(&sum, "error"), Some(4 + 6));
    }

    /// The header kernels printed before clash resolution was counted (4.x, 5.4): `searched`,
    /// `delete_list`. The numbers are made up; three CPUs.
    const SEARCHED_LAYOUT: &str = "\
entries  searched found new invalid ignore delete delete_list insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart
000003e8  00000000 0000000a 00000000 00000002 0000ffff 00000000 00000000 00000000 00000000 00000001 00000000 00000003  00000000 00000000 00000000 00000004
000003e8  00000000 00000014 00000000 00000003 00010000 00000000 00000000 00000000 00000000 00000000 00000002 00000000  00000001 00000001 00000000 00000000
000003e8  00000000 0000001e 00000000 00000000 00000001 00000000 00000000 00000000 00000000 00000000 00000000 00000000  00000000 00000000 00000001 00000000
";

    #[test]
    fn older_layout_keeps_its_own_columns() {
        let parsed = parse_stat_nf_conntrack(SEARCHED_LAYOUT);
        assert_eq!(parsed.problems, Vec::<LineProblem>::new());
        let sum = parsed.value;
        assert_eq!(sum.cpus, 3);
        assert_eq!(names(&sum)[..3], ["searched", "found", "new"]);
        assert!(names(&sum).contains(&"delete_list"));
        assert!(!names(&sum).contains(&"clash_resolve"));
        assert_eq!(value(&sum, "found"), Some(10 + 20 + 30));
        assert_eq!(value(&sum, "ignore"), Some(0xffff + 0x10000 + 1));
        assert_eq!(
            value(&sum, "error"),
            Some(3),
            "icmp_error is conntrack -S's error"
        );
        assert_eq!(value(&sum, "drop"), Some(1));
        assert_eq!(value(&sum, "early_drop"), Some(2));
        assert_eq!(value(&sum, "expect_delete"), Some(1));
        assert_eq!(value(&sum, "search_restart"), Some(4));
        assert_eq!(value(&sum, "entries"), None);
    }

    #[test]
    fn layout_between_the_two_renames() {
        let text = "\
entries  clashres found new invalid ignore delete delete_list insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart
00000010  00000005 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000  00000000 00000000 00000000 00000000
";
        let sum = parse_stat_nf_conntrack(text).value;
        assert_eq!(value(&sum, "clash_resolve"), Some(5));
        assert!(names(&sum).contains(&"delete_list"));
    }

    #[test]
    fn garbage_and_truncated_rows_are_skipped_and_said() {
        let text = "\
entries  clashres found new invalid
00000001  00000001 00000002 00000000 00000003

00000001  00000001 zz000002 00000000 00000003
00000001  00000004 00000005
00000001  00000001 00000001 00000000 00000001 00000009
00000001  00000010 00000020 00000000 00000030
00000001  000000";
        let parsed = parse_stat_nf_conntrack(text);
        assert_eq!(parsed.value.cpus, 2);
        assert_eq!(value(&parsed.value, "clash_resolve"), Some(0x11));
        assert_eq!(value(&parsed.value, "invalid"), Some(0x33));
        let lines: Vec<usize> = parsed.problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, vec![4, 5, 6, 8]);
        assert!(parsed.problems[0].reason.starts_with("not hexadecimal"));
        assert!(
            parsed.problems[1]
                .reason
                .starts_with("3 columns, the header names 5")
        );
    }

    #[test]
    fn a_file_without_header_or_rows_gives_no_statistics() {
        for text in ["", "\n\n", "entries  clashres found\n"] {
            let parsed = parse_stat_nf_conntrack(text);
            assert_eq!(parsed.value, StatisticsSum::default(), "{text:?}");
            assert!(parsed.problems.is_empty(), "{text:?}");
        }
        let headless = parse_stat_nf_conntrack("00000001  00000002 00000003\n");
        assert_eq!(headless.value.cpus, 0);
        assert_eq!(headless.problems.len(), 1);
        assert_eq!(headless.problems[0].line, 1);
    }

    #[test]
    fn column_names_that_cannot_be_metric_names_are_skipped() {
        let text = "\
entries  found Bad-Name buckets found icmp_error error 9lives
00000001  00000001 00000002 00000003 00000004 00000005 00000006 00000007
";
        let parsed = parse_stat_nf_conntrack(text);
        assert_eq!(
            parsed.value.statistics,
            vec![("found".to_string(), 1), ("error".to_string(), 5)]
        );
        assert_eq!(parsed.problems.len(), 5, "{:?}", parsed.problems);
        assert!(parsed.problems.iter().all(|p| p.line == 1));
    }
}
