//! The keepalived collector's I/O: keepalived.conf and what it includes (under
//! `--path.rootfs`), the pid file checked against procfs, and the interfaces and addresses of
//! the exporter's network namespace over rtnetlink, keepalived's JSON and data dumps when they
//! are fresh, and a bounded history of each instance's state changes for the flapping window.
//! It never signals keepalived unless asked to and never talks to it: the role of every VRRP
//! instance comes from what the kernel shows.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use glob::{MatchOptions, Pattern};
use nix::errno::Errno;
use nix::libc;
use nix::unistd::Pid;

pub use super::interfaces::Connect;
use super::interfaces::SharedInterfaces;
use super::keepalived_fifo::NotifyFifo;
use super::rootfs::Rootfs;
use super::text_file::{SMALL_FILE_BYTES, read_text};
use super::vrrp_listen::VrrpListener;
use super::{
    Collected, CollectedData, Collector, CollectorOptions, CollectorSpec, Paths, SourceError,
};
use crate::model::interfaces::Interfaces;
use crate::model::keepalived::{
    Accounts, CheckerDump, Dump, Keepalived, KeepalivedConfig, KeepalivedProcess, NotifyReading,
    RecentTransitions, TransitionSource, VrrpDataDump, VrrpState, infer_state,
    script_accounts_needed, why_fifo_missing,
};
use crate::parse::accounts::account_names;
use crate::parse::keepalived::{IncludeSource, MAX_CONFIG_BYTES, parse_config_from};
use crate::parse::keepalived_data::{DataDump, parse_data_dump};
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
            .map_err(|e| e.to_string())
            .and_then(|path| match read_text(&path, max_bytes) {
                Ok(Some(text)) => Ok(text),
                Ok(None) => Err("no such file".into()),
                Err(e) => Err(e.reason()),
            })
    }
}

/// The largest /etc/passwd or /etc/group read.
const MAX_ACCOUNTS_BYTES: usize = 8 << 20;

/// Whether the accounts that the configuration's script statements look up exist, from
/// /etc/passwd and /etc/group under the root; an error when /etc/passwd cannot be read.
fn read_accounts(rootfs: &Rootfs, config: &KeepalivedConfig) -> Result<Accounts, String> {
    let (users, groups) = script_accounts_needed(&config.script_users);
    let names = |file: &str| -> Result<Vec<String>, String> {
        let path = under_root(rootfs, Path::new(file)).map_err(|e| format!("{file}: {e}"))?;
        let text = read_text(&path, MAX_ACCOUNTS_BYTES)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("{} does not exist", path.display()))?;
        Ok(account_names(&text).into_iter().map(String::from).collect())
    };
    let known_users = names("/etc/passwd")?;
    // Without /etc/group, no group is looked up (and none is claimed missing).
    let known_groups = if groups.is_empty() {
        Vec::new()
    } else {
        names("/etc/group").unwrap_or_default()
    };
    Ok(Accounts {
        users: users
            .into_iter()
            .map(|u| {
                let exists = known_users.contains(&u);
                (u, exists)
            })
            .collect(),
        groups: if known_groups.is_empty() {
            Vec::new()
        } else {
            groups
                .into_iter()
                .map(|g| {
                    let exists = known_groups.contains(&g);
                    (g, exists)
                })
                .collect()
        },
    })
}

