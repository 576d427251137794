//! Connection tracking: how full the table is, what it lost, and how its hash is sized
//! (the kernel's nf_conntrack-sysctl documentation).

use super::{Applies, Rule, Skip};
use crate::advisor::Severity;

pub static CONNTRACK_USAGE: Rule = Rule {
    id: "conntrack-usage",
    severity: Severity::Critical,
    applies: &[Applies::AnyHost],
    what: "The conntrack table is below 75 % full (warning from 75 %, critical from 90 %).",
    why: "When nf_conntrack_count reaches nf_conntrack_max the kernel drops new connections \
          ('nf_conntrack: table full, dropping packet'). Common alerting thresholds: 75 % \
          (node-mixin), 80 % for 5 minutes (awesome-prometheus-alerts), 90-95 % critical \
          (Netdata).",
    severity_why: "Critical from 90 % full, warning from 75 %: when the table is full the kernel \
          drops new connections of every service on the host, so the closer it is the sooner an \
          outage.",
    fix: "Raise the limit: sysctl -w net.netfilter.nf_conntrack_max=N (directors commonly run \
          262144 to 1000000; about 300 bytes each), and the line \
          `net.netfilter.nf_conntrack_max = N` in /etc/sysctl.d/90-ipvs.conf; or find what \
          fills the table (conntrack -L).",
    check: |context| {
        let conntrack = context.conntrack()?;
        let (Some(entries), Some(limit)) = (conntrack.entries, conntrack.limit) else {
            return Err(Skip(
                "nf_conntrack_count or nf_conntrack_max missing".into(),
            ));
        };
        if limit == 0 {
            return Err(Skip("nf_conntrack_max is 0".into()));
        }
        let usage = entries as f64 / limit as f64;
        let severity = if usage >= 0.90 {
            Severity::Critical
        } else if usage >= 0.75 {
            Severity::Warning
        } else {
            return Ok(Vec::new());
        };
        let mut finding = CONNTRACK_USAGE.finding(
            "net.netfilter.nf_conntrack_count",
            format!("{entries} of {limit} ({:.0} %)", usage * 100.0),
            "below 75 %",
            format!("the conntrack table is {:.0} % full", usage * 100.0),
        );
        finding.severity = severity;
        Ok(vec![finding])
    },
};

pub static CONNTRACK_DROPS: Rule = Rule {
    id: "conntrack-drops",
    severity: Severity::Warning,
    applies: &[Applies::AnyHost],
    what: "conntrack has not dropped, early-dropped or failed to insert connections.",
    why: "Each of these counters is a connection lost: drop and early_drop when the table was \
          full, insert_failed on races or a full hash chain. Any of them above 0 since boot \
          means it has happened; the alert rules watch their rate.",
    severity_why: "A warning: drops and insert failures have already cost connections, but the \
          counters run since boot and may be old; the alert rules watch their rate.",
    fix: "Raise net.netfilter.nf_conntrack_max (and nf_conntrack_buckets) as for \
          conntrack-usage; check `conntrack -S` and the kernel log for 'table full'.",
    check: |context| {
        let conntrack = context.conntrack()?;
        if conntrack.statistics.is_empty() {
            return Err(Skip(
                "no conntrack statistics (neither ctnetlink nor /proc)".into(),
            ));
        }
        Ok(conntrack
            .statistics
            .iter()
            .filter(|(name, value)| {
                matches!(name.as_str(), "drop" | "early_drop" | "insert_failed") && *value > 0
            })
            .map(|(name, value)| {
                CONNTRACK_DROPS.finding(
                    format!("conntrack {name}"),
                    value.to_string(),
                    "0",
                    format!("conntrack {name} is {value} since boot: connections were lost"),
                )
            })
            .collect::<Vec<_>>())
    },
};

pub static CONNTRACK_HASH_CHAINS: Rule = Rule {
    id: "conntrack-hash-chains",
    severity: Severity::Info,
    applies: &[Applies::AnyHost],
    what: "nf_conntrack_max is at most 8 times nf_conntrack_buckets.",
    why: "A full table with many entries per bucket makes every lookup walk a long chain. \
          The kernel's default makes them equal; kube-proxy uses 4 entries per bucket.",
    severity_why: "Info: long hash chains cost CPU on every packet that is looked up, nothing is \
          dropped because of them.",
    fix: "Raise the buckets with the limit: sysctl -w net.netfilter.nf_conntrack_buckets=N \
          (N about nf_conntrack_max / 4), and the line `net.netfilter.nf_conntrack_buckets = N` \
          in /etc/sysctl.d/90-ipvs.conf (or `options nf_conntrack hashsize=N` in \
          /etc/modprobe.d/).",
    check: |context| {
        let conntrack = context.conntrack()?;
        let (Some(limit), Some(buckets)) = (conntrack.limit, conntrack.buckets) else {
            return Err(Skip(
                "nf_conntrack_max or nf_conntrack_buckets missing".into(),
            ));
        };
        if buckets == 0 || limit <= buckets.saturating_mul(8) {
            return Ok(Vec::new());
        }
        let wanted = (limit / 4).to_string();
        Ok(vec![CONNTRACK_HASH_CHAINS.sysctl_finding(
            "net.netfilter.nf_conntrack_buckets",
            &buckets.to_string(),
            &wanted,
            format!(
                "{} entries per bucket when the table is full",
                limit / buckets
            ),
        )])
    },
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advisor::rules::Check;
    use crate::advisor::rules::testing::{found_subjects, run};
    use crate::model::conntrack::Conntrack;
    use crate::model::snapshot::Snapshot;

    fn with(conntrack: Conntrack) -> Snapshot {
        Snapshot {
            conntrack: Some(conntrack),
            ..Snapshot::default()
        }
    }

    #[test]
    fn usage_thresholds() {
        let at = |entries| {
            run(
                &CONNTRACK_USAGE,
                &with(Conntrack {
                    entries: Some(entries),
                    limit: Some(1000),
                    ..Conntrack::default()
                }),
                &[],
            )
        };
        assert_eq!(at(740), Check::Pass);
        let severity = |check: Check| match check {
            Check::Found(f) => f.first().map(|f| f.severity),
            _ => None,
        };
        assert_eq!(severity(at(750)), Some(Severity::Warning));
        assert_eq!(severity(at(950)), Some(Severity::Critical));
        assert!(matches!(
            run(&CONNTRACK_USAGE, &Snapshot::default(), &[]),
            Check::Skipped(_)
        ));
    }

    #[test]
    fn drops_and_chains() {
        let stats = |drop| Conntrack {
            statistics: vec![
                ("found".into(), 9),
                ("drop".into(), drop),
                ("early_drop".into(), 0),
            ],
            ..Conntrack::default()
        };
        assert_eq!(
            found_subjects(&run(&CONNTRACK_DROPS, &with(stats(3)), &[])),
            vec!["conntrack drop"]
        );
        assert_eq!(run(&CONNTRACK_DROPS, &with(stats(0)), &[]), Check::Pass);
        let sized = |buckets| Conntrack {
            limit: Some(262_144),
            buckets: Some(buckets),
            ..Conntrack::default()
        };
        assert_eq!(
            found_subjects(&run(&CONNTRACK_HASH_CHAINS, &with(sized(16_384)), &[])),
            vec!["net.netfilter.nf_conntrack_buckets"]
        );
        assert_eq!(
            run(&CONNTRACK_HASH_CHAINS, &with(sized(65_536)), &[]),
            Check::Pass
        );
    }
}
