//! The packages in a booted Debian system (tier `test-lab`): a bookworm root file system with
//! systemd as init (mmdebstrap, cached), Debian's cloud kernel, qemu TCG. In the guest the
//! `.deb` is installed with dpkg and its unit started by systemd; a NAT director with two
//! real servers and keepalived with one VRRP instance run beside it. The checks: the service
//! runs as its own user with CAP_NET_ADMIN alone, its per-service and per-real-server
//! counters equal `ipvsadm -Ln --stats --exact`, it sees keepalived's state, it comes back
//! after `systemctl restart` and `kill -9`, `systemd-analyze verify` is clean and `security`
//! rates it, an upgrade keeps the edited conffile and restarts it, the container image's
//! entrypoint run as the DaemonSet runs it (uid 0, NET_ADMIN alone, the image's file system
//! as root) reads the same table, and a purge removes the package and its conffile.
//!
//! `IPVS_LAB_DEBIAN_RESULTS=DIR` checks an earlier run's results in DIR without booting.

// Test code: a failed unwrap or index is a failed test (the [lints] table guards src/); the
// shared lab checks turn whole-number sample values into counts.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

#[path = "lab/check.rs"]
mod check;

use check::{Checkpoint, Metrics, Report, check_checkpoint, check_exporter_log};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Instant;

/// CAP_NET_ADMIN is capability 12: the mask /proc/PID/status prints for it alone.
const NET_ADMIN_ONLY: &str = "0000000000001000";

fn say(msg: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{msg}");
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn results() -> &'static Path {
    static RESULTS: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match RESULTS.get_or_init(run_lab) {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    }
}

/// The commit the packages in `pkg` were built from, when it is the commit checked out now and
/// the work tree is clean (as in a CI run, where the packaging tier built them minutes ago);
/// `None` means build them again.
fn packages_of_this_tree(pkg: &Path) -> Option<String> {
    let built_from = std::fs::read_to_string(pkg.join("built-from")).ok()?;
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git")
            .args(args)
            .current_dir(root())
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let head = git(&["rev-parse", "HEAD"])?;
    let clean = git(&["status", "--porcelain"])?.is_empty();
    (clean && !head.is_empty() && built_from.trim() == head).then_some(head)
}

fn run_lab() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("IPVS_LAB_DEBIAN_RESULTS") {
        say(&format!(
            "lab-debian: checking earlier results in {} (IPVS_LAB_DEBIAN_RESULTS); no boot",
            dir.to_string_lossy()
        ));
        return Ok(PathBuf::from(dir));
    }
    let pkg = root().join("target/packaging");
    if let Some(commit) = packages_of_this_tree(&pkg) {
        say(&format!(
            "lab-debian: using the packages packaging/build.sh built from {commit}, the clean tree checked out now"
        ));
    } else {
        let t = Instant::now();
        let status = Command::new("bash")
            .arg(root().join("packaging/build.sh"))
            .stdin(Stdio::null())
            .status()
            .map_err(|e| format!("cannot run packaging/build.sh: {e}"))?;
        if !status.success() {
            return Err(format!(
                "packaging/build.sh failed ({status}); see its stderr"
            ));
        }
        say(&format!(
            "lab-debian: packages built in {:.0} s",
            t.elapsed().as_secs_f64()
        ));
    }
    let v = env!("CARGO_PKG_VERSION");
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("lab-debian");
    let _ = std::fs::remove_dir_all(&out);
    let t = Instant::now();
    let status = Command::new("bash")
        .arg(root().join("tests/lab/debian/run.sh"))
        .arg(pkg.join(format!("ipvs-exporter_{v}-1_amd64.deb")))
        .arg(pkg.join(format!("ipvs-exporter_{v}-2_amd64.deb")))
        .arg(pkg.join("container.tar"))
        .arg(pkg.join("container-command.txt"))
        .arg(&out)
        .stdin(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run tests/lab/debian/run.sh: {e}"))?;
    say(&format!(
        "lab-debian: harness wall time {:.0} s",
        t.elapsed().as_secs_f64()
    ));
    if !status.success() {
        return Err(format!(
            "the booted-Debian lab failed ({status}); the reason is on stderr above; console: {}",
            out.join("console.log").display()
        ));
    }
    Ok(out)
}

fn read(file: &str) -> String {
    let p = results().join(file);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// `Key:\tvalue` lines of /proc/PID/status.
fn status_field(status: &str, key: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("no {key} in:\n{status}"))
}

