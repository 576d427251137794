//! `wait-drained` end to end on recorded tables: the binary itself reads a /proc/net/ip_vs
//! written as the kernel writes it (through `--path.procfs`), and the decision is checked on
//! a table captured from a real kernel over netlink and replayed, against what `ipvsadm -Ln
//! --persistent-conn` showed of it at the same moment.

#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::panic, clippy::indexing_slicing)]
#![allow(clippy::cast_possible_truncation)]

#[path = "lab/check.rs"]
mod check;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use ipvs_exporter::cli::{self, Command as Subcommand};
use ipvs_exporter::source::ipvs_netlink::read_table;
use ipvs_exporter::wait_drained::{Target, Verdict, judge};
use ipvs_exporter_testkit::{Replay, read_capture_file};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Runs the binary over a procfs directory; its exit code and output.
fn wait_drained(procfs: &Path, args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_ipvs_exporter"))
        .args(["wait-drained", "--collector.ipvs.source", "procfs"])
        .arg("--path.procfs")
        .arg(procfs)
        .args(["--interval", "100ms"])
        .args(args)
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A procfs directory holding only `net/ip_vs` with this text.
fn procfs_with(ip_vs: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "ipvs_exporter-drain-{}-{}",
        std::process::id(),
        ip_vs.len()
    ));
    std::fs::create_dir_all(dir.join("net")).unwrap();
    std::fs::write(dir.join("net/ip_vs"), ip_vs).unwrap();
    dir
}

