//! The interfaces collector's I/O: the links and addresses of the exporter's network
//! namespace over rtnetlink (no privilege needed), for the advisor's real-server roles and
//! keepalived's VRRP instances.

use super::netlink::{Protocol, SocketTransport, Transport, TransportError, check_replies};
use super::{
    Collected, CollectedData, Collector, CollectorOptions, CollectorSpec, Paths, SourceError,
};
use crate::model::interfaces::Interfaces;
use crate::netlink::encode::route_dump_request;
use crate::netlink::uapi::{RTM_GETADDR, RTM_GETLINK};
use crate::parse::rtnetlink::{decode_addresses, decode_links};

/// The sequence number of each dump request.
const SEQUENCE: u32 = 1;

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
        let mut transport = SocketTransport::connect_to(Protocol::Route)?;
        let interfaces = read_interfaces(&mut transport)?;
        Ok(Collected {
            data: CollectedData::Interfaces(Box::new(interfaces)),
            problems: Vec::new(),
        })
    }
}

/// Dumps the links and addresses of the exporter's network namespace.
pub fn read_interfaces(transport: &mut dyn Transport) -> Result<Interfaces, TransportError> {
    let links = transport.exchange(&route_dump_request(RTM_GETLINK, SEQUENCE)?)?;
    check_replies(&links)?;
    let addresses = transport.exchange(&route_dump_request(RTM_GETADDR, SEQUENCE)?)?;
    check_replies(&addresses)?;
    Ok(Interfaces {
        links: decode_links(&links)?,
        addresses: decode_addresses(&addresses)?,
    })
}
