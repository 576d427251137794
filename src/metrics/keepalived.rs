//! keepalived and VRRP families: whether keepalived runs, how its configuration parsed, and
//! each VRRP instance's role (one series per state, value 1 on the current one), virtual
//! addresses and configured priority.

use std::fmt;

use prometheus_client::encoding::DescriptorEncoder;

use super::{NO_LABELS, gauges};
use crate::model::keepalived::VrrpState;
use crate::snapshot::Snapshot;

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
    let roles = &keepalived.roles;
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
                        ("instance", role.instance.as_str()),
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
                        ("instance", role.instance.as_str()),
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
        roles
            .iter()
            .map(|r| ([("instance", r.instance.as_str())], i64::from(r.priority))),
    )
}
