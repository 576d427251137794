//! IPVS families: host totals and rates, services, real servers (the metric contract in
//! DESIGN.md), for the exporter's namespace and, with a `netns` label, the others it reads.
//! Services or real servers whose labels coincide (a firewall mark used by an IPv4 and an IPv6
//! service, or real servers told apart only by labels dropped with
//! `--collector.ipvs.backend-labels`) are summed into one series: no series is ever repeated.
//! `ipvs_service_info` is the exception that keeps them apart: one series per kernel service,
//! so an IPv4 and an IPv6 service sharing a mark each show their own family and scheduler.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::fmt::{self, Write as _};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, LabelSetEncoder};
use prometheus_client::registry::Unit;

use super::text::{Family, FamilyText, Kind, Value, push_label};
use super::{
    BACKEND_LABEL_NAMES, BackendLabels, EncodeOptions, NO_LABELS, RenderedLabels, SeriesLabels,
    counters, gauges,
};
use crate::model::drain::draining_backends;
use crate::model::snapshot::Snapshot;
use crate::model::{
    Backend, DepartedBackend, IpvsTable, Service, ServiceKey, TrafficCounters, TrafficFigures,
    TrafficRates,
};

/// A `netns` label, or none for the exporter's own namespace.
type NetnsLabel<'a> = &'a [(&'static str, &'a str)];

/// One namespace's table and what its series are read from. Nothing here grows with the
/// number of real servers, except when real-server labels are dropped (the summed series):
/// an individual real server's series are made from the table as they are written, so that
/// scrapes encoding the same snapshot at once do not each hold a copy of it.
struct View<'a> {
    netns: NetnsLabel<'a>,
    table: &'a IpvsTable,
    rows: ServiceRows<'a>,
    backends: BackendSource,
}

/// Where a table's real-server series come from.
enum BackendSource {
    /// None are written (`--no-collector.ipvs.backends`).
    Left,
    /// One per real server, made as it is written; with the drain estimates of the table.
    Individual(DrainEstimates),
    /// Sums over the labels kept (`--collector.ipvs.backend-labels`), made beforehand.
    Summed(Vec<SummedSeries>),
}

impl<'a> View<'a> {
    fn new(netns: NetnsLabel<'a>, table: &'a IpvsTable, options: &EncodeOptions) -> Self {
        let rows = ServiceRows::new(table);
        let backends = if !options.backends {
            BackendSource::Left
        } else if options.backend_labels.keeps_all() {
            BackendSource::Individual(
                draining_backends(table)
                    .into_iter()
                    .map(|d| ((d.service, d.address, d.port), d.estimate.seconds()))
                    .collect(),
            )
        } else {
            BackendSource::Summed(summed_backend_series(
                &rows,
                &table.departed,
                options.backend_labels,
            ))
        };
        View {
            netns,
            table,
            rows,
            backends,
        }
    }

    /// The service rows, in the order of the table.
    fn services(&self) -> impl Iterator<Item = ServiceRow<'_>> {
        self.rows.iter()
    }

    /// Calls `write` with each real-server series, in the order of the table; stops at the
    /// first error. `text` is the table's real servers' text made beforehand, if it was.
    fn for_each_backend(
        &self,
        text: Option<&TableText>,
        mut write: impl FnMut(BackendSeries<'_>) -> fmt::Result,
    ) -> fmt::Result {
        match &self.backends {
            BackendSource::Left => Ok(()),
            BackendSource::Individual(estimates) => {
                for row in self.rows.iter() {
                    // A merged row's real servers are sums over its services: their text is
                    // put together as they are written.
                    let mut texts = text
                        .filter(|_| row.merged.is_none())
                        .map(|t| t.of_service(row.index));
                    for b in row.backends() {
                        let text = texts.as_mut().and_then(Iterator::next);
                        write(single_backend_series(row, b, estimates, text))?;
                    }
                }
                Ok(())
            }
            BackendSource::Summed(sums) => sums.iter().try_for_each(|s| write(s.series())),
        }
    }
}

/// The `netns` label of each other namespace's table, in the order of the snapshot.
fn netns_labels(snapshot: &Snapshot) -> Vec<[(&'static str, &str); 1]> {
    snapshot
        .ipvs_namespaces
        .iter()
        .map(|n| [("netns", n.netns.as_str())])
        .collect()
}

/// The tables read, the exporter's own first, each with its `netns` label; with their
/// real-server series made ready only when `backends` (they are written apart).
fn views<'a>(
    snapshot: &'a Snapshot,
    netns_labels: &'a [[(&'static str, &'a str); 1]],
    options: &EncodeOptions,
    backends: bool,
) -> Vec<View<'a>> {
    let options = EncodeOptions {
        backends: options.backends && backends,
        ..options.clone()
    };
    snapshot
        .ipvs
        .as_ref()
        .map(|t| (NO_LABELS.as_slice(), t))
        .into_iter()
        .chain(
            snapshot
                .ipvs_namespaces
                .iter()
                .zip(netns_labels)
                .filter_map(|(n, label)| n.table.as_ref().map(|t| (label.as_slice(), t))),
        )
        .map(|(netns, table)| View::new(netns, table, &options))
        .collect()
}

/// The IPVS families up to the services'; the real servers' follow, from
/// [`write_backends`].
pub(super) fn encode(
    snapshot: &Snapshot,
    options: &EncodeOptions,
    encoder: &mut DescriptorEncoder,
) -> fmt::Result {
    let netns_labels = netns_labels(snapshot);
    let own_up = snapshot
        .ipvs_collector_ran()
        .then(|| (NO_LABELS.as_slice(), snapshot.ipvs.is_some()));
    let others_up = snapshot
        .ipvs_namespaces
        .iter()
        .zip(&netns_labels)
        .map(|(n, label)| (label.as_slice(), n.table.is_some()));
    gauges(
        encoder,
        "ipvs_up",
        "Whether IPVS could be read (0 when the kernel has no IPVS loaded).",
        None,
        own_up
            .into_iter()
            .chain(others_up)
            .map(|(l, up)| (l, i64::from(up))),
    )?;
    let views = views(snapshot, &netns_labels, options, false);
    encode_tables(&views, encoder)?;
    encode_services(&views, encoder)
}

/// The five traffic counters and the five rate estimates, in the order of their families.
struct TrafficFamily {
    /// Name part: `connections`, `incoming_packets`, ...; bytes get their unit from `unit`.
    stem: &'static str,
    unit: Option<Unit>,
    what: &'static str,
    count: fn(&TrafficCounters) -> u64,
    rate: fn(&TrafficRates) -> u64,
}

