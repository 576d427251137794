//! The IPVS collector's I/O. Reads the table over generic netlink (everything ipvsadm shows)
//! or from `net/ip_vs` under `--path.procfs` (no traffic per service or real server), and the
//! host totals from `net/ip_vs_stats`. `auto` prefers netlink and falls back to procfs when
//! netlink is refused. Other network namespaces are read from a short-lived thread that joins
//! them, so no pooled thread ever changes namespace.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use super::rootfs::Rootfs;
use super::text_file::{SMALL_FILE_BYTES, read_text};
use super::{
    Collected, CollectedData, Collector, CollectorOptions, CollectorSpec, IpvsReading,
    NamespaceTable, Paths, SourceError,
};
use crate::model::drain::DrainTracker;
use crate::model::{IpvsSource, IpvsTable};
use crate::netlink::socket::{SocketTransport, TransportError};
use crate::parse::ipvs_proc::{IpVsStatsProc, parse_ip_vs, parse_ip_vs_stats};
use crate::source::ipvs_netlink::read_table;

/// Which kernel interface a collector reads (`--collector.ipvs.source`,
/// `--collector.conntrack.source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SourceMode {
    /// Netlink, falling back to procfs when netlink is refused or fails.
    Auto,
    Netlink,
    Procfs,
}

/// The ipvs collector's flags, as the command line takes them.
#[derive(Debug, Clone, clap::Args)]
pub struct IpvsFlags {
    /// Where the ipvs collector reads IPVS: netlink (all counters; needs CAP_NET_ADMIN),
    /// procfs (no per-service or per-real-server traffic), or auto (netlink, else procfs).
    #[arg(long = "collector.ipvs.source", id = "ipvs_source", value_name = "IPVS_SOURCE", value_enum, default_value_t = SourceMode::Auto, global = true)]
    pub source: SourceMode,

    /// Also read IPVS in this network namespace: a name under /run/netns or a path such as
    /// /proc/PID/ns/net. Repeatable; its series get a `netns` label.
    #[arg(
        long = "collector.ipvs.netns",
        id = "ipvs_netns",
        value_name = "NAME_OR_PATH",
        global = true
    )]
    pub netns: Vec<String>,
}

/// A network namespace to read besides the exporter's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetnsTarget {
    /// The `netns` label value: the name as given.
    pub name: String,
    /// The path as given, or `/run/netns/NAME` as the host names it.
    pub path: PathBuf,
    /// The root a name's path is resolved under; `None` for a path given as is.
    pub rootfs: Option<Rootfs>,
}

impl NetnsTarget {
    /// A name (`/run/netns/NAME` under `rootfs`) or a path (`/proc/PID/ns/net`).
    pub fn parse(text: &str, rootfs: &Path) -> Self {
        let (path, rootfs) = if text.contains('/') {
            (PathBuf::from(text), None)
        } else {
            (
                Path::new("/run/netns").join(text),
                Some(Rootfs::new(rootfs)),
            )
        };
        NetnsTarget {
            name: text.to_string(),
            path,
            rootfs,
        }
    }

    /// The file to open: a name's path resolved under the root at each read (the namespace
    /// may come and go), a path as given.
    pub fn file(&self) -> Result<PathBuf, SourceError> {
        match &self.rootfs {
            None => Ok(self.path.clone()),
            Some(rootfs) => rootfs
                .resolve(&self.path)
                .map_err(|err| SourceError::Namespace {
                    path: self.path.clone(),
                    reason: err.to_string(),
                }),
        }
    }
}

/// What the netlink fallback costs, said once in the log.
const PROCFS_LIMITS: &str = "per-service and per-real-server traffic counters and rates, \
     persistent connections, thresholds, persistence timeouts, connection timeouts and sync \
     daemons are not exported";

pub struct IpvsCollector {
    procfs: PathBuf,
    mode: SourceMode,
    namespaces: Vec<NetnsTarget>,
    fallback_logged: AtomicBool,
    /// Per table ("" for the exporter's namespace, else the netns name): what departed real
    /// servers had counted.
    ledgers: std::sync::Mutex<std::collections::HashMap<String, super::ipvs_ledger::Ledger>>,
    /// Whether the ledgers are kept at all (see [`CollectorOptions::ipvs_departed_totals`]).
    departed_totals: bool,
    /// Per table, as `ledgers`: the last samples of each draining real server.
    drains: std::sync::Mutex<std::collections::HashMap<String, DrainTracker>>,
    /// The origin of the drain samples' clock.
    started: std::time::Instant,
}

