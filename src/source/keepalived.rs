//! The keepalived collector's I/O: keepalived.conf and what it includes (under
//! `--path.rootfs`), the pid file checked against procfs, and the interfaces and addresses of
//! the exporter's network namespace over rtnetlink. It never signals keepalived unless asked to
//! and never talks to it: the role of every VRRP instance comes from what the kernel shows.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use glob::{MatchOptions, Pattern};
use nix::errno::Errno;
use nix::libc;
use nix::unistd::Pid;

pub use super::interfaces::Connect;
use super::interfaces::SharedInterfaces;
use super::keepalived_fifo::NotifyFifo;
use super::rootfs::Rootfs;
use super::vrrp_listen::VrrpListener;
use super::{
    Collected, CollectedData, Collector, CollectorOptions, CollectorSpec, Paths, SourceError,
    read_optional,
};
use crate::model::interfaces::Interfaces;
use crate::model::keepalived::{Dump, Keepalived, KeepalivedProcess, infer_state};
use crate::parse::keepalived::{IncludeSource, MAX_CONFIG_BYTES, parse_config_from};
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

pub struct KeepalivedCollector {
    paths: Paths,
    options: KeepalivedOptions,
    interfaces: SharedInterfaces,
    fifo: Option<NotifyFifo>,
    listener: Option<VrrpListener>,
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
        let fifo = options
            .notify_fifo
            .as_ref()
            .map(|path| NotifyFifo::start_under(Rootfs::new(&paths.rootfs), path.clone()));
        let listener = options.listen.then(VrrpListener::new);
        KeepalivedCollector {
            paths,
            options,
            interfaces,
            fifo,
            listener,
        }
    }
}

