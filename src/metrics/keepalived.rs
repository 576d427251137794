//! keepalived and VRRP families: whether keepalived runs, how its configuration parsed, and
//! each VRRP instance's role (one series per state, value 1 on the current one), virtual
//! addresses and configured priority; with keepalived's JSON dump, its effective priorities
//! and counters; with its data dump, the dump's age (and effective priorities when there is no
//! JSON dump); the changes into MASTER within the flapping window.

use std::collections::BTreeMap;
use std::fmt;

use prometheus_client::encoding::DescriptorEncoder;

use super::{NO_LABELS, counters, gauges};
use crate::model::keepalived::{InstanceRole, Keepalived, VrrpState};
use crate::model::snapshot::Snapshot;

pub(super) fn encode(snapshot: &Snapshot, encoder: &mut DescriptorEncoder) -> fmt::Result {
    let Some(keepalived) = &snapshot.keepalived else {
        return Ok(());
    };
    gauges(
        encoder,
        "ipvs_keepalived_up",
        "Whether keepalived runs: its pid file names a live keepalived process.",
        None,
        std::iter::once((NO_LABELS, i64::from(keepalived.process.running))),
    )?;
    gauges(
        encoder,
        "ipvs_keepalived_config_errors",
        "Syntax errors and unreadable values in keepalived's configuration (the log names each); what could be parsed is still used.",
        None,
        std::iter::once((NO_LABELS, keepalived.config.errors.len() as i64)),
    )?;
    gauges(
        encoder,
        "ipvs_keepalived_config_files",
        "Files read from keepalived's configuration, its includes counted.",
        None,
        std::iter::once((NO_LABELS, keepalived.config.files.len() as i64)),
    )?;
    gauges(
        encoder,
        "ipvs_keepalived_virtual_servers",
        "virtual_server blocks in keepalived's configuration.",
        None,
        std::iter::once((NO_LABELS, keepalived.config.virtual_servers.len() as i64)),
    )?;
    encode_roles(&keepalived.roles, encoder)?;
    encode_dump(keepalived.dump.as_ref(), encoder)?;
    encode_transitions(keepalived, encoder)?;
    encode_data_dump(keepalived, encoder)?;
    encode_peers(keepalived.peers.as_deref().unwrap_or_default(), encoder)
}

/// Each VRRP instance's role as the kernel shows it: state, virtual addresses, priority.
fn encode_roles(roles: &[InstanceRole], encoder: &mut DescriptorEncoder) -> fmt::Result {
    let vrids: Vec<String> = roles
        .iter()
        .map(|r| r.vrid.map(|v| v.to_string()).unwrap_or_default())
        .collect();
    gauges(
        encoder,
        "ipvs_vrrp_state",
        "VRRP instance state as the kernel shows it (virtual addresses present: MASTER; none: BACKUP; interface down: FAULT; keepalived not running: STOP; otherwise INIT); 1 on the current state.",
        None,
        roles.iter().zip(&vrids).flat_map(|(role, vrid)| {
            VrrpState::ALL.into_iter().map(move |state| {
                (
                    [
                        ("vrrp_instance", role.instance.as_str()),
                        ("interface", role.interface.as_str()),
                        ("vrid", vrid.as_str()),
                        ("state", state.as_str()),
                    ],
                    i64::from(role.state == state),
                )
            })
        }),
    )?;
    let addresses: Vec<Vec<String>> = roles
        .iter()
        .map(|r| r.vips.iter().map(|v| v.address.to_string()).collect())
        .collect();
    gauges(
        encoder,
        "ipvs_vrrp_vip_present",
        "Whether a VRRP instance's virtual address is on its interface.",
        None,
        roles.iter().zip(&addresses).flat_map(|(role, texts)| {
            role.vips.iter().zip(texts).map(move |(vip, text)| {
                (
                    [
                        ("vrrp_instance", role.instance.as_str()),
                        ("interface", vip.interface.as_str()),
                        ("address", text.as_str()),
                    ],
                    i64::from(vip.present),
                )
            })
        }),
    )?;
    gauges(
        encoder,
        "ipvs_vrrp_priority",
        "A VRRP instance's configured priority (keepalived's default 100 when unset).",
        None,
        roles.iter().map(|r| {
            (
                [("vrrp_instance", r.instance.as_str())],
                i64::from(r.priority),
            )
        }),
    )
}

