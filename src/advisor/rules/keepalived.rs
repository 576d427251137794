//! keepalived: configured but not running, addresses held by a backup, two masters for one
//! VRRP router, instances that flap, priorities lowered by failed tracking, sync groups split,
//! and notify FIFOs and scripts that keepalived ignores for want of a script user.

use super::{Applies, Rule, Skip};
use crate::advisor::Severity;
use std::collections::BTreeMap;

use crate::model::keepalived::{
    IgnoredUse, Keepalived, TransitionSource, VrrpState, ignored_default_user_uses,
};

/// keepalived as the snapshot shows it; `None` for a host without keepalived's configuration,
/// which is not a keepalived host: these rules have nothing to say about it.
fn keepalived<'a>(context: &'a super::Context) -> Option<&'a Keepalived> {
    context
        .snapshot
        .keepalived
        .as_ref()
        .filter(|k| !k.config.instances.is_empty())
}

pub static NOT_RUNNING: Rule = Rule {
    id: "keepalived-not-running",
    severity: Severity::Critical,
    applies: &[Applies::AnyHost],
    what: "keepalived runs where it is configured with VRRP instances.",
    why: "A configured keepalived that is not running holds no virtual address, answers no \
          VRRP and runs no health check: if this host was the master, its peer takes over only \
          if it runs; if it was the only one, the service is down. The pid file names no live \
          keepalived process.",
    severity_why: "Critical: with keepalived configured but not running, this host neither holds \
          its virtual addresses nor takes them over when the other router fails.",
    fix: "systemctl start keepalived (and systemctl enable keepalived so it starts at boot); \
          `keepalived --config-test` first, and journalctl -u keepalived for why it stopped.",
    check: |context| {
        let Some(keepalived) = keepalived(context) else {
            return Ok(Vec::new());
        };
        if keepalived.config.instances.is_empty() || keepalived.process.running {
            return Ok(Vec::new());
        }
        Ok(vec![NOT_RUNNING.finding(
            keepalived.config_file.clone(),
            format!(
                "{} VRRP instances configured, keepalived not running",
                keepalived.config.instances.len()
            ),
            "keepalived running",
            "keepalived is configured but not running",
        )])
    },
};

pub static VIPS_WHILE_BACKUP: Rule = Rule {
    id: "keepalived-vips-while-backup",
    severity: Severity::Critical,
    applies: &[Applies::AnyHost],
    what: "An instance that keepalived says is BACKUP holds none of its virtual addresses.",
    why: "A backup that still holds the virtual address answers for it beside the master: \
          clients' traffic splits between two directors (ARP flapping) and connections break. \
          keepalived's own state comes from its JSON dump; the addresses from the kernel.",
    severity_why: "Critical: a BACKUP holding its instance's virtual addresses means two hosts \
          answer for the same address, so clients' traffic is split or lost.",
    fix: "Remove the stale address (ip addr del VIP/32 dev IFACE) and find why keepalived did \
          not (a second keepalived, a manual `ip addr add`, a network manager re-adding it).",
    check: |context| {
        let Some(keepalived) = keepalived(context) else {
            return Ok(Vec::new());
        };
        let Some(dump) = &keepalived.dump else {
            return Err(Skip("needs keepalived's JSON dump for its own view".into()));
        };
        Ok(dump
            .instances
            .iter()
            .filter(|i| i.state == Some(VrrpState::Backup))
            .filter_map(|instance| {
                let role = keepalived
                    .roles
                    .iter()
                    .find(|r| r.instance == instance.name)?;
                let held: Vec<String> = role
                    .vips
                    .iter()
                    .filter(|v| v.present)
                    .map(|v| v.address.to_string())
                    .collect();
                (!held.is_empty()).then(|| {
                    VIPS_WHILE_BACKUP.finding(
                        instance.name.clone(),
                        format!("BACKUP holding {}", held.join(", ")),
                        "no virtual address while BACKUP",
                        format!(
                            "{} is BACKUP but holds its virtual addresses",
                            instance.name
                        ),
                    )
                })
            })
            .collect::<Vec<_>>())
    },
};

/// A peer heard within this many seconds is still advertising (a master sends an advert every
/// advert_int, 1 s by default): the alerts' window (`vrrpAdvertWindow`). The listener keeps a
/// peer for five minutes, but one that fell silent (a master that gave up, or crashed without
/// its priority-0 advert) is no second master.
const STILL_ADVERTISING_SECONDS: u64 = 60;

