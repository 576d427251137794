//! keepalived's virtual servers against the kernel's IPVS table: real servers its checks took
//! out, quorum lost, sorry server in use, and drift between the two (services and real servers
//! nobody configured, configured services the kernel lacks, settings that differ). Silent on
//! hosts whose keepalived configures no virtual server.

use super::{Applies, Context, Rule, Skip};
use crate::advisor::Severity;
use crate::model::keepalived_health::{KeepalivedHealth, RealServerState};
use crate::model::{ServiceKey, SocketText};

/// The comparison, for a host whose keepalived configures virtual servers; `None` for other
/// hosts (nothing to judge: the rules pass), `Skip` while the comparison cannot be made.
fn health<'c>(context: &'c Context) -> Result<Option<&'c KeepalivedHealth>, Skip> {
    if context
        .snapshot
        .keepalived
        .as_ref()
        .is_none_or(|k| k.config.virtual_servers.is_empty())
    {
        return Ok(None);
    }
    match context.keepalived_health() {
        Some(health) if health.known => Ok(Some(health)),
        _ => Err(Skip("needs keepalived running and the IPVS table".into())),
    }
}

/// A service as ipvsadm writes it, with its group when it comes from one.
fn service_text(service: &ServiceKey, group: &str) -> String {
    if group.is_empty() {
        service.to_string()
    } else {
        format!("{service} (group {group})")
    }
}

pub static REAL_SERVER_DOWN: Rule = Rule {
    id: "keepalived-real-server-down",
    severity: Severity::Warning,
    applies: &[Applies::AnyHost],
    what: "Every real server keepalived is configured with is in the kernel's IPVS table.",
    why: "keepalived removes a real server whose health checks fail (or, with \
          inhibit_on_failure, sets its weight to 0): it gets no new connections and the others \
          carry its share. Found by comparing keepalived.conf with the kernel's table.",
    severity_why: "Warning: the service still runs on the other real servers, with less \
          capacity and less redundancy; quorum-lost is the critical case.",
    fix: "Check the real server's service and the check's target (curl or nc from the director \
          to the address and port the check uses); journalctl -u keepalived says which check \
          failed. keepalived adds it back when its checks pass.",
    check: |context| {
        let Some(health) = health(context)? else {
            return Ok(Vec::new());
        };
        Ok(health
            .virtual_servers
            .iter()
            .flat_map(|server| {
                server
                    .real_servers
                    .iter()
                    .filter(|r| r.state == RealServerState::Down)
                    .map(move |real| {
                        let observed = match real.kernel_weight {
                            Some(w) => format!("weight {w} (inhibit_on_failure)"),
                            None => "absent from the kernel's table".to_string(),
                        };
                        REAL_SERVER_DOWN.finding(
                            format!(
                                "{} -> {}",
                                service_text(&server.service, &server.group),
                                SocketText(&real.address, real.port)
                            ),
                            observed,
                            format!("in the table at weight {}", real.configured_weight),
                            format!(
                                "real server {} of {} is taken out",
                                SocketText(&real.address, real.port),
                                server.service
                            ),
                        )
                    })
            })
            .collect::<Vec<_>>())
    },
};

pub static QUORUM_LOST: Rule = Rule {
    id: "keepalived-quorum-lost",
    severity: Severity::Critical,
    applies: &[Applies::AnyHost],
    what: "Every keepalived virtual server's live real servers add up to its quorum.",
    why: "Below its quorum (the least sum of live real servers' weights, less hysteresis) \
          keepalived considers the virtual server down: it switches to the sorry server if one \
          is configured, and runs its quorum_down script. The live weight is the sum of the \
          kernel's weights for the configured real servers.",
    severity_why: "Critical: the service is below the capacity its operators said it needs, \
          or is served only by the sorry server.",
    fix: "Bring real servers back (see keepalived-real-server-down findings for which ones), or \
          lower `quorum` in the virtual_server block if the figure is wrong, then \
          systemctl reload keepalived.",
    check: |context| {
        let Some(health) = health(context)? else {
            return Ok(Vec::new());
        };
        Ok(health
            .virtual_servers
            .iter()
            .filter(|s| s.quorum_up == Some(false))
            // The comparison sets all three together; none is made up when one is missing.
            .filter_map(|server| Some((server, server.live_weight?, server.real_servers_up?)))
            .map(|(server, live_weight, real_servers_up)| {
                QUORUM_LOST.finding(
                    service_text(&server.service, &server.group),
                    format!(
                        "live weight {live_weight} ({real_servers_up} of {} real servers up)",
                        server.real_servers.len()
                    ),
                    format!(
                        "live weight at least {} (quorum {}, hysteresis {})",
                        server.quorum, server.quorum, server.hysteresis
                    ),
                    format!("quorum lost for {}", server.service),
                )
            })
            .collect::<Vec<_>>())
    },
};

