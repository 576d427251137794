//! Backlogs and queues: what the kernel holds before it drops (the kernel's ip-sysctl and
//! net sysctl documentation; softnet_stat).

use super::ipvs::kernel_version;
use super::{Applies, Context, Rule, Skip, missing_sysctl};
use crate::advisor::{Role, Severity};

/// A sysctl that is a whole number, or the check to return: skipped, saying why it is missing
/// (see [`missing_sysctl`]) or that it is no number.
fn number(context: &Context, key: &str) -> Result<i64, Skip> {
    let sysctls = context.sysctls()?;
    match sysctls.get(key) {
        None => Err(Skip(missing_sysctl(sysctls, key))),
        Some(text) => sysctls
            .number(key)
            .ok_or_else(|| Skip(format!("{key} is not a number: {text:?}"))),
    }
}

/// The kernel's defaults, which a director should not go below.
const KERNEL_DEFAULT_BACKLOG: i64 = 1000;
const KERNEL_DEFAULT_BUDGET: i64 = 300;
/// net.core.somaxconn's default from kernel 5.4 on (128 before).
const KERNEL_DEFAULT_SOMAXCONN: i64 = 4096;

fn is_director(context: &Context) -> bool {
    context.roles.iter().any(|r| r.is_director())
}

pub static NETDEV_MAX_BACKLOG: Rule = Rule {
    id: "netdev-max-backlog",
    severity: Severity::Warning,
    applies: &[Applies::AnyHost],
    what: "net.core.netdev_max_backlog is at least 5000 where a CPU's backlog has \
           overflowed (softnet dropped) and on directors, and never below the kernel's default \
           (1000) on a director.",
    why: "Packets wait in a per-CPU backlog of net.core.netdev_max_backlog (default 1000) \
          before the stack handles them; when it is full they are dropped and counted in \
          /proc/net/softnet_stat's second column. Load balancer guides raise it to 5000; \
          bpftune grows it when drops appear. The setting is host-wide and the kernel shows it \
          only in the initial network namespace: doctor run in another one (a container, `ip \
          netns exec`) skips this rule and says so.",
    severity_why: "A warning: a full backlog drops packets that the director has already accepted, \
          but raising it is safe and only needs memory. Drops counted since boot, or a backlog \
          under the kernel's default of 1000 on a director, are warnings; a backlog between 1000 \
          and 5000 on a director that has not dropped yet is info, since the default is what most \
          hosts run with.",
    fix: "sysctl -w net.core.netdev_max_backlog=5000 (or double what drops at), and the line \
          `net.core.netdev_max_backlog = 5000` in /etc/sysctl.d/90-ipvs.conf.",
    check: |context| {
        let backlog = number(context, "net.core.netdev_max_backlog")?;
        let key = "net.core.netdev_max_backlog";
        // Without softnet_stat nothing says whether a backlog overflowed: that is said, not
        // taken for "no drops".
        let softnet_read = !context.snapshot.softnet.is_empty();
        let dropped: u64 = context.snapshot.softnet.iter().map(|c| c.dropped).sum();
        let wanted = (backlog * 2).max(5000).to_string();
        // The drop counters run since boot: once the backlog has been raised to what this
        // rule asks for, old drops say nothing more (the alert rules watch their rate).
        if dropped > 0 && backlog < 5000 {
            return Ok(vec![NETDEV_MAX_BACKLOG.sysctl_finding(
                key,
                &backlog.to_string(),
                &wanted,
                format!("{dropped} packets dropped because a CPU's backlog was full"),
            )]);
        }
        if context.roles.iter().any(|r| r.is_director()) && backlog < 5000 {
            // Below the kernel's own default a director is worse off than a stock host: a
            // warning before anything is dropped. Between the default and 5000, advice.
            let below_default = backlog < KERNEL_DEFAULT_BACKLOG;
            let drops = if softnet_read {
                "no drops yet"
            } else {
                "drops unknown: softnet_stat could not be read"
            };
            let mut finding = NETDEV_MAX_BACKLOG.sysctl_finding(
                key,
                &backlog.to_string(),
                "5000",
                if below_default {
                    format!(
                        "a backlog below the kernel's default ({KERNEL_DEFAULT_BACKLOG}) on a \
                         director ({drops})"
                    )
                } else {
                    format!("a short backlog for a director ({drops})")
                },
            );
            finding.severity = if below_default {
                Severity::Warning
            } else {
                Severity::Info
            };
            return Ok(vec![finding]);
        }
        if !softnet_read && backlog < 5000 {
            return Err(Skip(
                "/proc/net/softnet_stat could not be read: whether a CPU's backlog overflowed \
                 is unknown"
                    .into(),
            ));
        }
        Ok(Vec::new())
    },
};

