//! IPVS services and their real servers.

use super::{Applies, Rule, Skip};
use crate::advisor::Severity;

pub static SERVICE_WITHOUT_WEIGHT: Rule = Rule {
    id: "service-without-weight",
    severity: Severity::Critical,
    applies: &[Applies::AnyDirector],
    what: "Every virtual service has a real server of weight above 0.",
    why: "IPVS sends new connections only to real servers of weight above 0: a service whose \
          real servers are all quiesced or removed refuses every new client (ipvsadm(8)). \
          Usually a health checker took them all out.",
    severity_why: "Critical: a virtual service whose real servers all have weight 0 refuses every \
          new connection.",
    fix: "Find why the real servers failed their checks (keepalived's log), bring one back \
          (ipvsadm -e -t VIP:PORT -r RIP:PORT -w 1), or configure a sorry server.",
    check: |context| {
        let table = context.ipvs()?;
        Ok(table
            .services
            .iter()
            .filter(|s| s.backends.iter().all(|b| b.weight <= 0))
            .map(|s| {
                SERVICE_WITHOUT_WEIGHT.finding(
                    s.key.to_string(),
                    format!("real servers: {}, none of weight above 0", s.backends.len()),
                    "at least one real server of weight above 0",
                    format!("{} cannot take new connections", s.key),
                )
            })
            .collect::<Vec<_>>())
    },
};

pub static QUIESCED_SERVER_GETS_CONNECTIONS: Rule = Rule {
    id: "quiesced-server-gets-connections",
    severity: Severity::Warning,
    applies: &[Applies::AnyDirector],
    what: "Real servers of weight 0 get no new connections.",
    why: "Weight 0 quiesces a real server for draining, but persistent clients keep coming back \
          through their persistence templates until those expire \
          (net.ipv4.vs.expire_quiescent_template=0, the default), so the drain never ends. \
          Seen here in the kernel's connection rate estimate for the real server.",
    severity_why: "A warning: a real server taken out of rotation still gets new connections \
          (persistence or templates), so maintenance on it drops them.",
    fix: "sysctl -w net.ipv4.vs.expire_quiescent_template=1 (line \
          `net.ipv4.vs.expire_quiescent_template = 1` in /etc/sysctl.d/90-ipvs.conf), or \
          remove the real server when it must take nothing at all.",
    check: |context| {
        let table = context.ipvs()?;
        let has_rates = table
            .services
            .iter()
            .flat_map(|s| &s.backends)
            .any(|b| b.rates.is_some());
        if !has_rates {
            return Err(Skip(
                "needs the kernel's rate estimates, read over netlink".into(),
            ));
        }
        Ok(table
            .services
            .iter()
            .flat_map(|s| s.backends.iter().map(move |b| (s, b)))
            .filter(|(_, b)| b.weight == 0)
            .filter_map(|(s, b)| {
                let cps = b.rates?.connections_per_second;
                (cps > 0).then_some((s, b, cps))
            })
            .map(|(s, b, cps)| {
                QUIESCED_SERVER_GETS_CONNECTIONS.finding(
                    format!(
                        "{} -> {}",
                        s.key,
                        crate::model::SocketText(&b.address, b.port)
                    ),
                    format!("weight 0, {cps} new connections per second"),
                    "0 new connections per second",
                    "a quiesced real server still gets new connections".to_string(),
                )
            })
            .collect::<Vec<_>>())
    },
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advisor::rules::Check;
    use crate::advisor::rules::testing::{found_subjects, run};
    use crate::model::snapshot::Snapshot;
    use crate::model::{Backend, ForwardMethod, IpvsTable, Service, ServiceKey, TrafficRates};

    fn table(weights: &[i64], cps: Option<u64>) -> Snapshot {
        let key = ServiceKey::FirewallMark {
            mark: 5,
            family: None,
        };
        Snapshot {
            ipvs: Some(IpvsTable {
                services: vec![Service {
                    backends: weights
                        .iter()
                        .map(|w| Backend {
                            weight: *w,
                            rates: cps.map(|c| TrafficRates {
                                connections_per_second: c,
                                ..TrafficRates::default()
                            }),
                            ..Backend::new([10, 0, 0, 9].into(), 0, ForwardMethod::Route)
                        })
                        .collect(),
                    ..Service::new(key, "wrr")
                }],
                ..IpvsTable::default()
            }),
            ..Snapshot::default()
        }
    }

    #[test]
    fn services_need_a_weighted_real_server() {
        assert_eq!(
            found_subjects(&run(&SERVICE_WITHOUT_WEIGHT, &table(&[0, 0], None), &[])),
            vec!["FWM 5"]
        );
        assert_eq!(
            found_subjects(&run(&SERVICE_WITHOUT_WEIGHT, &table(&[], None), &[])),
            vec!["FWM 5"]
        );
        assert_eq!(
            run(&SERVICE_WITHOUT_WEIGHT, &table(&[0, 1], None), &[]),
            Check::Pass
        );
    }

    #[test]
    fn quiesced_servers_with_new_connections() {
        assert_eq!(
            found_subjects(&run(
                &QUIESCED_SERVER_GETS_CONNECTIONS,
                &table(&[0], Some(3)),
                &[]
            )),
            vec!["FWM 5 -> 10.0.0.9:0"]
        );
        assert_eq!(
            run(
                &QUIESCED_SERVER_GETS_CONNECTIONS,
                &table(&[0], Some(0)),
                &[]
            ),
            Check::Pass
        );
        assert!(matches!(
            run(&QUIESCED_SERVER_GETS_CONNECTIONS, &table(&[0], None), &[]),
            Check::Skipped(_)
        ));
    }
}
