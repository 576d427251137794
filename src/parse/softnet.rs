//! Parser for `/proc/net/softnet_stat`: one row per online CPU of hexadecimal columns. The
//! kernel added columns over time, always at the end:
//!
//! | columns | kernels | adds |
//! |---|---|---|
//! | 9 | before 2.6.36 | processed, dropped, time_squeeze, 5 unused, cpu_collision |
//! | 10 | 2.6.36 | received_rps |
//! | 11 | 3.11 | flow_limit_count |
//! | 13 | 5.10 | backlog length (input + process queues), the CPU's number |
//! | 15 | 6.10 | the input and process queue lengths apart |
//!
//! Rows are only printed for online CPUs, so before 5.10 a row's position is its CPU number
//! only when no CPU is offline.

use super::{LineProblem, Parsed, excerpt};
use crate::model::softnet::SoftnetCpu;

/// Parses the text of `/proc/net/softnet_stat`.
pub fn parse_softnet_stat(text: &str) -> Parsed<Vec<SoftnetCpu>> {
    let mut cpus = Vec::new();
    let mut problems = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let columns: Result<Vec<u64>, _> = line
            .split_whitespace()
            .map(|word| u64::from_str_radix(word, 16))
            .collect();
        let columns = match columns {
            Ok(columns) if columns.len() >= 9 => columns,
            Ok(columns) => {
                problems.push(LineProblem {
                    line: index + 1,
                    reason: format!(
                        "{} columns, expected at least 9: {}",
                        columns.len(),
                        excerpt(line)
                    ),
                });
                continue;
            }
            Err(_) => {
                problems.push(LineProblem {
                    line: index + 1,
                    reason: format!("not hexadecimal: {}", excerpt(line)),
                });
                continue;
            }
        };
        let column = |n: usize| columns.get(n).copied();
        let position = u32::try_from(cpus.len()).unwrap_or(u32::MAX);
        cpus.push(SoftnetCpu {
            cpu: column(12)
                .and_then(|c| u32::try_from(c).ok())
                .unwrap_or(position),
            processed: column(0).unwrap_or(0),
            dropped: column(1).unwrap_or(0),
            time_squeezed: column(2).unwrap_or(0),
            cpu_collision: column(8).unwrap_or(0),
            received_rps: column(9),
            flow_limit_count: column(10),
            backlog_length: column(11),
        });
    }
    Parsed {
        value: cpus,
        problems,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This machine's kernel (6.18, 15 columns), two CPUs.
    const SIX_EIGHTEEN: &str = "\
00000328 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000
00004374 00000002 00000011 00000000 00000000 00000000 00000000 00000000 00000000 00000007 00000003 00000005 00000001 00000004 00000001
";

    /// A 4.19 kernel: 11 columns, CPU 2 offline, so the third row is CPU 3 but nothing says so.
    const FOUR_NINETEEN: &str = "\
0a1b2c3d 00000010 00000abc 00000000 00000000 00000000 00000000 00000000 00000000 00000100 00000001
00000001 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000
0000ffff 00000000 00000001 00000000 00000000 00000000 00000000 00000000 00000000 00000002 00000000
";

    /// A 5.10 kernel with CPU 1 offline: 13 columns, the last is the CPU's number.
    const FIVE_TEN_OFFLINE: &str = "\
00000010 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000
00000020 00000001 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000003 00000002
";

    #[test]
    fn newest_layout_with_queue_lengths() {
        let parsed = parse_softnet_stat(SIX_EIGHTEEN);
        assert_eq!(parsed.problems, vec![]);
        let cpu1 = parsed.value[1];
        assert_eq!(cpu1.cpu, 1);
        assert_eq!(
            (cpu1.processed, cpu1.dropped, cpu1.time_squeezed),
            (0x4374, 2, 0x11)
        );
        assert_eq!(cpu1.received_rps, Some(7));
        assert_eq!(cpu1.flow_limit_count, Some(3));
        assert_eq!(cpu1.backlog_length, Some(5));
    }

    #[test]
    fn old_layout_has_no_backlog_and_numbers_rows_by_position() {
        let parsed = parse_softnet_stat(FOUR_NINETEEN);
        assert_eq!(parsed.problems, vec![]);
        let cpus: Vec<u32> = parsed.value.iter().map(|c| c.cpu).collect();
        assert_eq!(cpus, vec![0, 1, 2]);
        assert_eq!(parsed.value[0].processed, 0x0a1b_2c3d);
        assert_eq!(parsed.value[0].cpu_collision, 0);
        assert_eq!(parsed.value[0].flow_limit_count, Some(1));
        assert_eq!(parsed.value[0].backlog_length, None);
    }

    #[test]
    fn the_cpu_column_skips_offline_cpus() {
        let parsed = parse_softnet_stat(FIVE_TEN_OFFLINE);
        let cpus: Vec<u32> = parsed.value.iter().map(|c| c.cpu).collect();
        assert_eq!(cpus, vec![0, 2]);
        assert_eq!(parsed.value[1].backlog_length, Some(3));
    }

    #[test]
    fn very_old_layout_and_bad_rows() {
        let text = "00000001 00000002 00000003 00000000 00000000 00000000 00000000 00000000 00000009\n\
                    zzzz 00000001\n00000001 00000002\n";
        let parsed = parse_softnet_stat(text);
        assert_eq!(parsed.value.len(), 1);
        assert_eq!(parsed.value[0].cpu_collision, 9);
        assert_eq!(parsed.value[0].received_rps, None);
        assert_eq!(parsed.problems.len(), 2);
    }
}
