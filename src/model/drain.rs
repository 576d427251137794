//! Draining real servers: a real server of weight 0 in the kernel's table gets no new
//! connections and is left to empty. This module owns what is known about such a drain: what
//! is left (active and inactive connections, persistence templates), a rough estimate of when
//! no active connection is left from the samples of the last collections, and the bounds the
//! kernel's timeouts set. It also keeps those samples ([`DrainTracker`]), given the time of each
//! collection, so that it stays pure: the collector owns the tracker and the clock.

use std::collections::HashMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::{IpvsSource, IpvsTable, Protocol, ServiceKey};

/// Samples kept per draining real server: the last collections' worth.
pub const MAX_SAMPLES: usize = 12;

/// Draining real servers followed at most per table; past that the others get no estimate.
pub const MAX_TRACKED: usize = 4096;

/// The kernel's fixed TCP timeouts for the states counted as inactive that `ipvsadm --set`
/// does not change (TIME_WAIT, SYN_SENT, LISTEN and SYNACK are 2 minutes, the longest).
pub const TCP_FIXED_INACTIVE_TIMEOUT_SECONDS: u32 = 120;

/// One collection's count of active connections of a draining real server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActiveSample {
    /// When it was read, in milliseconds on the collector's monotonic clock.
    pub at_millis: u64,
    pub active: i64,
}

/// The samples kept for one draining real server of one service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrainHistory {
    pub service: ServiceKey,
    pub address: IpAddr,
    pub port: u16,
    /// Oldest first, at most [`MAX_SAMPLES`].
    pub samples: Vec<ActiveSample>,
}

/// Why no estimate can be given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoEstimate {
    /// Fewer than two samples over some time (a first scrape, or `doctor`'s single read).
    TooFewSamples,
    /// Active connections did not go down over the samples kept.
    NotDecreasing,
}

impl NoEstimate {
    pub fn describe(self) -> &'static str {
        match self {
            NoEstimate::TooFewSamples => "needs two scrapes or more",
            NoEstimate::NotDecreasing => "active connections are not going down",
        }
    }
}

/// When no active connection will be left, roughly.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", content = "seconds", rename_all = "snake_case")]
pub enum DrainEstimate {
    /// No active connection is left.
    Empty,
    /// In about this many seconds, going on as the samples went (a straight line).
    Seconds(f64),
    Unknown(NoEstimate),
}

impl DrainEstimate {
    /// The estimate in seconds (0 when empty); `None` when unknown.
    pub fn seconds(self) -> Option<f64> {
        match self {
            DrainEstimate::Empty => Some(0.0),
            DrainEstimate::Seconds(seconds) => Some(seconds),
            DrainEstimate::Unknown(_) => None,
        }
    }

    /// For people: `no active connections left`, `no active connections left in about
    /// 2m30s`, `no estimate of when no active connections are left (...)`.
    pub fn describe(self) -> String {
        match self {
            DrainEstimate::Empty => "no active connections left".to_string(),
            DrainEstimate::Seconds(seconds) => format!(
                "no active connections left in about {}",
                whole_duration(seconds)
            ),
            DrainEstimate::Unknown(why) => format!(
                "no estimate of when no active connections are left ({})",
                why.describe()
            ),
        }
    }
}

/// Seconds written as `45s`, `2m30s` or `1h05m`, rounded up to a whole second.
pub fn whole_duration(seconds: f64) -> String {
    let total = if seconds.is_finite() && seconds > 0.0 {
        // Rounded up and capped at a year: the cast cannot truncate.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let whole = seconds.ceil().min(31_536_000.0) as u64;
        whole
    } else {
        0
    };
    let (hours, minutes, secs) = (total / 3600, total % 3600 / 60, total % 60);
    if hours > 0 {
        format!("{hours}h{minutes:02}m")
    } else if minutes > 0 {
        format!("{minutes}m{secs:02}s")
    } else {
        format!("{secs}s")
    }
}

