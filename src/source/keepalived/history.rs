//! The VRRP state changes kept across scrapes for the flapping window: each instance's
//! transition counter (from the notify FIFO, or else the JSON dump) read at every scrape, and
//! when it went up, bounded in instances and in changes per instance.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::model::keepalived::{
    Dump, KeepalivedConfig, NotifyReading, RecentTransitions, TransitionSource, VrrpState,
};

/// The most instances and remembered changes per instance the history keeps.
const MAX_HISTORY_INSTANCES: usize = 1024;
const MAX_HISTORY_CHANGES: usize = 256;

/// When each instance changed state, as far as the exporter saw: counters read at each scrape
/// (the notify FIFO's transition counts, or the JSON dump's become_master + release_master);
/// an increase by N records N changes at the time of the read. Bounded in instances and in
/// changes per instance.
#[derive(Debug, Default)]
pub(super) struct TransitionHistory {
    source: Option<TransitionSource>,
    /// Each instance's counter at the last read.
    totals: BTreeMap<String, u64>,
    changes: BTreeMap<String, VecDeque<Instant>>,
}

impl TransitionHistory {
    /// Takes one read of the counters. The FIFO counts from zero (since the exporter started),
    /// so its first read counts in full; the JSON dump's counters run since keepalived
    /// started, so their first read (or a counter that went down: keepalived restarted) only
    /// sets where counting starts. A change of source starts the history anew.
    fn observe(&mut self, source: TransitionSource, counters: &[(String, u64)], now: Instant) {
        if self.source != Some(source) {
            *self = TransitionHistory {
                source: Some(source),
                ..TransitionHistory::default()
            };
        }
        for (instance, &total) in counters.iter().map(|(i, t)| (i, t)) {
            let previous = match self.totals.get(instance) {
                Some(&previous) if previous <= total => previous,
                Some(_) => total,
                None if source == TransitionSource::NotifyFifo => 0,
                None => total,
            };
            if !self.totals.contains_key(instance) && self.totals.len() >= MAX_HISTORY_INSTANCES {
                continue;
            }
            self.totals.insert(instance.clone(), total);
            let new = usize::try_from(total - previous).unwrap_or(usize::MAX);
            if new == 0 {
                continue;
            }
            let times = self.changes.entry(instance.clone()).or_default();
            for _ in 0..new.min(MAX_HISTORY_CHANGES) {
                if times.len() >= MAX_HISTORY_CHANGES {
                    times.pop_front();
                }
                times.push_back(now);
            }
        }
    }

    /// Changes per instance within `window` before `now`, for `instances` and every instance
    /// the history holds, sorted; older changes are forgotten.
    fn recent(
        &mut self,
        instances: &[String],
        window: Duration,
        now: Instant,
    ) -> Vec<(String, u64)> {
        for times in self.changes.values_mut() {
            while times
                .front()
                .is_some_and(|t| now.saturating_duration_since(*t) > window)
            {
                times.pop_front();
            }
        }
        let mut counts: BTreeMap<String, u64> = instances
            .iter()
            .take(MAX_HISTORY_INSTANCES)
            .map(|name| (name.clone(), 0))
            .collect();
        for (name, times) in &self.changes {
            counts.insert(name.clone(), u64::try_from(times.len()).unwrap_or(u64::MAX));
        }
        counts.into_iter().collect()
    }
}

/// Each instance's transition counter: the FIFO's transitions summed over states, or the
/// JSON dump's become_master + release_master.
fn transition_counters(
    notify: Option<&NotifyReading>,
    dump: Option<&Dump>,
) -> Option<(TransitionSource, Vec<(String, u64)>)> {
    if let Some(notify) = notify {
        let mut sums: BTreeMap<String, u64> = BTreeMap::new();
        // Only the changes into MASTER: keepalived's start announces BACKUP then MASTER, and
        // one failover adds a FAULT or BACKUP; neither is flapping.
        for (instance, state, times) in &notify.transitions {
            let sum = sums.entry(instance.clone()).or_default();
            if *state == VrrpState::Master {
                *sum = sum.saturating_add(*times);
            }
        }
        return Some((TransitionSource::NotifyFifo, sums.into_iter().collect()));
    }
    let dump = dump?;
    let counters = dump
        .instances
        .iter()
        .map(|instance| {
            let stat = |name: &str| {
                instance
                    .stats
                    .iter()
                    .find(|(k, _)| k == name)
                    .map_or(0, |(_, v)| *v)
            };
            (instance.name.clone(), stat("become_master"))
        })
        .collect();
    Some((TransitionSource::JsonDump, counters))
}

