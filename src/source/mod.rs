//! Sources: the collectors, which read the kernel and the filesystem for a scrape (the netlink
//! sockets themselves are `crate::netlink::socket`). Each collector turns what it reads into
//! model types through the pure parsers, and says whether there was data at all.

// The modules that are no collector of their own; the collectors' modules are declared by
// `collectors!` at the end of this file.
pub mod ethtool;
pub mod ipvs_ledger;
pub mod ipvs_netlink;
pub mod prometheus_api;
pub mod rootfs;
pub mod text_file;
pub mod vrrp_listen;

use std::path::{Path, PathBuf};

use crate::model::IpvsTable;
use crate::model::conntrack::Conntrack;
use crate::model::interfaces::Interfaces;
use crate::model::keepalived::Keepalived;
use crate::model::netdev::NetDevices;
pub use crate::model::snapshot::NamespaceTable;
use crate::model::snapshot::{Outcome, Snapshot};
use crate::model::softnet::SoftnetCpu;
use crate::model::sysctl::Sysctls;

/// Where the host's pseudo-filesystems are: the `--path.*` flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    pub procfs: PathBuf,
    pub sysfs: PathBuf,
    pub rootfs: PathBuf,
}

impl Default for Paths {
    fn default() -> Self {
        Paths {
            procfs: PathBuf::from("/proc"),
            sysfs: PathBuf::from("/sys"),
            rootfs: PathBuf::from("/"),
        }
    }
}

/// A collector failure: something that should have been readable was not.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    File(#[from] text_file::ReadError),
    #[error("netlink: {0}")]
    Netlink(crate::netlink::socket::TransportError),
    #[error("cannot enter network namespace {path}: {reason}")]
    Namespace { path: PathBuf, reason: String },
}

/// The IPVS table of the exporter's namespace (`None`: no IPVS there) and of the other
/// namespaces it was asked to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpvsReading {
    pub table: Option<IpvsTable>,
    pub namespaces: Vec<NamespaceTable>,
}

/// A collector's result, with the records it had to skip.
#[derive(Debug, Clone, PartialEq)]
pub struct Collected {
    pub data: CollectedData,
    /// Lines or records that could not be parsed and were skipped, each said plainly.
    pub problems: Vec<String>,
}

/// One named source of data; `collect` does blocking I/O and runs on a blocking thread.
pub trait Collector: Send + Sync + 'static {
    fn collect(&self) -> Result<Collected, SourceError>;
}

/// The names of a directory's entries, in the order the filesystem gives them (entries that
/// cannot be read are left out; a name that is not UTF-8 is shown lossily).
pub(crate) fn entry_names(dir: &Path) -> std::io::Result<Vec<String>> {
    Ok(std::fs::read_dir(dir)?
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect())
}

/// A collector the exporter knows: declared once, as a `pub const COLLECTOR` in its own
/// module, and listed in [`COLLECTORS`]. The `--collector.<name>` / `--no-collector.<name>`
/// flags, the gather, doctor's collector list and the README's collector table all follow
/// this declaration.
#[derive(Debug, Clone, Copy)]
pub struct CollectorSpec {
    /// The name in flags, in `ipvs_scrape_collector_*{collector=...}` and in doctor.
    pub name: &'static str,
    /// One line for `--help`.
    pub help: &'static str,
    pub enabled_by_default: bool,
    /// Makes the collector from the `--path.*` and per-collector flags.
    pub build: fn(&Paths, &CollectorOptions) -> Box<dyn Collector>,
}

/// Per-collector options from the command line.
#[derive(Debug, Clone)]
pub struct CollectorOptions {
    pub ipvs_source: ipvs::SourceMode,
    pub ipvs_namespaces: Vec<String>,
    /// Whether to keep what departed real servers had counted (the ledger, holding every
    /// real server's last counters): only series summed over dropped real-server labels
    /// read it.
    pub ipvs_departed_totals: bool,
    pub conntrack_source: ipvs::SourceMode,
    pub netdev_devices: netdev::DeviceFilter,
    pub keepalived: keepalived::KeepalivedOptions,
    /// The links-and-addresses reader that the interfaces and keepalived collectors built from
    /// these options share, so that a scrape dumps links and addresses once.
    pub interfaces: interfaces::SharedInterfaces,
}

impl Default for CollectorOptions {
    fn default() -> Self {
        CollectorOptions {
            ipvs_source: ipvs::SourceMode::Auto,
            ipvs_namespaces: Vec::new(),
            ipvs_departed_totals: true,
            conntrack_source: ipvs::SourceMode::Auto,
            netdev_devices: netdev::DeviceFilter::default(),
            keepalived: keepalived::KeepalivedOptions::default(),
            interfaces: interfaces::SharedInterfaces::default(),
        }
    }
}

