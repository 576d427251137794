//! The files we read, in the shapes other projects keep fixtures of (node_exporter's
//! `collector/fixtures`, procfs's `testdata`): IPv4 and IPv6 services, firewall marks written
//! in hexadecimal, softnet_stat rows of 13 columns (with an offline CPU) and of 11, both
//! generations of nf_conntrack's header, and a `/sys/class/net` with the bonding driver's
//! `bonding_masters` file beside the device links. The trees are under
//! `tests/fixtures/other-shapes/`; their README says what each holds.
//!
//! Every figure our parsers and /metrics give from them is checked against the tables below,
//! which are tied to the files by writing them out again in the kernel's own formats (so a
//! table and its file cannot drift apart), and against what node_exporter 1.5.0 reported for
//! the same trees (`node_exporter-1.5.0.prom` beside each tree).

// Test code: a failed unwrap or index is a failed test (the [lints] table guards src/).
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::panic, clippy::indexing_slicing)]
#![allow(clippy::cast_possible_truncation)]

mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use ipvs_exporter::model::{AddressFamily, ForwardMethod, Protocol, ServiceKey};
use ipvs_exporter::parse;
use support::{Exporter, http_get, metric_values};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A tree, relative to the package root (where the exporter runs in these tests).
fn tree(name: &str) -> PathBuf {
    Path::new("tests/fixtures/other-shapes").join(name)
}

fn read(name: &str, file: &str) -> String {
    std::fs::read_to_string(root().join(tree(name)).join(file)).expect("fixture file")
}

/// The exporter pointed at a tree: procfs sources, the tree's sysfs, every device (`lo`
/// too), and ethtool left on, so that the tree decides whether it is asked.
fn tree_args(name: &str) -> Vec<String> {
    let t = tree(name);
    vec![
        "--path.procfs".into(),
        t.join("proc").to_string_lossy().into_owned(),
        "--path.sysfs".into(),
        t.join("sys").to_string_lossy().into_owned(),
        "--path.rootfs".into(),
        t.to_string_lossy().into_owned(),
        "--collector.ipvs.source".into(),
        "procfs".into(),
        "--collector.conntrack.source".into(),
        "procfs".into(),
        "--no-collector.interfaces".into(),
        "--collector.netdev.device-exclude".into(),
        "^$".into(),
    ]
}

fn scrape(args: &[String]) -> String {
    let exporter = Exporter::start(args);
    let response = http_get(exporter.address, "/metrics", &[]);
    assert_eq!(response.status, 200);
    exporter.stop();
    response.body
}

// ---------------------------------------------------------------------------------------
// /proc/net/ip_vs and /proc/net/ip_vs_stats

/// A real server as the recent tree's ip_vs lists it.
struct Real {
    address: &'static str,
    port: u16,
    forward: &'static str,
    weight: i64,
    active: i64,
    inactive: i64,
}

/// A service: its key as the file writes it, decoded by hand, and its real servers.
struct Virtual {
    /// `TCP`, `UDP` or `FWM`.
    proto: &'static str,
    /// The virtual address (empty for FWM).
    address: &'static str,
    port: u16,
    /// The firewall mark, in decimal (0 for an address service).
    mark: u32,
    scheduler: &'static str,
    one_packet: bool,
    /// `persistent` and the timeout and netmask the kernel prints after it.
    persistent: Option<(u32, u32)>,
    reals: &'static [Real],
}

