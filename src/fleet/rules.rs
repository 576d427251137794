//! The fleet's own rules, as data: a stable kebab-case id, a severity, and What / Why /
//! Severity / Fix text for `fleet --explain`, worded as the advisor's rules are. The checks
//! themselves are in [`super::analyse`]; a host's advisor findings keep their advisor rule's id
//! and text.

use crate::advisor::Severity;

/// One fleet rule.
#[derive(Debug)]
pub struct FleetRule {
    pub id: &'static str,
    pub severity: Severity,
    pub what: &'static str,
    pub why: &'static str,
    pub severity_why: &'static str,
    pub fix: &'static str,
}

/// Who the fleet rules apply to, in `--explain`.
pub const APPLIES_TO: &str = "the hosts one Prometheus scrapes (ipvs_exporter fleet)";

pub static EXPORTER_DOWN: FleetRule = FleetRule {
    id: "fleet-exporter-down",
    severity: Severity::Warning,
    what: "Every exporter the selector matches is scraped, and up, at the time asked for.",
    why: "A host whose exporter is down (up 0) or stale (no sample at that time, one within the \
          lookback) shows nothing: its VRRP state, its table and its own findings are missing \
          from every other check, which then judge its peers alone.",
    severity_why: "Warning: the host itself may be fine; what is lost is the view of it.",
    fix: "Look at the target on Prometheus' /targets page for the scrape error; on the host, \
          systemctl status ipvs_exporter and journalctl -u ipvs_exporter.",
};

pub static EXPORTER_VERSIONS: FleetRule = FleetRule {
    id: "fleet-exporter-versions",
    severity: Severity::Info,
    what: "Every exporter runs the same version (ipvs_exporter_build_info).",
    why: "Exporters of different versions may export different series and judge with different \
          advisor rules, so hosts that are set up alike can look different. Expected during a \
          rolling upgrade, not after it.",
    severity_why: "Info: nothing is wrong with the traffic; finish the upgrade.",
    fix: "Upgrade the hosts that run the older version (apt install ipvs-exporter, or the \
          package or image the fleet uses).",
};

pub static VRRP_SPLIT_BRAIN: FleetRule = FleetRule {
    id: "fleet-vrrp-split-brain",
    severity: Severity::Critical,
    what: "At most one member of a VRRP group is MASTER (members: instances that share a \
           virtual_router_id and a virtual address, in one cluster label).",
    why: "Each MASTER holds the virtual addresses and answers ARP for them: clients and routers \
          send to whichever answered last, connections break as they switch, and each director \
          keeps its own connection table. Usually VRRP (IP protocol 112) is blocked between the \
          members, or their authentication or virtual_router_id differs.",
    severity_why: "Critical: two hosts answer for the same virtual addresses now.",
    fix: "Let VRRP through between the members (nft add rule inet filter input ip protocol vrrp \
          accept) and check that their virtual_router_id, authentication and unicast_peer \
          lists agree; `ipvs_exporter doctor` on each member, and journalctl -u keepalived.",
};

pub static VRRP_NO_MASTER: FleetRule = FleetRule {
    id: "fleet-vrrp-no-master",
    severity: Severity::Critical,
    what: "Some member of each VRRP group is MASTER.",
    why: "Without a MASTER no host holds the group's virtual addresses: the services behind them \
          are unreachable. Members in FAULT (a tracked interface or script failed) or STOP \
          (keepalived not running) cannot take over.",
    severity_why: "Critical when every member is seen: the virtual addresses are down. A warning \
          when a member is not seen, since that one may be MASTER.",
    fix: "On each member: systemctl status keepalived, journalctl -u keepalived for FAULT \
          reasons (track_interface, track_script), and `ipvs_exporter doctor`.",
};

pub static VRRP_EQUAL_PRIORITY: FleetRule = FleetRule {
    id: "fleet-vrrp-equal-priority",
    severity: Severity::Warning,
    what: "The members of a VRRP group have different configured priorities.",
    why: "With equal priorities the election falls to the higher primary IP address (RFC 5798, \
          6.4.3), not to the host the operator meant, and which host is MASTER after a restart \
          depends on which came up first. One MASTER by priority makes failover and failback \
          predictable.",
    severity_why: "Warning: failover still works; which host ends up MASTER is left to chance.",
    fix: "Give the intended MASTER the highest priority in its vrrp_instance block (priority \
          150 against 100), then systemctl reload keepalived.",
};

pub static VRRP_ADDRESS_MISMATCH: FleetRule = FleetRule {
    id: "fleet-vrrp-address-mismatch",
    severity: Severity::Warning,
    what: "The members of a VRRP group have the same virtual addresses.",
    why: "After a failover the new MASTER holds only its own list: an address that only the old \
          MASTER had is gone. keepalived also counts the adverts whose address list differs \
          from its own as errors.",
    severity_why: "Warning: traffic flows now; some virtual addresses will not survive a \
          failover.",
    fix: "Make virtual_ipaddress the same in the vrrp_instance block on every member, then \
          systemctl reload keepalived on each.",
};

