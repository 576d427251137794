//! The HTTP server against clients that try to starve it, on loopback: thousands of idle or
//! half-sent connections under systemd's default open-files limit, a client that sends its
//! headers a byte a second, oversized headers, idle keep-alive connections; and a bad web
//! configuration file stopping the program before it listens.

// Test code: a failed unwrap or index is a failed test (the [lints] table guards src/).
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::panic, clippy::indexing_slicing)]
#![allow(clippy::cast_possible_truncation)]

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{Exporter, http_get};

/// Raises this test process's own open-files limit, which 3,000 client sockets need.
fn raise_nofile(needed: u64) {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
    if soft < needed {
        assert!(
            hard >= needed,
            "this test needs {needed} open files; the hard limit is {hard}"
        );
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard).expect("setrlimit");
    }
}

/// Whether the server has closed `stream` (EOF or reset) within `wait`.
fn closed_within(stream: &mut TcpStream, wait: Duration) -> bool {
    stream.set_read_timeout(Some(wait)).expect("timeout");
    let mut buf = [0u8; 512];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false;
            }
            Err(_) => return true,
        }
    }
}

fn timed_scrape(address: SocketAddr) -> (u16, Duration, usize) {
    let started = Instant::now();
    let response = http_get(address, "/metrics", &[]);
    (response.status, started.elapsed(), response.body.len())
}

/// Opens 3,000 idle or half-sent connections to an exporter limited to 1,024 open files
/// (systemd's default) and times a scrape; returns how many of the 3,000 it closed.
fn scrape_under_3000_idle_connections(extra_args: &[&str]) -> usize {
    raise_nofile(7000);
    let exporter = Exporter::start_via(&["prlimit", "--nofile=1024:1024", "--"], extra_args);
    let mut idle = Vec::new();
    for i in 0..3000 {
        let mut stream = TcpStream::connect(exporter.address).expect("connect");
        if i % 2 == 0 {
            // Half a request, never finished.
            stream
                .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nUser-Agent: slow")
                .expect("half request");
        }
        idle.push(stream);
    }
    let (status, elapsed, length) = timed_scrape(exporter.address);
    eprintln!(
        "scrape with 3,000 idle or half-sent connections opened: status {status}, {length} bytes in {:.1} ms",
        elapsed.as_secs_f64() * 1000.0
    );
    assert_eq!(status, 200);
    assert!(length > 0);
    assert!(elapsed < Duration::from_secs(1), "took {elapsed:?}");

    // The oldest idle connections were closed to stay under the cap (1,024 - 64 reserved).
    let mut closed = 0;
    for stream in idle.iter_mut() {
        if closed_within(stream, Duration::from_millis(1)) {
            closed += 1;
        }
    }
    eprintln!("connections closed by the server to make room: {closed} of 3000");
    assert!(closed >= 3000 - 1024, "only {closed} closed");
    assert!(closed < 3000, "every connection closed");
    // And scrapes still work, repeatedly.
    for _ in 0..5 {
        let (status, elapsed, _) = timed_scrape(exporter.address);
        assert_eq!(status, 200);
        assert!(elapsed < Duration::from_secs(1), "took {elapsed:?}");
    }
    drop(idle);
    exporter.stop();
    closed
}

#[test]
fn a_scrape_is_answered_with_3000_idle_and_half_sent_connections_open() {
    // The cap sized from the limit: 1,024 less 64 reserved.
    let closed = scrape_under_3000_idle_connections(&[]);
    assert!(closed >= 3000 - 960, "only {closed} closed");
}

#[test]
fn a_scrape_is_answered_when_the_cap_is_set_above_the_open_files_limit() {
    // Accept fails with EMFILE first: idle connections make room then.
    scrape_under_3000_idle_connections(&["--web.max-connections", "5000"]);
}

#[test]
fn a_client_sending_its_headers_a_byte_a_second_is_cut_off() {
    let exporter = Exporter::start(&["--web.header-read-timeout", "3s"]);
    let mut stream = TcpStream::connect(exporter.address).expect("connect");
    let started = Instant::now();
    let request = b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n";
    let mut cut_off = None;
    for byte in request {
        if stream.write_all(&[*byte]).is_err() || closed_within(&mut stream, Duration::from_secs(1))
        {
            cut_off = Some(started.elapsed());
            break;
        }
    }
    let cut_off = cut_off.expect("the slow client was never cut off");
    eprintln!(
        "a client sending a byte a second was cut off after {:.2} s (header timeout 3 s)",
        cut_off.as_secs_f64()
    );
    assert!(
        cut_off >= Duration::from_millis(2900) && cut_off < Duration::from_millis(4500),
        "cut off after {cut_off:?}"
    );
    exporter.stop();
}

