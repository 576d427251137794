//! The built binary against hostile or ambiguous command lines: arguments that are not UTF-8,
//! flag values that spell a subcommand's name, and telemetry paths that another endpoint
//! serves. Each must end in a clear usage error (or be taken as the value it is), never in a
//! panic, a different subcommand, or a server that shadows an endpoint.

#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::panic, clippy::indexing_slicing)]
#![allow(clippy::cast_possible_truncation)]

mod support;

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ipvs_exporter::exit_codes;

/// What one run of the binary gave.
#[derive(Debug)]
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs the binary with `args`, killing it (a failed test) if it is still running after 20 s:
/// a command line that should be refused must not start a server.
fn run(args: &[OsString]) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ipvs_exporter"))
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the binary");
    let started = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let output = child.wait_with_output().expect("collect output");
            panic!(
                "{args:?} still running after 20 s (a server started?): {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().expect("collect output");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn os(text: &str) -> OsString {
    OsString::from(text)
}

/// `prefix` followed by bytes that are not UTF-8.
fn not_utf8(prefix: &str) -> OsString {
    let mut bytes = prefix.as_bytes().to_vec();
    bytes.extend_from_slice(&[0xff, 0xfe, b'x']);
    OsString::from_vec(bytes)
}

fn assert_no_panic(run: &Run, what: &str) {
    assert_ne!(run.code, Some(101), "{what} panicked: {}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "{what}: {}", run.stderr);
}

#[test]
fn an_argument_that_is_not_utf8_is_a_usage_error_not_a_panic() {
    let served = run(&[os("--web.listen-address"), not_utf8("127.0.0.1:")]);
    assert_no_panic(&served, "a non-UTF-8 listen address");
    assert_eq!(served.code, Some(3), "{served:?}");
    assert!(served.stderr.contains("not UTF-8"), "{}", served.stderr);
    assert!(!served.stderr.contains("listening"), "{}", served.stderr);

    // A usage error is "could not run" (3) for every command: not a doctor finding's 1 or 2.
    let doctor = run(&[os("doctor"), os("--disable"), not_utf8("somaxconn")]);
    assert_no_panic(&doctor, "doctor with a non-UTF-8 rule");
    assert_eq!(doctor.code, Some(3), "{doctor:?}");

    // Bare non-UTF-8 argument where a subcommand would go.
    let bare = run(&[not_utf8("doc")]);
    assert_no_panic(&bare, "a non-UTF-8 subcommand");
    assert_eq!(bare.code, Some(3), "{bare:?}");
}

#[test]
fn a_path_that_is_not_utf8_is_taken_as_a_path() {
    let explained = run(&[
        os("--path.rootfs"),
        not_utf8("/nonexistent-root-"),
        os("doctor"),
        os("--explain"),
        os("somaxconn"),
    ]);
    assert_no_panic(&explained, "a non-UTF-8 rootfs");
    assert_eq!(explained.code, Some(0), "{explained:?}");
    assert!(explained.stdout.starts_with("somaxconn"), "{explained:?}");
}

#[test]
fn a_flag_whose_value_is_doctor_keeps_its_value_and_the_subcommand() {
    // Not doctor: the server's usage error, whatever value spells "doctor".
    for flag in [
        "--web.listen-address",
        "--path.rootfs",
        "--keepalived.config-file",
    ] {
        let refused = run(&[os(flag), os("doctor"), os("--log.level"), os("loud")]);
        assert_no_panic(&refused, flag);
        assert_eq!(refused.code, Some(3), "{flag} doctor: {refused:?}");
        assert!(refused.stderr.contains("--log.level"), "{}", refused.stderr);
    }
    // The value is an address, and a bad one: the server says so and runs no doctor.
    let address = run(&[os("--web.listen-address"), os("doctor")]);
    assert_no_panic(&address, "--web.listen-address doctor");
    assert_eq!(address.code, Some(3), "{address:?}");
    assert!(address.stderr.contains("doctor"), "{}", address.stderr);
    assert!(!address.stdout.contains("Role"), "{}", address.stdout);
    // A root named "doctor", then the real subcommand.
    let explained = run(&[
        os("--path.rootfs"),
        os("doctor"),
        os("doctor"),
        os("--explain"),
        os("somaxconn"),
    ]);
    assert_eq!(explained.code, Some(0), "{explained:?}");
    assert!(explained.stdout.starts_with("somaxconn"), "{explained:?}");
    // Only a rootfs named "doctor" and no subcommand: nothing to explain, a usage error.
    let no_subcommand = run(&[
        os("--path.rootfs"),
        os("doctor"),
        os("--explain"),
        os("somaxconn"),
    ]);
    assert_eq!(no_subcommand.code, Some(3), "{no_subcommand:?}");
}

#[test]
fn a_telemetry_path_that_another_endpoint_serves_is_refused_at_start() {
    for taken in ["/report", "/report/", "/healthz", "//healthz", "/", "//"] {
        let refused = run(&[
            os("--web.listen-address"),
            os("127.0.0.1:0"),
            os("--web.telemetry-path"),
            os(taken),
        ]);
        assert_no_panic(&refused, taken);
        assert_eq!(refused.code, Some(3), "{taken}: {refused:?}");
        assert!(
            refused.stderr.contains("served by another endpoint"),
            "{taken}: {}",
            refused.stderr
        );
        assert!(!refused.stderr.contains("listening"), "{}", refused.stderr);
    }
}

/// The flags that point the binary at a fixture tree, as the goldens run it.
fn fixture(scenario: &str) -> Vec<OsString> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(scenario);
    vec![
        os("--path.procfs"),
        dir.join("proc").into_os_string(),
        os("--path.sysfs"),
        dir.join("sys").into_os_string(),
        os("--path.rootfs"),
        dir.into_os_string(),
        os("--collector.ipvs.source"),
        os("procfs"),
        os("--collector.conntrack.source"),
        os("procfs"),
        os("--no-collector.netdev.ethtool"),
        os("--no-collector.interfaces"),
    ]
}

