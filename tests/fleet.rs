//! `ipvs_exporter fleet` end to end: the real binary against a small fake query API on
//! 127.0.0.1 that answers each of fleet's queries from a fixture of tests/fixtures/fleet
//! (and refuses any other query, so a query the binary sends that the fixtures do not know
//! fails the test). The fake server counts the requests it gets, which the `queries` field
//! of the JSON output must match; the findings are checked against what each fixture was
//! written to hold (tests/fixtures/fleet/README.md).

// Test code: a failed unwrap or index is a failed test (the [lints] table guards src/).
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::panic, clippy::indexing_slicing)]

mod support;

use std::net::TcpListener;
use std::process::{Command, Stdio};

use ipvs_exporter::fleet::queries::Query;
use support::fleet_api::{FakeApi, Mode};

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn fleet(args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_ipvs_exporter"))
        .arg("fleet")
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run the binary");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn json_of(run: &Run) -> serde_json::Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
}

/// (rule, severity, subject, hosts) of each finding in a JSON report.
fn findings(report: &serde_json::Value) -> Vec<(String, String, String, String)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let hosts: Vec<&str> = f["hosts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| h.as_str().unwrap())
                .collect();
            (
                f["rule"].as_str().unwrap().to_string(),
                f["severity"].as_str().unwrap().to_string(),
                f["subject"].as_str().unwrap().to_string(),
                hosts.join(" "),
            )
        })
        .collect()
}

#[test]
fn a_healthy_pair_exits_0_and_the_query_count_is_what_the_server_got() {
    let api = FakeApi::start(Mode::Fixture("healthy".into()));
    let run = fleet(&["--prometheus", &api.url(), "--format", "json"]);
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    let report = json_of(&run);
    let served = api.requests().len();
    assert_eq!(served, Query::ALL.len());
    assert_eq!(report["queries"], served);
    assert_eq!(report["summary"]["hosts"], 2);
    assert_eq!(report["summary"]["up"], 2);
    assert!(findings(&report).is_empty(), "{report}");
    assert_eq!(report["time"], "2025-12-05T18:00:00.5Z");
    // no `time` parameter unless asked for: the server's now
    assert!(api.requests().iter().all(|r| !r.contains_key("time")));

    let text = fleet(&["--prometheus", &api.url()]);
    assert_eq!(text.code, Some(0));
    assert!(text.stdout.contains("Findings: none"), "{}", text.stdout);
    assert!(
        text.stdout
            .contains("VRID 51 192.0.2.10: lb1:9748 MASTER 150, lb2:9748 BACKUP 100"),
        "{}",
        text.stdout
    );
}

#[test]
fn a_split_brain_exits_2_in_every_format() {
    let api = FakeApi::start(Mode::Fixture("split-brain".into()));
    let run = fleet(&["--prometheus", &api.url(), "--format", "json"]);
    assert_eq!(run.code, Some(2), "{}{}", run.stdout, run.stderr);
    assert_eq!(
        findings(&json_of(&run)),
        [
            (
                "fleet-vrrp-split-brain".to_string(),
                "critical".to_string(),
                "VRID 51 192.0.2.10".to_string(),
                "lb1:9748 lb2:9748".to_string()
            ),
            (
                "rs-arp-ignore".to_string(),
                "critical".to_string(),
                "net.ipv4.conf.all.arp_ignore".to_string(),
                "lb2:9748".to_string()
            ),
        ]
    );
    let text = fleet(&["--prometheus", &api.url(), "--format", "text"]);
    assert_eq!(text.code, Some(2));
    assert!(
        text.stdout.contains(
            "VRID 51 192.0.2.10: lb1:9748 and lb2:9748 are all MASTER [fleet-vrrp-split-brain]"
        ),
        "{}",
        text.stdout
    );
    let markdown = fleet(&["--prometheus", &api.url(), "--format", "markdown"]);
    assert_eq!(markdown.code, Some(2));
    assert!(markdown.stdout.starts_with("# ipvs_exporter fleet\n"));
    assert!(
        markdown.stdout.contains("### CRITICAL"),
        "{}",
        markdown.stdout
    );
    assert!(
        markdown
            .stdout
            .contains("| VRID 51 192.0.2.10 | lb2:9748 | VI_1 | MASTER | 100 | yes |"),
        "{}",
        markdown.stdout
    );
}

