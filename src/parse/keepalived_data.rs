//! keepalived's data dump, written on SIGUSR1: `keepalived.data` from its VRRP process and,
//! since keepalived 2.1, `keepalived_check.data` from its checker process (both in its
//! temporary directory, `/tmp` by default). Both are text: sections headed
//! `------< NAME >------`, then `key = value` lines indented by nesting. This parser takes
//! the checkers' view of each real server (`LVS Topology`: virtual server, `RIP`/`RPORT`,
//! `WEIGHT`, `alive`) and each VRRP instance's state, sync group and priorities (`VRRP
//! Topology`); every other section and line is skipped, so the same parser reads either file
//! (or both joined). Versions before 2.1 write no `alive` line: their real servers are left
//! out rather than guessed.

use std::net::IpAddr;

use super::{LineProblem, Parsed, excerpt};
use crate::model::keepalived::{
    CheckedRealServer, DataDumpInstance, VirtualServerTarget, VrrpState,
};

/// The most real servers and VRRP instances taken from one dump; more are counted as problems.
pub const MAX_ENTRIES: usize = 65_536;

/// What one dump (or several joined) tells.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DataDump {
    /// Real servers whose `alive` line was read, in dump order.
    pub real_servers: Vec<CheckedRealServer>,
    /// VRRP instances, in dump order.
    pub instances: Vec<DataDumpInstance>,
}

/// The top-level section a line belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    Lvs,
    Vrrp,
    Other,
}

/// A real server being read: its `RIP` line and, once seen, its `alive` line.
struct PendingRealServer {
    address: IpAddr,
    port: Option<u16>,
    weight: Option<i64>,
    alive: Option<bool>,
}

/// A virtual server being read.
#[derive(Default)]
struct PendingVirtualServer {
    target: Option<VirtualServerTarget>,
    protocol: Option<String>,
    real_server: Option<PendingRealServer>,
}

struct Reader {
    dump: DataDump,
    problems: Vec<LineProblem>,
    section: Section,
    virtual_server: PendingVirtualServer,
    instance: Option<DataDumpInstance>,
}

/// How deep a line is indented: keepalived indents by nesting (1 for a virtual server or an
/// instance, 3 for their fields and a real server's).
fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// `KEY = VALUE` with the key as keepalived writes it.
fn value<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.trim()
        .strip_prefix(key)
        .and_then(|rest| rest.trim_start().strip_prefix('='))
        .map(str::trim)
}

/// An address as keepalived prints it, with or without brackets.
fn address(text: &str) -> Option<IpAddr> {
    text.trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

/// `VIP = A, VPORT = P` (or `RIP = A, RPORT = P, WEIGHT = W EFF WEIGHT = E`): the value of
/// each comma-separated `KEY = VALUE` part by key.
fn part<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.split(',').find_map(|p| value(p, key))
}

impl Reader {
    fn problem(&mut self, line: usize, text: &str, reason: &str) {
        self.problems.push(LineProblem {
            line,
            reason: format!("{reason}: {}", excerpt(text)),
        });
    }

    fn finish_real_server(&mut self) {
        let Some(rs) = self.virtual_server.real_server.take() else {
            return;
        };
        let (Some(target), Some(alive)) = (self.virtual_server.target.clone(), rs.alive) else {
            return;
        };
        if self.dump.real_servers.len() < MAX_ENTRIES {
            self.dump.real_servers.push(CheckedRealServer {
                virtual_server: target,
                protocol: self.virtual_server.protocol.clone(),
                address: rs.address,
                port: rs.port,
                alive,
                weight: rs.weight,
            });
        }
    }

    fn finish_instance(&mut self) {
        if let Some(instance) = self.instance.take()
            && self.dump.instances.len() < MAX_ENTRIES
        {
            self.dump.instances.push(instance);
        }
    }

    fn finish_section(&mut self) {
        self.finish_real_server();
        self.virtual_server = PendingVirtualServer::default();
        self.finish_instance();
    }

