//! keepalived.conf's meaning: the statements the exporter needs (VRRP instances, sync
//! groups, virtual servers with their real servers, quorum and sorry server, and virtual
//! server groups) read into the model. A bad value is recorded with its place and leaves the
//! rest of its block in use; other keywords are skipped.

use std::net::IpAddr;

use super::Diagnostics;
use super::tree::Node;
use crate::model::AddressFamily;
use crate::model::keepalived::{
    DEFAULT_PERSISTENCE_TIMEOUT, FamilyStatement, GroupMember, KeepalivedConfig, RealServer,
    SorryServer, SyncGroup, TrackedInterface, VirtualAddress, VirtualServer, VirtualServerGroup,
    VirtualServerTarget, VrrpInstance, VrrpState,
};

/// The most addresses one range of a `virtual_server_group` may name: the most services the
/// model expands one range into.
pub const MAX_GROUP_RANGE_ADDRESSES: u32 = crate::model::keepalived_table::MAX_RANGE_ADDRESSES;

/// Reads the top-level statements; `files` and `errors` are left for the caller to fill.
pub(super) fn read(statements: &[Node], diagnostics: &mut Diagnostics) -> KeepalivedConfig {
    let mut reader = Reader { diagnostics };
    let mut config = KeepalivedConfig::default();
    for node in statements {
        match node.keyword() {
            Some("vrrp_instance") => config.instances.extend(reader.instance(node)),
            Some("vrrp_sync_group") => config.sync_groups.extend(reader.sync_group(node)),
            Some("virtual_server") => config.virtual_servers.extend(reader.virtual_server(node)),
            Some("virtual_server_group") => config
                .virtual_server_groups
                .extend(reader.virtual_server_group(node)),
            _ => {}
        }
    }
    config.script_users =
        super::script_users::script_user_statements(statements, &reader.diagnostics.files);
    config
}

struct Reader<'a> {
    diagnostics: &'a mut Diagnostics,
}

