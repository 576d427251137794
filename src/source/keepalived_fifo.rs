//! keepalived's notify FIFO (`notify_fifo` in keepalived.conf), read by a background thread
//! that the keepalived collector owns: it counts each instance's transitions as keepalived
//! announces them, and scrapes read the counts. The thread reopens the FIFO whenever keepalived
//! closes it (a restart) and waits while it does not exist.
//!
//! A FIFO has one reader per line: a second consumer (keepalived's `notify_fifo_script`, or
//! another exporter) would take some lines away from this one.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::rootfs::Rootfs;
use crate::model::keepalived::{NotifyReading, VrrpState};
use crate::parse::keepalived_notify::{NotifyLine, parse_notify_line};

/// How long to wait before trying again to open a FIFO that is missing or not a FIFO.
const REOPEN_DELAY: Duration = Duration::from_secs(1);

/// The longest line kept: keepalived's lines are an instance name (a few tens of bytes) and a
/// few words. A longer line is counted as malformed and skipped without being held.
pub const MAX_LINE_BYTES: usize = 4096;

/// How many instances are counted; lines about further ones are counted as malformed (a
/// writer inventing names must not grow the table).
pub const MAX_INSTANCES: usize = 1024;

/// What one bounded read of a line gave.
#[derive(Debug, PartialEq, Eq)]
enum LineRead {
    /// The writers closed the FIFO.
    End,
    /// A line (without its end) in the buffer.
    Line,
    /// A line longer than the bound: skipped up to its end.
    TooLong,
}

