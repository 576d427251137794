//! Netlink decoding on real kernel replies: the exchanges of one IPVS read, captured in the lab
//! with `ipvs_exporter capture-netlink` (tests/fixtures/netlink/*/exchanges.txt), are replayed
//! through the netlink reader, and what it decodes is compared with what `ipvsadm` printed at
//! the same quiet moment (the files beside them).

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
use ipvs_exporter::netlink::capture::{Replay, read_capture};
use ipvs_exporter::source::ipvs_netlink::read_table;

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