/// The recent tree's table. Addresses in the file are hexadecimal (C6.33.64.16 is
/// 198.51.100.22, 0A.00.01.0B is 10.0.1.11), ports too (01BB is 443, 1F90 is 8080), and the
/// marks (0000002A is 42, 1000BEEF is 268484335); IPv6 addresses are written in full.
const TABLE: &[Virtual] = &[
    Virtual {
        proto: "TCP",
        address: "198.51.100.22",
        port: 443,
        mark: 0,
        scheduler: "wlc",
        one_packet: false,
        persistent: None,
        reals: &[
            Real {
                address: "10.0.1.11",
                port: 443,
                forward: "Tunnel",
                weight: 100,
                active: 312,
                inactive: 7,
            },
            Real {
                address: "10.0.1.12",
                port: 443,
                forward: "Tunnel",
                weight: 100,
                active: 305,
                inactive: 9,
            },
            Real {
                address: "10.0.1.13",
                port: 443,
                forward: "Tunnel",
                weight: 50,
                active: 0,
                inactive: 0,
            },
        ],
    },
    Virtual {
        proto: "UDP",
        address: "198.51.100.22",
        port: 53,
        mark: 0,
        scheduler: "rr",
        one_packet: true,
        persistent: None,
        reals: &[
            Real {
                address: "10.0.2.11",
                port: 53,
                forward: "Route",
                weight: 1,
                active: 0,
                inactive: 41,
            },
            Real {
                address: "10.0.2.12",
                port: 53,
                forward: "Route",
                weight: 1,
                active: 0,
                inactive: 38,
            },
        ],
    },
    Virtual {
        proto: "TCP",
        address: "2001:db8::50",
        port: 80,
        mark: 0,
        scheduler: "sh",
        one_packet: false,
        persistent: None,
        reals: &[
            Real {
                address: "2001:db8::1:a",
                port: 80,
                forward: "Masq",
                weight: 1,
                active: 2,
                inactive: 1,
            },
            Real {
                address: "2001:db8::1:b",
                port: 8080,
                forward: "Masq",
                weight: 0,
                active: 0,
                inactive: 3,
            },
        ],
    },
    Virtual {
        proto: "FWM",
        address: "",
        port: 0,
        mark: 42,
        scheduler: "wlc",
        one_packet: false,
        persistent: None,
        reals: &[
            Real {
                address: "10.0.3.11",
                port: 80,
                forward: "Route",
                weight: 20,
                active: 64,
                inactive: 1,
            },
            Real {
                address: "10.0.3.12",
                port: 80,
                forward: "Route",
                weight: 100,
                active: 321,
                inactive: 5,
            },
        ],
    },
    Virtual {
        proto: "FWM",
        address: "",
        port: 0,
        mark: 0x1000_BEEF,
        scheduler: "wlc",
        one_packet: false,
        persistent: Some((90000, 0xFFFF_FFFF)),
        reals: &[Real {
            address: "10.0.4.11",
            port: 0,
            forward: "Route",
            weight: 1,
            active: 17,
            inactive: 2,
        }],
    },
];

/// An address as ip_vs_ctl.c writes it: `%08X` of the IPv4 address, `[%pI6]` (eight
/// zero-padded lowercase groups) for IPv6.
fn kernel_address(address: &str) -> String {
    match address.parse::<IpAddr>().unwrap() {
        IpAddr::V4(v4) => format!("{:08X}", u32::from(v4)),
        IpAddr::V6(v6) => {
            let groups: Vec<String> = v6.segments().iter().map(|g| format!("{g:04x}")).collect();
            format!("[{}]", groups.join(":"))
        }
    }
}

/// The table written out as the kernel writes /proc/net/ip_vs (trailing blanks aside).
fn kernel_ip_vs(table: &[Virtual]) -> Vec<String> {
    let mut lines = vec![
        "IP Virtual Server version 1.2.1 (size=4096)".to_string(),
        "Prot LocalAddress:Port Scheduler Flags".to_string(),
        "  -> RemoteAddress:Port Forward Weight ActiveConn InActConn".to_string(),
    ];
    for service in table {
        let mut line = if service.proto == "FWM" {
            format!("FWM  {:08X} {}", service.mark, service.scheduler)
        } else {
            format!(
                "{}  {}:{:04X} {}{}",
                service.proto,
                kernel_address(service.address),
                service.port,
                service.scheduler,
                if service.one_packet { " ops" } else { "" }
            )
        };
        if let Some((timeout, netmask)) = service.persistent {
            // After `%s %s ` (address services) or `%s %s` (marks) with no flags.
            let gap = if service.proto == "FWM" { " " } else { "  " };
            line.push_str(&format!("{gap}persistent {timeout} {netmask:08X}"));
        }
        lines.push(line);
        for real in service.reals {
            lines.push(format!(
                "  -> {}:{:04X}      {:<7} {:<6} {:<10} {}",
                kernel_address(real.address),
                real.port,
                real.forward,
                real.weight,
                real.active,
                real.inactive
            ));
        }
    }
    lines
}