pub static NETDEV_BUDGET: Rule = Rule {
    id: "netdev-budget",
    severity: Severity::Info,
    applies: &[Applies::AnyHost],
    what: "net.core.netdev_budget is raised (600 or more) where the receive softirq has run \
           out of budget (softnet time_squeezed above 0), and not below the kernel's default \
           (300) on a director.",
    why: "Each softirq run handles at most net.core.netdev_budget packets (default 300) or \
          net.core.netdev_budget_usecs microseconds (2000); when work is left it stops and \
          counts a squeeze, and packets wait longer (or overflow the backlog).",
    severity_why: "Info when the receive softirq has run out of budget at the kernel's default \
          (300): squeezes delay packets rather than drop them. A budget set below the default on a \
          director is a warning, even before any squeeze: someone shortened what the kernel ships \
          with, and a director needs more of it, not less.",
    fix: "sysctl -w net.core.netdev_budget=600 and net.core.netdev_budget_usecs=4000, and \
          those lines in /etc/sysctl.d/90-ipvs.conf; watch ipvs_softnet_times_squeezed_total.",
    check: |context| {
        // Never the kernel's default in its place: an unread budget is said to be unread.
        let budget = number(context, "net.core.netdev_budget")?;
        if is_director(context) && budget < KERNEL_DEFAULT_BUDGET {
            let mut finding = NETDEV_BUDGET.sysctl_finding(
                "net.core.netdev_budget",
                &budget.to_string(),
                "600",
                format!(
                    "a receive budget below the kernel's default ({KERNEL_DEFAULT_BUDGET}) on a \
                     director"
                ),
            );
            finding.severity = Severity::Warning;
            return Ok(vec![finding]);
        }
        if context.snapshot.softnet.is_empty() {
            return Err(Skip("no softnet data".into()));
        }
        let squeezed: u64 = context
            .snapshot
            .softnet
            .iter()
            .map(|c| c.time_squeezed)
            .sum();
        if squeezed == 0 {
            return Ok(Vec::new());
        }
        // Squeezes count since boot: once the budget is raised, old ones say nothing more.
        if budget >= 600 {
            return Ok(Vec::new());
        }
        let mut finding = NETDEV_BUDGET.sysctl_finding(
            "net.core.netdev_budget",
            &budget.to_string(),
            "600",
            format!("the receive softirq ran out of budget {squeezed} times"),
        );
        if budget < KERNEL_DEFAULT_BUDGET {
            finding.severity = Severity::Warning;
        }
        Ok(vec![finding])
    },
};

