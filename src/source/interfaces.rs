//! The interfaces collector's I/O: the links and addresses of the exporter's network
//! namespace over rtnetlink (no privilege needed), for the advisor's real-server roles.

use super::keepalived::read_interfaces;
use super::netlink::SocketTransport;
use super::{
    Collected, CollectedData, Collector, CollectorOptions, CollectorSpec, Paths, SourceError,
};

pub struct InterfacesCollector;

/// The `interfaces` collector, as [`COLLECTORS`](super::COLLECTORS) lists it.
pub const COLLECTOR: CollectorSpec = CollectorSpec {
    name: "interfaces",
    help: "links and addresses over rtnetlink, for the advisor's real-server roles",
    enabled_by_default: true,
    build: build_collector,
};

fn build_collector(_paths: &Paths, _options: &CollectorOptions) -> Box<dyn Collector> {
    Box::new(InterfacesCollector)
}

impl Collector for InterfacesCollector {
    fn collect(&self) -> Result<Collected, SourceError> {
        let mut transport = SocketTransport::connect_to(neli::consts::socket::NlFamily::Route)?;
        let interfaces = read_interfaces(&mut transport)?;
        Ok(Collected {
            data: CollectedData::Interfaces(Box::new(interfaces)),
            problems: Vec::new(),
        })
    }
}
