//! The conntrack collector's I/O: the table's size from `sys/net/netfilter/nf_conntrack_*`
//! under `--path.procfs`, and the per-CPU statistics that `conntrack -S` shows. Those come over
//! ctnetlink first (it needs CAP_NET_ADMIN, and it is there on kernels built without the
//! conntrack procfs files), else from `net/stat/nf_conntrack` under `--path.procfs`.
//!
//! A kernel without conntrack loaded has none of the sysctl files: no data, not an error, and
//! nothing is sent to the kernel (asking ctnetlink could load modules). Statistics that cannot
//! be had while the table is there are a problem of the scrape; the table's gauges still appear.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use super::ipvs::SourceMode;
use super::text_file::{PER_CPU_FILE_BYTES, SMALL_FILE_BYTES, read_text};
use super::{
    Collected, CollectedData, Collector, CollectorOptions, CollectorSpec, Paths, SourceError,
};
use crate::model::conntrack::{Conntrack, StatisticsSource};
use crate::netlink::capture::{Recording, write_capture};
use crate::netlink::decode::data_messages;
use crate::netlink::encode::netfilter_request;
use crate::netlink::socket::{Protocol, SocketTransport, Transport, TransportError, check_replies};
use crate::netlink::uapi::{AF_UNSPEC, IPCTNL_MSG_CT_GET_STATS_CPU, NFNL_SUBSYS_CTNETLINK};
use crate::parse::conntrack::{StatisticsSum, decode_stats_cpu, parse_stat_nf_conntrack};

/// The conntrack collector's flags, as the command line takes them.
#[derive(Debug, Clone, clap::Args)]
pub struct ConntrackFlags {
    /// Where the conntrack collector reads the per-CPU statistics: netlink (what conntrack -S
    /// reads; needs CAP_NET_ADMIN), procfs (/proc/net/stat/nf_conntrack), or auto (netlink,
    /// else procfs).
    #[arg(long = "collector.conntrack.source", id = "conntrack_source", value_name = "CONNTRACK_SOURCE", value_enum, default_value_t = SourceMode::Auto, global = true)]
    pub source: SourceMode,
}

/// The sequence number of the one request a read sends.
const SEQUENCE: u32 = 1;

/// Reads the statistics over netlink; a plain function so that another reader (a replayed
/// capture, a refusal) can stand in for the kernel.
pub type NetlinkReader = fn() -> Result<StatisticsSum, TransportError>;

pub struct ConntrackCollector {
    procfs: PathBuf,
    mode: SourceMode,
    read_netlink: NetlinkReader,
    fallback_logged: AtomicBool,
}

impl ConntrackCollector {
    pub fn new(procfs: PathBuf, mode: SourceMode) -> Self {
        Self::with_netlink_reader(procfs, mode, read_netlink)
    }

    /// A collector that gets the statistics over netlink from `read_netlink` rather than from
    /// the kernel's ctnetlink socket.
    pub fn with_netlink_reader(
        procfs: PathBuf,
        mode: SourceMode,
        read_netlink: NetlinkReader,
    ) -> Self {
        ConntrackCollector {
            procfs,
            mode,
            read_netlink,
            fallback_logged: AtomicBool::new(false),
        }
    }

    fn stat_file(&self) -> PathBuf {
        self.procfs.join("net/stat/nf_conntrack")
    }

    /// The statistics and where they came from, or why there are none. Skipped values are
    /// added to `problems`.
    fn statistics(
        &self,
        problems: &mut Vec<String>,
    ) -> Result<(StatisticsSum, StatisticsSource), String> {
        let file = self.stat_file();
        match self.mode {
            SourceMode::Netlink => (self.read_netlink)()
                .map(|sum| (sum, StatisticsSource::Netlink))
                .map_err(|err| format!("conntrack statistics over netlink: {err}")),
            SourceMode::Procfs => read_procfs(&file, problems)
                .map(|sum| (sum, StatisticsSource::Procfs))
                .map_err(|err| format!("conntrack statistics: {err}")),
            SourceMode::Auto => match (self.read_netlink)() {
                Ok(sum) => Ok((sum, StatisticsSource::Netlink)),
                Err(netlink) => {
                    let why = if netlink.is_permission() {
                        "it needs CAP_NET_ADMIN".to_string()
                    } else {
                        netlink.to_string()
                    };
                    match read_procfs(&file, problems) {
                        Ok(sum) => {
                            if !self.fallback_logged.swap(true, Ordering::Relaxed) {
                                tracing::warn!(
                                    "conntrack statistics over netlink failed ({why}); reading {} instead",
                                    file.display()
                                );
                            }
                            Ok((sum, StatisticsSource::Procfs))
                        }
                        Err(procfs) => Err(format!(
                            "conntrack statistics: over netlink: {why}; {procfs}"
                        )),
                    }
                }
            },
        }
    }
}

/// The `conntrack` collector, as [`COLLECTORS`](super::COLLECTORS) lists it.
pub const COLLECTOR: CollectorSpec = CollectorSpec {
    name: "conntrack",
    help: "netfilter connection tracking: table usage and statistics",
    enabled_by_default: true,
    build: build_collector,
};