pub static SOMAXCONN: Rule = Rule {
    id: "somaxconn",
    severity: Severity::Warning,
    applies: &[Applies::Role(Role::NatDirector)],
    what: "net.core.somaxconn is at least 1024 where local services listen, and not below \
           the kernel's own default (4096 from 5.4).",
    why: "It caps every listening socket's accept queue; under a burst a full queue drops \
          connections. The default is 4096 since kernel 5.4 and 128 before. It matters for \
          local listeners (real servers, health endpoints), not for IPVS forwarding itself.",
    severity_why: "A warning: a short accept queue drops connections to local listeners under \
          bursts, which clients see as timeouts, but it does not touch what IPVS forwards.",
    fix: "sysctl -w net.core.somaxconn=4096, and the line `net.core.somaxconn = 4096` in \
          /etc/sysctl.d/90-ipvs.conf (the service must also ask for a long backlog).",
    check: |context| {
        let n = number(context, "net.core.somaxconn")?;
        // From 5.4 the kernel's own default is 4096: less than that was set on purpose.
        let release = context
            .snapshot
            .sysctl
            .as_ref()
            .and_then(|s| s.get("kernel.osrelease"))
            .and_then(kernel_version);
        let floor = match release {
            Some(version) if version >= (5, 4) => KERNEL_DEFAULT_SOMAXCONN,
            _ => 1024,
        };
        if n >= floor {
            return Ok(Vec::new());
        }
        let summary = if floor == KERNEL_DEFAULT_SOMAXCONN {
            format!(
                "listening sockets accept at most {n} pending connections, below this \
                 kernel's default ({KERNEL_DEFAULT_SOMAXCONN})"
            )
        } else {
            format!("listening sockets accept at most {n} pending connections")
        };
        Ok(vec![SOMAXCONN.sysctl_finding(
            "net.core.somaxconn",
            &n.to_string(),
            "4096",
            summary,
        )])
    },
};

pub static TCP_MAX_SYN_BACKLOG: Rule = Rule {
    id: "tcp-max-syn-backlog",
    severity: Severity::Info,
    applies: &[Applies::Role(Role::NatDirector)],
    what: "net.ipv4.tcp_max_syn_backlog is at least 4096 where local services listen.",
    why: "Half-open connections of local listeners wait in the SYN backlog; a short one drops \
          SYNs under bursts (or falls back to SYN cookies). Guides for busy hosts use 4096.",
    severity_why: "Info: under load SYN cookies take over when the SYN backlog is full, so a short \
          one costs TCP options, not connections.",
    fix: "sysctl -w net.ipv4.tcp_max_syn_backlog=4096, and the line \
          `net.ipv4.tcp_max_syn_backlog = 4096` in /etc/sysctl.d/90-ipvs.conf.",
    check: |context| match number(context, "net.ipv4.tcp_max_syn_backlog")? {
        n if n >= 4096 => Ok(Vec::new()),
        n => Ok(vec![TCP_MAX_SYN_BACKLOG.sysctl_finding(
            "net.ipv4.tcp_max_syn_backlog",
            &n.to_string(),
            "4096",
            format!("at most {n} half-open connections per listener"),
        )]),
    },
};