impl Reader<'_> {
    fn error(&mut self, node: &Node, message: String) {
        self.diagnostics.error(node.file, node.line, message);
    }

    /// The `index`th word of a statement, or an error naming what is missing.
    fn word<'n>(&mut self, node: &'n Node, index: usize, what: &str) -> Option<&'n str> {
        let word = node.words.get(index).map(String::as_str);
        if word.is_none() {
            let keyword = node.words.first().cloned().unwrap_or_default();
            self.error(node, format!("{keyword} needs {what}"));
        }
        word
    }

    fn number<T: std::str::FromStr>(
        &mut self,
        node: &Node,
        what: &str,
        valid: impl Fn(&T) -> bool,
    ) -> Option<T> {
        let text = self.word(node, 1, what)?;
        match text.parse::<T>() {
            Ok(value) if valid(&value) => Some(value),
            _ => {
                let keyword = node.words.first().cloned().unwrap_or_default();
                self.error(node, format!("{keyword} {text:?} is not {what}"));
                None
            }
        }
    }

    fn block<'n>(&mut self, node: &'n Node) -> &'n [Node] {
        match &node.block {
            Some(children) => children,
            None => {
                let keyword = node.words.first().cloned().unwrap_or_default();
                self.error(node, format!("{keyword} needs a {{ }} block"));
                &[]
            }
        }
    }

    fn instance(&mut self, node: &Node) -> Option<VrrpInstance> {
        let name = self.word(node, 1, "a name")?.to_string();
        let mut instance = VrrpInstance {
            name,
            ..VrrpInstance::default()
        };
        for child in self.block(node) {
            match child.keyword() {
                Some("interface") => {
                    instance.interface = self.word(child, 1, "an interface").map(String::from);
                }
                // A bad value is reported and leaves an earlier good one in place.
                Some("virtual_router_id") => {
                    let vrid = self.number(child, "a router id from 1 to 255", |v: &u8| *v >= 1);
                    instance.virtual_router_id = vrid.or(instance.virtual_router_id);
                }
                Some("priority") => {
                    let priority = self.number(child, "a priority from 1 to 255", |v: &u8| *v >= 1);
                    instance.priority = priority.or(instance.priority);
                }
                Some("state") => {
                    instance.initial_state = self.initial_state(child).or(instance.initial_state);
                }
                Some("nopreempt") => instance.nopreempt = true,
                Some("virtual_ipaddress" | "virtual_ipaddress_excluded") => {
                    for entry in self.block(child) {
                        if let Some(vip) = self.virtual_address(entry) {
                            instance.virtual_addresses.push(vip);
                        }
                    }
                }
                Some("track_interface") => {
                    for entry in self.block(child) {
                        if let Some(tracked) = self.tracked_interface(entry) {
                            instance.track_interfaces.push(tracked);
                        }
                    }
                }
                Some("track_script") => {
                    for entry in self.block(child) {
                        if let Some(name) = entry.words.first() {
                            instance.track_scripts.push(name.clone());
                        }
                    }
                }
                _ => {}
            }
        }
        Some(instance)
    }

    /// `state MASTER` or `state BACKUP`: the state an instance starts in.
    fn initial_state(&mut self, node: &Node) -> Option<VrrpState> {
        let text = self.word(node, 1, "MASTER or BACKUP")?;
        match VrrpState::from_name(text) {
            Some(state @ (VrrpState::Master | VrrpState::Backup)) => Some(state),
            _ => {
                self.error(node, format!("state {text:?} is not MASTER or BACKUP"));
                None
            }
        }
    }

    /// A `track_interface` entry: a name, and `weight N` when given.
    fn tracked_interface(&mut self, entry: &Node) -> Option<TrackedInterface> {
        let name = entry.words.first()?.clone();
        let weight = match keyword_value(entry, "weight") {
            Some(w) => match w.parse::<i32>() {
                Ok(w) => Some(w),
                Err(_) => {
                    self.error(entry, format!("weight {w:?} is not a number"));
                    None
                }
            },
            None => None,
        };
        Some(TrackedInterface { name, weight })
    }

    fn virtual_address(&mut self, entry: &Node) -> Option<VirtualAddress> {
        let text = entry.words.first()?;
        let (address, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text.as_str(), None),
        };
        let Ok(address) = address.parse::<IpAddr>() else {
            self.error(entry, format!("{text:?} is not an IP address"));
            return None;
        };
        let max = if address.is_ipv4() { 32 } else { 128 };
        let prefix_len = match prefix.map(str::parse::<u8>) {
            None => None,
            Some(Ok(p)) if p <= max => Some(p),
            Some(_) => {
                self.error(entry, format!("{text:?} has a bad prefix length"));
                return None;
            }
        };
        Some(VirtualAddress {
            address,
            prefix_len,
            device: keyword_value(entry, "dev").map(String::from),
        })
    }

    fn sync_group(&mut self, node: &Node) -> Option<SyncGroup> {
        let name = self.word(node, 1, "a name")?.to_string();
        let mut group = SyncGroup {
            name,
            instances: Vec::new(),
        };
        for child in self.block(node) {
            if child.keyword() == Some("group") {
                for entry in self.block(child) {
                    group.instances.extend(entry.words.iter().cloned());
                }
            }
        }
        Some(group)
    }

    fn virtual_server(&mut self, node: &Node) -> Option<VirtualServer> {
        let target = self.virtual_server_target(node)?;
        let mut server = VirtualServer {
            target,
            protocol: None,
            lb_algo: None,
            lb_kind: None,
            persistence_timeout: None,
            real_servers: Vec::new(),
            quorum: None,
            hysteresis: None,
            sorry_server: None,
            inhibit_on_failure: false,
            delay_loop: None,
            weight: None,
            ops: false,
            persistence_granularity: None,
            ip_family: None,
        };
        for child in self.block(node) {
            self.virtual_server_statement(child, &mut server);
        }
        Some(server)
    }

    /// What a `virtual_server` line names: `fwmark N`, `group NAME` or an address with an
    /// optional port.
    fn virtual_server_target(&mut self, node: &Node) -> Option<VirtualServerTarget> {
        let first = self.word(node, 1, "an address and port, fwmark N or group NAME")?;
        let target = match first {
            "fwmark" => {
                let text = self.word(node, 2, "a mark")?;
                match text.parse::<u32>() {
                    Ok(mark) => VirtualServerTarget::Fwmark { mark },
                    Err(_) => {
                        self.error(node, format!("fwmark {text:?} is not a number"));
                        return None;
                    }
                }
            }
            "group" => VirtualServerTarget::Group {
                name: self.word(node, 2, "a group name")?.to_string(),
            },
            address => {
                let Ok(address) = address.parse::<IpAddr>() else {
                    self.error(
                        node,
                        format!("virtual_server {address:?} is not an IP address"),
                    );
                    return None;
                };
                // No port (or 0) is port 0, which keepalived makes persistent.
                let port = match node.words.get(2) {
                    None => 0,
                    Some(text) => {
                        let Ok(port) = text.parse::<u16>() else {
                            self.error(node, format!("port {text:?} is not a port number"));
                            return None;
                        };
                        port
                    }
                };
                VirtualServerTarget::Address { address, port }
            }
        };
        Some(target)
    }

    /// Reads one statement of a `virtual_server` block into `server`; a keyword not modelled
    /// is ignored.
    fn virtual_server_statement(&mut self, child: &Node, server: &mut VirtualServer) {
        let after_real_servers = server.real_servers.len();
        match child.keyword() {
            Some("protocol") => {
                server.protocol = self.word(child, 1, "a protocol").map(str::to_uppercase);
            }
            Some("lb_algo" | "lvs_sched") => {
                server.lb_algo = self.word(child, 1, "a scheduler").map(String::from);
            }
            Some("lb_kind" | "lvs_method") => {
                server.lb_kind = self.forwarding_method(child).or(server.lb_kind.take());
            }
            Some("persistence_timeout") => {
                server.persistence_timeout =
                    self.persistence_timeout(child, server.persistence_timeout);
            }
            Some("persistence_granularity") => {
                if let Some(value) = self.word(child, 1, "a netmask or prefix length") {
                    server.persistence_granularity = Some(FamilyStatement {
                        value: value.to_string(),
                        after_real_servers,
                    });
                }
            }
            Some("ip_family") => {
                if let Some(value) = self.ip_family(child) {
                    server.ip_family = Some(FamilyStatement {
                        value,
                        after_real_servers,
                    });
                }
            }
            Some("ops") => server.ops = true,
            Some("weight") => {
                let weight = self.number(child, "a weight from 1", |w: &i32| *w >= 1);
                server.weight = weight.or(server.weight);
            }
            Some("sorry_server_inhibit") => self.sorry_server_inhibit(child, server),
            Some("sorry_server_lvs_method") => self.sorry_server_lvs_method(child, server),
            Some("quorum") => {
                let quorum = self.number(child, "a weight of at least 1", |q: &u32| *q >= 1);
                server.quorum = quorum.or(server.quorum);
            }
            Some("hysteresis") => {
                let hysteresis = self.number(child, "a weight", |_: &u32| true);
                server.hysteresis = hysteresis.or(server.hysteresis);
            }
            Some("delay_loop") => {
                server.delay_loop = self.seconds(child).or(server.delay_loop);
            }
            Some("sorry_server") => {
                server.sorry_server = self.sorry_server(child).or(server.sorry_server.take());
            }
            Some("inhibit_on_failure") => {
                if let Some(inhibit) = self.switch(child) {
                    server.inhibit_on_failure = inhibit;
                }
            }
            Some("real_server") => {
                if let Some(real) = self.real_server(child) {
                    server.real_servers.push(real);
                }
            }
            _ => {}
        }
    }

    /// `persistence_timeout [N]`: the timeout it sets, `current` when its value is bad.
    fn persistence_timeout(&mut self, child: &Node, current: Option<u32>) -> Option<u32> {
        // Alone, it is keepalived's default of 360 s; 0 is refused there too.
        if child.words.len() < 2 {
            Some(DEFAULT_PERSISTENCE_TIMEOUT)
        } else {
            self.number(child, "a number of seconds from 1", |t: &u32| *t >= 1)
                .or(current)
        }
    }

    /// `ip_family inet|inet6`: the family, or none (another word is reported).
    fn ip_family(&mut self, child: &Node) -> Option<AddressFamily> {
        match self.word(child, 1, "inet or inet6") {
            Some("inet") => Some(AddressFamily::Inet),
            Some("inet6") => Some(AddressFamily::Inet6),
            Some(other) => {
                self.error(child, format!("ip_family {other:?} is not inet or inet6"));
                None
            }
            None => None,
        }
    }

    /// `sorry_server_inhibit`: applies to the sorry server read so far, if any.
    fn sorry_server_inhibit(&mut self, child: &Node, server: &mut VirtualServer) {
        match &mut server.sorry_server {
            Some(sorry) => sorry.inhibit = true,
            None => self.error(
                child,
                "sorry_server_inhibit before or without sorry_server is ignored".to_string(),
            ),
        }
    }

    /// `sorry_server_lvs_method`: applies to the sorry server read so far, if any.
    fn sorry_server_lvs_method(&mut self, child: &Node, server: &mut VirtualServer) {
        let method = self.forwarding_method(child);
        match &mut server.sorry_server {
            Some(sorry) => sorry.lvs_method = method.or(sorry.lvs_method.take()),
            None => self.error(
                child,
                "sorry_server_lvs_method before or without sorry_server is ignored".to_string(),
            ),
        }
    }

    /// A keyword that is on by itself, or followed by a yes/no word (`inhibit_on_failure`,
    /// `inhibit_on_failure false`).
    fn switch(&mut self, node: &Node) -> Option<bool> {
        match node.words.get(1).map(String::as_str) {
            None => Some(true),
            Some(word) => match word.to_ascii_lowercase().as_str() {
                "true" | "yes" | "on" => Some(true),
                "false" | "no" | "off" => Some(false),
                _ => {
                    let keyword = node.words.first().cloned().unwrap_or_default();
                    self.error(node, format!("{keyword} {word:?} is not true or false"));
                    None
                }
            },
        }
    }

    /// A number of seconds, whole or decimal (`delay_loop 2.5`), rounded up to whole seconds.
    fn seconds(&mut self, node: &Node) -> Option<u32> {
        let text = self.word(node, 1, "a number of seconds")?;
        match text.parse::<f64>() {
            Ok(value) if value.is_finite() && value > 0.0 && value <= f64::from(u32::MAX) => {
                // In range by the guard above.
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                Some(value.ceil() as u32)
            }
            _ => {
                let keyword = node.words.first().cloned().unwrap_or_default();
                self.error(
                    node,
                    format!("{keyword} {text:?} is not a positive number of seconds"),
                );
                None
            }
        }
    }

    /// `KEYWORD ADDRESS [PORT]`: the address (or `None`, reported), and the port: `Err(())`
    /// when one is given and is not a port number (reported).
    fn address_and_port(&mut self, node: &Node) -> Option<(IpAddr, Result<Option<u16>, ()>)> {
        let text = self.word(node, 1, "an address")?;
        let Ok(address) = text.parse::<IpAddr>() else {
            let keyword = node.words.first().cloned().unwrap_or_default();
            self.error(node, format!("{keyword} {text:?} is not an IP address"));
            return None;
        };
        // Port 0 is no port, as in keepalived (its address parser refuses 0).
        let port = match node.words.get(2) {
            None => Ok(None),
            Some(p) => p
                .parse::<u16>()
                .map(|p| Some(p).filter(|p| *p != 0))
                .map_err(|_| {
                    self.error(node, format!("port {p:?} is not a port number"));
                }),
        };
        Some((address, port))
    }

    /// `sorry_server ADDRESS [PORT]`.
    fn sorry_server(&mut self, node: &Node) -> Option<SorryServer> {
        let (address, port) = self.address_and_port(node)?;
        Some(SorryServer {
            address,
            port: port.ok()?,
            lvs_method: None,
            inhibit: false,
        })
    }

    /// `lb_kind`, `lvs_method` or `sorry_server_lvs_method`: NAT, DR or TUN (tunnel options
    /// after it are not read). keepalived matches the name exactly and ignores another.
    fn forwarding_method(&mut self, node: &Node) -> Option<String> {
        let method = self.word(node, 1, "NAT, DR or TUN")?;
        if matches!(method, "NAT" | "DR" | "TUN") {
            Some(method.to_string())
        } else {
            let keyword = node.words.first().cloned().unwrap_or_default();
            self.error(
                node,
                format!("{keyword} {method:?} is not NAT, DR or TUN (keepalived ignores it)"),
            );
            None
        }
    }

    /// `virtual_server_group NAME { ADDRESS PORT; FIRST-LAST PORT; fwmark N }`.
    fn virtual_server_group(&mut self, node: &Node) -> Option<VirtualServerGroup> {
        let name = self.word(node, 1, "a name")?.to_string();
        let mut group = VirtualServerGroup {
            name,
            members: Vec::new(),
        };
        for entry in self.block(node) {
            if let Some(member) = self.group_member(entry) {
                group.members.push(member);
            }
        }
        Some(group)
    }

    fn group_member(&mut self, entry: &Node) -> Option<GroupMember> {
        let first = entry.words.first()?;
        if first == "fwmark" {
            let text = self.word(entry, 1, "a mark")?;
            let Ok(mark) = text.parse::<u32>() else {
                self.error(entry, format!("fwmark {text:?} is not a number"));
                return None;
            };
            let family = match entry.words.get(2).map(String::as_str) {
                None => None,
                Some("inet") => Some(AddressFamily::Inet),
                Some("inet6") => Some(AddressFamily::Inet6),
                Some(other) => {
                    self.error(entry, format!("fwmark {mark} family {other:?} is unknown"));
                    return None;
                }
            };
            return Some(GroupMember::Fwmark { mark, family });
        }
        let Some((first_address, last_address)) = parse_range(first) else {
            self.error(
                entry,
                format!(
                    "{first:?} is not an address or a range (10.0.0.1-10, 2001:db8::1-ff) of at most {MAX_GROUP_RANGE_ADDRESSES} addresses"
                ),
            );
            return None;
        };
        // No port (or 0) is port 0, which keepalived makes persistent.
        let port = match entry.words.get(1) {
            None => 0,
            Some(port_text) => {
                let Ok(port) = port_text.parse::<u16>() else {
                    self.error(entry, format!("port {port_text:?} is not a port number"));
                    return None;
                };
                port
            }
        };
        Some(GroupMember::Addresses {
            first: first_address,
            last: last_address,
            port,
        })
    }

    fn real_server(&mut self, node: &Node) -> Option<RealServer> {
        // A bad port is reported and the real server kept without one.
        let (address, port) = self.address_and_port(node)?;
        let port = port.unwrap_or(None);
        let mut real = RealServer {
            address,
            port,
            weight: None,
            checkers: Vec::new(),
            inhibit_on_failure: None,
            lvs_method: None,
        };
        for child in node.block.as_deref().unwrap_or(&[]) {
            match child.keyword() {
                Some("weight") => {
                    let weight = self.number(child, "a weight from 0", |w: &i32| *w >= 0);
                    real.weight = weight.or(real.weight);
                }
                Some("lvs_method") => {
                    real.lvs_method = self.forwarding_method(child).or(real.lvs_method);
                }
                Some("inhibit_on_failure") => {
                    real.inhibit_on_failure = self.switch(child).or(real.inhibit_on_failure);
                }
                Some(keyword)
                    if child.block.is_some()
                        && (keyword.ends_with("_CHECK") || keyword.ends_with("_GET")) =>
                {
                    real.checkers.push(keyword.to_string());
                }
                _ => {}
            }
        }
        Some(real)
    }
}

