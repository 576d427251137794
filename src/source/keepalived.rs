//! The keepalived collector's I/O: keepalived.conf and what it includes (under
//! `--path.rootfs`), the pid file checked against procfs, and the interfaces and addresses of
//! the exporter's network namespace over rtnetlink. It never signals keepalived unless asked to
//! and never talks to it: the role of every VRRP instance comes from what the kernel shows.

use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime};

use glob::{MatchOptions, Pattern};
use nix::errno::Errno;
use nix::libc;
use nix::unistd::Pid;

use super::interfaces::read_interfaces;
use super::keepalived_fifo::NotifyFifo;
use super::netlink::{Protocol, SocketTransport, Transport, TransportError};
use super::vrrp_listen::VrrpListener;
use super::{
    Collected, CollectedData, Collector, CollectorOptions, CollectorSpec, Paths, SourceError,
    read_optional,
};
use crate::model::interfaces::Interfaces;
use crate::model::keepalived::{Dump, Keepalived, KeepalivedProcess, infer_state};
use crate::parse::keepalived::{Included, parse_config};
use crate::parse::keepalived_json::parse_dump;

/// The `--keepalived.*` flags.
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
        }
    }
}

/// Opens the rtnetlink connection (a real socket, or canned replies in tests).
pub type Connect = fn() -> Result<Box<dyn Transport>, TransportError>;

fn connect_route() -> Result<Box<dyn Transport>, TransportError> {
    Ok(Box::new(SocketTransport::connect_to(Protocol::Route)?))
}

pub struct KeepalivedCollector {
    paths: Paths,
    options: KeepalivedOptions,
    connect: Connect,
    fifo: Option<NotifyFifo>,
    listener: Option<VrrpListener>,
}

impl KeepalivedCollector {
    pub fn new(paths: Paths, options: KeepalivedOptions) -> Self {
        Self::with_transport(paths, options, connect_route)
    }

    pub fn with_transport(paths: Paths, options: KeepalivedOptions, connect: Connect) -> Self {
        let fifo = options
            .notify_fifo
            .as_ref()
            .map(|path| NotifyFifo::start(under_root(&paths.rootfs, path)));
        let listener = options.listen.then(VrrpListener::new);
        KeepalivedCollector {
            paths,
            options,
            connect,
            fifo,
            listener,
        }
    }
}

/// A path as the host names it, under the root the exporter was given.
fn under_root(rootfs: &Path, path: &Path) -> PathBuf {
    let relative: PathBuf = path
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect();
    rootfs.join(relative)
}

/// How keepalived's glob(3) matches a name: a leading dot only by a literal dot.
const GLOB_OPTIONS: MatchOptions = MatchOptions {
    case_sensitive: true,
    require_literal_separator: true,
    require_literal_leading_dot: true,
};

/// The files an include pattern names, sorted as glob(3) sorts them; wildcards (`*`, `?`,
/// `[...]`) in the last component only. Relative patterns are taken from the including
/// file's directory. A pattern glob(3) would read literally (an unclosed `[`) names one file.
fn expand_include(rootfs: &Path, including: &str, pattern: &str) -> Included {
    let pattern_path = Path::new(pattern);
    let host_path = if pattern_path.is_absolute() {
        pattern_path.to_path_buf()
    } else {
        Path::new(including)
            .parent()
            .unwrap_or(Path::new("/"))
            .join(pattern_path)
    };
    let Some(file_pattern) = host_path.file_name().and_then(|n| n.to_str()) else {
        return Vec::new();
    };
    let directory = host_path.parent().unwrap_or(Path::new("/")).to_path_buf();
    let read = |host: PathBuf| -> (String, Result<String, String>) {
        let text = std::fs::read_to_string(under_root(rootfs, &host)).map_err(|e| e.to_string());
        (host.to_string_lossy().into_owned(), text)
    };
    let wanted = match Pattern::new(file_pattern) {
        Ok(wanted) if Pattern::escape(file_pattern) != file_pattern => wanted,
        _ => {
            if under_root(rootfs, &host_path).exists() {
                return vec![read(host_path)];
            }
            return Vec::new();
        }
    };
    let Ok(entries) = std::fs::read_dir(under_root(rootfs, &directory)) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| !t.is_dir()))
        .filter_map(|e| e.file_name().to_str().map(String::from))
        .filter(|name| wanted.matches_with(name, GLOB_OPTIONS))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| read(directory.join(name)))
        .collect()
}