const TRAFFIC: [TrafficFamily; 5] = [
    TrafficFamily {
        stem: "connections",
        unit: None,
        what: "Connections scheduled",
        count: |t| t.connections,
        rate: |r| r.connections_per_second,
    },
    TrafficFamily {
        stem: "incoming_packets",
        unit: None,
        what: "Packets received from clients",
        count: |t| t.incoming_packets,
        rate: |r| r.incoming_packets_per_second,
    },
    TrafficFamily {
        stem: "outgoing_packets",
        unit: None,
        what: "Packets sent back to clients",
        count: |t| t.outgoing_packets,
        rate: |r| r.outgoing_packets_per_second,
    },
    TrafficFamily {
        stem: "incoming",
        unit: Some(Unit::Bytes),
        what: "Bytes received from clients",
        count: |t| t.incoming_bytes,
        rate: |r| r.incoming_bytes_per_second,
    },
    TrafficFamily {
        stem: "outgoing",
        unit: Some(Unit::Bytes),
        what: "Bytes sent back to clients",
        count: |t| t.outgoing_bytes,
        rate: |r| r.outgoing_bytes_per_second,
    },
];

impl TrafficFamily {
    /// The stem of the rate family: `connections`, `incoming_bytes`, ...
    fn rate_stem(&self) -> String {
        match self.unit {
            Some(_) => format!("{}_bytes", self.stem),
            None => self.stem.to_string(),
        }
    }
}

/// Whether a level's five rate estimates are written beside its five counters.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Estimates {
    Written,
    Left,
}

/// Writes the five traffic counters of one level (`ipvs_`, `ipvs_service_`, `ipvs_backend_`),
/// and its five rate estimates unless they are [`Estimates::Left`] out.
fn encode_traffic<'s, L: SeriesLabels + 's>(
    encoder: &mut DescriptorEncoder,
    prefix: &str,
    whose: &str,
    estimates: Estimates,
    series: impl Fn()
        -> Box<dyn Iterator<Item = (L, Option<TrafficCounters>, Option<TrafficRates>)> + 's>,
) -> fmt::Result {
    for family in &TRAFFIC {
        counters(
            encoder,
            &format!("{prefix}{}", family.stem),
            &format!("{} {whose}.", family.what),
            family.unit.clone(),
            series().filter_map(|(labels, c, _)| c.map(|c| (labels, (family.count)(&c)))),
        )?;
    }
    if estimates == Estimates::Left {
        return Ok(());
    }
    for family in &TRAFFIC {
        gauges(
            encoder,
            &format!("{prefix}estimate_{}_per_second", family.rate_stem()),
            &format!(
                "{} per second {whose}, as estimated by the kernel (refreshed every 2 s).",
                family.what
            ),
            None,
            series().filter_map(|(labels, _, r)| r.map(|r| (labels, (family.rate)(&r)))),
        )?;
    }
    Ok(())
}

fn encode_tables(views: &[View], encoder: &mut DescriptorEncoder) -> fmt::Result {
    gauges(
        encoder,
        "ipvs_info",
        "Where the IPVS data came from (netlink or procfs) and the IPVS version.",
        None,
        views.iter().map(|v| {
            let labels = [
                ("source", v.table.source.as_str()),
                ("version", v.table.version.as_deref().unwrap_or("")),
            ];
            ((labels, v.netns), 1)
        }),
    )?;
    gauges(
        encoder,
        "ipvs_estimation_enabled",
        "The net.ipv4.vs.run_estimation sysctl: 1 when the kernel updates its rate estimates.",
        None,
        views.iter().filter_map(|v| {
            v.table
                .estimation_enabled
                .map(|on| (v.netns, i64::from(on)))
        }),
    )?;
    gauges(
        encoder,
        "ipvs_connection_table_buckets",
        "Buckets of the IPVS connection hash table (2^conn_tab_bits).",
        None,
        views
            .iter()
            .filter_map(|v| v.table.connection_table_buckets.map(|b| (v.netns, b))),
    )?;
    gauges(
        encoder,
        "ipvs_timeout",
        "IPVS connection timeouts (ipvsadm --set): tcp, tcpfin and udp.",
        Some(Unit::Seconds),
        views.iter().flat_map(|v| {
            v.table.timeouts.into_iter().flat_map(move |t| {
                [("tcp", t.tcp), ("tcpfin", t.tcp_fin), ("udp", t.udp)]
                    .map(|(protocol, value)| (([("protocol", protocol)], v.netns), value))
            })
        }),
    )?;
    gauges(
        encoder,
        "ipvs_sync_daemon_info",
        "A running IPVS connection sync daemon.",
        None,
        views.iter().flat_map(|v| {
            v.table.sync_daemons.iter().map(move |d| {
                (
                    (
                        [
                            ("state", Cow::Borrowed(d.state.as_str())),
                            ("interface", Cow::Borrowed(d.interface.as_str())),
                            ("syncid", Cow::Owned(d.sync_id.to_string())),
                        ],
                        v.netns,
                    ),
                    1,
                )
            })
        }),
    )?;
    encode_traffic(
        encoder,
        "ipvs_",
        "by IPVS on this host, over all services",
        Estimates::Written,
        || {
            Box::new(
                views
                    .iter()
                    .map(|v| (v.netns, v.table.totals, v.table.total_rates)),
            )
        },
    )
}

/// A service's label values: proto, local_address, local_port, local_mark.
pub(super) type ServiceLabelValues = [String; 4];

/// What tells services apart in their labels: the protocol, address and port, or the mark
/// alone (an IPv4 and an IPv6 service with the same mark have the same labels).
#[derive(PartialEq, Eq, Hash)]
enum LabelIdentity {
    Address(crate::model::Protocol, IpAddr, u16),
    Mark(u32),
}

impl LabelIdentity {
    fn of(key: &ServiceKey) -> Self {
        match key {
            ServiceKey::Address {
                protocol,
                address,
                port,
            } => LabelIdentity::Address(*protocol, *address, *port),
            ServiceKey::FirewallMark { mark, .. } => LabelIdentity::Mark(*mark),
        }
    }
}

/// Several kernel services with the same labels, summed into one row.
struct MergedRow<'a> {
    members: Vec<&'a Service>,
    counters: Option<TrafficCounters>,
    rates: Option<TrafficRates>,
    backends: Vec<BackendRow<'a>>,
}

/// The service rows of a table: one per kernel service, except that services with the same
/// labels make one row, at the place of the first. Only those merged rows are held; the
/// others are read from the table as they are written.
struct ServiceRows<'a> {
    table: &'a IpvsTable,
    /// By the index of the row's first service.
    merged: HashMap<usize, MergedRow<'a>>,
    /// The indexes of the services summed into an earlier one's row.
    absorbed: HashSet<usize>,
}

