//! The interfaces collector's I/O: the links and addresses of the exporter's network
//! namespace over rtnetlink (no privilege needed), for the advisor's real-server roles.

use super::keepalived::read_interfaces;
use super::netlink::SocketTransport;
use super::{Collected, CollectedData, Collector, SourceError};

pub struct InterfacesCollector;

impl Collector for InterfacesCollector {
    fn name(&self) -> &'static str {
        "interfaces"
    }

    fn collect(&self) -> Result<Collected, SourceError> {
        let mut transport = SocketTransport::connect_to(neli::consts::socket::NlFamily::Route)?;
        let interfaces = read_interfaces(&mut transport)?;
        Ok(Collected {
            data: CollectedData::Interfaces(Box::new(interfaces)),
            problems: Vec::new(),
        })
    }
}
