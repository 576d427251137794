//! IPVS sysctls (the kernel's ipvs-sysctl documentation) and the connection table.

use super::{Applies, Context, Outcome, Rule, Skip, missing_sysctl};
use crate::advisor::Severity;
use crate::model::sysctl::Sysctls;

/// Reads a sysctl for a rule: its value, or the check to return when it is missing (saying
/// why: see [`missing_sysctl`]).
fn value<'a>(context: &'a Context, key: &str) -> Result<(&'a Sysctls, &'a str), Skip> {
    let sysctls = context.sysctls()?;
    sysctls
        .get(key)
        .map(|v| (sysctls, v))
        .ok_or_else(|| Skip(missing_sysctl(sysctls, key)))
}

/// A rule that wants one IPVS sysctl at one value.
fn want(rule: &'static Rule, context: &Context, key: &str, wanted: &str, summary: &str) -> Outcome {
    let (_, v) = value(context, key)?;
    if v == wanted {
        return Ok(Vec::new());
    }
    Ok(vec![rule.sysctl_finding(
        key,
        v,
        wanted,
        summary.to_string(),
    )])
}

pub static RUN_ESTIMATION: Rule = Rule {
    id: "ipvs-run-estimation",
    severity: Severity::Warning,
    applies: &[Applies::AnyDirector],
    what: "net.ipv4.vs.run_estimation is 1, so the kernel keeps IPVS rates and counters.",
    why: "With the estimator off the kernel stops updating the rate estimates; on the 6.1 \
          and 6.12 kernels the project's lab boots, the per-service and per-real-server \
          counters and the host totals stop too (ipvsadm --stats shows 0 after traffic). \
          Dashboards and alerts then see a dead director. The sysctl exists from Linux 5.16 \
          on (the kernel change that added it was merged for 5.16; 5.10 has none): an older \
          kernel always runs its estimator, so the rule is skipped there and says why.",
    severity_why: "A warning: IPVS keeps forwarding, but the rates the exporter and ipvsadm show \
          stay at zero, so load and its alerts go blind.",
    fix: "sysctl -w net.ipv4.vs.run_estimation=1, and the line \
          `net.ipv4.vs.run_estimation = 1` in /etc/sysctl.d/90-ipvs.conf.",
    check: |context| {
        want(
            &RUN_ESTIMATION,
            context,
            "net.ipv4.vs.run_estimation",
            "1",
            "the IPVS estimator is off: rates and (on this kernel generation) counters stand still",
        )
    },
};

pub static IPVS_CONNTRACK: Rule = Rule {
    id: "ipvs-conntrack",
    severity: Severity::Info,
    applies: &[Applies::AnyDirector],
    what: "net.ipv4.vs.conntrack is 0 unless netfilter has to see IPVS connections.",
    why: "With conntrack=1 every IPVS connection also takes a netfilter conntrack entry, so \
          nf_conntrack_max bounds the director and conntrack's hashing costs CPU per packet \
          (ipvs-sysctl documentation). It is needed only when iptables rules (NAT, state \
          matches) must see IPVS traffic.",
    severity_why: "Info: tracking IPVS connections in netfilter costs memory and CPU, and fills \
          the conntrack table, but breaks nothing on its own.",
    fix: "If no netfilter rule needs IPVS flows: sysctl -w net.ipv4.vs.conntrack=0, and the \
          line `net.ipv4.vs.conntrack = 0` in /etc/sysctl.d/90-ipvs.conf. If one does, size \
          nf_conntrack_max for all IPVS connections.",
    check: |context| {
        want(
            &IPVS_CONNTRACK,
            context,
            "net.ipv4.vs.conntrack",
            "0",
            "IPVS connections are tracked by netfilter: nf_conntrack_max bounds the director",
        )
    },
};

pub static EXPIRE_NODEST_CONN: Rule = Rule {
    id: "ipvs-expire-nodest-conn",
    severity: Severity::Warning,
    applies: &[Applies::AnyDirector],
    what: "net.ipv4.vs.expire_nodest_conn is 1, so connections to a removed real server end.",
    why: "When a health checker (keepalived) removes a failed real server, its connections \
          stay in the table with 0 and their packets are dropped until they time out: clients \
          hang for the TCP timeout instead of reconnecting at once (ipvs-sysctl \
          documentation).",
    severity_why: "A warning: connections to a removed real server hang until they time out \
          instead of failing fast; clients retry, nothing else is lost.",
    fix: "sysctl -w net.ipv4.vs.expire_nodest_conn=1, and the line \
          `net.ipv4.vs.expire_nodest_conn = 1` in /etc/sysctl.d/90-ipvs.conf.",
    check: |context| {
        want(
            &EXPIRE_NODEST_CONN,
            context,
            "net.ipv4.vs.expire_nodest_conn",
            "1",
            "connections to removed real servers linger until they time out",
        )
    },
};