    fn lvs_line(&mut self, number: usize, line: &str) {
        let trimmed = line.trim();
        if trimmed == "------< Virtual server >------" {
            self.finish_real_server();
            self.virtual_server = PendingVirtualServer::default();
        } else if trimmed == "------< Real server >------" {
            self.finish_real_server();
        } else if let Some(rest) = value(trimmed, "VS VIP") {
            let vip = rest.split(',').next().and_then(address);
            let port = part(trimmed, "VPORT").and_then(|p| p.parse::<u16>().ok());
            match (vip, port) {
                (Some(address), Some(port)) => {
                    self.virtual_server.target =
                        Some(VirtualServerTarget::Address { address, port });
                }
                _ => self.problem(number, line, "a virtual server line that cannot be read"),
            }
        } else if let Some(mark) = value(trimmed, "VS FWMARK") {
            match mark.parse::<u32>() {
                Ok(mark) => self.virtual_server.target = Some(VirtualServerTarget::Fwmark { mark }),
                Err(_) => self.problem(number, line, "a firewall mark that cannot be read"),
            }
        } else if let Some(group) = value(trimmed, "VS GROUP") {
            // keepalived 2.2 writes `[NAME]:PORT`, older versions the bare name
            let name = match group.strip_prefix('[').and_then(|g| g.rsplit_once(']')) {
                Some((name, _port)) => name,
                None => group,
            };
            self.virtual_server.target = Some(VirtualServerTarget::Group {
                name: name.to_string(),
            });
        } else if self.virtual_server.real_server.is_none() {
            if let Some(protocol) = value(trimmed, "protocol")
                && indent(line) == 3
            {
                self.virtual_server.protocol =
                    matches!(protocol, "TCP" | "UDP" | "SCTP").then(|| protocol.to_string());
            } else if let Some(rip) = value(trimmed, "RIP") {
                self.real_server_line(number, line, rip);
            }
        } else if let Some(rip) = value(trimmed, "RIP") {
            self.real_server_line(number, line, rip);
        } else if let Some(alive) = value(trimmed, "alive")
            && indent(line) == 3
            && let Some(rs) = self.virtual_server.real_server.as_mut()
        {
            match alive {
                "0" => rs.alive = Some(false),
                "1" => rs.alive = Some(true),
                _ => self.problem(number, line, "an alive state that is neither 0 nor 1"),
            }
        }
    }

    fn real_server_line(&mut self, number: usize, line: &str, rip: &str) {
        let trimmed = line.trim();
        let address = rip.split(',').next().and_then(address);
        let port = part(trimmed, "RPORT").and_then(|p| p.parse::<u16>().ok());
        // `WEIGHT = W EFF WEIGHT = E` (2.1 and later) or `WEIGHT = W`
        let weight = part(trimmed, "WEIGHT")
            .and_then(|w| w.split_whitespace().next())
            .and_then(|w| w.parse::<i64>().ok());
        match (address, port) {
            (Some(address), Some(port)) => {
                self.virtual_server.real_server = Some(PendingRealServer {
                    address,
                    // a real server without a port (firewall-mark services) shows port 0
                    port: (port != 0).then_some(port),
                    weight,
                    alive: None,
                });
            }
            _ => self.problem(number, line, "a real server line that cannot be read"),
        }
    }

    fn vrrp_line(&mut self, number: usize, line: &str) {
        let trimmed = line.trim();
        if indent(line) == 1
            && let Some(name) = value(trimmed, "VRRP Instance")
        {
            self.finish_instance();
            self.instance = Some(DataDumpInstance {
                name: name.to_string(),
                ..DataDumpInstance::default()
            });
            return;
        }
        if indent(line) != 3 {
            return;
        }
        let Some(instance) = self.instance.as_mut() else {
            return;
        };
        if let Some(state) = value(trimmed, "State") {
            instance.state = VrrpState::from_keepalived_name(state);
        } else if let Some(group) = value(trimmed, "Sync group") {
            instance.sync_group = Some(group.to_string());
        } else if let Some(priority) = value(trimmed, "Priority") {
            match priority.parse() {
                Ok(p) => instance.base_priority = Some(p),
                Err(_) => self.problem(number, line, "a priority that is not a number"),
            }
        } else if let Some(priority) = value(trimmed, "Effective priority") {
            match priority.parse() {
                Ok(p) => instance.effective_priority = Some(p),
                Err(_) => self.problem(number, line, "a priority that is not a number"),
            }
        }
    }
}

