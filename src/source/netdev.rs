//! The netdev collector's I/O: for each network device under `--path.sysfs`, its interrupts
//! (`/proc/interrupts`, `/proc/irq/N/*`), its queues' RPS/XPS settings, and its ethtool
//! settings. It keeps each IRQ's counts from the previous scrape, to tell how the interrupts
//! of the time in between fell on CPUs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::{
    Collected, CollectedData, Collector, CollectorOptions, CollectorSpec, Paths, SourceError,
    entry_names, read_optional,
};
use crate::model::netdev::{DeviceIrq, InterruptsDelta, NetDevice, NetDevices, RxQueue, TxQueue};
use crate::parse::interrupts::{InterruptTable, cpu_mask_to_list, parse_interrupts, queue_of};

/// Which devices to look at (`--collector.netdev.device-include` / `-exclude`).
#[derive(Debug, Clone)]
pub struct DeviceFilter {
    pub include: Option<regex::Regex>,
    pub exclude: Option<regex::Regex>,
    /// Whether to ask drivers through ethtool ioctls (off for fixture trees).
    pub ethtool: bool,
}

impl Default for DeviceFilter {
    fn default() -> Self {
        DeviceFilter {
            include: None,
            exclude: regex::Regex::new("^lo$").ok(),
            ethtool: true,
        }
    }
}

impl DeviceFilter {
    pub fn matches(&self, device: &str) -> bool {
        self.include.as_ref().is_none_or(|r| r.is_match(device))
            && !self.exclude.as_ref().is_some_and(|r| r.is_match(device))
    }
}

pub struct NetdevCollector {
    sysfs: PathBuf,
    procfs: PathBuf,
    filter: DeviceFilter,
    /// Per-CPU counts of each (device, IRQ) at the previous scrape.
    previous: Mutex<HashMap<(String, u32), Vec<u64>>>,
}

impl NetdevCollector {
    pub fn new(paths: Paths, filter: DeviceFilter) -> Self {
        NetdevCollector {
            sysfs: paths.sysfs,
            procfs: paths.procfs,
            filter,
            previous: Mutex::new(HashMap::new()),
        }
    }

    /// The device's interrupts: its MSI vectors when sysfs lists them, else the IRQs whose
    /// handler is named after it.
    fn device_irqs(&self, device: &str, table: &InterruptTable) -> Vec<DeviceIrq> {
        let device_dir = self.sysfs.join("class/net").join(device).join("device");
        // A virtio NIC's vectors belong to the PCI function above the virtio device.
        let virtio_name = std::fs::read_link(&device_dir)
            .ok()
            .and_then(|target| target.file_name().map(|n| n.to_string_lossy().into_owned()))
            .filter(|name| name.starts_with("virtio"));
        let msi_dirs = [device_dir.join("msi_irqs"), device_dir.join("../msi_irqs")];
        let msi_dir = msi_dirs
            .iter()
            .take(if virtio_name.is_some() { 2 } else { 1 })
            .find(|dir| dir.is_dir());
        let names: Vec<&str> = std::iter::once(device)
            .chain(virtio_name.as_deref())
            .collect();
        // A device on a legacy (INTx) interrupt has an empty msi_irqs, or none: then its IRQ
        // is found by the handler's name (`virtio0`, `eth0`), as in the lab's qemu guest.
        let wanted: Option<Vec<u32>> = msi_dir
            .map(|dir| {
                let mut irqs: Vec<u32> = entry_names(dir)
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|name| name.parse().ok())
                    .collect();
                irqs.sort_unstable();
                irqs
            })
            .filter(|irqs| !irqs.is_empty());
        table
            .lines
            .iter()
            .filter(|line| match &wanted {
                Some(irqs) => irqs.binary_search(&line.irq).is_ok(),
                None => line.actions.iter().any(|action| {
                    names.iter().any(|name| {
                        action == name
                            || action
                                .strip_prefix(name)
                                .is_some_and(|rest| rest.starts_with(['-', '@', '_']))
                            || action.contains(&format!("-{name}-"))
                    })
                }),
            })
            .map(|line| {
                let irq_dir = self.procfs.join("irq").join(line.irq.to_string());
                DeviceIrq {
                    irq: line.irq,
                    queue: line.actions.first().and_then(|a| queue_of(a, &names)),
                    per_cpu: line.per_cpu.clone(),
                    affinity: read_trimmed(&irq_dir.join("smp_affinity_list")),
                    effective_affinity: read_trimmed(&irq_dir.join("effective_affinity_list")),
                }
            })
            .collect()
    }

    fn queues(&self, device: &str) -> (Vec<RxQueue>, Vec<TxQueue>) {
        let dir = self.sysfs.join("class/net").join(device).join("queues");
        let mut names = entry_names(&dir).unwrap_or_default();
        names.sort_by_key(|name| queue_order(name));
        let mut rx = Vec::new();
        let mut tx = Vec::new();
        for name in names {
            let queue_dir = dir.join(&name);
            if name.starts_with("rx-") {
                rx.push(RxQueue {
                    rps_cpus: read_trimmed(&queue_dir.join("rps_cpus"))
                        .and_then(|mask| cpu_mask_to_list(&mask)),
                    rps_flow_count: read_trimmed(&queue_dir.join("rps_flow_cnt"))
                        .and_then(|n| n.parse().ok()),
                    name,
                });
            } else if name.starts_with("tx-") {
                tx.push(TxQueue {
                    xps_cpus: read_trimmed(&queue_dir.join("xps_cpus"))
                        .and_then(|mask| cpu_mask_to_list(&mask)),
                    name,
                });
            }
        }
        (rx, tx)
    }

    /// What each device's interrupts did since the previous scrape; remembers this one.
    fn deltas(&self, devices: &mut [NetDevice]) {
        let mut previous = match self.previous.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut current = HashMap::new();
        for device in devices.iter_mut() {
            let mut per_cpu: Option<Vec<u64>> = None;
            let mut active = 0;
            let mut complete = true;
            for irq in &device.irqs {
                let key = (device.name.clone(), irq.irq);
                match previous.get(&key) {
                    Some(before) if before.len() == irq.per_cpu.len() => {
                        let delta: Option<Vec<u64>> = irq
                            .per_cpu
                            .iter()
                            .zip(before)
                            .map(|(now, then)| now.checked_sub(*then))
                            .collect();
                        match delta {
                            Some(delta) => {
                                if delta.iter().any(|d| *d > 0) {
                                    active += 1;
                                }
                                let sum = per_cpu.get_or_insert_with(|| vec![0; delta.len()]);
                                for (total, d) in sum.iter_mut().zip(delta) {
                                    *total += d;
                                }
                            }
                            None => complete = false, // a counter went back: reset
                        }
                    }
                    _ => complete = false,
                }
                current.insert(key, irq.per_cpu.clone());
            }
            device.since_last_scrape = match per_cpu {
                Some(per_cpu) if complete => Some(InterruptsDelta {
                    per_cpu,
                    active_irqs: active,
                }),
                _ => None,
            };
        }
        *previous = current;
    }
}