#[test]
fn the_ip_vs_table_is_the_file_written_out_again() {
    let file: Vec<String> = read("recent", "proc/net/ip_vs")
        .lines()
        .map(|l| l.trim_end().to_string())
        .collect();
    assert_eq!(file, kernel_ip_vs(TABLE));
}

#[test]
fn ip_vs_parses_to_every_hand_decoded_figure() {
    let parsed = parse::ipvs_proc::parse_ip_vs(&read("recent", "proc/net/ip_vs"));
    assert_eq!(parsed.problems, vec![]);
    let table = parsed.value;
    assert_eq!(table.version.as_deref(), Some("1.2.1"));
    assert_eq!(table.connection_table_buckets, Some(4096));
    assert_eq!(table.services.len(), TABLE.len());
    for (service, want) in table.services.iter().zip(TABLE) {
        let key = match want.proto {
            "FWM" => ServiceKey::FirewallMark {
                mark: want.mark,
                // the family of a mark service is its real servers' (all IPv4 here)
                family: Some(AddressFamily::Inet),
            },
            proto => ServiceKey::Address {
                protocol: if proto == "TCP" {
                    Protocol::Tcp
                } else {
                    Protocol::Udp
                },
                address: want.address.parse().unwrap(),
                port: want.port,
            },
        };
        assert_eq!(service.key, key);
        assert_eq!(service.scheduler, want.scheduler, "{key:?}");
        assert_eq!(service.flags.one_packet, want.one_packet, "{key:?}");
        assert_eq!(
            service.flags.persistent,
            want.persistent.is_some(),
            "{key:?}"
        );
        assert_eq!(service.backends.len(), want.reals.len(), "{key:?}");
        for (backend, real) in service.backends.iter().zip(want.reals) {
            let forward = match real.forward {
                "Masq" => ForwardMethod::Masq,
                "Route" => ForwardMethod::Route,
                "Tunnel" => ForwardMethod::Tunnel,
                other => panic!("{other}"),
            };
            let what = format!("{key:?} -> {}", real.address);
            assert_eq!(
                backend.address,
                real.address.parse::<IpAddr>().unwrap(),
                "{what}"
            );
            assert_eq!(backend.port, real.port, "{what}");
            assert_eq!(backend.forward, forward, "{what}");
            assert_eq!(backend.weight, real.weight, "{what}");
            assert_eq!(backend.active_connections, real.active, "{what}");
            assert_eq!(backend.inactive_connections, real.inactive, "{what}");
        }
    }
    // Decoded by hand, one of each kind.
    assert_eq!(u32::from(Ipv4Addr::new(198, 51, 100, 22)), 0xC633_6416);
    assert_eq!(
        Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 1, 0xb),
        "2001:db8::1:b".parse::<Ipv6Addr>().unwrap()
    );
    assert_eq!(0x1000_BEEF_u32, 268_484_335);
}

/// ip_vs_stats: totals since boot, then the kernel's per-second estimates.
const TOTALS: [u64; 5] = [
    0x2B_3C4D,
    0x1_A2B3_C4D5,
    0x9ABC_DEF0,
    0x3A4B_5C6D_7E8F,
    0x1F_2E3D_4C5B,
];
const RATES: [u64; 5] = [0x1C, 0x2F4A, 0x2E11, 0x3B_9ACA, 0x3A_9E01];