/// A host path with `.` and `..` resolved as the kernel resolves them in a path without
/// symbolic links: `..` goes up one directory, never above `/`.
fn normalize(path: &Path) -> PathBuf {
    let mut normal = PathBuf::from("/");
    for component in path.components() {
        match component {
            Component::Normal(part) => normal.push(part),
            Component::ParentDir => {
                normal.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    normal
}

/// A path as the host names it, under the root the exporter was given, resolved as a process
/// chrooted there would resolve it ([`Rootfs::resolve`]): neither `..` nor a symbolic link
/// leaves the root; a link loop is an error.
fn under_root(rootfs: &Rootfs, path: &Path) -> std::io::Result<PathBuf> {
    Ok(rootfs.resolve(path)?)
}

/// How keepalived's glob(3) matches a name: a leading dot only by a literal dot.
const GLOB_OPTIONS: MatchOptions = MatchOptions {
    case_sensitive: true,
    require_literal_separator: true,
    require_literal_leading_dot: true,
};

/// The longest include pattern matched against directory entries (a file name is at most
/// 255 bytes; a longer pattern can only cost time).
const MAX_PATTERN_BYTES: usize = 1024;
/// How many entries of one directory are looked at for one include pattern.
const MAX_DIRECTORY_ENTRIES: usize = 65_536;

/// The files an include pattern names, sorted as glob(3) sorts them; wildcards (`*`, `?`,
/// `[...]`) in the last component only. Relative patterns are taken from the including
/// file's directory; `..` is resolved (without leaving the root). A pattern glob(3) would read
/// literally (an unclosed `[`) names one file. At most `max` names.
fn expand_include(
    rootfs: &Rootfs,
    including: &str,
    pattern: &str,
    max: usize,
) -> Result<Vec<String>, String> {
    let pattern_path = Path::new(pattern);
    let host_path = normalize(&if pattern_path.is_absolute() {
        pattern_path.to_path_buf()
    } else {
        Path::new(including)
            .parent()
            .unwrap_or(Path::new("/"))
            .join(pattern_path)
    });
    let Some(file_pattern) = host_path.file_name().and_then(|n| n.to_str()) else {
        return Ok(Vec::new());
    };
    if file_pattern.len() > MAX_PATTERN_BYTES {
        return Err(format!(
            "the pattern is longer than {MAX_PATTERN_BYTES} bytes"
        ));
    }
    let directory = host_path.parent().unwrap_or(Path::new("/")).to_path_buf();
    let wanted = match Pattern::new(file_pattern) {
        Ok(wanted) if Pattern::escape(file_pattern) != file_pattern => wanted,
        _ => {
            if under_root(rootfs, &host_path)
                .map_err(|e| e.to_string())?
                .exists()
            {
                return Ok(vec![host_path.to_string_lossy().into_owned()]);
            }
            return Ok(Vec::new());
        }
    };
    let listed = under_root(rootfs, &directory).map_err(|e| e.to_string())?;
    let Ok(entries) = std::fs::read_dir(listed) else {
        return Ok(Vec::new());
    };
    let mut names = Vec::new();
    for (seen, entry) in entries.filter_map(Result::ok).enumerate() {
        if seen >= MAX_DIRECTORY_ENTRIES {
            return Err(format!(
                "{} has more than {MAX_DIRECTORY_ENTRIES} entries",
                directory.display()
            ));
        }
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        if let Some(name) = entry.file_name().to_str()
            && wanted.matches_with(name, GLOB_OPTIONS)
        {
            names.push(name.to_string());
        }
    }
    names.sort();
    names.truncate(max);
    Ok(names
        .into_iter()
        .map(|name| directory.join(name).to_string_lossy().into_owned())
        .collect())
}

/// Reads at most `max_bytes` of a file as text: a longer file is an error, and so is one that
/// is not a regular file (a FIFO or a device would block or never end).
fn read_bounded(path: &Path, max_bytes: usize) -> std::io::Result<String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    // Opened without blocking: opening a FIFO for reading would wait for a writer. Paths
    // come resolved under the root, links and all: a link that appears in the last component
    // since is refused, not followed.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let mut text = Vec::new();
    let limit = u64::try_from(max_bytes)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    file.take(limit).read_to_end(&mut text)?;
    if text.len() > max_bytes {
        return Err(std::io::Error::other(format!(
            "longer than {max_bytes} bytes"
        )));
    }
    String::from_utf8(text).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// Included files, listed and read under `--path.rootfs`.
struct RootedIncludes<'a> {
    rootfs: &'a Rootfs,
}

impl IncludeSource for RootedIncludes<'_> {
    fn expand(
        &mut self,
        including: &str,
        pattern: &str,
        max: usize,
    ) -> Result<Vec<String>, String> {
        expand_include(self.rootfs, including, pattern, max)
    }

    fn read(&mut self, name: &str, max_bytes: usize) -> Result<String, String> {
        under_root(self.rootfs, Path::new(name))
            .and_then(|path| read_bounded(&path, max_bytes))
            .map_err(|e| e.to_string())
    }
}

/// Reads the pid file and checks that the pid is a live keepalived.
fn check_process(paths: &Paths, pid_file: &Path) -> Result<KeepalivedProcess, SourceError> {
    let rootfs = Rootfs::new(&paths.rootfs);
    let path = under_root(&rootfs, pid_file).map_err(|source| SourceError::Read {
        path: pid_file.to_path_buf(),
        source,
    })?;
    let text = read_optional(&path)?;
    let pid = text.and_then(|t| t.trim().parse::<u32>().ok());
    let running = match pid {
        Some(pid) => read_optional(&paths.procfs.join(pid.to_string()).join("comm"))?
            .is_some_and(|comm| comm.trim() == "keepalived"),
        None => false,
    };
    Ok(KeepalivedProcess { pid, running })
}

/// The largest JSON dump read (keepalived writes a few KiB per instance).
const MAX_DUMP_BYTES: usize = 16 << 20;

/// Whether a dump with this owner and mode may be believed: keepalived writes it as root (or
/// as the user it runs as); a file someone else owns, or anyone may write, could say anything.
fn dump_owner_trusted(uid: u32, mode: u32, keepalived_uid: Option<u32>) -> Result<(), String> {
    if mode & 0o002 != 0 {
        return Err(format!(
            "it is writable by every user (mode {:o})",
            mode & 0o7777
        ));
    }
    if uid != 0 && Some(uid) != keepalived_uid {
        return Err(format!(
            "it is owned by uid {uid}, neither root nor keepalived's user"
        ));
    }
    Ok(())
}

/// Checks the dump's owner and mode ([`dump_owner_trusted`]); a missing dump passes (the
/// read then finds none). Symbolic links are not followed for the check: the link's target
/// must itself be trusted, so the target is checked.
fn check_dump_owner(path: &Path, keepalived_uid: Option<u32>) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    match std::fs::metadata(path) {
        Ok(meta) => dump_owner_trusted(meta.uid(), meta.mode(), keepalived_uid).map_err(|why| {
            format!(
                "keepalived's JSON dump {} is not used: {why}",
                path.display()
            )
        }),
        Err(_) => Ok(()),
    }
}

