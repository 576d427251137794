//! Listening for VRRP adverts (`--collector.vrrp.listen`): one thread per VRRP interface, each
//! with a raw IPv4 socket for protocol 112 bound to its interface and joined to 224.0.0.18
//! there (the kernel only accepts multicast for groups joined on the interface). Each advert
//! is counted by interface, VRID and sender, with the priority it last announced. Raw sockets
//! need CAP_NET_RAW; without it the listener says so once and the rest of the collector goes on.
//!
//! Anyone on the segment can send adverts from any source, so the peer table is bounded: a
//! sender not heard for [`PEER_EXPIRY`] is forgotten, and at most [`MAX_PEERS`] are kept (a new
//! sender then replaces the one heard longest ago).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use socket2::{Domain, InterfaceIndexOrAddress, Protocol, Socket, Type};

use crate::model::interfaces::Interfaces;
use crate::model::keepalived::VrrpPeer;
use crate::parse::vrrp::{IPPROTO_VRRP, VRRP_GROUP, parse_advert};

type PeerKey = (String, u8, Ipv4Addr);

/// A sender not heard for this long is forgotten (adverts come every second or so).
pub const PEER_EXPIRY: Duration = Duration::from_secs(300);
/// The most senders kept.
pub const MAX_PEERS: usize = 256;

/// One sender: its adverts, the priority it last announced, when it was last heard.
#[derive(Debug, Clone, Copy)]
struct Heard {
    adverts: u64,
    priority: u8,
    last: Instant,
}

/// Senders heard recently, bounded in number.
#[derive(Debug, Default)]
struct PeerTable {
    peers: BTreeMap<PeerKey, Heard>,
}

impl PeerTable {
    /// Counts an advert heard at `now`.
    fn heard(&mut self, key: PeerKey, priority: u8, now: Instant) {
        if !self.peers.contains_key(&key) {
            self.expire(now);
            if self.peers.len() >= MAX_PEERS
                && let Some(oldest) = self
                    .peers
                    .iter()
                    .min_by_key(|(_, heard)| heard.last)
                    .map(|(key, _)| key.clone())
            {
                self.peers.remove(&oldest);
            }
        }
        let entry = self.peers.entry(key).or_insert(Heard {
            adverts: 0,
            priority,
            last: now,
        });
        entry.adverts += 1;
        entry.priority = priority;
        entry.last = now;
    }

    /// Forgets the senders not heard since `now - PEER_EXPIRY`.
    fn expire(&mut self, now: Instant) {
        self.peers
            .retain(|_, heard| now.saturating_duration_since(heard.last) < PEER_EXPIRY);
    }
}

#[derive(Debug, Default)]
struct Shared {
    peers: Mutex<PeerTable>,
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

    /// Every sender heard recently.
    pub fn peers(&self) -> Vec<VrrpPeer> {
        let mut table = lock(&self.shared.peers);
        let now = Instant::now();
        table.expire(now);
        peers_of(&table, now)
    }
}

fn peers_of(table: &PeerTable, now: Instant) -> Vec<VrrpPeer> {
    table
        .peers
        .iter()
        .map(|((interface, vrid, source), heard)| VrrpPeer {
            interface: interface.clone(),
            vrid: *vrid,
            source: (*source).into(),
            adverts: heard.adverts,
            priority: heard.priority,
            last_heard_seconds: now.saturating_duration_since(heard.last).as_secs(),
        })
        .collect()
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
        lock(&shared.peers).heard(
            (interface.to_string(), advert.vrid, advert.source),
            advert.priority,
            Instant::now(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u32) -> PeerKey {
        ("eth0".to_string(), 51, Ipv4Addr::from(0x0a00_0000 + i))
    }

    #[test]
    fn the_vrrp_peer_table_is_bounded_and_keeps_the_recent_senders() {
        let mut table = PeerTable::default();
        let start = Instant::now();
        for i in 0..(MAX_PEERS as u32) * 4 {
            table.heard(key(i), 100, start + Duration::from_millis(u64::from(i)));
        }
        assert_eq!(table.peers.len(), MAX_PEERS);
        let last = (MAX_PEERS as u32) * 4 - 1;
        assert!(table.peers.contains_key(&key(last)));
        assert!(!table.peers.contains_key(&key(0)));
    }

    #[test]
    fn a_vrrp_peer_not_heard_for_the_expiry_is_forgotten() {
        let mut table = PeerTable::default();
        let start = Instant::now();
        table.heard(key(1), 100, start);
        table.heard(key(2), 150, start);
        table.heard(key(2), 120, start + PEER_EXPIRY);
        let now = start + PEER_EXPIRY + Duration::from_secs(1);
        table.expire(now);
        let peers = peers_of(&table, now);
        assert_eq!(peers.len(), 1, "{peers:?}");
        assert_eq!(
            peers
                .first()
                .map(|p| (p.adverts, p.priority, p.last_heard_seconds)),
            Some((2, 120, 1)),
            "two adverts, the last at priority 120, one second ago"
        );
    }
}
