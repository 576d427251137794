//! The built binary against hostile or ambiguous command lines: arguments that are not UTF-8,
//! flag values that spell a subcommand's name, and telemetry paths that another endpoint
//! serves. Each must end in a clear usage error (or be taken as the value it is), never in a
//! panic, a different subcommand, or a server that shadows an endpoint.

#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::panic, clippy::indexing_slicing)]
#![allow(clippy::cast_possible_truncation)]

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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
    assert_eq!(served.code, Some(2), "{served:?}");
    assert!(served.stderr.contains("not UTF-8"), "{}", served.stderr);
    assert!(!served.stderr.contains("listening"), "{}", served.stderr);

    // A usage error of doctor's is its "could not run" (3), not a finding's 1 or 2.
    let doctor = run(&[os("doctor"), os("--disable"), not_utf8("somaxconn")]);
    assert_no_panic(&doctor, "doctor with a non-UTF-8 rule");
    assert_eq!(doctor.code, Some(3), "{doctor:?}");

    // Bare non-UTF-8 argument where a subcommand would go.
    let bare = run(&[not_utf8("doc")]);
    assert_no_panic(&bare, "a non-UTF-8 subcommand");
    assert_eq!(bare.code, Some(2), "{bare:?}");
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
    // Not doctor: a usage error of the server is 2, whatever value spells "doctor".
    for flag in [
        "--web.listen-address",
        "--path.rootfs",
        "--keepalived.config-file",
    ] {
        let refused = run(&[os(flag), os("doctor"), os("--log.level"), os("loud")]);
        assert_no_panic(&refused, flag);
        assert_eq!(refused.code, Some(2), "{flag} doctor: {refused:?}");
        assert!(refused.stderr.contains("--log.level"), "{}", refused.stderr);
    }
    // The value is an address, and a bad one: the server says so and runs no doctor.
    let address = run(&[os("--web.listen-address"), os("doctor")]);
    assert_no_panic(&address, "--web.listen-address doctor");
    assert_eq!(address.code, Some(1), "{address:?}");
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
    assert_eq!(no_subcommand.code, Some(2), "{no_subcommand:?}");
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
        assert_eq!(refused.code, Some(2), "{taken}: {refused:?}");
        assert!(
            refused.stderr.contains("served by another endpoint"),
            "{taken}: {}",
            refused.stderr
        );
        assert!(!refused.stderr.contains("listening"), "{}", refused.stderr);
    }
}