fn build_collector(paths: &Paths, options: &CollectorOptions) -> Box<dyn Collector> {
    Box::new(ConntrackCollector::new(
        paths.procfs.clone(),
        options.conntrack_source,
    ))
}

impl Collector for ConntrackCollector {
    fn collect(&self) -> Result<Collected, SourceError> {
        let mut problems = Vec::new();
        let mut number = |file: &str| -> Result<Option<u64>, SourceError> {
            let path = self.procfs.join("sys/net/netfilter").join(file);
            Ok(
                read_text(&path, SMALL_FILE_BYTES)?.and_then(|text| match text.trim().parse() {
                    Ok(value) => Some(value),
                    Err(_) => {
                        problems.push(format!(
                            "{}: not a number: {:?}",
                            path.display(),
                            text.trim()
                        ));
                        None
                    }
                }),
            )
        };
        let mut conntrack = Conntrack {
            entries: number("nf_conntrack_count")?,
            limit: number("nf_conntrack_max")?,
            buckets: number("nf_conntrack_buckets")?,
            ..Conntrack::default()
        };
        if conntrack.entries.is_none() && conntrack.limit.is_none() {
            return Ok(Collected {
                data: CollectedData::NoData {
                    reason: "no connection tracking (nf_conntrack not loaded)".to_string(),
                },
                problems,
            });
        }
        match self.statistics(&mut problems) {
            Ok((sum, source)) => {
                if !sum.unknown_attributes.is_empty() {
                    tracing::debug!(
                        attributes = ?sum.unknown_attributes,
                        "conntrack statistics: skipped attributes this version does not know"
                    );
                }
                problems.extend(sum.problems);
                conntrack.statistics = sum.statistics;
                conntrack.statistics_source = Some(source);
            }
            Err(problem) => problems.push(problem),
        }
        Ok(Collected {
            data: CollectedData::Conntrack(Box::new(conntrack)),
            problems,
        })
    }
}

/// The one request a read sends: a dump of every CPU's statistics, for no address family.
fn statistics_request() -> Result<Vec<u8>, TransportError> {
    Ok(netfilter_request(
        NFNL_SUBSYS_CTNETLINK,
        IPCTNL_MSG_CT_GET_STATS_CPU,
        true,
        SEQUENCE,
        AF_UNSPEC,
        0,
    )?)
}

/// Reads the per-CPU statistics over ctnetlink (`IPCTNL_MSG_CT_GET_STATS_CPU`, a dump with one
/// reply per CPU), summed. A dump without a single CPU in it is an error.
pub fn read_statistics(transport: &mut dyn Transport) -> Result<StatisticsSum, TransportError> {
    let request = statistics_request()?;
    let replies = transport.exchange(&request)?;
    check_replies(&replies)?;
    let sum = decode_stats_cpu(data_messages(&replies))?;
    if sum.cpus == 0 {
        return Err(TransportError::Decode(
            crate::netlink::decode::DecodeError::Missing("a per-CPU statistics reply"),
        ));
    }
    Ok(sum)
}

fn read_netlink() -> Result<StatisticsSum, TransportError> {
    let mut transport = SocketTransport::connect_to(Protocol::Netfilter)?;
    read_statistics(&mut transport)
}

/// Reads and parses the procfs file; `Err` says why it gave nothing. Skipped lines go to
/// `problems`.
fn read_procfs(path: &Path, problems: &mut Vec<String>) -> Result<StatisticsSum, String> {
    let text = match read_text(path, PER_CPU_FILE_BYTES) {
        Ok(Some(text)) => text,
        Ok(None) => return Err(format!("{} does not exist", path.display())),
        Err(err) => return Err(err.to_string()),
    };
    let parsed = parse_stat_nf_conntrack(&text);
    problems.extend(
        parsed
            .problems
            .iter()
            .map(|p| format!("{}: {p}", path.display())),
    );
    if parsed.value.cpus == 0 {
        return Err(format!("{} has no per-CPU row", path.display()));
    }
    Ok(parsed.value)
}