#[test]
fn idle_keep_alive_connections_are_closed_and_busy_ones_are_not() {
    let exporter = Exporter::start(&[
        "--web.idle-timeout",
        "2s",
        "--web.header-read-timeout",
        "1s",
    ]);
    let mut stream = TcpStream::connect(exporter.address).expect("connect");
    // Two requests on one connection, well within the idle time.
    for _ in 0..2 {
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .expect("request");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut buf = [0u8; 1024];
        let n = stream.read(&mut buf).expect("response");
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        std::thread::sleep(Duration::from_millis(1500));
    }
    // The idle timeout is longer than the header timeout: still open after 1.5 s idle.
    let started = Instant::now();
    assert!(
        closed_within(&mut stream, Duration::from_secs(3)),
        "idle connection left open"
    );
    let idle_for = started.elapsed() + Duration::from_millis(1500);
    eprintln!(
        "idle keep-alive connection closed after {:.2} s idle",
        idle_for.as_secs_f64()
    );
    assert!(
        idle_for >= Duration::from_millis(1900),
        "closed after {idle_for:?}"
    );
    exporter.stop();
}

#[test]
fn oversized_headers_get_431() {
    let exporter = Exporter::start(&["--web.max-header-bytes", "4096"]);
    let big = "x".repeat(5000);
    let response = http_get(exporter.address, "/metrics", &[("X-Big", &big)]);
    assert_eq!(response.status, 431);
    let fits = "x".repeat(2000);
    let response = http_get(exporter.address, "/healthz", &[("X-Fits", &fits)]);
    assert_eq!(response.status, 200);
    exporter.stop();
}

#[test]
fn basic_auth_over_plain_http() {
    let dir = std::env::temp_dir().join(format!("ipvs-web-auth-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let hash = bcrypt::hash("s3cret", 4).expect("hash");
    let config = dir.join("web.yml");
    std::fs::write(
        &config,
        format!("basic_auth_users:\n  prometheus: {hash}\nhttp_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n"),
    )
    .expect("write");
    let exporter = Exporter::start(&["--web.config.file", config.to_str().expect("path")]);
    let basic = |user: &str, password: &str| {
        use base64::Engine as _;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        )
    };
    let ok = http_get(
        exporter.address,
        "/metrics",
        &[("Authorization", &basic("prometheus", "s3cret"))],
    );
    assert_eq!(ok.status, 200);
    assert!(ok.body.contains("ipvs_up"));
    assert_eq!(ok.header("X-Content-Type-Options"), Some("nosniff"));
    for credentials in [
        Some(basic("prometheus", "wrong")),
        Some(basic("nobody", "s3cret")),
        None,
    ] {
        let headers: Vec<(&str, &str)> = credentials
            .as_deref()
            .map(|c| vec![("Authorization", c)])
            .unwrap_or_default();
        let refused = http_get(exporter.address, "/metrics", &headers);
        assert_eq!(refused.status, 401);
        assert_eq!(refused.header("WWW-Authenticate"), Some("Basic"));
        assert!(!refused.body.contains("ipvs_up"));
    }
    exporter.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_changed_web_config_applies_without_a_restart_and_a_broken_one_is_not_taken() {
    use base64::Engine as _;
    let dir = std::env::temp_dir().join(format!("ipvs-web-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let config = dir.join("web.yml");
    let users = |password: &str| {
        format!(
            "basic_auth_users:\n  prometheus: {}\n",
            bcrypt::hash(password, 4).expect("hash")
        )
    };
    std::fs::write(&config, users("first")).expect("write");
    let exporter = Exporter::start(&["--web.config.file", config.to_str().expect("path")]);
    let status = |password: &str| {
        let value = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("prometheus:{password}"))
        );
        http_get(exporter.address, "/healthz", &[("Authorization", &value)]).status
    };
    assert_eq!((status("first"), status("second")), (200, 401));
    std::fs::write(&config, users("second")).expect("rewrite");
    assert_eq!((status("first"), status("second")), (401, 200));
    // A broken version is logged and not taken: the last good one stays in force.
    std::fs::write(&config, "basic_auth_users:\n  prometheus: not-a-hash\n").expect("break");
    assert_eq!((status("first"), status("second")), (401, 200));
    // Nor is one without users (an emptied file looks like that while it is rewritten).
    std::fs::write(&config, "").expect("empty");
    assert_eq!((status("first"), status("second")), (401, 200));
    exporter.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bad_web_config_stops_the_program_before_it_listens() {
    let dir = std::env::temp_dir().join(format!("ipvs-web-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let cases = [
        (
            "tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n  min_version: TLS11\n",
            "min_version (line 4)",
        ),
        ("basic_auth_users:\n  prometheus: hunter2\n", "line 2"),
        (
            "tls_server_config:\n  cert_file: missing.crt\n  key_file: missing.key\n",
            "cert_file",
        ),
        ("http_server_config:\n  heders: {}\n", "line 2"),
    ];
    for (text, expected) in cases {
        let config = dir.join("web.yml");
        std::fs::write(&config, text).expect("write");
        let output = Command::new(env!("CARGO_BIN_EXE_ipvs_exporter"))
            .args(["--web.listen-address", "127.0.0.1:0", "--web.config.file"])
            .arg(&config)
            .stdin(Stdio::null())
            .output()
            .expect("run");
        let stderr = String::from_utf8_lossy(&output.stderr);
        // Could not start: 3, as every command's "could not run" (docs/exit-codes.md).
        assert_eq!(output.status.code(), Some(3), "{text:?}: {stderr}");
        assert!(stderr.contains(expected), "{text:?}: {stderr}");
        assert!(!stderr.contains("msg=listening"), "{text:?}: {stderr}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