impl<'a> ServiceRows<'a> {
    fn new(table: &'a IpvsTable) -> Self {
        let mut first_of: HashMap<LabelIdentity, usize> =
            HashMap::with_capacity(table.services.len());
        let mut merged: HashMap<usize, MergedRow<'a>> = HashMap::new();
        let mut absorbed = HashSet::new();
        for (index, service) in table.services.iter().enumerate() {
            let first = *first_of
                .entry(LabelIdentity::of(&service.key))
                .or_insert(index);
            if first == index {
                continue;
            }
            let Some(first_service) = table.services.get(first) else {
                continue;
            };
            absorbed.insert(index);
            let row = merged.entry(first).or_insert_with(|| MergedRow {
                members: vec![first_service],
                counters: first_service.counters,
                rates: first_service.rates,
                backends: first_service.backends.iter().map(BackendRow::of).collect(),
            });
            row.members.push(service);
            add_traffic(&mut row.counters, service.counters);
            add_traffic(&mut row.rates, service.rates);
            merge_backends(&mut row.backends, &service.backends);
        }
        ServiceRows {
            table,
            merged,
            absorbed,
        }
    }

    fn iter(&self) -> impl Iterator<Item = ServiceRow<'_>> {
        self.table
            .services
            .iter()
            .enumerate()
            .filter(|(index, _)| !self.absorbed.contains(index))
            .map(|(index, first)| ServiceRow {
                index,
                first,
                merged: self.merged.get(&index),
            })
    }
}

/// One service series set, possibly the sum of several kernel services with the same labels.
#[derive(Clone, Copy)]
struct ServiceRow<'a> {
    /// The position of `first` in its table.
    index: usize,
    first: &'a Service,
    merged: Option<&'a MergedRow<'a>>,
}

impl<'a> ServiceRow<'a> {
    fn labels(self) -> ServiceLabels<'a> {
        ServiceLabels(&self.first.key)
    }

    /// Every kernel service of the row (two when an IPv4 and an IPv6 service share a mark).
    fn members(self) -> impl Iterator<Item = &'a Service> {
        let merged = self.merged.map_or(&[][..], |m| m.members.as_slice());
        let own = self.merged.is_none().then_some(self.first);
        merged.iter().copied().chain(own)
    }

    fn counters(&self) -> Option<TrafficCounters> {
        self.merged.map_or(self.first.counters, |m| m.counters)
    }

    fn rates(&self) -> Option<TrafficRates> {
        self.merged.map_or(self.first.rates, |m| m.rates)
    }

    fn backends(self) -> impl Iterator<Item = BackendRow<'a>> {
        let (merged, own) = match self.merged {
            Some(m) => (m.backends.as_slice(), &[][..]),
            None => (&[][..], self.first.backends.as_slice()),
        };
        merged.iter().copied().chain(own.iter().map(BackendRow::of))
    }
}

/// A real server of a service row, or the sum of those of its services with the same address
/// and port.
#[derive(Clone, Copy)]
struct BackendRow<'a> {
    first: &'a Backend,
    figures: BackendFigures,
}

impl<'a> BackendRow<'a> {
    fn of(backend: &'a Backend) -> Self {
        BackendRow {
            first: backend,
            figures: BackendFigures::of(backend),
        }
    }
}

pub(super) fn service_label_values(key: &ServiceKey) -> ServiceLabelValues {
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

thread_local! {
    /// The text of a service series' labels, put together before it goes to the encoder
    /// whole (written piece by piece, labels are several writes per series).
    static LABEL_TEXT: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Appends a number in decimal, as `Display` writes it.
fn push_decimal(out: &mut String, n: u32) {
    out.push_str(itoa::Buffer::new().format(n));
}

/// Appends an address as `Display` writes it; IPv4 octet by octet, which is most of them.
fn push_address(out: &mut String, address: IpAddr) {
    match address {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            push_octet(out, a);
            for octet in [b, c, d] {
                out.push('.');
                push_octet(out, octet);
            }
        }
        IpAddr::V6(v6) => {
            let _ = write!(out, "{v6}");
        }
    }
}

/// Appends an octet in decimal digit by digit: pushing a character or two is cheaper than a
/// copy of the formatted text, and this runs for every real-server series.
fn push_octet(out: &mut String, n: u8) {
    if n >= 100 {
        out.push(char::from(b'0' + n / 100));
    }
    if n >= 10 {
        out.push(char::from(b'0' + n / 10 % 10));
    }
    out.push(char::from(b'0' + n % 10));
}

/// Appends a service's labels up to its last value, `local_mark`'s:
/// `proto="TCP",local_address="10.0.0.1",local_port="80",local_mark`. Nothing in them needs
/// escaping: protocol names, addresses and numbers.
fn push_service_head(out: &mut String, key: &ServiceKey) {
    match key {
        ServiceKey::Address {
            protocol,
            address,
            port,
        } => {
            out.push_str("proto=\"");
            let _ = write!(out, "{protocol}");
            out.push_str("\",local_address=\"");
            push_address(out, *address);
            out.push_str("\",local_port=\"");
            push_decimal(out, u32::from(*port));
            out.push_str("\",local_mark");
        }
        ServiceKey::FirewallMark { .. } => {
            out.push_str("proto=\"FWM\",local_address=\"\",local_port=\"0\",local_mark");
        }
    }
}

/// Appends a service's `local_mark` value (empty for a service by address).
fn push_service_mark(out: &mut String, key: &ServiceKey) {
    if let ServiceKey::FirewallMark { mark, .. } = key {
        push_decimal(out, *mark);
    }
}

/// Writes the label text: up to `value_start` through the key writer (like
/// [`RenderedLabels`]), the rest, the last label's value, through the value writer.
fn encode_label_text(encoder: &mut LabelSetEncoder, text: &str, value_start: usize) -> fmt::Result {
    let mut label = encoder.encode_label();
    let mut key = label.encode_label_key()?;
    key.write_str(text.get(..value_start).unwrap_or(""))?;
    let mut value = key.encode_label_value()?;
    value.write_str(text.get(value_start..).unwrap_or(""))?;
    value.finish()
}

/// A service's four labels, written from its key as they are encoded.
#[derive(Clone, Copy)]
struct ServiceLabels<'a>(&'a ServiceKey);

impl EncodeLabelSet for ServiceLabels<'_> {
    fn encode(&self, encoder: &mut LabelSetEncoder) -> fmt::Result {
        LABEL_TEXT.with_borrow_mut(|text| {
            text.clear();
            push_service_head(text, self.0);
            let value_start = text.len();
            push_service_mark(text, self.0);
            encode_label_text(encoder, text, value_start)
        })
    }
}

impl SeriesLabels for ServiceLabels<'_> {
    fn is_empty(&self) -> bool {
        false
    }
}

/// The labels of a real-server series: the six of an individual real server, written from
/// its service's key and its address as they are encoded, or those kept of a sum.
#[derive(Clone, Copy)]
enum BackendSeriesLabels<'a> {
    RealServer {
        service: &'a ServiceKey,
        address: IpAddr,
        port: u16,
        /// The text of `address` and `port` as they end the labels, when made beforehand.
        text: Option<&'a str>,
    },
    Summed(&'a RenderedLabels),
}

