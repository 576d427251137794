//! The series budget: what one real server and one virtual service cost in series, for the
//! defaults and each flag that changes it, counted in the exporter's own output for a table
//! read through the netlink decoder (the synthetic kernel: 200 TCP services of 10 real
//! servers, every counter and estimate given). The defaults must stay within the budget (at
//! most 10 series per real server, 12 per service), and the tables in docs/metrics.md
//! ("Series budget") and the README ("Metrics") must say what is counted here.

// Test code: a failed unwrap or index is a failed test (the [lints] table guards src/).
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::panic, clippy::indexing_slicing)]
#![allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]

use std::path::Path;
use std::sync::Arc;

use ipvs_exporter::metrics::{BackendLabels, EncodeOptions, Format, encode};
use ipvs_exporter::model::snapshot::Snapshot;
use ipvs_exporter::model::{IpvsTable, Persistence};
use ipvs_exporter::source::ipvs_netlink::read_table;
use ipvs_exporter_testkit::FakeIpvsKernel;

const SERVICES: usize = 200;
const PER_SERVICE: usize = 10;
const BUDGET_PER_REAL_SERVER: f64 = 10.0;
const BUDGET_PER_SERVICE: f64 = 12.0;

fn table() -> IpvsTable {
    let mut kernel = FakeIpvsKernel::synthetic(SERVICES, PER_SERVICE);
    let read = read_table(&mut kernel)
        .expect("the synthetic table reads")
        .expect("IPVS is there");
    let table = read.table;
    assert_eq!(table.services.len(), SERVICES);
    assert!(
        table
            .services
            .iter()
            .all(|s| s.backends.len() == PER_SERVICE && s.counters.is_some() && s.rates.is_some()),
        "every service with its real servers, counters and estimates"
    );
    table
}

/// Series per real server and per service in one scrape of `table` with `options`.
fn count(table: IpvsTable, options: &EncodeOptions) -> (f64, f64) {
    let snapshot = Arc::new(Snapshot {
        ipvs: Some(table),
        ..Snapshot::default()
    });
    let text = encode(snapshot, Format::Classic, options);
    let mut backend = 0usize;
    let mut service = 0usize;
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        if line.starts_with("ipvs_backend_") {
            backend += 1;
        } else if line.starts_with("ipvs_service_") {
            service += 1;
        }
    }
    let real_servers = (SERVICES * PER_SERVICE) as f64;
    (
        backend as f64 / real_servers,
        service as f64 / SERVICES as f64,
    )
}

struct Case {
    /// As the table in docs/metrics.md names it.
    name: &'static str,
    options: EncodeOptions,
    change: fn(&mut IpvsTable),
}

fn cases() -> Vec<Case> {
    let per_service = {
        let mut labels = BackendLabels::none();
        for name in ["proto", "local_address", "local_port", "local_mark"] {
            assert!(labels.keep(name));
        }
        labels
    };
    vec![
        Case {
            name: "defaults",
            options: EncodeOptions::default(),
            change: |_| {},
        },
        Case {
            name: "a persistent service",
            options: EncodeOptions::default(),
            change: |t| {
                for s in &mut t.services {
                    s.persistence = Some(Persistence {
                        timeout_seconds: 300,
                        netmask: u32::MAX,
                    });
                }
            },
        },
        Case {
            name: "a real server with thresholds set",
            options: EncodeOptions::default(),
            change: |t| {
                for b in t.services.iter_mut().flat_map(|s| &mut s.backends) {
                    b.upper_threshold = Some(100);
                    b.lower_threshold = Some(80);
                }
            },
        },
        Case {
            name: "a real server of weight 0 (draining), in its first scrape",
            options: EncodeOptions::default(),
            // still holding connections: one without any is drained, and its estimate (0 s)
            // is there at once
            change: |t| {
                for b in t.services.iter_mut().flat_map(|s| &mut s.backends) {
                    b.weight = 0;
                    b.active_connections = b.active_connections.max(1);
                }
            },
        },
        Case {
            name: "`--collector.ipvs.estimates`",
            options: EncodeOptions {
                backend_estimates: true,
                ..EncodeOptions::default()
            },
            change: |_| {},
        },
        Case {
            name: "`--collector.ipvs.backend-labels=proto,local_address,local_port,local_mark`",
            options: EncodeOptions {
                backend_labels: per_service,
                ..EncodeOptions::default()
            },
            change: |_| {},
        },
        Case {
            name: "`--no-collector.ipvs.backends`",
            options: EncodeOptions {
                backends: false,
                ..EncodeOptions::default()
            },
            change: |_| {},
        },
    ]
}