/// Parses one data dump (or several joined one after the other).
pub fn parse_data_dump(text: &str) -> Parsed<DataDump> {
    let mut reader = Reader {
        dump: DataDump::default(),
        problems: Vec::new(),
        section: Section::Other,
        virtual_server: PendingVirtualServer::default(),
        instance: None,
    };
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        if let Some(name) = line
            .strip_prefix("------<")
            .and_then(|rest| rest.strip_suffix(">------"))
        {
            reader.finish_section();
            reader.section = match name.trim() {
                "LVS Topology" => Section::Lvs,
                "VRRP Topology" => Section::Vrrp,
                _ => Section::Other,
            };
            continue;
        }
        match reader.section {
            Section::Lvs => reader.lvs_line(number, line),
            Section::Vrrp => reader.vrrp_line(number, line),
            Section::Other => {}
        }
    }
    reader.finish_section();
    Parsed {
        value: reader.dump,
        problems: reader.problems,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Written by Debian's keepalived 2.2.7 on SIGUSR1 in the lab (tests/lab/scenarios/datadump.sh)
    const MASTER_VRRP: &str =
        include_str!("../../tests/fixtures/keepalived-data/master/keepalived.data");
    const MASTER_CHECK: &str =
        include_str!("../../tests/fixtures/keepalived-data/master/keepalived_check.data");
    const MASTER_PARENT: &str =
        include_str!("../../tests/fixtures/keepalived-data/master/keepalived_parent.data");
    const MASTER_IPVSADM: &str =
        include_str!("../../tests/fixtures/keepalived-data/master/ipvsadm.txt");
    const FAULT_VRRP: &str =
        include_str!("../../tests/fixtures/keepalived-data/fault/keepalived.data");

    fn vip(address: &str, port: u16) -> VirtualServerTarget {
        VirtualServerTarget::Address {
            address: address.parse().expect("an address"),
            port,
        }
    }

    /// (address:port, weight) of each real server in `ipvsadm -Ln` output.
    fn kernel_real_servers(ipvsadm: &str) -> Vec<(String, i64)> {
        ipvsadm
            .lines()
            .filter_map(|l| l.trim().strip_prefix("-> "))
            .filter_map(|l| {
                let fields: Vec<&str> = l.split_whitespace().collect();
                let weight = fields.get(2)?.parse().ok()?;
                Some(((*fields.first()?).to_string(), weight))
            })
            .collect()
    }

    #[test]
    fn the_checkers_view_agrees_with_the_kernel_table_written_beside_it() {
        let parsed = parse_data_dump(MASTER_CHECK);
        assert_eq!(parsed.problems, Vec::new());
        let servers = parsed.value.real_servers;
        assert_eq!(servers.len(), 3);
        let kernel = kernel_real_servers(MASTER_IPVSADM);
        assert_eq!(kernel.len(), 2, "{kernel:?}");
        for rs in &servers {
            assert_eq!(rs.virtual_server, vip("10.9.0.100", 80));
            assert_eq!(rs.protocol.as_deref(), Some("TCP"));
            let name = format!("{}:{}", rs.address, rs.port.unwrap_or(0));
            let in_service = kernel.iter().any(|(n, w)| *n == name && *w > 0);
            assert_eq!(rs.alive, in_service, "{name}");
        }
        let alive: Vec<(String, bool, Option<i64>)> = servers
            .iter()
            .map(|rs| (rs.address.to_string(), rs.alive, rs.weight))
            .collect();
        assert_eq!(
            alive,
            vec![
                ("10.2.1.2".to_string(), true, Some(3)),
                ("10.2.2.2".to_string(), false, Some(2)),
                ("10.2.3.2".to_string(), false, Some(1)),
            ]
        );
        assert!(parsed.value.instances.is_empty());
    }

    #[test]
    fn the_vrrp_dump_gives_state_and_both_priorities() {
        let parsed = parse_data_dump(MASTER_VRRP);
        assert_eq!(parsed.problems, Vec::new());
        assert!(parsed.value.real_servers.is_empty());
        assert_eq!(
            parsed.value.instances,
            vec![DataDumpInstance {
                name: "VI_1".into(),
                state: Some(VrrpState::Master),
                sync_group: None,
                base_priority: Some(150),
                effective_priority: Some(130),
            }]
        );
        let fault = parse_data_dump(FAULT_VRRP).value.instances;
        assert_eq!(fault.first().and_then(|i| i.state), Some(VrrpState::Fault));
    }

    #[test]
    fn the_files_joined_read_as_one_and_the_parent_dump_adds_nothing() {
        let joined = format!("{MASTER_PARENT}{MASTER_VRRP}{MASTER_CHECK}");
        let parsed = parse_data_dump(&joined);
        assert_eq!(parsed.value.real_servers.len(), 3);
        assert_eq!(parsed.value.instances.len(), 1);
        assert_eq!(parse_data_dump(MASTER_PARENT).value, DataDump::default());
    }

    // Written from keepalived 2.2's dump_vs/dump_rs and dump_vrrp format strings: a group, a
    // firewall mark, IPv6, a sorry server, and a sync group member.
    const SHAPES: &str = "------< LVS Topology >------
 System is compiled with LVS v1.2.1
 ------< Virtual server >------
 VS GROUP = [web]:0
   protocol = TCP
   sorry server = [10.0.0.9]:tcp:80
     alive = 1
   alive = 0
   ------< Real server >------
   RIP = 10.1.0.1, RPORT = 80, WEIGHT = 0 EFF WEIGHT = -5
   alive = 0
 ------< Virtual server >------
 VS FWMARK = 7
   protocol = none
   ------< Real server >------
   RIP = fd00::5, RPORT = 0, WEIGHT = 2 EFF WEIGHT = 2
   some future line = yes
   alive = 1
 ------< Virtual server >------
 VS VIP = fd00::1, VPORT = 443
   protocol = SCTP
   ------< Real server >------
   RIP = fd00::6, RPORT = 443, WEIGHT = 1
   ------< Real server >------
   RIP = fd00::7, RPORT = 443, WEIGHT = 1 EFF WEIGHT = 1
   alive = 1
------< VRRP Topology >------
 VRRP Instance = VI_2
   Sync group = SG
   State = BACKUP
   Master priority = 200
       last rx checksum = 0x1234, priority 200
   Priority = 100
   Effective priority = 100
 VRRP Instance = VI_3
   State = unknown
------< VRRP Scripts >------
 VRRP Script = chk
   State = idle
";

    /// A real server as (virtual server, protocol, address, port, alive, weight).
    type Row = (
        VirtualServerTarget,
        Option<String>,
        String,
        Option<u16>,
        bool,
        Option<i64>,
    );

    #[test]
    fn groups_marks_ipv6_and_sync_groups_are_read_and_sorry_servers_are_not_real_servers() {
        let parsed = parse_data_dump(SHAPES);
        assert_eq!(parsed.problems, Vec::new());
        let servers: Vec<Row> = parsed
            .value
            .real_servers
            .into_iter()
            .map(|r| {
                (
                    r.virtual_server,
                    r.protocol,
                    r.address.to_string(),
                    r.port,
                    r.alive,
                    r.weight,
                )
            })
            .collect();
        assert_eq!(
            servers,
            vec![
                (
                    VirtualServerTarget::Group { name: "web".into() },
                    Some("TCP".into()),
                    "10.1.0.1".into(),
                    Some(80),
                    false,
                    Some(0)
                ),
                (
                    VirtualServerTarget::Fwmark { mark: 7 },
                    None,
                    "fd00::5".into(),
                    None,
                    true,
                    Some(2)
                ),
                // fd00::6 has no alive line (as before keepalived 2.1): left out
                (
                    vip("fd00::1", 443),
                    Some("SCTP".into()),
                    "fd00::7".into(),
                    Some(443),
                    true,
                    Some(1)
                ),
            ]
        );
        let instances = parsed.value.instances;
        assert_eq!(instances.len(), 2);
        let vi2 = instances.first().expect("VI_2");
        assert_eq!(vi2.sync_group.as_deref(), Some("SG"));
        assert_eq!(vi2.state, Some(VrrpState::Backup));
        assert_eq!(
            (vi2.base_priority, vi2.effective_priority),
            (Some(100), Some(100))
        );
        let vi3 = instances.get(1).expect("VI_3");
        assert_eq!(
            (vi3.name.as_str(), vi3.state, vi3.base_priority),
            ("VI_3", None, None)
        );
    }

    #[test]
    fn bad_lines_are_problems_and_the_rest_is_read() {
        let text = "------< LVS Topology >------
 ------< Virtual server >------
 VS VIP = nowhere, VPORT = 80
   ------< Real server >------
   RIP = 10.0.0.1, RPORT = 80, WEIGHT = 1
   alive = 1
 ------< Virtual server >------
 VS VIP = 10.0.0.2, VPORT = 80
   ------< Real server >------
   RIP = 10.0.0.3, RPORT = 99999, WEIGHT = 1
   alive = 1
   ------< Real server >------
   RIP = 10.0.0.4, RPORT = 80, WEIGHT = 1
   alive = maybe
   ------< Real server >------
   RIP = 10.0.0.5, RPORT = 80, WEIGHT = 1
   alive = 1
------< VRRP Topology >------
 VRRP Instance = VI_1
   Priority = high
";
        let parsed = parse_data_dump(text);
        let lines: Vec<usize> = parsed.problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, vec![3, 10, 14, 20]);
        let read: Vec<String> = parsed
            .value
            .real_servers
            .iter()
            .map(|r| r.address.to_string())
            .collect();
        // 10.0.0.1 has no readable virtual server; 10.0.0.4 no readable alive state
        assert_eq!(read, vec!["10.0.0.5"]);
    }

    #[test]
    fn a_dump_cut_short_gives_what_came_before_the_cut() {
        for cut in (0..MASTER_CHECK.len()).step_by(97) {
            let Some(head) = MASTER_CHECK.get(..cut) else {
                continue;
            };
            let parsed = parse_data_dump(head);
            assert!(parsed.value.real_servers.len() <= 3);
        }
        assert_eq!(parse_data_dump("").value, DataDump::default());
    }
}
