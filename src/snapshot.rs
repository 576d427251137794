//! Gathers one [`Snapshot`] from all enabled collectors: in parallel, each on a blocking thread
//! under a timeout. Concurrent scrapes share one in-flight gather instead of reading the kernel
//! twice. Nothing a collector does (error, panic, hang) fails the gather.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use serde::{Deserialize, Serialize};

use crate::model::IpvsTable;
use crate::model::conntrack::Conntrack;
use crate::model::keepalived::Keepalived;
use crate::model::netdev::NetDevices;
use crate::model::softnet::SoftnetCpu;
use crate::model::sysctl::Sysctls;
use crate::source::{Collected, CollectedData, Collector, Enabled, NamespaceTable};

/// How one collector fared in a gather.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", content = "detail", rename_all = "snake_case")]
pub enum Outcome {
    /// Data was read.
    Ok,
    /// The subsystem is absent; the collector ran fine.
    NoData(String),
    /// The collector failed; the reason.
    Failed(String),
    /// The collector did not answer within the timeout.
    TimedOut,
    /// The previous run of this collector has not returned yet, so it was not started again.
    StillRunning,
}

impl Outcome {
    /// Whether the collector did its job (found data, or found that there is none).
    pub fn succeeded(&self) -> bool {
        matches!(self, Outcome::Ok | Outcome::NoData(_))
    }
}

/// One collector's part of a gather.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CollectorReport {
    pub name: &'static str,
    pub outcome: Outcome,
    #[serde(serialize_with = "seconds")]
    pub duration: Duration,
    /// Records that were skipped because they could not be parsed.
    pub problems: Vec<String>,
}

fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// Everything one scrape knows about the host. Plain data, read by encoders and the advisor;
/// it reads back from JSON too, which is how the advisor's rules get their fixtures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Snapshot {
    /// The IPVS table; `None` when IPVS is absent or its collector is off or failed.
    pub ipvs: Option<IpvsTable>,
    /// IPVS in the other network namespaces the exporter was asked to read.
    pub ipvs_namespaces: Vec<NamespaceTable>,
    /// Connection tracking; `None` when absent or not collected.
    pub conntrack: Option<Conntrack>,
    /// Per-CPU packet processing; empty when not collected.
    pub softnet: Vec<SoftnetCpu>,
    /// Network devices; `None` when not collected.
    pub netdev: Option<NetDevices>,
    /// The kernel settings the advisor checks; `None` when not collected.
    pub sysctl: Option<Sysctls>,
    /// Links and addresses of the exporter's network namespace; `None` when not collected.
    pub interfaces: Option<crate::model::interfaces::Interfaces>,
    /// keepalived and its VRRP instances; `None` when not configured or not collected.
    pub keepalived: Option<Keepalived>,
    /// One report per enabled collector, in registration order.
    #[serde(skip_deserializing)]
    pub collectors: Vec<CollectorReport>,
}

impl Snapshot {
    /// Adds a collector's result to the snapshot.
    pub fn absorb(
        &mut self,
        name: &'static str,
        result: Result<Collected, Outcome>,
        duration: Duration,
    ) {
        let (outcome, problems) = match result {
            Ok(Collected { data, problems }) => (self.store(data), problems),
            Err(outcome) => (outcome, Vec::new()),
        };
        self.collectors.push(CollectorReport {
            name,
            outcome,
            duration,
            problems,
        });
    }

    /// Whether the ipvs collector ran in this gather, whatever it found (the metrics tell
    /// "IPVS is absent" from "not read").
    pub fn ipvs_collector_ran(&self) -> bool {
        self.collectors
            .iter()
            .any(|c| c.name == crate::source::ipvs::COLLECTOR.name)
    }

    /// Puts what a collector read into its field. The match is exhaustive: a new
    /// [`CollectedData`] variant does not compile until it has a field here.
    fn store(&mut self, data: CollectedData) -> Outcome {
        match data {
            CollectedData::NoData { reason } => return Outcome::NoData(reason),
            CollectedData::Ipvs(reading) => {
                self.ipvs = reading.table;
                self.ipvs_namespaces = reading.namespaces;
            }
            CollectedData::Conntrack(conntrack) => self.conntrack = Some(*conntrack),
            CollectedData::Softnet(cpus) => self.softnet = cpus,
            CollectedData::Netdev(devices) => self.netdev = Some(*devices),
            CollectedData::Sysctl(sysctls) => self.sysctl = Some(*sysctls),
            CollectedData::Interfaces(interfaces) => self.interfaces = Some(*interfaces),
            CollectedData::Keepalived(keepalived) => self.keepalived = Some(*keepalived),
        }
        Outcome::Ok
    }
}

