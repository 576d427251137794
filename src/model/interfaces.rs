//! The host's network interfaces and their addresses, as rtnetlink reports them: what
//! keepalived's instance roles and the advisor's real-server roles are worked out from.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// A network interface as rtnetlink reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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
    /// The driver's kind from `IFLA_LINKINFO` (`dummy`, `ipip`, `wireguard`, `veth`...);
    /// `None` for a device without one (physical NICs, `lo`).
    #[serde(default)]
    pub kind: Option<String>,
    /// How many unicast routes leave through this device; read only for IP-in-IP tunnel
    /// devices that hold an address (`None` otherwise, or when the routes could not be read).
    #[serde(default)]
    pub routes_out: Option<u32>,
}

/// The hardware types (`ARPHRD_*`, if_arp.h) that never hold a real server's address.
/// `netlink::uapi` lists them under the same names, so the header check covers them.
pub const ARPHRD_PPP: u16 = 512;
pub const ARPHRD_TUNNEL: u16 = 768;
pub const ARPHRD_TUNNEL6: u16 = 769;
pub const ARPHRD_NONE: u16 = 0xfffe;

/// Link kinds that carry traffic between hosts or containers, never a load balancer's
/// virtual address: point-to-point and overlay tunnels, bridges and container pairs.
pub const NOT_VIP_HOLDERS: &[&str] = &[
    "wireguard",
    "tun",
    "ppp",
    "gre",
    "gretap",
    "ip6gre",
    "ip6gretap",
    "erspan",
    "vxlan",
    "geneve",
    "bridge",
    "veth",
];

/// The dummy device kube-proxy in IPVS mode puts every service address on.
pub const KUBE_IPVS_DUMMY: &str = "kube-ipvs0";

impl Link {
    /// An IP-in-IP tunnel device (`tunl0`, `ipip`, `ip6tnl`), where TUN real servers get
    /// their traffic.
    pub fn is_tunnel(&self) -> bool {
        self.hardware_type == ARPHRD_TUNNEL || self.hardware_type == ARPHRD_TUNNEL6
    }

    /// A dummy device (`ip link add NAME type dummy`).
    pub fn is_dummy(&self) -> bool {
        self.kind.as_deref() == Some("dummy")
    }

    /// Why this device never holds a real server's virtual address, if it never does: its
    /// kind ([`NOT_VIP_HOLDERS`]), a point-to-point hardware type, or kube-proxy's dummy.
    pub fn not_a_vip_holder(&self) -> Option<String> {
        if self.name == KUBE_IPVS_DUMMY {
            return Some("kube-proxy's dummy for service addresses".into());
        }
        if let Some(kind) = self.kind.as_deref()
            && NOT_VIP_HOLDERS.contains(&kind)
        {
            return Some(format!("a {kind} device"));
        }
        match self.hardware_type {
            ARPHRD_PPP => Some("a point-to-point (PPP) device".into()),
            ARPHRD_NONE => Some("a point-to-point device without link layer".into()),
            _ => None,
        }
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

impl InterfaceAddress {
    /// A single host's address: /32 for IPv4, /128 for IPv6.
    pub fn is_host(&self) -> bool {
        self.prefix_len == if self.address.is_ipv4() { 32 } else { 128 }
    }

    /// Loopback (127.0.0.0/8, ::1) or link-local: never a virtual address.
    pub fn is_special(&self) -> bool {
        match self.address {
            IpAddr::V4(a) => a.is_loopback() || a.is_link_local(),
            IpAddr::V6(a) => a.is_loopback() || (a.segments()[0] & 0xffc0) == 0xfe80,
        }
    }
}

impl std::fmt::Display for InterfaceAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix_len)
    }
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
            kind: None,
            routes_out: None,
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
