//! The netdev collector's I/O: for each network device under `--path.sysfs`, its interrupts
//! (`/proc/interrupts`, `/proc/irq/N/*`), its queues' RPS/XPS settings, and its ethtool
//! settings. It keeps samples of each IRQ's counts over a window of its own (time-based, not
//! scrape-based), to tell how the interrupts of the last minute or so fell on CPUs: every
//! scraper (two Prometheus servers in HA, `doctor`, a curl) sees the same figure at the same
//! time, whoever scraped in between.
//!
//! Only directories of `class/net` that hold an `ifindex` file are devices: the kernel links
//! every network device there, and puts class-wide files beside them (the bonding driver's
//! `bonding_masters`, a list of bond names), which are not devices.
//!
//! The ethtool ioctls reach the devices of the exporter's own network namespace by name, not
//! the devices of the tree under `--path.sysfs`. They are only asked when that tree is a live
//! sysfs (the filesystem type of its `class/net` is sysfs's, which a copied or fixture tree
//! never is) and, per device, when the tree's `ifindex` is the index the kernel gives that name
//! in this namespace (which a sysfs mounted from another network namespace fails for its own
//! devices). Otherwise the device's ethtool settings are left out, and said once in the log.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::text_file::{SMALL_FILE_BYTES, read_text};
use super::{
    Collected, CollectedData, Collector, CollectorOptions, CollectorSpec, Paths, SourceError,
    entry_names,
};
use crate::model::netdev::{DeviceIrq, InterruptsDelta, NetDevice, NetDevices, RxQueue, TxQueue};
use crate::parse::interrupts::{InterruptTable, cpu_mask_to_list, parse_interrupts, queue_of};

/// The netdev collector's flags, as the command line takes them.
#[derive(Debug, Clone, clap::Args)]
pub struct NetdevFlags {
    /// Look only at network devices whose name matches this regular expression.
    #[arg(long = "collector.netdev.device-include", id = "netdev_include", value_name = "REGEX", value_parser = parse_regex, global = true)]
    pub device_include: Option<regex::Regex>,

    /// Leave out network devices whose name matches this regular expression.
    #[arg(long = "collector.netdev.device-exclude", id = "netdev_exclude", value_name = "REGEX", default_value = "^lo$", value_parser = parse_regex, global = true)]
    pub device_exclude: regex::Regex,

    /// Do not ask network drivers for their settings through ethtool ioctls.
    #[arg(long = "no-collector.netdev.ethtool", id = "no_netdev_ethtool", global = true)]
    pub no_ethtool: bool,
}

impl NetdevFlags {
    /// The devices these flags choose.
    pub fn filter(&self) -> DeviceFilter {
        DeviceFilter {
            include: self.device_include.clone(),
            exclude: Some(self.device_exclude.clone()),
            ethtool: !self.no_ethtool,
        }
    }
}

fn parse_regex(text: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(text).map_err(|e| e.to_string())
}

/// Which devices to look at (`--collector.netdev.device-include` / `-exclude`).
#[derive(Debug, Clone)]
pub struct DeviceFilter {
    pub include: Option<regex::Regex>,
    pub exclude: Option<regex::Regex>,
    /// Whether to ask drivers through ethtool ioctls (`--no-collector.netdev.ethtool` turns it
    /// off; devices of a tree that is not this host's live sysfs are never asked).
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
    /// Per-CPU counts of each (device, IRQ), sampled over the window.
    samples: Mutex<Samples>,
    /// Whether the log has said that the sysfs tree is not live, so ethtool is left out.
    said_tree_not_live: AtomicBool,
    /// Devices the log has said ethtool is left out for (their index differs from the live one).
    said_index_differs: Mutex<HashSet<String>>,
}

/// Per-CPU counts of each (device, IRQ) at one time.
type Counts = HashMap<(String, u32), Vec<u64>>;

/// The interrupts figure covers at least this much time once the exporter has run as long.
pub const INTERRUPT_WINDOW: Duration = Duration::from_secs(60);
/// Samples are kept at least this far apart, so their number stays bounded
/// (`INTERRUPT_WINDOW / SAMPLE_SPACING + 2`) however often the exporter is scraped.
const SAMPLE_SPACING: Duration = Duration::from_secs(10);