/// The counted table, as the rows of docs/metrics.md's table are written.
fn counted_rows() -> Vec<String> {
    let table = table();
    cases()
        .into_iter()
        .map(|case| {
            let mut t = table.clone();
            (case.change)(&mut t);
            let (per_backend, per_service) = count(t, &case.options);
            format!(
                "| {} | {} | {} |",
                case.name,
                figure(per_backend),
                figure(per_service)
            )
        })
        .collect()
}

/// 10 as `10`, 0.9 as `0.9`.
fn figure(value: f64) -> String {
    if value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

#[test]
fn the_defaults_keep_the_budget() {
    let table = table();
    let (per_backend, per_service) = count(table.clone(), &EncodeOptions::default());
    assert!(
        per_backend <= BUDGET_PER_REAL_SERVER,
        "{per_backend} series per real server, budget {BUDGET_PER_REAL_SERVER}"
    );
    assert!(
        per_service <= BUDGET_PER_SERVICE,
        "{per_service} series per service, budget {BUDGET_PER_SERVICE}"
    );
    // the worst default shape of a service: persistent
    let mut persistent = table;
    for s in &mut persistent.services {
        s.persistence = Some(Persistence {
            timeout_seconds: 60,
            netmask: u32::MAX,
        });
    }
    let (_, per_service) = count(persistent, &EncodeOptions::default());
    assert!(
        per_service <= BUDGET_PER_SERVICE,
        "{per_service} series per persistent service, budget {BUDGET_PER_SERVICE}"
    );
}

#[test]
fn estimates_per_real_server_only_when_asked_for() {
    let table = table();
    let text = |options: &EncodeOptions| {
        encode(
            Arc::new(Snapshot {
                ipvs: Some(table.clone()),
                ..Snapshot::default()
            }),
            Format::Classic,
            options,
        )
    };
    let default = text(&EncodeOptions::default());
    assert!(
        !default.contains("\nipvs_backend_estimate_"),
        "no per-real-server estimate"
    );
    assert!(default.contains("\nipvs_service_estimate_connections_per_second{"));
    let asked = text(&EncodeOptions {
        backend_estimates: true,
        ..EncodeOptions::default()
    });
    for stem in [
        "connections",
        "incoming_packets",
        "outgoing_packets",
        "incoming_bytes",
        "outgoing_bytes",
    ] {
        let family = format!("\nipvs_backend_estimate_{stem}_per_second{{");
        assert_eq!(
            asked.matches(&family).count(),
            SERVICES * PER_SERVICE,
            "{family}"
        );
    }
    // thresholds: none set in the synthetic table, so no series
    assert!(!default.contains("ipvs_backend_threshold_"));
}

/// The rows of the budget table (`| what | series per real server | series per service |`)
/// in the section of `file` under `heading`.
fn documented_rows(file: &str, heading: &str) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let section = text
        .split(&format!("\n{heading}\n"))
        .nth(1)
        .unwrap_or_else(|| panic!("{file} has no \"{heading}\" section"));
    let section = section.split("\n## ").next().unwrap();
    section
        .lines()
        .skip_while(|l| !l.starts_with("| what | series per real server | series per service |"))
        .skip(2)
        .take_while(|l| l.starts_with("| "))
        .map(str::to_string)
        .collect()
}

#[test]
fn the_documented_budget_is_the_counted_one() {
    let counted = counted_rows();
    for (file, heading) in [
        ("docs/metrics.md", "## Series budget"),
        ("README.md", "## Metrics"),
    ] {
        assert_eq!(
            documented_rows(file, heading),
            counted,
            "{file}'s series budget differs from the count; counted:\n{}",
            counted.join("\n")
        );
    }
}