fn args(words: &[&str]) -> Vec<OsString> {
    words.iter().map(|w| os(w)).collect()
}

fn with(mut first: Vec<OsString>, more: &[&str]) -> Vec<OsString> {
    first.extend(more.iter().map(|w| os(w)));
    first
}

/// Each command's exit codes, produced by the binary, and checked against the table that
/// docs/exit-codes.md and the man page are written from: every row of the table is seen,
/// and nothing outside it.
#[test]
fn every_exit_code_of_the_table_is_what_the_binary_returns() {
    let mut seen: BTreeSet<(&str, u8)> = BTreeSet::new();
    let mut expect = |command: &'static str, code: u8, argv: Vec<OsString>, says: &str| {
        let ran = run(&argv);
        assert_no_panic(&ran, &format!("{argv:?}"));
        assert_eq!(ran.code, Some(i32::from(code)), "{argv:?}: {ran:?}");
        assert!(
            ran.stdout.contains(says) || ran.stderr.contains(says),
            "{argv:?} must say {says:?}: {ran:?}"
        );
        seen.insert((command, code));
    };
    let server = "ipvs_exporter";
    expect(server, 0, args(&["--help"]), "Usage:");
    expect(server, 0, args(&["--version"]), env!("CARGO_PKG_VERSION"));
    expect(server, 3, args(&["--no-such-flag"]), "--no-such-flag");
    expect(
        server,
        3,
        args(&["--scrape.collector-timeout", "5"]),
        "has no unit",
    );
    expect(
        server,
        3,
        args(&[
            "--web.listen-address",
            "127.0.0.1:0",
            "--web.config.file",
            "/nonexistent/web.yml",
        ]),
        "/nonexistent/web.yml",
    );
    expect(
        server,
        3,
        args(&["--web.listen-address", "no-port"]),
        "no-port",
    );

    let doctor = "ipvs_exporter doctor";
    expect(
        doctor,
        0,
        with(fixture("host"), &["doctor"]),
        "Findings: none",
    );
    expect(
        doctor,
        1,
        with(fixture("sysctl-bad"), &["doctor"]),
        "WARNING",
    );
    expect(
        doctor,
        2,
        with(fixture("mixed-director"), &["doctor"]),
        "CRITICAL",
    );
    expect(doctor, 3, args(&["doctor", "--format", "yaml"]), "yaml");
    expect(
        doctor,
        3,
        args(&["doctor", "--explain", "nope"]),
        "no rule \"nope\"",
    );
    expect(
        doctor,
        3,
        args(&["doctor", "--keepalived.json-max-age", "60"]),
        "has no unit",
    );

    let wait = "ipvs_exporter wait-drained";
    let mixed = with(
        fixture("mixed-director"),
        &["wait-drained", "--interval", "100ms"],
    );
    expect(
        wait,
        0,
        with(
            mixed.clone(),
            &["--real-server", "198.51.100.4:80", "--timeout", "5s"],
        ),
        "is drained",
    );
    expect(
        wait,
        2,
        with(
            mixed.clone(),
            &["--real-server", "198.51.100.1:8080", "--timeout", "5s"],
        ),
        "has weight 1",
    );
    expect(
        wait,
        3,
        with(
            mixed.clone(),
            &["--real-server", "198.51.100.4", "--timeout", "5s"],
        ),
        "is not ADDRESS:PORT",
    );
    let busy = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-args-busy-proc");
    std::fs::create_dir_all(busy.join("net")).unwrap();
    std::fs::write(
        busy.join("net/ip_vs"),
        "IP Virtual Server version 1.2.1 (size=4096)\n\
         Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port Forward Weight ActiveConn InActConn\n\
         TCP  0A000001:0050 rr\n\
         \x20 -> 0A010102:0050      Masq    0      3          1         \n",
    )
    .unwrap();
    expect(
        wait,
        1,
        with(
            args(&["--path.procfs"]),
            &[
                busy.to_str().unwrap(),
                "--collector.ipvs.source",
                "procfs",
                "wait-drained",
                "--real-server",
                "10.1.1.2:80",
                "--timeout",
                "300ms",
                "--interval",
                "100ms",
            ],
        ),
        "still has 3 active connections",
    );

    // fleet against a fake query API serving the fleet fixtures, and against nothing.
    let fleet = "ipvs_exporter fleet";
    for (code, fixture, says) in [
        (0, "healthy", "Findings: none"),
        (1, "drift", "WARNING"),
        (2, "split-brain", "CRITICAL"),
    ] {
        let api =
            support::fleet_api::FakeApi::start(support::fleet_api::Mode::Fixture(fixture.into()));
        expect(
            fleet,
            code,
            args(&["fleet", "--prometheus", &api.url()]),
            says,
        );
    }
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    expect(
        fleet,
        3,
        args(&["fleet", "--prometheus", &format!("http://{closed}")]),
        "cannot connect",
    );

    // The server stops cleanly on SIGTERM: 0 (with no collector at all, too).
    let exporter = support::Exporter::start(&["--collector.disable-defaults"]);
    assert_eq!(exporter.stop(), Some(0), "SIGTERM");
    seen.insert((server, 0));

    let table: BTreeSet<(&str, u8)> = exit_codes::TABLE
        .iter()
        .map(|row| (row.command, row.code))
        .collect();
    assert_eq!(seen, table, "the binary's codes against src/exit_codes.rs");
}