fn encode_peers(
    peers: &[crate::model::keepalived::VrrpPeer],
    encoder: &mut DescriptorEncoder,
) -> fmt::Result {
    let texts: Vec<(String, String)> = peers
        .iter()
        .map(|p| (p.vrid.to_string(), p.source.to_string()))
        .collect();
    let labels = || {
        peers.iter().zip(&texts).map(|(p, (vrid, source))| {
            (
                [
                    ("interface", p.interface.as_str()),
                    ("vrid", vrid.as_str()),
                    ("source", source.as_str()),
                ],
                p,
            )
        })
    };
    counters(
        encoder,
        "ipvs_vrrp_peer_advertisements",
        "VRRP adverts heard on the interface since the exporter started, by VRID and sender (--collector.vrrp.listen).",
        None,
        labels().map(|(l, p)| (l, p.adverts)),
    )?;
    gauges(
        encoder,
        "ipvs_vrrp_peer_priority",
        "The priority in the sender's last VRRP advert for the VRID (--collector.vrrp.listen).",
        None,
        labels().map(|(l, p)| (l, i64::from(p.priority))),
    )
}

/// Transitions from the notify FIFO, and the time of each instance's last one: from the FIFO
/// when it has seen one, otherwise from the JSON dump.
fn encode_transitions(keepalived: &Keepalived, encoder: &mut DescriptorEncoder) -> fmt::Result {
    let mut last: BTreeMap<&str, f64> = BTreeMap::new();
    if let Some(dump) = &keepalived.dump {
        for instance in &dump.instances {
            if let Some(t) = instance.last_transition {
                last.insert(instance.name.as_str(), t);
            }
        }
    }
    if let Some(notify) = &keepalived.notify {
        for (instance, t) in &notify.last_transition {
            last.insert(instance.as_str(), *t);
        }
        gauges(
            encoder,
            "ipvs_keepalived_notify_fifo_connected",
            "Whether keepalived's notify FIFO is open with keepalived writing to it.",
            None,
            std::iter::once((NO_LABELS, i64::from(notify.connected))),
        )?;
        counters(
            encoder,
            "ipvs_vrrp_transitions",
            "VRRP state changes keepalived announced on its notify FIFO since the exporter started, by new state.",
            None,
            notify.transitions.iter().map(|(instance, state, n)| {
                (
                    [
                        ("vrrp_instance", instance.as_str()),
                        ("state", state.as_str()),
                    ],
                    *n,
                )
            }),
        )?;
    }
    gauges(
        encoder,
        "ipvs_vrrp_last_transition_timestamp_seconds",
        "Unix time of a VRRP instance's last state change (notify FIFO, else keepalived's JSON dump).",
        None,
        last.into_iter()
            .map(|(instance, t)| ([("vrrp_instance", instance)], t)),
    )
}

/// Counters of keepalived's dump with a family of their own: (keepalived's name, family, help).
const DUMP_COUNTERS: [(&str, &str, &str); 6] = [
    (
        "advert_rcvd",
        "ipvs_vrrp_adverts_received",
        "VRRP adverts the instance received (keepalived's JSON dump).",
    ),
    (
        "advert_sent",
        "ipvs_vrrp_adverts_sent",
        "VRRP adverts the instance sent (keepalived's JSON dump).",
    ),
    (
        "become_master",
        "ipvs_vrrp_become_master",
        "Times the instance became MASTER (keepalived's JSON dump).",
    ),
    (
        "release_master",
        "ipvs_vrrp_release_master",
        "Times the instance gave up MASTER (keepalived's JSON dump).",
    ),
    (
        "pri_zero_rcvd",
        "ipvs_vrrp_priority_zero_adverts_received",
        "Priority-0 adverts received: a master leaving (keepalived's JSON dump).",
    ),
    (
        "pri_zero_sent",
        "ipvs_vrrp_priority_zero_adverts_sent",
        "Priority-0 adverts sent when leaving MASTER (keepalived's JSON dump).",
    ),
];

/// Counters of keepalived's dump that count bad adverts, by the `reason` label they get.
const DUMP_ERRORS: [(&str, &str); 8] = [
    ("packet_len_err", "packet_length"),
    ("advert_interval_err", "advert_interval"),
    ("ip_ttl_err", "ip_ttl"),
    ("invalid_type_rcvd", "invalid_type"),
    ("addr_list_err", "address_list"),
    ("invalid_authtype", "invalid_auth_type"),
    ("authtype_mismatch", "auth_type_mismatch"),
    ("auth_failure", "auth_failure"),
];