pub static EXPIRE_QUIESCENT_TEMPLATE: Rule = Rule {
    id: "ipvs-expire-quiescent-template",
    severity: Severity::Warning,
    applies: &[Applies::AnyDirector],
    what: "net.ipv4.vs.expire_quiescent_template is 1 where persistent services exist.",
    why: "A persistence template keeps sending a client to its real server even after the \
          server's weight is set to 0 to drain it, so draining never ends for returning \
          clients. With the setting on, templates of quiesced servers expire (ipvs-sysctl \
          documentation).",
    severity_why: "A warning: persistent clients keep going to a quiesced real server until their \
          template expires, which delays maintenance, not service.",
    fix: "sysctl -w net.ipv4.vs.expire_quiescent_template=1, and the line \
          `net.ipv4.vs.expire_quiescent_template = 1` in /etc/sysctl.d/90-ipvs.conf.",
    check: |context| {
        let persistent = context
            .snapshot
            .ipvs
            .as_ref()
            .is_some_and(|t| t.services.iter().any(|s| s.flags.persistent));
        if !persistent {
            return Ok(Vec::new());
        }
        want(
            &EXPIRE_QUIESCENT_TEMPLATE,
            context,
            "net.ipv4.vs.expire_quiescent_template",
            "1",
            "persistent clients keep going to real servers of weight 0: draining never ends",
        )
    },
};

