//! DR and TUN real servers: they hold the virtual address themselves, so they must not answer
//! ARP for it, and a tunnel's packets must pass reverse-path filtering (the LVS knowledge base,
//! "Using arp_announce/arp_ignore to disable ARP"; the kernel's ip-sysctl documentation: the
//! effective arp_ignore, arp_announce and rp_filter of an interface are the larger of
//! `conf/all` and `conf/<interface>`).

use super::{Applies, Context, Outcome, Rule, Skip};
use crate::advisor::{Finding, Role, Severity, real_server_vips};
use crate::model::interfaces::Link;

/// The effective value of a per-interface IPv4 setting: the larger of `all` and the interface.
/// Both must have been read; otherwise which one could not be, never one of them alone.
fn effective(context: &Context, interface: &str, setting: &str) -> Result<i64, String> {
    let sysctls = context
        .snapshot
        .sysctl
        .as_ref()
        .ok_or("the sysctl collector gave no data")?;
    let read = |key: String| {
        sysctls
            .number(&key)
            .ok_or_else(|| format!("{key} could not be read"))
    };
    let all = read(format!("net.ipv4.conf.all.{setting}"))?;
    let own = read(format!(
        "net.ipv4.conf.{}.{setting}",
        interface.replace('.', "/")
    ))?;
    Ok(all.max(own))
}

/// The findings, or, when there are none and some value could not be read, that it could not
/// (a check that read nothing does not pass).
fn found_or_unread(findings: Vec<Finding>, unread: Vec<String>) -> Outcome {
    if findings.is_empty() && !unread.is_empty() {
        return Err(Skip(unread.join("; ")));
    }
    Ok(findings)
}

/// The interfaces that face the director: up, answering ARP, not loopback, not a tunnel, with
/// an IPv4 address.
fn facing_interfaces<'a>(context: &'a Context) -> Vec<&'a Link> {
    let Some(interfaces) = &context.snapshot.interfaces else {
        return Vec::new();
    };
    interfaces
        .links
        .iter()
        .filter(|l| l.up && !l.loopback && !l.noarp && !l.is_tunnel())
        .filter(|l| {
            interfaces
                .addresses
                .iter()
                .any(|a| a.index == l.index && a.address.is_ipv4())
        })
        .collect()
}

/// A rule over the facing interfaces' effective value of one ARP setting.
fn arp_rule(
    rule: &'static Rule,
    context: &Context,
    setting: &str,
    good: fn(i64) -> bool,
    wanted: &str,
) -> Outcome {
    if context.snapshot.interfaces.is_none() || context.snapshot.sysctl.is_none() {
        return Err(Skip("needs the interfaces and sysctl collectors".into()));
    }
    let mut findings = Vec::new();
    let mut unread = Vec::new();
    for link in facing_interfaces(context) {
        let value = match effective(context, &link.name, setting) {
            Ok(value) => value,
            Err(reason) => {
                unread.push(reason);
                continue;
            }
        };
        if !good(value) {
            let key = format!("net.ipv4.conf.{}.{setting}", link.name.replace('.', "/"));
            let mut finding = rule.sysctl_finding(
                &format!("net.ipv4.conf.all.{setting}"),
                &value.to_string(),
                wanted,
                format!("{} would answer ARP for the virtual address", link.name),
            );
            finding.subject = key;
            findings.push(finding);
        }
    }
    found_or_unread(findings, unread)
}

pub static ARP_IGNORE: Rule = Rule {
    id: "rs-arp-ignore",
    severity: Severity::Critical,
    applies: &[
        Applies::Role(Role::DrRealServer),
        Applies::Role(Role::TunRealServer),
    ],
    what: "The effective arp_ignore of every interface facing the director is at least 1.",
    why: "A DR or TUN real server holds the virtual address itself (on lo or the tunnel). With \
          arp_ignore 0 it answers ARP requests for that address on its other interfaces, so \
          the router may send clients' traffic straight to it, past the director. The \
          effective value is the larger of conf/all and conf/<interface>.",
    severity_why: "Critical on a DR or TUN real server shown by strong evidence: answering ARP for \
          the virtual address pulls clients' traffic past the director. A warning where the \
          evidence for the role is weak, since the host may not be a real server at all.",
    fix: "sysctl -w net.ipv4.conf.all.arp_ignore=1, and the line \
          `net.ipv4.conf.all.arp_ignore = 1` in /etc/sysctl.d/90-ipvs.conf.",
    check: |context| arp_rule(&ARP_IGNORE, context, "arp_ignore", |v| v >= 1, "1"),
};

pub static ARP_ANNOUNCE: Rule = Rule {
    id: "rs-arp-announce",
    severity: Severity::Critical,
    applies: &[
        Applies::Role(Role::DrRealServer),
        Applies::Role(Role::TunRealServer),
    ],
    what: "The effective arp_announce of every interface facing the director is 2.",
    why: "With arp_announce below 2 the real server may use the virtual address as the source \
          of its own ARP requests, teaching neighbours that the VIP lives at its MAC address \
          and pulling clients' traffic away from the director.",
    severity_why: "Critical on a DR or TUN real server shown by strong evidence: announcing the \
          virtual address from this host's MAC address pulls traffic past the director. A warning \
          where the evidence for the role is weak.",
    fix: "sysctl -w net.ipv4.conf.all.arp_announce=2, and the line \
          `net.ipv4.conf.all.arp_announce = 2` in /etc/sysctl.d/90-ipvs.conf.",
    check: |context| arp_rule(&ARP_ANNOUNCE, context, "arp_announce", |v| v == 2, "2"),
};

