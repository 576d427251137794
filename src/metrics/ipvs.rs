//! IPVS families: host totals and rates, services, real servers (the metric contract in
//! DESIGN.md). Services or real servers whose labels coincide (a firewall mark used by an IPv4
//! and an IPv6 service) are summed into one series, so the output never repeats a series.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;

use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Unit;

use super::{Family, counter, counter_unlabelled, gauge, gauge_unlabelled};
use crate::model::{Backend, IpvsTable, Service, ServiceKey, TrafficCounters};
use crate::snapshot::Snapshot;

pub(super) fn encode(snapshot: &Snapshot, encoder: &mut DescriptorEncoder) -> fmt::Result {
    let table = snapshot.ipvs.as_ref();
    family(
        "ipvs_up",
        "Whether the IPVS table could be read (0 when the kernel has no IPVS loaded).",
        MetricType::Gauge,
    )
    .encode(encoder, |m| gauge_unlabelled(m, i64::from(table.is_some())))?;
    let Some(table) = table else {
        return Ok(());
    };

    family(
        "ipvs_info",
        "Where the IPVS data came from, and the IPVS version the kernel announces.",
        MetricType::Gauge,
    )
    .encode(encoder, |m| {
        let version = table.version.as_deref().unwrap_or("");
        gauge(m, &[("source", "procfs"), ("version", version)], 1)
    })?;
    if let Some(buckets) = table.connection_table_buckets {
        family(
            "ipvs_connection_table_buckets",
            "Buckets of the IPVS connection hash table (2^conn_tab_bits).",
            MetricType::Gauge,
        )
        .encode(encoder, |m| gauge_unlabelled(m, buckets))?;
    }
    encode_host_totals(table, encoder)?;

    let services = service_rows(table);
    encode_services(&services, encoder)?;
    encode_backends(&services, encoder)
}

fn family(name: &'static str, help: &'static str, kind: MetricType) -> Family<'static> {
    Family {
        name,
        help,
        unit: None,
        kind,
    }
}

/// The five traffic counters, in the order of their families.
struct CounterFamily {
    /// Name without `_total` and without the unit suffix.
    stem: &'static str,
    unit: Option<Unit>,
    what: &'static str,
    read: fn(&TrafficCounters) -> u64,
}

const COUNTERS: [CounterFamily; 5] = [
    CounterFamily {
        stem: "connections",
        unit: None,
        what: "Connections scheduled",
        read: |c| c.connections,
    },
    CounterFamily {
        stem: "incoming_packets",
        unit: None,
        what: "Packets received from clients",
        read: |c| c.incoming_packets,
    },
    CounterFamily {
        stem: "outgoing_packets",
        unit: None,
        what: "Packets sent back to clients",
        read: |c| c.outgoing_packets,
    },
    CounterFamily {
        stem: "incoming",
        unit: Some(Unit::Bytes),
        what: "Bytes received from clients",
        read: |c| c.incoming_bytes,
    },
    CounterFamily {
        stem: "outgoing",
        unit: Some(Unit::Bytes),
        what: "Bytes sent back to clients",
        read: |c| c.outgoing_bytes,
    },
];

fn encode_host_totals(table: &IpvsTable, encoder: &mut DescriptorEncoder) -> fmt::Result {
    if let Some(totals) = &table.totals {
        for spec in &COUNTERS {
            let name = format!("ipvs_{}", spec.stem);
            let help = format!("{} by IPVS on this host, over all services.", spec.what);
            Family {
                name: &name,
                help: &help,
                unit: spec.unit.clone(),
                kind: MetricType::Counter,
            }
            .encode(encoder, |m| counter_unlabelled(m, (spec.read)(totals)))?;
        }
    }
    if let Some(rates) = &table.total_rates {
        let estimates: [(&str, &str, u64); 5] = [
            ("connections", "Connections", rates.connections),
            (
                "incoming_packets",
                "Incoming packets",
                rates.incoming_packets,
            ),
            (
                "outgoing_packets",
                "Outgoing packets",
                rates.outgoing_packets,
            ),
            ("incoming_bytes", "Incoming bytes", rates.incoming_bytes),
            ("outgoing_bytes", "Outgoing bytes", rates.outgoing_bytes),
        ];
        for (stem, what, value) in estimates {
            let name = format!("ipvs_estimate_{stem}_per_second");
            let help = format!(
                "{what} per second over all services, as estimated by the kernel (2 s refresh)."
            );
            Family {
                name: &name,
                help: &help,
                unit: None,
                kind: MetricType::Gauge,
            }
            .encode(encoder, |m| gauge_unlabelled(m, value))?;
        }
    }
    Ok(())
}

/// A service's label values: proto, local_address, local_port, local_mark.
type ServiceLabelValues = [String; 4];

/// One service series set, possibly the sum of several kernel services with the same labels.
struct ServiceRow<'a> {
    labels: ServiceLabelValues,
    first: &'a Service,
    counters: Option<TrafficCounters>,
    backends: Vec<BackendRow<'a>>,
}