#[test]
fn the_binary_decides_on_a_proc_table() {
    // mixed-director: 198.51.100.4:80 has weight 0 and no connections in TCP 192.0.2.10:80;
    // 198.51.100.1:8080 has weight 1 there.
    let procfs = fixtures().join("mixed-director/proc");
    let (code, out, err) = wait_drained(
        &procfs,
        &["--real-server", "198.51.100.4:80", "--timeout", "5s"],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.starts_with("198.51.100.4:80 is drained in TCP 192.0.2.10:80 after"),
        "{out}"
    );
    let (code, _, err) = wait_drained(
        &procfs,
        &["--real-server", "198.51.100.1:8080", "--timeout", "5s"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("has weight 1 in TCP 192.0.2.10:80"), "{err}");
    let (code, _, err) = wait_drained(
        &procfs,
        &["--real-server", "198.51.100.99:80", "--timeout", "5s"],
    );
    assert_eq!(code, 2);
    assert!(err.contains("is in no IPVS service"), "{err}");
    // IPv6, and the one service asked for.
    let (code, out, err) = wait_drained(
        &procfs,
        &[
            "--real-server",
            "[2001:db8:1::2]:3868",
            "--service",
            "sctp:[2001:db8::10]:3868",
            "--timeout",
            "5s",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    let (code, _, err) = wait_drained(
        &procfs,
        &[
            "--real-server",
            "198.51.100.4:80",
            "--service",
            "tcp:192.0.2.10:81",
            "--timeout",
            "5s",
        ],
    );
    assert_eq!(code, 2);
    assert!(err.contains("no service TCP 192.0.2.10:81"), "{err}");

    // A real server of weight 0 still holding 3 active connections: waits, then times out.
    let busy = procfs_with(
        "IP Virtual Server version 1.2.1 (size=4096)\n\
         Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port Forward Weight ActiveConn InActConn\n\
         TCP  0A000001:0050 rr persistent 300 FFFFFFFF\n\
         \x20 -> 0A010102:0050      Masq    0      3          1         \n\
         \x20 -> 0A010202:0050      Masq    1      2          0         \n",
    );
    let started = std::time::Instant::now();
    let (code, out, err) = wait_drained(
        &busy,
        &["--real-server", "10.1.1.2:80", "--timeout", "500ms"],
    );
    assert_eq!(code, 1, "{out}{err}");
    assert!(started.elapsed() >= std::time::Duration::from_millis(500));
    assert!(
        out.contains("still has 3 active connections in TCP 10.0.0.1:80"),
        "{out}"
    );
    assert!(
        !err.contains(" of "),
        "no progress lines when stderr is not a terminal: {err}"
    );
    // Templates of a persistent service cannot be read from /proc: could not run.
    let (code, _, err) = wait_drained(
        &busy,
        &[
            "--real-server",
            "10.1.1.2:80",
            "--templates",
            "--timeout",
            "1s",
        ],
    );
    assert_eq!(code, 3);
    assert!(
        err.contains("persistence templates of 10.1.1.2:80"),
        "{err}"
    );
    std::fs::remove_dir_all(&busy).unwrap();

    // No IPVS at all, and bad arguments: could not run.
    let (code, _, err) = wait_drained(
        &fixtures().join("no-ipvs/proc"),
        &["--real-server", "10.1.1.2:80", "--timeout", "1s"],
    );
    assert_eq!(code, 3, "{err}");
    let (code, _, _) = wait_drained(
        &procfs,
        &["--real-server", "198.51.100.4", "--timeout", "1s"],
    );
    assert_eq!(code, 3);
    let (code, _, _) = wait_drained(&procfs, &["--real-server", "198.51.100.4:80"]);
    assert_eq!(code, 3, "--timeout is required");
}

#[test]
fn the_command_line_takes_a_service_or_a_mark_not_both() {
    let parse = |args: &[&str]| {
        cli::parse_from(["ipvs_exporter", "wait-drained"].iter().chain(args)).map(|s| s.cli.command)
    };
    match parse(&[
        "--real-server",
        "[2001:db8::1]:443",
        "--fwmark",
        "7",
        "--timeout",
        "5m",
        "--templates",
    ]) {
        Ok(Some(Subcommand::WaitDrained {
            real_server,
            fwmark,
            templates,
            timeout,
            interval,
            service,
        })) => {
            assert_eq!(real_server, "[2001:db8::1]:443".parse().unwrap());
            assert_eq!(fwmark, Some(7));
            assert!(templates && service.is_none());
            assert_eq!(timeout.as_secs(), 300);
            assert_eq!(interval.as_secs(), 1, "one read a second by default");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        parse(&[
            "--real-server",
            "10.0.0.2:80",
            "--fwmark",
            "7",
            "--service",
            "tcp:10.0.0.1:80",
            "--timeout",
            "5s"
        ])
        .is_err()
    );
}

#[test]
fn a_replayed_kernel_table_drains_a_weight_zero_real_server_with_its_templates() {
    // kinds: 198.51.100.4:80 has weight 0 in TCP 192.0.2.10:80; ipvsadm showed 0 templates,
    // 0 active, 0 inactive for it.
    let path = fixtures().join("netlink/kinds");
    let ipvsadm = std::fs::read_to_string(path.join("ipvsadm-Ln-persistent-conn.txt")).unwrap();
    assert!(
        ipvsadm.contains("  -> 198.51.100.4:80              0         0           0          0")
    );
    let exchanges = read_capture_file(&path.join("exchanges.txt")).unwrap();
    let table = read_table(&mut Replay::new(exchanges))
        .unwrap()
        .unwrap()
        .table;
    let target = Target {
        real_server: "198.51.100.4:80".parse().unwrap(),
        service: None,
        templates: true,
    };
    assert!(
        matches!(judge(Some(&table), &target), Verdict::Drained { ref services } if services.len() == 1)
    );
    let serving = Target {
        real_server: "198.51.100.3:80".parse().unwrap(),
        ..target
    };
    assert!(matches!(
        judge(Some(&table), &serving),
        Verdict::NotDraining { weight: 3, .. }
    ));
}

/// The doctor golden of mixed-director lists as draining exactly the real servers that
/// ipvsadm showed with weight 0 when the fixture was recorded.
#[test]
fn the_doctor_golden_drains_what_ipvsadm_shows_at_weight_0() {
    let ipvsadm =
        std::fs::read_to_string(fixtures().join("mixed-director/ipvsadm-Ln.txt")).unwrap();
    let weight_zero: BTreeSet<(String, String, String)> = check::parse_ipvsadm_list(&ipvsadm)
        .unwrap()
        .iter()
        .flat_map(|s| &s.backends)
        .filter(|b| b.weight == 0)
        .map(|b| {
            (
                b.key.service.local_address.clone(),
                b.key.remote_address.clone(),
                b.key.remote_port.clone(),
            )
        })
        .collect();
    assert_eq!(weight_zero.len(), 2, "{ipvsadm}");
    let golden = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/mixed-director/doctor.json"),
    )
    .unwrap();
    let json: serde_json::Value = serde_json::from_str(&golden).unwrap();
    let draining: BTreeSet<(String, String, String)> = json["draining"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let service = d["service"].as_str().unwrap();
            let local = service
                .split_once(' ')
                .and_then(|(_, socket)| socket.rsplit_once(':'))
                .map(|(address, _)| address.trim_matches(['[', ']']).to_string())
                .unwrap();
            (
                local,
                d["address"].as_str().unwrap().to_string(),
                d["port"].to_string(),
            )
        })
        .collect();
    assert_eq!(draining, weight_zero);
}