/// A collector built for a run, under its registered name.
pub struct Enabled {
    pub name: &'static str,
    pub collector: Box<dyn Collector>,
}

/// Builds the given collectors, in the order given.
pub fn build_collectors(
    enabled: &[&'static CollectorSpec],
    paths: &Paths,
    options: &CollectorOptions,
) -> Vec<Enabled> {
    enabled
        .iter()
        .map(|spec| Enabled {
            name: spec.name,
            collector: (spec.build)(paths, options),
        })
        .collect()
}

/// What a collector read, as the snapshot takes it: each collector's data type says which
/// field of the [`Snapshot`] it fills, next to the collector that reads it.
pub trait SnapshotPart {
    fn store(self, snapshot: &mut Snapshot);
}

/// Declares the collectors, once each, in the order their results appear: for each, its module
/// (which holds its `COLLECTOR` declaration and the [`SnapshotPart`] of its data), the
/// [`CollectedData`] variant it returns and that variant's data type. From this one list come
/// the `pub mod` lines, [`CollectedData`], [`COLLECTORS`] and the step that stores a result into
/// the snapshot. Adding a collector is its module and one line here.
macro_rules! collectors {
    ($($module:ident => $variant:ident($data:ty)),+ $(,)?) => {
        $(pub mod $module;)+

        /// What one collector gathered.
        #[derive(Debug, Clone, PartialEq)]
        pub enum CollectedData {
            /// The subsystem is absent on this host (module not loaded, file missing): not an
            /// error.
            NoData { reason: String },
            $($variant($data),)+
        }

        impl CollectedData {
            /// Stores what was read into its field of the snapshot; what the collector found.
            pub fn store_into(self, snapshot: &mut Snapshot) -> Outcome {
                match self {
                    CollectedData::NoData { reason } => return Outcome::NoData(reason),
                    $(CollectedData::$variant(data) => SnapshotPart::store(data, snapshot),)+
                }
                Outcome::Ok
            }
        }

        /// Every collector, in the order their results appear.
        pub const COLLECTORS: &[CollectorSpec] = &[$($module::COLLECTOR,)+];
    };
}

collectors! {
    // IPVS services and real servers (generic netlink, or /proc/net/ip_vs).
    ipvs => Ipvs(Box<IpvsReading>),
    // Connection tracking's size and per-CPU statistics.
    conntrack => Conntrack(Box<Conntrack>),
    // Per-CPU packet processing (/proc/net/softnet_stat).
    softnet => Softnet(Vec<SoftnetCpu>),
    // Network devices: queues, IRQs, ethtool settings.
    netdev => Netdev(Box<NetDevices>),
    // The kernel settings the advisor checks.
    sysctl => Sysctl(Box<Sysctls>),
    // Links and addresses of the exporter's network namespace (rtnetlink).
    interfaces => Interfaces(Box<Interfaces>),
    // keepalived: its process, configuration and VRRP instances.
    keepalived => Keepalived(Box<Keepalived>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collector_names_are_unique_and_flag_safe() {
        for (index, spec) in COLLECTORS.iter().enumerate() {
            assert!(
                !spec.name.is_empty()
                    && spec
                        .name
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{:?} cannot be a flag name",
                spec.name
            );
            assert!(!spec.help.is_empty() && !spec.help.contains('\n'));
            let first = COLLECTORS.iter().position(|other| other.name == spec.name);
            assert_eq!(first, Some(index), "{} is declared twice", spec.name);
        }
    }

    #[test]
    fn every_collector_builds_from_default_options() {
        let specs: Vec<&'static CollectorSpec> = COLLECTORS.iter().collect();
        let built = build_collectors(&specs, &Paths::default(), &CollectorOptions::default());
        let names: Vec<&str> = built.iter().map(|e| e.name).collect();
        let expected: Vec<&str> = COLLECTORS.iter().map(|s| s.name).collect();
        assert_eq!(names, expected);
    }

    /// The README's collector table lists every collector, in order, with its default.
    #[test]
    fn readme_collector_table_is_the_registry() {
        let readme = include_str!("../../README.md");
        let table: Vec<(String, String)> = readme
            .split_once("Collectors:\n")
            .map(|(_, rest)| rest)
            .unwrap_or_default()
            .lines()
            .skip_while(|line| line.trim().is_empty())
            .take_while(|line| line.starts_with('|'))
            .skip(2)
            .filter_map(|row| {
                let mut cells = row.split('|').map(str::trim).skip(1);
                let name = cells.next()?.trim_matches('`').to_string();
                let default = cells.next()?.to_string();
                Some((name, default))
            })
            .collect();
        let registry: Vec<(String, String)> = COLLECTORS
            .iter()
            .map(|spec| {
                let default = if spec.enabled_by_default { "on" } else { "off" };
                (spec.name.to_string(), default.to_string())
            })
            .collect();
        assert_eq!(table, registry, "README.md's collector table");
    }
}