pub static SORRY_SERVER_ACTIVE: Rule = Rule {
    id: "keepalived-sorry-server-active",
    severity: Severity::Warning,
    applies: &[Applies::AnyHost],
    what: "No keepalived virtual server is being served by its sorry_server.",
    why: "keepalived puts the sorry_server into the kernel's table when the virtual server \
          loses quorum: clients get the apology page (or the fallback service) instead of the \
          real service.",
    severity_why: "Warning: clients are answered, but not by the service; quorum-lost is the \
          critical finding for the same event.",
    fix: "Bring the real servers back; keepalived removes the sorry server once quorum (plus \
          hysteresis) is reached again.",
    check: |context| {
        let Some(health) = health(context)? else {
            return Ok(Vec::new());
        };
        Ok(health
            .virtual_servers
            .iter()
            .filter_map(|server| {
                let sorry = server.sorry_server.as_ref()?;
                (sorry.active == Some(true)).then(|| {
                    SORRY_SERVER_ACTIVE.finding(
                        service_text(&server.service, &server.group),
                        format!(
                            "sorry server {} in service",
                            SocketText(&sorry.address, sorry.port)
                        ),
                        "the real servers in service",
                        format!("{} is served by its sorry server", server.service),
                    )
                })
            })
            .collect::<Vec<_>>())
    },
};

pub static UNMANAGED_SERVICE: Rule = Rule {
    id: "keepalived-unmanaged-service",
    severity: Severity::Warning,
    applies: &[Applies::AnyHost],
    what: "Every IPVS service in the kernel is one keepalived is configured with.",
    why: "A service added by hand (ipvsadm -A) on a director that keepalived manages has no \
          health checks, does not follow VRRP failover, and is gone after a reboot; usually a \
          leftover of a test or of an old configuration.",
    severity_why: "Warning: the service may be intended, but nothing checks or restores it.",
    fix: "Add it to keepalived.conf as a virtual_server (and systemctl reload keepalived), or \
          delete it: ipvsadm -D -t VIP:PORT (-u for UDP, -f MARK for a firewall mark).",
    check: |context| {
        let Some(health) = health(context)? else {
            return Ok(Vec::new());
        };
        Ok(health
            .unmanaged_services
            .iter()
            .map(|service| {
                UNMANAGED_SERVICE.finding(
                    service.to_string(),
                    "in the kernel's table",
                    "a virtual_server in keepalived.conf",
                    format!("{service} is not in keepalived's configuration"),
                )
            })
            .collect::<Vec<_>>())
    },
};

pub static UNMANAGED_REAL_SERVER: Rule = Rule {
    id: "keepalived-unmanaged-real-server",
    severity: Severity::Warning,
    applies: &[Applies::AnyHost],
    what: "Every real server of a keepalived virtual server in the kernel is one it is \
           configured with (or its sorry server).",
    why: "A real server added by hand (ipvsadm -a) gets traffic without any health check: \
          when it fails, clients keep being sent to it. keepalived does not remove what it did \
          not add.",
    severity_why: "Warning: it may serve well now, but a failure there is not caught.",
    fix: "Add it as a real_server with a check to the virtual_server in keepalived.conf (and \
          systemctl reload keepalived), or remove it: ipvsadm -d -t VIP:PORT -r RIP:PORT.",
    check: |context| {
        let Some(health) = health(context)? else {
            return Ok(Vec::new());
        };
        Ok(health
            .unmanaged_real_servers
            .iter()
            .map(|real| {
                UNMANAGED_REAL_SERVER.finding(
                    format!(
                        "{} -> {}",
                        real.service,
                        SocketText(&real.address, real.port)
                    ),
                    format!("in the kernel's table at weight {}", real.weight),
                    "a real_server in keepalived.conf",
                    format!(
                        "real server {} of {} is not in keepalived's configuration",
                        SocketText(&real.address, real.port),
                        real.service
                    ),
                )
            })
            .collect::<Vec<_>>())
    },
};

