//! What keepalived decided, as series: each configured real server's state against the
//! kernel's table and its configured weight (with the checkers' own view when keepalived's
//! data dump was read), and per configured virtual server (group members one by one) the real
//! servers configured and up, live weight, quorum and whether it holds, sorry server in use,
//! and presence in the kernel. The comparison itself is [`crate::model::keepalived_health`].

use std::fmt;

use prometheus_client::encoding::DescriptorEncoder;

use super::gauges;
use super::ipvs::service_label_values;
use crate::model::keepalived_health::{self, RealServerState, VirtualServerHealth};
use crate::model::snapshot::Snapshot;

type VirtualServerLabels = [(&'static str, String); 5];
type RealServerLabels = [(&'static str, String); 7];

fn virtual_server_labels(server: &VirtualServerHealth) -> VirtualServerLabels {
    let [proto, local_address, local_port, local_mark] = service_label_values(&server.service);
    [
        ("proto", proto),
        ("local_address", local_address),
        ("local_port", local_port),
        ("local_mark", local_mark),
        ("virtual_server_group", server.group.clone()),
    ]
}

pub(super) fn encode(snapshot: &Snapshot, encoder: &mut DescriptorEncoder) -> fmt::Result {
    let Some(keepalived) = &snapshot.keepalived else {
        return Ok(());
    };
    let health = keepalived_health::compare(keepalived, snapshot.ipvs.as_ref());
    let servers: Vec<(VirtualServerLabels, &VirtualServerHealth)> = health
        .virtual_servers
        .iter()
        .map(|s| (virtual_server_labels(s), s))
        .collect();
    let reals: Vec<(RealServerLabels, &keepalived_health::RealServerHealth)> = servers
        .iter()
        .flat_map(|(labels, server)| {
            server.real_servers.iter().map(move |real| {
                let [a, b, c, d, e] = labels.clone();
                (
                    [
                        a,
                        b,
                        c,
                        d,
                        e,
                        ("remote_address", real.address.to_string()),
                        ("remote_port", real.port.to_string()),
                    ],
                    real,
                )
            })
        })
        .collect();
    encode_real_servers(&reals, encoder)?;
    encode_virtual_servers(&servers, encoder)
}

/// Each configured real server: its state against the kernel's table, its configured weight
/// and the checkers' own view.
fn encode_real_servers(
    reals: &[(RealServerLabels, &keepalived_health::RealServerHealth)],
    encoder: &mut DescriptorEncoder,
) -> fmt::Result {
    gauges(
        encoder,
        "ipvs_keepalived_real_server_state",
        "A configured real server against the kernel's IPVS table: up (in it at its configured weight), down (taken out by its checks: absent, or weight 0 with inhibit_on_failure), reweighted (another weight), unknown (keepalived not running or no IPVS table); 1 on the current state.",
        None,
        reals.iter().flat_map(|(labels, real)| {
            RealServerState::ALL.into_iter().map(move |state| {
                let [a, b, c, d, e, f, g] = labels.clone();
                (
                    [a, b, c, d, e, f, g, ("state", state.as_str().to_string())],
                    i64::from(real.state == state),
                )
            })
        }),
    )?;
    gauges(
        encoder,
        "ipvs_keepalived_real_server_configured_weight",
        "A real server's weight in keepalived's configuration (keepalived's default 1 when unset).",
        None,
        reals
            .iter()
            .map(|(labels, real)| (labels.clone(), i64::from(real.configured_weight))),
    )?;
    gauges(
        encoder,
        "ipvs_keepalived_real_server_checker_alive",
        "keepalived's checkers' own view of a real server (its data dump): 1 alive, 0 failed.",
        None,
        reals.iter().filter_map(|(labels, real)| {
            real.checker_alive
                .map(|alive| (labels.clone(), i64::from(alive)))
        }),
    )
}

/// Each configured virtual server: its real servers configured and up, live weight, quorum
/// and whether it holds, sorry server in use, and presence in the kernel.
fn encode_virtual_servers(
    servers: &[(VirtualServerLabels, &VirtualServerHealth)],
    encoder: &mut DescriptorEncoder,
) -> fmt::Result {
    gauges(
        encoder,
        "ipvs_keepalived_virtual_server_real_servers",
        "Real servers configured for a keepalived virtual server.",
        None,
        servers
            .iter()
            .map(|(labels, s)| (labels.clone(), s.real_servers.len() as i64)),
    )?;
    gauges(
        encoder,
        "ipvs_keepalived_virtual_server_real_servers_up",
        "Configured real servers in the kernel's table with a weight above 0 (state up or reweighted).",
        None,
        servers
            .iter()
            .filter_map(|(labels, s)| s.real_servers_up.map(|n| (labels.clone(), n as i64))),
    )?;
    gauges(
        encoder,
        "ipvs_keepalived_virtual_server_live_weight",
        "Sum of the weights the kernel has for a virtual server's configured real servers.",
        None,
        servers
            .iter()
            .filter_map(|(labels, s)| s.live_weight.map(|w| (labels.clone(), w))),
    )?;
    gauges(
        encoder,
        "ipvs_keepalived_virtual_server_quorum",
        "A virtual server's quorum: the least live weight that keeps it up (keepalived's default 1).",
        None,
        servers
            .iter()
            .map(|(labels, s)| (labels.clone(), i64::from(s.quorum))),
    )?;
    gauges(
        encoder,
        "ipvs_keepalived_virtual_server_quorum_hysteresis",
        "A virtual server's quorum hysteresis (keepalived's default 0).",
        None,
        servers
            .iter()
            .map(|(labels, s)| (labels.clone(), i64::from(s.hysteresis))),
    )?;
    gauges(
        encoder,
        "ipvs_keepalived_virtual_server_quorum_up",
        "Whether a virtual server's quorum holds: 0 when the live weight is below quorum - hysteresis, 1 at quorum + hysteresis or more, in between 0 while the sorry server is in use.",
        None,
        servers
            .iter()
            .filter_map(|(labels, s)| s.quorum_up.map(|up| (labels.clone(), i64::from(up)))),
    )?;
    gauges(
        encoder,
        "ipvs_keepalived_virtual_server_sorry_server_active",
        "Whether a virtual server's configured sorry_server is in the kernel's table with a weight above 0.",
        None,
        servers.iter().filter_map(|(labels, s)| {
            s.sorry_server
                .as_ref()
                .and_then(|sorry| sorry.active)
                .map(|active| (labels.clone(), i64::from(active)))
        }),
    )?;
    gauges(
        encoder,
        "ipvs_keepalived_virtual_server_present",
        "Whether the kernel's IPVS table has a configured virtual server's service.",
        None,
        servers
            .iter()
            .filter_map(|(labels, s)| s.present.map(|p| (labels.clone(), i64::from(p)))),
    )
}
