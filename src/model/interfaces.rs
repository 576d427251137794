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

#[cfg(test)]
mod tests {
    use super::*;

    fn link(index: u32, name: &str, hardware_type: u16) -> Link {
        Link {
            index,
            name: name.into(),
            up: true,
            running: true,
            noarp: false,
            loopback: false,
            hardware_type,
        }
    }

    #[test]
    fn an_address_belongs_to_the_interface_whose_index_it_carries() {
        let interfaces = Interfaces {
            links: vec![link(1, "lo", 772), link(2, "eth0", 1)],
            addresses: vec![InterfaceAddress {
                index: 2,
                address: IpAddr::from([10, 0, 0, 10]),
                prefix_len: 24,
            }],
        };
        let vip = IpAddr::from([10, 0, 0, 10]);
        assert!(interfaces.has_address("eth0", &vip));
        assert!(!interfaces.has_address("lo", &vip));
        assert!(!interfaces.has_address("eth9", &vip));
        assert_eq!(interfaces.link("lo").map(|l| l.index), Some(1));
    }

    #[test]
    fn ipip_and_ip6tnl_devices_are_tunnels() {
        assert!(link(3, "tunl0", ARPHRD_TUNNEL).is_tunnel());
        assert!(link(4, "ip6tnl0", ARPHRD_TUNNEL6).is_tunnel());
        assert!(!link(2, "eth0", 1).is_tunnel());
    }
}