/// Counts taken at collection times, oldest first.
#[derive(Debug, Default)]
struct Samples {
    taken: VecDeque<(Instant, Counts)>,
}

impl Samples {
    /// The sample to compare `now` with: the newest one at least [`INTERRUPT_WINDOW`] old, or
    /// the oldest while none is that old (just after start). Older samples are dropped, and
    /// `current` is kept when the newest is [`SAMPLE_SPACING`] old.
    fn baseline_and_keep(&mut self, now: Instant, current: Counts) -> Option<Counts> {
        while self.taken.len() >= 2
            && self
                .taken
                .get(1)
                .is_some_and(|(t, _)| now.saturating_duration_since(*t) >= INTERRUPT_WINDOW)
        {
            self.taken.pop_front();
        }
        let baseline = self.taken.front().map(|(_, counts)| counts.clone());
        let spaced = self
            .taken
            .back()
            .is_none_or(|(t, _)| now.saturating_duration_since(*t) >= SAMPLE_SPACING);
        if spaced {
            self.taken.push_back((now, current));
        }
        baseline
    }
}

impl NetdevCollector {
    pub fn new(paths: Paths, filter: DeviceFilter) -> Self {
        NetdevCollector {
            sysfs: paths.sysfs,
            procfs: paths.procfs,
            filter,
            samples: Mutex::new(Samples::default()),
            said_tree_not_live: AtomicBool::new(false),
            said_index_differs: Mutex::new(HashSet::new()),
        }
    }

    /// Whether the ethtool ioctls may be asked about devices of the tree: when the tree's
    /// `class/net` is on a sysfs filesystem (why not is said in the log the first time).
    fn tree_is_live(&self, net_dir: &Path) -> bool {
        let verdict = match nix::sys::statfs::statfs(net_dir) {
            Ok(fs) if fs.filesystem_type() == nix::sys::statfs::SYSFS_MAGIC => Ok(()),
            Ok(_) => Err("it is not a sysfs mount (a copy or a fixture)".to_string()),
            Err(errno) => Err(format!("its filesystem type could not be read ({errno})")),
        };
        match verdict {
            Ok(()) => true,
            Err(why) => {
                if !self.said_tree_not_live.swap(true, Ordering::Relaxed) {
                    tracing::info!(
                        sysfs = %self.sysfs.display(),
                        "ethtool settings are left out: {} is not this host's live sysfs, {why}, \
                         and the ethtool ioctls would describe this host's devices instead",
                        net_dir.display()
                    );
                }
                false
            }
        }
    }

    /// The device's ethtool settings, when the tree's device is the one the ioctls reach: the
    /// tree's `ifindex` is the index this namespace gives the name.
    fn ethtool(&self, device: &str) -> Option<crate::model::netdev::Ethtool> {
        let in_tree: Option<u32> =
            read_trimmed(&self.sysfs.join("class/net").join(device).join("ifindex"))
                .and_then(|n| n.parse().ok());
        let live = super::ethtool::live_ifindex(device);
        if in_tree.is_some() && in_tree == live {
            return super::ethtool::read(device);
        }
        let mut said = match self.said_index_differs.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if said.insert(device.to_string()) {
            tracing::info!(
                device,
                tree_ifindex = ?in_tree,
                live_ifindex = ?live,
                "ethtool settings of this device are left out: the sysfs tree's device is not \
                 the one of that name in the exporter's network namespace"
            );
        }
        None
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

    /// What each device's interrupts did over the window (see [`Samples`]).
    fn deltas(&self, devices: &mut [NetDevice], now: Instant) {
        let mut samples = match self.samples.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let current: Counts = devices
            .iter()
            .flat_map(|d| {
                d.irqs
                    .iter()
                    .map(|irq| ((d.name.clone(), irq.irq), irq.per_cpu.clone()))
            })
            .collect();
        let previous = samples.baseline_and_keep(now, current).unwrap_or_default();
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
            }
            device.since_last_scrape = match per_cpu {
                Some(per_cpu) if complete => Some(InterruptsDelta {
                    per_cpu,
                    active_irqs: active,
                }),
                _ => None,
            };
        }
    }
}

/// Whether the entry `name` of `class/net` is a network device: a directory (the kernel makes
/// each entry a link to the device's directory) with an `ifindex` file. `bonding_masters`, a
/// file the bonding driver puts there, is not.
fn is_device(net_dir: &Path, name: &str) -> bool {
    net_dir.join(name).join("ifindex").is_file()
}