fn pids(file: &str) -> (u32, u32) {
    let text = read(file);
    let v: Vec<u32> = text
        .split_whitespace()
        .map(|w| w.parse().unwrap_or_else(|_| panic!("{file}: {text}")))
        .collect();
    match v.as_slice() {
        [a, b] => (*a, *b),
        _ => panic!("{file}: {text}"),
    }
}

fn assert_checkpoint(name: &str) -> Metrics {
    let cp = Checkpoint::load(&results().join(name)).unwrap_or_else(|e| panic!("{e}"));
    let mut report = Report::default();
    check_checkpoint(&cp, &mut report);
    for n in &report.notes {
        say(&format!("note: {n}"));
    }
    assert!(
        report.problems.is_empty(),
        "{name}: the exporter differs from ipvsadm:\n{}",
        report.problems.join("\n")
    );
    // the per-service and per-real-server counters are there (netlink with CAP_NET_ADMIN)
    // and count the traffic the guest sent, as ipvsadm does
    for (family, labels) in [
        (
            "ipvs_service_connections_total",
            vec![
                ("proto", "TCP"),
                ("local_address", "10.1.0.1"),
                ("local_port", "80"),
            ],
        ),
        (
            "ipvs_backend_connections_total",
            vec![
                ("proto", "TCP"),
                ("remote_address", "10.2.2.2"),
                ("remote_port", "80"),
            ],
        ),
    ] {
        let v = cp
            .metrics
            .value(family, &labels)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(v >= 1.0, "{name}: {family}{labels:?} = {v}");
    }
    let stats = read(&format!("{name}/ipvsadm-stats.txt"));
    say(&format!("{name}: ipvsadm -Ln --stats --exact:\n{stats}"));
    cp.metrics
}

#[test]
fn package_installs_creates_its_user_and_starts_enabled() {
    let user = read("user.txt");
    assert!(user.starts_with("ipvs_exporter:"), "user.txt: {user}");
    assert!(
        user.trim_end().ends_with(":/nonexistent:/usr/sbin/nologin"),
        "{user}"
    );
    assert_eq!(read("is-enabled.txt").trim(), "enabled");
    assert_eq!(read("is-active.txt").trim(), "active");
    assert!(
        read("conffiles.txt").contains("/etc/default/ipvs_exporter "),
        "conffiles: {}",
        read("conffiles.txt")
    );
    let failures = results().join("failures.txt");
    assert!(
        !failures.exists(),
        "steps failed in the guest:\n{}",
        read("failures.txt")
    );
}

#[test]
fn service_runs_as_its_user_with_net_admin_alone() {
    let id = read("identity.txt");
    say(&format!("the running service's /proc/PID/status:\n{id}"));
    let uid: String = read("user.txt")
        .split(':')
        .nth(2)
        .expect("uid in user.txt")
        .to_string();
    let uids = status_field(&id, "Uid");
    assert!(
        uids.split_whitespace().all(|u| u == uid),
        "Uid {uids}, user's uid {uid}"
    );
    assert_ne!(uid, "0");
    for cap in ["CapPrm", "CapEff", "CapBnd", "CapAmb", "CapInh"] {
        assert_eq!(status_field(&id, cap), NET_ADMIN_ONLY, "{cap}");
    }
    assert_eq!(status_field(&id, "NoNewPrivs"), "1");
    assert_eq!(status_field(&id, "Seccomp"), "2", "a system call filter");
    let limits = read("limits.txt");
    let nofile = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("Max open files");
    assert!(nofile.contains("8192"), "{nofile}");
}

#[test]
fn service_counters_equal_ipvsadm() {
    assert_checkpoint("service");
}

#[test]
fn service_reads_keepalived_state() {
    let m = Metrics::parse(&read("service/metrics.txt")).expect("metrics");
    assert_eq!(m.value("ipvs_keepalived_up", &[]), Ok(1.0));
    assert_eq!(
        m.value(
            "ipvs_vrrp_state",
            &[("vrrp_instance", "VI_1"), ("state", "MASTER")]
        ),
        Ok(1.0)
    );
}