/// Reads one gauge value of a real server.
type ReadBackend = fn(&BackendRow) -> i64;

struct BackendRow<'a> {
    remote_address: String,
    remote_port: String,
    first: &'a Backend,
    weight: i64,
    active: i64,
    inactive: i64,
    counters: Option<TrafficCounters>,
}

fn service_label_values(key: &ServiceKey) -> ServiceLabelValues {
    match key {
        ServiceKey::Address {
            protocol,
            address,
            port,
        } => [
            protocol.to_string(),
            address.to_string(),
            port.to_string(),
            String::new(),
        ],
        ServiceKey::FirewallMark { mark, .. } => [
            "FWM".to_string(),
            String::new(),
            "0".to_string(),
            mark.to_string(),
        ],
    }
}

fn add_counters(sum: &mut Option<TrafficCounters>, more: Option<TrafficCounters>) {
    if let Some(more) = more {
        let total = sum.get_or_insert_with(TrafficCounters::default);
        total.connections = total.connections.wrapping_add(more.connections);
        total.incoming_packets = total.incoming_packets.wrapping_add(more.incoming_packets);
        total.outgoing_packets = total.outgoing_packets.wrapping_add(more.outgoing_packets);
        total.incoming_bytes = total.incoming_bytes.wrapping_add(more.incoming_bytes);
        total.outgoing_bytes = total.outgoing_bytes.wrapping_add(more.outgoing_bytes);
    }
}

fn service_rows(table: &IpvsTable) -> Vec<ServiceRow<'_>> {
    let mut rows: Vec<ServiceRow> = Vec::with_capacity(table.services.len());
    let mut index_of: HashMap<ServiceLabelValues, usize> =
        HashMap::with_capacity(table.services.len());
    for service in &table.services {
        let labels = service_label_values(&service.key);
        let row_index = match index_of.entry(labels) {
            Entry::Occupied(seen) => {
                let index = *seen.get();
                if let Some(row) = rows.get_mut(index) {
                    add_counters(&mut row.counters, service.counters);
                }
                index
            }
            Entry::Vacant(slot) => {
                let index = rows.len();
                rows.push(ServiceRow {
                    labels: slot.key().clone(),
                    first: service,
                    counters: service.counters,
                    backends: Vec::with_capacity(service.backends.len()),
                });
                slot.insert(index);
                index
            }
        };
        if let Some(row) = rows.get_mut(row_index) {
            add_backends(row, &service.backends);
        }
    }
    rows
}

fn add_backends<'a>(row: &mut ServiceRow<'a>, backends: &'a [Backend]) {
    // Within one kernel service real servers are unique; only a merged row needs the search.
    let merging = !row.backends.is_empty();
    for backend in backends {
        let remote_address = backend.address.to_string();
        let remote_port = backend.port.to_string();
        let existing = if merging {
            row.backends
                .iter_mut()
                .find(|b| b.remote_address == remote_address && b.remote_port == remote_port)
        } else {
            None
        };
        match existing {
            Some(seen) => {
                seen.weight = seen.weight.saturating_add(backend.weight);
                seen.active = seen.active.saturating_add(backend.active_connections);
                seen.inactive = seen.inactive.saturating_add(backend.inactive_connections);
                add_counters(&mut seen.counters, backend.counters);
            }
            None => row.backends.push(BackendRow {
                remote_address,
                remote_port,
                first: backend,
                weight: backend.weight,
                active: backend.active_connections,
                inactive: backend.inactive_connections,
                counters: backend.counters,
            }),
        }
    }
}

fn service_labels<'a>(row: &'a ServiceRow) -> [(&'static str, &'a str); 4] {
    let [proto, address, port, mark] = &row.labels;
    [
        ("proto", proto.as_str()),
        ("local_address", address.as_str()),
        ("local_port", port.as_str()),
        ("local_mark", mark.as_str()),
    ]
}

fn backend_labels<'a>(
    row: &'a ServiceRow,
    backend: &'a BackendRow,
) -> [(&'static str, &'a str); 6] {
    let [proto, address, port, mark] = service_labels(row);
    [
        proto,
        address,
        port,
        mark,
        ("remote_address", backend.remote_address.as_str()),
        ("remote_port", backend.remote_port.as_str()),
    ]
}

