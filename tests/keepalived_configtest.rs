//! The advisor's keepalived-notify-fifo-ignored and keepalived-script-disabled findings,
//! checked against Debian's keepalived itself on each configuration of
//! tests/fixtures/keepalived-configtest/: `keepalived -t` (its exit code and what it prints),
//! and keepalived run for real in a network namespace of its own (a veth pair), whose log
//! says which scripts it dropped and whose FIFOs exist or not. A finding must be present
//! exactly when keepalived drops the thing. Needs root, `ip` and keepalived (the test-host
//! tier); the exporter and keepalived read the same /etc/passwd.

// Test code: a failed unwrap or index is a failed test (the [lints] table guards src/).
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::panic, clippy::indexing_slicing)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const KEEPALIVED: &str = "/usr/sbin/keepalived";
const IP: &str = "/usr/sbin/ip";

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keepalived-configtest")
}

fn run(program: &str, args: &[&str]) -> std::process::Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} cannot run (is it installed?): {e}"))
}

/// A network namespace with a veth pair `v0`/`v1`, deleted when dropped.
struct Netns(String);

impl Netns {
    fn new() -> Netns {
        let name = format!("ipvs-kct-{}", std::process::id());
        let _ = run(IP, &["netns", "del", &name]);
        for args in [
            vec!["netns", "add", &name],
            vec![
                "-n", &name, "link", "add", "v0", "type", "veth", "peer", "name", "v1",
            ],
            vec!["-n", &name, "link", "set", "v0", "up"],
            vec!["-n", &name, "link", "set", "v1", "up"],
        ] {
            let out = run(IP, &args);
            assert!(
                out.status.success(),
                "ip {args:?}: {} (this test needs root)",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Netns(name)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = run(IP, &["netns", "del", &self.0]);
    }
}

/// What keepalived did with one configuration.
struct Keepalived {
    test_code: Option<i32>,
    test_output: String,
    /// The log of a real run, up to "Startup complete".
    log: String,
    /// The FIFOs asked about that existed once keepalived had started.
    fifos_made: Vec<PathBuf>,
}

/// keepalived -t, then keepalived run until it logs "Startup complete" (then stopped).
fn keepalived(netns: &Netns, config: &Path, dir: &Path, fifos: &[PathBuf]) -> Keepalived {
    let config = config.to_str().unwrap();
    let test = run(
        IP,
        &["netns", "exec", &netns.0, KEEPALIVED, "-t", "-f", config],
    );
    let pid = |name: &str| dir.join(name).to_string_lossy().into_owned();
    let mut child = Command::new(IP)
        .args([
            "netns", "exec", &netns.0, KEEPALIVED, "-n", "-l", "-f", config,
        ])
        .args([
            "-p",
            &pid("k.pid"),
            "-r",
            &pid("v.pid"),
            "-c",
            &pid("c.pid"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{KEEPALIVED} cannot run: {e}"));
    let stderr = child.stderr.take().unwrap();
    let (send, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if send.send(line).is_err() {
                break;
            }
        }
    });
    let mut log = String::new();
    loop {
        match lines.recv_timeout(Duration::from_secs(20)) {
            Ok(line) => {
                log.push_str(&line);
                log.push('\n');
                if line.ends_with("Startup complete") {
                    break;
                }
            }
            Err(e) => {
                let _ = child.kill();
                panic!("keepalived never logged Startup complete ({e}):\n{log}");
            }
        }
    }
    let fifos_made = fifos.iter().filter(|f| f.exists()).cloned().collect();
    // SIGTERM to keepalived (ip netns exec runs it in its own process), then wait.
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    Keepalived {
        test_code: test.status.code(),
        test_output: String::from_utf8_lossy(&test.stderr).into_owned()
            + &String::from_utf8_lossy(&test.stdout),
        log,
        fifos_made,
    }
}

/// doctor's findings (rule, subject) on a root holding the configuration and this host's
/// /etc/passwd and /etc/group.
fn findings(config_text: &str, root: &Path) -> Vec<(String, String)> {
    std::fs::create_dir_all(root.join("etc/keepalived")).unwrap();
    std::fs::create_dir_all(root.join("proc")).unwrap();
    std::fs::create_dir_all(root.join("sys")).unwrap();
    std::fs::write(root.join("etc/keepalived/keepalived.conf"), config_text).unwrap();
    for file in ["passwd", "group"] {
        std::fs::copy(Path::new("/etc").join(file), root.join("etc").join(file)).unwrap();
    }
    let root_arg = root.to_string_lossy().into_owned();
    let out = Command::new(env!("CARGO_BIN_EXE_ipvs_exporter"))
        .args(["doctor", "--format", "json", "--path.rootfs", &root_arg])
        .args(["--path.procfs", &format!("{root_arg}/proc")])
        .args(["--path.sysfs", &format!("{root_arg}/sys")])
        .args([
            "--collector.ipvs.source",
            "procfs",
            "--collector.conntrack.source",
            "procfs",
        ])
        .args(["--no-collector.netdev.ethtool", "--no-collector.interfaces"])
        .output()
        .expect("run doctor");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("doctor JSON: {e}: {}", String::from_utf8_lossy(&out.stdout)));
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap_or_default().to_string(),
                f["subject"].as_str().unwrap_or_default().to_string(),
            )
        })
        .filter(|(rule, _)| rule.starts_with("keepalived-"))
        .collect()
}

