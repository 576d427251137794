//! Network devices: their interrupts and how they fall on CPUs, receive/transmit steering,
//! and the settings ethtool shows.

use serde::{Deserialize, Serialize};

/// The network devices the exporter looks at, and host-wide steering settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetDevices {
    pub devices: Vec<NetDevice>,
    /// `net.core.rps_sock_flow_entries` (RFS); 0 means RFS is off.
    pub rps_sock_flow_entries: Option<u64>,
    /// The CPUs that the per-CPU interrupt counts are for, in order (the online CPUs, from
    /// the header of `/proc/interrupts`).
    pub cpus: Vec<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetDevice {
    pub name: String,
    /// The device's interrupts (MSI/MSI-X vectors, or found by name).
    pub irqs: Vec<DeviceIrq>,
    /// Interrupts per CPU over all of the device's IRQs since the previous scrape, and how
    /// many of its IRQs fired in that time; `None` on the first scrape or after a reset.
    pub since_last_scrape: Option<InterruptsDelta>,
    pub rx_queues: Vec<RxQueue>,
    pub tx_queues: Vec<TxQueue>,
    /// What ethtool requests answered; `None` when none did.
    pub ethtool: Option<Ethtool>,
}

/// What a device's interrupts did between two scrapes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct InterruptsDelta {
    /// Interrupts per CPU, in the order of [`NetDevices::cpus`].
    pub per_cpu: Vec<u64>,
    /// IRQs of the device that fired at least once.
    pub active_irqs: usize,
}

/// One interrupt line of a device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeviceIrq {
    pub irq: u32,
    /// The queue the interrupt serves, when its name tells (`rx-0`, `tx-3`, `TxRx-2`, ...).
    pub queue: Option<String>,
    /// Interrupts handled by each CPU since boot, by CPU number.
    pub per_cpu: Vec<u64>,
    /// `/proc/irq/N/smp_affinity_list`: the CPUs the IRQ may go to, as a list (`0-3,8`).
    pub affinity: Option<String>,
    /// `/proc/irq/N/effective_affinity_list`: the CPUs it actually goes to.
    pub effective_affinity: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RxQueue {
    /// `rx-0`, ...
    pub name: String,
    /// `rps_cpus` as a CPU list; empty when RPS is off for the queue.
    pub rps_cpus: Option<String>,
    pub rps_flow_count: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TxQueue {
    /// `tx-0`, ...
    pub name: String,
    /// `xps_cpus` as a CPU list; empty when XPS is off for the queue.
    pub xps_cpus: Option<String>,
}

/// Settings read through the `SIOCETHTOOL` ioctl. Each part is `None` when the driver does not
/// answer that request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Ethtool {
    pub driver: Option<DriverInfo>,
    pub channels: Option<Channels>,
    pub rings: Option<Rings>,
    /// Offload features by their ethtool names (`rx-gro-hw`, `tx-tcp-segmentation`, ...).
    pub features: Vec<Feature>,
    /// Link speed in Mb/s; `None` when unknown (no link, virtual device).
    pub speed_mbps: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DriverInfo {
    pub driver: String,
    pub version: String,
    pub firmware_version: String,
    pub bus_info: String,
}

/// Queue counts (`ethtool -l`): current and maximum.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Channels {
    pub rx: u32,
    pub tx: u32,
    pub other: u32,
    pub combined: u32,
    pub max_rx: u32,
    pub max_tx: u32,
    pub max_other: u32,
    pub max_combined: u32,
}

/// Ring sizes (`ethtool -g`): current and maximum.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Rings {
    pub rx: u32,
    pub rx_mini: u32,
    pub rx_jumbo: u32,
    pub tx: u32,
    pub max_rx: u32,
    pub max_rx_mini: u32,
    pub max_rx_jumbo: u32,
    pub max_tx: u32,
}

/// One offload feature (`ethtool -k`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Feature {
    pub name: String,
    pub enabled: bool,
    /// The driver does not let it be changed (`[fixed]`).
    pub fixed: bool,
}