impl IpvsCollector {
    pub fn new(procfs: PathBuf, mode: SourceMode, namespaces: Vec<NetnsTarget>) -> Self {
        IpvsCollector {
            procfs,
            mode,
            namespaces,
            fallback_logged: AtomicBool::new(false),
            ledgers: std::sync::Mutex::new(std::collections::HashMap::new()),
            departed_totals: true,
            drains: std::sync::Mutex::new(std::collections::HashMap::new()),
            started: std::time::Instant::now(),
        }
    }

    /// The collector the exporter runs, as its options say.
    fn from_options(paths: &Paths, options: &CollectorOptions) -> Self {
        IpvsCollector {
            departed_totals: options.ipvs_departed_totals,
            ..IpvsCollector::new(
                paths.procfs.clone(),
                options.ipvs_source,
                options
                    .ipvs_namespaces
                    .iter()
                    .map(|n| NetnsTarget::parse(n, &paths.rootfs))
                    .collect(),
            )
        }
    }

    /// Reads IPVS in the calling thread's namespace; `net_dir` is its `net` directory in procfs.
    fn read_here(&self, net_dir: &Path) -> Result<(Option<IpvsTable>, Vec<String>), SourceError> {
        let (mut table, mut problems) = self.read_table_here(net_dir)?;
        if let Some(table) = table.as_mut() {
            // The sysctl is per namespace: /proc/sys shows the reading thread's namespace.
            let sysctl = self.procfs.join("sys/net/ipv4/vs/run_estimation");
            table.estimation_enabled = match read_text(&sysctl, SMALL_FILE_BYTES)? {
                Some(text) => match text.trim().parse::<u8>() {
                    Ok(value) => Some(value != 0),
                    Err(_) => {
                        problems.push(format!(
                            "{}: not a number: {:?}",
                            sysctl.display(),
                            text.trim()
                        ));
                        None
                    }
                },
                None => None,
            };
        }
        Ok((table, problems))
    }

    fn read_table_here(
        &self,
        net_dir: &Path,
    ) -> Result<(Option<IpvsTable>, Vec<String>), SourceError> {
        match self.mode {
            SourceMode::Procfs => read_procfs(net_dir),
            SourceMode::Netlink => read_netlink(net_dir),
            SourceMode::Auto => match read_netlink(net_dir) {
                Ok(read) => Ok(read),
                Err(SourceError::Netlink(err)) => {
                    if !self.fallback_logged.swap(true, Ordering::Relaxed) {
                        let why = if err.is_permission() {
                            "it needs CAP_NET_ADMIN".to_string()
                        } else {
                            err.to_string()
                        };
                        tracing::warn!(
                            "IPVS over netlink failed ({why}); reading {} instead: {PROCFS_LIMITS}",
                            net_dir.join("ip_vs").display()
                        );
                    }
                    read_procfs(net_dir)
                }
                Err(other) => Err(other),
            },
        }
    }

    fn read_namespace(
        &self,
        target: &NetnsTarget,
    ) -> Result<(Option<IpvsTable>, Vec<String>), SourceError> {
        let thread_net = self.procfs.join("thread-self/net");
        std::thread::scope(|scope| {
            let worker = scope.spawn(|| {
                enter_namespace(&target.file()?)?;
                self.read_here(&thread_net)
            });
            worker.join().unwrap_or_else(|_| {
                Err(SourceError::Namespace {
                    path: target.path.clone(),
                    reason: "the reading thread panicked".into(),
                })
            })
        })
    }
}

fn enter_namespace(path: &Path) -> Result<(), SourceError> {
    let file = std::fs::File::open(path).map_err(|source| SourceError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).map_err(|errno| {
        SourceError::Namespace {
            path: path.to_path_buf(),
            reason: errno.desc().to_string(),
        }
    })
}

/// The `ipvs` collector, as [`COLLECTORS`](super::COLLECTORS) lists it.
pub const COLLECTOR: CollectorSpec = CollectorSpec {
    name: crate::model::snapshot::IPVS_COLLECTOR,
    help: "IPVS services, real servers and host totals",
    enabled_by_default: true,
    build: build_collector,
};