impl BackendSeriesLabels<'_> {
    /// Appends these labels to a series' line (see `super::text`).
    fn push_to(&self, line: &mut String, service_text: &mut ServiceText) {
        match *self {
            BackendSeriesLabels::Summed(rendered) => rendered.push_to(line),
            BackendSeriesLabels::RealServer {
                service,
                address,
                port,
                text,
            } => {
                if !line.ends_with('{') {
                    line.push(',');
                }
                line.push_str(service_text.of(service));
                match text {
                    Some(text) => line.push_str(text),
                    None => push_real_server_text(line, address, port),
                }
                line.push('"');
            }
        }
    }
}

/// A service's labels as they start each of its real servers' labels, up to the value of
/// `remote_address`: the real servers of one service come one after another, so this is
/// put together once per service and family.
#[derive(Default)]
struct ServiceText {
    service: Option<ServiceKey>,
    text: String,
}

impl ServiceText {
    fn of(&mut self, service: &ServiceKey) -> &str {
        if self.service.as_ref() != Some(service) {
            let text = &mut self.text;
            text.clear();
            push_service_head(text, service);
            text.push_str("=\"");
            push_service_mark(text, service);
            text.push_str("\",remote_address=\"");
            self.service = Some(service.clone());
        }
        &self.text
    }
}

/// Appends a real server's address and port as they end its labels, from the value of
/// `remote_address` on: `10.1.0.1",remote_port="8080`.
fn push_real_server_text(out: &mut String, address: IpAddr, port: u16) {
    push_address(out, address);
    out.push_str("\",remote_port=\"");
    push_decimal(out, u32::from(port));
}

/// The text [`push_real_server_text`] makes for each real server of one table, made once per
/// snapshot rather than once per family: each real server's labels end ten or more series.
/// About 30 bytes per real server; shared by the scrapes that encode the same snapshot at the
/// same time (see [`shared_text`]).
#[derive(Default)]
struct TableText {
    text: String,
    /// Where each real server's text ends in `text`, in the order of the table.
    ends: Vec<u32>,
    /// The index in `ends` of each service's first real server.
    service_starts: Vec<u32>,
}

impl TableText {
    fn of_table(table: &IpvsTable) -> Self {
        let backends = table.services.iter().map(|s| s.backends.len()).sum();
        // Measured first, so that the text is allocated once at its size: grown by doubling,
        // it would hold up to twice that (11 MB more at 200,000 real servers).
        let mut one = String::new();
        let length = table
            .services
            .iter()
            .flat_map(|s| &s.backends)
            .map(|b| {
                one.clear();
                push_real_server_text(&mut one, b.address, b.port);
                one.len()
            })
            .sum();
        let mut made = TableText {
            text: String::with_capacity(length),
            ends: Vec::with_capacity(backends),
            service_starts: Vec::with_capacity(table.services.len()),
        };
        for service in &table.services {
            made.service_starts.push(index_u32(made.ends.len()));
            for backend in &service.backends {
                push_real_server_text(&mut made.text, backend.address, backend.port);
                made.ends.push(index_u32(made.text.len()));
            }
        }
        made
    }

    /// The texts of the real servers of the table's service at `index`, in their order.
    fn of_service(&self, index: usize) -> impl Iterator<Item = &str> {
        // A service the text was not made for has none.
        let first = self
            .service_starts
            .get(index)
            .map_or(self.ends.len(), |&i| i as usize);
        let end = self
            .service_starts
            .get(index + 1)
            .map_or(self.ends.len(), |&i| i as usize);
        let mut start = first
            .checked_sub(1)
            .and_then(|i| self.ends.get(i))
            .map_or(0, |&e| e as usize);
        self.ends
            .get(first..end)
            .unwrap_or_default()
            .iter()
            .map(move |&e| {
                let text = self.text.get(start..e as usize).unwrap_or_default();
                start = e as usize;
                text
            })
    }
}

/// A position in a [`TableText`] (far beyond any table's size if it ever does not fit).
fn index_u32(index: usize) -> u32 {
    u32::try_from(index).unwrap_or(u32::MAX)
}

/// The real servers' text of each table of a snapshot, in the order of the views.
type SnapshotText = Vec<TableText>;

/// The text of each snapshot that scrapes are encoding: neither is kept alive here, so a text
/// goes with the last scrape that uses it (its entry is dropped at the next look-up).
type SharedTexts = Vec<(Weak<Snapshot>, Weak<SnapshotText>)>;
static SHARED_TEXTS: Mutex<SharedTexts> = Mutex::new(Vec::new());

/// The real servers' text of `snapshot`'s tables: made here, or the one another scrape of the
/// same snapshot made and still uses.
fn shared_text(snapshot: &Arc<Snapshot>, views: &[View]) -> Arc<SnapshotText> {
    // Only weak pointers are in there: a panic elsewhere while it was held leaves it sound.
    let mut shared = SHARED_TEXTS.lock().unwrap_or_else(PoisonError::into_inner);
    shared.retain(|(_, text)| text.strong_count() > 0);
    let same = shared
        .iter()
        .find(|(of, _)| std::ptr::eq(of.as_ptr(), Arc::as_ptr(snapshot)))
        .and_then(|(_, text)| text.upgrade());
    if let Some(text) = same {
        return text;
    }
    let text = Arc::new(views.iter().map(|v| TableText::of_table(v.table)).collect());
    shared.push((Arc::downgrade(snapshot), Arc::downgrade(&text)));
    text
}

fn add_traffic<T: TrafficFigures>(sum: &mut Option<T>, more: Option<T>) {
    if let Some(more) = more {
        sum.get_or_insert_with(T::default).add(&more);
    }
}

fn add_optional(sum: &mut Option<i64>, more: Option<i64>) {
    if let Some(more) = more {
        *sum = Some(sum.unwrap_or(0).saturating_add(more));
    }
}

/// Adds another kernel service's real servers to a merged row: one with the same address and
/// port as a real server already there is summed into it.
fn merge_backends<'a>(rows: &mut Vec<BackendRow<'a>>, backends: &'a [Backend]) {
    for backend in backends {
        let existing = rows
            .iter_mut()
            .find(|b| b.first.address == backend.address && b.first.port == backend.port);
        match existing {
            Some(seen) => seen.figures.add(&BackendFigures::of(backend)),
            None => rows.push(BackendRow::of(backend)),
        }
    }
}