#[test]
fn drift_exits_1_with_each_difference_named() {
    let api = FakeApi::start(Mode::Fixture("drift".into()));
    let run = fleet(&[
        "--prometheus",
        &api.url(),
        "--format",
        "json",
        "--time",
        "2026-12-05T18:00:00Z",
    ]);
    assert_eq!(run.code, Some(1), "{}{}", run.stdout, run.stderr);
    // the time asked for went to every query as is
    let requests = api.requests();
    assert_eq!(requests.len(), Query::ALL.len());
    assert!(
        requests
            .iter()
            .all(|r| r.get("time").map(String::as_str) == Some("2026-12-05T18:00:00Z")),
        "{requests:?}"
    );
    let report = json_of(&run);
    let rules: Vec<String> = findings(&report).into_iter().map(|f| f.0).collect();
    assert_eq!(
        rules,
        [
            "fleet-exporter-down",
            "fleet-vrrp-member-unseen",
            "fleet-vrrp-no-master",
            "fleet-vrrp-equal-priority",
            "fleet-vrrp-address-mismatch",
            "fleet-vrrp-advert-interval-mismatch",
            "fleet-director-mismatch",
            "fleet-director-mismatch",
            "fleet-sync-behind",
            "conntrack-drops",
            "fleet-exporter-versions",
        ]
    );
    assert_eq!(report["summary"]["stale"], 1);
    let director = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["subject"] == "TCP 192.0.2.10:80" && f["rule"] == "fleet-director-mismatch")
        .unwrap();
    assert_eq!(
        director["details"],
        serde_json::json!([
            "real servers 10.0.0.2:80: lb1:9748 weight 1; lb2:9748 weight 2",
            "scheduler: lb1:9748 wrr; lb2:9748 rr"
        ])
    );
}

