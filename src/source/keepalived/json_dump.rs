//! keepalived's JSON dump: SIGRTMIN+2 to ask for a fresh one (with `--keepalived.signal`),
//! and the dump read when its owner is trusted and it is fresh.

use std::path::Path;
use std::time::Duration;

use nix::errno::Errno;
use nix::libc;
use nix::unistd::Pid;

use super::KeepalivedOptions;
use super::dump_files::{DUMP_WAIT, check_dump_owner, modified, read_fresh};
use super::files::under_root;
use crate::model::keepalived::{Dump, KeepalivedProcess};
use crate::parse::keepalived_json::parse_dump;
use crate::source::rootfs::Rootfs;

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

/// The JSON dump for one scrape: asked for first when `--keepalived.signal` is set and
/// keepalived runs, then read if trusted and fresh. The dump is optional: what keeps it from
/// being used (a path that cannot be resolved, a failed signal, an untrusted or unreadable
/// file) goes to `problems`.
pub(super) fn read_for_scrape(
    rootfs: &Rootfs,
    options: &KeepalivedOptions,
    process: &KeepalivedProcess,
    keepalived_uid: Option<u32>,
    problems: &mut Vec<String>,
) -> Option<Dump> {
    let json_path = match under_root(rootfs, &options.json_file) {
        Ok(json_path) => json_path,
        Err(err) => {
            problems.push(format!(
                "keepalived's JSON dump {} is not used: {err}",
                options.json_file.display()
            ));
            return None;
        }
    };
    if options.signal
        && let (true, Some(pid)) = (process.running, process.pid)
        && let Err(problem) = request_dump(pid, &json_path)
    {
        problems.push(problem);
    }
    let trusted = check_dump_owner(&json_path, keepalived_uid);
    match trusted.and_then(|()| read_dump(&json_path, options.json_max_age)) {
        Ok(dump) => dump,
        Err(problem) => {
            problems.push(problem);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::testing::Scratch;

    const DUMP: &str = include_str!("../../../tests/fixtures/keepalived-json/master.json");

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
