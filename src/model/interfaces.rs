//! The host's network interfaces and their addresses, as rtnetlink reports them: what
//! keepalived's instance roles and the advisor's real-server roles are worked out from.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// A network interface as rtnetlink reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// `IFF_UP`: administratively up.
    pub up: bool,
    /// `IFF_RUNNING`: the carrier is there (operationally up).
    pub running: bool,
    /// `IFF_NOARP`: the interface neither sends nor answers ARP.
    #[serde(default)]
    pub noarp: bool,
    /// `IFF_LOOPBACK`.
    #[serde(default)]
    pub loopback: bool,
    /// The hardware type (`ARPHRD_*`): 768 is an IPv4-in-IPv4 tunnel, 769 an IPv6 one.
    #[serde(default)]
    pub hardware_type: u16,
}

/// `ARPHRD_TUNNEL` and `ARPHRD_TUNNEL6`: ipip and ip6tnl devices.
pub const ARPHRD_TUNNEL: u16 = 768;
pub const ARPHRD_TUNNEL6: u16 = 769;

impl Link {
    /// An IP-in-IP tunnel device (`tunl0`, `ipip`, `ip6tnl`), where TUN real servers get
    /// their traffic.
    pub fn is_tunnel(&self) -> bool {
        self.hardware_type == ARPHRD_TUNNEL || self.hardware_type == ARPHRD_TUNNEL6
    }
}

/// An address on an interface, as rtnetlink reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterfaceAddress {
    /// The interface's index.
    pub index: u32,
    pub address: IpAddr,
    pub prefix_len: u8,
}

/// The interfaces and their addresses in the exporter's network namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Interfaces {
    pub links: Vec<Link>,
    pub addresses: Vec<InterfaceAddress>,
}

impl Interfaces {
    pub fn link(&self, name: &str) -> Option<&Link> {
        self.links.iter().find(|l| l.name == name)
    }

    /// Whether `address` is on the interface called `name`.
    pub fn has_address(&self, name: &str, address: &IpAddr) -> bool {
        self.link(name).is_some_and(|link| {
            self.addresses
                .iter()
                .any(|a| a.index == link.index && a.address == *address)
        })
    }
}
