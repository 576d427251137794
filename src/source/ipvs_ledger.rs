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