#[test]
fn ip_vs_stats_parses_to_the_hand_decoded_totals_and_rates() {
    let text = read("recent", "proc/net/ip_vs_stats");
    // The kernel's format: `%8LX %8LX %8LX %16LX %16LX` for both rows.
    let row = |v: [u64; 5]| {
        format!(
            "{:8X} {:8X} {:8X} {:16X} {:16X}",
            v[0], v[1], v[2], v[3], v[4]
        )
    };
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[2], row(TOTALS));
    assert_eq!(lines[5], row(RATES));
    let parsed = parse::ipvs_proc::parse_ip_vs_stats(&text);
    assert_eq!(parsed.problems, vec![]);
    let totals = parsed.value.totals.expect("totals");
    assert_eq!(
        [
            totals.connections,
            totals.incoming_packets,
            totals.outgoing_packets,
            totals.incoming_bytes,
            totals.outgoing_bytes
        ],
        TOTALS
    );
    let rates = parsed.value.rates.expect("rates");
    assert_eq!(
        [
            rates.connections_per_second,
            rates.incoming_packets_per_second,
            rates.outgoing_packets_per_second,
            rates.incoming_bytes_per_second,
            rates.outgoing_bytes_per_second
        ],
        RATES
    );
    // 0x3A4B5C6D7E8F bytes, by hand: 3A4B 5C6D 7E8F = 14923 * 2^32 + 1550679695.
    assert_eq!(TOTALS[3], 14_923 * (1 << 32) + 1_550_679_695);
}

// ---------------------------------------------------------------------------------------
// /proc/net/softnet_stat

/// The recent tree's rows (kernels 5.10 to 6.9: 13 columns, the last the CPU's number). CPU 2
/// is offline, so the rows are CPUs 0, 1 and 3.
const SOFTNET_13: [[u64; 13]; 3] = [
    [0x0a3f_91c2, 0, 0x12c, 0, 0, 0, 0, 0, 3, 0xb1e, 0, 0, 0],
    [0x07d5_e3a1, 0x2d, 0x1f4, 0, 0, 0, 0, 0, 0, 0x1a2b, 2, 4, 1],
    [0x0001_e240, 0, 7, 0, 0, 0, 0, 0, 0xc, 0, 0, 0, 3],
];