#[test]
fn service_survives_restart_and_kill() {
    let (a, b) = pids("pids-restart.txt");
    assert_ne!(a, b, "systemctl restart gave a new process");
    let (b2, c) = pids("pids-kill.txt");
    assert_eq!(b, b2);
    assert_ne!(b, c, "a new process after kill -9");
    let after = read("after-kill.txt");
    assert!(after.contains("ActiveState=active"), "{after}");
    let restarts: u32 = after
        .lines()
        .find_map(|l| l.strip_prefix("NRestarts="))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{after}"));
    assert!(restarts >= 1, "Restart= did not restart it: {after}");
    assert_checkpoint("after-restart");
    let mut report = Report::default();
    check_exporter_log("journal", &read("journal.txt"), &mut report);
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

#[test]
fn unit_verifies_and_security_is_rated() {
    let status = read("verify-status.txt");
    let said = read("verify.txt");
    assert_eq!(status.trim(), "0", "systemd-analyze verify: {said}");
    assert!(
        !said.contains("ipvs_exporter"),
        "systemd-analyze verify said: {said}"
    );
    let sec = read("security.txt");
    let overall = sec
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("{sec}"));
    say(&format!(
        "systemd-analyze security on the live unit: {overall}"
    ));
    say(&read("unit-show.txt"));
}

#[test]
fn upgrade_keeps_the_edited_conffile_and_restarts() {
    let v = format!("{}-2", env!("CARGO_PKG_VERSION"));
    assert_eq!(read("version-after-upgrade.txt").trim(), v);
    let before = read("default-before-upgrade.txt");
    assert!(before.contains("--log.level=debug"));
    assert_eq!(read("default-after-upgrade.txt"), before, "conffile kept");
    let (old, new) = pids("pids-upgrade.txt");
    assert_ne!(old, new, "restarted after the upgrade");
    assert_eq!(read("is-active-upgrade.txt").trim(), "active");
    assert!(
        read("cmdline-upgrade.txt").contains("--log.level=debug"),
        "the restarted service reads the kept conffile"
    );
}

/// The unit as shipped cannot see keepalived's JSON dump (PrivateTmp, mode 0600); the
/// drop-in shipped in the package's documentation makes it read it.
#[test]
fn json_dump_needs_the_drop_in_and_works_with_it() {
    let plain = Metrics::parse(&read("service/metrics.txt")).expect("metrics");
    assert!(
        !plain.has_family("ipvs_keepalived_dump_age_seconds"),
        "the hardened unit read the JSON dump"
    );
    let id = read("json/identity.txt");
    say(&format!("with the JSON drop-in:\n{id}"));
    // CAP_DAC_READ_SEARCH (2), CAP_KILL (5), CAP_NET_ADMIN (12)
    for cap in ["CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(status_field(&id, cap), "0000000000001024", "{cap}");
    }
    let m = Metrics::parse(&read("json/metrics.txt")).expect("metrics");
    let age = m
        .value("ipvs_keepalived_dump_age_seconds", &[])
        .unwrap_or_else(|e| panic!("{e}; dump file: {}", read("json/dump-file.txt")));
    assert!((0.0..60.0).contains(&age), "dump age {age}");
    assert_eq!(
        m.value("ipvs_vrrp_effective_priority", &[("vrrp_instance", "VI_1")]),
        Ok(150.0)
    );
}

#[test]
fn container_entrypoint_reads_ipvs_with_net_admin_alone() {
    let id = read("container-identity.txt");
    say(&format!("the image's entrypoint, /proc/PID/status:\n{id}"));
    assert!(
        status_field(&id, "Uid")
            .split_whitespace()
            .all(|u| u == "0")
    );
    for cap in ["CapPrm", "CapEff", "CapBnd"] {
        assert_eq!(status_field(&id, cap), NET_ADMIN_ONLY, "{cap}");
    }
    say(&format!(
        "its root directory:\n{}",
        read("container-root.txt")
    ));
    // the process's / is the image's file system: its /usr/bin holds the exporter alone
    assert_eq!(read("container-usr-bin.txt").trim(), "ipvs_exporter");
    assert_eq!(read("container-exe.txt").trim(), "/usr/bin/ipvs_exporter");
    let cmd = read("container-command.txt");
    assert!(
        cmd.starts_with("/usr/bin/ipvs_exporter ") && cmd.contains("--path.procfs=/host/proc"),
        "{cmd}"
    );
    let m = assert_checkpoint("container");
    assert_eq!(m.value("ipvs_keepalived_up", &[]), Ok(1.0));
    assert_eq!(
        m.value(
            "ipvs_vrrp_state",
            &[("vrrp_instance", "VI_1"), ("state", "MASTER")]
        ),
        Ok(1.0)
    );
}

#[test]
fn purge_removes_the_package_and_its_conffile() {
    let after = read("after-purge.txt");
    for want in [
        "default: absent",
        "unit: absent",
        "binary: absent",
        "user: kept",
    ] {
        assert!(after.contains(want), "after purge, want {want}:\n{after}");
    }
    assert!(
        !after.contains("active: active"),
        "still running after purge:\n{after}"
    );
}