#[test]
fn a_url_that_is_not_a_query_api_or_not_there_exits_3() {
    let html = FakeApi::start(Mode::Html);
    let run = fleet(&["--prometheus", &html.url()]);
    assert_eq!(run.code, Some(3), "{}", run.stderr);
    assert!(
        run.stderr.starts_with("ipvs_exporter fleet: ")
            && run.stderr.contains("not a Prometheus query API")
            && run.stderr.contains("text/html"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty());

    let missing = FakeApi::start(Mode::NotFound);
    let run = fleet(&["--prometheus", &missing.url()]);
    assert_eq!(run.code, Some(3), "{}", run.stderr);
    assert!(
        run.stderr.contains("not a Prometheus query API") && run.stderr.contains("HTTP 404"),
        "{}",
        run.stderr
    );

    // a port nothing listens on: bound, then closed
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let run = fleet(&["--prometheus", &format!("http://{closed}")]);
    assert_eq!(run.code, Some(3), "{}", run.stderr);
    assert!(run.stderr.contains("cannot connect to"), "{}", run.stderr);

    let run = fleet(&["--prometheus", "prometheus:9090"]);
    assert_eq!(run.code, Some(3));
    assert!(run.stderr.contains("http:// or https://"), "{}", run.stderr);
}

#[test]
fn a_selector_that_matches_nothing_exits_3() {
    // a fixture without any sample: the API answers, and no exporter is there
    let api = FakeApi::start(Mode::Fixture("empty".into()));
    let run = fleet(&["--prometheus", &api.url()]);
    assert_eq!(run.code, Some(3), "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("no exporter matches the selector"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_bearer_token_is_sent_and_a_refusal_says_so() {
    let dir = std::env::temp_dir().join(format!("ipvs-fleet-token-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let token = dir.join("token");
    std::fs::write(&token, "t0ken\n").unwrap();
    let api = FakeApi::start(Mode::FixtureWithToken("healthy".into(), "t0ken".into()));
    let refused = fleet(&["--prometheus", &api.url()]);
    assert_eq!(refused.code, Some(3), "{}", refused.stderr);
    assert!(
        refused.stderr.contains("401") && refused.stderr.contains("--bearer-token-file"),
        "{}",
        refused.stderr
    );
    let run = fleet(&[
        "--prometheus",
        &api.url(),
        "--bearer-token-file",
        token.to_str().unwrap(),
    ]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn explain_covers_fleet_rules_and_the_advisors() {
    let fleet_rule = fleet(&["--explain", "fleet-vrrp-split-brain"]);
    assert_eq!(fleet_rule.code, Some(0));
    assert!(
        fleet_rule
            .stdout
            .starts_with("fleet-vrrp-split-brain (critical; applies to: ")
    );
    for part in ["\n\nWhat: ", "\n\nWhy: ", "\n\nSeverity: ", "\n\nFix: "] {
        assert!(fleet_rule.stdout.contains(part), "{part}");
    }
    let json = fleet(&["--explain", "fleet-sync-behind", "--format", "json"]);
    let rule: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(rule["id"], "fleet-sync-behind");
    assert_eq!(rule["severity"], "warning");
    // an advisor rule reads as doctor prints it
    let advisor = fleet(&["--explain", "rs-arp-ignore"]);
    let doctor = Command::new(env!("CARGO_BIN_EXE_ipvs_exporter"))
        .args(["doctor", "--explain", "rs-arp-ignore"])
        .output()
        .unwrap();
    assert_eq!(advisor.code, Some(0));
    assert_eq!(advisor.stdout, String::from_utf8_lossy(&doctor.stdout));
    let list = fleet(&["--explain"]);
    assert!(
        list.stdout.contains("fleet-director-mismatch") && list.stdout.contains("rs-arp-ignore")
    );
    let unknown = fleet(&["--explain", "no-such-rule"]);
    assert_eq!(unknown.code, Some(3));
    assert!(
        unknown.stderr.contains("no rule \"no-such-rule\""),
        "{}",
        unknown.stderr
    );
}

#[test]
fn a_query_api_that_does_not_answer_times_out_with_exit_3() {
    let api = FakeApi::start(Mode::Silent);
    let started = std::time::Instant::now();
    let run = fleet(&["--prometheus", &api.url(), "--timeout", "300ms"]);
    assert_eq!(run.code, Some(3), "{}", run.stderr);
    assert!(
        run.stderr.contains("no answer from") && run.stderr.contains("--timeout"),
        "{}",
        run.stderr
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

mod tls {
    //! fleet over https against the fake query API behind rustls, with certificates made by
    //! rcgen: a CA, the server's certificate for 127.0.0.1, a client certificate.

    use std::sync::Arc;

    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose, SanType,
    };
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    use super::{FakeApi, Mode, fleet};

    struct Ca {
        issuer: Issuer<'static, KeyPair>,
        pem: String,
    }

    fn ca(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).unwrap();
        Ca {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// (certificate PEM, key PEM)
    fn leaf(ca: &Ca, server: bool) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        if server {
            params.subject_alt_names = vec![SanType::IpAddress([127, 0, 0, 1].into())];
        }
        params
            .distinguished_name
            .push(DnType::CommonName, "fleet test");
        params.extended_key_usages = vec![if server {
            ExtendedKeyUsagePurpose::ServerAuth
        } else {
            ExtendedKeyUsagePurpose::ClientAuth
        }];
        let cert = params.signed_by(&key, &ca.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn server_config(ca: &Ca, client_ca: Option<&Ca>) -> Arc<rustls::ServerConfig> {
        let (cert, key) = leaf(ca, true);
        let chain = vec![CertificateDer::from_pem_slice(cert.as_bytes()).unwrap()];
        let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .unwrap();
        let builder = match client_ca {
            Some(client_ca) => {
                let mut roots = rustls::RootCertStore::empty();
                roots
                    .add(CertificateDer::from_pem_slice(client_ca.pem.as_bytes()).unwrap())
                    .unwrap();
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .build()
                .unwrap();
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        Arc::new(builder.with_single_cert(chain, key).unwrap())
    }

    struct Files(std::path::PathBuf);

    impl Files {
        fn new(name: &str) -> Files {
            let dir =
                std::env::temp_dir().join(format!("ipvs-fleet-{name}-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            Files(dir)
        }

        fn write(&self, name: &str, text: &str) -> String {
            let path = self.0.join(name);
            std::fs::write(&path, text).unwrap();
            path.to_string_lossy().into_owned()
        }
    }

    impl Drop for Files {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn https_trusts_the_ca_file_and_refuses_another() {
        let files = Files::new("tls");
        let server_ca = ca("fleet server CA");
        let api = FakeApi::start_tls(
            Mode::Fixture("healthy".into()),
            server_config(&server_ca, None),
        );
        let url = format!("https://{}", api.address);
        let ca_file = files.write("ca.pem", &server_ca.pem);
        let run = fleet(&["--prometheus", &url, "--ca-file", &ca_file]);
        assert_eq!(run.code, Some(0), "{}", run.stderr);
        assert!(run.stdout.contains("Findings: none"), "{}", run.stdout);

        // another CA, as --ca-file or as the system bundle: the handshake fails, exit 3
        let other = files.write("other.pem", &ca("another CA").pem);
        let run = fleet(&["--prometheus", &url, "--ca-file", &other]);
        assert_eq!(run.code, Some(3), "{}", run.stderr);
        assert!(run.stderr.contains("TLS handshake with"), "{}", run.stderr);
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_ipvs_exporter"))
            .args(["fleet", "--prometheus", &url])
            .env("SSL_CERT_FILE", &other)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(3));
        assert!(String::from_utf8_lossy(&output.stderr).contains("TLS handshake with"));
    }

    #[test]
    fn a_client_certificate_is_presented_when_the_server_asks() {
        let files = Files::new("mtls");
        let server_ca = ca("fleet server CA");
        let client_ca = ca("fleet client CA");
        let api = FakeApi::start_tls(
            Mode::Fixture("split-brain".into()),
            server_config(&server_ca, Some(&client_ca)),
        );
        let url = format!("https://{}", api.address);
        let ca_file = files.write("ca.pem", &server_ca.pem);
        let refused = fleet(&["--prometheus", &url, "--ca-file", &ca_file]);
        assert_eq!(refused.code, Some(3), "{}", refused.stderr);
        let (cert, key) = leaf(&client_ca, false);
        let cert_file = files.write("client.pem", &cert);
        let key_file = files.write("client.key", &key);
        let run = fleet(&[
            "--prometheus",
            &url,
            "--ca-file",
            &ca_file,
            "--cert-file",
            &cert_file,
            "--key-file",
            &key_file,
        ]);
        assert_eq!(run.code, Some(2), "{}", run.stderr);
        assert!(
            run.stdout.contains("fleet-vrrp-split-brain"),
            "{}",
            run.stdout
        );
    }
}