pub static VIRTUAL_SERVER_ABSENT: Rule = Rule {
    id: "keepalived-virtual-server-absent",
    severity: Severity::Warning,
    applies: &[Applies::AnyHost],
    what: "Every virtual server keepalived is configured with is in the kernel's IPVS table \
           while keepalived runs.",
    why: "keepalived adds its virtual servers when it starts or reloads; one missing while it \
          runs was deleted by hand (ipvsadm -D or -C), refused by the kernel (a scheduler \
          module missing), or the running keepalived has an older configuration.",
    severity_why: "Warning: traffic to that address and port is not balanced at all.",
    fix: "systemctl reload keepalived to add it again; if it stays absent, journalctl -u \
          keepalived names the reason (for a scheduler, modprobe ip_vs_SCHED).",
    check: |context| {
        let Some(health) = health(context)? else {
            return Ok(Vec::new());
        };
        Ok(health
            .absent_virtual_servers
            .iter()
            .map(|(service, group)| {
                VIRTUAL_SERVER_ABSENT.finding(
                    service_text(service, group),
                    "not in the kernel's table",
                    "in the kernel's table",
                    format!("{service} is configured but not in the kernel"),
                )
            })
            .collect::<Vec<_>>())
    },
};

pub static SETTINGS_DRIFT: Rule = Rule {
    id: "keepalived-service-settings-drift",
    severity: Severity::Warning,
    applies: &[Applies::AnyHost],
    what: "The kernel's scheduler, persistence and forwarding method of each keepalived \
           virtual server are the configured ones.",
    why: "A difference means someone changed the service by hand (ipvsadm -E, -e) or the \
          running keepalived has not loaded the configuration on disk; the configuration no \
          longer says how traffic is balanced. keepalived's defaults count where the \
          configuration is silent: lb_algo wlc, lb_kind NAT, no persistence.",
    severity_why: "Warning: traffic flows, but not as configured, and the next reload changes \
          it back without warning.",
    fix: "systemctl reload keepalived to apply the configuration, or change keepalived.conf \
          (lb_algo, persistence_timeout, lb_kind) to what the service should be.",
    check: |context| {
        let Some(health) = health(context)? else {
            return Ok(Vec::new());
        };
        Ok(health
            .settings_drift
            .iter()
            .map(|drift| {
                SETTINGS_DRIFT.finding(
                    format!(
                        "{} {}",
                        service_text(&drift.service, &drift.group),
                        drift.setting
                    ),
                    drift.kernel.clone(),
                    drift.configured.clone(),
                    format!(
                        "{} of {} is {} in the kernel, {} in keepalived.conf",
                        drift.setting, drift.service, drift.kernel, drift.configured
                    ),
                )
            })
            .collect::<Vec<_>>())
    },
};

#[cfg(test)]
mod tests {
    use super::super::testing::{found_subjects, run};
    use super::*;
    use crate::advisor::rules::Check;
    use crate::model::keepalived::{Keepalived, KeepalivedProcess};
    use crate::model::snapshot::Snapshot;
    use crate::model::{Backend, ForwardMethod, IpvsTable, Protocol, Service};
    use crate::parse::keepalived::parse_single;

    fn snapshot(config: &str, running: bool, services: Vec<Service>) -> Snapshot {
        Snapshot {
            ipvs: Some(IpvsTable {
                services,
                ..IpvsTable::default()
            }),
            keepalived: Some(Keepalived {
                config_file: "/etc/keepalived/keepalived.conf".into(),
                config: parse_single("keepalived.conf", config),
                process: KeepalivedProcess {
                    pid: Some(1),
                    running,
                },
                roles: Vec::new(),
                dump: None,
                notify: None,
                peers: None,
                checker_dump: None,
                vrrp_data_dump: None,
                recent_transitions: None,
            }),
            ..Snapshot::default()
        }
    }

    fn service(address: [u8; 4], scheduler: &str, backends: &[([u8; 4], i64)]) -> Service {
        let mut service = Service::new(
            ServiceKey::Address {
                protocol: Protocol::Tcp,
                address: address.into(),
                port: 80,
            },
            scheduler,
        );
        service.backends = backends
            .iter()
            .map(|(a, w)| {
                let mut b = Backend::new((*a).into(), 80, ForwardMethod::Masq);
                b.weight = *w;
                b
            })
            .collect();
        service
    }