struct Guarded {
    name: &'static str,
    collector: Box<dyn Collector>,
    running: AtomicBool,
}

type SharedGather = Shared<BoxFuture<'static, Arc<Snapshot>>>;

/// Runs the enabled collectors; cheap to share between connections.
pub struct Gatherer {
    collectors: Arc<Vec<Arc<Guarded>>>,
    timeout: Duration,
    in_flight: Mutex<Option<SharedGather>>,
}

impl Gatherer {
    pub fn new(collectors: Vec<Enabled>, timeout: Duration) -> Self {
        let collectors = collectors
            .into_iter()
            .map(|Enabled { name, collector }| {
                Arc::new(Guarded {
                    name,
                    collector,
                    running: AtomicBool::new(false),
                })
            })
            .collect();
        Gatherer {
            collectors: Arc::new(collectors),
            timeout,
            in_flight: Mutex::new(None),
        }
    }

    /// Returns a fresh snapshot. A caller that arrives while a gather is under way waits for
    /// that one and shares its result; one that arrives after it finished starts a new one.
    pub async fn gather(&self) -> Arc<Snapshot> {
        let shared = {
            let mut slot = match self.in_flight.lock() {
                Ok(guard) => guard,
                Err(poisoned) => poisoned.into_inner(),
            };
            match slot.as_ref() {
                Some(running) if running.peek().is_none() => running.clone(),
                _ => {
                    let started = self.start();
                    *slot = Some(started.clone());
                    started
                }
            }
        };
        shared.await
    }

    fn start(&self) -> SharedGather {
        let collectors = Arc::clone(&self.collectors);
        let timeout = self.timeout;
        let names: Vec<&'static str> = collectors.iter().map(|g| g.name).collect();
        let task = tokio::spawn(gather_all(collectors, timeout));
        async move {
            match task.await {
                Ok(snapshot) => Arc::new(snapshot),
                Err(err) => {
                    tracing::error!(error = %err, "gather task failed");
                    let mut snapshot = Snapshot::default();
                    for name in names {
                        snapshot.absorb(
                            name,
                            Err(Outcome::Failed(format!("gather task failed: {err}"))),
                            Duration::ZERO,
                        );
                    }
                    Arc::new(snapshot)
                }
            }
        }
        .boxed()
        .shared()
    }
}

async fn gather_all(collectors: Arc<Vec<Arc<Guarded>>>, timeout: Duration) -> Snapshot {
    let runs = collectors.iter().map(|guarded| {
        let guarded = Arc::clone(guarded);
        async move {
            let name = guarded.name;
            let started = Instant::now();
            let result = run_one(guarded, timeout).await;
            (name, result, started.elapsed())
        }
    });
    let results = futures_util::future::join_all(runs).await;
    let mut snapshot = Snapshot::default();
    for (name, result, duration) in results {
        if let Err(outcome) = &result {
            tracing::warn!(collector = name, outcome = ?outcome, "collector did not succeed");
        }
        if let Ok(collected) = &result {
            for problem in &collected.problems {
                tracing::warn!(collector = name, "skipped: {problem}");
            }
        }
        snapshot.absorb(name, result, duration);
    }
    snapshot
}

async fn run_one(guarded: Arc<Guarded>, timeout: Duration) -> Result<Collected, Outcome> {
    if guarded.running.swap(true, Ordering::AcqRel) {
        return Err(Outcome::StillRunning);
    }
    let handle = tokio::task::spawn_blocking(move || {
        // Cleared when the run ends, even by a panic, even after the scrape gave up on it.
        let _running = RunningFlag(&guarded.running);
        guarded.collector.collect()
    });
    match tokio::time::timeout(timeout, handle).await {
        Err(_elapsed) => Err(Outcome::TimedOut),
        Ok(Err(join_error)) => Err(Outcome::Failed(format!("collector panicked: {join_error}"))),
        Ok(Ok(Err(source_error))) => Err(Outcome::Failed(source_error.to_string())),
        Ok(Ok(Ok(collected))) => Ok(collected),
    }
}

struct RunningFlag<'a>(&'a AtomicBool);

impl Drop for RunningFlag<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}