fn encode_services(views: &[View], encoder: &mut DescriptorEncoder) -> fmt::Result {
    let each = || {
        views
            .iter()
            .flat_map(|v| v.services().map(move |row| (v.netns, row)))
    };
    gauges(
        encoder,
        "ipvs_service_info",
        "A virtual service, with its scheduler, address family, flags and persistence.",
        None,
        // One per kernel service: an IPv4 and an IPv6 service with the same mark keep their
        // own family and scheduler (their traffic is summed below).
        each()
            .flat_map(|(netns, row)| row.members().map(move |service| (netns, row, service)))
            .map(|(netns, row, service)| {
                let info = [
                    ("scheduler", Cow::Borrowed(service.scheduler.as_str())),
                    (
                        "family",
                        Cow::Borrowed(service.key.family().map(|f| f.as_str()).unwrap_or("")),
                    ),
                    ("flags", Cow::Owned(service.flags.label(&service.scheduler))),
                    (
                        "persistent",
                        Cow::Borrowed(if service.flags.persistent {
                            "true"
                        } else {
                            "false"
                        }),
                    ),
                ];
                (((row.labels(), info), netns), 1)
            }),
    )?;
    gauges(
        encoder,
        "ipvs_service_persistence_timeout",
        "How long a persistent service keeps sending a client to the same real server.",
        Some(Unit::Seconds),
        each().filter_map(|(netns, row)| {
            row.first
                .persistence
                .map(|p| ((row.labels(), netns), p.timeout_seconds))
        }),
    )?;
    encode_traffic(
        encoder,
        "ipvs_service_",
        "by this virtual service",
        Estimates::Written,
        || {
            Box::new(
                each().map(|(netns, row)| ((row.labels(), netns), row.counters(), row.rates())),
            )
        },
    )
}

/// One real server's figures, or those of several summed.
#[derive(Clone, Copy)]
struct BackendFigures {
    weight: i64,
    active: i64,
    inactive: i64,
    persistent: Option<i64>,
    counters: Option<TrafficCounters>,
    rates: Option<TrafficRates>,
}

impl BackendFigures {
    fn of(b: &Backend) -> Self {
        BackendFigures {
            weight: b.weight,
            active: b.active_connections,
            inactive: b.inactive_connections,
            persistent: b.persistent_connections,
            counters: b.counters,
            rates: b.rates,
        }
    }

    /// Adds another real server's figures to these.
    fn add(&mut self, more: &BackendFigures) {
        self.weight = self.weight.saturating_add(more.weight);
        self.active = self.active.saturating_add(more.active);
        self.inactive = self.inactive.saturating_add(more.inactive);
        add_optional(&mut self.persistent, more.persistent);
        add_traffic(&mut self.counters, more.counters);
        add_traffic(&mut self.rates, more.rates);
    }
}

/// One real-server series set: a real server, or a sum of several when labels are dropped.
struct BackendSeries<'a> {
    labels: BackendSeriesLabels<'a>,
    /// Only for an individual real server.
    forward: Option<&'static str>,
    thresholds: Option<(u32, u32)>,
    figures: BackendFigures,
    /// Only for an individual real server of weight 0: its drain estimate, if one can be made.
    drain: Option<Option<f64>>,
}

/// A sum of real servers over the labels kept, made before the families are written.
struct SummedSeries {
    labels: RenderedLabels,
    figures: BackendFigures,
}

impl SummedSeries {
    fn series(&self) -> BackendSeries<'_> {
        BackendSeries {
            labels: BackendSeriesLabels::Summed(&self.labels),
            forward: None,
            thresholds: None,
            figures: self.figures,
            drain: None,
        }
    }
}

/// The drain estimates of a table's draining real servers, by service and real server.
type DrainEstimates = HashMap<(ServiceKey, IpAddr, u16), Option<f64>>;

/// The series of one real server, with every label.
fn single_backend_series<'a>(
    row: ServiceRow<'a>,
    b: BackendRow<'a>,
    estimates: &DrainEstimates,
    text: Option<&'a str>,
) -> BackendSeries<'a> {
    let drain = (b.figures.weight == 0).then(|| {
        row.members()
            .find_map(|s| estimates.get(&(s.key.clone(), b.first.address, b.first.port)))
            .copied()
            .flatten()
    });
    BackendSeries {
        labels: BackendSeriesLabels::RealServer {
            service: &row.first.key,
            address: b.first.address,
            port: b.first.port,
            text,
        },
        forward: Some(b.first.forward.as_str()),
        thresholds: b.first.upper_threshold.zip(b.first.lower_threshold),
        figures: b.figures,
        drain,
    }
}

/// Real servers with only the kept labels: those that coincide are summed into one series.
/// The counters of real servers that left are added to the series they belonged to while it
/// has a member still there, so that it never goes back (see `source::ipvs_ledger`).
fn summed_backend_series(
    rows: &ServiceRows,
    departed: &[DepartedBackend],
    keep: BackendLabels,
) -> Vec<SummedSeries> {
    let kept_values = |values: [String; 6]| -> Vec<String> {
        values
            .into_iter()
            .enumerate()
            .filter(|(index, _)| keep.keeps(*index))
            .map(|(_, v)| v)
            .collect()
    };
    let all_values = |service: &ServiceKey, address: IpAddr, port: u16| -> [String; 6] {
        let [proto, local_address, local_port, mark] = service_label_values(service);
        [
            proto,
            local_address,
            local_port,
            mark,
            address.to_string(),
            port.to_string(),
        ]
    };
    let mut sums: Vec<SummedSeries> = Vec::new();
    let mut index_of: HashMap<Vec<String>, usize> = HashMap::new();
    for row in rows.iter() {
        for b in row.backends() {
            let values = all_values(&row.first.key, b.first.address, b.first.port);
            match index_of.entry(kept_values(values.clone())) {
                Entry::Occupied(seen) => {
                    if let Some(sum) = sums.get_mut(*seen.get()) {
                        sum.figures.add(&b.figures);
                    }
                }
                Entry::Vacant(slot) => {
                    let labels = RenderedLabels::new(
                        BACKEND_LABEL_NAMES
                            .iter()
                            .zip(&values)
                            .enumerate()
                            .filter(|(index, _)| keep.keeps(*index))
                            .map(|(_, (name, value))| (*name, value.as_str())),
                    );
                    slot.insert(sums.len());
                    sums.push(SummedSeries {
                        labels,
                        figures: b.figures,
                    });
                }
            }
        }
    }
    for d in departed {
        let kept = kept_values(all_values(&d.service, d.address, d.port));
        if let Some(sum) = index_of.get(&kept).and_then(|i| sums.get_mut(*i)) {
            add_traffic(&mut sum.figures.counters, Some(d.counters));
        }
    }
    sums
}

/// Reads one gauge value of a real-server series.
type ReadBackend = fn(&BackendSeries) -> Option<i64>;