/// Estimates when no active connection is left from samples, oldest first: the least-squares
/// line through them, followed from the last count. Unknown with fewer than two samples over
/// some time, or when the line does not go down.
pub fn estimate(samples: &[ActiveSample]) -> DrainEstimate {
    let Some(last) = samples.last() else {
        return DrainEstimate::Unknown(NoEstimate::TooFewSamples);
    };
    if last.active <= 0 {
        return DrainEstimate::Empty;
    }
    let Some(first) = samples.first() else {
        return DrainEstimate::Unknown(NoEstimate::TooFewSamples);
    };
    // Times relative to the first sample, in seconds: small numbers, exact enough in f64.
    let points: Vec<(f64, f64)> = samples
        .iter()
        .map(|s| {
            (
                s.at_millis.saturating_sub(first.at_millis) as f64 / 1000.0,
                s.active as f64,
            )
        })
        .collect();
    let n = points.len() as f64;
    let mean_t = points.iter().map(|(t, _)| t).sum::<f64>() / n;
    let mean_a = points.iter().map(|(_, a)| a).sum::<f64>() / n;
    let spread: f64 = points.iter().map(|(t, _)| (t - mean_t).powi(2)).sum();
    if points.len() < 2 || spread <= 0.0 {
        return DrainEstimate::Unknown(NoEstimate::TooFewSamples);
    }
    let covariance: f64 = points
        .iter()
        .map(|(t, a)| (t - mean_t) * (a - mean_a))
        .sum();
    let slope = covariance / spread;
    if slope.is_nan() || slope >= 0.0 {
        return DrainEstimate::Unknown(NoEstimate::NotDecreasing);
    }
    DrainEstimate::Seconds(last.active as f64 / -slope)
}

type Key = (ServiceKey, IpAddr, u16);

/// Keeps, per table, the last samples of each draining real server. A real server is forgotten
/// as soon as it leaves the table or its weight goes back above 0; the whole tracker is
/// cleared when the table disappears.
#[derive(Debug, Default)]
pub struct DrainTracker {
    histories: HashMap<Key, Vec<ActiveSample>>,
}

impl DrainTracker {
    /// Records this collection's table (`None`: no IPVS), read at `now_millis` on a monotonic
    /// clock, and fills the table's [`IpvsTable::drain_histories`].
    pub fn update(&mut self, table: Option<&mut IpvsTable>, now_millis: u64) {
        let Some(table) = table else {
            self.histories.clear();
            return;
        };
        let mut kept: HashMap<Key, Vec<ActiveSample>> = HashMap::new();
        for service in &table.services {
            for backend in service.backends.iter().filter(|b| b.weight == 0) {
                let key = (service.key.clone(), backend.address, backend.port);
                if kept.len() >= MAX_TRACKED {
                    break;
                }
                let mut samples = self.histories.remove(&key).unwrap_or_default();
                // Two reads at the same instant (shared by concurrent scrapes) count once.
                if samples.last().is_some_and(|s| s.at_millis >= now_millis) {
                    samples.pop();
                }
                samples.push(ActiveSample {
                    at_millis: now_millis,
                    active: backend.active_connections,
                });
                if samples.len() > MAX_SAMPLES {
                    samples.drain(..samples.len() - MAX_SAMPLES);
                }
                kept.insert(key, samples);
            }
        }
        self.histories = kept;
        let mut histories: Vec<DrainHistory> = self
            .histories
            .iter()
            .map(|((service, address, port), samples)| DrainHistory {
                service: service.clone(),
                address: *address,
                port: *port,
                samples: samples.clone(),
            })
            .collect();
        histories
            .sort_by(|a, b| (&a.service, a.address, a.port).cmp(&(&b.service, b.address, b.port)));
        table.drain_histories = histories;
    }
}