/// keepalived's address range (`alloc_vsg_entry`): `10.0.0.1-10` (the last octet runs to 10,
/// which must be above the first), `2001:db8::1-ff` (the last 16-bit group runs to 0xff),
/// `10.0.0.1-10.0.0.10` (a whole end address), or `10.0.0.0/29` (the block, from its first
/// address to its last; host bits must be 0); a plain address is a range of one. For IPv6
/// keepalived steps the last 16-bit group only, so the range ends where that group ends.
/// `None` when the text is none of these, the range runs backwards, or it names more than
/// [`MAX_GROUP_RANGE_ADDRESSES`] addresses.
pub fn parse_range(text: &str) -> Option<(IpAddr, IpAddr)> {
    let (first, last) = if let Some((address, prefix)) = text.split_once('/') {
        let first: IpAddr = address.parse().ok()?;
        let prefix: u32 = prefix.parse().ok()?;
        let last = match first {
            IpAddr::V4(v4) => {
                let host_bits = 32u32.checked_sub(prefix).filter(|_| prefix >= 1)?;
                let mask = u32::MAX.checked_shr(32 - host_bits).unwrap_or(0);
                let start = u32::from(v4);
                if start & mask != 0 {
                    return None;
                }
                IpAddr::from(std::net::Ipv4Addr::from(start | mask))
            }
            IpAddr::V6(v6) => {
                let host_bits = 128u32.checked_sub(prefix).filter(|_| prefix >= 1)?;
                let mask = u128::MAX.checked_shr(128 - host_bits).unwrap_or(0);
                if u128::from(v6) & mask != 0 {
                    return None;
                }
                let mut segments = v6.segments();
                *segments.get_mut(7)? |= u16::try_from(mask & 0xffff).ok()?;
                IpAddr::from(segments)
            }
        };
        (first, last)
    } else if let Some((address, end)) = text.split_once('-') {
        let first: IpAddr = address.parse().ok()?;
        let last = match first {
            IpAddr::V4(v4) if end.contains('.') => {
                let last: std::net::Ipv4Addr = end.parse().ok()?;
                if u32::from(last) < u32::from(v4) {
                    return None;
                }
                IpAddr::from(last)
            }
            IpAddr::V4(v4) => {
                let mut octets = v4.octets();
                let end: u8 = end.parse().ok()?;
                if end <= octets.get(3).copied()? {
                    return None;
                }
                *octets.get_mut(3)? = end;
                IpAddr::from(octets)
            }
            IpAddr::V6(v6) if end.contains(':') => {
                let end: std::net::Ipv6Addr = end.parse().ok()?;
                if u128::from(end) < u128::from(v6) {
                    return None;
                }
                let mut segments = v6.segments();
                *segments.get_mut(7)? = end.segments().get(7).copied()?;
                IpAddr::from(segments)
            }
            IpAddr::V6(v6) => {
                let mut segments = v6.segments();
                let end = u16::from_str_radix(end, 16).ok()?;
                if end <= segments.get(7).copied()? {
                    return None;
                }
                *segments.get_mut(7)? = end;
                IpAddr::from(segments)
            }
        };
        (first, last)
    } else {
        let first: IpAddr = text.parse().ok()?;
        (first, first)
    };
    let count = match (first, last) {
        (IpAddr::V4(a), IpAddr::V4(b)) => u128::from(u32::from(b).checked_sub(u32::from(a))?),
        (IpAddr::V6(a), IpAddr::V6(b)) => u128::from(b).checked_sub(u128::from(a))?,
        _ => return None,
    };
    (count < u128::from(MAX_GROUP_RANGE_ADDRESSES)).then_some((first, last))
}