/// Reads one line into `line` (cleared first), holding at most `max` bytes of it.
fn read_line_bounded(
    reader: &mut impl BufRead,
    line: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<LineRead> {
    line.clear();
    let mut too_long = false;
    loop {
        let chunk = reader.fill_buf()?;
        if chunk.is_empty() {
            return Ok(if too_long {
                LineRead::TooLong
            } else if line.is_empty() {
                LineRead::End
            } else {
                LineRead::Line
            });
        }
        let (part, ended) = match chunk.iter().position(|&b| b == b'\n') {
            Some(end) => (chunk.get(..end).unwrap_or_default(), end + 1),
            None => (chunk, chunk.len()),
        };
        let found_end = part.len() < chunk.len();
        if !too_long {
            if line.len() + part.len() > max {
                too_long = true;
                line.clear();
            } else {
                line.extend_from_slice(part);
            }
        }
        reader.consume(ended);
        if found_end {
            return Ok(if too_long {
                LineRead::TooLong
            } else {
                LineRead::Line
            });
        }
    }
}

#[derive(Debug, Default)]
struct Counts {
    connected: bool,
    transitions: BTreeMap<(String, VrrpState), u64>,
    last_transition: BTreeMap<String, f64>,
    malformed_lines: u64,
}

#[derive(Debug, Default)]
struct Shared {
    counts: Mutex<Counts>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Counts> {
        match self.counts.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

/// The FIFO reader: the thread runs for the life of the process.
pub struct NotifyFifo {
    shared: Arc<Shared>,
}

impl NotifyFifo {
    /// Starts reading `path` (a path of this host) in a background thread.
    pub fn start(path: PathBuf) -> Self {
        NotifyFifo::start_under(Rootfs::host(), path)
    }

    /// Starts reading `path`, as the host names it, under `rootfs`, in a background thread;
    /// the path is resolved again at each open (a link changed meanwhile is followed, inside
    /// the root).
    pub fn start_under(rootfs: Rootfs, path: PathBuf) -> Self {
        let shared = Arc::new(Shared::default());
        let for_thread = Arc::clone(&shared);
        let spawned = std::thread::Builder::new()
            .name("keepalived-fifo".into())
            .spawn(move || read_forever(&rootfs, &path, &for_thread));
        if let Err(err) = spawned {
            tracing::error!(error = %err, "cannot start the keepalived notify FIFO reader");
        }
        NotifyFifo { shared }
    }

    /// What has been counted so far.
    pub fn reading(&self) -> NotifyReading {
        let counts = self.shared.lock();
        NotifyReading {
            connected: counts.connected,
            transitions: counts
                .transitions
                .iter()
                .map(|((instance, state), n)| (instance.clone(), *state, *n))
                .collect(),
            last_transition: counts
                .last_transition
                .iter()
                .map(|(instance, t)| (instance.clone(), *t))
                .collect(),
            malformed_lines: counts.malformed_lines,
        }
    }

    /// Waits until `done` holds for the reading, or `timeout` passes; whether it held.
    #[cfg(test)]
    pub fn wait_until(&self, timeout: Duration, done: impl Fn(&NotifyReading) -> bool) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if done(&self.reading()) {
                return true;
            }
            let now = std::time::Instant::now();
            if now >= deadline {
                return false;
            }
            let guard = self.shared.lock();
            let _ = self.shared.changed.wait_timeout(guard, deadline - now);
        }
    }
}

fn read_forever(rootfs: &Rootfs, host_path: &Path, shared: &Shared) {
    let mut complained = false;
    loop {
        let resolved = rootfs.resolve(host_path);
        let path = resolved.as_deref().unwrap_or(host_path);
        let is_fifo = match &resolved {
            Ok(path) => std::fs::metadata(path).map(|m| m.file_type().is_fifo()),
            Err(err) => Err(std::io::Error::other(err.to_string())),
        };
        let opened = match is_fifo {
            Ok(true) => std::fs::File::open(path),
            Ok(false) => Err(std::io::Error::other("it is not a FIFO")),
            Err(err) => Err(err),
        };
        let file = match opened {
            Ok(file) => file,
            Err(err) => {
                if !complained {
                    tracing::warn!(path = %path.display(), error = %err, "cannot open keepalived's notify FIFO; trying again every second");
                    complained = true;
                }
                std::thread::sleep(REOPEN_DELAY);
                continue;
            }
        };
        complained = false;
        tracing::info!(path = %path.display(), "reading keepalived's notify FIFO");
        shared.lock().connected = true;
        shared.changed.notify_all();
        let mut reader = BufReader::new(file);
        let mut line = Vec::new();
        loop {
            match read_line_bounded(&mut reader, &mut line, MAX_LINE_BYTES) {
                Ok(LineRead::End) => break,
                Ok(LineRead::Line) => count(shared, &String::from_utf8_lossy(&line)),
                Ok(LineRead::TooLong) => {
                    tracing::warn!(
                        "keepalived notify FIFO: a line longer than {MAX_LINE_BYTES} bytes; skipped"
                    );
                    shared.lock().malformed_lines += 1;
                    shared.changed.notify_all();
                }
                Err(err) => {
                    tracing::warn!(path = %path.display(), error = %err, "reading keepalived's notify FIFO failed");
                    std::thread::sleep(REOPEN_DELAY);
                    break;
                }
            }
        }
        // Every writer closed it (keepalived stopped or restarts): open it again.
        shared.lock().connected = false;
        shared.changed.notify_all();
    }
}

fn count(shared: &Shared, line: &str) {
    match parse_notify_line(line) {
        NotifyLine::Instance(transition) => {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0);
            tracing::info!(instance = %transition.instance, state = %transition.state, "VRRP transition");
            let mut counts = shared.lock();
            if !counts.last_transition.contains_key(&transition.instance)
                && counts.last_transition.len() >= MAX_INSTANCES
            {
                tracing::warn!(instance = %transition.instance, "keepalived notify FIFO: more than {MAX_INSTANCES} instances; not counted");
                counts.malformed_lines += 1;
                drop(counts);
                shared.changed.notify_all();
                return;
            }
            *counts
                .transitions
                .entry((transition.instance.clone(), transition.state))
                .or_insert(0) += 1;
            counts.last_transition.insert(transition.instance, now);
        }
        NotifyLine::Other => {}
        NotifyLine::Malformed(reason) => {
            tracing::warn!("keepalived notify FIFO: {reason}");
            shared.lock().malformed_lines += 1;
        }
    }
    shared.changed.notify_all();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Scratch;
    use std::io::Write;

    fn fifo(name: &str) -> Scratch {
        let path = Scratch::new("fifo", name, "notify.fifo");
        let made = std::process::Command::new("mkfifo").arg(&*path).status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo {}", path.display());
        path
    }

    fn count_of(reading: &NotifyReading, instance: &str, state: VrrpState) -> u64 {
        reading
            .transitions
            .iter()
            .find(|(i, s, _)| i == instance && *s == state)
            .map_or(0, |t| t.2)
    }

    #[test]
    fn a_fifo_under_the_root_is_found_through_links_inside_the_root_only() {
        use std::os::unix::fs::{OpenOptionsExt, symlink};
        let scratch = Scratch::new("fifo-root", "links", "root");
        let root = scratch.to_path_buf();
        std::fs::create_dir_all(root.join("run")).expect("mkdir");
        let mkfifo = |path: &Path| {
            let made = std::process::Command::new("mkfifo").arg(path).status();
            assert!(made.is_ok_and(|s| s.success()), "mkfifo {}", path.display());
        };
        mkfifo(&root.join("fifo-real"));
        symlink("/fifo-real", root.join("run/in.fifo")).expect("link");
        let beside = root
            .parent()
            .expect("the scratch directory")
            .join("out.fifo");
        mkfifo(&beside);
        symlink(&beside, root.join("run/out.fifo")).expect("link");

        let inside = NotifyFifo::start_under(Rootfs::new(&root), PathBuf::from("/run/in.fifo"));
        // Opened without waiting (ENXIO while nobody reads it), so that a reader looking
        // elsewhere fails the test instead of hanging it.
        let started = std::time::Instant::now();
        let mut writer = loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(nix::libc::O_NONBLOCK)
                .open(root.join("fifo-real"))
            {
                Ok(writer) => break writer,
                Err(err) if started.elapsed() > Duration::from_secs(5) => {
                    panic!("nobody reads the FIFO inside the root: {err}")
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        assert!(writer.write_all(b"INSTANCE \"VI_1\" MASTER 100\n").is_ok());
        assert!(inside.wait_until(Duration::from_secs(5), |r| count_of(
            r,
            "VI_1",
            VrrpState::Master
        ) == 1));

        let outside = NotifyFifo::start_under(Rootfs::new(&root), PathBuf::from("/run/out.fifo"));
        std::thread::sleep(REOPEN_DELAY + Duration::from_millis(500));
        assert!(!outside.reading().connected);
        // Nobody reads the FIFO beside the root: a writer that will not wait is refused.
        let opened = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(nix::libc::O_NONBLOCK)
            .open(&beside);
        assert_eq!(
            opened.err().and_then(|e| e.raw_os_error()),
            Some(nix::libc::ENXIO),
            "the FIFO outside the root has a reader"
        );
    }

    #[test]
    fn transitions_written_into_the_fifo_are_counted() {
        let path = fifo("count");
        let reader = NotifyFifo::start(path.to_path_buf());
        let mut writer = std::fs::OpenOptions::new()
            .write(true)
            .open(&*path)
            .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
        let lines = "INSTANCE \"VI_1\" BACKUP 100\nGROUP \"VG\" BACKUP\nINSTANCE \"VI_1\" MASTER 100\n\
                     INSTANCE \"VI_2\" FAULT 50\nINSTANCE \"VI_1\" BACKUP 100\nINSTANCE \"VI_1\" LEADER 1\n";
        assert!(writer.write_all(lines.as_bytes()).is_ok());
        assert!(reader.wait_until(Duration::from_secs(5), |r| r.malformed_lines == 1));
        let reading = reader.reading();
        assert!(reading.connected);
        assert_eq!(count_of(&reading, "VI_1", VrrpState::Backup), 2);
        assert_eq!(count_of(&reading, "VI_1", VrrpState::Master), 1);
        assert_eq!(count_of(&reading, "VI_2", VrrpState::Fault), 1);
        assert_eq!(reading.transitions.len(), 3);
        let names: Vec<&str> = reading
            .last_transition
            .iter()
            .map(|(i, _)| i.as_str())
            .collect();
        assert_eq!(names, vec!["VI_1", "VI_2"]);
        assert!(reading.last_transition.iter().all(|(_, t)| *t > 1.7e9));

        // keepalived restarts: the writer goes away and comes back; counting goes on
        drop(writer);
        assert!(reader.wait_until(Duration::from_secs(5), |r| !r.connected));
        let mut writer = std::fs::OpenOptions::new()
            .write(true)
            .open(&*path)
            .unwrap_or_else(|e| panic!("reopen {}: {e}", path.display()));
        assert!(writer.write_all(b"INSTANCE \"VI_1\" MASTER 100\n").is_ok());
        assert!(reader.wait_until(Duration::from_secs(5), |r| count_of(
            r,
            "VI_1",
            VrrpState::Master
        ) == 2));
    }

    #[test]
    fn a_notify_line_longer_than_the_bound_is_skipped_not_held() {
        let mut input: Vec<u8> = Vec::new();
        input.extend_from_slice(b"INSTANCE \"A\" MASTER 1\n");
        input.extend(std::iter::repeat_n(b'x', 10 * MAX_LINE_BYTES));
        input.extend_from_slice(b"\nINSTANCE \"B\" BACKUP 1\nlast");
        let mut reader = std::io::BufReader::with_capacity(64, input.as_slice());
        let mut line = Vec::new();
        let mut seen = Vec::new();
        loop {
            let read = read_line_bounded(&mut reader, &mut line, MAX_LINE_BYTES);
            assert!(line.len() <= MAX_LINE_BYTES);
            match read {
                Ok(LineRead::End) => break,
                Ok(LineRead::Line) => seen.push(String::from_utf8_lossy(&line).into_owned()),
                Ok(LineRead::TooLong) => seen.push("<too long>".into()),
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(
            seen,
            vec![
                "INSTANCE \"A\" MASTER 1",
                "<too long>",
                "INSTANCE \"B\" BACKUP 1",
                "last"
            ]
        );
    }

    #[test]
    fn notify_instances_beyond_the_bound_are_not_counted() {
        let shared = Shared::default();
        for i in 0..MAX_INSTANCES + 10 {
            count(&shared, &format!("INSTANCE \"VI_{i}\" MASTER 100\n"));
        }
        let counts = shared.lock();
        assert_eq!(counts.last_transition.len(), MAX_INSTANCES);
        assert_eq!(counts.transitions.len(), MAX_INSTANCES);
        assert_eq!(counts.malformed_lines, 10);
    }

    #[test]
    fn a_missing_fifo_is_waited_for() {
        let path = fifo("missing");
        let _ = std::fs::remove_file(&*path);
        let reader = NotifyFifo::start(path.to_path_buf());
        assert!(!reader.reading().connected);
        let made = std::process::Command::new("mkfifo").arg(&*path).status();
        assert!(made.is_ok_and(|s| s.success()));
        let mut writer = std::fs::OpenOptions::new()
            .write(true)
            .open(&*path)
            .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
        assert!(writer.write_all(b"INSTANCE \"VI_9\" MASTER 200\n").is_ok());
        assert!(reader.wait_until(Duration::from_secs(5), |r| count_of(
            r,
            "VI_9",
            VrrpState::Master
        ) == 1));
    }
}
