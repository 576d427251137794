//! The sysctl collector's I/O: the kernel settings the advisor checks, read from `sys/` under
//! `--path.procfs`, plus the per-interface ARP and reverse-path settings of every interface.
//! Read-only: the exporter never writes a sysctl.

use std::path::PathBuf;

use super::text_file::{SMALL_FILE_BYTES, read_text};
use super::{
    Collected, CollectedData, Collector, CollectorOptions, CollectorSpec, Paths, SourceError,
    entry_names,
};
use crate::model::sysctl::Sysctls;

/// Host-wide settings, by dotted name.
pub const KEYS: &[&str] = &[
    "kernel.osrelease",
    "net.core.netdev_budget",
    "net.core.netdev_budget_usecs",
    "net.core.netdev_max_backlog",
    "net.core.rps_sock_flow_entries",
    "net.core.somaxconn",
    "net.ipv4.ip_forward",
    "net.ipv4.tcp_max_syn_backlog",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.vs.conn_reuse_mode",
    "net.ipv4.vs.conntrack",
    "net.ipv4.vs.expire_nodest_conn",
    "net.ipv4.vs.expire_quiescent_template",
    "net.ipv4.vs.run_estimation",
    "net.ipv6.conf.all.forwarding",
    "net.netfilter.nf_conntrack_buckets",
    "net.netfilter.nf_conntrack_max",
];

/// Per-interface settings under `net.ipv4.conf.<interface>.` (`all` and `default` included).
pub const INTERFACE_KEYS: &[&str] = &["arp_announce", "arp_ignore", "rp_filter"];

pub struct SysctlCollector {
    procfs: PathBuf,
}

impl SysctlCollector {
    pub fn new(procfs: PathBuf) -> Self {
        SysctlCollector { procfs }
    }

    fn read(&self, key: &str, sysctls: &mut Sysctls, problems: &mut Vec<String>) {
        let path = self.procfs.join("sys").join(key.replace('.', "/"));
        match read_text(&path, SMALL_FILE_BYTES) {
            Ok(Some(value)) => {
                sysctls
                    .values
                    .insert(key.to_string(), value.trim().to_string());
            }
            Ok(None) => {}
            Err(err) => problems.push(format!("{}: {}", path.display(), err.reason())),
        }
    }
}

/// The `sysctl` collector, as [`COLLECTORS`](super::COLLECTORS) lists it.
pub const COLLECTOR: CollectorSpec = CollectorSpec {
    name: "sysctl",
    help: "the kernel settings the advisor checks",
    enabled_by_default: true,
    build: build_collector,
};

fn build_collector(paths: &Paths, _options: &CollectorOptions) -> Box<dyn Collector> {
    Box::new(SysctlCollector::new(paths.procfs.clone()))
}

impl Collector for SysctlCollector {
    fn collect(&self) -> Result<Collected, SourceError> {
        let mut sysctls = Sysctls::default();
        let mut problems = Vec::new();
        for key in KEYS {
            self.read(key, &mut sysctls, &mut problems);
        }
        let conf = self.procfs.join("sys/net/ipv4/conf");
        let mut interfaces = entry_names(&conf).unwrap_or_default();
        interfaces.sort();
        for interface in &interfaces {
            for setting in INTERFACE_KEYS {
                // A name with a dot (VLAN eth0.100) would break the dotted key: the kernel
                // writes it with '/' in sysctl names; keep it as the kernel does.
                let key = format!("net.ipv4.conf.{}.{setting}", interface.replace('.', "/"));
                let path = conf.join(interface).join(setting);
                match read_text(&path, SMALL_FILE_BYTES) {
                    Ok(Some(value)) => {
                        sysctls.values.insert(key, value.trim().to_string());
                    }
                    Ok(None) => {}
                    Err(err) => problems.push(format!("{}: {}", path.display(), err.reason())),
                }
            }
        }
        if sysctls.values.is_empty() {
            return Ok(Collected {
                data: CollectedData::NoData {
                    reason: format!(
                        "nothing readable under {}",
                        self.procfs.join("sys").display()
                    ),
                },
                problems,
            });
        }
        Ok(Collected {
            data: CollectedData::Sysctl(Box::new(sysctls)),
            problems,
        })
    }
}

impl super::SnapshotPart for Box<Sysctls> {
    fn store(self, snapshot: &mut crate::model::snapshot::Snapshot) {
        snapshot.sysctl = Some(*self);
    }
}
