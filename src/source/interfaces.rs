//! The interfaces collector's I/O: the links, addresses and (for IP-in-IP tunnel devices) the
//! routes of the exporter's network namespace over rtnetlink (no privilege needed), for the
//! advisor's real-server roles and keepalived's VRRP instances. Both collectors read through
//! one [`SharedInterfaces`], so a scrape dumps them once.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::netlink::{Protocol, SocketTransport, Transport, TransportError, check_replies};
use super::{Collected, CollectedData, Collector, SourceError};
use crate::model::interfaces::Interfaces;
use crate::netlink::encode::route_dump_request;
use crate::netlink::uapi::{RTM_GETADDR, RTM_GETLINK, RTM_GETROUTE};
use crate::parse::rtnetlink::{count_routes_out, decode_addresses, decode_links};

/// The sequence number of each dump request.
const SEQUENCE: u32 = 1;

/// Opens the rtnetlink connection (a real socket, or canned replies in tests).
pub type Connect = fn() -> Result<Box<dyn Transport>, TransportError>;

fn connect_route() -> Result<Box<dyn Transport>, TransportError> {
    Ok(Box::new(SocketTransport::connect_to(Protocol::Route)?))
}

/// A dump younger than this is handed to the next reader instead of dumping again: the
/// collectors of one scrape run together, well within it, and scrapes come seconds apart.
const REUSE: Duration = Duration::from_secs(1);

/// The one reader of links and addresses, shared by the collectors that need them. A reader
/// that comes while a dump is under way waits for it; one that comes within [`REUSE`] of the
/// last dump gets that dump. Failures are not kept: the next reader tries again.
#[derive(Clone)]
pub struct SharedInterfaces {
    connect: Connect,
    last: Arc<Mutex<Option<(Instant, Arc<Interfaces>)>>>,
}

impl std::fmt::Debug for SharedInterfaces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedInterfaces").finish_non_exhaustive()
    }
}

impl Default for SharedInterfaces {
    fn default() -> Self {
        Self::with_transport(connect_route)
    }
}

impl SharedInterfaces {
    pub fn with_transport(connect: Connect) -> Self {
        SharedInterfaces {
            connect,
            last: Arc::new(Mutex::new(None)),
        }
    }

    /// The interfaces, from a recent dump or a new one.
    pub fn read(&self) -> Result<Arc<Interfaces>, TransportError> {
        let mut last = match self.last.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some((at, interfaces)) = last.as_ref()
            && at.elapsed() < REUSE
        {
            return Ok(Arc::clone(interfaces));
        }
        let started = Instant::now();
        let mut transport = (self.connect)()?;
        let interfaces = Arc::new(read_interfaces(transport.as_mut())?);
        *last = Some((started, Arc::clone(&interfaces)));
        Ok(interfaces)
    }
}

pub struct InterfacesCollector {
    shared: SharedInterfaces,
}

impl InterfacesCollector {
    pub fn new(shared: SharedInterfaces) -> Self {
        InterfacesCollector { shared }
    }
}

impl Collector for InterfacesCollector {
    fn name(&self) -> &'static str {
        "interfaces"
    }

    fn collect(&self) -> Result<Collected, SourceError> {
        let interfaces = self.shared.read().map_err(SourceError::Netlink)?;
        Ok(Collected {
            data: CollectedData::Interfaces(Box::new(Interfaces::clone(&interfaces))),
            problems: Vec::new(),
        })
    }
}

/// Dumps the links and addresses of the exporter's network namespace, and, when an IP-in-IP
/// tunnel device holds an address, the routes, to count those that leave through each such
/// device (a TUN real server's tunnel only receives; an overlay's carries routes). Other
/// hosts are spared the route dump, which on a router can be the whole Internet's table.
pub fn read_interfaces(transport: &mut dyn Transport) -> Result<Interfaces, TransportError> {
    let links = transport.exchange(&route_dump_request(RTM_GETLINK, SEQUENCE)?)?;
    check_replies(&links)?;
    let addresses = transport.exchange(&route_dump_request(RTM_GETADDR, SEQUENCE)?)?;
    check_replies(&addresses)?;
    let mut interfaces = Interfaces {
        links: decode_links(&links)?,
        addresses: decode_addresses(&addresses)?,
    };
    let addressed_tunnel = |index: u32| interfaces.addresses.iter().any(|a| a.index == index);
    let tunnels: Vec<u32> = interfaces
        .links
        .iter()
        .filter(|l| l.is_tunnel() && addressed_tunnel(l.index))
        .map(|l| l.index)
        .collect();
    if tunnels.is_empty() {
        return Ok(interfaces);
    }
    // Without the routes a tunnel's role stays unknown (weak evidence), nothing more.
    match read_route_counts(transport) {
        Ok(counts) => {
            for link in &mut interfaces.links {
                if tunnels.contains(&link.index) {
                    link.routes_out = Some(counts.get(&link.index).copied().unwrap_or(0));
                }
            }
        }
        Err(err) => tracing::warn!(error = %err, "cannot count the routes through tunnel devices"),
    }
    Ok(interfaces)
}

fn read_route_counts(
    transport: &mut dyn Transport,
) -> Result<std::collections::BTreeMap<u32, u32>, TransportError> {
    let routes = transport.exchange(&route_dump_request(RTM_GETROUTE, SEQUENCE)?)?;
    check_replies(&routes)?;
    Ok(count_routes_out(&routes)?)
}