fn read_trimmed(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

/// `rx-2` before `rx-10`.
fn queue_order(name: &str) -> (String, u32) {
    match name.rsplit_once('-') {
        Some((kind, n)) => (kind.to_string(), n.parse().unwrap_or(u32::MAX)),
        None => (name.to_string(), u32::MAX),
    }
}

/// The `netdev` collector, as [`COLLECTORS`](super::COLLECTORS) lists it.
pub const COLLECTOR: CollectorSpec = CollectorSpec {
    name: "netdev",
    help: "NIC interrupts per CPU, RPS/XPS, and ethtool settings",
    enabled_by_default: true,
    build: build_collector,
};

fn build_collector(paths: &Paths, options: &CollectorOptions) -> Box<dyn Collector> {
    Box::new(NetdevCollector::new(
        paths.clone(),
        options.netdev_devices.clone(),
    ))
}

impl Collector for NetdevCollector {
    fn collect(&self) -> Result<Collected, SourceError> {
        let net_dir = self.sysfs.join("class/net");
        let mut names: Vec<String> = match entry_names(&net_dir) {
            Ok(names) => names
                .into_iter()
                .filter(|name| self.filter.matches(name))
                .collect(),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Collected {
                    data: CollectedData::NoData {
                        reason: format!("{} does not exist", net_dir.display()),
                    },
                    problems: Vec::new(),
                });
            }
            Err(source) => {
                return Err(SourceError::Read {
                    path: net_dir,
                    source,
                });
            }
        };
        names.sort();

        let interrupts_path = self.procfs.join("interrupts");
        let mut problems = Vec::new();
        let table = match read_optional(&interrupts_path)? {
            Some(text) => {
                let parsed = parse_interrupts(&text);
                problems.extend(
                    parsed
                        .problems
                        .iter()
                        .map(|p| format!("{}: {p}", interrupts_path.display())),
                );
                parsed.value
            }
            None => InterruptTable::default(),
        };

        let mut devices: Vec<NetDevice> = names
            .into_iter()
            .map(|name| {
                let (rx_queues, tx_queues) = self.queues(&name);
                NetDevice {
                    irqs: self.device_irqs(&name, &table),
                    ethtool: if self.filter.ethtool {
                        super::ethtool::read(&name)
                    } else {
                        None
                    },
                    rx_queues,
                    tx_queues,
                    since_last_scrape: None,
                    name,
                }
            })
            .collect();
        self.deltas(&mut devices);

        let rps_sock_flow_entries =
            read_trimmed(&self.procfs.join("sys/net/core/rps_sock_flow_entries"))
                .and_then(|n| n.parse().ok());
        Ok(Collected {
            data: CollectedData::Netdev(Box::new(NetDevices {
                devices,
                rps_sock_flow_entries,
                cpus: table.cpus,
            })),
            problems,
        })
    }
}
