//! TLS, client certificates and basic auth with real clients: curl, openssl s_client and a
//! real Prometheus scraping over HTTPS. The CA and the certificates are made here with
//! rcgen. Also `:PORT` over both address families in a namespace with bindv6only set. Needs
//! root, curl, openssl, prometheus, unshare and ip (tests/run.sh installs them).

// Test code: a failed unwrap or index is a failed test (the [lints] table guards src/).
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::panic, clippy::indexing_slicing)]
#![allow(clippy::cast_possible_truncation)]

mod support;

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use support::Exporter;

/// A tool the test needs, or a loud failure naming the package.
fn tool(name: &str, package: &str) -> Command {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "{name} is missing: install the Debian package {package}"
    );
    Command::new(name)
}

struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

fn new_ca(name: &str) -> Ca {
    let key = KeyPair::generate().expect("CA key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let cert = params.self_signed(&key).expect("CA cert");
    Ca {
        pem: cert.pem(),
        issuer: Issuer::new(params, key),
    }
}

/// A leaf certificate and key, in PEM, and the SHA-256 of the certificate's DER.
struct Leaf {
    cert: String,
    key: String,
    sha256: String,
}

fn leaf(ca: &Ca, common_name: &str, sans: &[&str], server: bool) -> Leaf {
    let key = KeyPair::generate().expect("key");
    let mut params = CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .expect("params");
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.extended_key_usages = vec![if server {
        ExtendedKeyUsagePurpose::ServerAuth
    } else {
        ExtendedKeyUsagePurpose::ClientAuth
    }];
    let cert = params.signed_by(&key, &ca.issuer).expect("sign");
    let digest = ring::digest::digest(&ring::digest::SHA256, cert.der());
    let sha256 = digest
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":");
    Leaf {
        cert: cert.pem(),
        key: key.serialize_pem(),
        sha256,
    }
}

/// A scratch directory for one test, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("web-tls-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch(dir)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).expect("write");
        path
    }

    fn path(&self, name: &str) -> String {
        self.0.join(name).to_string_lossy().into_owned()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The usual setup: a CA, the server's certificate (localhost, 127.0.0.1), a client
/// certificate with the SAN `prometheus.example`, and one user `prometheus` / `s3cret`.
struct Setup {
    dir: Scratch,
    ca: Ca,
    server: Leaf,
}

fn setup(name: &str) -> Setup {
    let dir = Scratch::new(name);
    let ca = new_ca("ipvs_exporter test CA");
    let server = leaf(
        &ca,
        "server-generation-1",
        &["localhost", "127.0.0.1"],
        true,
    );
    dir.write("ca.crt", &ca.pem);
    dir.write("server.crt", &server.cert);
    dir.write("server.key", &server.key);
    let client = leaf(&ca, "prometheus", &["prometheus.example"], false);
    dir.write("client.crt", &client.cert);
    dir.write("client.key", &client.key);
    Setup { dir, ca, server }
}

fn user_line() -> String {
    format!(
        "basic_auth_users:\n  prometheus: {}\n",
        bcrypt::hash("s3cret", 6).expect("hash")
    )
}

fn start(setup: &Setup, tls_extra: &str) -> Exporter {
    // Relative paths: resolved next to the configuration file.
    let config = setup.dir.write(
        "web.yml",
        &format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n{tls_extra}{}",
            user_line()
        ),
    );
    Exporter::start(&["--web.config.file", config.to_str().expect("path")])
}

