//! Pure parsers: kernel text and bytes in, model types out. Nothing here reads a file.
//!
//! A parser never fails as a whole on a bad line: it keeps what it understood and returns the
//! lines it had to skip as [`LineProblem`]s, so one odd line costs one series, not the scrape.

pub mod accounts;
pub mod conntrack;
pub mod duration;
pub mod ethtool;
pub mod interrupts;
pub mod ipvs_netlink;
pub mod ipvs_proc;
pub mod keepalived;
pub mod keepalived_data;
pub mod keepalived_json;
pub mod keepalived_notify;
pub mod prometheus_api;
pub mod rtnetlink;
pub mod softnet;
pub mod vrrp;

use std::fmt;

/// A line of kernel output that a parser could not use, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineProblem {
    /// 1-based line number in the parsed text.
    pub line: usize,
    /// What was wrong with it.
    pub reason: String,
}

impl fmt::Display for LineProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

/// A parse result: the value, and the lines that were skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed<T> {
    pub value: T,
    pub problems: Vec<LineProblem>,
}

/// Shortens a line for an error message, so a garbage line cannot flood the log.
pub(crate) fn excerpt(line: &str) -> String {
    const MAX_CHARS: usize = 80;
    let trimmed = line.trim();
    if trimmed.chars().count() <= MAX_CHARS {
        format!("{trimmed:?}")
    } else {
        let head: String = trimmed.chars().take(MAX_CHARS).collect();
        format!("{head:?}...")
    }
}