pub static TWO_MASTERS: Rule = Rule {
    id: "vrrp-two-masters",
    severity: Severity::Critical,
    applies: &[Applies::AnyHost],
    what: "No other router advertised in the last minute for a VRRP router this host is master \
           of.",
    why: "Only a master sends VRRP adverts; another sender for the same virtual router while \
          this host holds its addresses is a split brain: both answer for the virtual \
          addresses. Usually VRRP (IP protocol 112 to 224.0.0.18) is blocked between them, or \
          two clusters share a virtual_router_id. Seen with --collector.vrrp.listen.",
    severity_why: "Critical: two masters for one VRRP router both answer for the virtual addresses \
          (split brain); traffic goes to either at random.",
    fix: "Let VRRP through between the peers (nft add rule inet filter input ip protocol vrrp \
          accept, or the iptables equivalent) and make virtual_router_id unique per network.",
    check: |context| {
        let Some(keepalived) = keepalived(context) else {
            return Ok(Vec::new());
        };
        let Some(peers) = &keepalived.peers else {
            return Err(Skip("needs --collector.vrrp.listen".into()));
        };
        Ok(keepalived
            .roles
            .iter()
            .filter(|r| r.state == VrrpState::Master)
            .flat_map(|role| {
                let own: Vec<std::net::IpAddr> = role.vips.iter().map(|v| v.address).collect();
                peers
                    .iter()
                    .filter(move |p| {
                        Some(p.vrid) == role.vrid
                            && p.interface == role.interface
                            && p.priority > 0
                            && p.last_heard_seconds <= STILL_ADVERTISING_SECONDS
                            && !own.contains(&p.source)
                    })
                    .map(move |peer| {
                        TWO_MASTERS.finding(
                            format!("{} vrid {}", role.interface, peer.vrid),
                            format!("{} advertises at priority {}", peer.source, peer.priority),
                            "this host the only master",
                            format!("two masters for {} (VRID {})", role.instance, peer.vrid),
                        )
                    })
            })
            .collect::<Vec<_>>())
    },
};

/// State changes within the window from which an instance counts as flapping.
pub const FLAPPING_TRANSITIONS: u64 = 3;

pub static FLAPPING: Rule = Rule {
    id: "vrrp-flapping",
    severity: Severity::Warning,
    applies: &[Applies::AnyHost],
    what: "No VRRP instance became MASTER 3 times or more within the last 10 minutes.",
    why: "Each VRRP state change moves the virtual addresses: connections through the director \
          that gave them up break (unless connection sync is on), and clients see a burst of \
          resets. An instance that changes state again and again usually has a tracked script \
          that times out now and then, a tracked interface that bounces, or adverts lost \
          between the peers (a congested or filtered link). Counted are the changes into MASTER \
          (from keepalived's notify FIFO, else its JSON dump's become_master counter): a start \
          makes one, a master that fails and recovers one more, so three mean it lost and \
          took the addresses back at least twice.",
    severity_why: "Warning: each change breaks the connections through the director that gives the \
          addresses up; the service stays reachable, but repeated failovers are a fault that \
          will not settle by itself.",
    fix: "Read keepalived's log (journalctl -u keepalived) for the reason of each change: a \
          tracked script that fails (raise its timeout, or its fall/rise), a tracked interface \
          that flaps, or lost adverts (check the link and that VRRP, IP protocol 112, passes \
          between the peers); nopreempt or preempt_delay stop a recovered master from taking \
          the addresses straight back.",
    check: |context| {
        let Some(keepalived) = keepalived(context) else {
            return Ok(Vec::new());
        };
        let Some(recent) = &keepalived.recent_transitions else {
            return Err(Skip(
                "needs keepalived's notify FIFO (--keepalived.notify-fifo) or its JSON dump".into(),
            ));
        };
        let what = match recent.source {
            TransitionSource::NotifyFifo => "changes into MASTER (notify FIFO)",
            TransitionSource::JsonDump => "changes into MASTER (JSON dump)",
        };
        let minutes = recent.window_seconds / 60.0;
        Ok(recent
            .instances
            .iter()
            .filter(|(_, n)| *n >= FLAPPING_TRANSITIONS)
            .map(|(instance, n)| {
                FLAPPING.finding(
                    instance.clone(),
                    format!("{n} {what} in the last {minutes:.0} minutes"),
                    format!("fewer than {FLAPPING_TRANSITIONS}"),
                    format!("{instance} became MASTER {n} times in {minutes:.0} minutes"),
                )
            })
            .collect::<Vec<_>>())
    },
};

