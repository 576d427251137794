//! What the exporter's network namespace shows of the VRRP instances: the links and addresses
//! rtnetlink reports (shared with the interfaces collector), from which each instance's role
//! is inferred, and, with `--keepalived.listen`, the peers heard advertising on the instances'
//! interfaces.

use std::sync::Arc;

use crate::model::interfaces::Interfaces;
use crate::model::keepalived::{InstanceRole, KeepalivedConfig, VrrpPeer, infer_state};
use crate::source::SourceError;
use crate::source::interfaces::SharedInterfaces;
use crate::source::vrrp_listen::VrrpListener;

/// Each instance's role, and the peers `listener` heard (`None` without one). The interfaces
/// are read only when the configuration has instances; the listener is pointed at the
/// instances' interfaces first, and what it cannot listen on goes to `problems`.
pub(super) fn observe(
    config: &KeepalivedConfig,
    running: bool,
    shared: &SharedInterfaces,
    listener: Option<&VrrpListener>,
    problems: &mut Vec<String>,
) -> Result<(Vec<InstanceRole>, Option<Vec<VrrpPeer>>), SourceError> {
    let interfaces = if config.instances.is_empty() {
        Arc::new(Interfaces::default())
    } else {
        shared.read().map_err(SourceError::Netlink)?
    };
    let peers = listener.map(|listener| {
        let mut names: Vec<String> = config
            .instances
            .iter()
            .filter_map(|i| i.interface.clone())
            .collect();
        names.sort();
        names.dedup();
        problems.extend(listener.listen_on(&names, &interfaces));
        listener.peers()
    });
    let roles = config
        .instances
        .iter()
        .map(|instance| infer_state(instance, running, &interfaces))
        .collect();
    Ok((roles, peers))
}