fn curl(setup: &Setup, exporter: &Exporter, args: &[&str]) -> Output {
    let url = format!("https://localhost:{}/metrics", exporter.address.port());
    tool("curl", "curl")
        .args([
            "-sS",
            "--max-time",
            "10",
            "--cacert",
            &setup.dir.path("ca.crt"),
        ])
        .args(args)
        .arg(&url)
        .output()
        .expect("run curl")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn curl_over_tls_with_basic_auth() {
    let setup = setup("auth");
    let exporter = start(&setup, "");
    let ok = curl(&setup, &exporter, &["-u", "prometheus:s3cret", "-D", "-"]);
    let out = text(&ok.stdout);
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(out.contains("\nipvs_up "), "{out}");

    for credentials in ["prometheus:wrong", "someone:s3cret"] {
        let refused = curl(&setup, &exporter, &["-u", credentials, "-D", "-"]);
        let out = text(&refused.stdout);
        assert!(out.starts_with("HTTP/1.1 401"), "{credentials}: {out}");
        assert!(
            out.to_ascii_lowercase()
                .contains("\nwww-authenticate: basic"),
            "{out}"
        );
        assert!(!out.contains("ipvs_up"), "{out}");
    }

    // Plain HTTP to the TLS listener: an error, no metrics.
    let plain = tool("curl", "curl")
        .args([
            "-sS",
            "--max-time",
            "10",
            "-u",
            "prometheus:s3cret",
            "-D",
            "-",
        ])
        .arg(format!(
            "http://127.0.0.1:{}/metrics",
            exporter.address.port()
        ))
        .output()
        .expect("curl");
    let out = text(&plain.stdout);
    assert!(!out.contains("ipvs_up"), "{out}");
    assert!(out.starts_with("HTTP/1.0 400"), "{out}");
    exporter.stop();
}

#[test]
fn client_certificates_are_required_and_verified() {
    let setup = setup("mtls");
    let exporter = start(
        &setup,
        "  client_ca_file: ca.crt\n  client_auth_type: RequireAndVerifyClientCert\n",
    );
    let cert = setup.dir.path("client.crt");
    let key = setup.dir.path("client.key");
    let ok = curl(
        &setup,
        &exporter,
        &["-u", "prometheus:s3cret", "--cert", &cert, "--key", &key],
    );
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    assert!(text(&ok.stdout).contains("\nipvs_up "));

    // No certificate: the handshake fails, nothing is served.
    let none = curl(&setup, &exporter, &["-u", "prometheus:s3cret"]);
    assert!(!none.status.success());
    assert!(!text(&none.stdout).contains("ipvs_up"));

    // A certificate from another CA: refused.
    let other = new_ca("another CA");
    let stranger = leaf(&other, "stranger", &["prometheus.example"], false);
    let scert = setup.dir.write("stranger.crt", &stranger.cert);
    let skey = setup.dir.write("stranger.key", &stranger.key);
    let refused = curl(
        &setup,
        &exporter,
        &[
            "-u",
            "prometheus:s3cret",
            "--cert",
            scert.to_str().expect("path"),
            "--key",
            skey.to_str().expect("path"),
        ],
    );
    assert!(!refused.status.success());
    assert!(!text(&refused.stdout).contains("ipvs_up"));
    exporter.stop();
}

#[test]
fn client_allowed_sans_lets_only_the_named_clients_in() {
    let setup = setup("sans");
    let exporter = start(
        &setup,
        "  client_ca_file: ca.crt\n  client_auth_type: RequireAndVerifyClientCert\n  client_allowed_sans: [prometheus.example]\n",
    );
    let ok = curl(
        &setup,
        &exporter,
        &[
            "-u",
            "prometheus:s3cret",
            "--cert",
            &setup.dir.path("client.crt"),
            "--key",
            &setup.dir.path("client.key"),
        ],
    );
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    assert!(text(&ok.stdout).contains("\nipvs_up "));

    // Same CA, another SAN: refused.
    let other = leaf(&setup.ca, "grafana", &["grafana.example"], false);
    let cert = setup.dir.write("other.crt", &other.cert);
    let key = setup.dir.write("other.key", &other.key);
    let refused = curl(
        &setup,
        &exporter,
        &[
            "-u",
            "prometheus:s3cret",
            "--cert",
            cert.to_str().expect("path"),
            "--key",
            key.to_str().expect("path"),
        ],
    );
    assert!(!refused.status.success());
    assert!(!text(&refused.stdout).contains("ipvs_up"));
    exporter.stop();
}

#[test]
fn optional_client_certificate_policies() {
    let setup = setup("optional");
    let cert = setup.dir.path("client.crt");
    let key = setup.dir.path("client.key");
    let other_ca = new_ca("another CA");
    let stranger = leaf(&other_ca, "stranger", &["x.example"], false);
    let scert = setup.dir.write("stranger.crt", &stranger.cert);
    let skey = setup.dir.write("stranger.key", &stranger.key);
    let scert = scert.to_str().expect("path").to_string();
    let skey = skey.to_str().expect("path").to_string();
    // (policy, no certificate, the CA's certificate, another CA's certificate)
    let cases = [
        ("  client_auth_type: RequestClientCert\n", true, true, true),
        (
            "  client_auth_type: RequireAnyClientCert\n",
            false,
            true,
            true,
        ),
        (
            "  client_ca_file: ca.crt\n  client_auth_type: VerifyClientCertIfGiven\n",
            true,
            true,
            false,
        ),
    ];
    for (policy, without, with_ours, with_other) in cases {
        let exporter = start(&setup, policy);
        let auth = ["-u", "prometheus:s3cret"];
        let got = |extra: &[&str]| {
            let args: Vec<&str> = auth.iter().chain(extra).copied().collect();
            let out = curl(&setup, &exporter, &args);
            out.status.success() && text(&out.stdout).contains("\nipvs_up ")
        };
        assert_eq!(got(&[]), without, "{policy} without a certificate");
        assert_eq!(
            got(&["--cert", &cert, "--key", &key]),
            with_ours,
            "{policy} ours"
        );
        assert_eq!(
            got(&["--cert", &scert, "--key", &skey]),
            with_other,
            "{policy} other"
        );
        exporter.stop();
    }
}

#[test]
fn protocol_versions_and_cipher_suites_are_honoured() {
    let setup = setup("versions");
    let auth = ["-u", "prometheus:s3cret"];
    let works = |exporter: &Exporter, extra: &[&str]| {
        let args: Vec<&str> = auth.iter().chain(extra).copied().collect();
        let out = curl(&setup, exporter, &args);
        out.status.success() && text(&out.stdout).contains("\nipvs_up ")
    };
    let exporter = start(&setup, "  min_version: TLS13\n");
    assert!(works(&exporter, &["--tlsv1.3"]));
    assert!(!works(&exporter, &["--tls-max", "1.2"]), "TLS 1.2 let in");
    exporter.stop();

    // TLS 1.2 only, one suite (the key is ECDSA P-256).
    let exporter = start(
        &setup,
        "  max_version: TLS12\n  cipher_suites: [TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256]\n",
    );
    assert!(!works(&exporter, &["--tlsv1.3"]), "TLS 1.3 let in");
    assert!(works(
        &exporter,
        &["--ciphers", "ECDHE-ECDSA-CHACHA20-POLY1305"]
    ));
    assert!(
        !works(&exporter, &["--ciphers", "ECDHE-ECDSA-AES128-GCM-SHA256"]),
        "a suite left out let in"
    );
    exporter.stop();

    let exporter = start(&setup, "  curve_preferences: [CurveP384]\n");
    assert!(works(&exporter, &["--curves", "P-384"]));
    assert!(
        !works(&exporter, &["--curves", "X25519"]),
        "a curve left out let in"
    );
    exporter.stop();
}

/// The SHA-256 fingerprint of the certificate the server presents, as openssl sees it.
fn served_fingerprint(address: SocketAddr) -> String {
    let mut s_client = tool("openssl", "openssl")
        .args([
            "s_client",
            "-connect",
            &format!("127.0.0.1:{}", address.port()),
        ])
        .args(["-servername", "localhost"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl s_client");
    let pem = s_client.stdout.take().expect("stdout");
    let x509 = tool("openssl", "openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256"])
        .stdin(pem)
        .output()
        .expect("openssl x509");
    let _ = s_client.wait();
    let out = text(&x509.stdout);
    out.trim()
        .rsplit('=')
        .next()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn a_rotated_certificate_is_served_without_a_restart() {
    let setup = setup("rotate");
    let exporter = start(&setup, "");
    let before = served_fingerprint(exporter.address);
    assert_eq!(before, setup.server.sha256);

    let next = leaf(
        &setup.ca,
        "server-generation-2",
        &["localhost", "127.0.0.1"],
        true,
    );
    assert_ne!(next.sha256, setup.server.sha256);
    // Write both files, the key first, as a renewal tool would.
    setup.dir.write("server.key", &next.key);
    setup.dir.write("server.crt", &next.cert);
    let after = served_fingerprint(exporter.address);
    eprintln!("served certificate before rotation {before}, after {after}");
    assert_eq!(after, next.sha256);

    // And clients still get in with the new certificate.
    let ok = curl(&setup, &exporter, &["-u", "prometheus:s3cret", "-v"]);
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    assert!(text(&ok.stderr).contains("CN=server-generation-2"));
    exporter.stop();
}

#[test]
fn a_client_stalling_in_the_tls_handshake_is_cut_off() {
    use std::io::{Read, Write};
    let setup = setup("stall");
    let config = setup.dir.write(
        "web.yml",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n",
    );
    let exporter = Exporter::start(&[
        "--web.config.file",
        config.to_str().expect("path"),
        "--web.header-read-timeout",
        "2s",
    ]);
    let mut stream = std::net::TcpStream::connect(exporter.address).expect("connect");
    let started = Instant::now();
    // The first bytes of a TLS record header, and then nothing.
    stream.write_all(&[0x16, 0x03, 0x01]).expect("write");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut buf = [0u8; 64];
    let closed = matches!(stream.read(&mut buf), Ok(0) | Err(_));
    let after = started.elapsed();
    eprintln!(
        "a client stalling in the TLS handshake was cut off after {:.2} s",
        after.as_secs_f64()
    );
    assert!(closed);
    assert!(
        after >= Duration::from_millis(1900) && after < Duration::from_secs(4),
        "{after:?}"
    );
    exporter.stop();
}

/// `:PORT` takes IPv4 and IPv6 even where `net.ipv6.bindv6only` is 1: checked in a network
/// namespace of its own (root needed) with that sysctl set, with curl over both families.
#[test]
fn port_only_listens_on_ipv4_and_ipv6_even_with_bindv6only() {
    let binary = env!("CARGO_BIN_EXE_ipvs_exporter");
    tool("unshare", "util-linux");
    tool("ip", "iproute2");
    tool("curl", "curl");
    let script = format!(
        "set -e; ip link set lo up; sysctl -qw net.ipv6.bindv6only=1; \
         echo bindv6only=$(cat /proc/sys/net/ipv6/bindv6only); \
         {binary} --web.listen-address :9748 2>/dev/null & pid=$!; \
         for i in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:9748/healthz && break; sleep 0.1; done; \
         echo ipv4=$(curl -s -o /dev/null -w '%{{http_code}}' http://127.0.0.1:9748/healthz || true); \
         echo ipv6=$(curl -s -o /dev/null -w '%{{http_code}}' 'http://[::1]:9748/healthz' || true); \
         kill $pid"
    );
    let output = Command::new("unshare")
        .args(["-n", "sh", "-c", &script])
        .output()
        .expect("unshare");
    let out = text(&output.stdout);
    assert!(output.status.success(), "{out}{}", text(&output.stderr));
    assert!(out.contains("bindv6only=1"), "{out}");
    assert!(out.contains("ipv4=200"), "{out}");
    assert!(out.contains("ipv6=200"), "{out}");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A real Prometheus, killed when dropped.
struct Prometheus {
    child: Child,
    address: SocketAddr,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    fn start(dir: &Scratch, config: &str) -> Prometheus {
        let config_path = dir.write("prometheus.yml", config);
        let port = free_port();
        let child = tool("prometheus", "prometheus")
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path("tsdb")))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.0.join("prometheus.log")).expect("log"))
            .spawn()
            .expect("start prometheus");
        Prometheus {
            child,
            address: SocketAddr::from(([127, 0, 0, 1], port)),
        }
    }

    /// The value of an instant query with one result, once there is one.
    fn query(&self, query: &str) -> Option<String> {
        let output = tool("curl", "curl")
            .args(["-sS", "--max-time", "5", "-G"])
            .arg(format!("http://{}/api/v1/query", self.address))
            .args(["--data-urlencode", &format!("query={query}")])
            .output()
            .ok()?;
        let body: serde_json::Value = serde_json::from_slice(&output.stdout).ok()?;
        let result = body.pointer("/data/result")?.as_array()?;
        let first = result.first()?;
        first.pointer("/value/1")?.as_str().map(str::to_string)
    }
}

