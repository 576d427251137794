//! The interfaces collector's I/O: the links, addresses and (for IP-in-IP tunnel devices) the
//! routes of the exporter's network namespace over rtnetlink (no privilege needed), for the
//! advisor's real-server roles and keepalived's VRRP instances. Both collectors read through
//! one [`SharedInterfaces`], so a scrape dumps them once.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{
    Collected, CollectedData, Collector, CollectorOptions, CollectorSpec, Paths, SourceError,
};
use crate::model::interfaces::Interfaces;
use crate::netlink::encode::route_dump_request;
use crate::netlink::socket::{Protocol, SocketTransport, Transport, TransportError, check_replies};
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

/// A dump and when it began.
type Dumped = (Instant, Arc<Interfaces>);

/// The one reader of links and addresses, shared by the collectors that need them. A reader
/// that comes while a dump is under way waits for it; one that comes within [`REUSE`] of the
/// last dump gets that dump. Failures are not kept: the next reader tries again.
#[derive(Clone)]
pub struct SharedInterfaces {
    connect: Connect,
    last: Arc<Mutex<Option<Dumped>>>,
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

/// The `interfaces` collector, as [`COLLECTORS`](super::COLLECTORS) lists it.
pub const COLLECTOR: CollectorSpec = CollectorSpec {
    name: "interfaces",
    help: "links and addresses over rtnetlink, for the advisor's real-server roles",
    enabled_by_default: true,
    build: build_collector,
};

fn build_collector(_paths: &Paths, options: &CollectorOptions) -> Box<dyn Collector> {
    Box::new(InterfacesCollector::new(options.interfaces.clone()))
}

impl Collector for InterfacesCollector {
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

impl super::SnapshotPart for Box<Interfaces> {
    fn store(self, snapshot: &mut crate::model::snapshot::Snapshot) {
        snapshot.interfaces = Some(*self);
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::netlink::encode::MessageWriter;
    use crate::netlink::uapi::{
        AF_INET, AF_INET6, IFA_LOCAL, IFLA_IFNAME, IFLA_INFO_KIND, IFLA_LINKINFO, NLM_F_MULTI,
        NLMSG_DONE, RT_TABLE_LOCAL, RTA_DST, RTA_MULTIPATH, RTA_OIF, RTM_NEWADDR, RTM_NEWLINK,
        RTM_NEWROUTE, RTN_UNICAST,
    };
    use crate::source::Paths;
    use crate::source::keepalived::{KeepalivedCollector, KeepalivedOptions};

    fn message(kind: u16, header: &[u8], attributes: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut writer = MessageWriter::new(kind, NLM_F_MULTI, SEQUENCE);
        writer.header(header);
        for (kind, payload) in attributes {
            writer.attribute(*kind, payload);
        }
        writer.finish().unwrap_or_default()
    }

    fn link(index: u32, name: &str, hardware_type: u16, kind: Option<&str>) -> Vec<u8> {
        let mut header = [0u8; 16];
        header[2..4].copy_from_slice(&hardware_type.to_ne_bytes());
        header[4..8].copy_from_slice(&index.to_ne_bytes());
        header[8..12].copy_from_slice(&0x41u32.to_ne_bytes());
        let mut writer = MessageWriter::new(RTM_NEWLINK, NLM_F_MULTI, SEQUENCE);
        writer.header(&header);
        writer.attribute(IFLA_IFNAME, format!("{name}\0").as_bytes());
        if let Some(kind) = kind {
            writer.begin_nested(IFLA_LINKINFO);
            writer.attribute(IFLA_INFO_KIND, kind.as_bytes());
            writer.end_nested();
        }
        writer.finish().unwrap_or_default()
    }

    fn address(index: u32, octets: [u8; 4], prefix: u8) -> Vec<u8> {
        let mut header = [0u8; 8];
        header[0] = AF_INET as u8;
        header[1] = prefix;
        header[4..8].copy_from_slice(&index.to_ne_bytes());
        message(RTM_NEWADDR, &header, &[(IFA_LOCAL, octets.to_vec())])
    }

    fn route(family: u16, table: u8, kind: u8, attributes: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut header = [0u8; 12];
        header[0] = family as u8;
        header[1] = if family == AF_INET6 { 64 } else { 24 };
        header[4] = table;
        header[7] = kind;
        message(RTM_NEWROUTE, &header, attributes)
    }

    fn next_hop(index: u32) -> Vec<u8> {
        let mut hop = 8u16.to_ne_bytes().to_vec();
        hop.extend([0, 0]);
        hop.extend(index.to_ne_bytes());
        hop
    }

    fn done() -> Vec<u8> {
        MessageWriter::new(NLMSG_DONE, NLM_F_MULTI, SEQUENCE)
            .header(&0u32.to_ne_bytes())
            .finish()
            .unwrap_or_default()
    }

    /// Link dumps asked of [`Counted`].
    static LINK_DUMPS: AtomicUsize = AtomicUsize::new(0);

    /// [`Kernel`], counting link dumps (for one test only: the count is process-wide).
    struct Counted;

    impl Transport for Counted {
        fn exchange(&mut self, request: &[u8]) -> Result<Vec<Vec<u8>>, TransportError> {
            if u16::from_ne_bytes([request[4], request[5]]) == RTM_GETLINK {
                LINK_DUMPS.fetch_add(1, Ordering::SeqCst);
            }
            Kernel.exchange(request)
        }
    }

    /// A kernel with lo, eth0 and an ipip tunl0 holding a /32, and routes: two that leave
    /// through tunl0 (one of them multipath), and three that do not count (the local table,
    /// IPv6 link-local, one through eth0).
    struct Kernel;

    impl Transport for Kernel {
        fn exchange(&mut self, request: &[u8]) -> Result<Vec<Vec<u8>>, TransportError> {
            let kind = u16::from_ne_bytes([request[4], request[5]]);
            let mut reply: Vec<Vec<u8>> = match kind {
                RTM_GETLINK => {
                    vec![
                        link(1, "lo", 772, None),
                        link(2, "eth0", 1, None),
                        link(3, "tunl0", 768, Some("ipip")),
                    ]
                }
                RTM_GETADDR => vec![
                    address(1, [127, 0, 0, 1], 8),
                    address(2, [198, 51, 100, 7], 24),
                    address(3, [10, 244, 1, 0], 32),
                ],
                _ => {
                    let oif = |i: u32| (RTA_OIF, i.to_ne_bytes().to_vec());
                    vec![
                        route(AF_INET, 254, RTN_UNICAST, &[oif(3)]),
                        route(
                            AF_INET,
                            254,
                            RTN_UNICAST,
                            &[(RTA_MULTIPATH, [next_hop(3), next_hop(2)].concat())],
                        ),
                        route(AF_INET, RT_TABLE_LOCAL as u8, 2, &[oif(3)]),
                        route(
                            AF_INET6,
                            254,
                            RTN_UNICAST,
                            &[
                                (
                                    RTA_DST,
                                    vec![0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                                ),
                                oif(3),
                            ],
                        ),
                        route(AF_INET, 254, RTN_UNICAST, &[oif(2)]),
                    ]
                }
            };
            reply.push(done());
            Ok(vec![reply.concat()])
        }
    }

    fn connect_kernel() -> Result<Box<dyn Transport>, TransportError> {
        Ok(Box::new(Counted))
    }

    #[test]
    fn link_kinds_and_the_routes_through_a_tunnel_are_read() {
        let interfaces = read_interfaces(&mut Kernel).expect("reads");
        let tunl0 = interfaces.link("tunl0").expect("tunl0");
        assert_eq!(tunl0.kind.as_deref(), Some("ipip"));
        assert_eq!(tunl0.routes_out, Some(2));
        assert_eq!(interfaces.link("eth0").and_then(|l| l.routes_out), None);
        assert_eq!(interfaces.link("lo").and_then(|l| l.kind.clone()), None);
    }

    #[test]
    fn the_interfaces_and_keepalived_collectors_dump_links_once_per_scrape() {
        let shared = SharedInterfaces::with_transport(connect_kernel);
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let keepalived = KeepalivedCollector::sharing(
            Paths {
                rootfs: root,
                ..Paths::default()
            },
            KeepalivedOptions {
                config_file: PathBuf::from("/keepalived-conf/dr-director.conf"),
                ..KeepalivedOptions::default()
            },
            shared.clone(),
        );
        let interfaces = InterfacesCollector::new(shared);
        let (a, b) = std::thread::scope(|scope| {
            let a = scope.spawn(|| interfaces.collect());
            let b = scope.spawn(|| keepalived.collect());
            (a.join(), b.join())
        });
        assert!(matches!(a, Ok(Ok(_))), "{a:?}");
        match b {
            Ok(Ok(Collected {
                data: CollectedData::Keepalived(k),
                ..
            })) => assert!(
                !k.roles.is_empty(),
                "keepalived's instances got their roles"
            ),
            other => panic!("{other:?}"),
        }
        assert_eq!(LINK_DUMPS.load(Ordering::SeqCst), 1);
    }
}
