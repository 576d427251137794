//! Per-CPU packet processing families from `/proc/net/softnet_stat`.

use std::fmt;

use prometheus_client::encoding::DescriptorEncoder;

use super::{counters, gauges};
use crate::model::snapshot::Snapshot;
use crate::model::softnet::SoftnetCpu;

/// Reads one column of a CPU's row.
type ReadColumn = fn(&SoftnetCpu) -> Option<u64>;

pub(super) fn encode(snapshot: &Snapshot, encoder: &mut DescriptorEncoder) -> fmt::Result {
    let cpus: Vec<(String, &SoftnetCpu)> = snapshot
        .softnet
        .iter()
        .map(|c| (c.cpu.to_string(), c))
        .collect();
    let columns: [(&str, &str, ReadColumn); 6] = [
        (
            "ipvs_softnet_processed",
            "Frames the CPU processed from its backlog and NAPI polls.",
            |c| Some(c.processed),
        ),
        (
            "ipvs_softnet_dropped",
            "Frames dropped because the CPU's backlog was full (net.core.netdev_max_backlog).",
            |c| Some(c.dropped),
        ),
        (
            "ipvs_softnet_times_squeezed",
            "Times the receive softirq stopped with work left, out of budget or time (net.core.netdev_budget, netdev_budget_usecs).",
            |c| Some(c.time_squeezed),
        ),
        (
            "ipvs_softnet_cpu_collision",
            "Times the CPU found a device's transmit lock taken (the ninth column: counted by 3.x kernels, always 0 by 4.18).",
            |c| Some(c.cpu_collision),
        ),
        (
            "ipvs_softnet_received_rps",
            "Inter-processor interrupts the CPU received to process packets steered to it (RPS).",
            |c| c.received_rps,
        ),
        (
            "ipvs_softnet_flow_limit_count",
            "Packets dropped by the per-flow limit (net.core.flow_limit_cpu_bitmap).",
            |c| c.flow_limit_count,
        ),
    ];
    for (name, help, read) in columns {
        counters(
            encoder,
            name,
            help,
            None,
            cpus.iter()
                .filter_map(|(cpu, c)| read(c).map(|v| ([("cpu", cpu.as_str())], v))),
        )?;
    }
    gauges(
        encoder,
        "ipvs_softnet_backlog_length",
        "Packets waiting in the CPU's backlog and process queues (kernels from 5.10).",
        None,
        cpus.iter()
            .filter_map(|(cpu, c)| c.backlog_length.map(|v| ([("cpu", cpu.as_str())], v))),
    )
}
