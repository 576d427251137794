//! The keepalived collector: its `--keepalived.*` flags, and the scrape that ties its parts
//! together. keepalived.conf and what it includes (`config`), the pid file checked against
//! procfs (`process`), keepalived's JSON and data dumps when they are fresh (`json_dump`,
//! `data_dump`, both read through `dump_files`), a bounded history of each instance's state
//! changes for the flapping window (`history`), and the interfaces and addresses of the
//! exporter's network namespace over rtnetlink with the peers heard there (`roles`); the
//! notify FIFO is read in the background (`fifo`). It never signals keepalived unless asked
//! to and never talks to it: the role of every VRRP instance comes from what the kernel shows.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use super::interfaces::Connect;
use super::interfaces::SharedInterfaces;
use super::rootfs::Rootfs;
use super::vrrp_listen::VrrpListener;
use super::{
    Collected, CollectedData, Collector, CollectorOptions, CollectorSpec, Paths, SourceError,
};
use crate::model::keepalived::{Keepalived, why_fifo_missing};
use config::{ScrapedConfig, read_config};
use fifo::NotifyFifo;
use history::TransitionHistory;
pub use json_dump::{dump_signal, read_dump};
use process::{check_process, process_uid};

mod config;
mod data_dump;
mod dump_files;
pub mod fifo;
mod files;
mod history;
mod json_dump;
mod process;
mod roles;

/// The keepalived collector's flags, as the command line takes them (`--collector.vrrp.listen`
/// among them: the VRRP listener is part of this collector).
#[derive(Debug, Clone, clap::Args)]
pub struct KeepalivedFlags {
    /// keepalived's configuration file, as keepalived names it (read under --path.rootfs).
    #[arg(
        long = "keepalived.config-file",
        id = "keepalived_config_file",
        value_name = "PATH",
        default_value = "/etc/keepalived/keepalived.conf",
        global = true
    )]
    pub config_file: PathBuf,

    /// keepalived's pid file (read under --path.rootfs), checked against the live process.
    #[arg(
        long = "keepalived.pid-file",
        id = "keepalived_pid_file",
        value_name = "PATH",
        default_value = "/run/keepalived.pid",
        global = true
    )]
    pub pid_file: PathBuf,

    /// keepalived's JSON dump (read under --path.rootfs when present and fresh; keepalived
    /// writes it as root with mode 0600).
    #[arg(
        long = "keepalived.json-file",
        id = "keepalived_json_file",
        value_name = "PATH",
        default_value = "/tmp/keepalived.json",
        global = true
    )]
    pub json_file: PathBuf,

    /// A JSON dump written longer ago than this is not used.
    #[arg(long = "keepalived.json-max-age", id = "keepalived_json_max_age", value_name = "DURATION", default_value = "60s", value_parser = crate::parse::duration::parse_duration_flag, global = true)]
    pub json_max_age: Duration,

    /// Send keepalived SIGRTMIN+2 at each scrape so that it writes a fresh JSON dump (needs
    /// the right to signal it: root or keepalived's user).
    #[arg(long = "keepalived.signal", id = "keepalived_signal", global = true)]
    pub signal: bool,

    /// Send keepalived SIGUSR1 at each scrape so that it writes its data dump (keepalived.data
    /// and keepalived_check.data beside the JSON dump), read for its checkers' view of each
    /// real server and each instance's priorities (needs the right to signal it).
    #[arg(long = "keepalived.data-signal", id = "keepalived_data_signal", global = true)]
    pub data_signal: bool,

    /// Read keepalived's notify FIFO (keepalived.conf's notify_fifo) at this path, under
    /// --path.rootfs, and count VRRP transitions as they happen.
    #[arg(long = "keepalived.notify-fifo", id = "keepalived_notify_fifo", value_name = "PATH", global = true)]
    pub notify_fifo: Option<PathBuf>,

    /// Listen for VRRP adverts (IP protocol 112) on the VRRP instances' interfaces and
    /// export who advertises at what priority (needs CAP_NET_RAW).
    #[arg(long = "collector.vrrp.listen", id = "vrrp_listen", global = true)]
    pub vrrp_listen: bool,
}

impl KeepalivedFlags {
    /// The collector's options these flags set; the rest at their defaults.
    pub fn options(&self) -> KeepalivedOptions {
        KeepalivedOptions {
            config_file: self.config_file.clone(),
            pid_file: self.pid_file.clone(),
            json_file: self.json_file.clone(),
            json_max_age: self.json_max_age,
            signal: self.signal,
            notify_fifo: self.notify_fifo.clone(),
            listen: self.vrrp_listen,
            data_signal: self.data_signal,
            ..KeepalivedOptions::default()
        }
    }
}

/// What the keepalived collector does: its flags' values ([`KeepalivedFlags::options`]) and
/// the rest of its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeepalivedOptions {
    /// keepalived.conf, as keepalived names it (resolved under `--path.rootfs`).
    pub config_file: PathBuf,
    /// keepalived's pid file (under `--path.rootfs`).
    pub pid_file: PathBuf,
    /// keepalived's JSON dump (under `--path.rootfs`).
    pub json_file: PathBuf,
    /// A dump written longer ago than this is not used.
    pub json_max_age: Duration,
    /// Send keepalived SIGRTMIN+2 before each read so that it writes a fresh dump.
    pub signal: bool,
    /// keepalived's notify FIFO (under `--path.rootfs`), read in the background when set.
    pub notify_fifo: Option<PathBuf>,
    /// Listen for VRRP adverts on the instances' interfaces (needs CAP_NET_RAW).
    pub listen: bool,
    /// Send keepalived SIGUSR1 before each read so that it writes its data dump
    /// (`keepalived.data` and `keepalived_check.data`, beside the JSON dump).
    pub data_signal: bool,
    /// How far back state changes count for flapping.
    pub flapping_window: Duration,
}