/// The older tree's rows (kernels 3.11 to 5.9: 11 columns, rows numbered by position).
const SOFTNET_11: [[u64; 11]; 4] = [
    [0x00c0_ffee, 0, 0x10, 0, 0, 0, 0, 0, 0, 0x100, 0],
    [0x0bad_cafe, 0x3e8, 0x4d2, 0, 0, 0, 0, 0, 0x1f, 0x200, 0x11],
    [0x0001_2345, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    [0xffff_fff0, 5, 0xa, 0, 0, 0, 0, 0, 2, 0x7fff, 1],
];

/// Rows as the kernel prints them: `%08x` columns, one blank between.
fn softnet_text(rows: &[&[u64]]) -> String {
    rows.iter()
        .map(|row| {
            let words: Vec<String> = row.iter().map(|v| format!("{v:08x}")).collect();
            words.join(" ") + "\n"
        })
        .collect()
}

/// What each row means, by the kernel's column order: (cpu, processed, dropped, squeezed,
/// collision, rps, flow limit, backlog).
type SoftnetExpected = (
    u32,
    u64,
    u64,
    u64,
    u64,
    Option<u64>,
    Option<u64>,
    Option<u64>,
);

fn softnet_expected(rows: &[&[u64]]) -> Vec<SoftnetExpected> {
    rows.iter()
        .enumerate()
        .map(|(position, row)| {
            let cpu = if row.len() >= 13 {
                row[12] as u32
            } else {
                position as u32
            };
            let later = |n: usize| row.get(n).copied();
            (
                cpu,
                row[0],
                row[1],
                row[2],
                row[8],
                later(9),
                later(10),
                later(11),
            )
        })
        .collect()
}

#[test]
fn softnet_rows_of_13_and_11_columns_give_every_column() {
    for (name, rows) in [
        (
            "recent",
            SOFTNET_13.iter().map(|r| &r[..]).collect::<Vec<_>>(),
        ),
        ("older", SOFTNET_11.iter().map(|r| &r[..]).collect()),
    ] {
        let text = read(name, "proc/net/softnet_stat");
        assert_eq!(text, softnet_text(&rows), "{name}: the table is the file");
        let parsed = parse::softnet::parse_softnet_stat(&text);
        assert_eq!(parsed.problems, vec![], "{name}");
        let got: Vec<SoftnetExpected> = parsed
            .value
            .iter()
            .map(|c| {
                (
                    c.cpu,
                    c.processed,
                    c.dropped,
                    c.time_squeezed,
                    c.cpu_collision,
                    c.received_rps,
                    c.flow_limit_count,
                    c.backlog_length,
                )
            })
            .collect();
        assert_eq!(got, softnet_expected(&rows), "{name}");
    }
    // By hand: the CPU column skips the offline CPU 2; 0x0a3f91c2 is 171938242.
    let cpus: Vec<u32> = softnet_expected(&SOFTNET_13.iter().map(|r| &r[..]).collect::<Vec<_>>())
        .iter()
        .map(|e| e.0)
        .collect();
    assert_eq!(cpus, vec![0, 1, 3]);
    assert_eq!(SOFTNET_13[0][0], 171_938_242);
}

// ---------------------------------------------------------------------------------------
// /proc/net/stat/nf_conntrack

/// An older kernel's header (`searched`, `delete_list`) and a current one's (`clashres`,
/// `chainlength`, as the 6.18 capture in `tests/fixtures/conntrack/` has it), as the kernel
/// prints them (two blanks after `entries` and `icmp_error`).
const HEADER_OLDER: &str = "entries  searched found new invalid ignore delete delete_list insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart";
const HEADER_RECENT: &str = "entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart";

/// Four CPUs, each row starting with the table's size (0x1267 = 4711, the same on every row).
const CONNTRACK_OLDER: [[u64; 17]; 4] = [
    [
        0x1267, 0, 5, 0x3e8, 3, 0x588a, 0x3d0, 0, 0x3e8, 0, 0, 0, 1, 0, 0, 0, 2,
    ],
    [
        0x1267, 0, 7, 0x2ee, 2, 0x56a4, 0x2f0, 0, 0x2ee, 1, 4, 0, 0, 0, 0, 0, 0,
    ],
    [
        0x1267, 0, 0, 0x1f4, 1, 0x58d4, 0x1f4, 0, 0x1f4, 0, 0, 2, 3, 0, 0, 0, 1,
    ],
    [
        0x1267, 0, 1, 0x64, 0x2f, 0x5688, 0x60, 0, 0x64, 0, 0, 0, 0, 0, 0, 0, 4,
    ],
];
/// Two CPUs (0x2a = 42 entries).
const CONNTRACK_RECENT: [[u64; 17]; 2] = [
    [0x2a, 2, 9, 0, 0x11, 0, 0, 1, 0x20, 0, 6, 0, 5, 0, 0, 0, 0],
    [0x2a, 0, 3, 0, 7, 0, 0, 0, 0x10, 2, 0, 1, 8, 0, 0, 0, 3],
];

/// A row as the kernel prints it: `%08x`, two blanks after the first and the 13th column.
fn conntrack_row(row: &[u64; 17]) -> String {
    let mut line = String::new();
    for (i, v) in row.iter().enumerate() {
        line.push_str(&format!("{v:08x}"));
        if i < 16 {
            line.push_str(if i == 0 || i == 12 { "  " } else { " " });
        }
    }
    line
}

/// The sum of each column but `entries`, named as `conntrack -S` names it.
fn conntrack_sums(header: &str, rows: &[[u64; 17]]) -> BTreeMap<String, u64> {
    let mut sums = BTreeMap::new();
    for (i, name) in header.split_whitespace().enumerate().skip(1) {
        let name = match name {
            "clashres" => "clash_resolve",
            "chainlength" => "chaintoolong",
            "icmp_error" => "error",
            other => other,
        };
        sums.insert(name.to_string(), rows.iter().map(|r| r[i]).sum());
    }
    sums
}

#[test]
fn nf_conntrack_rows_are_summed_per_statistic_under_both_headers() {
    for (name, header, rows) in [
        ("older", HEADER_OLDER, &CONNTRACK_OLDER[..]),
        ("recent", HEADER_RECENT, &CONNTRACK_RECENT[..]),
    ] {
        let text = read(name, "proc/net/stat/nf_conntrack");
        let mut written = vec![header.to_string()];
        written.extend(rows.iter().map(conntrack_row));
        let file: Vec<&str> = text.lines().collect();
        assert_eq!(file, written, "{name}: the table is the file");
        let parsed = parse::conntrack::parse_stat_nf_conntrack(&text);
        assert_eq!(parsed.problems, vec![], "{name}");
        assert_eq!(parsed.value.cpus, rows.len(), "{name}");
        let got: BTreeMap<String, u64> = parsed.value.statistics.into_iter().collect();
        assert_eq!(got, conntrack_sums(header, rows), "{name}");
    }
    // By hand: ignore over the four older rows, 0x588a + 0x56a4 + 0x58d4 + 0x5688.
    assert_eq!(
        conntrack_sums(HEADER_OLDER, &CONNTRACK_OLDER)["ignore"],
        22666 + 22180 + 22740 + 22152
    );
}

// ---------------------------------------------------------------------------------------
// /metrics, against the tables and against node_exporter

/// Labels of one exposition line (values here have no escapes).
fn labels_of(series: &str) -> (String, BTreeMap<String, String>) {
    let Some((name, rest)) = series.split_once('{') else {
        return (series.to_string(), BTreeMap::new());
    };
    let mut labels = BTreeMap::new();
    for pair in rest.trim_end_matches('}').split("\",") {
        if pair.is_empty() {
            continue;
        }
        let (key, value) = pair.split_once("=\"").expect("label");
        labels.insert(key.to_string(), value.trim_end_matches('"').to_string());
    }
    (name.to_string(), labels)
}

/// The series of ours that stands for a node_exporter series. `cpus` are the CPU numbers of
/// softnet_stat's rows in order: node_exporter 1.5.0 numbers rows by position, we take the
/// CPU's own column where the kernel gives it.
fn ours_for(series: &str, cpus: &[u32]) -> String {
    let (name, labels) = labels_of(series);
    let label = |key: &str| labels.get(key).cloned().unwrap_or_default();
    if let Some(family) = name.strip_prefix("node_ipvs_backend_") {
        // node_exporter keeps the mark as the file prints it, 8 hexadecimal digits; we
        // write it in decimal, as ipvsadm and keepalived.conf do.
        let mark = label("local_mark");
        let mark = if mark.is_empty() {
            mark
        } else {
            u32::from_str_radix(&mark, 16).unwrap().to_string()
        };
        return format!(
            "ipvs_backend_{family}{{proto=\"{}\",local_address=\"{}\",local_port=\"{}\",local_mark=\"{mark}\",remote_address=\"{}\",remote_port=\"{}\"}}",
            label("proto"),
            label("local_address"),
            label("local_port"),
            label("remote_address"),
            label("remote_port"),
        );
    }
    if let Some(rest) = name.strip_prefix("node_ipvs_") {
        return format!("ipvs_{rest}");
    }
    if let Some(rest) = name.strip_prefix("node_nf_conntrack_stat_") {
        return format!("ipvs_conntrack_{rest}_total");
    }
    if let Some(rest) = name.strip_prefix("node_nf_conntrack_") {
        return format!("ipvs_conntrack_{rest}");
    }
    if let Some(rest) = name.strip_prefix("node_softnet_") {
        let row: usize = label("cpu").parse().unwrap();
        let family = if rest == "backlog_len" {
            "backlog_length"
        } else {
            rest
        };
        return format!("ipvs_softnet_{family}{{cpu=\"{}\"}}", cpus[row]);
    }
    panic!("no counterpart for {series}");
}

#[test]
fn metrics_agree_with_node_exporter_on_the_same_files() {
    for (name, cpus) in [("recent", vec![0, 1, 3]), ("older", vec![0, 1, 2, 3])] {
        let ours = metric_values(&scrape(&tree_args(name)));
        let theirs = read(name, "node_exporter-1.5.0.prom");
        let mut compared = 0;
        for line in theirs.lines().filter(|l| !l.starts_with('#')) {
            let (series, value) = line.rsplit_once(' ').unwrap();
            let value: f64 = value.parse().unwrap();
            let counterpart = ours_for(series, &cpus);
            assert_eq!(
                ours.get(&counterpart),
                Some(&value),
                "{name}: node_exporter's {series} is {value}; ours is {counterpart}"
            );
            compared += 1;
        }
        // recent: 30 real-server, 5 total, 10 conntrack and 9 softnet series; older: 10 + 12.
        assert_eq!(compared, if name == "recent" { 54 } else { 22 }, "{name}");
    }
}

#[test]
fn every_series_from_the_recent_tree_has_its_hand_decoded_value() {
    let body = scrape(&tree_args("recent"));
    let ours = metric_values(&body);
    let mut want: HashMap<String, f64> = HashMap::new();
    for service in TABLE {
        for real in service.reals {
            let labels = format!(
                "proto=\"{}\",local_address=\"{}\",local_port=\"{}\",local_mark=\"{}\",remote_address=\"{}\",remote_port=\"{}\"",
                service.proto,
                service.address,
                service.port,
                if service.proto == "FWM" {
                    service.mark.to_string()
                } else {
                    String::new()
                },
                real.address,
                real.port
            );
            for (family, value) in [
                ("weight", real.weight),
                ("connections_active", real.active),
                ("connections_inactive", real.inactive),
            ] {
                want.insert(format!("ipvs_backend_{family}{{{labels}}}"), value as f64);
            }
        }
    }
    let totals = [
        "connections",
        "incoming_packets",
        "outgoing_packets",
        "incoming_bytes",
        "outgoing_bytes",
    ];
    for (name, value) in totals.iter().zip(TOTALS) {
        want.insert(format!("ipvs_{name}_total"), value as f64);
    }
    for (name, value) in totals.iter().zip(RATES) {
        want.insert(format!("ipvs_estimate_{name}_per_second"), value as f64);
    }
    want.insert("ipvs_connection_table_buckets".into(), 4096.0);
    let rows: Vec<&[u64]> = SOFTNET_13.iter().map(|r| &r[..]).collect();
    for (cpu, processed, dropped, squeezed, collision, rps, flow, backlog) in
        softnet_expected(&rows)
    {
        for (family, value) in [
            ("processed_total", Some(processed)),
            ("dropped_total", Some(dropped)),
            ("times_squeezed_total", Some(squeezed)),
            ("cpu_collision_total", Some(collision)),
            ("received_rps_total", rps),
            ("flow_limit_count_total", flow),
            ("backlog_length", backlog),
        ] {
            want.insert(
                format!("ipvs_softnet_{family}{{cpu=\"{cpu}\"}}"),
                value.unwrap() as f64,
            );
        }
    }
    for (name, sum) in conntrack_sums(HEADER_RECENT, &CONNTRACK_RECENT) {
        want.insert(format!("ipvs_conntrack_{name}_total"), sum as f64);
    }
    want.insert("ipvs_conntrack_entries".into(), 42.0);
    want.insert("ipvs_conntrack_entries_limit".into(), 262_144.0);
    want.insert("ipvs_conntrack_buckets".into(), 65_536.0);

    for (series, value) in &want {
        assert_eq!(ours.get(series), Some(value), "{series}");
    }
    // Nothing more in those families than the files hold.
    let families = [
        "ipvs_backend_weight{",
        "ipvs_backend_connections_",
        "ipvs_softnet_",
        "ipvs_estimate_",
        "ipvs_conntrack_",
    ];
    let extra: Vec<&String> = ours
        .keys()
        .filter(|s| families.iter().any(|f| s.starts_with(f)))
        .filter(|s| !s.starts_with("ipvs_conntrack_statistics_info"))
        .filter(|s| !want.contains_key(*s))
        .collect();
    assert!(extra.is_empty(), "series the files do not hold: {extra:?}");
    assert_eq!(
        ours.get("ipvs_conntrack_statistics_info{source=\"procfs\"}"),
        Some(&1.0)
    );
}

// ---------------------------------------------------------------------------------------
// /sys/class/net: bonding_masters, and ethtool on a tree that is not this host's

/// Entries of the tree's class/net that are devices by what the filesystem says: they lead
/// to a directory (the kernel links each device's directory there).
fn device_directories(name: &str) -> BTreeSet<String> {
    let dir = root().join(tree(name)).join("sys/class/net");
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| std::fs::metadata(e.path()).unwrap().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn bonding_masters_is_not_a_device() {
    let net = root().join(tree("recent")).join("sys/class/net");
    assert!(
        net.join("bonding_masters")
            .symlink_metadata()
            .unwrap()
            .is_file(),
        "the fixture has the bonding driver's file"
    );
    let body = scrape(&tree_args("recent"));
    assert!(
        !body.contains("bonding_masters"),
        "bonding_masters is a file, not a device"
    );
    let exported: BTreeSet<String> = body
        .lines()
        .filter(|l| l.starts_with("ipvs_netdev_queues{"))
        .map(|l| labels_of(l.rsplit_once(' ').unwrap().0).1["device"].clone())
        .collect();
    assert_eq!(exported, device_directories("recent"));
    assert_eq!(
        exported,
        BTreeSet::from(["bond0".into(), "eth0".into(), "lo".into()])
    );
    // Queues counted in the tree: bond0 has the bonding driver's 16 transmit queues.
    let values = metric_values(&body);
    for (device, direction, queues) in [
        ("bond0", "rx", 1.0),
        ("bond0", "tx", 16.0),
        ("eth0", "rx", 2.0),
        ("eth0", "tx", 2.0),
        ("lo", "rx", 1.0),
        ("lo", "tx", 1.0),
    ] {
        assert_eq!(
            values.get(&format!(
                "ipvs_netdev_queues{{device=\"{device}\",direction=\"{direction}\"}}"
            )),
            Some(&queues),
            "{device} {direction}"
        );
    }
}

/// The families that come from the ethtool ioctls.
const ETHTOOL_FAMILIES: &[&str] = &[
    "ipvs_netdev_info{",
    "ipvs_netdev_link_speed_bytes_per_second{",
    "ipvs_netdev_channels",
    "ipvs_netdev_ring_size",
    "ipvs_netdev_feature_",
];

fn ethtool_series(body: &str) -> Vec<&str> {
    body.lines()
        .filter(|l| ETHTOOL_FAMILIES.iter().any(|f| l.starts_with(f)))
        .collect()
}

/// The exporter with its log on a pipe: `scrapes` scrapes of /metrics, then its log.
fn scrapes_and_log(args: &[String], scrapes: usize) -> (Vec<String>, String) {
    let exporter = Exporter::start(args);
    let bodies = (0..scrapes)
        .map(|_| http_get(exporter.address, "/metrics", &[]).body)
        .collect();
    (bodies, exporter.kill_and_log())
}

#[test]
fn a_tree_that_is_not_this_hosts_sysfs_gets_no_ethtool_series() {
    // The tree has `lo` and `eth0`, names this host's devices may have too.
    assert!(Path::new("/sys/class/net/lo").exists(), "this host has lo");
    let (bodies, log) = scrapes_and_log(&tree_args("recent"), 3);
    for body in &bodies {
        assert!(body.contains("ipvs_netdev_queues{device=\"lo\",direction=\"rx\"} 1\n"));
        assert_eq!(ethtool_series(body), Vec::<&str>::new());
    }
    let said = log
        .lines()
        .filter(|l| l.contains("ethtool settings are left out"))
        .count();
    assert_eq!(said, 1, "said once over three scrapes:\n{log}");
    assert!(log.contains("not a sysfs mount"), "{log}");

    // The same flags on this host's own sysfs: lo's driver answers, so the test above can
    // tell the difference.
    let mut live = tree_args("recent");
    let at = live.iter().position(|a| a == "--path.sysfs").unwrap();
    live[at + 1] = "/sys".into();
    let (bodies, log) = scrapes_and_log(&live, 1);
    assert!(
        bodies[0].contains("ipvs_netdev_feature_enabled{device=\"lo\",feature=\"loopback\"} 1\n"),
        "this host's lo through its own sysfs"
    );
    assert!(!log.contains("ethtool settings are left out"), "{log}");
}
