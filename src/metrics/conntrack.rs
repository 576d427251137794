//! Connection tracking families: table usage and the kernel's per-CPU statistics summed.

use std::fmt;

use prometheus_client::encoding::DescriptorEncoder;

use super::{NO_LABELS, counters, gauges};
use crate::model::snapshot::Snapshot;

pub(super) fn encode(snapshot: &Snapshot, encoder: &mut DescriptorEncoder) -> fmt::Result {
    let Some(conntrack) = &snapshot.conntrack else {
        return Ok(());
    };
    let plain: [(&str, &str, Option<u64>); 3] = [
        (
            "ipvs_conntrack_entries",
            "Entries in the connection tracking table (nf_conntrack_count).",
            conntrack.entries,
        ),
        (
            "ipvs_conntrack_entries_limit",
            "The most entries the connection tracking table takes (nf_conntrack_max).",
            conntrack.limit,
        ),
        (
            "ipvs_conntrack_buckets",
            "Buckets of the connection tracking hash table (nf_conntrack_buckets).",
            conntrack.buckets,
        ),
    ];
    for (name, help, value) in plain {
        gauges(
            encoder,
            name,
            help,
            None,
            value.map(|v| (NO_LABELS, v)).into_iter(),
        )?;
    }
    for (stat, value) in &conntrack.statistics {
        counters(
            encoder,
            &format!("ipvs_conntrack_{stat}"),
            &format!("The kernel's conntrack statistic {stat:?}, summed over CPUs (conntrack -S)."),
            None,
            std::iter::once((NO_LABELS, *value)),
        )?;
    }
    if let Some(source) = conntrack.statistics_source {
        gauges(
            encoder,
            "ipvs_conntrack_statistics_info",
            "Where the conntrack statistics came from (netlink or procfs).",
            None,
            std::iter::once(([("source", source.as_str())], 1)),
        )?;
    }
    Ok(())
}