/// `found=1 invalid=2 ...`, as conntrack -S writes a CPU's statistics.
fn name_values(statistics: &[(String, u64)]) -> String {
    statistics
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Reads the statistics over a real socket and returns the exchange as annotated hex, with the
/// decoded sums in a comment (for test fixtures and bug reports).
pub fn capture() -> Result<String, TransportError> {
    let mut recording = Recording {
        inner: SocketTransport::connect_to(Protocol::Netfilter)?,
        exchanges: Vec::new(),
    };
    let sum = read_statistics(&mut recording)?;
    let mut text = String::from(
        "# ctnetlink exchange recorded by `ipvs_exporter capture-netlink conntrack`.\n\
         # '>' is the request, '<' one buffer of the kernel's reply, in hexadecimal.\n",
    );
    text.push_str(&format!(
        "# decoded: {} CPUs; summed: {}\n",
        sum.cpus,
        name_values(&sum.statistics)
    ));
    if !sum.unknown_attributes.is_empty() {
        text.push_str(&format!(
            "# attributes without a name here: {:?}\n",
            sum.unknown_attributes
        ));
    }
    for (_, replies) in &recording.exchanges {
        for message in data_messages(replies).flatten() {
            let Ok((header, _)) = message.netfilter() else {
                continue;
            };
            if let Ok(one) = decode_stats_cpu(std::iter::once(Ok(message))) {
                text.push_str(&format!(
                    "# reply for CPU {}: {}\n",
                    header.res_id,
                    name_values(&one.statistics)
                ));
            }
        }
    }
    text.push_str(&write_capture(&recording.exchanges, |_, _| {
        "IPCTNL_MSG_CT_GET_STATS_CPU (dump)".to_string()
    }));
    Ok(text)
}

impl super::SnapshotPart for Box<Conntrack> {
    fn store(self, snapshot: &mut crate::model::snapshot::Snapshot) {
        snapshot.conntrack = Some(*self);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::errno::Errno;

    fn fixture(scenario: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/conntrack")
            .join(scenario)
    }

    fn collector(procfs: PathBuf, mode: SourceMode, netlink: NetlinkReader) -> ConntrackCollector {
        ConntrackCollector::with_netlink_reader(procfs, mode, netlink)
    }

    fn refused() -> Result<StatisticsSum, TransportError> {
        Err(TransportError::Kernel(Errno::EPERM))
    }

    fn must_not_be_asked() -> Result<StatisticsSum, TransportError> {
        panic!("netlink was asked although the collector had no reason to")
    }

    fn reading(collected: Collected) -> (Conntrack, Vec<String>) {
        match collected.data {
            CollectedData::Conntrack(conntrack) => (*conntrack, collected.problems),
            other => panic!("expected conntrack data, got {other:?}"),
        }
    }

    /// A procfs tree with the sysctl files but no statistics file.
    struct SysctlOnly(PathBuf);

    impl SysctlOnly {
        fn new(name: &str) -> Self {
            let root = std::env::temp_dir().join(format!(
                "ipvs_exporter-conntrack-{name}-{}",
                std::process::id()
            ));
            let dir = root.join("sys/net/netfilter");
            std::fs::create_dir_all(&dir).expect("create scratch procfs");
            for (file, value) in [
                ("nf_conntrack_count", "7\n"),
                ("nf_conntrack_max", "65536\n"),
                ("nf_conntrack_buckets", "16384\n"),
            ] {
                std::fs::write(dir.join(file), value).expect("write sysctl");
            }
            SysctlOnly(root)
        }
    }

    impl Drop for SysctlOnly {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn refused_netlink_falls_back_to_the_proc_file() {
        let under_test = collector(fixture("traffic").join("proc"), SourceMode::Auto, refused);
        let (conntrack, problems) = reading(under_test.collect().expect("collects"));
        assert_eq!(
            problems,
            Vec::<String>::new(),
            "a fallback is not a problem"
        );
        assert_eq!(conntrack.statistics_source, Some(StatisticsSource::Procfs));
        let invalid = conntrack.statistics.iter().find(|(n, _)| n == "invalid");
        assert_eq!(invalid, Some(&("invalid".to_string(), 48)));
        assert!(conntrack.statistics.iter().all(|(n, _)| n != "entries"));
    }

    #[test]
    fn procfs_mode_never_asks_netlink() {
        let under_test = collector(
            fixture("idle").join("proc"),
            SourceMode::Procfs,
            must_not_be_asked,
        );
        let (conntrack, _) = reading(under_test.collect().expect("collects"));
        assert_eq!(conntrack.statistics_source, Some(StatisticsSource::Procfs));
        assert_eq!(conntrack.statistics.len(), 16);
    }

    #[test]
    fn no_statistics_anywhere_is_a_problem_and_the_gauges_stay() {
        let tree = SysctlOnly::new("nostats");
        let under_test = collector(tree.0.clone(), SourceMode::Auto, refused);
        let (conntrack, problems) = reading(under_test.collect().expect("collects"));
        assert_eq!(
            (conntrack.entries, conntrack.limit, conntrack.buckets),
            (Some(7), Some(65_536), Some(16_384))
        );
        assert_eq!(conntrack.statistics, Vec::new());
        assert_eq!(conntrack.statistics_source, None);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("it needs CAP_NET_ADMIN"),
            "{}",
            problems[0]
        );
        assert!(
            problems[0].contains("net/stat/nf_conntrack does not exist"),
            "{}",
            problems[0]
        );

        let netlink_only = collector(tree.0.clone(), SourceMode::Netlink, refused);
        let (_, problems) = reading(netlink_only.collect().expect("collects"));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with("conntrack statistics over netlink"));
    }

    #[test]
    fn without_conntrack_there_is_no_data_and_no_netlink() {
        let under_test = collector(
            fixture("absent-does-not-exist"),
            SourceMode::Auto,
            must_not_be_asked,
        );
        let collected = under_test.collect().expect("collects");
        assert!(matches!(collected.data, CollectedData::NoData { .. }));
        assert_eq!(collected.problems, Vec::<String>::new());
    }
}