fn build_collector(paths: &Paths, options: &CollectorOptions) -> Box<dyn Collector> {
    Box::new(IpvsCollector::from_options(paths, options))
}

impl Collector for IpvsCollector {
    fn collect(&self) -> Result<Collected, SourceError> {
        let own_net = self.procfs.join("net");
        let (mut table, mut problems) = self.read_here(&own_net)?;
        let mut ledgers = match self.ledgers.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if self.departed_totals {
            ledgers
                .entry(String::new())
                .or_default()
                .update(table.as_mut());
        }
        let mut drains = match self.drains.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let now_millis = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        drains
            .entry(String::new())
            .or_default()
            .update(table.as_mut(), now_millis);
        let mut namespaces = Vec::with_capacity(self.namespaces.len());
        for target in &self.namespaces {
            match self.read_namespace(target) {
                Ok((mut table, skipped)) => {
                    if self.departed_totals {
                        ledgers
                            .entry(target.name.clone())
                            .or_default()
                            .update(table.as_mut());
                    }
                    drains
                        .entry(target.name.clone())
                        .or_default()
                        .update(table.as_mut(), now_millis);
                    problems.extend(
                        skipped
                            .into_iter()
                            .map(|p| format!("netns {}: {p}", target.name)),
                    );
                    namespaces.push(NamespaceTable {
                        netns: target.name.clone(),
                        table,
                    });
                }
                // One unreadable namespace costs its own series, not the others'; its
                // `ipvs_up` says 0 rather than vanishing.
                Err(err) => {
                    problems.push(format!("netns {}: {err}", target.name));
                    namespaces.push(NamespaceTable {
                        netns: target.name.clone(),
                        table: None,
                    });
                }
            }
        }
        if table.is_none() && self.namespaces.is_empty() {
            return Ok(Collected {
                data: CollectedData::NoData {
                    reason: "no IPVS in this network namespace (ip_vs not loaded)".to_string(),
                },
                problems,
            });
        }
        Ok(Collected {
            data: CollectedData::Ipvs(Box::new(IpvsReading { table, namespaces })),
            problems,
        })
    }
}

/// Reads the host totals and rates, noting a missing or odd file as a problem.
fn read_totals(net_dir: &Path, problems: &mut Vec<String>) -> Result<IpVsStatsProc, SourceError> {
    let stats_path = net_dir.join("ip_vs_stats");
    Ok(match read_text(&stats_path, SMALL_FILE_BYTES)? {
        Some(text) => {
            let stats = parse_ip_vs_stats(&text);
            problems.extend(
                stats
                    .problems
                    .iter()
                    .map(|p| format!("{}: {p}", stats_path.display())),
            );
            stats.value
        }
        None => {
            problems.push(format!("{} does not exist", stats_path.display()));
            IpVsStatsProc::default()
        }
    })
}

/// The most read of `/proc/net/ip_vs`: a line is under 80 bytes, so this holds over three
/// million services and real servers, past what a host programs.
const IP_VS_TABLE_BYTES: usize = 256 << 20;

fn read_procfs(net_dir: &Path) -> Result<(Option<IpvsTable>, Vec<String>), SourceError> {
    let table_path = net_dir.join("ip_vs");
    let Some(table_text) = read_text(&table_path, IP_VS_TABLE_BYTES)? else {
        return Ok((None, Vec::new()));
    };
    let parsed = parse_ip_vs(&table_text);
    let mut problems: Vec<String> = parsed
        .problems
        .iter()
        .map(|p| format!("{}: {p}", table_path.display()))
        .collect();
    let totals = read_totals(net_dir, &mut problems)?;
    let table = IpvsTable {
        source: IpvsSource::Procfs,
        version: parsed.value.version,
        connection_table_buckets: parsed.value.connection_table_buckets,
        totals: totals.totals,
        total_rates: totals.rates,
        services: parsed.value.services,
        timeouts: None,
        sync_daemons: Vec::new(),
        estimation_enabled: None,
        departed: Vec::new(),
        drain_histories: Vec::new(),
    };
    Ok((Some(table), problems))
}

fn read_netlink(net_dir: &Path) -> Result<(Option<IpvsTable>, Vec<String>), SourceError> {
    let mut transport = SocketTransport::connect()?;
    let Some(read) = read_table(&mut transport)? else {
        return Ok((None, Vec::new()));
    };
    let mut problems = read.problems;
    let mut table = read.table;
    let totals = read_totals(net_dir, &mut problems)?;
    table.totals = totals.totals;
    table.total_rates = totals.rates;
    Ok((Some(table), problems))
}