pub static TCP_SYNCOOKIES: Rule = Rule {
    id: "tcp-syncookies",
    severity: Severity::Warning,
    applies: &[Applies::AnyHost],
    what: "net.ipv4.tcp_syncookies is 1.",
    why: "SYN cookies keep a host's listeners answering when a SYN flood fills the SYN \
          backlog; without them the flood denies service (ip-sysctl documentation).",
    severity_why: "A warning: without SYN cookies a SYN flood denies service to the host's \
          listeners; with a normal load nothing is lost yet.",
    fix: "sysctl -w net.ipv4.tcp_syncookies=1, and the line `net.ipv4.tcp_syncookies = 1` in \
          /etc/sysctl.d/90-ipvs.conf.",
    check: |context| match number(context, "net.ipv4.tcp_syncookies")? {
        1 => Ok(Vec::new()),
        n => Ok(vec![TCP_SYNCOOKIES.sysctl_finding(
            "net.ipv4.tcp_syncookies",
            &n.to_string(),
            "1",
            "SYN cookies are not always on".into(),
        )]),
    },
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advisor::rules::Check;
    use crate::advisor::rules::testing::{found_subjects, run, sysctls};
    use crate::model::snapshot::Snapshot;
    use crate::model::softnet::SoftnetCpu;

    #[test]
    fn backlog_drops_and_short_backlog() {
        let key = "net.core.netdev_max_backlog";
        let mut snapshot = Snapshot {
            sysctl: Some(sysctls(&[(key, "1000")])),
            softnet: vec![SoftnetCpu {
                dropped: 5,
                ..SoftnetCpu::default()
            }],
            ..Snapshot::default()
        };
        assert_eq!(
            found_subjects(&run(&NETDEV_MAX_BACKLOG, &snapshot, &[])),
            vec![key]
        );
        snapshot.softnet = vec![SoftnetCpu::default()];
        assert_eq!(run(&NETDEV_MAX_BACKLOG, &snapshot, &[]), Check::Pass);
        assert_eq!(
            found_subjects(&run(&NETDEV_MAX_BACKLOG, &snapshot, &[Role::DrDirector])),
            vec![key]
        );
        snapshot.sysctl = Some(sysctls(&[(key, "5000")]));
        assert_eq!(
            run(&NETDEV_MAX_BACKLOG, &snapshot, &[Role::DrDirector]),
            Check::Pass
        );
    }

    fn severities(check: &Check) -> Vec<Severity> {
        match check {
            Check::Found(findings) => findings.iter().map(|f| f.severity).collect(),
            _ => Vec::new(),
        }
    }

    #[test]
    fn below_the_kernels_default_on_a_director_is_a_warning_before_any_drop() {
        let director = [Role::NatDirector];
        let at = |pairs: &[(&str, &str)]| Snapshot {
            sysctl: Some(sysctls(pairs)),
            softnet: vec![SoftnetCpu::default()],
            ..Snapshot::default()
        };
        let backlog = "net.core.netdev_max_backlog";
        assert_eq!(
            severities(&run(
                &NETDEV_MAX_BACKLOG,
                &at(&[(backlog, "500")]),
                &director
            )),
            vec![Severity::Warning]
        );
        assert_eq!(
            severities(&run(
                &NETDEV_MAX_BACKLOG,
                &at(&[(backlog, "1000")]),
                &director
            )),
            vec![Severity::Info]
        );
        let budget = "net.core.netdev_budget";
        assert_eq!(
            severities(&run(&NETDEV_BUDGET, &at(&[(budget, "100")]), &director)),
            vec![Severity::Warning]
        );
        assert_eq!(
            run(&NETDEV_BUDGET, &at(&[(budget, "300")]), &director),
            Check::Pass
        );
        assert_eq!(
            run(&NETDEV_BUDGET, &at(&[(budget, "100")]), &[]),
            Check::Pass
        );
        let somaxconn = "net.core.somaxconn";
        let release = "kernel.osrelease";
        assert_eq!(
            severities(&run(
                &SOMAXCONN,
                &at(&[(somaxconn, "2048"), (release, "6.1.0-56-cloud-amd64")]),
                &director
            )),
            vec![Severity::Warning]
        );
        assert_eq!(
            run(
                &SOMAXCONN,
                &at(&[(somaxconn, "2048"), (release, "4.19.0-21-amd64")]),
                &director
            ),
            Check::Pass
        );
    }

    #[test]
    fn budget_squeezes() {
        let squeezed = vec![SoftnetCpu {
            time_squeezed: 3,
            ..SoftnetCpu::default()
        }];
        let mut snapshot = Snapshot {
            sysctl: Some(sysctls(&[("net.core.netdev_budget", "300")])),
            softnet: squeezed.clone(),
            ..Snapshot::default()
        };
        let check = run(&NETDEV_BUDGET, &snapshot, &[]);
        assert_eq!(found_subjects(&check), vec!["net.core.netdev_budget"]);
        let Check::Found(findings) = check else {
            panic!("a finding")
        };
        assert_eq!(findings[0].observed, "300");
        snapshot.softnet = vec![SoftnetCpu::default()];
        assert_eq!(run(&NETDEV_BUDGET, &snapshot, &[]), Check::Pass);
    }

    /// A budget that was not read is never taken for the kernel's default of 300: the rule
    /// says it could not be read, squeezes or not, director or not.
    #[test]
    fn an_unread_budget_is_said_to_be_unread() {
        for roles in [&[][..], &[Role::NatDirector][..]] {
            let snapshot = Snapshot {
                sysctl: Some(sysctls(&[("net.core.netdev_max_backlog", "1000")])),
                softnet: vec![SoftnetCpu {
                    time_squeezed: 25,
                    ..SoftnetCpu::default()
                }],
                ..Snapshot::default()
            };
            assert_eq!(
                run(&NETDEV_BUDGET, &snapshot, roles),
                Check::Skipped("net.core.netdev_budget could not be read".into())
            );
            let no_sysctls = Snapshot {
                sysctl: None,
                ..snapshot
            };
            assert!(matches!(
                run(&NETDEV_BUDGET, &no_sysctls, roles),
                Check::Skipped(_)
            ));
        }
    }

    /// Without softnet_stat the backlog rule does not claim "no drops".
    #[test]
    fn unread_softnet_is_not_taken_for_no_drops() {
        let backlog = |v: &str| Snapshot {
            sysctl: Some(sysctls(&[("net.core.netdev_max_backlog", v)])),
            ..Snapshot::default()
        };
        let check = run(&NETDEV_MAX_BACKLOG, &backlog("1000"), &[]);
        assert!(
            matches!(&check, Check::Skipped(reason) if reason.contains("softnet_stat could not be read")),
            "{check:?}"
        );
        let Check::Found(findings) =
            run(&NETDEV_MAX_BACKLOG, &backlog("1000"), &[Role::NatDirector])
        else {
            panic!("a short backlog on a director is a finding")
        };
        assert!(
            findings[0]
                .summary
                .contains("drops unknown: softnet_stat could not be read"),
            "{}",
            findings[0].summary
        );
        assert!(!findings[0].summary.contains("no drops yet"));
        assert_eq!(run(&NETDEV_MAX_BACKLOG, &backlog("5000"), &[]), Check::Pass);
    }

    #[test]
    fn a_backlog_hidden_in_a_network_namespace_skips_the_rule_saying_so() {
        // what a namespace other than the initial one shows: somaxconn, not the backlog
        let snapshot = Snapshot {
            sysctl: Some(sysctls(&[("net.core.somaxconn", "4096")])),
            softnet: vec![SoftnetCpu {
                dropped: 5,
                time_squeezed: 3,
                ..SoftnetCpu::default()
            }],
            ..Snapshot::default()
        };
        match run(&NETDEV_MAX_BACKLOG, &snapshot, &[Role::NatDirector]) {
            Check::Skipped(reason) => {
                assert!(
                    reason.starts_with("net.core.netdev_max_backlog"),
                    "{reason}"
                );
                assert!(reason.contains("initial network namespace"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn listener_backlogs_and_syncookies() {
        for (rule, key, bad, good) in [
            (&SOMAXCONN, "net.core.somaxconn", "128", "4096"),
            (
                &TCP_MAX_SYN_BACKLOG,
                "net.ipv4.tcp_max_syn_backlog",
                "512",
                "4096",
            ),
            (&TCP_SYNCOOKIES, "net.ipv4.tcp_syncookies", "0", "1"),
        ] {
            let at = |v: &str| Snapshot {
                sysctl: Some(sysctls(&[(key, v)])),
                ..Snapshot::default()
            };
            assert_eq!(
                found_subjects(&run(rule, &at(bad), &[])),
                vec![key],
                "{}",
                rule.id
            );
            assert_eq!(run(rule, &at(good), &[]), Check::Pass, "{}", rule.id);
        }
    }
}