/// The most read of `/proc/interrupts`: a row per interrupt with a column of up to 11 bytes
/// per CPU; thousands of queue interrupts on hundreds of CPUs take tens of MiB.
const INTERRUPTS_BYTES: usize = 256 << 20;

/// A sysfs or procfs value, trimmed; `None` when it is missing or cannot be read.
fn read_trimmed(path: &Path) -> Option<String> {
    read_text(path, SMALL_FILE_BYTES)
        .ok()
        .flatten()
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
                .filter(|name| is_device(&net_dir, name) && self.filter.matches(name))
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
        let table = match read_text(&interrupts_path, INTERRUPTS_BYTES)? {
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

        let ask_ethtool = self.filter.ethtool && !names.is_empty() && self.tree_is_live(&net_dir);
        let mut devices: Vec<NetDevice> = names
            .into_iter()
            .map(|name| {
                let (rx_queues, tx_queues) = self.queues(&name);
                NetDevice {
                    irqs: self.device_irqs(&name, &table),
                    ethtool: if ask_ethtool {
                        self.ethtool(&name)
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
        self.deltas(&mut devices, Instant::now());

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

impl super::SnapshotPart for Box<NetDevices> {
    fn store(self, snapshot: &mut crate::model::snapshot::Snapshot) {
        snapshot.netdev = Some(*self);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// eth0 with two IRQs: CPU 0 takes everything for the first 50 s, then both CPUs share.
    fn device_at(seconds: u64) -> NetDevice {
        let skewed = seconds.min(50);
        let even = seconds.saturating_sub(50);
        NetDevice {
            name: "eth0".into(),
            irqs: vec![
                DeviceIrq {
                    irq: 30,
                    per_cpu: vec![100 * skewed + 50 * even, 0],
                    ..DeviceIrq::default()
                },
                DeviceIrq {
                    irq: 31,
                    per_cpu: vec![0, 50 * even],
                    ..DeviceIrq::default()
                },
            ],
            ..NetDevice::default()
        }
    }

    /// The interrupts per CPU the figure is computed from, as one scrape at `seconds` sees it.
    fn imbalance(collector: &NetdevCollector, start: Instant, seconds: u64) -> Option<Vec<u64>> {
        let mut devices = vec![device_at(seconds)];
        collector.deltas(&mut devices, start + Duration::from_secs(seconds));
        Some(devices.first()?.since_last_scrape.clone()?.per_cpu)
    }

    /// Two Prometheus servers: one alone, and the same with a second one scraping in between.
    /// Each sees the same figure at 60 s (before, the second scrape at 55 s made the first
    /// one's window five seconds long).
    #[test]
    fn the_interrupt_imbalance_does_not_depend_on_who_else_scrapes() {
        let start = Instant::now();
        let alone = NetdevCollector::new(Paths::default(), DeviceFilter::default());
        let shared = NetdevCollector::new(Paths::default(), DeviceFilter::default());
        for t in [0, 15, 30, 45] {
            let _ = imbalance(&alone, start, t);
            let _ = imbalance(&shared, start, t);
        }
        let _ = imbalance(&shared, start, 52);
        let _ = imbalance(&shared, start, 55);
        let a = imbalance(&alone, start, 60);
        let b = imbalance(&shared, start, 60);
        assert!(a.is_some());
        assert_eq!(a, b);
        // Over 0..60 s: CPU 0 took 5000 + 500, CPU 1 500.
        assert_eq!(a, Some(vec![5500, 500]));
    }

    #[test]
    fn interrupt_samples_stay_bounded_however_often_it_is_scraped() {
        let start = Instant::now();
        let collector = NetdevCollector::new(Paths::default(), DeviceFilter::default());
        for tenth in 0..6000u64 {
            let mut devices = vec![device_at(tenth / 10)];
            collector.deltas(&mut devices, start + Duration::from_millis(tenth * 100));
        }
        let kept = collector.samples.lock().map(|s| s.taken.len()).unwrap_or(0);
        let most = (INTERRUPT_WINDOW.as_secs() / SAMPLE_SPACING.as_secs()) as usize + 2;
        assert!(kept <= most, "{kept} samples kept");
    }
}
