//! Netlink decoding on real kernel replies: the exchanges of one IPVS read, captured in the lab
//! with `ipvs_exporter capture-netlink` (tests/fixtures/netlink/*/exchanges.txt), are replayed
//! through the netlink reader, and what it decodes is compared with what `ipvsadm` printed at
//! the same quiet moment (the files beside them). The reader is also run against the synthetic
//! kernel and against captures edited to what a live kernel rarely shows, and the rtnetlink
//! capture is decoded into links and addresses.

// Test code: a failed unwrap or index is a failed test (the [lints] table guards src/).
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::panic, clippy::indexing_slicing)]
#![allow(clippy::cast_possible_truncation)]

#[path = "lab/check.rs"]
mod check;

use std::collections::BTreeMap;
use std::path::PathBuf;

use check::{BackendKey, Counters, ServiceKey, parse_ipvsadm_stats, parse_ipvsadm_timeout};
use ipvs_exporter::model::{IpvsTable, ServiceKey as ModelKey, TrafficCounters};
use ipvs_exporter::source::ipvs_netlink::read_table;
use ipvs_exporter_testkit::{Replay, read_capture};

fn fixture(scenario: &str, file: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/netlink")
        .join(scenario)
        .join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn replay(scenario: &str) -> IpvsTable {
    let exchanges = read_capture(&fixture(scenario, "exchanges.txt")).expect("capture parses");
    let mut replay = Replay::new(exchanges);
    let read = read_table(&mut replay)
        .expect("the recorded requests are the ones the reader sends")
        .expect("the capture has IPVS");
    assert_eq!(
        read.problems,
        Vec::<String>::new(),
        "{scenario}: skipped records"
    );
    read.table
}

fn service_key(key: &ModelKey) -> ServiceKey {
    let (proto, address, port, mark) = match key {
        ModelKey::Address {
            protocol,
            address,
            port,
        } => (
            protocol.to_string(),
            address.to_string(),
            port.to_string(),
            String::new(),
        ),
        ModelKey::FirewallMark { mark, .. } => {
            ("FWM".into(), String::new(), "0".into(), mark.to_string())
        }
    };
    ServiceKey {
        proto,
        local_address: address,
        local_port: port,
        local_mark: mark,
    }
}

fn counters(c: Option<TrafficCounters>) -> Counters {
    let c = c.expect("netlink gives counters");
    [
        c.connections,
        c.incoming_packets,
        c.outgoing_packets,
        c.incoming_bytes,
        c.outgoing_bytes,
    ]
}

#[test]
fn captured_replies_decode_to_what_ipvsadm_showed() {
    for scenario in ["nat", "kinds"] {
        let table = replay(scenario);
        let stats = parse_ipvsadm_stats(&fixture(scenario, "ipvsadm-Ln-stats-exact.txt"))
            .expect("ipvsadm --stats parses");

        let mut services = BTreeMap::new();
        let mut backends = BTreeMap::new();
        for service in &table.services {
            let key = service_key(&service.key);
            for backend in &service.backends {
                backends.insert(
                    BackendKey {
                        service: key.clone(),
                        remote_address: backend.address.to_string(),
                        remote_port: backend.port.to_string(),
                    },
                    counters(backend.counters),
                );
            }
            services.insert(key, counters(service.counters));
        }
        assert_eq!(
            services, stats.services,
            "{scenario}: services and their counters"
        );
        assert_eq!(
            backends, stats.backends,
            "{scenario}: real servers and their counters"
        );

        let timeouts = parse_ipvsadm_timeout(&fixture(scenario, "ipvsadm-Ln-timeout.txt"))
            .expect("timeouts parse");
        let decoded = table.timeouts.expect("netlink gives timeouts");
        assert_eq!(
            timeouts,
            vec![
                ("tcp".to_string(), u64::from(decoded.tcp)),
                ("tcpfin".to_string(), u64::from(decoded.tcp_fin)),
                ("udp".to_string(), u64::from(decoded.udp)),
            ],
            "{scenario}: timeouts"
        );
    }
}

#[test]
fn captured_kinds_keep_what_only_netlink_knows() {
    let table = replay("kinds");
    let flags: Vec<String> = table
        .services
        .iter()
        .map(|s| s.flags.label(&s.scheduler))
        .filter(|f| f.contains('-'))
        .collect();
    assert_eq!(flags.len(), 2, "sh and mh scheduler flags: {flags:?}");
    assert!(flags.contains(&"sh-fallback,sh-port".to_string()));
    assert!(flags.contains(&"mh-port".to_string()));
    let persistent: Vec<(String, u32)> = table
        .services
        .iter()
        .filter_map(|s| {
            s.persistence
                .map(|p| (s.key.to_string(), p.timeout_seconds))
        })
        .collect();
    assert!(persistent.contains(&("TCP [2001:db8::10]:443".to_string(), 300)));
    assert!(persistent.contains(&("TCP 192.0.2.11:65535".to_string(), 60)));
    // Firewall-mark services without real servers still have a family over netlink.
    let empty_marks: Vec<String> = table
        .services
        .iter()
        .filter(|s| matches!(s.key, ModelKey::FirewallMark { .. }) && s.backends.is_empty())
        .map(|s| format!("{} {:?}", s.key, s.key.family()))
        .collect();
    assert_eq!(empty_marks, vec!["FWM 3 Some(Inet)", "FWM 4 Some(Inet6)"]);
}

/// The IPVS reader against the synthetic kernel (a table of any size, a service removed
/// between the dumps, records dumped twice) and against captures edited to what is hard to
/// catch live (no IPVS family, a refusal).
mod ipvs_reader {
    use ipvs_exporter::model::{ForwardMethod, IpvsSource};
    use ipvs_exporter::netlink::decode::messages;
    use ipvs_exporter::netlink::encode::MessageWriter;
    use ipvs_exporter::netlink::uapi::NLMSG_ERROR;
    use ipvs_exporter::source::ipvs_netlink::read_table;
    use ipvs_exporter_testkit::{FakeIpvsKernel, Replay, read_capture};

    /// The snapshot holds every real server until its scrapes end: a vector's spare room
    /// would be held as long. Sizes are printed for docs/performance.md
    /// (`cargo test --test netlink_replay real_servers_are_held -- --nocapture`).
    #[test]
    fn real_servers_are_held_without_spare_room() {
        let mut kernel = FakeIpvsKernel::synthetic(20, 10);
        let read = read_table(&mut kernel).expect("reads").expect("has IPVS");
        for service in &read.table.services {
            assert_eq!(service.backends.len(), 10);
            assert_eq!(service.backends.capacity(), 10, "{}", service.key);
        }
        let per_service = std::mem::size_of::<ipvs_exporter::model::Service>();
        let per_backend = std::mem::size_of::<ipvs_exporter::model::Backend>();
        println!(
            "snapshot: {per_backend} B per real server, {per_service} B per service \
             (10 real servers: {} B per real server)",
            per_backend + per_service / 10
        );
    }

    #[test]
    fn synthetic_table_reads_whole_and_skips_unknown_attributes() {
        let mut kernel = FakeIpvsKernel::synthetic(3, 4);
        let read = read_table(&mut kernel).expect("reads").expect("has IPVS");
        assert_eq!(read.problems, Vec::<String>::new());
        let table = read.table;
        assert_eq!(table.source, IpvsSource::Netlink);
        assert_eq!(table.version.as_deref(), Some("1.2.1"));
        assert_eq!(table.connection_table_buckets, Some(4096));
        assert_eq!(
            table.timeouts.map(|t| (t.tcp, t.tcp_fin, t.udp)),
            Some((900, 120, 300))
        );
        assert_eq!(table.services.len(), 3);
        let second = &table.services[1];
        assert_eq!(second.key.to_string(), "TCP 10.0.0.1:80");
        assert_eq!(second.counters.map(|c| c.connections), Some(1001));
        assert_eq!(second.counters.map(|c| c.incoming_bytes), Some(900_900));
        assert_eq!(second.backends.len(), 4);
        let dest = &second.backends[2];
        assert_eq!(dest.address.to_string(), "10.130.0.1");
        assert_eq!(dest.port, 8080);
        assert_eq!(dest.forward, ForwardMethod::Masq);
        assert_eq!(
            (
                dest.weight,
                dest.active_connections,
                dest.inactive_connections
            ),
            (3, 6, 22)
        );
        assert_eq!(dest.counters.map(|c| c.connections), Some(6));
        assert_eq!(dest.rates.map(|r| r.connections_per_second), Some(6));
    }

    /// The services of a table read, as `TCP 10.0.0.0:80`, in its order.
    fn service_names(table: &ipvs_exporter::model::IpvsTable) -> Vec<String> {
        table.services.iter().map(|s| s.key.to_string()).collect()
    }

    #[test]
    fn a_service_removed_between_the_dumps_is_left_out() {
        let mut kernel = FakeIpvsKernel::synthetic(3, 1);
        kernel.vanished.push(1);
        let read = read_table(&mut kernel).expect("reads").expect("has IPVS");
        assert_eq!(
            service_names(&read.table),
            vec!["TCP 10.0.0.0:80", "TCP 10.0.0.2:80"]
        );
    }

    #[test]
    fn a_service_or_real_server_dumped_twice_is_read_once() {
        let mut kernel = FakeIpvsKernel::synthetic(3, 2);
        kernel.repeated.push(1);
        let read = read_table(&mut kernel).expect("reads").expect("has IPVS");
        assert_eq!(
            service_names(&read.table),
            vec!["TCP 10.0.0.0:80", "TCP 10.0.0.1:80", "TCP 10.0.0.2:80"]
        );
        let backends: Vec<String> = read.table.services[1]
            .backends
            .iter()
            .map(|b| format!("{}:{}", b.address, b.port))
            .collect();
        assert_eq!(backends, vec!["10.128.0.1:8080", "10.129.0.1:8080"]);
        assert_eq!(read.problems, Vec::<String>::new());
    }

    #[test]
    fn a_kernel_without_ipvs_is_no_data() {
        // A controller dump that lists other families only.
        let capture = include_str!("fixtures/netlink/kinds/exchanges.txt");
        let exchanges = read_capture(capture).expect("capture parses");
        let first = exchanges.first().expect("family dump").clone();
        let without_ipvs: Vec<Vec<u8>> = first
            .1
            .iter()
            .map(|buffer| {
                let mut copy = buffer.clone();
                // Rename the family: "IPVS" becomes "IPVX".
                if let Some(at) = copy.windows(5).position(|w| w == b"IPVS\0") {
                    copy[at + 3] = b'X';
                }
                copy
            })
            .collect();
        let mut replay = Replay::new(vec![(first.0, without_ipvs)]);
        assert!(read_table(&mut replay).expect("reads").is_none());
    }

    #[test]
    fn refusal_is_reported_as_a_permission_error() {
        let capture = include_str!("fixtures/netlink/nat/exchanges.txt");
        let exchanges = read_capture(capture).expect("capture parses");
        let (family_request, family_replies) = exchanges[0].clone();
        let (info_request, _) = exchanges[1].clone();
        // NLMSG_ERROR with -EPERM, as the kernel answers a process without CAP_NET_ADMIN.
        let sequence = messages(&info_request)
            .next()
            .expect("one")
            .expect("ok")
            .sequence;
        let refusal = MessageWriter::new(NLMSG_ERROR, 0, sequence)
            .header(&(-1i32).to_ne_bytes())
            .header(&info_request[..16])
            .finish()
            .expect("encodes");
        let mut replay = Replay::new(vec![
            (family_request, family_replies),
            (info_request, vec![refusal]),
        ]);
        let err = read_table(&mut replay).expect_err("refused");
        assert!(err.is_permission(), "{err}");
    }
}

/// Links and addresses decoded from a captured rtnetlink exchange (the requests the reader
/// sends are the captured ones).
mod rtnetlink {
    use std::net::IpAddr;

    use ipvs_exporter::netlink::encode::route_dump_request;
    use ipvs_exporter::netlink::uapi::{RTM_GETADDR, RTM_GETLINK};
    use ipvs_exporter::parse::rtnetlink::{decode_addresses, decode_links};
    use ipvs_exporter_testkit::read_capture;

    const CAPTURE: &str = include_str!("fixtures/netlink/rtnetlink/exchanges.txt");

    fn exchanges() -> Vec<(Vec<u8>, Vec<Vec<u8>>)> {
        read_capture(CAPTURE).unwrap_or_default()
    }

    #[test]
    fn requests_match_the_captured_ones() {
        let captured = exchanges();
        assert_eq!(
            captured.first().map(|e| e.0.clone()),
            route_dump_request(RTM_GETLINK, 1).ok()
        );
        assert_eq!(
            captured.get(1).map(|e| e.0.clone()),
            route_dump_request(RTM_GETADDR, 1).ok()
        );
    }

    #[test]
    fn links_with_their_state() {
        let captured = exchanges();
        let links = decode_links(&captured.first().map(|e| e.1.clone()).unwrap_or_default());
        let links = links.unwrap_or_default();
        let summary: Vec<(&str, bool, bool)> = links
            .iter()
            .map(|l| (l.name.as_str(), l.up, l.running))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("lo", true, true),
                ("peer0", true, true),
                ("vrrp0", true, true),
                ("down1", false, false),
                ("down0", false, false),
            ]
        );
    }

    #[test]
    fn addresses_of_both_families() {
        let captured = exchanges();
        let links = decode_links(&captured.first().map(|e| e.1.clone()).unwrap_or_default())
            .unwrap_or_default();
        let addresses = decode_addresses(&captured.get(1).map(|e| e.1.clone()).unwrap_or_default())
            .unwrap_or_default();
        let name = |index: u32| {
            links
                .iter()
                .find(|l| l.index == index)
                .map(|l| l.name.clone())
                .unwrap_or_default()
        };
        let on_vrrp0: Vec<String> = addresses
            .iter()
            .filter(|a| name(a.index) == "vrrp0")
            .map(|a| format!("{}/{}", a.address, a.prefix_len))
            .collect();
        assert_eq!(
            on_vrrp0,
            vec![
                "192.0.2.10/24",
                "192.0.2.100/32",
                "2001:db8::1/64",
                "fe80::ecd0:c5ff:fede:d517/64"
            ]
        );
        assert!(
            addresses
                .iter()
                .any(|a| name(a.index) == "lo" && a.address == IpAddr::from([127, 0, 0, 1]))
        );
    }

    #[test]
    fn truncated_replies_are_errors_not_panics() {
        let captured = exchanges();
        for (_, replies) in &captured {
            for reply in replies {
                for cut in [1, 17, 20, 24, 40, reply.len() / 2] {
                    let mut short = reply.clone();
                    short.truncate(cut.min(reply.len()));
                    let _ = decode_links(std::slice::from_ref(&short));
                    let _ = decode_addresses(std::slice::from_ref(&short));
                }
            }
        }
    }
}
