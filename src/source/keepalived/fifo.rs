//! keepalived's notify FIFO (`notify_fifo` in keepalived.conf), read by a background thread
//! that the keepalived collector owns: it counts each instance's transitions as keepalived
//! announces them, and scrapes read the counts.
//!
//! The thread never blocks on an open: the FIFO is opened with `O_NONBLOCK` (which succeeds
//! without a writer) and waited on with poll(2), at most [`CHECK_INTERVAL`] at a time. After
//! each wait a read that finds nothing tells whether a writer holds the FIFO (`EAGAIN`) or none
//! does (end of file), which is what `connected` reports. While no writer holds it, the path is
//! compared with the open FIFO (device and inode) at each interval: a FIFO removed or replaced
//! (keepalived restarted and made a new one) is left for the one the path names now. A FIFO
//! that a writer still holds is kept even when the path names another one, so that none of its
//! lines is lost; the new one's lines wait in its pipe until the old one's writer is gone.
//!
//! A FIFO has one reader per line: a second consumer (keepalived's `notify_fifo_script`, or
//! another exporter) would take some lines away from this one.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::errno::Errno;
use nix::libc;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::model::keepalived::{NotifyReading, VrrpState};
use crate::parse::keepalived_notify::{NotifyLine, parse_notify_line};
use crate::source::rootfs::Rootfs;

/// How long one wait for lines lasts at most, how often a FIFO without writers is compared with
/// its path, and how long to wait before trying again to open a FIFO that is missing.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// The longest line kept: keepalived's lines are an instance name (a few tens of bytes) and a
/// few words. A longer line is counted as malformed and skipped without being held.
pub const MAX_LINE_BYTES: usize = 4096;

/// How many instances are counted; lines about further ones are counted as malformed (a
/// writer inventing names must not grow the table).
pub const MAX_INSTANCES: usize = 1024;

/// Says why the FIFO may be missing, from keepalived's configuration; asked once each time the
/// FIFO goes missing, for the warning.
pub type ExplainMissing = Arc<dyn Fn() -> String + Send + Sync>;

/// One piece of what a read gave, for [`LineAssembler::feed`].
#[derive(Debug, PartialEq, Eq)]
enum LinePiece<'a> {
    /// A whole line, without its end.
    Line(&'a [u8]),
    /// A line longer than the bound: skipped up to its end.
    TooLong,
}

/// Cuts what reads give into lines, holding at most `MAX_LINE_BYTES` of an unfinished one: a
/// line may arrive in pieces over several reads.
#[derive(Debug, Default)]
struct LineAssembler {
    pending: Vec<u8>,
    too_long: bool,
}