/// The user keepalived runs as: the owner of its /proc/PID directory.
fn process_uid(procfs: &Path, pid: u32) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(procfs.join(pid.to_string()))
        .ok()
        .map(|m| m.uid())
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
        let text = match read_bounded(path, MAX_DUMP_BYTES) {
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
    Box::new(KeepalivedCollector::sharing(
        paths.clone(),
        options.keepalived.clone(),
        options.interfaces.clone(),
    ))
}

impl Collector for KeepalivedCollector {
    fn collect(&self) -> Result<Collected, SourceError> {
        let config_name = self.options.config_file.to_string_lossy().into_owned();
        let rootfs = Rootfs::new(&self.paths.rootfs);
        let config_path =
            under_root(&rootfs, &self.options.config_file).map_err(|source| SourceError::Read {
                path: self.options.config_file.clone(),
                source,
            })?;
        let text = match read_bounded(&config_path, MAX_CONFIG_BYTES) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Collected {
                    data: CollectedData::NoData {
                        reason: format!("{} does not exist", config_path.display()),
                    },
                    problems: Vec::new(),
                });
            }
            Err(e) => {
                return Err(SourceError::Read {
                    path: config_path,
                    source: e,
                });
            }
        };
        let config =
            parse_config_from(&config_name, &text, &mut RootedIncludes { rootfs: &rootfs });
        let mut problems: Vec<String> = config
            .errors
            .iter()
            .map(|e| format!("keepalived configuration: {e}"))
            .collect();
        let process = check_process(&self.paths, &self.options.pid_file)?;
        let keepalived_uid = process
            .pid
            .filter(|_| process.running)
            .and_then(|pid| process_uid(&self.paths.procfs, pid));
        // The dump is optional: a path that cannot be resolved is a problem, not a failure.
        let dump = match under_root(&rootfs, &self.options.json_file) {
            Err(err) => {
                problems.push(format!(
                    "keepalived's JSON dump {} is not used: {err}",
                    self.options.json_file.display()
                ));
                None
            }
            Ok(json_path) => {
                if self.options.signal
                    && let (true, Some(pid)) = (process.running, process.pid)
                    && let Err(problem) = request_dump(pid, &json_path)
                {
                    problems.push(problem);
                }
                let trusted = check_dump_owner(&json_path, keepalived_uid);
                match trusted.and_then(|()| read_dump(&json_path, self.options.json_max_age)) {
                    Ok(dump) => dump,
                    Err(problem) => {
                        problems.push(problem);
                        None
                    }
                }
            }
        };
        let interfaces = if config.instances.is_empty() {
            Arc::new(Interfaces::default())
        } else {
            self.interfaces.read().map_err(SourceError::Netlink)?
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
                checker_dump: None,
            })),
            problems,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Scratch;

    /// `path` under `root`, resolved as the collector resolves it.
    fn under(root: &Path, path: &str) -> PathBuf {
        under_root(&Rootfs::new(root), Path::new(path))
            .unwrap_or_else(|e| panic!("{path} under {}: {e}", root.display()))
    }

    #[test]
    fn paths_stay_under_the_root() {
        assert_eq!(
            under(Path::new("/fx"), "/etc/../../k.conf"),
            PathBuf::from("/fx/k.conf")
        );
        assert_eq!(
            under(Path::new("/fx"), "/etc/keepalived/conf.d/../common.conf"),
            PathBuf::from("/fx/etc/keepalived/common.conf")
        );
    }

    #[test]
    fn includes_expand_relative_to_the_including_file_and_sort() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let found = expand_include(
            &Rootfs::new(&root),
            "/keepalived-conf/with-includes.conf",
            "conf.d/*.conf",
            10,
        )
        .expect("listed");
        assert_eq!(
            found,
            vec![
                "/keepalived-conf/conf.d/10-vrrp.conf",
                "/keepalived-conf/conf.d/20-lvs.conf"
            ]
        );
        assert_eq!(
            expand_include(
                &Rootfs::new(&root),
                "/keepalived-conf/x.conf",
                "nothing/*.conf",
                10
            ),
            Ok(Vec::new())
        );
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
        expand_include(&Rootfs::new(root), "/keepalived.conf", pattern, 100).expect("listed")
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

    /// A root holding `files` (host path, text), as `--path.rootfs` would.
    fn rootfs_with(name: &str, files: &[(&str, &str)]) -> Scratch {
        let dir = Scratch::new("keepalived-rootfs", name, "root");
        for (path, text) in files {
            let at = under(&dir, path);
            if let Some(parent) = at.parent() {
                std::fs::create_dir_all(parent).expect("make a directory");
            }
            std::fs::write(at, text).expect("write a file");
        }
        dir
    }

    fn parse_under(root: &Path, main: &str) -> crate::model::keepalived::KeepalivedConfig {
        let text = read_bounded(&under(root, main), MAX_CONFIG_BYTES).expect("the main file");
        parse_config_from(
            main,
            &text,
            &mut RootedIncludes {
                rootfs: &Rootfs::new(root),
            },
        )
    }

    #[test]
    fn include_dot_dot_resolves_as_keepalived_does_but_stays_under_the_root() {
        let root = rootfs_with(
            "dotdot",
            &[
                ("/etc/keepalived/keepalived.conf", "include conf.d/a.conf\n"),
                (
                    "/etc/keepalived/conf.d/a.conf",
                    "include ../common.conf\ninclude ../../../../../../outside.conf\n",
                ),
                ("/etc/keepalived/common.conf", "vrrp_instance COMMON {\n}\n"),
                ("/outside.conf", "vrrp_instance TOP {\n}\n"),
            ],
        );
        // A file beside the root, which `..` from the top of the root must not reach.
        let beside = root
            .parent()
            .and_then(Path::parent)
            .map(|p| p.join("outside.conf"));
        let config = parse_under(&root, "/etc/keepalived/keepalived.conf");
        assert_eq!(
            config.files,
            vec![
                "/etc/keepalived/keepalived.conf",
                "/etc/keepalived/conf.d/a.conf",
                "/etc/keepalived/common.conf",
                "/outside.conf",
            ]
        );
        let names: Vec<&str> = config.instances.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, vec!["COMMON", "TOP"], "{:?}", config.errors);
        assert!(beside.is_some_and(|b| !b.exists()));
    }

    #[test]
    fn symbolic_links_in_the_root_are_followed_inside_it() {
        use std::os::unix::fs::symlink;
        let root = rootfs_with(
            "links",
            &[
                ("/etc/keepalived/keepalived.conf", "include conf.d/*.conf\n"),
                ("/outside.conf", "vrrp_instance INSIDE_TOP {\n}\n"),
            ],
        );
        // Beside the root, where no link from inside it may lead.
        let beside = root
            .parent()
            .expect("the scratch directory")
            .join("outside.conf");
        std::fs::write(&beside, "vrrp_instance OUTSIDE_MARKER {\n}\n").expect("write");
        let conf_d = under(&root, "/etc/keepalived/conf.d");
        std::fs::create_dir_all(&conf_d).expect("mkdir");
        // By the outside file's full path: inside the root that path does not exist.
        symlink(&beside, conf_d.join("10-absolute.conf")).expect("link");
        // Climbing with `..` past the root's top: stops there, at the root's /outside.conf.
        symlink("../../../../../outside.conf", conf_d.join("20-up.conf")).expect("link");
        // A loop.
        symlink("30-loop.conf", conf_d.join("30-loop.conf")).expect("link");
        let config = parse_under(&root, "/etc/keepalived/keepalived.conf");
        let names: Vec<&str> = config.instances.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, vec!["INSIDE_TOP"], "{:?}", config.errors);
        let errors: Vec<String> = config.errors.iter().map(|e| e.to_string()).collect();
        assert!(
            errors
                .iter()
                .any(|e| e.contains("30-loop.conf") && e.contains("symbolic links")),
            "{errors:?}"
        );
        assert!(
            errors.iter().any(|e| e.contains("10-absolute.conf")),
            "{errors:?}"
        );
    }

    #[test]
    fn a_linked_main_configuration_is_read_inside_the_root() {
        use std::os::unix::fs::symlink;
        let root = rootfs_with("main-link", &[("/etc/keepalived/.keep", "")]);
        let beside = root.parent().expect("the scratch directory").join("k.conf");
        std::fs::write(&beside, "global_defs {\n  router_id OUTSIDE_MARKER\n}\n").expect("write");
        symlink(&beside, under(&root, "/etc/keepalived/keepalived.conf")).expect("link");
        let collector = KeepalivedCollector::new(
            Paths {
                rootfs: root.to_path_buf(),
                ..Paths::default()
            },
            KeepalivedOptions::default(),
        );
        match collector.collect() {
            Ok(Collected {
                data: CollectedData::NoData { reason },
                ..
            }) => assert!(reason.contains("does not exist"), "{reason}"),
            other => panic!("the outside file was read: {other:?}"),
        }
    }

    /// The shape that made doctor time out at about 1 GB: thirty-one files in one directory,
    /// each including the whole directory.
    #[test]
    fn thirty_one_files_that_include_their_directory_are_read_in_bounded_time() {
        let text = "include /etc/keepalived/*.conf\nvrrp_instance VI {\n}\n";
        let names: Vec<String> = (0..31)
            .map(|i| format!("/etc/keepalived/{i:02}.conf"))
            .chain(std::iter::once(
                "/etc/keepalived/keepalived.conf".to_string(),
            ))
            .collect();
        let files: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), text)).collect();
        let root = rootfs_with("fanout", &files);
        let started = std::time::Instant::now();
        let config = parse_under(&root, "/etc/keepalived/keepalived.conf");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        assert!(config.files.len() <= crate::parse::keepalived::MAX_CONFIG_FILES);
        assert!(!config.errors.is_empty());
    }

    #[test]
    fn an_include_of_a_fifo_or_a_huge_file_is_an_error_not_a_hang() {
        let root = rootfs_with(
            "special",
            &[("/k.conf", "include /big.conf\ninclude /dev/zero\n")],
        );
        let big = under(&root, "/big.conf");
        std::fs::write(&big, vec![b'#'; MAX_CONFIG_BYTES + 1]).expect("write");
        let dev = under(&root, "/dev");
        std::fs::create_dir_all(&dev).expect("mkdir");
        let made = std::process::Command::new("mkfifo")
            .arg(dev.join("zero"))
            .status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo");
        let config = parse_under(&root, "/k.conf");
        let messages: Vec<String> = config.errors.iter().map(|e| e.to_string()).collect();
        assert!(
            messages
                .iter()
                .any(|m| m.contains("/dev/zero") && m.contains("not a regular file")),
            "{messages:?}"
        );
        assert!(
            messages.iter().any(|m| m.contains("/big.conf")),
            "{messages:?}"
        );
    }

    #[test]
    fn a_json_dump_is_used_only_when_root_or_keepalived_owns_it_and_others_cannot_write_it() {
        assert_eq!(dump_owner_trusted(0, 0o100644, None), Ok(()));
        assert_eq!(dump_owner_trusted(998, 0o100600, Some(998)), Ok(()));
        assert!(dump_owner_trusted(1000, 0o100644, Some(998)).is_err());
        assert!(dump_owner_trusted(1000, 0o100644, None).is_err());
        assert!(dump_owner_trusted(0, 0o100666, None).is_err());
        assert!(dump_owner_trusted(0, 0o100602, Some(0)).is_err());
        // The file-level check, on a file this test writes and then opens to everyone.
        let path = scratch("dump-mode");
        std::fs::write(&*path, DUMP).expect("write the dump");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&*path, std::fs::Permissions::from_mode(0o666)).expect("chmod");
        let me = std::fs::metadata(&*path)
            .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
            .ok();
        let refused = check_dump_owner(&path, me);
        assert!(
            refused
                .as_ref()
                .is_err_and(|e| e.contains("writable by every user")),
            "{refused:?}"
        );
        std::fs::set_permissions(&*path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert_eq!(check_dump_owner(&path, me), Ok(()));
        assert_eq!(
            check_dump_owner(&path.with_extension("missing"), me),
            Ok(())
        );
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