/// This scrape's counters taken into `history`, and the changes of each of the
/// configuration's instances (and any other the history holds) within `window`; `None`
/// without a FIFO reading or a JSON dump.
pub(super) fn recent_transitions(
    history: &Mutex<TransitionHistory>,
    notify: Option<&NotifyReading>,
    dump: Option<&Dump>,
    config: &KeepalivedConfig,
    window: Duration,
) -> Option<RecentTransitions> {
    transition_counters(notify, dump).map(|(source, counters)| {
        let now = Instant::now();
        let names: Vec<String> = config.instances.iter().map(|i| i.name.clone()).collect();
        let mut history = history
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        history.observe(source, &counters, now);
        RecentTransitions {
            window_seconds: window.as_secs_f64(),
            source,
            instances: history.recent(&names, window, now),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minutes(n: u64) -> Duration {
        Duration::from_secs(60 * n)
    }

    fn counters(pairs: &[(&str, u64)]) -> Vec<(String, u64)> {
        pairs.iter().map(|(n, c)| ((*n).to_string(), *c)).collect()
    }

    #[test]
    fn the_fifo_counts_from_zero_and_changes_leave_the_window() {
        let mut history = TransitionHistory::default();
        let start = Instant::now();
        let names = vec!["VI_1".to_string(), "VI_2".to_string()];
        history.observe(
            TransitionSource::NotifyFifo,
            &counters(&[("VI_1", 2)]),
            start,
        );
        assert_eq!(
            history.recent(&names, minutes(10), start),
            counters(&[("VI_1", 2), ("VI_2", 0)])
        );
        let later = start + minutes(6);
        history.observe(
            TransitionSource::NotifyFifo,
            &counters(&[("VI_1", 5)]),
            later,
        );
        assert_eq!(
            history.recent(&names, minutes(10), later),
            counters(&[("VI_1", 5), ("VI_2", 0)])
        );
        // the first two are 11 minutes old at +11, the last three 5
        let after = start + minutes(11);
        assert_eq!(
            history.recent(&names, minutes(10), after),
            counters(&[("VI_1", 3), ("VI_2", 0)])
        );
        assert_eq!(
            history.recent(&names, minutes(10), after + minutes(6)),
            counters(&[("VI_1", 0), ("VI_2", 0)])
        );
    }

    #[test]
    fn the_json_counters_first_set_a_baseline_and_a_restart_sets_a_new_one() {
        let mut history = TransitionHistory::default();
        let t0 = Instant::now();
        let names = vec!["VI_1".to_string()];
        history.observe(TransitionSource::JsonDump, &counters(&[("VI_1", 40)]), t0);
        assert_eq!(
            history.recent(&names, minutes(10), t0),
            counters(&[("VI_1", 0)])
        );
        history.observe(
            TransitionSource::JsonDump,
            &counters(&[("VI_1", 43)]),
            t0 + minutes(1),
        );
        assert_eq!(
            history.recent(&names, minutes(10), t0 + minutes(1)),
            counters(&[("VI_1", 3)])
        );
        // keepalived restarted: its counters start again from 1
        history.observe(
            TransitionSource::JsonDump,
            &counters(&[("VI_1", 1)]),
            t0 + minutes(2),
        );
        history.observe(
            TransitionSource::JsonDump,
            &counters(&[("VI_1", 2)]),
            t0 + minutes(3),
        );
        assert_eq!(
            history.recent(&names, minutes(10), t0 + minutes(3)),
            counters(&[("VI_1", 4)])
        );
        // the FIFO appears: a new history
        history.observe(
            TransitionSource::NotifyFifo,
            &counters(&[("VI_1", 1)]),
            t0 + minutes(4),
        );
        assert_eq!(
            history.recent(&names, minutes(10), t0 + minutes(4)),
            counters(&[("VI_1", 1)])
        );
    }

    #[test]
    fn the_history_is_bounded() {
        let mut history = TransitionHistory::default();
        let now = Instant::now();
        history.observe(
            TransitionSource::NotifyFifo,
            &counters(&[("VI_1", u64::MAX)]),
            now,
        );
        assert_eq!(
            history.recent(&[], minutes(10), now),
            counters(&[("VI_1", MAX_HISTORY_CHANGES as u64)])
        );
        let many: Vec<(String, u64)> = (0..MAX_HISTORY_INSTANCES + 10)
            .map(|i| (format!("VI_{i}"), 1))
            .collect();
        history.observe(TransitionSource::JsonDump, &many, now);
        history.observe(
            TransitionSource::JsonDump,
            &many
                .iter()
                .map(|(n, c)| (n.clone(), c + 1))
                .collect::<Vec<_>>(),
            now,
        );
        assert_eq!(
            history.recent(&[], minutes(10), now).len(),
            MAX_HISTORY_INSTANCES
        );
    }

    #[test]
    fn only_changes_into_master_count_and_the_fifo_wins_over_the_json_counters() {
        let notify = NotifyReading {
            transitions: vec![
                (
                    "VI_1".into(),
                    crate::model::keepalived::VrrpState::Backup,
                    2,
                ),
                (
                    "VI_1".into(),
                    crate::model::keepalived::VrrpState::Master,
                    3,
                ),
            ],
            ..NotifyReading::default()
        };
        let dump = Dump {
            age_seconds: 0.0,
            instances: vec![crate::model::keepalived::DumpInstance {
                name: "VI_1".into(),
                stats: vec![
                    ("become_master".into(), 4),
                    ("release_master".into(), 3),
                    ("advert_rcvd".into(), 99),
                ],
                ..Default::default()
            }],
        };
        assert_eq!(
            transition_counters(Some(&notify), Some(&dump)),
            Some((TransitionSource::NotifyFifo, counters(&[("VI_1", 3)])))
        );
        assert_eq!(
            transition_counters(None, Some(&dump)),
            Some((TransitionSource::JsonDump, counters(&[("VI_1", 4)])))
        );
        assert_eq!(transition_counters(None, None), None);
    }
}