#[test]
fn findings_match_what_keepalived_drops() {
    let netns = Netns::new();
    let mut names: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .collect();
    names.sort();
    assert!(names.len() >= 6, "fixtures missing");
    let (mut dropped_seen, mut kept_seen) = (0, 0);
    let mut failures = Vec::new();
    for fixture in names {
        let name = fixture.file_stem().unwrap().to_string_lossy().into_owned();
        let dir = std::env::temp_dir().join(format!("ipvs-kct-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let text = std::fs::read_to_string(&fixture)
            .unwrap()
            .replace("@IFACE@", "v0")
            .replace("@DIR@", &dir.to_string_lossy());
        let config = dir.join("keepalived.conf");
        std::fs::write(&config, &text).unwrap();
        let fifos: Vec<PathBuf> = ["global.fifo", "vrrp.fifo"]
            .iter()
            .map(|f| dir.join(f))
            .filter(|f| text.contains(&*f.to_string_lossy()))
            .collect();
        let seen = keepalived(&netns, &config, &dir, &fifos);
        let found = findings(&text, &dir.join("root"));
        let mut any_dropped = false;
        // Each FIFO: dropped when keepalived did not make it.
        for fifo in &fifos {
            let path = fifo.to_string_lossy().into_owned();
            let made = seen.fifos_made.contains(fifo);
            let finding = found
                .iter()
                .any(|(r, s)| r == "keepalived-notify-fifo-ignored" && *s == path);
            any_dropped |= !made;
            if made == finding {
                failures.push(format!(
                    "{name}: {path} made by keepalived: {made}, finding: {finding}\n{}",
                    seen.log
                ));
            }
        }
        // The tracked script and the notify script.
        let checks = [
            (
                "vrrp_script chk",
                "Unable to set default user for vrrp script chk - removing",
            ),
            (
                "notify_master vrrp_instance VI_1",
                "Failed to set default user for notify script /bin/true",
            ),
        ];
        for (subject, message) in checks {
            let keyword = subject.split(' ').next().unwrap_or_default();
            if !text.contains(keyword) {
                continue;
            }
            let dropped = seen.log.contains(message);
            let finding = found
                .iter()
                .any(|(r, s)| r == "keepalived-script-disabled" && s == subject);
            any_dropped |= dropped;
            if dropped != finding {
                failures.push(format!(
                    "{name}: {subject} dropped by keepalived: {dropped}, finding: {finding}\n{}",
                    seen.log
                ));
            }
        }
        // keepalived -t: 5 (a configuration error) whenever something is dropped here.
        if any_dropped && seen.test_code != Some(5) {
            failures.push(format!(
                "{name}: keepalived -t exit {:?} with something dropped: {}",
                seen.test_code, seen.test_output
            ));
        }
        if any_dropped {
            dropped_seen += 1;
        } else {
            kept_seen += 1;
        }
        println!(
            "{name}: keepalived -t exit {:?}, dropped {any_dropped}, findings {found:?}",
            seen.test_code
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(
        dropped_seen >= 1 && kept_seen >= 1,
        "the fixtures must show both outcomes: {dropped_seen} dropped, {kept_seen} kept"
    );
}