/// The data dump's age per part, effective priorities from it when there is no JSON dump, and
/// the changes into MASTER within the flapping window.
fn encode_data_dump(keepalived: &Keepalived, encoder: &mut DescriptorEncoder) -> fmt::Result {
    let ages = [
        (
            "vrrp",
            keepalived.vrrp_data_dump.as_ref().map(|d| d.age_seconds),
        ),
        (
            "checker",
            keepalived.checker_dump.as_ref().map(|d| d.age_seconds),
        ),
    ];
    gauges(
        encoder,
        "ipvs_keepalived_data_dump_age_seconds",
        "How long before the scrape keepalived wrote the data dump that was read (SIGUSR1), by part: vrrp (keepalived.data) or checker (keepalived_check.data).",
        None,
        ages.into_iter()
            .filter_map(|(part, age)| age.map(|age| ([("part", part)], age))),
    )?;
    if keepalived.dump.is_none()
        && let Some(data) = &keepalived.vrrp_data_dump
    {
        gauges(
            encoder,
            "ipvs_vrrp_effective_priority",
            "A VRRP instance's priority after tracked scripts and interfaces changed it (keepalived's JSON dump, else its data dump).",
            None,
            data.instances.iter().filter_map(|i| {
                i.effective_priority
                    .map(|p| ([("vrrp_instance", i.name.as_str())], p))
            }),
        )?;
    }
    if let Some(recent) = &keepalived.recent_transitions {
        gauges(
            encoder,
            "ipvs_vrrp_became_master_recent",
            "Times a VRRP instance became MASTER within the exporter's flapping window (10 minutes), from keepalived's notify FIFO or else its JSON dump's become_master counter (counted from the exporter's first read).",
            None,
            recent
                .instances
                .iter()
                .map(|(instance, n)| ([("vrrp_instance", instance.as_str())], *n as i64)),
        )?;
    }
    Ok(())
}