/// The real-server gauges read straight from a series: name, help, and how to read it.
const BACKEND_GAUGES: [(&str, &str, ReadBackend); 6] = [
    (
        "ipvs_backend_weight",
        "Scheduling weight of the real server (0: no new connections).",
        |b| Some(b.figures.weight),
    ),
    (
        "ipvs_backend_connections_active",
        "Active connections to the real server (TCP: established).",
        |b| Some(b.figures.active),
    ),
    (
        "ipvs_backend_connections_inactive",
        "Inactive connections to the real server (TCP: not established; UDP: all).",
        |b| Some(b.figures.inactive),
    ),
    (
        "ipvs_backend_connections_persistent",
        "Persistence templates held for the real server.",
        |b| b.figures.persistent,
    ),
    (
        "ipvs_backend_threshold_upper_connections",
        "Connections above which the real server gets no new ones (only when one is set).",
        |b| {
            b.thresholds
                .map(|(upper, _)| i64::from(upper))
                .filter(|&t| t != 0)
        },
    ),
    (
        "ipvs_backend_threshold_lower_connections",
        "Connections under which an overloaded real server gets new ones again (only when \
         one is set).",
        |b| {
            b.thresholds
                .map(|(_, lower)| i64::from(lower))
                .filter(|&t| t != 0)
        },
    ),
];

/// The real servers' families, written straight into the text (see `super::text`): one
/// series per real server and family makes these most of a large director's scrape.
pub(super) fn write_backends(
    snapshot: &Arc<Snapshot>,
    options: &EncodeOptions,
    out: &mut FamilyText,
) -> fmt::Result {
    if !options.backends {
        return Ok(());
    }
    let netns_labels = netns_labels(snapshot);
    let views = views(snapshot, &netns_labels, options, true);
    let individual = views
        .iter()
        .any(|v| matches!(v.backends, BackendSource::Individual(_)));
    let mut writer = BackendFamilies {
        views: &views,
        text: individual.then(|| shared_text(snapshot, &views)),
        service_text: ServiceText::default(),
    };
    writer.write(
        &mut out.family(
            "ipvs_backend_info",
            "A real server of a virtual service, with its forwarding method.",
            None,
            Kind::Gauge,
        ),
        &|_| Some(Value::Signed(1)),
        true,
    )?;
    for (name, help, read) in BACKEND_GAUGES {
        writer.write(
            &mut out.family(name, help, None, Kind::Gauge),
            &|b| read(b).map(Value::Signed),
            false,
        )?;
    }
    writer.write(
        &mut out.family(
            "ipvs_backend_draining",
            "1 for a real server of weight 0: it gets no new connections and is left to empty \
             (only with every real-server label kept).",
            None,
            Kind::Gauge,
        ),
        &|b| b.drain.map(|_| Value::Signed(1)),
        false,
    )?;
    writer.write(
        &mut out.family(
            "ipvs_backend_drain_estimated",
            "Rough time until a draining real server has no active connections left, from the \
             exporter's samples over its last scrapes (absent when it cannot tell).",
            Some(Unit::Seconds),
            Kind::Gauge,
        ),
        &|b| b.drain.flatten().map(Value::Float),
        false,
    )?;
    write_backend_traffic(&mut writer, options, out)
}

/// The real servers' traffic counters, and their rate estimates when asked for.
fn write_backend_traffic(
    writer: &mut BackendFamilies,
    options: &EncodeOptions,
    out: &mut FamilyText,
) -> fmt::Result {
    for family in &TRAFFIC {
        let help = format!("{} through this real server.", family.what);
        writer.write(
            &mut out.family(
                &format!("ipvs_backend_{}", family.stem),
                &help,
                family.unit.clone(),
                Kind::Counter,
            ),
            &|b| {
                b.figures
                    .counters
                    .map(|c| Value::Unsigned((family.count)(&c)))
            },
            false,
        )?;
    }
    // The kernel's estimates per real server are five series each that Prometheus computes
    // itself from the counters (rate()): only when asked for.
    if !options.backend_estimates {
        return Ok(());
    }
    for family in &TRAFFIC {
        let help = format!(
            "{} per second through this real server, as estimated by the kernel (refreshed \
             every 2 s).",
            family.what
        );
        writer.write(
            &mut out.family(
                &format!("ipvs_backend_estimate_{}_per_second", family.rate_stem()),
                &help,
                None,
                Kind::Gauge,
            ),
            &|b| b.figures.rates.map(|r| Value::Unsigned((family.rate)(&r))),
            false,
        )?;
    }
    Ok(())
}

/// Writes real-server families from the tables' views.
struct BackendFamilies<'v> {
    views: &'v [View<'v>],
    /// The real servers' text of each view's table, when they are written one by one.
    text: Option<Arc<SnapshotText>>,
    service_text: ServiceText,
}

