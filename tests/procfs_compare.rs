//! What the `procfs` crate (a dev-dependency, measured here only) gives for the few /proc files
//! the project reads that it parses at all: a process's name and owner (keepalived's
//! /proc/PID/comm and /proc/PID) and the kernel release (kernel.osrelease). The files read
//! every scrape (net/ip_vs*, net/softnet_stat, net/stat/nf_conntrack, interrupts, irq/N/*,
//! sys/net/...) have no parser in procfs; docs/decisions/procfs.md lists them.
//! Plain tier: reads only this process's own /proc entries and world-readable sysctls.

// Test code: a failed unwrap or index is a failed test (the [lints] table guards src/).
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::panic, clippy::indexing_slicing)]

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use procfs::KernelVersion;
use procfs::process::Process;

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

#[test]
fn process_name_and_owner_match_what_the_project_reads_on_this_host() {
    // The project reads /proc/PID/comm and the owner of /proc/PID with std; procfs reads the
    // name from /proc/PID/stat (and status) and the owner with fstat.
    let pid = std::process::id();
    let process = Process::new(pid as i32).unwrap();
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
    assert_eq!(process.stat().unwrap().comm, comm.trim());
    assert_eq!(process.status().unwrap().name, comm.trim());
    let owner = std::fs::metadata(format!("/proc/{pid}")).unwrap().uid();
    assert_eq!(process.uid().unwrap(), owner);
    // And both agree with the owner of a file this process creates.
    let scratch = std::env::temp_dir().join(format!("procfs-compare-{pid}"));
    std::fs::write(&scratch, b"").unwrap();
    let created_by = std::fs::metadata(&scratch).unwrap().uid();
    std::fs::remove_file(&scratch).unwrap();
    assert_eq!(owner, created_by);
}

#[test]
fn procfs_cannot_read_the_projects_process_fixture() {
    // The fixtures hold /proc/PID/comm only (what the project reads). procfs opens the
    // directory but needs /proc/PID/stat or status for the name: an error, not a panic.
    let process = Process::new_with_root(fixture("keepalived-director/proc/4242")).unwrap();
    assert_eq!(process.pid(), 4242);
    assert!(process.stat().is_err());
    assert!(process.status().is_err());
    let comm = std::fs::read_to_string(fixture("keepalived-director/proc/4242/comm")).unwrap();
    assert_eq!(comm.trim(), "keepalived");
}

/// Whether `procfs` returns an error (`Some(true)`), succeeds (`Some(false)`) or panics
/// (`None`) on `text` as /proc/PID/stat.
fn stat_outcome(text: &str) -> Option<bool> {
    use procfs::FromRead;
    use procfs::process::Stat;
    std::panic::catch_unwind(|| Stat::from_read(text.as_bytes()).is_err()).ok()
}

#[test]
fn malformed_stat_lines_are_errors_or_panics_in_procfs() {
    // Lines cut short or with the parentheses out of place: some are errors, others index
    // or subtract past the line's ends. The project reads comm, not stat, so it is not exposed;
    // a move to procfs's Process::stat() would be.
    assert_eq!(stat_outcome(""), Some(true));
    assert_eq!(stat_outcome("1 (keepalived) S x y z"), Some(true));
    assert_eq!(stat_outcome("1 (keepalived"), Some(true));
    // The closing parenthesis is the last byte: the rest of the line is sliced past its end.
    assert_eq!(stat_outcome("1 (keepalived)"), None);
    // The opening parenthesis is the first byte: the pid's end is computed as -1.
    assert_eq!(stat_outcome("(keepalived) S 1"), None);
}

#[test]
fn kernel_release_keeps_three_numbers_only() {
    // The project keeps kernel.osrelease as the whole string (the advisor reads major and
    // minor from it); procfs parses major.minor.patch and drops the rest.
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let numbers: Vec<u32> = release
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .take(3)
        .map(|n| n.parse().unwrap())
        .collect();
    let current = KernelVersion::current().unwrap();
    assert_eq!(
        [
            u32::from(current.major),
            u32::from(current.minor),
            u32::from(current.patch)
        ],
        numbers[..]
    );
    let debian = KernelVersion::from_str("6.1.0-31-cloud-amd64").unwrap();
    assert_eq!((debian.major, debian.minor, debian.patch), (6, 1, 0));
    // A release of two numbers is refused; a third number above 65535 too.
    assert!(KernelVersion::from_str("6.10-rc1").is_err());
    assert!(KernelVersion::from_str("4.9.70000").is_err());
}