fn encode_services(rows: &[ServiceRow], encoder: &mut DescriptorEncoder) -> fmt::Result {
    if rows.is_empty() {
        return Ok(());
    }
    family(
        "ipvs_service_info",
        "A virtual service, with its scheduler, address family, flags and persistence.",
        MetricType::Gauge,
    )
    .encode(encoder, |m| {
        for row in rows {
            let service = row.first;
            let flags = service.flags.label();
            let family = service.key.family().map(|f| f.as_str()).unwrap_or("");
            let [a, b, c, d] = service_labels(row);
            let labels = [
                a,
                b,
                c,
                d,
                ("scheduler", service.scheduler.as_str()),
                ("family", family),
                ("flags", flags.as_str()),
                (
                    "persistent",
                    if service.flags.persistent {
                        "true"
                    } else {
                        "false"
                    },
                ),
            ];
            gauge(m, &labels, 1)?;
        }
        Ok(())
    })?;

    if rows.iter().any(|row| row.counters.is_some()) {
        for spec in &COUNTERS {
            let name = format!("ipvs_service_{}", spec.stem);
            let help = format!("{} by this virtual service.", spec.what);
            Family {
                name: &name,
                help: &help,
                unit: spec.unit.clone(),
                kind: MetricType::Counter,
            }
            .encode(encoder, |m| {
                for row in rows {
                    if let Some(counters) = &row.counters {
                        counter(m, &service_labels(row), (spec.read)(counters))?;
                    }
                }
                Ok(())
            })?;
        }
    }
    Ok(())
}

fn encode_backends(rows: &[ServiceRow], encoder: &mut DescriptorEncoder) -> fmt::Result {
    if rows.iter().all(|row| row.backends.is_empty()) {
        return Ok(());
    }
    let each_backend = || {
        rows.iter()
            .flat_map(|row| row.backends.iter().map(move |backend| (row, backend)))
    };

    family(
        "ipvs_backend_info",
        "A real server of a virtual service, with its forwarding method.",
        MetricType::Gauge,
    )
    .encode(encoder, |m| {
        for (row, backend) in each_backend() {
            let [a, b, c, d, e, f] = backend_labels(row, backend);
            let labels = [
                a,
                b,
                c,
                d,
                e,
                f,
                ("forward", backend.first.forward.as_str()),
            ];
            gauge(m, &labels, 1)?;
        }
        Ok(())
    })?;

    let gauges: [(&str, &str, ReadBackend); 3] = [
        (
            "ipvs_backend_weight",
            "Scheduling weight of the real server (0: no new connections).",
            |b| b.weight,
        ),
        (
            "ipvs_backend_connections_active",
            "Active connections to the real server (TCP: established).",
            |b| b.active,
        ),
        (
            "ipvs_backend_connections_inactive",
            "Inactive connections to the real server (TCP: not established; UDP: all).",
            |b| b.inactive,
        ),
    ];
    for (name, help, read) in gauges {
        family(name, help, MetricType::Gauge).encode(encoder, |m| {
            for (row, backend) in each_backend() {
                gauge(m, &backend_labels(row, backend), read(backend))?;
            }
            Ok(())
        })?;
    }

    if each_backend().any(|(_, backend)| backend.counters.is_some()) {
        for spec in &COUNTERS {
            let name = format!("ipvs_backend_{}", spec.stem);
            let help = format!("{} through this real server.", spec.what);
            Family {
                name: &name,
                help: &help,
                unit: spec.unit.clone(),
                kind: MetricType::Counter,
            }
            .encode(encoder, |m| {
                for (row, backend) in each_backend() {
                    if let Some(counters) = &backend.counters {
                        counter(m, &backend_labels(row, backend), (spec.read)(counters))?;
                    }
                }
                Ok(())
            })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::metrics::{Format, encode as encode_snapshot};
    use crate::model::{AddressFamily, ForwardMethod, ServiceFlags};

    fn fwm_service(family: AddressFamily, backend: &str, connections: u64) -> Service {
        Service {
            key: ServiceKey::FirewallMark {
                mark: 9,
                family: Some(family),
            },
            scheduler: "rr".into(),
            flags: ServiceFlags::default(),
            counters: Some(TrafficCounters {
                connections,
                ..TrafficCounters::default()
            }),
            backends: vec![Backend {
                address: backend.parse().expect("address"),
                port: 0,
                forward: ForwardMethod::Route,
                weight: 1,
                active_connections: 2,
                inactive_connections: 3,
                counters: None,
            }],
        }
    }

    #[test]
    fn services_with_the_same_labels_are_summed_not_repeated() {
        let snapshot = Snapshot {
            ipvs: Some(IpvsTable {
                services: vec![
                    fwm_service(AddressFamily::Inet, "10.0.0.2", 5),
                    fwm_service(AddressFamily::Inet6, "2001:db8::2", 7),
                ],
                ..IpvsTable::default()
            }),
            collectors: Vec::new(),
        };
        let text = encode_snapshot(Arc::new(snapshot), Format::Classic);
        let info: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("ipvs_service_info{"))
            .collect();
        assert_eq!(info.len(), 1, "{text}");
        assert!(text.contains("ipvs_service_connections_total{proto=\"FWM\",local_address=\"\",local_port=\"0\",local_mark=\"9\"} 12\n"));
        let backends = text
            .lines()
            .filter(|l| l.starts_with("ipvs_backend_weight{"))
            .count();
        assert_eq!(backends, 2, "the two real servers differ and stay apart");
    }
}