#[test]
fn prometheus_scrapes_over_tls_with_client_certificate_and_basic_auth() {
    let setup = setup("prometheus");
    let exporter = start(
        &setup,
        "  client_ca_file: ca.crt\n  client_auth_type: RequireAndVerifyClientCert\n  client_allowed_sans: [prometheus.example]\n",
    );
    let target = format!("127.0.0.1:{}", exporter.address.port());
    let tls = format!(
        "    tls_config:\n      ca_file: {}\n      cert_file: {}\n      key_file: {}\n",
        setup.dir.path("ca.crt"),
        setup.dir.path("client.crt"),
        setup.dir.path("client.key"),
    );
    let job = |name: &str, password: &str| {
        format!(
            "  - job_name: {name}\n    scheme: https\n{tls}    basic_auth:\n      username: prometheus\n      password: {password}\n    static_configs:\n      - targets: ['{target}']\n"
        )
    };
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n{}{}",
        job("right", "s3cret"),
        job("wrong", "guess")
    );
    let prometheus = Prometheus::start(&setup.dir, &config);
    let started = Instant::now();
    let (mut right, mut wrong, mut scraped) = (None, None, None);
    while started.elapsed() < Duration::from_secs(60) {
        right = prometheus.query("up{job=\"right\"}");
        wrong = prometheus.query("up{job=\"wrong\"}");
        scraped = prometheus.query("ipvs_up{job=\"right\"}");
        if right.is_some() && wrong.is_some() && scraped.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let log = std::fs::read_to_string(setup.dir.0.join("prometheus.log")).unwrap_or_default();
    eprintln!(
        "Prometheus after {:.1} s: up{{job=right}} = {right:?}, up{{job=wrong}} = {wrong:?}, ipvs_up scraped = {scraped:?}",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(right.as_deref(), Some("1"), "prometheus log:\n{log}");
    assert_eq!(wrong.as_deref(), Some("0"), "prometheus log:\n{log}");
    assert!(scraped.is_some());
    // The wrong job fails on its password, not on TLS.
    let targets = tool("curl", "curl")
        .args(["-sS", "--max-time", "5"])
        .arg(format!("http://{}/api/v1/targets", prometheus.address))
        .output()
        .expect("curl");
    let targets: serde_json::Value = serde_json::from_slice(&targets.stdout).expect("targets JSON");
    let wrong_error = targets
        .pointer("/data/activeTargets")
        .and_then(|t| t.as_array())
        .and_then(|t| {
            t.iter()
                .find(|t| t.pointer("/labels/job").and_then(|j| j.as_str()) == Some("wrong"))
        })
        .and_then(|t| t.pointer("/lastError"))
        .and_then(|e| e.as_str())
        .unwrap_or_default()
        .to_string();
    eprintln!("the wrong job's last error: {wrong_error}");
    assert!(wrong_error.contains("401"), "{wrong_error}");
    exporter.stop();
}

/// An exporter whose log lines are kept, killed when dropped; `.1` is how many of its lines
/// [`LoggedExporter::warning_for`] has read past.
struct LoggedExporter(Exporter, std::cell::Cell<usize>);

impl std::ops::Deref for LoggedExporter {
    type Target = Exporter;
    fn deref(&self) -> &Exporter {
        &self.0
    }
}

impl LoggedExporter {
    fn start(args: &[&str]) -> LoggedExporter {
        LoggedExporter(Exporter::start(args), std::cell::Cell::new(0))
    }

    /// The WARN lines about failed handshakes for one reason.
    fn handshake_warnings(&self, reason: &str) -> Vec<String> {
        let key = format!(" reason={reason}");
        self.log_lines()
            .iter()
            .filter(|l| l.contains(" level=warn ") && l.contains("TLS handshake failed"))
            .filter(|l| l.contains(&key))
            .cloned()
            .collect()
    }

    /// The WARN line for a failed handshake from `127.0.0.1:port`, after the line the previous
    /// call returned: a later connection may come from the same local port as an earlier one.
    fn warning_for(&self, port: u16) -> String {
        let peer = format!(" peer=127.0.0.1:{port} ");
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            let lines = self.log_lines();
            let found = lines
                .iter()
                .enumerate()
                .skip(self.1.get())
                .find(|(_, line)| line.contains(" level=warn ") && line.contains(&peer));
            if let Some((index, line)) = found {
                self.1.set(index + 1);
                return line.clone();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "no log line with a failed handshake from{peer}after line {}; the log:\n{}",
            self.1.get(),
            self.log()
        );
    }
}

/// curl's outcome on one connection: whether it succeeded, the HTTP status, the body, the
/// local port it connected from, and its error output.
struct CurlRun {
    ok: bool,
    status: String,
    body: String,
    local_port: u16,
    stderr: String,
}

fn curl_once(url: &str, args: &[&str]) -> CurlRun {
    let out = tool("curl", "curl")
        .args(["-sS", "--max-time", "10"])
        .args(args)
        .args(["-w", "\n%{local_port} %{http_code}"])
        .arg(url)
        .output()
        .expect("run curl");
    let stdout = text(&out.stdout);
    let (body, tail) = stdout.rsplit_once('\n').unwrap_or(("", &stdout));
    let mut tail = tail.split_whitespace();
    let local_port = tail.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let status = tail.next().unwrap_or_default().to_string();
    CurlRun {
        ok: out.status.success(),
        status,
        body: body.to_string(),
        local_port,
        stderr: text(&out.stderr),
    }
}

/// The `openssl x509 -req` commands of docs/web-configuration.md: the guides' one (no
/// extension) and the documented reissue (with `-extfile`).
fn documented_signing_commands() -> (String, String) {
    let doc = include_str!("../docs/web-configuration.md");
    let commands: Vec<&str> = doc
        .lines()
        .filter(|line| line.starts_with("openssl x509 -req -in client.csr"))
        .collect();
    let plain = commands.iter().find(|c| !c.contains("-extfile"));
    let reissue = commands.iter().find(|c| c.contains("-extfile"));
    match (plain, reissue) {
        (Some(plain), Some(reissue)) => (plain.to_string(), reissue.to_string()),
        _ => panic!("docs/web-configuration.md has not both signing commands: {commands:?}"),
    }
}

/// Runs a shell command line with bash in `dir`, failing loudly.
fn bash_in(dir: &str, command: &str) {
    let out = tool("bash", "bash")
        .args(["-c", command])
        .current_dir(dir)
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "{command}: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// The `Version:` line of a certificate, as openssl prints it.
fn x509_version(path: &str) -> String {
    let out = tool("openssl", "openssl")
        .args(["x509", "-noout", "-text", "-in", path])
        .output()
        .expect("openssl x509");
    text(&out.stdout)
        .lines()
        .find(|l| l.trim_start().starts_with("Version:"))
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// A client certificate signed the way most guides show (X.509 v1, no extensions) is refused,
/// and the exporter says why at WARN, naming the client and the command that reissues it;
/// reissued by that command (from docs/web-configuration.md) it gets in. A burst of refusals is one line,
/// and the next line counts the ones left out. Plain HTTP, no certificate and a foreign CA
/// are told in plain words too.
#[test]
fn x509_v1_client_certificate_is_refused_with_a_warning_that_says_how_to_reissue_it() {
    let setup = setup("v1");
    let clients = setup.dir.path("clients");
    std::fs::create_dir_all(&clients).expect("clients dir");
    let in_clients = |name: &str| format!("{clients}/{name}");
    // The client CA and request, made with openssl as the guides do.
    bash_in(
        &clients,
        "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 30 -subj /CN=client-ca \
         && openssl req -new -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj /CN=prometheus",
    );
    let (guide_command, reissue_command) = documented_signing_commands();
    assert_eq!(
        guide_command,
        "openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out client.crt -days 30"
    );
    bash_in(&clients, &guide_command);
    let version = x509_version(&in_clients("client.crt"));
    eprintln!("the guide's command gave: {version}");
    assert_eq!(version, "Version: 1 (0x0)");

    let config = setup.dir.write(
        "web.yml",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_ca_file: clients/ca.crt\n  client_auth_type: RequireAndVerifyClientCert\n",
    );
    let exporter = LoggedExporter::start(&["--web.config.file", config.to_str().expect("path")]);
    let https = format!("https://localhost:{}/metrics", exporter.address.port());
    let server_ca = setup.dir.path("ca.crt");
    let (cert, key) = (in_clients("client.crt"), in_clients("client.key"));
    let with_cert = ["--cacert", &server_ca, "--cert", &cert, "--key", &key];

    let first_try = Instant::now();
    let refused = curl_once(&https, &with_cert);
    assert!(!refused.ok, "v1 certificate let in: {}", refused.status);
    assert!(!refused.body.contains("ipvs_up"));
    eprintln!("curl with the v1 certificate: {}", refused.stderr.trim());
    let warning = exporter.warning_for(refused.local_port);
    eprintln!("{warning}");
    assert!(
        warning.contains(" reason=client_cert_x509_v1 "),
        "{warning}"
    );
    assert!(warning.contains("X.509 v1"), "{warning}");
    assert!(warning.contains(&reissue_command), "{warning}");

    // A burst of the same failure: no more lines within the quiet period.
    for _ in 0..20 {
        let again = curl_once(&https, &with_cert);
        assert!(!again.ok);
    }
    let burst_took = first_try.elapsed();
    assert!(
        burst_took < Duration::from_secs(9),
        "the burst took {burst_took:?}, longer than the test can tell from the quiet period"
    );
    // The exporter logs after curl has gone: let it catch up.
    std::thread::sleep(Duration::from_millis(500));
    let lines = exporter.handshake_warnings("client_cert_x509_v1");
    eprintln!(
        "21 refused handshakes in {:.1} s gave {} WARN line(s)",
        burst_took.as_secs_f64(),
        lines.len()
    );
    assert_eq!(lines.len(), 1, "{lines:#?}");

    // Other failures, in plain words.
    let plain = curl_once(
        &format!("http://127.0.0.1:{}/metrics", exporter.address.port()),
        &[],
    );
    assert_eq!(plain.status, "400");
    let warning = exporter.warning_for(plain.local_port);
    eprintln!("{warning}");
    assert!(warning.contains(" reason=plain_http "), "{warning}");
    assert!(warning.contains("plain HTTP to the TLS port"), "{warning}");

    let without = curl_once(&https, &["--cacert", &server_ca]);
    assert!(!without.ok);
    let warning = exporter.warning_for(without.local_port);
    eprintln!("{warning}");
    assert!(warning.contains(" reason=no_client_cert "), "{warning}");
    assert!(warning.contains("sent no certificate"), "{warning}");

    // A v3 client certificate from the server's CA, which does not sign clients here.
    let scert = setup.dir.path("client.crt");
    let skey = setup.dir.path("client.key");
    let foreign = curl_once(
        &https,
        &["--cacert", &server_ca, "--cert", &scert, "--key", &skey],
    );
    assert!(!foreign.ok);
    let warning = exporter.warning_for(foreign.local_port);
    eprintln!("{warning}");
    assert!(
        warning.contains(" reason=client_cert_unknown_ca "),
        "{warning}"
    );
    assert!(
        warning.contains("not signed by a CA in client_ca_file"),
        "{warning}"
    );

    // Reissued by the documented command, from the same request and CA: v3, and it gets in.
    bash_in(&clients, &reissue_command);
    let version = x509_version(&cert);
    eprintln!("the documented reissue command gave: {version}");
    assert_eq!(version, "Version: 3 (0x2)");
    let ok = curl_once(&https, &with_cert);
    assert!(ok.ok, "{}", ok.stderr);
    assert_eq!(ok.status, "200");
    assert!(ok.body.contains("\nipvs_up "));

    // Past the quiet period, the next v1 refusal is logged with the count left out.
    let v1_again = setup.dir.path("clients/v1.crt");
    bash_in(
        &clients,
        &guide_command.replace("-out client.crt", "-out v1.crt"),
    );
    let quiet_until = first_try + Duration::from_millis(10_500);
    std::thread::sleep(quiet_until.saturating_duration_since(Instant::now()));
    let later = curl_once(
        &https,
        &["--cacert", &server_ca, "--cert", &v1_again, "--key", &key],
    );
    assert!(!later.ok);
    let warning = exporter.warning_for(later.local_port);
    eprintln!("{warning}");
    assert!(
        warning.contains(" reason=client_cert_x509_v1 "),
        "{warning}"
    );
    assert!(warning.contains(" suppressed=20"), "{warning}");
}

/// A client without a TLS version the server speaks, and one stalling in the handshake, are
/// told at WARN with their address.
#[test]
fn a_tls_version_mismatch_and_a_handshake_timeout_are_warned() {
    use std::io::{Read, Write};
    let setup = setup("version-warning");
    let config = setup.dir.write(
        "web.yml",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  min_version: TLS13\n",
    );
    let exporter = LoggedExporter::start(&[
        "--web.config.file",
        config.to_str().expect("path"),
        "--web.header-read-timeout",
        "2s",
    ]);
    let https = format!("https://localhost:{}/metrics", exporter.address.port());
    let old = curl_once(
        &https,
        &["--cacert", &setup.dir.path("ca.crt"), "--tls-max", "1.2"],
    );
    assert!(!old.ok);
    let warning = exporter.warning_for(old.local_port);
    eprintln!("{warning}");
    assert!(
        warning.contains(" reason=no_common_tls_version "),
        "{warning}"
    );
    assert!(
        warning.contains("no TLS protocol version in common"),
        "{warning}"
    );

    let mut stream = std::net::TcpStream::connect(exporter.address).expect("connect");
    let port = stream.local_addr().expect("local address").port();
    stream.write_all(&[0x16, 0x03, 0x01]).expect("write");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut buf = [0u8; 64];
    assert!(matches!(stream.read(&mut buf), Ok(0) | Err(_)));
    let warning = exporter.warning_for(port);
    eprintln!("{warning}");
    assert!(warning.contains(" reason=timeout "), "{warning}");
    assert!(
        warning.contains("did not finish the TLS handshake within --web.header-read-timeout"),
        "{warning}"
    );
    assert!(warning.contains("within 2s"), "{warning}");
}