/// Reads the pid file and checks that the pid is a live keepalived.
fn check_process(paths: &Paths, pid_file: &Path) -> Result<KeepalivedProcess, SourceError> {
    let text = read_optional(&under_root(&paths.rootfs, pid_file))?;
    let pid = text.and_then(|t| t.trim().parse::<u32>().ok());
    let running = match pid {
        Some(pid) => read_optional(&paths.procfs.join(pid.to_string()).join("comm"))?
            .is_some_and(|comm| comm.trim() == "keepalived"),
        None => false,
    };
    Ok(KeepalivedProcess { pid, running })
}

/// How often a dump that looks half-written is read again, and how long apart.
const DUMP_ATTEMPTS: usize = 4;
const DUMP_RETRY: Duration = Duration::from_millis(50);

fn modified(path: &Path) -> std::io::Result<(u64, SystemTime)> {
    let meta = std::fs::metadata(path)?;
    Ok((meta.len(), meta.modified()?))
}

/// Reads keepalived's JSON dump. `Ok(None)`: no dump, or one older than `max_age`. keepalived
/// rewrites the file in place, so a read that races a rewrite sees it cut short or changing
/// under it: such a read is retried a few times, then given up for this scrape.
pub fn read_dump(path: &Path, max_age: Duration) -> Result<Option<Dump>, String> {
    let mut last_problem = String::new();
    for attempt in 0..DUMP_ATTEMPTS {
        if attempt > 0 {
            std::thread::sleep(DUMP_RETRY);
        }
        let before = match modified(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        let age = SystemTime::now()
            .duration_since(before.1)
            .unwrap_or(Duration::ZERO);
        if age > max_age {
            tracing::debug!(path = %path.display(), age = ?age, "keepalived's JSON dump is stale; not used");
            return Ok(None);
        }
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        if modified(path).ok() != Some(before) {
            last_problem = format!("{} changed while it was read", path.display());
            continue;
        }
        match parse_dump(&text) {
            Ok(instances) => {
                return Ok(Some(Dump {
                    age_seconds: age.as_secs_f64(),
                    instances,
                }));
            }
            Err(e) => last_problem = format!("{}: {e}", path.display()),
        }
    }
    Err(format!(
        "{last_problem} ({DUMP_ATTEMPTS} reads); not used in this scrape"
    ))
}

/// The signal that makes keepalived write its JSON dump: keepalived numbers it from the C
/// library's SIGRTMIN, which is not a constant (glibc keeps the first ones for itself).
pub fn dump_signal() -> i32 {
    libc::SIGRTMIN() + 2
}

/// How long to wait for keepalived to write its dump after the signal.
const DUMP_WAIT: Duration = Duration::from_secs(1);

/// Sends keepalived its dump signal. `nix::sys::signal::kill` only takes the standard
/// signals of its `Signal` enum, which has no real-time ones (rustix refuses the C library's
/// real-time range too), so this one call stays on kill(2); nix types the pid and the error.
fn send_dump_signal(pid: Pid) -> Result<(), Errno> {
    // SAFETY: kill(2) takes plain integers and touches no memory of this process.
    Errno::result(unsafe { libc::kill(pid.as_raw(), dump_signal()) }).map(drop)
}

/// Asks keepalived for a fresh dump and waits until the file changes (or a second passes).
fn request_dump(pid: u32, path: &Path) -> Result<(), String> {
    let before = modified(path).ok();
    let Ok(pid) = libc::pid_t::try_from(pid).map(Pid::from_raw) else {
        return Err(format!("pid {pid} is out of range"));
    };
    if let Err(errno) = send_dump_signal(pid) {
        return Err(format!(
            "cannot signal keepalived (pid {pid}) for its JSON dump: {}",
            std::io::Error::from(errno)
        ));
    }
    let started = std::time::Instant::now();
    while started.elapsed() < DUMP_WAIT {
        std::thread::sleep(Duration::from_millis(20));
        let now = modified(path).ok();
        if now.is_some() && now != before {
            return Ok(());
        }
    }
    Err(format!(
        "keepalived (pid {pid}) did not write {} within {DUMP_WAIT:?} of the signal",
        path.display()
    ))
}

/// The `keepalived` collector, as [`COLLECTORS`](super::COLLECTORS) lists it.
pub const COLLECTOR: CollectorSpec = CollectorSpec {
    name: "keepalived",
    help: "keepalived's configuration and the VRRP role of each instance",
    enabled_by_default: true,
    build: build_collector,
};

fn build_collector(paths: &Paths, options: &CollectorOptions) -> Box<dyn Collector> {
    Box::new(KeepalivedCollector::new(
        paths.clone(),
        options.keepalived.clone(),
    ))
}

impl Collector for KeepalivedCollector {
    fn collect(&self) -> Result<Collected, SourceError> {
        let config_name = self.options.config_file.to_string_lossy().into_owned();
        let config_path = under_root(&self.paths.rootfs, &self.options.config_file);
        let Some(text) = read_optional(&config_path)? else {
            return Ok(Collected {
                data: CollectedData::NoData {
                    reason: format!("{} does not exist", config_path.display()),
                },
                problems: Vec::new(),
            });
        };
        let rootfs = self.paths.rootfs.clone();
        let config = parse_config(&config_name, &text, &mut |including, pattern| {
            expand_include(&rootfs, including, pattern)
        });
        let mut problems: Vec<String> = config
            .errors
            .iter()
            .map(|e| format!("keepalived configuration: {e}"))
            .collect();
        let process = check_process(&self.paths, &self.options.pid_file)?;
        let json_path = under_root(&self.paths.rootfs, &self.options.json_file);
        if self.options.signal
            && let (true, Some(pid)) = (process.running, process.pid)
            && let Err(problem) = request_dump(pid, &json_path)
        {
            problems.push(problem);
        }
        let dump = match read_dump(&json_path, self.options.json_max_age) {
            Ok(dump) => dump,
            Err(problem) => {
                problems.push(problem);
                None
            }
        };
        let interfaces = if config.instances.is_empty() {
            Interfaces::default()
        } else {
            let mut transport = (self.connect)().map_err(SourceError::Netlink)?;
            read_interfaces(transport.as_mut()).map_err(SourceError::Netlink)?
        };
        let peers = self.listener.as_ref().map(|listener| {
            let mut names: Vec<String> = config
                .instances
                .iter()
                .filter_map(|i| i.interface.clone())
                .collect();
            names.sort();
            names.dedup();
            problems.extend(listener.listen_on(&names, &interfaces));
            listener.peers()
        });
        let roles = config
            .instances
            .iter()
            .map(|instance| infer_state(instance, process.running, &interfaces))
            .collect();
        Ok(Collected {
            data: CollectedData::Keepalived(Box::new(Keepalived {
                config_file: config_name,
                config,
                process,
                roles,
                dump,
                notify: self.fifo.as_ref().map(NotifyFifo::reading),
                peers,
            })),
            problems,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Scratch;

    #[test]
    fn paths_stay_under_the_root() {
        assert_eq!(
            under_root(Path::new("/fx"), Path::new("/etc/../../k.conf")),
            PathBuf::from("/fx/etc/k.conf")
        );
    }

    #[test]
    fn includes_expand_relative_to_the_including_file_and_sort() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let found = expand_include(
            &root,
            "/keepalived-conf/with-includes.conf",
            "conf.d/*.conf",
        );
        let names: Vec<&str> = found.iter().map(|f| f.0.as_str()).collect();
        assert_eq!(
            names,
            vec![
                "/keepalived-conf/conf.d/10-vrrp.conf",
                "/keepalived-conf/conf.d/20-lvs.conf"
            ]
        );
        assert!(found.iter().all(|f| f.1.is_ok()));
        assert!(expand_include(&root, "/keepalived-conf/x.conf", "nothing/*.conf").is_empty());
    }

    /// A directory holding `names` as empty files (and `sub.conf` as a directory).
    fn include_dir(name: &str, names: &[&str]) -> Scratch {
        let dir = Scratch::new("keepalived-include", name, "keepalived.conf");
        let parent = dir.parent().expect("a scratch file has a directory");
        std::fs::create_dir_all(parent.join("sub.conf")).expect("make a directory");
        for name in names {
            std::fs::write(parent.join(name), "").expect("write an include");
        }
        dir
    }

    fn expanded(dir: &Scratch, pattern: &str) -> Vec<String> {
        let root = dir.parent().unwrap_or(Path::new("/"));
        expand_include(root, "/keepalived.conf", pattern)
            .into_iter()
            .map(|(name, _)| name)
            .collect()
    }

    #[test]
    fn include_patterns_match_as_glob_3_does() {
        let dir = include_dir(
            "glob",
            &[
                "vi_1.conf",
                "vi_2.conf",
                "vi_3.conf",
                "vi_a.conf",
                "vi_10.conf",
                ".vi_1.conf",
                "vi_[1].conf",
                "a.conf.bak",
            ],
        );
        let files = |pattern| expanded(&dir, pattern);
        assert_eq!(
            files("vi_[12].conf"),
            vec!["/vi_1.conf", "/vi_2.conf"],
            "a class"
        );
        assert_eq!(
            files("vi_[0-9].conf"),
            vec!["/vi_1.conf", "/vi_2.conf", "/vi_3.conf"],
            "a range"
        );
        assert_eq!(
            files("vi_[!0-9].conf"),
            vec!["/vi_a.conf"],
            "a negated range"
        );
        assert_eq!(files("vi_?.conf").len(), 4, "one character, not two");
        assert_eq!(
            files("*.conf").len(),
            6,
            "no hidden file, no directory, no .bak: {:?}",
            files("*.conf")
        );
        assert_eq!(
            files(".*.conf"),
            vec!["/.vi_1.conf"],
            "a literal leading dot"
        );
        assert_eq!(
            files("vi_[1.conf"),
            Vec::<String>::new(),
            "an unclosed bracket is read literally"
        );
        assert_eq!(files("vi_3.conf"), vec!["/vi_3.conf"], "no wildcard");
        assert_eq!(files("sub/*.conf"), Vec::<String>::new());
    }

    const DUMP: &str = include_str!("../../tests/fixtures/keepalived-json/master.json");

    fn scratch(name: &str) -> Scratch {
        Scratch::new("keepalived", name, "keepalived.json")
    }

    #[test]
    fn a_fresh_dump_is_read_and_a_missing_one_is_none() {
        let path = scratch("fresh");
        assert_eq!(read_dump(&path, Duration::from_secs(60)), Ok(None));
        std::fs::write(&path, DUMP).unwrap_or_default();
        let dump = read_dump(&path, Duration::from_secs(60));
        assert_eq!(
            dump.map(|d| d.map(|d| d.instances.len())),
            Ok(Some(1)),
            "the dump of one instance"
        );
    }

    #[test]
    fn a_stale_dump_is_not_used() {
        let path = scratch("stale");
        std::fs::write(&path, DUMP).unwrap_or_default();
        let old = SystemTime::now() - Duration::from_secs(120);
        if let Ok(file) = std::fs::File::options().write(true).open(&path) {
            let _ = file.set_modified(old);
        }
        assert_eq!(read_dump(&path, Duration::from_secs(60)), Ok(None));
        assert!(matches!(
            read_dump(&path, Duration::from_secs(600)),
            Ok(Some(_))
        ));
    }

    #[test]
    fn a_dump_read_while_keepalived_rewrites_it_is_read_again() {
        let path = scratch("rewrite");
        // what a reader sees when keepalived has truncated the file and written part of it
        let half = DUMP.get(..DUMP.len() / 2).unwrap_or_default();
        std::fs::write(&path, half).unwrap_or_default();
        let writer = {
            let path = path.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(10));
                std::fs::write(&path, DUMP)
            })
        };
        let dump = read_dump(&path, Duration::from_secs(60));
        let _ = writer.join();
        assert!(
            matches!(dump, Ok(Some(ref d)) if d.instances.len() == 1),
            "{dump:?}"
        );
    }

    #[test]
    fn a_dump_that_stays_cut_short_is_reported_not_used() {
        let path = scratch("cut");
        std::fs::write(&path, DUMP.get(..100).unwrap_or_default()).unwrap_or_default();
        let problem = read_dump(&path, Duration::from_secs(60));
        assert!(
            matches!(&problem, Err(p) if p.contains("not valid JSON")),
            "{problem:?}"
        );
    }

    #[test]
    fn the_dump_signal_is_counted_from_the_c_library_sigrtmin() {
        // glibc reserves the first real-time signals, so SIGRTMIN is 34 or more, not 32.
        assert!(libc::SIGRTMIN() >= 32);
        assert_eq!(dump_signal(), libc::SIGRTMIN() + 2);
        assert!(dump_signal() <= libc::SIGRTMAX());
    }

    #[test]
    fn the_dump_signal_reaches_the_process_as_that_number() {
        use std::os::unix::process::ExitStatusExt;
        // A process that does not handle SIGRTMIN+2 dies of it: its wait status names the
        // signal the kernel delivered.
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("sleep(1) runs");
        let pid = Pid::from_raw(i32::try_from(child.id()).expect("pid fits"));
        assert_eq!(send_dump_signal(pid), Ok(()));
        let status = child.wait().expect("wait for sleep");
        assert_eq!(status.signal(), Some(dump_signal()));
        // No pid reaches i32::MAX (pid_max is at most 2^22): the kernel's error, typed.
        assert_eq!(send_dump_signal(Pid::from_raw(i32::MAX)), Err(Errno::ESRCH));
    }
}