fn encode_dump(
    dump: Option<&crate::model::keepalived::Dump>,
    encoder: &mut DescriptorEncoder,
) -> fmt::Result {
    let Some(dump) = dump else {
        return Ok(());
    };
    gauges(
        encoder,
        "ipvs_keepalived_dump_age_seconds",
        "How long before the scrape keepalived wrote the JSON dump that was read.",
        None,
        std::iter::once((NO_LABELS, dump.age_seconds)),
    )?;
    let instances = &dump.instances;
    gauges(
        encoder,
        "ipvs_vrrp_effective_priority",
        "A VRRP instance's priority after tracked scripts and interfaces changed it (keepalived's JSON dump).",
        None,
        instances.iter().filter_map(|i| {
            i.effective_priority
                .map(|p| ([("vrrp_instance", i.name.as_str())], p))
        }),
    )?;
    let stat = |i: &crate::model::keepalived::DumpInstance, name: &str| {
        i.stats.iter().find(|(k, _)| k == name).map(|(_, v)| *v)
    };
    for (key, family, help) in DUMP_COUNTERS {
        counters(
            encoder,
            family,
            help,
            None,
            instances
                .iter()
                .filter_map(|i| stat(i, key).map(|v| ([("vrrp_instance", i.name.as_str())], v))),
        )?;
    }
    counters(
        encoder,
        "ipvs_vrrp_advert_errors",
        "Bad VRRP adverts the instance received, by reason (keepalived's JSON dump).",
        None,
        instances.iter().flat_map(|i| {
            DUMP_ERRORS.iter().filter_map(move |(key, reason)| {
                stat(i, key).map(|v| ([("vrrp_instance", i.name.as_str()), ("reason", *reason)], v))
            })
        }),
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::metrics::{EncodeOptions, Format, encode};
    use crate::model::keepalived::{
        DataDumpInstance, Dump, DumpInstance, Keepalived, KeepalivedConfig, KeepalivedProcess,
        NotifyReading, RecentTransitions, TransitionSource, VrrpDataDump, VrrpState,
    };
    use crate::model::snapshot::Snapshot;

    fn snapshot(dump: Option<Dump>, notify: Option<NotifyReading>) -> String {
        with_data(dump, notify, None, None)
    }

    fn with_data(
        dump: Option<Dump>,
        notify: Option<NotifyReading>,
        vrrp_data_dump: Option<VrrpDataDump>,
        recent_transitions: Option<RecentTransitions>,
    ) -> String {
        let snapshot = Snapshot {
            keepalived: Some(Keepalived {
                config_file: "/etc/keepalived/keepalived.conf".into(),
                config: KeepalivedConfig::default(),
                process: KeepalivedProcess {
                    pid: Some(1),
                    running: true,
                },
                roles: Vec::new(),
                dump,
                notify,
                peers: None,
                checker_dump: None,
                vrrp_data_dump,
                recent_transitions,
            }),
            ..Snapshot::default()
        };
        encode(
            Arc::new(snapshot),
            Format::Classic,
            &EncodeOptions::default(),
        )
    }

    fn dump() -> Dump {
        Dump {
            age_seconds: 1.5,
            instances: vec![DumpInstance {
                name: "VI_1".into(),
                effective_priority: Some(130),
                last_transition: Some(1_700_000_000.5),
                stats: vec![
                    ("advert_rcvd".into(), 12),
                    ("become_master".into(), 2),
                    ("auth_failure".into(), 3),
                ],
                ..DumpInstance::default()
            }],
        }
    }

    #[test]
    fn dump_series() {
        let text = snapshot(Some(dump()), None);
        for line in [
            "ipvs_keepalived_dump_age_seconds 1.5",
            "ipvs_vrrp_effective_priority{vrrp_instance=\"VI_1\"} 130",
            "ipvs_vrrp_adverts_received_total{vrrp_instance=\"VI_1\"} 12",
            "ipvs_vrrp_become_master_total{vrrp_instance=\"VI_1\"} 2",
            "ipvs_vrrp_advert_errors_total{vrrp_instance=\"VI_1\",reason=\"auth_failure\"} 3",
            "ipvs_vrrp_last_transition_timestamp_seconds{vrrp_instance=\"VI_1\"} 1700000000.5",
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
        assert!(!text.contains("ipvs_vrrp_transitions_total"));
    }

    #[test]
    fn the_fifo_time_wins_over_the_dump_time() {
        let notify = NotifyReading {
            connected: true,
            transitions: vec![
                ("VI_1".into(), VrrpState::Backup, 1),
                ("VI_1".into(), VrrpState::Master, 2),
            ],
            last_transition: vec![("VI_1".into(), 1_800_000_000.25)],
            malformed_lines: 0,
        };
        let text = snapshot(Some(dump()), Some(notify));
        for line in [
            "ipvs_keepalived_notify_fifo_connected 1",
            "ipvs_vrrp_transitions_total{vrrp_instance=\"VI_1\",state=\"BACKUP\"} 1",
            "ipvs_vrrp_transitions_total{vrrp_instance=\"VI_1\",state=\"MASTER\"} 2",
            "ipvs_vrrp_last_transition_timestamp_seconds{vrrp_instance=\"VI_1\"} 1800000000.25",
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
    }

    fn data() -> VrrpDataDump {
        VrrpDataDump {
            age_seconds: 0.25,
            instances: vec![DataDumpInstance {
                name: "VI_1".into(),
                base_priority: Some(150),
                effective_priority: Some(110),
                ..DataDumpInstance::default()
            }],
        }
    }

    #[test]
    fn the_data_dump_gives_its_age_and_priorities_unless_the_json_dump_does() {
        let text = with_data(None, None, Some(data()), None);
        for line in [
            "ipvs_keepalived_data_dump_age_seconds{part=\"vrrp\"} 0.25",
            "ipvs_vrrp_effective_priority{vrrp_instance=\"VI_1\"} 110",
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
        assert!(!text.contains("part=\"checker\""));
        assert!(!text.contains("ipvs_vrrp_became_master_recent"));
        let both = with_data(Some(dump()), None, Some(data()), None);
        assert_eq!(
            both.matches("# TYPE ipvs_vrrp_effective_priority ").count(),
            1,
            "{both}"
        );
        assert!(both.contains("ipvs_vrrp_effective_priority{vrrp_instance=\"VI_1\"} 130"));
    }

    #[test]
    fn recent_transitions_per_instance() {
        let recent = RecentTransitions {
            window_seconds: 600.0,
            source: TransitionSource::NotifyFifo,
            instances: vec![("VI_1".into(), 4), ("VI_2".into(), 0)],
        };
        let text = with_data(None, None, None, Some(recent));
        for line in [
            "ipvs_vrrp_became_master_recent{vrrp_instance=\"VI_1\"} 4",
            "ipvs_vrrp_became_master_recent{vrrp_instance=\"VI_2\"} 0",
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
    }
}