/// A draining real server of one service, and what is left of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DrainingBackend {
    pub service: ServiceKey,
    pub address: IpAddr,
    pub port: u16,
    pub active_connections: i64,
    pub inactive_connections: i64,
    /// Persistence templates: unknown when IPVS was read from /proc.
    pub persistent_connections: Option<i64>,
    pub estimate: DrainEstimate,
    /// Inactive connections are gone within this many seconds after their last packet: the
    /// longer of the kernel's tcpfin timeout and its fixed 2 minutes for TCP, the UDP timeout
    /// for UDP; unknown under /proc (no timeouts) and for other protocols.
    pub inactive_expire_seconds: Option<u32>,
    /// Persistence templates are gone within this many seconds after the last connection
    /// they hold: the service's persistence timeout (persistent services read over netlink).
    pub templates_expire_seconds: Option<u32>,
}

/// The draining real servers of a table, in the table's order, with the estimate its
/// [`IpvsTable::drain_histories`] allow.
pub fn draining_backends(table: &IpvsTable) -> Vec<DrainingBackend> {
    let histories: HashMap<(&ServiceKey, IpAddr, u16), &[ActiveSample]> = table
        .drain_histories
        .iter()
        .map(|h| ((&h.service, h.address, h.port), h.samples.as_slice()))
        .collect();
    let mut draining = Vec::new();
    for service in &table.services {
        let protocol = match &service.key {
            ServiceKey::Address { protocol, .. } => Some(*protocol),
            // A firewall-mark service's real servers get whatever the mark selects.
            ServiceKey::FirewallMark { .. } => None,
        };
        let inactive_expire_seconds = table.timeouts.and_then(|t| match protocol {
            Some(Protocol::Tcp) => Some(t.tcp_fin.max(TCP_FIXED_INACTIVE_TIMEOUT_SECONDS)),
            Some(Protocol::Udp) => Some(t.udp),
            _ => None,
        });
        let templates_expire_seconds = if service.flags.persistent {
            service.persistence.map(|p| p.timeout_seconds)
        } else {
            None
        };
        for backend in service.backends.iter().filter(|b| b.weight == 0) {
            let samples = histories
                .get(&(&service.key, backend.address, backend.port))
                .copied()
                .unwrap_or(&[]);
            let estimate = if backend.active_connections <= 0 {
                DrainEstimate::Empty
            } else {
                estimate(samples)
            };
            draining.push(DrainingBackend {
                service: service.key.clone(),
                address: backend.address,
                port: backend.port,
                active_connections: backend.active_connections,
                inactive_connections: backend.inactive_connections,
                persistent_connections: match table.source {
                    IpvsSource::Netlink => backend.persistent_connections,
                    IpvsSource::Procfs => None,
                },
                estimate,
                inactive_expire_seconds,
                templates_expire_seconds,
            });
        }
    }
    draining
}

