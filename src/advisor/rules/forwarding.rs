//! Forwarding: a NAT director routes the real servers' replies back to clients.

use super::{Applies, Rule, Skip};
use crate::advisor::{Role, Severity};
use crate::model::AddressFamily;

pub static NAT_IP_FORWARD: Rule = Rule {
    id: "nat-ip-forward",
    severity: Severity::Critical,
    applies: &[Applies::Role(Role::NatDirector)],
    what: "net.ipv4.ip_forward is 1 on a NAT director.",
    why: "In NAT mode the real servers' replies pass back through the director, which rewrites \
          and forwards them; with forwarding off the kernel drops them and clients never get an \
          answer (LVS-NAT documentation; the kernel's ip-sysctl documentation). Hardening \
          guides that ask for ip_forward=0 are wrong for a NAT director.",
    severity_why: "Critical: a NAT director that does not forward IPv4 cannot return the real \
          servers' replies to the clients, so every NAT service is down.",
    fix: "sysctl -w net.ipv4.ip_forward=1, and the line `net.ipv4.ip_forward = 1` in \
          /etc/sysctl.d/90-ipvs.conf.",
    check: |context| {
        let sysctls = context.sysctls()?;
        let key = "net.ipv4.ip_forward";
        match sysctls.get(key) {
            None => Err(Skip(format!("{key} could not be read"))),
            Some("1") => Ok(Vec::new()),
            Some(value) => Ok(vec![NAT_IP_FORWARD.sysctl_finding(
                key,
                value,
                "1",
                "IPv4 forwarding is off: replies from NAT real servers are dropped".into(),
            )]),
        }
    },
};

pub static NAT_IPV6_FORWARDING: Rule = Rule {
    id: "nat-ipv6-forwarding",
    severity: Severity::Critical,
    applies: &[Applies::Role(Role::NatDirector)],
    what: "net.ipv6.conf.all.forwarding is 1 on a NAT director with IPv6 services.",
    why: "The same as for IPv4: the replies of IPv6 NAT real servers are forwarded by the \
          director. IPv6 forwarding is a separate switch from net.ipv4.ip_forward.",
    severity_why: "Critical: without IPv6 forwarding the replies of IPv6 NAT services never reach \
          the clients, so those services are down.",
    fix: "sysctl -w net.ipv6.conf.all.forwarding=1, and the line \
          `net.ipv6.conf.all.forwarding = 1` in /etc/sysctl.d/90-ipvs.conf.",
    check: |context| {
        let has_ipv6_nat = context.snapshot.ipvs.as_ref().is_some_and(|table| {
            table.services.iter().any(|s| {
                s.key.family() == Some(AddressFamily::Inet6)
                    && s.backends
                        .iter()
                        .any(|b| b.forward == crate::model::ForwardMethod::Masq)
            })
        });
        if !has_ipv6_nat {
            return Ok(Vec::new());
        }
        let sysctls = context.sysctls()?;
        let key = "net.ipv6.conf.all.forwarding";
        match sysctls.get(key) {
            None => Err(Skip(format!("{key} could not be read (IPv6 disabled?)"))),
            Some("1") => Ok(Vec::new()),
            Some(value) => Ok(vec![NAT_IPV6_FORWARDING.sysctl_finding(
                key,
                value,
                "1",
                "IPv6 forwarding is off while IPv6 NAT services exist".into(),
            )]),
        }
    },
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advisor::rules::Check;
    use crate::advisor::rules::testing::{found_subjects, run, sysctls};
    use crate::model::snapshot::Snapshot;

    #[test]
    fn ip_forward_fires_when_off_and_stays_silent_when_on() {
        let mut snapshot = Snapshot {
            sysctl: Some(sysctls(&[("net.ipv4.ip_forward", "0")])),
            ..Snapshot::default()
        };
        let roles = [Role::NatDirector];
        assert_eq!(
            found_subjects(&run(&NAT_IP_FORWARD, &snapshot, &roles)),
            vec!["net.ipv4.ip_forward"]
        );
        snapshot.sysctl = Some(sysctls(&[("net.ipv4.ip_forward", "1")]));
        assert_eq!(run(&NAT_IP_FORWARD, &snapshot, &roles), Check::Pass);
        assert!(!NAT_IP_FORWARD.applies_to(&[Role::DrDirector]));
    }
}
