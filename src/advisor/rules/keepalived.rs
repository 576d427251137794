//! keepalived: configured but not running, addresses held by a backup, two masters for one
//! VRRP router.

use super::{Applies, Check, Rule};
use crate::advisor::Severity;
use crate::model::keepalived::{Keepalived, VrrpState};

/// keepalived as the snapshot shows it; a host without keepalived's configuration is not a
/// keepalived host, and these rules have nothing to say about it.
fn keepalived<'a>(context: &'a super::Context) -> Result<&'a Keepalived, Check> {
    context
        .snapshot
        .keepalived
        .as_ref()
        .filter(|k| !k.config.instances.is_empty())
        .ok_or(Check::Pass)
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
        let keepalived = match keepalived(context) {
            Ok(k) => k,
            Err(check) => return check,
        };
        if keepalived.config.instances.is_empty() || keepalived.process.running {
            return Check::Pass;
        }
        vec![NOT_RUNNING.finding(
            keepalived.config_file.clone(),
            format!(
                "{} VRRP instances configured, keepalived not running",
                keepalived.config.instances.len()
            ),
            "keepalived running",
            "keepalived is configured but not running",
        )]
        .into()
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
        let keepalived = match keepalived(context) {
            Ok(k) => k,
            Err(check) => return check,
        };
        let Some(dump) = &keepalived.dump else {
            return Check::Skipped("needs keepalived's JSON dump for its own view".into());
        };
        dump.instances
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
            .collect::<Vec<_>>()
            .into()
    },
};

pub static TWO_MASTERS: Rule = Rule {
    id: "vrrp-two-masters",
    severity: Severity::Critical,
    applies: &[Applies::AnyHost],
    what: "No other router advertises for a VRRP router this host is master of.",
    why: "Only a master sends VRRP adverts; another sender for the same virtual router while \
          this host holds its addresses is a split brain: both answer for the virtual \
          addresses. Usually VRRP (IP protocol 112 to 224.0.0.18) is blocked between them, or \
          two clusters share a virtual_router_id. Seen with --collector.vrrp.listen.",
    severity_why: "Critical: two masters for one VRRP router both answer for the virtual addresses \
          (split brain); traffic goes to either at random.",
    fix: "Let VRRP through between the peers (nft add rule inet filter input ip protocol vrrp \
          accept, or the iptables equivalent) and make virtual_router_id unique per network.",
    check: |context| {
        let keepalived = match keepalived(context) {
            Ok(k) => k,
            Err(check) => return check,
        };
        let Some(peers) = &keepalived.peers else {
            return Check::Skipped("needs --collector.vrrp.listen".into());
        };
        keepalived
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
            .collect::<Vec<_>>()
            .into()
    },
};