impl DrainingBackend {
    /// What is left, for people: `active 3, inactive 1, templates 2 (gone within 5m00s
    /// after ...)`.
    pub fn describe_left(&self) -> String {
        let templates = match self.persistent_connections {
            Some(n) => n.to_string(),
            None => "unknown".to_string(),
        };
        let mut text = format!(
            "active {}, inactive {}, templates {templates}; {}",
            self.active_connections,
            self.inactive_connections,
            self.estimate.describe()
        );
        if let Some(seconds) = self.inactive_expire_seconds {
            text.push_str(&format!(
                "; inactive ones expire within {} of their last packet",
                whole_duration(f64::from(seconds))
            ));
        }
        if let Some(seconds) = self.templates_expire_seconds {
            text.push_str(&format!(
                "; templates within {} of their last connection",
                whole_duration(f64::from(seconds))
            ));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Backend, ForwardMethod, Persistence, Service, ServiceFlags, Timeouts};

    fn samples(points: &[(u64, i64)]) -> Vec<ActiveSample> {
        points
            .iter()
            .map(|(at, active)| ActiveSample {
                at_millis: *at * 1000,
                active: *active,
            })
            .collect()
    }

    #[test]
    fn a_steady_decline_is_followed_to_zero() {
        // 100 down by 10 every 15 s: 10 left at 135 s, gone 15 s later.
        let points: Vec<(u64, i64)> = (0..10).map(|i| (i * 15, 100 - 10 * i as i64)).collect();
        match estimate(&samples(&points)) {
            DrainEstimate::Seconds(s) => assert!((s - 15.0).abs() < 1e-6, "{s}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_estimate_needs_two_samples_apart_and_a_decline() {
        assert_eq!(
            estimate(&[]),
            DrainEstimate::Unknown(NoEstimate::TooFewSamples)
        );
        assert_eq!(
            estimate(&samples(&[(0, 5)])),
            DrainEstimate::Unknown(NoEstimate::TooFewSamples)
        );
        assert_eq!(
            estimate(&samples(&[(3, 5), (3, 4)])),
            DrainEstimate::Unknown(NoEstimate::TooFewSamples)
        );
        assert_eq!(
            estimate(&samples(&[(0, 5), (15, 5), (30, 5)])),
            DrainEstimate::Unknown(NoEstimate::NotDecreasing)
        );
        assert_eq!(
            estimate(&samples(&[(0, 5), (15, 7)])),
            DrainEstimate::Unknown(NoEstimate::NotDecreasing)
        );
        assert_eq!(estimate(&samples(&[(0, 5), (15, 0)])), DrainEstimate::Empty);
        assert_eq!(estimate(&samples(&[(0, 0)])), DrainEstimate::Empty);
    }

    fn table(weight: i64, active: i64) -> IpvsTable {
        let key = ServiceKey::Address {
            protocol: Protocol::Tcp,
            address: "10.0.0.1".parse().unwrap(),
            port: 80,
        };
        IpvsTable {
            source: IpvsSource::Netlink,
            timeouts: Some(Timeouts {
                tcp: 900,
                tcp_fin: 30,
                udp: 300,
            }),
            services: vec![Service {
                flags: ServiceFlags {
                    persistent: true,
                    ..ServiceFlags::default()
                },
                persistence: Some(Persistence {
                    timeout_seconds: 300,
                    netmask: u32::MAX,
                }),
                backends: vec![
                    Backend {
                        weight,
                        active_connections: active,
                        inactive_connections: 2,
                        persistent_connections: Some(4),
                        ..Backend::new([10, 1, 0, 1].into(), 80, ForwardMethod::Masq)
                    },
                    Backend {
                        weight: 1,
                        active_connections: 9,
                        ..Backend::new([10, 1, 0, 2].into(), 80, ForwardMethod::Masq)
                    },
                ],
                ..Service::new(key, "wlc")
            }],
            ..IpvsTable::default()
        }
    }

    #[test]
    fn the_tracker_follows_weight_zero_only_and_forgets_on_weight_up_or_departure() {
        let mut tracker = DrainTracker::default();
        for (second, active) in [(0, 30), (10, 20), (20, 10)] {
            let mut t = table(0, active);
            tracker.update(Some(&mut t), second * 1000);
            assert_eq!(t.drain_histories.len(), 1, "only the weight-0 one");
        }
        let mut t = table(0, 10);
        tracker.update(Some(&mut t), 20_000);
        assert_eq!(
            t.drain_histories[0].samples.len(),
            3,
            "a read at the same instant counts once"
        );
        let draining = draining_backends(&t);
        assert_eq!(draining.len(), 1);
        let d = &draining[0];
        assert_eq!(d.address, "10.1.0.1".parse::<IpAddr>().unwrap());
        assert_eq!((d.active_connections, d.inactive_connections), (10, 2));
        assert_eq!(d.persistent_connections, Some(4));
        assert_eq!(d.inactive_expire_seconds, Some(120), "tcpfin 30 < 2 min");
        assert_eq!(d.templates_expire_seconds, Some(300));
        match d.estimate {
            DrainEstimate::Seconds(s) => assert!((s - 10.0).abs() < 1e-6, "{s}"),
            other => panic!("{other:?}"),
        }
        // Weight back up: forgotten, and a new drain starts from nothing.
        let mut t = table(1, 10);
        tracker.update(Some(&mut t), 30_000);
        assert!(t.drain_histories.is_empty());
        assert!(draining_backends(&t).is_empty());
        let mut t = table(0, 10);
        tracker.update(Some(&mut t), 40_000);
        assert_eq!(t.drain_histories[0].samples.len(), 1);
        assert_eq!(
            draining_backends(&t)[0].estimate,
            DrainEstimate::Unknown(NoEstimate::TooFewSamples)
        );
        // Bounded: only the last MAX_SAMPLES are kept.
        for i in 0..40 {
            let mut t = table(0, 100 - i);
            tracker.update(Some(&mut t), 50_000 + i as u64 * 1000);
            assert!(t.drain_histories[0].samples.len() <= MAX_SAMPLES);
        }
        // Departed: the real server left the table.
        let mut t = table(0, 1);
        t.services[0].backends.remove(0);
        tracker.update(Some(&mut t), 100_000);
        assert!(t.drain_histories.is_empty());
        // No IPVS: everything forgotten.
        let mut t = table(0, 5);
        tracker.update(Some(&mut t), 101_000);
        tracker.update(None, 102_000);
        let mut t = table(0, 4);
        tracker.update(Some(&mut t), 103_000);
        assert_eq!(t.drain_histories[0].samples.len(), 1);
    }

    #[test]
    fn under_procfs_templates_are_unknown_and_so_are_timeouts() {
        let mut t = table(0, 0);
        t.source = IpvsSource::Procfs;
        t.timeouts = None;
        t.services[0].persistence = None;
        let d = &draining_backends(&t)[0];
        assert_eq!(d.persistent_connections, None);
        assert_eq!(d.inactive_expire_seconds, None);
        assert_eq!(d.templates_expire_seconds, None);
        assert_eq!(d.estimate, DrainEstimate::Empty);
        assert!(
            d.describe_left().contains("templates unknown"),
            "{}",
            d.describe_left()
        );
    }

    /// Every real server of a 5,000-real-server table draining: the tracker follows at most
    /// MAX_TRACKED, each with at most MAX_SAMPLES samples, however many collections pass.
    /// Sizes are printed for docs/performance.md (`cargo test --lib drain_state -- --nocapture`).
    #[test]
    fn drain_state_is_bounded_whatever_drains() {
        use super::super::{Backend, ForwardMethod, Service};
        let mut table = IpvsTable {
            services: (0..500u32)
                .map(|s| Service {
                    backends: (0..10u32)
                        .map(|d| {
                            Backend::new(
                                std::net::Ipv4Addr::from(0x0a00_0000 + s * 10 + d).into(),
                                80,
                                ForwardMethod::Masq,
                            )
                        })
                        .collect(),
                    ..Service::new(
                        ServiceKey::FirewallMark {
                            mark: s + 1,
                            family: None,
                        },
                        "wlc",
                    )
                })
                .collect(),
            ..IpvsTable::default()
        };
        let mut tracker = DrainTracker::default();
        for collection in 0..30u64 {
            tracker.update(Some(&mut table), collection * 15_000);
        }
        assert_eq!(tracker.histories.len(), MAX_TRACKED);
        assert!(
            tracker
                .histories
                .values()
                .all(|samples| samples.len() == MAX_SAMPLES)
        );
        let entry = std::mem::size_of::<(Key, Vec<ActiveSample>)>() + 1;
        let buckets = (tracker.histories.capacity() * 8)
            .div_ceil(7)
            .next_power_of_two();
        let samples: usize = tracker
            .histories
            .values()
            .map(|s| s.capacity() * std::mem::size_of::<ActiveSample>())
            .sum();
        let total = buckets * entry + samples;
        eprintln!(
            "drain tracker at its bound ({MAX_TRACKED} real servers): {total} B, \
             {} B per tracked real server (entry {entry} B, samples {} B)",
            total / MAX_TRACKED,
            samples / MAX_TRACKED
        );
        assert!(samples / MAX_TRACKED <= 2 * MAX_SAMPLES * std::mem::size_of::<ActiveSample>());
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(whole_duration(0.2), "1s");
        assert_eq!(whole_duration(45.0), "45s");
        assert_eq!(whole_duration(150.0), "2m30s");
        assert_eq!(whole_duration(3900.0), "1h05m");
        assert_eq!(whole_duration(f64::NAN), "0s");
    }
}
