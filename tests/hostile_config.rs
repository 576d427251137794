//! Hostile local input, end to end on the real binary: a keepalived configuration directory
//! whose thirty-one files each include the whole directory (which once made `doctor` time out
//! at about 1 GB and the server grow without bound), and a collector stuck on a read that never
//! ends (which once kept the server alive after SIGTERM). Wall time and peak memory (VmHWM)
//! are measured; nothing here needs root or the network.

// Test code: a failed unwrap or index is a failed test (the [lints] table guards src/).
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::panic, clippy::indexing_slicing)]
#![allow(clippy::cast_possible_truncation)]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{Exporter, http_get};

/// A fresh directory under the system's temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    /// A directory of its own for each call: tests that run at once in this process must not
    /// share one, or the first to finish removes the other's files.
    fn new(name: &str) -> TempDir {
        static MADE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "ipvs-exporter-hostile-{}-{n}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("make a temporary directory");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A root whose /etc/keepalived holds keepalived.conf and thirty more files, each saying
/// `include /etc/keepalived/*.conf` and declaring one VRRP instance.
fn thirty_one_includes() -> TempDir {
    let root = TempDir::new("includes");
    let dir = root.0.join("etc/keepalived");
    std::fs::create_dir_all(&dir).expect("make etc/keepalived");
    for i in 0..31 {
        let name = if i == 0 {
            "keepalived.conf".to_string()
        } else {
            format!("{i:02}.conf")
        };
        let text = format!(
            "include /etc/keepalived/*.conf\nvrrp_instance VI_{i} {{\n    state BACKUP\n    interface lo\n    virtual_router_id {}\n    priority 100\n}}\n",
            i + 1
        );
        std::fs::write(dir.join(name), text).expect("write a configuration file");
    }
    root
}

/// Flags that keep the run to the keepalived collector and this test's files.
fn keepalived_only(root: &Path) -> Vec<String> {
    vec![
        "--path.rootfs".into(),
        root.to_string_lossy().into_owned(),
        "--no-collector.ipvs".into(),
        "--no-collector.conntrack".into(),
        "--no-collector.netdev".into(),
        "--no-collector.softnet".into(),
        "--no-collector.interfaces".into(),
        "--no-collector.sysctl".into(),
    ]
}

/// The peak resident set of a process, from /proc/PID/status (VmHWM), in KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The number of threads of a process (/proc/PID/status).
fn threads(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
}

/// The most memory the exporter may use on any of these inputs.
const MEMORY_BUDGET_KIB: u64 = 200 * 1024;

#[test]
fn doctor_on_thirty_one_self_including_files_finishes_in_seconds_within_the_budget() {
    let root = thirty_one_includes();
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ipvs_exporter"))
        .arg("doctor")
        .args(keepalived_only(&root.0))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run doctor");
    let pid = child.id();
    // Drained while it runs, so that a long report never blocks it on a full pipe.
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let reader = std::thread::spawn(move || {
        use std::io::Read;
        let mut output = String::new();
        let _ = stdout.read_to_string(&mut output);
        output
    });
    let mut peak = 0;
    let status = loop {
        if let Some(kib) = peak_rss_kib(pid) {
            peak = peak.max(kib);
        }
        if let Ok(Some(status)) = child.try_wait() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "doctor still running after 20 s (peak {peak} KiB)"
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    let elapsed = started.elapsed();
    let output = reader.join().unwrap_or_default();
    eprintln!("doctor: {elapsed:?}, peak RSS {peak} KiB, exit {status:?}");
    assert!(elapsed < Duration::from_secs(10), "doctor took {elapsed:?}");
    assert!(peak < MEMORY_BUDGET_KIB, "doctor peaked at {peak} KiB");
    assert!(
        status.code().is_some_and(|c| c <= 2),
        "{status:?}\n{output}"
    );
    assert!(
        output.contains("includes itself; not followed"),
        "doctor names the configuration error:\n{output}"
    );
}

#[test]
fn the_server_on_thirty_one_self_including_files_stays_within_the_budget_and_reports_the_error() {
    let root = thirty_one_includes();
    let exporter = Exporter::start(&keepalived_only(&root.0));
    let pid = exporter.pid().expect("a pid");
    for _ in 0..10 {
        let response = http_get(exporter.address, "/metrics", &[]);
        assert_eq!(response.status, 200);
        let errors = response
            .body
            .lines()
            .find_map(|l| l.strip_prefix("ipvs_keepalived_config_errors "))
            .and_then(|v| v.trim().parse::<f64>().ok());
        assert!(errors.is_some_and(|n| n >= 1.0), "{}", response.body);
    }
    let peak = peak_rss_kib(pid).expect("VmHWM");
    eprintln!("server: peak RSS {peak} KiB after 10 scrapes");
    assert!(peak < MEMORY_BUDGET_KIB, "server peaked at {peak} KiB");
    let stopping = Instant::now();
    assert_eq!(exporter.stop(), Some(0));
    assert!(stopping.elapsed() < Duration::from_secs(3));
}

/// A procfs whose softnet_stat is a FIFO nobody writes: reading it never ends, the way a
/// read of a wedged file system would not.
#[test]
fn sigterm_ends_the_server_while_a_collector_is_stuck() {
    let root = TempDir::new("stuck");
    let net = root.0.join("proc/net");
    std::fs::create_dir_all(&net).expect("make proc/net");
    let made = Command::new("mkfifo")
        .arg(net.join("softnet_stat"))
        .status()
        .expect("run mkfifo");
    assert!(made.success(), "mkfifo failed");
    let exporter = Exporter::start(&[
        "--path.procfs".to_string(),
        root.0.join("proc").to_string_lossy().into_owned(),
        "--scrape.collector-timeout".into(),
        "1s".into(),
        "--no-collector.ipvs".into(),
        "--no-collector.conntrack".into(),
        "--no-collector.netdev".into(),
        "--no-collector.interfaces".into(),
        "--no-collector.sysctl".into(),
        "--no-collector.keepalived".into(),
    ]);
    let first = http_get(exporter.address, "/metrics", &[]);
    assert_eq!(first.status, 200);
    assert!(
        first
            .body
            .contains("ipvs_scrape_collector_success{collector=\"softnet\"} 0"),
        "{}",
        first.body
    );
    // Scrapes while it stays stuck start no second run of it, and each says the collector
    // failed. A second run would block on the FIFO too and keep a thread for good, one per
    // scrape; the runtime may start a spare thread or two for other work meanwhile, so eight
    // scrapes may add at most two threads.
    let pid = exporter.pid().expect("a pid");
    let threads_before = threads(pid).expect("the thread count in /proc/PID/status");
    for _ in 0..8 {
        let response = http_get(exporter.address, "/metrics", &[]);
        assert_eq!(response.status, 200);
        assert!(
            response
                .body
                .contains("ipvs_scrape_collector_success{collector=\"softnet\"} 0"),
            "{}",
            response.body
        );
    }
    let threads_after = threads(pid).expect("the thread count in /proc/PID/status");
    assert!(
        threads_after <= threads_before + 2,
        "a stuck collector runs once: {threads_before} threads before 8 scrapes, {threads_after} after"
    );
    let stopping = Instant::now();
    assert_eq!(exporter.stop(), Some(0));
    let took = stopping.elapsed();
    eprintln!("stopped {took:?} after SIGTERM with a collector stuck");
    assert!(took < Duration::from_secs(3), "{took:?}");
}