#[test]
fn a_missing_web_config_file_is_said_once() {
    let refused = run(&args(&[
        "--web.listen-address",
        "127.0.0.1:0",
        "--web.config.file",
        "/nonexistent/web.yml",
    ]));
    assert_eq!(refused.code, Some(3), "{refused:?}");
    let os_error = std::io::Error::from_raw_os_error(2).to_string();
    assert!(refused.stderr.contains(&os_error), "{}", refused.stderr);
    assert_eq!(
        refused.stderr.matches(&os_error).count(),
        1,
        "the OS error once: {}",
        refused.stderr
    );
    assert_eq!(
        refused.stderr.matches("/nonexistent/web.yml").count(),
        1,
        "{}",
        refused.stderr
    );
    assert_eq!(
        refused.stderr.lines().count(),
        1,
        "one log line: {}",
        refused.stderr
    );
}

#[test]
fn emit_sysctl_exits_0_once_the_file_is_printed() {
    let critical = with(fixture("sysctl-bad"), &["--role", "nat-director", "doctor"]);
    let report = run(&critical);
    assert_eq!(
        report.code,
        Some(2),
        "the findings are critical: {report:?}"
    );
    let emitted = run(&with(critical, &["--emit-sysctl"]));
    assert_eq!(emitted.code, Some(0), "{emitted:?}");
    assert!(
        emitted.stdout.contains("\nnet.ipv4.ip_forward = 1\n"),
        "{}",
        emitted.stdout
    );
}

