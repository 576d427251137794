//! Listening for VRRP adverts (`--collector.vrrp.listen`): one thread per VRRP interface, each
//! with a raw IPv4 socket for protocol 112 bound to its interface and joined to 224.0.0.18
//! there (the kernel only accepts multicast for groups joined on the interface). Each advert
//! is counted by interface, VRID and sender, with the priority it last announced. Raw sockets
//! need CAP_NET_RAW; without it the listener says so once and the rest of the collector goes on.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, MutexGuard};

use socket2::{Domain, InterfaceIndexOrAddress, Protocol, Socket, Type};

use crate::model::interfaces::Interfaces;
use crate::model::keepalived::VrrpPeer;
use crate::parse::vrrp::{IPPROTO_VRRP, VRRP_GROUP, parse_advert};

type PeerKey = (String, u8, Ipv4Addr);

#[derive(Debug, Default)]
struct Shared {
    /// (interface, vrid, source) -> (adverts, last priority)
    peers: Mutex<BTreeMap<PeerKey, (u64, u8)>>,
    /// Interfaces with a listener, or on which one could not be started.
    tried: Mutex<BTreeSet<String>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// The listeners; their threads run for the life of the process.
#[derive(Debug, Default)]
pub struct VrrpListener {
    shared: Arc<Shared>,
}

impl VrrpListener {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts listening on each of `names` that has no listener yet. Returns what could not
    /// be started (each said once: an interface is not tried again).
    pub fn listen_on(&self, names: &[String], interfaces: &Interfaces) -> Vec<String> {
        let mut problems = Vec::new();
        for name in names {
            if !lock(&self.shared.tried).insert(name.clone()) {
                continue;
            }
            let Some(link) = interfaces.link(name) else {
                // not there yet: try again at a later scrape
                lock(&self.shared.tried).remove(name);
                continue;
            };
            match open(name, link.index) {
                Ok(socket) => {
                    let shared = Arc::clone(&self.shared);
                    let interface = name.clone();
                    let spawned = std::thread::Builder::new()
                        .name(format!("vrrp-{name}"))
                        .spawn(move || listen(&interface, socket, &shared));
                    if let Err(err) = spawned {
                        problems.push(format!("cannot start a VRRP listener on {name}: {err}"));
                    } else {
                        tracing::info!(interface = %name, "listening for VRRP adverts");
                    }
                }
                Err(err) => {
                    let hint = if err.kind() == std::io::ErrorKind::PermissionDenied {
                        " (raw sockets need CAP_NET_RAW)"
                    } else {
                        ""
                    };
                    problems.push(format!(
                        "cannot listen for VRRP adverts on {name}: {err}{hint}"
                    ));
                }
            }
        }
        problems
    }

    /// Every sender heard so far.
    pub fn peers(&self) -> Vec<VrrpPeer> {
        lock(&self.shared.peers)
            .iter()
            .map(
                |((interface, vrid, source), (adverts, priority))| VrrpPeer {
                    interface: interface.clone(),
                    vrid: *vrid,
                    source: (*source).into(),
                    adverts: *adverts,
                    priority: *priority,
                },
            )
            .collect()
    }
}

fn open(name: &str, index: u32) -> std::io::Result<Socket> {
    let socket = Socket::new(
        Domain::IPV4,
        Type::RAW,
        Some(Protocol::from(i32::from(IPPROTO_VRRP))),
    )?;
    socket.bind_device(Some(name.as_bytes()))?;
    socket.join_multicast_v4_n(&VRRP_GROUP, &InterfaceIndexOrAddress::Index(index))?;
    Ok(socket)
}

fn listen(interface: &str, socket: Socket, shared: &Shared) {
    let mut buffer = vec![0u8; 2048];
    let mut reader = &socket;
    loop {
        let received = match reader.read(&mut buffer) {
            Ok(n) => n,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(err) => {
                tracing::warn!(interface, error = %err, "VRRP listener stopped");
                lock(&shared.tried).remove(interface);
                return;
            }
        };
        let Ok(advert) = parse_advert(buffer.get(..received).unwrap_or_default()) else {
            continue;
        };
        let mut peers = lock(&shared.peers);
        let entry = peers
            .entry((interface.to_string(), advert.vrid, advert.source))
            .or_insert((0, advert.priority));
        entry.0 += 1;
        entry.1 = advert.priority;
    }
}
