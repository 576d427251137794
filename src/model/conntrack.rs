//! Connection tracking (netfilter): how full the table is and what the kernel counted.

use serde::{Deserialize, Serialize};

/// The conntrack table and its statistics, as one scrape saw them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Conntrack {
    /// `net.netfilter.nf_conntrack_count`: entries in the table now.
    pub entries: Option<u64>,
    /// `net.netfilter.nf_conntrack_max`: the most entries the table takes.
    pub limit: Option<u64>,
    /// `net.netfilter.nf_conntrack_buckets`: size of the hash table.
    pub buckets: Option<u64>,
    /// The per-CPU statistics summed over CPUs, by the kernel's names (`found`, `invalid`,
    /// `insert_failed`, `drop`, `early_drop`, `search_restart`, ...), in the kernel's order.
    pub statistics: Vec<(String, u64)>,
    /// Where the statistics came from; `None` when no source gave them.
    pub statistics_source: Option<StatisticsSource>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatisticsSource {
    /// ctnetlink, `IPCTNL_MSG_CT_GET_STATS_CPU`.
    Netlink,
    /// `/proc/net/stat/nf_conntrack`.
    Procfs,
}

impl StatisticsSource {
    pub fn as_str(self) -> &'static str {
        match self {
            StatisticsSource::Netlink => "netlink",
            StatisticsSource::Procfs => "procfs",
        }
    }
}