/// `6.1.0-56-cloud-amd64` gives (6, 1).
pub fn kernel_version(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(['.', '-']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

pub static CONN_REUSE_MODE: Rule = Rule {
    id: "ipvs-conn-reuse-mode",
    severity: Severity::Warning,
    applies: &[Applies::AnyDirector],
    what: "net.ipv4.vs.conn_reuse_mode is not 1 on kernels before 5.9.",
    why: "Before kernel 5.9, conn_reuse_mode=1 made a new connection that reused the source \
          port of one still in TIME_WAIT wait for a second-long SYN retransmit under load \
          (kube-proxy set 0 on such kernels; Kubernetes issues 81775 and 93297). From 5.9 the \
          default 1 is right.",
    severity_why: "A warning: on kernels before 5.9 mode 1 adds a one-second stall to connections \
          that reuse a port of an expired one under heavy load; slower, not down.",
    fix: "On a kernel before 5.9: sysctl -w net.ipv4.vs.conn_reuse_mode=0, and the line \
          `net.ipv4.vs.conn_reuse_mode = 0` in /etc/sysctl.d/90-ipvs.conf; better, run 5.9 \
          or later.",
    check: |context| {
        let (sysctls, mode) = value(context, "net.ipv4.vs.conn_reuse_mode")?;
        let Some(release) = sysctls.get("kernel.osrelease") else {
            return Err(Skip("kernel.osrelease could not be read".into()));
        };
        match kernel_version(release) {
            None => Err(Skip(format!("kernel release {release:?} not understood"))),
            Some(version) if version >= (5, 9) => Ok(Vec::new()),
            Some(_) if mode == "1" => Ok(vec![CONN_REUSE_MODE.sysctl_finding(
                "net.ipv4.vs.conn_reuse_mode",
                mode,
                "0",
                format!("kernel {release} delays reused connections by a second with mode 1"),
            )]),
            Some(_) => Ok(Vec::new()),
        }
    },
};

pub static CONNECTION_TABLE_SIZE: Rule = Rule {
    id: "ipvs-connection-table-size",
    severity: Severity::Warning,
    applies: &[Applies::AnyDirector],
    what: "The IPVS connection hash table has at least a bucket per 4 connections held.",
    why: "IPVS looks every packet up in a hash table of 2^conn_tab_bits buckets (default \
          4096). Held connections far above the bucket count make long chains that every \
          packet walks; each entry costs about 128 bytes, so a larger table is cheap \
          (ipvs-sysctl documentation; LVS knowledge base).",
    severity_why: "A warning: a small hash table makes every lookup walk long chains (CPU per \
          packet), and the table size can only change when ip_vs is loaded.",
    fix: "Load ip_vs with a larger table: `options ip_vs conn_tab_bits=N` in \
          /etc/modprobe.d/ipvs.conf (2^N near the connections held), then reload ip_vs in a \
          maintenance window.",
    check: |context| {
        let table = context.ipvs()?;
        let Some(buckets) = table.connection_table_buckets else {
            return Err(Skip("the connection table size is unknown".into()));
        };
        let held: i64 = table
            .services
            .iter()
            .flat_map(|s| &s.backends)
            .map(|b| b.active_connections.max(0) + b.inactive_connections.max(0))
            .sum();
        let held = held as u64;
        if held <= buckets.saturating_mul(4) {
            return Ok(Vec::new());
        }
        let bits = (64 - held.leading_zeros()).clamp(8, 20);
        Ok(vec![CONNECTION_TABLE_SIZE.finding(
            "ip_vs conn_tab_bits",
            format!("{buckets} buckets for {held} connections"),
            format!("conn_tab_bits={bits} ({} buckets)", 1u64 << bits),
            format!("{:.0} connections per bucket", held as f64 / buckets as f64),
        )])
    },
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advisor::Role;
    use crate::advisor::rules::Check;
    use crate::advisor::rules::testing::{found_subjects, run, sysctls};
    use crate::model::snapshot::Snapshot;
    use crate::model::{Backend, ForwardMethod, IpvsTable, Service, ServiceKey};

    fn with(pairs: &[(&str, &str)]) -> Snapshot {
        Snapshot {
            sysctl: Some(sysctls(pairs)),
            ..Snapshot::default()
        }
    }

    const NAT: [Role; 1] = [Role::NatDirector];

    #[test]
    fn estimation_expire_and_conntrack_fire_and_stay_silent() {
        for (rule, key, bad, good) in [
            (&RUN_ESTIMATION, "net.ipv4.vs.run_estimation", "0", "1"),
            (
                &EXPIRE_NODEST_CONN,
                "net.ipv4.vs.expire_nodest_conn",
                "0",
                "1",
            ),
            (&IPVS_CONNTRACK, "net.ipv4.vs.conntrack", "1", "0"),
        ] {
            assert_eq!(
                found_subjects(&run(rule, &with(&[(key, bad)]), &NAT)),
                vec![key]
            );
            assert_eq!(run(rule, &with(&[(key, good)]), &NAT), Check::Pass);
            assert!(matches!(run(rule, &with(&[]), &NAT), Check::Skipped(_)));
        }
    }

    fn skipped_because(check: &Check) -> &str {
        match check {
            Check::Skipped(reason) => reason,
            other => panic!("not skipped: {other:?}"),
        }
    }

    #[test]
    fn run_estimation_on_a_kernel_before_it_is_skipped_with_the_release_that_brought_it() {
        let release = "kernel.osrelease";
        let old = run(
            &RUN_ESTIMATION,
            &with(&[(release, "5.10.0-32-cloud-amd64")]),
            &NAT,
        );
        let reason = skipped_because(&old);
        assert!(reason.contains("5.10.0-32-cloud-amd64"), "{reason}");
        assert!(reason.contains("Linux 5.16"), "{reason}");
        // a kernel that should have it: missing means unreadable, nothing about versions
        let new = run(
            &RUN_ESTIMATION,
            &with(&[(release, "6.12.117+deb13-cloud-amd64")]),
            &NAT,
        );
        assert_eq!(
            skipped_because(&new),
            "net.ipv4.vs.run_estimation could not be read"
        );
        assert_eq!(kernel_version("6.12.117+deb13-cloud-amd64"), Some((6, 12)));
    }

    #[test]
    fn quiescent_templates_matter_only_with_persistent_services() {
        let key = "net.ipv4.vs.expire_quiescent_template";
        let mut snapshot = with(&[(key, "0")]);
        assert_eq!(
            run(&EXPIRE_QUIESCENT_TEMPLATE, &snapshot, &NAT),
            Check::Pass
        );
        let mut service = Service::new(
            ServiceKey::FirewallMark {
                mark: 1,
                family: None,
            },
            "rr",
        );
        service.flags.persistent = true;
        snapshot.ipvs = Some(IpvsTable {
            services: vec![service],
            ..IpvsTable::default()
        });
        assert_eq!(
            found_subjects(&run(&EXPIRE_QUIESCENT_TEMPLATE, &snapshot, &NAT)),
            vec![key]
        );
    }

    #[test]
    fn reuse_mode_matters_before_five_nine_only() {
        let key = "net.ipv4.vs.conn_reuse_mode";
        let old = with(&[(key, "1"), ("kernel.osrelease", "4.19.0-21-amd64")]);
        assert_eq!(
            found_subjects(&run(&CONN_REUSE_MODE, &old, &NAT)),
            vec![key]
        );
        let new = with(&[(key, "1"), ("kernel.osrelease", "6.1.0-56-cloud-amd64")]);
        assert_eq!(run(&CONN_REUSE_MODE, &new, &NAT), Check::Pass);
        assert_eq!(kernel_version("5.10.0"), Some((5, 10)));
    }

    #[test]
    fn connection_table_fires_above_four_per_bucket() {
        let mut backend = Backend::new([10, 0, 0, 2].into(), 80, ForwardMethod::Masq);
        backend.active_connections = 300;
        backend.inactive_connections = 200;
        let service = Service {
            backends: vec![backend],
            ..Service::new(
                ServiceKey::FirewallMark {
                    mark: 1,
                    family: None,
                },
                "rr",
            )
        };
        let mut snapshot = Snapshot {
            ipvs: Some(IpvsTable {
                connection_table_buckets: Some(100),
                services: vec![service],
                ..IpvsTable::default()
            }),
            ..Snapshot::default()
        };
        let check = run(&CONNECTION_TABLE_SIZE, &snapshot, &NAT);
        assert_eq!(found_subjects(&check), vec!["ip_vs conn_tab_bits"]);
        if let Some(table) = snapshot.ipvs.as_mut() {
            table.connection_table_buckets = Some(4096);
        }
        assert_eq!(run(&CONNECTION_TABLE_SIZE, &snapshot, &NAT), Check::Pass);
    }
}