impl Default for KeepalivedOptions {
    fn default() -> Self {
        KeepalivedOptions {
            config_file: PathBuf::from("/etc/keepalived/keepalived.conf"),
            pid_file: PathBuf::from("/run/keepalived.pid"),
            json_file: PathBuf::from("/tmp/keepalived.json"),
            json_max_age: Duration::from_secs(60),
            signal: false,
            notify_fifo: None,
            listen: false,
            data_signal: false,
            flapping_window: DEFAULT_FLAPPING_WINDOW,
        }
    }
}

/// The default flapping window: state changes within the last 10 minutes count.
pub const DEFAULT_FLAPPING_WINDOW: Duration = Duration::from_secs(600);

pub struct KeepalivedCollector {
    paths: Paths,
    options: KeepalivedOptions,
    interfaces: SharedInterfaces,
    fifo: Option<NotifyFifo>,
    listener: Option<VrrpListener>,
    history: Mutex<TransitionHistory>,
}

impl KeepalivedCollector {
    pub fn new(paths: Paths, options: KeepalivedOptions) -> Self {
        Self::sharing(paths, options, SharedInterfaces::default())
    }

    pub fn with_transport(paths: Paths, options: KeepalivedOptions, connect: Connect) -> Self {
        Self::sharing(paths, options, SharedInterfaces::with_transport(connect))
    }

    /// Reads links and addresses through `interfaces`, shared with the interfaces collector.
    pub fn sharing(paths: Paths, options: KeepalivedOptions, interfaces: SharedInterfaces) -> Self {
        let fifo = options.notify_fifo.as_ref().map(|path| {
            let (for_paths, for_options) = (paths.clone(), options.clone());
            let fifo = path.to_string_lossy().into_owned();
            NotifyFifo::start_under(
                Rootfs::new(&paths.rootfs),
                path.clone(),
                Arc::new(move || explain_missing_fifo(&for_paths, &for_options, &fifo)),
            )
        });
        let listener = options.listen.then(VrrpListener::new);
        KeepalivedCollector {
            paths,
            options,
            interfaces,
            fifo,
            listener,
            history: Mutex::new(TransitionHistory::default()),
        }
    }
}

/// Why the notify FIFO at `fifo` may be missing, from keepalived's configuration and process.
fn explain_missing_fifo(paths: &Paths, options: &KeepalivedOptions, fifo: &str) -> String {
    let running = check_process(paths, &options.pid_file).is_ok_and(|p| p.running);
    match read_config(paths, options) {
        Ok(config) => why_fifo_missing(&config, fifo, running),
        Err(err) => format!(
            "keepalived's configuration {} cannot be read ({err}); keepalived {}",
            options.config_file.display(),
            if running { "runs" } else { "is not running" }
        ),
    }
}

/// The `keepalived` collector, as [`COLLECTORS`](super::COLLECTORS) lists it.
pub const COLLECTOR: CollectorSpec = CollectorSpec {
    name: "keepalived",
    help: "keepalived's configuration and the VRRP role of each instance",
    enabled_by_default: true,
    build: build_collector,
};

fn build_collector(paths: &Paths, options: &CollectorOptions) -> Box<dyn Collector> {
    Box::new(KeepalivedCollector::sharing(
        paths.clone(),
        options.keepalived.clone(),
        options.interfaces.clone(),
    ))
}

impl Collector for KeepalivedCollector {
    fn collect(&self) -> Result<Collected, SourceError> {
        let rootfs = Rootfs::new(&self.paths.rootfs);
        let (config, mut problems) =
            match config::read_for_scrape(&rootfs, &self.options.config_file)? {
                ScrapedConfig::Missing(reason) => {
                    return Ok(Collected {
                        data: CollectedData::NoData { reason },
                        problems: Vec::new(),
                    });
                }
                ScrapedConfig::Read(config, problems) => (*config, problems),
            };
        let process = check_process(&self.paths, &self.options.pid_file)?;
        let keepalived_uid = process
            .pid
            .filter(|_| process.running)
            .and_then(|pid| process_uid(&self.paths.procfs, pid));
        let dump = json_dump::read_for_scrape(
            &rootfs,
            &self.options,
            &process,
            keepalived_uid,
            &mut problems,
        );
        let data_dumps = data_dump::read_for_scrape(
            &rootfs,
            &self.options,
            &process,
            keepalived_uid,
            &config,
            &mut problems,
        );
        let notify = self.fifo.as_ref().map(NotifyFifo::reading);
        let recent_transitions = history::recent_transitions(
            &self.history,
            notify.as_ref(),
            dump.as_ref(),
            &config,
            self.options.flapping_window,
        );
        let (roles, peers) = roles::observe(
            &config,
            process.running,
            &self.interfaces,
            self.listener.as_ref(),
            &mut problems,
        )?;
        Ok(Collected {
            data: CollectedData::Keepalived(Box::new(Keepalived {
                config_file: self.options.config_file.to_string_lossy().into_owned(),
                config,
                process,
                roles,
                dump,
                notify,
                peers,
                checker_dump: data_dumps.checker,
                vrrp_data_dump: data_dumps.vrrp,
                recent_transitions,
            })),
            problems,
        })
    }
}

impl crate::source::SnapshotPart for Box<Keepalived> {
    fn store(self, snapshot: &mut crate::model::snapshot::Snapshot) {
        snapshot.keepalived = Some(*self);
    }
}