    const CONFIG: &str = "virtual_server 10.0.0.1 80 {\n protocol TCP\n lb_algo rr\n quorum 2\n\
        sorry_server 10.0.9.9 80\n\
        real_server 10.0.1.1 80 {\n }\n real_server 10.0.1.2 80 {\n inhibit_on_failure\n }\n}\n";

    #[test]
    fn a_healthy_director_has_no_findings() {
        let s = snapshot(
            CONFIG,
            true,
            vec![service(
                [10, 0, 0, 1],
                "rr",
                &[([10, 0, 1, 1], 1), ([10, 0, 1, 2], 1)],
            )],
        );
        for rule in [
            &REAL_SERVER_DOWN,
            &QUORUM_LOST,
            &SORRY_SERVER_ACTIVE,
            &UNMANAGED_SERVICE,
            &UNMANAGED_REAL_SERVER,
            &VIRTUAL_SERVER_ABSENT,
            &SETTINGS_DRIFT,
        ] {
            assert_eq!(run(rule, &s, &[]), Check::Pass, "{}", rule.id);
        }
    }

    #[test]
    fn a_lost_quorum_shows_as_down_real_servers_quorum_lost_and_the_sorry_server() {
        let s = snapshot(
            CONFIG,
            true,
            vec![service(
                [10, 0, 0, 1],
                "rr",
                &[([10, 0, 1, 2], 0), ([10, 0, 9, 9], 1)],
            )],
        );
        assert_eq!(
            found_subjects(&run(&REAL_SERVER_DOWN, &s, &[])),
            vec![
                "TCP 10.0.0.1:80 -> 10.0.1.1:80".to_string(),
                "TCP 10.0.0.1:80 -> 10.0.1.2:80".to_string()
            ]
        );
        assert_eq!(
            found_subjects(&run(&QUORUM_LOST, &s, &[])),
            vec!["TCP 10.0.0.1:80".to_string()]
        );
        assert_eq!(
            found_subjects(&run(&SORRY_SERVER_ACTIVE, &s, &[])),
            vec!["TCP 10.0.0.1:80".to_string()]
        );
        // The sorry server is keepalived's own, not drift.
        assert_eq!(run(&UNMANAGED_REAL_SERVER, &s, &[]), Check::Pass);
    }

    #[test]
    fn drift_is_found_only_on_hosts_whose_keepalived_has_virtual_servers() {
        let services = || {
            vec![
                service(
                    [10, 0, 0, 1],
                    "wlc",
                    &[([10, 0, 1, 1], 1), ([10, 0, 1, 2], 1), ([10, 0, 1, 3], 1)],
                ),
                service([10, 0, 0, 2], "rr", &[]),
            ]
        };
        let s = snapshot(CONFIG, true, services());
        assert_eq!(
            found_subjects(&run(&UNMANAGED_SERVICE, &s, &[])),
            vec!["TCP 10.0.0.2:80".to_string()]
        );
        assert_eq!(
            found_subjects(&run(&UNMANAGED_REAL_SERVER, &s, &[])),
            vec!["TCP 10.0.0.1:80 -> 10.0.1.3:80".to_string()]
        );
        assert_eq!(
            found_subjects(&run(&SETTINGS_DRIFT, &s, &[])),
            vec!["TCP 10.0.0.1:80 scheduler".to_string()]
        );
        let vrrp_only = snapshot(
            "vrrp_instance VI_1 {\n interface eth0\n}\n",
            true,
            services(),
        );
        for rule in [&UNMANAGED_SERVICE, &UNMANAGED_REAL_SERVER, &SETTINGS_DRIFT] {
            assert_eq!(run(rule, &vrrp_only, &[]), Check::Pass, "{}", rule.id);
        }
        let absent = snapshot(CONFIG, true, Vec::new());
        assert_eq!(
            found_subjects(&run(&VIRTUAL_SERVER_ABSENT, &absent, &[])),
            vec!["TCP 10.0.0.1:80".to_string()]
        );
    }

    #[test]
    fn a_stopped_keepalived_is_skipped_not_reported_down() {
        let s = snapshot(CONFIG, false, Vec::new());
        assert!(matches!(run(&REAL_SERVER_DOWN, &s, &[]), Check::Skipped(_)));
        assert!(matches!(
            run(&VIRTUAL_SERVER_ABSENT, &s, &[]),
            Check::Skipped(_)
        ));
    }
}