pub static PRIORITY_DEGRADED: Rule = Rule {
    id: "vrrp-priority-degraded",
    severity: Severity::Warning,
    applies: &[Applies::AnyHost],
    what: "Every VRRP instance runs at its configured priority: no tracked script or interface \
           with a weight lowered it.",
    why: "keepalived lowers an instance's priority by the weight of each tracked script or \
          interface that fails; below the peer's priority the peer takes the addresses over. A \
          lowered priority means a check this host relies on fails now: a failover has happened \
          or is one further failure away. keepalived's own effective priority comes from its JSON \
          dump, else its data dump (SIGUSR1).",
    severity_why: "Warning: the instance still runs, but a tracked check fails; whether it has \
          already lost MASTER depends on the peer's priority.",
    fix: "Find the failing tracked script or interface: keepalived's log names it \
          (VRRP_Script(NAME) failed); run the script by hand as keepalived's script_user, or \
          check the tracked interface with ip link.",
    check: |context| {
        let Some(keepalived) = keepalived(context) else {
            return Ok(Vec::new());
        };
        // (base, effective) per instance: the JSON dump wins over the data dump
        let mut priorities: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
        if let Some(data) = &keepalived.vrrp_data_dump {
            for i in &data.instances {
                if let (Some(base), Some(effective)) = (i.base_priority, i.effective_priority) {
                    priorities.insert(i.name.as_str(), (base, effective));
                }
            }
        }
        if let Some(dump) = &keepalived.dump {
            for i in &dump.instances {
                if let (Some(base), Some(effective)) = (i.base_priority, i.effective_priority) {
                    priorities.insert(i.name.as_str(), (base, effective));
                }
            }
        }
        if keepalived.dump.is_none() && keepalived.vrrp_data_dump.is_none() {
            return Err(Skip(
                "needs keepalived's JSON dump or its data dump for its effective priorities".into(),
            ));
        }
        Ok(priorities
            .into_iter()
            .filter(|(_, (base, effective))| effective < base)
            .map(|(instance, (base, effective))| {
                PRIORITY_DEGRADED.finding(
                    instance,
                    format!("effective priority {effective}"),
                    format!("priority {base} as configured"),
                    format!(
                        "{instance} runs at priority {effective}, {} below its configured {base}",
                        base - effective
                    ),
                )
            })
            .collect::<Vec<_>>())
    },
};

pub static SYNC_GROUP_SPLIT: Rule = Rule {
    id: "vrrp-sync-group-split",
    severity: Severity::Critical,
    applies: &[Applies::AnyHost],
    what: "The instances of each vrrp_sync_group are in one state: when one is MASTER, all are.",
    why: "A sync group keeps instances together that only work together, typically the \
          outside and inside addresses of a NAT director: replies from the real servers go to \
          the inside address, so a director holding one but not the other drops the traffic. \
          Counted while keepalived runs, among members in MASTER, BACKUP or FAULT (INIT and \
          STOP say nothing yet): one MASTER beside a member in another state is a split. Each \
          state is keepalived's own (JSON dump, else data dump), else the one the kernel's \
          addresses show.",
    severity_why: "Critical: part of the group's addresses are on this director and part on the \
          other, so traffic that must pass both halves (NAT replies) is lost.",
    fix: "Find why the members differ: keepalived's log for each instance's last transition; \
          a member whose interface or tracked script failed must take the group to FAULT (check \
          that the group lists all members and that no member has its own track_* that \
          the others lack), then restart keepalived on the director that holds part of the group.",
    check: |context| {
        let Some(keepalived) = keepalived(context) else {
            return Ok(Vec::new());
        };
        if keepalived.config.sync_groups.is_empty() || !keepalived.process.running {
            return Ok(Vec::new());
        }
        let state_of = |name: &str| -> Option<VrrpState> {
            let own = keepalived
                .dump
                .as_ref()
                .and_then(|d| d.instances.iter().find(|i| i.name == name))
                .and_then(|i| i.state)
                .or_else(|| {
                    keepalived
                        .vrrp_data_dump
                        .as_ref()
                        .and_then(|d| d.instances.iter().find(|i| i.name == name))
                        .and_then(|i| i.state)
                });
            own.or_else(|| {
                keepalived
                    .roles
                    .iter()
                    .find(|r| r.instance == name)
                    .map(|r| r.state)
            })
        };
        Ok(keepalived
            .config
            .sync_groups
            .iter()
            .filter_map(|group| {
                let states: Vec<(&str, VrrpState)> = group
                    .instances
                    .iter()
                    .filter_map(|name| state_of(name).map(|s| (name.as_str(), s)))
                    .filter(|(_, s)| {
                        matches!(s, VrrpState::Master | VrrpState::Backup | VrrpState::Fault)
                    })
                    .collect();
                let masters = states
                    .iter()
                    .filter(|(_, s)| *s == VrrpState::Master)
                    .count();
                (masters > 0 && masters < states.len()).then(|| {
                    let observed: Vec<String> = states
                        .iter()
                        .map(|(name, state)| format!("{name} {}", state.as_str()))
                        .collect();
                    SYNC_GROUP_SPLIT.finding(
                        group.name.clone(),
                        observed.join(", "),
                        "all members in one state",
                        format!("sync group {} is split across states", group.name),
                    )
                })
            })
            .collect::<Vec<_>>())
    },
};