/// The word after `keyword` in a statement (`dev eth0`, `weight -20`).
fn keyword_value<'n>(node: &'n Node, keyword: &str) -> Option<&'n str> {
    let position = node.words.iter().position(|w| w == keyword)?;
    node.words.get(position + 1).map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::super::parse_single;
    use super::*;

    #[test]
    fn bad_values_are_reported_with_their_line() {
        let config = parse_single(
            "k.conf",
            "vrrp_instance A {\n priority high\n virtual_router_id 0\n state LEADER\n virtual_ipaddress {\n  10.0.0.300\n  10.0.0.1\n }\n}\n",
        );
        let lines: Vec<usize> = config.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![2, 3, 4, 6]);
        let instance = config.instances.first().cloned().unwrap_or_default();
        assert_eq!(instance.priority, None);
        assert_eq!(instance.virtual_addresses.len(), 1);
    }

    // Configurations in the shape of operators' guides. Each passes `keepalived --config-test`
    // (2.2.7) apart from naming interfaces the test host lacks; broken.conf is broken on purpose.
    type RealSummary = (IpAddr, Option<u16>, Option<i32>, Vec<String>);

    const NAT: &str = include_str!("../../../tests/fixtures/keepalived-conf/nat-director.conf");
    const DR: &str = include_str!("../../../tests/fixtures/keepalived-conf/dr-director.conf");
    const BROKEN: &str = include_str!("../../../tests/fixtures/keepalived-conf/broken.conf");

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    #[test]
    fn nat_director_with_a_sync_group_and_tcp_checks() {
        let config = parse_single("nat-director.conf", NAT);
        assert_eq!(config.errors, Vec::new());
        assert_eq!(
            config.sync_groups,
            vec![SyncGroup {
                name: "VG1".into(),
                instances: vec!["VI_PUBLIC".into(), "VI_GATEWAY".into()],
            }]
        );
        let public = config.instances.first().cloned().unwrap_or_default();
        assert_eq!(public.name, "VI_PUBLIC");
        assert_eq!(public.interface.as_deref(), Some("eth0"));
        assert_eq!(public.virtual_router_id, Some(51));
        assert_eq!(public.priority, Some(150));
        assert_eq!(public.initial_state, Some(VrrpState::Master));
        assert_eq!(public.track_scripts, vec!["chk_haproxy".to_string()]);
        assert_eq!(
            public.track_interfaces,
            vec![TrackedInterface {
                name: "eth1".into(),
                weight: None
            }]
        );
        assert_eq!(
            public.virtual_addresses,
            vec![
                VirtualAddress {
                    address: ip("192.168.1.100"),
                    prefix_len: Some(24),
                    device: Some("eth0".into()),
                },
                VirtualAddress {
                    address: ip("192.168.1.101"),
                    prefix_len: Some(24),
                    device: None,
                },
            ]
        );
        assert_eq!(config.instances.len(), 2);
        let server = config.virtual_servers.first().cloned();
        let server = server.as_ref();
        assert_eq!(
            server.map(|s| &s.target),
            Some(&VirtualServerTarget::Address {
                address: ip("192.168.1.100"),
                port: 80
            })
        );
        assert_eq!(server.and_then(|s| s.lb_kind.as_deref()), Some("NAT"));
        assert_eq!(server.and_then(|s| s.lb_algo.as_deref()), Some("wlc"));
        assert_eq!(server.and_then(|s| s.protocol.as_deref()), Some("TCP"));
        assert_eq!(server.and_then(|s| s.persistence_timeout), Some(50));
        let reals: Vec<RealSummary> = server
            .map(|s| s.real_servers.clone())
            .unwrap_or_default()
            .into_iter()
            .map(|r| (r.address, r.port, r.weight, r.checkers))
            .collect();
        assert_eq!(
            reals,
            vec![
                (
                    ip("10.10.10.2"),
                    Some(80),
                    Some(1),
                    vec!["TCP_CHECK".into()]
                ),
                (
                    ip("10.10.10.3"),
                    Some(80),
                    Some(2),
                    vec!["TCP_CHECK".into()]
                ),
            ]
        );
    }

    #[test]
    fn dr_director_with_http_checks_ipv6_and_a_firewall_mark() {
        let config = parse_single("dr-director.conf", DR);
        assert_eq!(config.errors, Vec::new());
        let instance = config.instances.first().cloned().unwrap_or_default();
        assert!(instance.nopreempt);
        assert_eq!(instance.initial_state, Some(VrrpState::Backup));
        assert_eq!(
            instance
                .virtual_addresses
                .iter()
                .map(|v| v.address)
                .collect::<Vec<_>>(),
            vec![ip("203.0.113.10"), ip("2001:db8::10")]
        );
        assert_eq!(config.virtual_servers.len(), 2);
        let http = config.virtual_servers.first();
        assert_eq!(http.and_then(|s| s.lb_kind.as_deref()), Some("DR"));
        assert_eq!(
            http.map(|s| s
                .real_servers
                .iter()
                .map(|r| r.checkers.clone())
                .collect::<Vec<_>>()),
            Some(vec![vec!["HTTP_GET".to_string()], vec!["HTTP_GET".into()]])
        );
        let fwm = config.virtual_servers.get(1);
        assert_eq!(
            fwm.map(|s| &s.target),
            Some(&VirtualServerTarget::Fwmark { mark: 7 })
        );
        assert_eq!(fwm.and_then(|s| s.persistence_timeout), Some(300));
        assert_eq!(
            fwm.and_then(|s| s.real_servers.first())
                .map(|r| (r.port, r.checkers.clone())),
            Some((None, vec!["MISC_CHECK".to_string()]))
        );
    }

    #[test]
    fn a_broken_configuration_reports_its_errors_and_keeps_the_rest() {
        let config = parse_single("broken.conf", BROKEN);
        let messages: Vec<String> = config.errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert!(
            messages
                .iter()
                .any(|m| m.starts_with("broken.conf:12: virtual_router_id"))
        );
        assert!(messages.iter().any(|m| m.contains("never closed")));
        let names: Vec<&str> = config.instances.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, vec!["VI_OK", "VI_BAD"]);
        assert_eq!(
            config.instances.get(1).and_then(|i| i.virtual_router_id),
            None
        );
        assert_eq!(
            config.virtual_servers.first().map(|s| s.real_servers.len()),
            Some(1)
        );
    }

    const HEALTH: &str = include_str!("../../../tests/fixtures/keepalived-conf/health-checks.conf");

    #[test]
    fn quorum_sorry_server_inhibit_and_delay_loop_are_read() {
        let config = parse_single("health-checks.conf", HEALTH);
        assert_eq!(config.errors, Vec::new());
        let web = config.virtual_servers.first().cloned();
        let web = web.as_ref();
        assert_eq!(
            web.map(|s| &s.target),
            Some(&VirtualServerTarget::Group { name: "WEB".into() })
        );
        assert_eq!(web.and_then(|s| s.quorum), Some(2));
        assert_eq!(web.and_then(|s| s.hysteresis), Some(1));
        assert_eq!(web.and_then(|s| s.delay_loop), Some(3));
        assert_eq!(web.map(|s| s.inhibit_on_failure), Some(true));
        assert_eq!(
            web.and_then(|s| s.sorry_server.clone()),
            Some(SorryServer {
                address: ip("10.20.0.99"),
                port: Some(8080),
                lvs_method: None,
                inhibit: false,
            })
        );
        let reals: Vec<(Option<i32>, Option<bool>, Vec<String>)> = web
            .map(|s| s.real_servers.clone())
            .unwrap_or_default()
            .into_iter()
            .map(|r| (r.weight, r.inhibit_on_failure, r.checkers))
            .collect();
        assert_eq!(
            reals,
            vec![
                (Some(2), None, vec!["TCP_CHECK".to_string()]),
                (None, Some(false), vec!["HTTP_GET".to_string()]),
            ]
        );
        let v6 = config.virtual_servers.get(1);
        assert_eq!(v6.and_then(|s| s.delay_loop), Some(3), "2.5 s rounds up");
        assert_eq!(v6.map(|s| s.inhibit_on_failure), Some(false));
        assert_eq!(v6.and_then(|s| s.quorum), None);
        assert_eq!(
            v6.and_then(|s| s.sorry_server.clone()),
            Some(SorryServer {
                address: ip("2001:db8::99"),
                port: None,
                lvs_method: None,
                inhibit: false,
            })
        );
        assert_eq!(
            v6.and_then(|s| s.real_servers.first())
                .and_then(|r| r.inhibit_on_failure),
            Some(true)
        );
    }

    #[test]
    fn a_virtual_server_group_holds_ranges_and_marks() {
        let config = parse_single("health-checks.conf", HEALTH);
        assert_eq!(
            config.virtual_server_groups,
            vec![
                VirtualServerGroup {
                    name: "WEB".into(),
                    members: vec![
                        GroupMember::Addresses {
                            first: ip("192.168.10.1"),
                            last: ip("192.168.10.3"),
                            port: 80
                        },
                        GroupMember::Fwmark {
                            mark: 9,
                            family: None
                        },
                    ],
                },
                VirtualServerGroup {
                    name: "WEB6".into(),
                    members: vec![GroupMember::Addresses {
                        first: ip("2001:db8:10::a"),
                        last: ip("2001:db8:10::c"),
                        port: 80
                    }],
                }
            ]
        );
    }

    #[test]
    fn address_ranges_run_over_the_last_octet_or_group() {
        assert_eq!(
            parse_range("10.0.0.5"),
            Some((ip("10.0.0.5"), ip("10.0.0.5")))
        );
        assert_eq!(
            parse_range("10.0.0.5-255"),
            Some((ip("10.0.0.5"), ip("10.0.0.255")))
        );
        assert_eq!(
            parse_range("2001:db8::1-100"),
            Some((ip("2001:db8::1"), ip("2001:db8::100")))
        );
        // Backwards, past the octet, and more than 256 addresses of IPv6 are refused.
        assert_eq!(parse_range("10.0.0.5-4"), None);
        assert_eq!(parse_range("10.0.0.5-256"), None);
        assert_eq!(parse_range("2001:db8::1-101"), None);
        assert_eq!(parse_range("2001:db8::1-zz"), None);
        assert_eq!(parse_range("10.0.0.5-"), None);
    }

    #[test]
    fn bad_health_values_are_errors_and_the_rest_is_kept() {
        let text = "virtual_server_group G {\n 10.0.0.9-3 80\n 10.0.0.1 http\n fwmark x\n 10.0.0.2 80\n}\n\
                    virtual_server 10.0.0.1 80 {\n quorum 0\n hysteresis -1\n delay_loop soon\n\
                    sorry_server 10.0.0.300 80\n inhibit_on_failure maybe\n\
                    real_server 10.0.0.5 80 {\n inhibit_on_failure 2\n }\n quorum 3\n}\n";
        let config = parse_single("k.conf", text);
        let lines: Vec<usize> = config.errors.iter().map(|e| e.line).collect();
        assert_eq!(
            lines,
            vec![2, 3, 4, 8, 9, 10, 11, 12, 14],
            "{:?}",
            config.errors
        );
        assert_eq!(
            config
                .virtual_server_groups
                .first()
                .map(|g| g.members.clone()),
            Some(vec![GroupMember::Addresses {
                first: ip("10.0.0.2"),
                last: ip("10.0.0.2"),
                port: 80
            }])
        );
        let server = config.virtual_servers.first();
        assert_eq!(server.and_then(|s| s.quorum), Some(3));
        assert_eq!(server.and_then(|s| s.hysteresis), None);
        assert_eq!(server.and_then(|s| s.delay_loop), None);
        assert_eq!(server.and_then(|s| s.sorry_server.clone()), None);
        assert_eq!(server.map(|s| s.inhibit_on_failure), Some(false));
        assert_eq!(
            server
                .and_then(|s| s.real_servers.first())
                .map(|r| r.inhibit_on_failure),
            Some(None)
        );
    }
}