pub static VRRP_ADVERT_INTERVAL: FleetRule = FleetRule {
    id: "fleet-vrrp-advert-interval-mismatch",
    severity: Severity::Warning,
    what: "No member of a VRRP group receives adverts sent at another advert_int than its own \
           (keepalived's advert_interval_err counter, from its JSON dump).",
    why: "A VRRPv2 router discards adverts whose interval differs from its own (RFC 3768, 7.1): \
          the backup then hears no master and takes over too, a split brain. keepalived counts \
          each such advert.",
    severity_why: "Warning: a split brain waits for the next restart or election.",
    fix: "Set the same advert_int in the vrrp_instance block on every member, then systemctl \
          reload keepalived on each.",
};

pub static VRRP_MEMBER_UNSEEN: FleetRule = FleetRule {
    id: "fleet-vrrp-member-unseen",
    severity: Severity::Warning,
    what: "Every member of a VRRP group is seen (its exporter up at the time asked for).",
    why: "A member whose exporter is down or stale is judged by its last known state within the \
          lookback: whether it is MASTER now is unknown, so a split brain or a group without \
          MASTER may be missed or reported wrongly.",
    severity_why: "Warning: the group's view is incomplete.",
    fix: "Bring the member's exporter back (see fleet-exporter-down), then run fleet again.",
};

pub static DIRECTOR_MISMATCH: FleetRule = FleetRule {
    id: "fleet-director-mismatch",
    severity: Severity::Warning,
    what: "Directors that stand in for each other (the members of a VRRP group; without one, \
           the directors of a cluster label) have the same virtual services, with the same \
           scheduler, persistence, flags, real servers, forwarding methods and configured \
           weights.",
    why: "After a failover the other director serves the traffic with its own table: a real \
          server it lacks gets nothing, another weight or scheduler shifts the load, and a \
          missing persistence breaks sessions. Real servers and weights come from keepalived's \
          configuration when every director exports it, otherwise from the kernel's table \
          (where a real server its health check took out shows as missing).",
    severity_why: "Warning: nothing breaks until the failover, then traffic changes.",
    fix: "Deploy the same keepalived.conf virtual_server blocks (or ipvsadm rules) to every \
          director of the pair, then systemctl reload keepalived; `ipvsadm -Ln` on each to \
          compare.",
};

pub static SYNC_BEHIND: FleetRule = FleetRule {
    id: "fleet-sync-behind",
    severity: Severity::Warning,
    what: "Where the IPVS connection sync daemon runs, a VRRP BACKUP holds at least half the \
           connections its MASTER holds for each virtual service of the group (services with \
           100 connections or more on the MASTER).",
    why: "The sync daemon sends the MASTER's connections to the backups so that a failover keeps \
          them: the new director forwards packets of established connections only if it knows \
          them (IPVS creates entries on a SYN unless net.ipv4.vs.sloppy_tcp is 1), and keeps \
          persistence. A backup far behind loses those connections at failover: sync messages \
          are dropped (multicast blocked, MTU, a different syncid) or the daemon is not \
          listening.",
    severity_why: "Warning: nothing breaks until the failover, then the connections it lacks are \
          reset.",
    fix: "Check `ipvsadm -L --daemon` on both (same syncid, the right interface), let the sync \
          multicast through (224.0.0.81, UDP port 8848), and compare `ipvsadm -Lnc | wc -l` on \
          the two.",
};

pub static SYNC_BACKUP_MISSING: FleetRule = FleetRule {
    id: "fleet-sync-backup-missing",
    severity: Severity::Warning,
    what: "When a VRRP group's MASTER runs a master sync daemon, every BACKUP runs a backup sync \
           daemon.",
    why: "The MASTER sends its connections for backups to keep; a backup that does not listen \
          has none of them when it takes over, and resets every established connection.",
    severity_why: "Warning: nothing breaks until the failover.",
    fix: "Start the backup daemon (ipvsadm --start-daemon backup --mcast-interface IFACE \
          --syncid N), or set lvs_sync_daemon in keepalived's vrrp_instance so keepalived starts \
          it on every member.",
};

/// Every fleet rule, in the order findings are worked out.
pub static FLEET_RULES: &[&FleetRule] = &[
    &EXPORTER_DOWN,
    &VRRP_MEMBER_UNSEEN,
    &VRRP_SPLIT_BRAIN,
    &VRRP_NO_MASTER,
    &VRRP_EQUAL_PRIORITY,
    &VRRP_ADDRESS_MISMATCH,
    &VRRP_ADVERT_INTERVAL,
    &DIRECTOR_MISMATCH,
    &SYNC_BACKUP_MISSING,
    &SYNC_BEHIND,
    &EXPORTER_VERSIONS,
];

/// The fleet rule with this id.
pub fn find(id: &str) -> Option<&'static FleetRule> {
    FLEET_RULES.iter().copied().find(|rule| rule.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_kebab_case_apart_from_the_advisors_and_explained() {
        let mut seen = std::collections::BTreeSet::new();
        for rule in FLEET_RULES {
            assert!(seen.insert(rule.id), "{} twice", rule.id);
            assert!(rule.id.starts_with("fleet-"), "{}", rule.id);
            assert!(crate::advisor::rules::is_kebab_case(rule.id), "{}", rule.id);
            assert!(
                crate::advisor::rules::find(rule.id).is_none(),
                "{}",
                rule.id
            );
            for text in [rule.what, rule.why, rule.severity_why, rule.fix] {
                assert!(text.len() > 20, "{}: thin text {text:?}", rule.id);
            }
        }
    }
}