impl BackendFamilies<'_> {
    /// One family: a series for each real-server series `value` gives a value for; with
    /// `forward`, only individual real servers, with their `forward` label.
    fn write(
        &mut self,
        family: &mut Family,
        value: &dyn Fn(&BackendSeries) -> Option<Value>,
        forward: bool,
    ) -> fmt::Result {
        let service_text = &mut self.service_text;
        for (index, view) in self.views.iter().enumerate() {
            let text = self.text.as_ref().and_then(|t| t.get(index));
            view.for_each_backend(text, |b| {
                let Some(v) = value(&b) else { return Ok(()) };
                let forward = match (forward, b.forward) {
                    (false, _) => None,
                    (true, Some(forward)) => Some(forward),
                    (true, None) => return Ok(()),
                };
                family.series(
                    |line| {
                        b.labels.push_to(line, service_text);
                        if let Some(forward) = forward {
                            push_label(line, "forward", forward);
                        }
                        for (key, value) in view.netns {
                            push_label(line, key, value);
                        }
                    },
                    v,
                )
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::metrics::{Format, encode as encode_snapshot};
    use crate::model::{AddressFamily, ForwardMethod};

    fn fwm_service(family: AddressFamily, backend: &str, connections: u64) -> Service {
        let key = ServiceKey::FirewallMark {
            mark: 9,
            family: Some(family),
        };
        Service {
            counters: Some(TrafficCounters {
                connections,
                ..TrafficCounters::default()
            }),
            backends: vec![Backend {
                weight: 1,
                active_connections: 2,
                inactive_connections: 3,
                ..Backend::new(backend.parse().expect("address"), 0, ForwardMethod::Route)
            }],
            ..Service::new(key, "rr")
        }
    }

    #[test]
    fn services_with_the_same_labels_are_summed_not_repeated() {
        let snapshot = Snapshot {
            ipvs: Some(IpvsTable {
                services: vec![
                    fwm_service(AddressFamily::Inet, "10.0.0.2", 5),
                    Service {
                        scheduler: "wlc".into(),
                        ..fwm_service(AddressFamily::Inet6, "2001:db8::2", 7)
                    },
                ],
                ..IpvsTable::default()
            }),
            ..Snapshot::default()
        };
        let text = classic_text(snapshot);
        assert_eq!(
            series_lines(&text, "ipvs_service_info"),
            vec![
                "ipvs_service_info{proto=\"FWM\",local_address=\"\",local_port=\"0\",local_mark=\"9\",scheduler=\"rr\",family=\"inet\",flags=\"\",persistent=\"false\"} 1",
                "ipvs_service_info{proto=\"FWM\",local_address=\"\",local_port=\"0\",local_mark=\"9\",scheduler=\"wlc\",family=\"inet6\",flags=\"\",persistent=\"false\"} 1",
            ],
            "the IPv4 and the IPv6 service keep their own family and scheduler: {text}"
        );
        assert!(text.contains("ipvs_service_connections_total{proto=\"FWM\",local_address=\"\",local_port=\"0\",local_mark=\"9\"} 12\n"));
        assert_eq!(
            series_lines(&text, "ipvs_backend_weight").len(),
            2,
            "the two real servers differ and stay apart"
        );
    }

    /// A classic scrape of `snapshot` with the default options.
    fn classic_text(snapshot: Snapshot) -> String {
        encode_snapshot(
            Arc::new(snapshot),
            Format::Classic,
            &EncodeOptions::default(),
        )
    }

    /// The lines of one family's series in a scrape.
    fn series_lines<'a>(text: &'a str, family: &str) -> Vec<&'a str> {
        text.lines()
            .filter(|line| {
                line.strip_prefix(family)
                    .is_some_and(|labels| labels.starts_with('{'))
            })
            .collect()
    }

    fn two_services_of_two() -> Arc<Snapshot> {
        let service = |port: u16, weights: [i64; 2]| {
            let key = ServiceKey::Address {
                protocol: crate::model::Protocol::Tcp,
                address: "10.0.0.1".parse().expect("address"),
                port,
            };
            Service {
                backends: weights
                    .iter()
                    .enumerate()
                    .map(|(i, w)| Backend {
                        weight: *w,
                        active_connections: 1,
                        counters: Some(TrafficCounters {
                            connections: 10,
                            ..TrafficCounters::default()
                        }),
                        ..Backend::new([10, 1, 0, i as u8].into(), port, ForwardMethod::Masq)
                    })
                    .collect(),
                ..Service::new(key, "wrr")
            }
        };
        Arc::new(Snapshot {
            ipvs: Some(IpvsTable {
                services: vec![service(80, [1, 2]), service(443, [3, 4])],
                ..IpvsTable::default()
            }),
            ..Snapshot::default()
        })
    }

    #[test]
    fn each_namespace_s_real_servers_are_written_with_their_own_addresses() {
        // The other namespace's table comes second, and only one of three has a table: the
        // real servers' text is looked up by table, in the order the tables are written.
        let mut snapshot = Arc::unwrap_or_clone(two_services_of_two());
        let mut other = snapshot.ipvs.clone().expect("a table");
        other.services.truncate(1);
        for (backend, last) in other.services[0].backends.iter_mut().zip([7u8, 8]) {
            backend.address = [10, 9, 9, last].into();
        }
        snapshot.ipvs_namespaces = ["absent", "blue", "empty"]
            .into_iter()
            .map(|netns| crate::model::snapshot::NamespaceTable {
                netns: netns.to_string(),
                table: (netns == "blue").then(|| other.clone()),
            })
            .collect();
        let text = classic_text(snapshot);
        let weights = series_lines(&text, "ipvs_backend_weight");
        let service = |port: u16| {
            format!(
                "ipvs_backend_weight{{proto=\"TCP\",local_address=\"10.0.0.1\",local_port=\"{port}\",local_mark=\"\""
            )
        };
        assert_eq!(
            weights,
            vec![
                format!(
                    "{},remote_address=\"10.1.0.0\",remote_port=\"80\"}} 1",
                    service(80)
                ),
                format!(
                    "{},remote_address=\"10.1.0.1\",remote_port=\"80\"}} 2",
                    service(80)
                ),
                format!(
                    "{},remote_address=\"10.1.0.0\",remote_port=\"443\"}} 3",
                    service(443)
                ),
                format!(
                    "{},remote_address=\"10.1.0.1\",remote_port=\"443\"}} 4",
                    service(443)
                ),
                format!(
                    "{},remote_address=\"10.9.9.7\",remote_port=\"80\",netns=\"blue\"}} 1",
                    service(80)
                ),
                format!(
                    "{},remote_address=\"10.9.9.8\",remote_port=\"80\",netns=\"blue\"}} 2",
                    service(80)
                ),
            ]
        );
    }

    #[test]
    fn scrapes_of_one_snapshot_share_the_real_servers_text_and_it_goes_with_them() {
        let snapshot = two_services_of_two();
        let labels = netns_labels(&snapshot);
        let views = views(&snapshot, &labels, &EncodeOptions::default(), true);
        let first = shared_text(&snapshot, &views);
        let second = shared_text(&snapshot, &views);
        assert!(Arc::ptr_eq(&first, &second), "one text for one snapshot");
        assert_eq!(
            first[0].text.capacity(),
            first[0].text.len(),
            "no spare room"
        );

        let texts: Vec<Vec<&str>> = (0..3)
            .map(|service| first[0].of_service(service).collect())
            .collect();
        assert_eq!(
            texts,
            vec![
                vec!["10.1.0.0\",remote_port=\"80", "10.1.0.1\",remote_port=\"80"],
                vec![
                    "10.1.0.0\",remote_port=\"443",
                    "10.1.0.1\",remote_port=\"443"
                ],
                vec![],
            ]
        );

        let other = two_services_of_two();
        let other_text = shared_text(&other, &views);
        assert!(
            !Arc::ptr_eq(&first, &other_text),
            "another snapshot, another text"
        );

        let gone = Arc::downgrade(&first);
        drop((first, second));
        assert!(
            gone.upgrade().is_none(),
            "nothing keeps the text after the scrapes"
        );
        let again = shared_text(&snapshot, &views);
        assert!(!std::ptr::eq(Arc::as_ptr(&again), gone.as_ptr()));
    }

    /// Options that keep only the service's labels on real-server series, so that the real
    /// servers of one service are summed.
    fn summed_per_service() -> EncodeOptions {
        let mut keep = crate::metrics::BackendLabels::none();
        for label in ["proto", "local_address", "local_port"] {
            assert!(keep.keep(label));
        }
        EncodeOptions {
            backend_labels: keep,
            ..EncodeOptions::default()
        }
    }

    #[test]
    fn dropped_backend_labels_sum_the_series_they_separated() {
        let options = summed_per_service();
        let text = encode_snapshot(two_services_of_two(), Format::Classic, &options);
        let weights: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("ipvs_backend_weight{"))
            .collect();
        assert_eq!(
            weights,
            vec![
                "ipvs_backend_weight{proto=\"TCP\",local_address=\"10.0.0.1\",local_port=\"80\"} 3",
                "ipvs_backend_weight{proto=\"TCP\",local_address=\"10.0.0.1\",local_port=\"443\"} 7",
            ]
        );
        assert!(text.contains(
            "ipvs_backend_connections_total{proto=\"TCP\",local_address=\"10.0.0.1\",local_port=\"443\"} 20\n"
        ));
        assert!(
            !text.contains("ipvs_backend_info"),
            "info describes single real servers"
        );

        let mut by_server = crate::metrics::BackendLabels::none();
        assert!(by_server.keep("remote_address"));
        let text = encode_snapshot(
            two_services_of_two(),
            Format::Classic,
            &EncodeOptions {
                backend_labels: by_server,
                ..EncodeOptions::default()
            },
        );
        assert!(text.contains("ipvs_backend_connections_active{remote_address=\"10.1.0.1\"} 2\n"));
    }

    /// A summed series over successive collections, through the ledger the ipvs collector
    /// keeps: a real server leaving, coming back from zero, and one removed and added again
    /// between two collections never make the sum go back.
    #[test]
    fn a_summed_counter_never_decreases_when_real_servers_leave_or_come_back() {
        use crate::source::ipvs_ledger::Ledger;
        let options = summed_per_service();
        let table_of = |members: &[(&str, u64)]| {
            let key = ServiceKey::Address {
                protocol: crate::model::Protocol::Tcp,
                address: "10.0.0.1".parse().expect("address"),
                port: 80,
            };
            IpvsTable {
                services: vec![Service {
                    backends: members
                        .iter()
                        .map(|(address, connections)| Backend {
                            counters: Some(TrafficCounters {
                                connections: *connections,
                                ..TrafficCounters::default()
                            }),
                            ..Backend::new(
                                address.parse().expect("address"),
                                80,
                                ForwardMethod::Masq,
                            )
                        })
                        .collect(),
                    ..Service::new(key, "wlc")
                }],
                ..IpvsTable::default()
            }
        };
        let steps: [&[(&str, u64)]; 5] = [
            &[("10.1.0.1", 100), ("10.1.0.2", 50)],
            &[("10.1.0.1", 110)],                  // .2 left
            &[("10.1.0.1", 110), ("10.1.0.2", 5)], // .2 back, from zero
            &[("10.1.0.1", 1), ("10.1.0.2", 6)],   // .1 removed and added again
            &[("10.1.0.2", 6)],                    // .1 left again
        ];
        let mut ledger = Ledger::default();
        let mut sums = Vec::new();
        for members in steps {
            let mut table = table_of(members);
            ledger.update(Some(&mut table));
            let snapshot = Snapshot {
                ipvs: Some(table),
                ..Snapshot::default()
            };
            let text = encode_snapshot(Arc::new(snapshot), Format::Classic, &options);
            let sum = text
                .lines()
                .find_map(|l| {
                    l.strip_prefix("ipvs_backend_connections_total{proto=\"TCP\",local_address=\"10.0.0.1\",local_port=\"80\"} ")
                })
                .and_then(|v| v.parse::<u64>().ok());
            sums.push(sum);
        }
        assert_eq!(
            sums,
            vec![Some(150), Some(160), Some(165), Some(167), Some(167)]
        );
        // With every label kept, each real server's own series is shown as the kernel has it.
        let mut table = table_of(&[("10.1.0.2", 6)]);
        ledger.update(Some(&mut table));
        let text = classic_text(Snapshot {
            ipvs: Some(table),
            ..Snapshot::default()
        });
        assert!(
            text.contains("remote_address=\"10.1.0.2\",remote_port=\"80\"} 6\n"),
            "{text}"
        );
        // ip_vs unloaded: every kernel counter starts again, and so does the ledger.
        ledger.update(None);
        let mut table = table_of(&[("10.1.0.2", 1)]);
        ledger.update(Some(&mut table));
        assert!(table.departed.is_empty());
    }

    /// A real server of weight 0 is draining; its estimate appears once the collector's
    /// tracker has two samples that go down, and both series go when its weight goes back.
    #[test]
    fn a_weight_zero_real_server_is_draining_with_an_estimate_from_two_samples() {
        use crate::model::drain::DrainTracker;
        let table_with = |weight: i64, active: i64| {
            let mut snapshot = (*two_services_of_two()).clone();
            if let Some(table) = snapshot.ipvs.as_mut() {
                let backend = &mut table.services[1].backends[0];
                backend.weight = weight;
                backend.active_connections = active;
            }
            snapshot
        };
        let draining_line = "ipvs_backend_draining{proto=\"TCP\",local_address=\"10.0.0.1\",local_port=\"443\",local_mark=\"\",remote_address=\"10.1.0.0\",remote_port=\"443\"} 1\n";
        let estimate_prefix = "ipvs_backend_drain_estimated_seconds{proto=\"TCP\",local_address=\"10.0.0.1\",local_port=\"443\",local_mark=\"\",remote_address=\"10.1.0.0\",remote_port=\"443\"} ";
        let mut tracker = DrainTracker::default();
        let mut texts = Vec::new();
        for (at_millis, weight, active) in [(0, 0, 40), (10_000, 0, 30), (20_000, 3, 30)] {
            let mut snapshot = table_with(weight, active);
            tracker.update(snapshot.ipvs.as_mut(), at_millis);
            texts.push(encode_snapshot(
                Arc::new(snapshot),
                Format::Classic,
                &EncodeOptions::default(),
            ));
        }
        assert!(texts[0].contains(draining_line), "{}", texts[0]);
        assert_eq!(
            texts[0].matches("ipvs_backend_draining{").count(),
            1,
            "only the weight-0 real server"
        );
        assert!(
            !texts[0].contains(estimate_prefix),
            "one sample: no estimate"
        );
        // 40 then 30 ten seconds later: 1 a second, 30 left.
        let estimate = texts[1]
            .lines()
            .find_map(|l| l.strip_prefix(estimate_prefix))
            .and_then(|v| v.parse::<f64>().ok());
        assert_eq!(estimate, Some(30.0), "{}", texts[1]);
        assert!(!texts[2].contains("ipvs_backend_draining{"), "{}", texts[2]);
        assert!(!texts[2].contains("ipvs_backend_drain_estimated"));
        // Summed real-server series say nothing of drains.
        let text = encode_snapshot(
            Arc::new(table_with(0, 0)),
            Format::Classic,
            &summed_per_service(),
        );
        assert!(!text.contains("ipvs_backend_drain"), "{text}");
    }

    #[test]
    fn backends_can_be_left_out_entirely() {
        let options = EncodeOptions {
            backends: false,
            ..EncodeOptions::default()
        };
        let text = encode_snapshot(two_services_of_two(), Format::Classic, &options);
        assert!(!text.contains("ipvs_backend_"), "{text}");
        assert!(text.contains("ipvs_service_info{"));
    }
}