pub static VIP_PREFIX: Rule = Rule {
    id: "rs-vip-prefix",
    severity: Severity::Warning,
    applies: &[Applies::Role(Role::DrRealServer)],
    what: "A virtual address on lo is a single address (/32, or /128 for IPv6).",
    why: "An address on lo with a shorter prefix makes the whole prefix local: the real server \
          then answers, or swallows, traffic for every address in it, including other real \
          servers and the director's own addresses.",
    severity_why: "A warning: a whole prefix on lo swallows traffic for its other addresses, which \
          breaks traffic to those hosts, not the virtual service itself.",
    fix: "ip addr del VIP/PREFIX dev lo; ip addr add VIP/32 dev lo (and the same in the \
          interface configuration that adds it at boot).",
    check: |context| {
        if context.snapshot.interfaces.is_none() {
            return Err(Skip("needs the interfaces collector".into()));
        }
        Ok(real_server_vips(context.snapshot)
            .into_iter()
            .filter(|(link, _)| link.loopback)
            .filter(|(_, a)| a.prefix_len < if a.address.is_ipv4() { 32 } else { 128 })
            .map(|(link, a)| {
                VIP_PREFIX.finding(
                    format!("{}/{} on {}", a.address, a.prefix_len, link.name),
                    format!("/{}", a.prefix_len),
                    if a.address.is_ipv4() { "/32" } else { "/128" },
                    format!("{} on {} covers a whole prefix", a.address, link.name),
                )
            })
            .collect::<Vec<_>>())
    },
};

pub static TUN_RP_FILTER: Rule = Rule {
    id: "tun-rp-filter",
    severity: Severity::Critical,
    applies: &[Applies::Role(Role::TunRealServer)],
    what: "The effective rp_filter of the tunnel device is 0 or 2, not strict.",
    why: "Packets come out of the tunnel with the client's source address, which the real \
          server would route out of another interface: strict reverse-path filtering (1) drops \
          them all. The effective value is the larger of conf/all and conf/<device>, so `all` \
          must not be 1 either. Hardening guides that ask for rp_filter=1 break TUN real \
          servers.",
    severity_why: "Critical on a TUN real server shown by strong evidence: strict reverse-path \
          filtering drops every packet the tunnel delivers, so the service is down on this host. A \
          warning where the evidence for the role is weak.",
    fix: "sysctl -w net.ipv4.conf.all.rp_filter=2 and net.ipv4.conf.tunl0.rp_filter=0 (the \
          tunnel device's name), and those lines in /etc/sysctl.d/90-ipvs.conf.",
    check: |context| {
        let (Some(_), Some(_)) = (&context.snapshot.interfaces, &context.snapshot.sysctl) else {
            return Err(Skip("needs the interfaces and sysctl collectors".into()));
        };
        let mut tunnels: Vec<&Link> = real_server_vips(context.snapshot)
            .into_iter()
            .map(|(link, _)| link)
            .filter(|l| l.is_tunnel() && l.up)
            .collect();
        tunnels.sort_by_key(|l| l.index);
        tunnels.dedup_by_key(|l| l.index);
        let mut findings = Vec::new();
        let mut unread = Vec::new();
        for link in tunnels {
            match effective(context, &link.name, "rp_filter") {
                Err(reason) => unread.push(reason),
                Ok(1) => {
                    let mut finding = TUN_RP_FILTER.sysctl_finding(
                        "net.ipv4.conf.all.rp_filter",
                        "1",
                        "2",
                        format!(
                            "strict reverse-path filtering drops what {} delivers",
                            link.name
                        ),
                    );
                    finding.subject = format!("net.ipv4.conf.{}.rp_filter", link.name);
                    findings.push(finding);
                }
                Ok(_) => {}
            }
        }
        found_or_unread(findings, unread)
    },
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advisor::rules::Check;
    use crate::advisor::rules::testing::{found_subjects, run};
    use crate::model::snapshot::Snapshot;

    /// The rule fixture where eth0 answers ARP (`all` and `eth0` both 0).
    fn arp_fixture() -> Snapshot {
        let fixture: serde_json::Value = serde_json::from_str(include_str!(
            "../../../tests/fixtures/rules/rs-arp-ignore/fires.json"
        ))
        .expect("fixture parses");
        serde_json::from_value(fixture["snapshot"].clone()).expect("a snapshot")
    }

    /// One of the two values the effective one is made of is not read: the rule says which,
    /// and takes neither the other alone nor nothing for a pass.
    #[test]
    fn an_unread_interface_value_is_said_to_be_unread() {
        let roles = [Role::DrRealServer];
        let snapshot = arp_fixture();
        assert_eq!(
            found_subjects(&run(&ARP_IGNORE, &snapshot, &roles)),
            vec!["net.ipv4.conf.eth0.arp_ignore"]
        );
        for missing in [
            "net.ipv4.conf.eth0.arp_ignore",
            "net.ipv4.conf.all.arp_ignore",
        ] {
            let mut unread = snapshot.clone();
            if let Some(sysctl) = unread.sysctl.as_mut() {
                sysctl.values.remove(missing);
            }
            assert_eq!(
                run(&ARP_IGNORE, &unread, &roles),
                Check::Skipped(format!("{missing} could not be read")),
            );
        }
    }
}