#[test]
fn explain_without_a_rule_lists_the_rules_and_json_is_json() {
    let listed = run(&args(&["doctor", "--explain"]));
    assert_eq!(listed.code, Some(0), "{listed:?}");
    let ids: Vec<&str> = listed
        .stdout
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    // Every id listed explains, and the list is the one the unknown-rule error gives.
    let unknown = run(&args(&["doctor", "--explain", "nope"]));
    let named: Vec<&str> = unknown
        .stderr
        .split("the rules are: ")
        .nth(1)
        .expect("the error names the rules")
        .trim()
        .split(", ")
        .collect();
    assert_eq!(ids, named);
    assert!(ids.len() >= 20 && ids.contains(&"somaxconn"), "{ids:?}");

    let list_json = run(&args(&["doctor", "--explain", "--format", "json"]));
    assert_eq!(list_json.code, Some(0), "{list_json:?}");
    let rules: serde_json::Value = serde_json::from_str(&list_json.stdout).expect("JSON");
    let json_ids: Vec<&str> = rules
        .as_array()
        .expect("an array")
        .iter()
        .map(|r| r["id"].as_str().expect("id"))
        .collect();
    assert_eq!(json_ids, ids);

    let text = run(&args(&["doctor", "--explain", "somaxconn"]));
    let json = run(&args(&[
        "doctor",
        "--explain",
        "somaxconn",
        "--format",
        "json",
    ]));
    assert_eq!(json.code, Some(0), "{json:?}");
    let rule: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert_eq!(rule["id"], "somaxconn");
    assert_eq!(rule["severity"], "warning");
    // The same words as the text, field by field.
    for field in ["what", "why", "severity_why", "fix"] {
        let said = rule[field].as_str().expect(field);
        assert!(
            !said.is_empty() && text.stdout.contains(said),
            "{field}: {said}"
        );
    }
}

/// Every flag whose value the clap definitions read as a `Duration`: (subcommand, long name).
fn duration_flags() -> Vec<(Option<String>, String)> {
    let mut command = ipvs_exporter::cli::command();
    command.build();
    let is_duration =
        |arg: &clap::Arg| arg.get_value_parser().type_id() == std::any::TypeId::of::<Duration>();
    let mut found: Vec<(Option<String>, String)> = command
        .get_arguments()
        .filter(|arg| is_duration(arg))
        .map(|arg| (None, arg.get_long().expect("a long flag").to_string()))
        .collect();
    let top: BTreeSet<&str> = command
        .get_arguments()
        .map(|a| a.get_id().as_str())
        .collect();
    for sub in command.get_subcommands() {
        for arg in sub.get_arguments() {
            if is_duration(arg) && !top.contains(arg.get_id().as_str()) {
                let long = arg.get_long().expect("a long flag").to_string();
                found.push((Some(sub.get_name().to_string()), long));
            }
        }
    }
    found
}

#[test]
fn every_duration_flag_takes_a_prometheus_duration() {
    let flags = duration_flags();
    assert!(flags.len() >= 7, "{flags:?}");
    for (subcommand, flag) in &flags {
        let line = |value: &str, tail: &[&str]| -> Vec<OsString> {
            let mut argv: Vec<OsString> = subcommand.iter().map(|s| os(s)).collect();
            argv.extend([os(&format!("--{flag}")), os(value)]);
            argv.extend(tail.iter().map(|w| os(w)));
            argv
        };
        // --help after the flag: its value is read first (a bad one is refused), then help
        // is printed and nothing runs.
        let ok = run(&line("1h30m", &["--help"]));
        assert_eq!(ok.code, Some(0), "--{flag} 1h30m: {ok:?}");
        for (bad, why) in [
            ("90", "has no unit"),
            ("1.5h", "whole numbers"),
            ("30m1h", "largest first"),
            ("8d", "at most a week"),
            ("0", "more than zero"),
        ] {
            let refused = run(&line(bad, &["--help"]));
            assert_eq!(refused.code, Some(3), "--{flag} {bad}: {refused:?}");
            assert!(
                refused.stderr.contains(&format!("--{flag}")) && refused.stderr.contains(why),
                "--{flag} {bad}: {}",
                refused.stderr
            );
        }
    }
}