impl From<TransportError> for SourceError {
    fn from(err: TransportError) -> Self {
        SourceError::Netlink(err)
    }
}

impl super::SnapshotPart for Box<IpvsReading> {
    fn store(self, snapshot: &mut crate::model::snapshot::Snapshot) {
        snapshot.ipvs = self.table;
        snapshot.ipvs_namespaces = self.namespaces;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Scratch;
    use std::os::unix::fs::symlink;

    #[test]
    fn a_namespace_name_is_resolved_inside_the_root() {
        let scratch = Scratch::new("netns-root", "links", "root");
        let root = scratch.to_path_buf();
        let beside = root.parent().expect("the scratch directory").join("netns");
        std::fs::create_dir_all(&beside).expect("mkdir");
        std::fs::write(beside.join("blue"), "OUTSIDE").expect("write");
        std::fs::create_dir_all(root.join("run")).expect("mkdir");
        // /run/netns points at the outside directory by its full host path.
        symlink(&beside, root.join("run/netns")).expect("link");
        let blue = NetnsTarget::parse("blue", &root);
        assert_eq!(blue.path, PathBuf::from("/run/netns/blue"));
        let file = blue.file().expect("resolves");
        assert!(file.starts_with(&root), "{}", file.display());
        assert!(!file.exists(), "{}", file.display());
        // `..` as a name stays inside too.
        let up = NetnsTarget::parse("..", &root).file().expect("resolves");
        assert!(up.starts_with(&root), "{}", up.display());
        // A path given as such is the host's own.
        let given = NetnsTarget::parse("/proc/1/ns/net", &root);
        assert_eq!(given.file().ok(), Some(PathBuf::from("/proc/1/ns/net")));
        // A loop is a clear error.
        std::fs::remove_file(root.join("run/netns")).expect("unlink");
        symlink("netns", root.join("run/netns")).expect("link");
        let looped = NetnsTarget::parse("blue", &root).file();
        assert!(
            matches!(&looped, Err(SourceError::Namespace { reason, .. }) if reason.contains("symbolic links")),
            "{looped:?}"
        );
    }

    fn fixture_procfs(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name)
            .join("proc")
    }

    #[test]
    fn the_ledger_is_kept_only_when_asked_for() {
        let ledgers_after_a_collection = |departed_totals: bool| {
            let options = CollectorOptions {
                ipvs_source: SourceMode::Procfs,
                ipvs_departed_totals: departed_totals,
                ..CollectorOptions::default()
            };
            let paths = Paths {
                procfs: fixture_procfs("nat-director"),
                ..Paths::default()
            };
            let collector = IpvsCollector::from_options(&paths, &options);
            collector.collect().unwrap_or_else(|e| panic!("{e}"));
            collector.ledgers.lock().map(|l| l.len()).unwrap_or(usize::MAX)
        };
        assert_eq!(ledgers_after_a_collection(true), 1);
        assert_eq!(ledgers_after_a_collection(false), 0);
    }

    #[test]
    fn a_namespace_that_cannot_be_opened_is_reported_down_beside_the_others() {
        let collector = IpvsCollector::new(
            fixture_procfs("nat-director"),
            SourceMode::Procfs,
            vec![NetnsTarget {
                name: "gone".into(),
                path: PathBuf::from("/nonexistent/run/netns/gone"),
                rootfs: None,
            }],
        );
        let collected = collector.collect().unwrap_or_else(|e| panic!("{e}"));
        let CollectedData::Ipvs(reading) = collected.data else {
            panic!("no IPVS reading: {:?}", collected.data);
        };
        assert!(reading.table.is_some(), "the own namespace is still read");
        assert_eq!(
            reading.namespaces,
            vec![NamespaceTable {
                netns: "gone".into(),
                table: None,
            }],
            "the namespace that cannot be opened is listed, without a table"
        );
        assert_eq!(collected.problems.len(), 1, "{:?}", collected.problems);
        assert!(
            collected
                .problems
                .iter()
                .all(|p| p.starts_with("netns gone: ")),
            "{:?}",
            collected.problems
        );
    }
}