/// Reads keepalived's configuration (and the accounts its scripts need) under the root.
fn read_config(paths: &Paths, options: &KeepalivedOptions) -> std::io::Result<KeepalivedConfig> {
    let rootfs = Rootfs::new(&paths.rootfs);
    let config_path = under_root(&rootfs, &options.config_file)?;
    let text = read_text(&config_path, MAX_CONFIG_BYTES)?
        .ok_or_else(|| std::io::Error::from_raw_os_error(libc::ENOENT))?;
    let name = options.config_file.to_string_lossy();
    let mut config = parse_config_from(&name, &text, &mut RootedIncludes { rootfs: &rootfs });
    config.accounts = read_accounts(&rootfs, &config).ok();
    Ok(config)
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

/// Reads the pid file and checks that the pid is a live keepalived.
fn check_process(paths: &Paths, pid_file: &Path) -> Result<KeepalivedProcess, SourceError> {
    let rootfs = Rootfs::new(&paths.rootfs);
    let path = under_root(&rootfs, pid_file).map_err(|source| SourceError::Read {
        path: pid_file.to_path_buf(),
        source,
    })?;
    let text = read_text(&path, SMALL_FILE_BYTES)?;
    let pid = text.and_then(|t| t.trim().parse::<u32>().ok());
    let running = match pid {
        Some(pid) => read_text(
            &paths.procfs.join(pid.to_string()).join("comm"),
            SMALL_FILE_BYTES,
        )?
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

/// Reads one of keepalived's dumps (`what` names it in logs) and parses it. `Ok(None)`: no
/// file, or one older than `max_age`. keepalived rewrites its dumps in place, so a read that
/// races a rewrite sees the file cut short or changing under it (its size or time moves, or it
/// does not parse): such a read is retried a few times, then given up for this scrape. The
/// value comes with the file's age in seconds.
fn read_fresh<T>(
    path: &Path,
    max_age: Duration,
    what: &str,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Option<(T, f64)>, String> {
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
            tracing::debug!(path = %path.display(), age = ?age, "keepalived's {what} is stale; not used");
            return Ok(None);
        }
        let text = match read_text(path, MAX_DUMP_BYTES) {
            Ok(Some(text)) => text,
            Ok(None) => return Ok(None),
            Err(e) => return Err(e.to_string()),
        };
        if modified(path).ok() != Some(before) {
            last_problem = format!("{} changed while it was read", path.display());
            continue;
        }
        match parse(&text) {
            Ok(value) => return Ok(Some((value, age.as_secs_f64()))),
            Err(e) => last_problem = format!("{}: {e}", path.display()),
        }
    }
    Err(format!(
        "{last_problem} ({DUMP_ATTEMPTS} reads); not used in this scrape"
    ))
}

/// Reads keepalived's JSON dump (see [`read_fresh`]).
pub fn read_dump(path: &Path, max_age: Duration) -> Result<Option<Dump>, String> {
    let read = read_fresh(path, max_age, "JSON dump", |text| {
        parse_dump(text).map_err(|e| e.to_string())
    })?;
    Ok(read.map(|(instances, age_seconds)| Dump {
        age_seconds,
        instances,
    }))
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

/// keepalived's data dump files, in the directory of its JSON dump (keepalived's temporary
/// directory): the VRRP process's and, since keepalived 2.1, the checker process's.
const VRRP_DATA_FILE: &str = "keepalived.data";
const CHECK_DATA_FILE: &str = "keepalived_check.data";

/// Sends keepalived SIGUSR1, which makes its processes write their data dumps.
fn send_data_signal(pid: Pid) -> Result<(), Errno> {
    // SAFETY: kill(2) takes plain integers and touches no memory of this process.
    Errno::result(unsafe { libc::kill(pid.as_raw(), libc::SIGUSR1) }).map(drop)
}

/// How long a freshly written data dump must stay unchanged before it is read: keepalived
/// writes it through stdio, in several writes.
const DATA_SETTLE: Duration = Duration::from_millis(60);

/// Asks keepalived for its data dumps and waits until each expected file changed and then
/// stayed unchanged for [`DATA_SETTLE`] (or a second passed).
fn request_data_dumps(pid: u32, paths: &[PathBuf]) -> Result<(), String> {
    let before: Vec<_> = paths.iter().map(|p| modified(p).ok()).collect();
    let Ok(pid) = libc::pid_t::try_from(pid).map(Pid::from_raw) else {
        return Err(format!("pid {pid} is out of range"));
    };
    if let Err(errno) = send_data_signal(pid) {
        return Err(format!(
            "cannot signal keepalived (pid {pid}) for its data dump: {}",
            std::io::Error::from(errno)
        ));
    }
    let started = Instant::now();
    let mut last: Vec<_> = before.clone();
    let mut steady_since = Instant::now();
    while started.elapsed() < DUMP_WAIT {
        std::thread::sleep(Duration::from_millis(20));
        let now: Vec<_> = paths.iter().map(|p| modified(p).ok()).collect();
        if now != last {
            last = now;
            steady_since = Instant::now();
            continue;
        }
        let all_changed = now
            .iter()
            .zip(&before)
            .all(|(now, before)| now.is_some() && now != before);
        if all_changed && steady_since.elapsed() >= DATA_SETTLE {
            return Ok(());
        }
    }
    Err(format!(
        "keepalived (pid {pid}) did not write its data dump within {DUMP_WAIT:?} of the signal"
    ))
}

/// Reads one data dump as text, with its age (see [`read_fresh`]).
fn read_data_file(path: &Path, max_age: Duration) -> Result<Option<(String, f64)>, String> {
    read_fresh(path, max_age, "data dump", |text| Ok(text.to_string()))
}

/// The two parts of keepalived's data dump, as this scrape read them.
#[derive(Debug, Default)]
struct DataDumps {
    checker: Option<CheckerDump>,
    vrrp: Option<VrrpDataDump>,
}

/// Reads the data dump files in `dir` that pass the owner check and are fresh; `problems`
/// gets why one was not used.
fn read_data_dumps(
    dir: &Path,
    keepalived_uid: Option<u32>,
    max_age: Duration,
    problems: &mut Vec<String>,
) -> DataDumps {
    let mut dumps = DataDumps::default();
    for name in [VRRP_DATA_FILE, CHECK_DATA_FILE] {
        let path = dir.join(name);
        let read = check_dump_owner(&path, keepalived_uid)
            .map_err(|why| why.replace("JSON dump", "data dump"))
            .and_then(|()| read_data_file(&path, max_age));
        let (text, age_seconds) = match read {
            Ok(Some(read)) => read,
            Ok(None) => continue,
            Err(problem) => {
                problems.push(problem);
                continue;
            }
        };
        let parsed = parse_data_dump(&text);
        if let Some(first) = parsed.problems.first() {
            tracing::debug!(
                path = %path.display(),
                problems = parsed.problems.len(),
                first = %first,
                "lines of keepalived's data dump skipped"
            );
        }
        let DataDump {
            real_servers,
            instances,
        } = parsed.value;
        if name == CHECK_DATA_FILE {
            dumps.checker = Some(CheckerDump {
                age_seconds,
                real_servers,
            });
        } else {
            dumps.vrrp = Some(VrrpDataDump {
                age_seconds,
                instances,
            });
        }
    }
    dumps
}

/// The most instances and remembered changes per instance the history keeps.
const MAX_HISTORY_INSTANCES: usize = 1024;
const MAX_HISTORY_CHANGES: usize = 256;

/// When each instance changed state, as far as the exporter saw: counters read at each scrape
/// (the notify FIFO's transition counts, or the JSON dump's become_master + release_master);
/// an increase by N records N changes at the time of the read. Bounded in instances and in
/// changes per instance.
#[derive(Debug, Default)]
struct TransitionHistory {
    source: Option<TransitionSource>,
    /// Each instance's counter at the last read.
    totals: BTreeMap<String, u64>,
    changes: BTreeMap<String, VecDeque<Instant>>,
}

impl TransitionHistory {
    /// Takes one read of the counters. The FIFO counts from zero (since the exporter started),
    /// so its first read counts in full; the JSON dump's counters run since keepalived
    /// started, so their first read (or a counter that went down: keepalived restarted) only
    /// sets where counting starts. A change of source starts the history anew.
    fn observe(&mut self, source: TransitionSource, counters: &[(String, u64)], now: Instant) {
        if self.source != Some(source) {
            *self = TransitionHistory {
                source: Some(source),
                ..TransitionHistory::default()
            };
        }
        for (instance, &total) in counters.iter().map(|(i, t)| (i, t)) {
            let previous = match self.totals.get(instance) {
                Some(&previous) if previous <= total => previous,
                Some(_) => total,
                None if source == TransitionSource::NotifyFifo => 0,
                None => total,
            };
            if !self.totals.contains_key(instance) && self.totals.len() >= MAX_HISTORY_INSTANCES {
                continue;
            }
            self.totals.insert(instance.clone(), total);
            let new = usize::try_from(total - previous).unwrap_or(usize::MAX);
            if new == 0 {
                continue;
            }
            let times = self.changes.entry(instance.clone()).or_default();
            for _ in 0..new.min(MAX_HISTORY_CHANGES) {
                if times.len() >= MAX_HISTORY_CHANGES {
                    times.pop_front();
                }
                times.push_back(now);
            }
        }
    }

    /// Changes per instance within `window` before `now`, for `instances` and every instance
    /// the history holds, sorted; older changes are forgotten.
    fn recent(
        &mut self,
        instances: &[String],
        window: Duration,
        now: Instant,
    ) -> Vec<(String, u64)> {
        for times in self.changes.values_mut() {
            while times
                .front()
                .is_some_and(|t| now.saturating_duration_since(*t) > window)
            {
                times.pop_front();
            }
        }
        let mut counts: BTreeMap<String, u64> = instances
            .iter()
            .take(MAX_HISTORY_INSTANCES)
            .map(|name| (name.clone(), 0))
            .collect();
        for (name, times) in &self.changes {
            counts.insert(name.clone(), u64::try_from(times.len()).unwrap_or(u64::MAX));
        }
        counts.into_iter().collect()
    }
}

/// Each instance's transition counter: the FIFO's transitions summed over states, or the
/// JSON dump's become_master + release_master.
fn transition_counters(
    notify: Option<&NotifyReading>,
    dump: Option<&Dump>,
) -> Option<(TransitionSource, Vec<(String, u64)>)> {
    if let Some(notify) = notify {
        let mut sums: BTreeMap<String, u64> = BTreeMap::new();
        // Only the changes into MASTER: keepalived's start announces BACKUP then MASTER, and
        // one failover adds a FAULT or BACKUP; neither is flapping.
        for (instance, state, times) in &notify.transitions {
            let sum = sums.entry(instance.clone()).or_default();
            if *state == VrrpState::Master {
                *sum = sum.saturating_add(*times);
            }
        }
        return Some((TransitionSource::NotifyFifo, sums.into_iter().collect()));
    }
    let dump = dump?;
    let counters = dump
        .instances
        .iter()
        .map(|instance| {
            let stat = |name: &str| {
                instance
                    .stats
                    .iter()
                    .find(|(k, _)| k == name)
                    .map_or(0, |(_, v)| *v)
            };
            (instance.name.clone(), stat("become_master"))
        })
        .collect();
    Some((TransitionSource::JsonDump, counters))
}

/// The data dump files keepalived is expected to rewrite on SIGUSR1 for this configuration.
fn expected_data_files(dir: &Path, config: &KeepalivedConfig) -> Vec<PathBuf> {
    let mut files = Vec::new();
    if !config.instances.is_empty() {
        files.push(dir.join(VRRP_DATA_FILE));
    }
    if !config.virtual_servers.is_empty() || !config.virtual_server_groups.is_empty() {
        files.push(dir.join(CHECK_DATA_FILE));
    }
    files
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
        let text = match read_text(&config_path, MAX_CONFIG_BYTES) {
            Ok(Some(text)) => text,
            Ok(None) => {
                return Ok(Collected {
                    data: CollectedData::NoData {
                        reason: format!("{} does not exist", config_path.display()),
                    },
                    problems: Vec::new(),
                });
            }
            Err(e) => return Err(e.into()),
        };
        let mut config =
            parse_config_from(&config_name, &text, &mut RootedIncludes { rootfs: &rootfs });
        let mut problems: Vec<String> = config
            .errors
            .iter()
            .map(|e| format!("keepalived configuration: {e}"))
            .collect();
        // Only a configuration with scripts or notify FIFOs needs a script user.
        if !config.script_users.is_empty() {
            match read_accounts(&rootfs, &config) {
                Ok(accounts) => config.accounts = Some(accounts),
                Err(problem) => problems.push(format!(
                    "keepalived's script user cannot be checked: {problem}"
                )),
            }
        }
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
        // The data dumps sit beside the JSON dump, in keepalived's temporary directory,
        // resolved under the root as the JSON dump is (their own names are opened without
        // following a link).
        let json_dir = self
            .options
            .json_file
            .parent()
            .unwrap_or_else(|| Path::new("/"));
        let data_dumps = match under_root(&rootfs, json_dir) {
            Err(err) => {
                problems.push(format!(
                    "keepalived's data dumps in {} are not used: {err}",
                    json_dir.display()
                ));
                DataDumps::default()
            }
            Ok(data_dir) => {
                if self.options.data_signal
                    && let (true, Some(pid)) = (process.running, process.pid)
                {
                    let expected = expected_data_files(&data_dir, &config);
                    if !expected.is_empty()
                        && let Err(problem) = request_data_dumps(pid, &expected)
                    {
                        problems.push(problem);
                    }
                }
                read_data_dumps(
                    &data_dir,
                    keepalived_uid,
                    self.options.json_max_age,
                    &mut problems,
                )
            }
        };
        let notify = self.fifo.as_ref().map(NotifyFifo::reading);
        let recent_transitions =
            transition_counters(notify.as_ref(), dump.as_ref()).map(|(source, counters)| {
                let now = Instant::now();
                let names: Vec<String> = config.instances.iter().map(|i| i.name.clone()).collect();
                let mut history = self
                    .history
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                history.observe(source, &counters, now);
                RecentTransitions {
                    window_seconds: self.options.flapping_window.as_secs_f64(),
                    source,
                    instances: history.recent(&names, self.options.flapping_window, now),
                }
            });
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
        let text = read_text(&under(root, main), MAX_CONFIG_BYTES)
            .expect("the main file")
            .expect("the main file exists");
        parse_config_from(
            main,
            &text,
            &mut RootedIncludes {
                rootfs: &Rootfs::new(root),
            },
        )
    }

    #[test]
    fn script_accounts_are_looked_up_in_the_roots_passwd_and_group() {
        let root = rootfs_with(
            "accounts",
            &[
                (
                    "/etc/keepalived/keepalived.conf",
                    "global_defs {\n enable_script_security\n script_user runner nogroup\n\
                     notify_fifo /run/k.fifo\n}\n",
                ),
                (
                    "/etc/passwd",
                    "root:x:0:0::/root:/bin/sh\nrunner:x:900:900::/:/bin/false\n",
                ),
                ("/etc/group", "root:x:0:\n"),
            ],
        );
        let config = parse_under(&root, "/etc/keepalived/keepalived.conf");
        let accounts = read_accounts(&Rootfs::new(&*root), &config);
        assert_eq!(
            accounts,
            Ok(Accounts {
                users: vec![
                    ("keepalived_script".to_string(), false),
                    ("runner".to_string(), true)
                ],
                groups: vec![("nogroup".to_string(), false)],
            })
        );
        // no /etc/passwd: nothing can be claimed
        let bare = rootfs_with(
            "no-passwd",
            &[(
                "/etc/keepalived/keepalived.conf",
                "global_defs {\n notify_fifo /run/k.fifo\n}\n",
            )],
        );
        let config = parse_under(&bare, "/etc/keepalived/keepalived.conf");
        assert!(read_accounts(&Rootfs::new(&*bare), &config).is_err());
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

    fn minutes(n: u64) -> Duration {
        Duration::from_secs(60 * n)
    }

    fn counters(pairs: &[(&str, u64)]) -> Vec<(String, u64)> {
        pairs.iter().map(|(n, c)| ((*n).to_string(), *c)).collect()
    }

    #[test]
    fn the_fifo_counts_from_zero_and_changes_leave_the_window() {
        let mut history = TransitionHistory::default();
        let start = Instant::now();
        let names = vec!["VI_1".to_string(), "VI_2".to_string()];
        history.observe(
            TransitionSource::NotifyFifo,
            &counters(&[("VI_1", 2)]),
            start,
        );
        assert_eq!(
            history.recent(&names, minutes(10), start),
            counters(&[("VI_1", 2), ("VI_2", 0)])
        );
        let later = start + minutes(6);
        history.observe(
            TransitionSource::NotifyFifo,
            &counters(&[("VI_1", 5)]),
            later,
        );
        assert_eq!(
            history.recent(&names, minutes(10), later),
            counters(&[("VI_1", 5), ("VI_2", 0)])
        );
        // the first two are 11 minutes old at +11, the last three 5
        let after = start + minutes(11);
        assert_eq!(
            history.recent(&names, minutes(10), after),
            counters(&[("VI_1", 3), ("VI_2", 0)])
        );
        assert_eq!(
            history.recent(&names, minutes(10), after + minutes(6)),
            counters(&[("VI_1", 0), ("VI_2", 0)])
        );
    }

    #[test]
    fn the_json_counters_first_set_a_baseline_and_a_restart_sets_a_new_one() {
        let mut history = TransitionHistory::default();
        let t0 = Instant::now();
        let names = vec!["VI_1".to_string()];
        history.observe(TransitionSource::JsonDump, &counters(&[("VI_1", 40)]), t0);
        assert_eq!(
            history.recent(&names, minutes(10), t0),
            counters(&[("VI_1", 0)])
        );
        history.observe(
            TransitionSource::JsonDump,
            &counters(&[("VI_1", 43)]),
            t0 + minutes(1),
        );
        assert_eq!(
            history.recent(&names, minutes(10), t0 + minutes(1)),
            counters(&[("VI_1", 3)])
        );
        // keepalived restarted: its counters start again from 1
        history.observe(
            TransitionSource::JsonDump,
            &counters(&[("VI_1", 1)]),
            t0 + minutes(2),
        );
        history.observe(
            TransitionSource::JsonDump,
            &counters(&[("VI_1", 2)]),
            t0 + minutes(3),
        );
        assert_eq!(
            history.recent(&names, minutes(10), t0 + minutes(3)),
            counters(&[("VI_1", 4)])
        );
        // the FIFO appears: a new history
        history.observe(
            TransitionSource::NotifyFifo,
            &counters(&[("VI_1", 1)]),
            t0 + minutes(4),
        );
        assert_eq!(
            history.recent(&names, minutes(10), t0 + minutes(4)),
            counters(&[("VI_1", 1)])
        );
    }

    #[test]
    fn the_history_is_bounded() {
        let mut history = TransitionHistory::default();
        let now = Instant::now();
        history.observe(
            TransitionSource::NotifyFifo,
            &counters(&[("VI_1", u64::MAX)]),
            now,
        );
        assert_eq!(
            history.recent(&[], minutes(10), now),
            counters(&[("VI_1", MAX_HISTORY_CHANGES as u64)])
        );
        let many: Vec<(String, u64)> = (0..MAX_HISTORY_INSTANCES + 10)
            .map(|i| (format!("VI_{i}"), 1))
            .collect();
        history.observe(TransitionSource::JsonDump, &many, now);
        history.observe(
            TransitionSource::JsonDump,
            &many
                .iter()
                .map(|(n, c)| (n.clone(), c + 1))
                .collect::<Vec<_>>(),
            now,
        );
        assert_eq!(
            history.recent(&[], minutes(10), now).len(),
            MAX_HISTORY_INSTANCES
        );
    }

    #[test]
    fn only_changes_into_master_count_and_the_fifo_wins_over_the_json_counters() {
        let notify = NotifyReading {
            transitions: vec![
                (
                    "VI_1".into(),
                    crate::model::keepalived::VrrpState::Backup,
                    2,
                ),
                (
                    "VI_1".into(),
                    crate::model::keepalived::VrrpState::Master,
                    3,
                ),
            ],
            ..NotifyReading::default()
        };
        let dump = Dump {
            age_seconds: 0.0,
            instances: vec![crate::model::keepalived::DumpInstance {
                name: "VI_1".into(),
                stats: vec![
                    ("become_master".into(), 4),
                    ("release_master".into(), 3),
                    ("advert_rcvd".into(), 99),
                ],
                ..Default::default()
            }],
        };
        assert_eq!(
            transition_counters(Some(&notify), Some(&dump)),
            Some((TransitionSource::NotifyFifo, counters(&[("VI_1", 3)])))
        );
        assert_eq!(
            transition_counters(None, Some(&dump)),
            Some((TransitionSource::JsonDump, counters(&[("VI_1", 4)])))
        );
        assert_eq!(transition_counters(None, None), None);
    }

    #[test]
    fn the_data_dumps_are_read_from_the_json_dumps_directory_when_trusted_and_fresh() {
        use std::os::unix::fs::MetadataExt;
        let fixtures =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keepalived-data/master");
        let scratch = Scratch::new("keepalived-data", "read", "keepalived.json");
        let dir = scratch.parent().expect("a directory").to_path_buf();
        for name in [VRRP_DATA_FILE, CHECK_DATA_FILE] {
            std::fs::copy(fixtures.join(name), dir.join(name)).expect("copy a fixture");
        }
        let uid = std::fs::metadata(dir.join(VRRP_DATA_FILE))
            .expect("stat")
            .uid();
        let mut problems = Vec::new();
        let dumps = read_data_dumps(&dir, Some(uid), Duration::from_secs(60), &mut problems);
        assert_eq!(problems, Vec::<String>::new());
        let checker = dumps.checker.expect("the checker dump");
        assert_eq!(checker.real_servers.iter().filter(|r| r.alive).count(), 1);
        assert_eq!(checker.real_servers.len(), 3);
        assert!(checker.age_seconds < 60.0);
        let vrrp = dumps.vrrp.expect("the VRRP dump");
        assert_eq!(
            vrrp.instances.first().and_then(|i| i.effective_priority),
            Some(130)
        );

        // stale (written more than 1 ms ago): not used, and no problem
        std::thread::sleep(Duration::from_millis(5));
        let mut problems = Vec::new();
        let stale = read_data_dumps(&dir, Some(uid), Duration::from_millis(1), &mut problems);
        assert!(stale.checker.is_none() && stale.vrrp.is_none());
        assert_eq!(problems, Vec::<String>::new());

        // writable by everyone: a problem, not read
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            dir.join(CHECK_DATA_FILE),
            std::fs::Permissions::from_mode(0o666),
        )
        .expect("chmod");
        let mut problems = Vec::new();
        let dumps = read_data_dumps(&dir, Some(uid), Duration::from_secs(60), &mut problems);
        assert!(dumps.checker.is_none());
        assert!(dumps.vrrp.is_some());
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems
                .first()
                .is_some_and(|p| p.contains("data dump") && p.contains("writable")),
            "{problems:?}"
        );
    }
}
