//! keepalived's data dump (`keepalived.data` and `keepalived_check.data`, beside its JSON
//! dump): SIGUSR1 to ask for it (with `--keepalived.data-signal`), and the files read when
//! their owner is trusted and they are fresh.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::libc;
use nix::unistd::Pid;

use super::KeepalivedOptions;
use super::dump_files::{DUMP_WAIT, check_dump_owner, modified, read_fresh};
use super::files::under_root;
use crate::model::keepalived::{CheckerDump, KeepalivedConfig, KeepalivedProcess, VrrpDataDump};
use crate::parse::keepalived_data::{DataDump, parse_data_dump};
use crate::source::rootfs::Rootfs;

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
pub(super) struct DataDumps {
    pub(super) checker: Option<CheckerDump>,
    pub(super) vrrp: Option<VrrpDataDump>,
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

/// The data dumps for one scrape. They sit beside the JSON dump, in keepalived's temporary
/// directory, resolved under the root as the JSON dump is (their own names are opened without
/// following a link). With `--keepalived.data-signal` and keepalived running, they are asked
/// for first; what keeps one from being used goes to `problems`.
pub(super) fn read_for_scrape(
    rootfs: &Rootfs,
    options: &KeepalivedOptions,
    process: &KeepalivedProcess,
    keepalived_uid: Option<u32>,
    config: &KeepalivedConfig,
    problems: &mut Vec<String>,
) -> DataDumps {
    let json_dir = options.json_file.parent().unwrap_or_else(|| Path::new("/"));
    let data_dir = match under_root(rootfs, json_dir) {
        Ok(data_dir) => data_dir,
        Err(err) => {
            problems.push(format!(
                "keepalived's data dumps in {} are not used: {err}",
                json_dir.display()
            ));
            return DataDumps::default();
        }
    };
    if options.data_signal
        && let (true, Some(pid)) = (process.running, process.pid)
    {
        let expected = expected_data_files(&data_dir, config);
        if !expected.is_empty()
            && let Err(problem) = request_data_dumps(pid, &expected)
        {
            problems.push(problem);
        }
    }
    read_data_dumps(&data_dir, keepalived_uid, options.json_max_age, problems)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Scratch;

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