/// The uses of the default script user that keepalived ignores (none without keepalived or
/// without uses of a script user), or why that cannot be told.
fn ignored_uses(context: &super::Context) -> Result<Vec<IgnoredUse>, Skip> {
    let Some(keepalived) = &context.snapshot.keepalived else {
        return Ok(Vec::new());
    };
    let config = &keepalived.config;
    if config.script_users.is_empty() {
        return Ok(Vec::new());
    }
    let accounts = config
        .accounts
        .as_ref()
        .ok_or_else(|| Skip("needs the host's /etc/passwd (under --path.rootfs)".into()))?;
    Ok(ignored_default_user_uses(&config.script_users, accounts))
}

/// The fix shared by both rules.
const SCRIPT_USER_FIX: &str = "Give keepalived a user to run scripts as: create it (useradd \
          --system --no-create-home --shell /usr/sbin/nologin keepalived_script), or put \
          `script_user USER` in global_defs before anything that uses it, or name a user on the \
          line itself (`notify_fifo /run/keepalived.fifo root`, `user USER` in a vrrp_script). \
          Check with keepalived -t -f /etc/keepalived/keepalived.conf (exit code 0), then \
          restart keepalived: it makes its FIFOs only when it starts.";

pub static NOTIFY_FIFO_IGNORED: Rule = Rule {
    id: "keepalived-notify-fifo-ignored",
    severity: Severity::Warning,
    applies: &[Applies::AnyHost],
    what: "keepalived makes every notify FIFO its configuration declares (notify_fifo, \
           vrrp_notify_fifo, lvs_notify_fifo).",
    why: "A notify FIFO that names no user gets keepalived's default script user: the \
          script_user of global_defs if one came before it, else the keepalived_script user if \
          it exists, else root, which enable_script_security (when it came before) forbids. \
          keepalived 2.2.7 then drops the notify_fifo line: the FIFO is never made, nothing \
          reading it (this exporter with --keepalived.notify-fifo, a notify_fifo_script) sees a \
          transition, and keepalived only says so at start (\"Unable to set default user \
          keepalived_script for script\", keepalived -t exits 5). The same happens, with or \
          without enable_script_security, when script_user names an account that does not \
          exist. Users are looked up in /etc/passwd and /etc/group only.",
    severity_why: "Warning: VRRP and the health checks run on, but every consumer of the FIFO is \
          blind to state changes: transition counts, flapping detection and notify actions stop \
          without an error.",
    fix: SCRIPT_USER_FIX,
    check: |context| {
        let ignored = ignored_uses(context)?;
        Ok(ignored
            .iter()
            .filter(|i| i.what.is_fifo())
            .map(|i| {
                NOTIFY_FIFO_IGNORED.finding(
                    i.what.subject.clone(),
                    format!(
                        "{} at {} ignored: {}",
                        i.what.keyword, i.what.place, i.cause
                    ),
                    "a FIFO keepalived makes",
                    format!(
                        "keepalived ignores {} {}: no usable script user",
                        i.what.keyword, i.what.subject
                    ),
                )
            })
            .collect::<Vec<_>>())
    },
};

pub static SCRIPT_DISABLED: Rule = Rule {
    id: "keepalived-script-disabled",
    severity: Severity::Warning,
    applies: &[Applies::AnyHost],
    what: "keepalived runs every notify, tracked (vrrp_script) and MISC_CHECK script its \
           configuration declares.",
    why: "A script that names no user runs as keepalived's default script user: the \
          script_user of global_defs if one came before it, else the keepalived_script user if \
          it exists, else root, which enable_script_security (when it came before) forbids. \
          Without one, keepalived 2.2.7 removes a vrrp_script (the instances that track it \
          then ignore it: a failing service no longer moves the virtual addresses), drops \
          notify_master/backup/fault/stop and *_notify_fifo_script lines (actions on failover \
          do not happen), and removes a MISC_CHECK. keepalived -t exits 5 and names only the \
          first cause. Users are looked up in /etc/passwd and /etc/group only.",
    severity_why: "Warning: keepalived runs, but a check or an action the configuration relies on \
          is silently gone; a removed tracked script means failover no longer follows the \
          service it watched.",
    fix: SCRIPT_USER_FIX,
    check: |context| {
        let ignored = ignored_uses(context)?;
        Ok(ignored
            .iter()
            .filter(|i| !i.what.is_fifo())
            .map(|i| {
                SCRIPT_DISABLED.finding(
                    format!("{} {}", i.what.keyword, i.what.subject),
                    format!("ignored at {}: {}", i.what.place, i.cause),
                    "a script keepalived runs",
                    format!(
                        "keepalived ignores {} of {}: no usable script user",
                        i.what.keyword, i.what.subject
                    ),
                )
            })
            .collect::<Vec<_>>())
    },
};
