//! What real servers that left had counted, per IPVS table, so that a series summed over
//! labels dropped with `--collector.ipvs.backend-labels` never goes back when one of its
//! members leaves (rate() would read the drop as a counter reset and invent a spike).
//!
//! Each collection compares the real servers with the previous one: one that is gone, or
//! whose counters went back (removed and added again in between), has its last counters added
//! to its retired total, which the table then carries in [`IpvsTable::departed`]. A table that
//! disappears (ip_vs unloaded: every kernel counter starts again) clears the ledger. At most
//! [`MAX_RETIRED`] retired real servers are kept; past that the one that left first is
//! forgotten (its series, if summed, then goes back once).

use std::collections::HashMap;
use std::net::IpAddr;

use crate::model::{DepartedBackend, IpvsTable, ServiceKey, TrafficCounters, TrafficFigures};

/// The most retired real servers kept per table.
pub const MAX_RETIRED: usize = 4096;

type Key = (ServiceKey, IpAddr, u16);

#[derive(Debug, Default)]
pub struct Ledger {
    /// Each real server's counters at the previous collection.
    last: HashMap<Key, TrafficCounters>,
    /// Retired totals, with the collection number at which they last grew.
    retired: HashMap<Key, (TrafficCounters, u64)>,
    collections: u64,
}

/// Whether any figure of `now` is below the same one in `before`.
fn went_back(now: &TrafficCounters, before: &TrafficCounters) -> bool {
    now.to_array()
        .iter()
        .zip(before.to_array())
        .any(|(n, b)| *n < b)
}

impl Ledger {
    /// Updates the ledger from this collection's table (`None`: no IPVS) and fills the
    /// table's `departed`.
    pub fn update(&mut self, table: Option<&mut IpvsTable>) {
        let Some(table) = table else {
            *self = Ledger::default();
            return;
        };
        self.collections += 1;
        let mut current: HashMap<Key, TrafficCounters> = HashMap::new();
        for service in &table.services {
            for backend in &service.backends {
                if let Some(counters) = backend.counters {
                    current.insert(
                        (service.key.clone(), backend.address, backend.port),
                        counters,
                    );
                }
            }
        }
        let last = std::mem::take(&mut self.last);
        for (key, before) in last {
            let retire = match current.get(&key) {
                None => true,
                Some(now) => went_back(now, &before),
            };
            if retire {
                let entry = self
                    .retired
                    .entry(key)
                    .or_insert((TrafficCounters::default(), 0));
                entry.0.add(&before);
                entry.1 = self.collections;
            }
        }
        if self.retired.len() > MAX_RETIRED {
            let mut by_age: Vec<(u64, Key)> = self
                .retired
                .iter()
                .map(|(key, (_, when))| (*when, key.clone()))
                .collect();
            by_age.sort();
            let excess = self.retired.len() - MAX_RETIRED;
            for (_, key) in by_age.into_iter().take(excess) {
                self.retired.remove(&key);
            }
        }
        self.last = current;
        table.departed = self
            .retired
            .iter()
            .map(
                |((service, address, port), (counters, _))| DepartedBackend {
                    service: service.clone(),
                    address: *address,
                    port: *port,
                    counters: *counters,
                },
            )
            .collect();
        table
            .departed
            .sort_by(|a, b| (&a.service, a.address, a.port).cmp(&(&b.service, b.address, b.port)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Backend, ForwardMethod, Protocol, Service};

    /// Heap bytes of a hash map as the standard library lays it out (a power-of-two number of
    /// buckets, 7/8 of which may be used, each an entry and one control byte).
    pub(crate) fn map_bytes<K, V>(map: &HashMap<K, V>) -> usize {
        let capacity = map.capacity();
        if capacity == 0 {
            return 0;
        }
        let buckets = (capacity * 8).div_ceil(7).next_power_of_two();
        buckets * (std::mem::size_of::<(K, V)>() + 1) + 16
    }

    /// A table of `services` TCP services of 10 real servers; `generation` moves the real
    /// servers' addresses so that a new generation replaces every one of them.
    fn table(services: u32, generation: u32) -> IpvsTable {
        IpvsTable {
            services: (0..services)
                .map(|s| Service {
                    backends: (0..10u32)
                        .map(|d| Backend {
                            counters: Some(TrafficCounters {
                                connections: 1,
                                ..TrafficCounters::default()
                            }),
                            ..Backend::new(
                                std::net::Ipv4Addr::from(
                                    0x0a00_0000 + generation * 1_000_000 + s * 10 + d,
                                )
                                .into(),
                                8080,
                                ForwardMethod::Masq,
                            )
                        })
                        .collect(),
                    ..Service::new(
                        ServiceKey::Address {
                            protocol: Protocol::Tcp,
                            address: std::net::Ipv4Addr::from(0x0a64_0000 + s).into(),
                            port: 80,
                        },
                        "wlc",
                    )
                })
                .collect(),
            ..IpvsTable::default()
        }
    }

    /// The ledger holds one entry per real server of the last collection, and at most
    /// MAX_RETIRED retired ones however many leave; sizes are printed for docs/performance.md
    /// (`cargo test --lib ledger_state -- --nocapture`).
    #[test]
    fn ledger_state_is_bounded_whatever_leaves() {
        let mut ledger = Ledger::default();
        for generation in 0..4 {
            ledger.update(Some(&mut table(2_000, generation)));
        }
        // 3 generations of 20,000 real servers left: far more than the bound.
        assert_eq!(ledger.last.len(), 20_000);
        assert_eq!(ledger.retired.len(), MAX_RETIRED);
        let mut last_table = table(2_000, 4);
        ledger.update(Some(&mut last_table));
        assert_eq!(last_table.departed.len(), MAX_RETIRED);
        let last = map_bytes(&ledger.last);
        let retired = map_bytes(&ledger.retired);
        let departed = last_table.departed.capacity() * std::mem::size_of::<DepartedBackend>();
        eprintln!(
            "ledger at 20,000 real servers: last {last} B ({} B per real server, entry {} B), \
             retired at its bound {retired} B, departed in the table {departed} B",
            last / 20_000,
            std::mem::size_of::<(Key, TrafficCounters)>(),
        );
        // A real server costs one entry of the map: 88 bytes and its share of free buckets.
        assert!(last / 20_000 <= 2 * (std::mem::size_of::<(Key, TrafficCounters)>() + 1));
        // Gone: the whole ledger is cleared.
        ledger.update(None);
        assert!(ledger.last.is_empty() && ledger.retired.is_empty());
    }
}
