//! Gathers one [`Snapshot`] from all enabled collectors: in parallel, each on a blocking thread
//! under a timeout. Concurrent scrapes share one in-flight gather instead of reading the kernel
//! twice. Nothing a collector does (error, panic, hang) fails the gather.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::model::snapshot::{CollectorReport, Outcome, Snapshot};
use crate::source::{Collected, Collector, Enabled};
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};

/// Adds a collector's result to the snapshot: what it read into its field (through the
/// collector's [`crate::source::SnapshotPart`]), and how it fared.
fn absorb(
    snapshot: &mut Snapshot,
    name: &'static str,
    result: Result<Collected, Outcome>,
    duration: Duration,
) {
    let (outcome, problems) = match result {
        Ok(Collected { data, problems }) => (data.store_into(snapshot), problems),
        Err(outcome) => (outcome, Vec::new()),
    };
    snapshot.collectors.push(CollectorReport {
        name,
        outcome,
        duration,
        problems,
    });
}

/// An enabled collector with its "still running" flag: set while a run is under way (even
/// one a scrape gave up on), so a scrape never starts a second run of the same collector.
struct CollectorWithRunningFlag {
    name: &'static str,
    collector: Box<dyn Collector>,
    running: AtomicBool,
}

type SharedGather = Shared<BoxFuture<'static, Arc<Snapshot>>>;

/// Runs the enabled collectors; cheap to share between connections.
pub struct Gatherer {
    collectors: Arc<Vec<Arc<CollectorWithRunningFlag>>>,
    timeout: Duration,
    in_flight: Mutex<Option<SharedGather>>,
}

impl Gatherer {
    pub fn new(collectors: Vec<Enabled>, timeout: Duration) -> Self {
        let collectors = collectors
            .into_iter()
            .map(|Enabled { name, collector }| {
                Arc::new(CollectorWithRunningFlag {
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
    /// A finished gather is not kept: its snapshot is freed when the last scrape that encodes
    /// it ends, not held until the next scrape (a large table's snapshot is tens of MB).
    pub async fn gather(&self) -> Arc<Snapshot> {
        let shared = {
            let mut slot = self.slot();
            match slot.as_ref() {
                Some(running) if running.peek().is_none() => running.clone(),
                _ => {
                    let started = self.start();
                    *slot = Some(started.clone());
                    started
                }
            }
        };
        let snapshot = shared.await;
        let mut slot = self.slot();
        if slot.as_ref().is_some_and(|gather| gather.peek().is_some()) {
            *slot = None;
        }
        snapshot
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<SharedGather>> {
        match self.in_flight.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
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
                        absorb(
                            &mut snapshot,
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

async fn gather_all(
    collectors: Arc<Vec<Arc<CollectorWithRunningFlag>>>,
    timeout: Duration,
) -> Snapshot {
    let runs = collectors.iter().map(|entry| {
        let entry = Arc::clone(entry);
        async move {
            let name = entry.name;
            let started = Instant::now();
            let result = run_one(entry, timeout).await;
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
        absorb(&mut snapshot, name, result, duration);
    }
    snapshot
}

async fn run_one(
    entry: Arc<CollectorWithRunningFlag>,
    timeout: Duration,
) -> Result<Collected, Outcome> {
    if entry.running.swap(true, Ordering::AcqRel) {
        return Err(Outcome::StillRunning);
    }
    let handle = tokio::task::spawn_blocking(move || {
        // Cleared when the run ends, even by a panic, even after the scrape gave up on it.
        let _running = RunningFlag(&entry.running);
        entry.collector.collect()
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;
    use crate::source::{CollectedData, SourceError};

    /// Counts its runs; each takes a moment, so that callers can arrive during one.
    struct CountedRuns(Arc<AtomicUsize>);

    impl Collector for CountedRuns {
        fn collect(&self) -> Result<Collected, SourceError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(200));
            Ok(Collected {
                data: CollectedData::NoData {
                    reason: "counted".into(),
                },
                problems: Vec::new(),
            })
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn callers_share_a_gather_and_its_snapshot_is_freed_when_they_are_done() {
        let runs = Arc::new(AtomicUsize::new(0));
        let gatherer = Gatherer::new(
            vec![Enabled {
                name: "counted",
                collector: Box::new(CountedRuns(Arc::clone(&runs))),
            }],
            Duration::from_secs(10),
        );
        let (first, second) = tokio::join!(gatherer.gather(), gatherer.gather());
        assert!(Arc::ptr_eq(&first, &second), "one gather for both");
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        let kept = Arc::downgrade(&first);
        drop((first, second));
        assert!(
            kept.upgrade().is_none(),
            "the gatherer holds no finished snapshot once its callers dropped it"
        );
        let third = gatherer.gather().await;
        assert_eq!(
            runs.load(Ordering::SeqCst),
            2,
            "a later caller gathers again"
        );
        assert_eq!(third.collectors.len(), 1);
    }
}