impl LineAssembler {
    /// Feeds `bytes`, calling `each` on every line they finish.
    fn feed(&mut self, mut bytes: &[u8], max: usize, each: &mut dyn FnMut(LinePiece<'_>)) {
        while !bytes.is_empty() {
            let (part, rest, ended) = match bytes.iter().position(|&b| b == b'\n') {
                Some(end) => (
                    bytes.get(..end).unwrap_or_default(),
                    bytes.get(end + 1..).unwrap_or_default(),
                    true,
                ),
                None => (bytes, &[][..], false),
            };
            if !self.too_long {
                if self.pending.len() + part.len() > max {
                    self.too_long = true;
                    self.pending.clear();
                } else {
                    self.pending.extend_from_slice(part);
                }
            }
            if ended {
                self.finish(each);
            }
            bytes = rest;
        }
    }

    /// Ends the unfinished line, if any (the writers closed the FIFO).
    fn flush(&mut self, each: &mut dyn FnMut(LinePiece<'_>)) {
        if self.too_long || !self.pending.is_empty() {
            self.finish(each);
        }
    }

    fn finish(&mut self, each: &mut dyn FnMut(LinePiece<'_>)) {
        if self.too_long {
            each(LinePiece::TooLong);
        } else {
            each(LinePiece::Line(&self.pending));
        }
        self.pending.clear();
        self.too_long = false;
    }
}

#[derive(Debug, Default)]
struct Counts {
    connected: bool,
    transitions: BTreeMap<(String, VrrpState), u64>,
    last_transition: BTreeMap<String, f64>,
    malformed_lines: u64,
    /// FIFOs opened so far (a reopen after a replacement counts).
    opens: u64,
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

    fn set_connected(&self, connected: bool) {
        let mut counts = self.lock();
        if counts.connected != connected {
            counts.connected = connected;
            drop(counts);
            self.changed.notify_all();
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
        NotifyFifo::start_under(Rootfs::host(), path, Arc::new(String::new))
    }

    /// Starts reading `path`, as the host names it, under `rootfs`, in a background thread;
    /// the path is resolved again at each open (a link changed meanwhile is followed, inside
    /// the root). `explain` says why the FIFO may be missing when it is.
    pub fn start_under(rootfs: Rootfs, path: PathBuf, explain: ExplainMissing) -> Self {
        let shared = Arc::new(Shared::default());
        let for_thread = Arc::clone(&shared);
        let spawned = std::thread::Builder::new()
            .name("keepalived-fifo".into())
            .spawn(move || read_forever(&rootfs, &path, &for_thread, explain.as_ref()));
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

    /// How many times a FIFO was opened.
    #[cfg(test)]
    fn opens(&self) -> u64 {
        self.shared.lock().opens
    }

    /// Waits until a FIFO was opened `n` times, or `timeout` passes; whether it was.
    #[cfg(test)]
    fn wait_for_opens(&self, n: u64, timeout: Duration) -> bool {
        let guard = self.shared.lock();
        let waited = self
            .shared
            .changed
            .wait_timeout_while(guard, timeout, |counts| counts.opens < n);
        match waited {
            Ok((counts, _)) => counts.opens >= n,
            Err(poisoned) => poisoned.into_inner().0.opens >= n,
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

/// An open FIFO, with the identity its path had when it was opened.
struct OpenFifo {
    file: File,
    path: PathBuf,
    device: u64,
    inode: u64,
}

/// Opens the FIFO the path names now, without waiting for a writer.
fn open_fifo(rootfs: &Rootfs, host_path: &Path) -> Result<OpenFifo, (PathBuf, std::io::Error)> {
    let path = rootfs
        .resolve(host_path)
        .map_err(|err| (host_path.to_path_buf(), std::io::Error::from(err)))?;
    let failed = |err: std::io::Error| (path.clone(), err);
    // Checked before the open: opening a device node may do something.
    let before = std::fs::metadata(&path).map_err(failed)?;
    if !before.file_type().is_fifo() {
        return Err(failed(std::io::Error::other("it is not a FIFO")));
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&path)
        .map_err(failed)?;
    let opened = file.metadata().map_err(failed)?;
    if !opened.file_type().is_fifo() {
        return Err(failed(std::io::Error::other("it is not a FIFO")));
    }
    Ok(OpenFifo {
        file,
        device: opened.dev(),
        inode: opened.ino(),
        path,
    })
}

/// Whether the path no longer names the open FIFO (removed, or replaced by another file).
fn path_moved_on(rootfs: &Rootfs, host_path: &Path, fifo: &OpenFifo) -> bool {
    let Ok(path) = rootfs.resolve(host_path) else {
        return true;
    };
    match std::fs::metadata(path) {
        Ok(now) => now.dev() != fifo.device || now.ino() != fifo.inode,
        Err(_) => true,
    }
}

/// What reading everything there is gave.
enum Drained {
    /// Nothing more for now, and a writer holds the FIFO (`EAGAIN`).
    WriterPresent,
    /// End of file: no writer holds the FIFO.
    NoWriter,
    Failed(std::io::Error),
}

/// Reads until the FIFO is empty, counting every line.
fn drain(file: &mut File, lines: &mut LineAssembler, shared: &Shared) -> Drained {
    let mut buffer = [0u8; 4096];
    let mut each = |piece: LinePiece<'_>| match piece {
        LinePiece::Line(line) => count(shared, &String::from_utf8_lossy(line)),
        LinePiece::TooLong => {
            tracing::warn!(
                "keepalived notify FIFO: a line longer than {MAX_LINE_BYTES} bytes; skipped"
            );
            shared.lock().malformed_lines += 1;
            shared.changed.notify_all();
        }
    };
    loop {
        match file.read(&mut buffer) {
            Ok(0) => {
                lines.flush(&mut each);
                return Drained::NoWriter;
            }
            Ok(n) => {
                // Lines came: a writer holds (or held) it; end of file says when none is left.
                shared.set_connected(true);
                lines.feed(
                    buffer.get(..n).unwrap_or_default(),
                    MAX_LINE_BYTES,
                    &mut each,
                );
            }
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {
                return Drained::WriterPresent;
            }
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err) => return Drained::Failed(err),
        }
    }
}

fn read_forever(rootfs: &Rootfs, host_path: &Path, shared: &Shared, explain: &dyn Fn() -> String) {
    let mut complained = false;
    loop {
        let fifo = match open_fifo(rootfs, host_path) {
            Ok(fifo) => fifo,
            Err((path, err)) => {
                shared.set_connected(false);
                if !complained {
                    let why = explain();
                    tracing::warn!(path = %path.display(), error = %err, why = %why, "cannot open keepalived's notify FIFO; trying again every second, without saying so again");
                    complained = true;
                }
                std::thread::sleep(CHECK_INTERVAL);
                continue;
            }
        };
        complained = false;
        tracing::info!(path = %fifo.path.display(), "reading keepalived's notify FIFO");
        shared.lock().opens += 1;
        shared.changed.notify_all();
        read_until_gone(rootfs, host_path, fifo, shared);
    }
}

/// Reads one open FIFO until it should be opened again: its path names another file (or none)
/// while no writer holds it, a hangup, or a read error.
fn read_until_gone(rootfs: &Rootfs, host_path: &Path, mut fifo: OpenFifo, shared: &Shared) {
    let mut lines = LineAssembler::default();
    let mut last_check = Instant::now();
    let timeout = PollTimeout::try_from(CHECK_INTERVAL).unwrap_or(PollTimeout::MAX);
    loop {
        let mut fds = [PollFd::new(fifo.file.as_fd(), PollFlags::POLLIN)];
        let ready = match poll(&mut fds, timeout) {
            Ok(n) => n > 0,
            Err(Errno::EINTR) => false,
            Err(err) => {
                tracing::warn!(path = %fifo.path.display(), error = %err, "waiting on keepalived's notify FIFO failed");
                shared.set_connected(false);
                std::thread::sleep(CHECK_INTERVAL);
                return;
            }
        };
        match drain(&mut fifo.file, &mut lines, shared) {
            Drained::WriterPresent => shared.set_connected(true),
            Drained::NoWriter => {
                shared.set_connected(false);
                // Woken with nothing to read: a hangup, which stays until the FIFO is opened
                // again (a fresh open forgets it).
                if ready {
                    return;
                }
                if last_check.elapsed() >= CHECK_INTERVAL {
                    last_check = Instant::now();
                    if path_moved_on(rootfs, host_path, &fifo) {
                        tracing::info!(path = %fifo.path.display(), "keepalived's notify FIFO was removed or replaced; opening the one the path names now");
                        return;
                    }
                }
            }
            Drained::Failed(err) => {
                tracing::warn!(path = %fifo.path.display(), error = %err, "reading keepalived's notify FIFO failed");
                shared.set_connected(false);
                std::thread::sleep(CHECK_INTERVAL);
                return;
            }
        }
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

        let inside = NotifyFifo::start_under(
            Rootfs::new(&root),
            PathBuf::from("/run/in.fifo"),
            Arc::new(String::new),
        );
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

        let outside = NotifyFifo::start_under(
            Rootfs::new(&root),
            PathBuf::from("/run/out.fifo"),
            Arc::new(String::new),
        );
        std::thread::sleep(CHECK_INTERVAL + Duration::from_millis(500));
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
        let mut lines = LineAssembler::default();
        let mut seen = Vec::new();
        let mut each = |piece: LinePiece<'_>| match piece {
            LinePiece::Line(line) => {
                assert!(line.len() <= MAX_LINE_BYTES);
                seen.push(String::from_utf8_lossy(line).into_owned());
            }
            LinePiece::TooLong => seen.push("<too long>".into()),
        };
        // In pieces of 64 bytes, as reads of a pipe may give them.
        for piece in input.chunks(64) {
            lines.feed(piece, MAX_LINE_BYTES, &mut each);
            assert!(lines.pending.len() <= MAX_LINE_BYTES);
        }
        lines.flush(&mut each);
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

    /// Opens `path` for writing as keepalived does (read and write, without waiting for a
    /// reader), and writes `text`.
    fn keepalived_writer(path: &Path) -> File {
        let mut writer = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
        assert!(writer.flush().is_ok());
        writer
    }

    fn mkfifo(path: &Path) {
        let made = std::process::Command::new("mkfifo").arg(path).status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo {}", path.display());
    }

    #[test]
    fn a_fifo_replaced_while_nobody_writes_is_left_for_the_new_one() {
        // No writer ever held the first FIFO: a blocking open would wait on it for good.
        let path = fifo("replaced-unwritten");
        let reader = NotifyFifo::start(path.to_path_buf());
        assert!(
            reader.wait_for_opens(1, Duration::from_secs(5)),
            "never opened"
        );
        assert!(!reader.reading().connected);
        let fresh = path.with_extension("new");
        mkfifo(&fresh);
        assert!(std::fs::rename(&fresh, &*path).is_ok());
        let mut writer = keepalived_writer(&path);
        assert!(writer.write_all(b"INSTANCE \"VI_1\" MASTER 100\n").is_ok());
        // Within two checks of the path, and the wait that follows.
        assert!(
            reader.wait_until(3 * CHECK_INTERVAL, |r| count_of(
                r,
                "VI_1",
                VrrpState::Master
            ) == 1),
            "the line in the new FIFO was not counted: {:?}",
            reader.reading()
        );
        assert!(reader.wait_until(3 * CHECK_INTERVAL, |r| r.connected));
        assert_eq!(reader.opens(), 2);
    }

    #[test]
    fn a_restart_that_replaces_the_fifo_is_followed_and_connected_says_so() {
        let path = fifo("restart");
        let reader = NotifyFifo::start(path.to_path_buf());
        // keepalived runs: it holds the FIFO open for writing from before the reader's open.
        let mut writer = keepalived_writer(&path);
        assert!(writer.write_all(b"INSTANCE \"VI_1\" BACKUP 100\n").is_ok());
        assert!(reader.wait_until(Duration::from_secs(5), |r| count_of(
            r,
            "VI_1",
            VrrpState::Backup
        ) == 1
            && r.connected));
        // keepalived stops: no writer is left, the FIFO stays on disk.
        drop(writer);
        assert!(reader.wait_until(3 * CHECK_INTERVAL, |r| !r.connected));
        // A start that makes the FIFO again (rm + mkfifo) and writes into the new one.
        assert!(std::fs::remove_file(&*path).is_ok());
        mkfifo(&path);
        let mut writer = keepalived_writer(&path);
        assert!(writer.write_all(b"INSTANCE \"VI_1\" MASTER 100\n").is_ok());
        assert!(
            reader.wait_until(3 * CHECK_INTERVAL, |r| count_of(
                r,
                "VI_1",
                VrrpState::Master
            ) == 1
                && r.connected),
            "{:?}",
            reader.reading()
        );
        // While a writer holds the FIFO, a replacement of the path does not make the reader
        // leave it: lines still written into it are counted.
        let fresh = path.with_extension("new");
        mkfifo(&fresh);
        assert!(std::fs::rename(&fresh, &*path).is_ok());
        std::thread::sleep(2 * CHECK_INTERVAL);
        assert!(writer.write_all(b"INSTANCE \"VI_1\" FAULT 100\n").is_ok());
        assert!(reader.wait_until(Duration::from_secs(5), |r| count_of(
            r,
            "VI_1",
            VrrpState::Fault
        ) == 1));
        drop(writer);
        let mut writer = keepalived_writer(&path);
        assert!(writer.write_all(b"INSTANCE \"VI_1\" BACKUP 100\n").is_ok());
        assert!(reader.wait_until(3 * CHECK_INTERVAL, |r| count_of(
            r,
            "VI_1",
            VrrpState::Backup
        ) == 2
            && r.connected));
    }

    #[test]
    fn a_missing_fifo_is_explained_once() {
        let path = fifo("explained");
        let _ = std::fs::remove_file(&*path);
        let asked = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = Arc::clone(&asked);
        let reader = NotifyFifo::start_under(
            Rootfs::host(),
            path.to_path_buf(),
            Arc::new(move || {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                "keepalived is not running".to_string()
            }),
        );
        std::thread::sleep(3 * CHECK_INTERVAL);
        assert_eq!(asked.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert!(!reader.reading().connected);
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
