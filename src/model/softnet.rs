//! Per-CPU packet processing (`/proc/net/softnet_stat`).

use serde::{Deserialize, Serialize};

/// One CPU's row of `/proc/net/softnet_stat`. Later columns appeared in later kernels and are
/// `None` where the kernel does not give them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SoftnetCpu {
    /// The CPU number: the row's own column where the kernel gives it (5.10 and later),
    /// otherwise the row's position.
    pub cpu: u32,
    /// Frames processed by the CPU's backlog and NAPI.
    pub processed: u64,
    /// Frames dropped because the backlog was full (`net.core.netdev_max_backlog`).
    pub dropped: u64,
    /// Times the softirq ran out of budget or time with work left (`netdev_budget`).
    pub time_squeezed: u64,
    /// The ninth column: times a CPU found a device's transmit lock taken. Kernels of the 3.x
    /// series counted it; by 4.18 the kernel prints 0 there.
    pub cpu_collision: u64,
    /// Inter-processor interrupts received to process RPS work.
    pub received_rps: Option<u64>,
    /// Times the flow limit dropped a packet.
    pub flow_limit_count: Option<u64>,
    /// Packets waiting in the backlog and process queues (kernels from 5.10).
    pub backlog_length: Option<u64>,
}
