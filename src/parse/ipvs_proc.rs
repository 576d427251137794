//! Parsers for the IPVS files in procfs: `/proc/net/ip_vs` (services and real servers) and
//! `/proc/net/ip_vs_stats` (host totals and rate estimates).
//!
//! Layout, as the kernel's `ip_vs_ctl.c` writes it:
//!
//! ```text
//! IP Virtual Server version 1.2.1 (size=4096)
//! Prot LocalAddress:Port Scheduler Flags
//!   -> RemoteAddress:Port Forward Weight ActiveConn InActConn
//! TCP  0A000001:0050 rr
//!   -> 0A000002:0050      Masq    1      0          0
//! UDP  [2001:0db8:0000:0000:0000:0000:0000:0001]:0035 wlc persistent 75000 FFFFFFFF
//! FWM  00000001 sh ops
//! ```
//!
//! IPv4 addresses, ports and marks are hexadecimal; IPv6 addresses are written in full. The
//! persistence timeout is printed in kernel jiffies, so it is not read from here.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{LineProblem, Parsed, excerpt};
use crate::model::{
    AddressFamily, Backend, ForwardMethod, Protocol, Service, ServiceFlags, ServiceKey,
    TrafficCounters, TrafficFigures, TrafficRates,
};

/// What `/proc/net/ip_vs` tells.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpVsProc {
    /// From the header: `1.2.1`.
    pub version: Option<String>,
    /// From the header: `size=4096`, the connection table's buckets.
    pub connection_table_buckets: Option<u64>,
    pub services: Vec<Service>,
}

/// What `/proc/net/ip_vs_stats` tells.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IpVsStatsProc {
    pub totals: Option<TrafficCounters>,
    pub rates: Option<TrafficRates>,
}

/// Parses the text of `/proc/net/ip_vs`.
pub fn parse_ip_vs(text: &str) -> Parsed<IpVsProc> {
    let mut table = IpVsProc::default();
    let mut problems = Vec::new();
    // Real servers belong to the service line above them; after a bad service line they
    // belong to nothing and are skipped with it.
    let mut current_service_ok = false;

    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix("IP Virtual Server version ") {
            parse_header(rest, &mut table);
            continue;
        }
        if trimmed.starts_with("Prot ") || trimmed.starts_with("-> RemoteAddress") {
            continue;
        }
        let outcome = match trimmed.strip_prefix("->") {
            Some(rest) => {
                if !current_service_ok {
                    Err("real server line without a valid service line above it".to_string())
                } else {
                    parse_backend(rest).map(|backend| {
                        if let Some(service) = table.services.last_mut() {
                            service.backends.push(backend);
                        }
                    })
                }
            }
            None => {
                let parsed = parse_service(trimmed);
                current_service_ok = parsed.is_ok();
                parsed.map(|service| table.services.push(service))
            }
        };
        if let Err(reason) = outcome {
            problems.push(LineProblem {
                line: number,
                reason: format!("{reason}: {}", excerpt(line)),
            });
        }
    }

    for service in &mut table.services {
        infer_firewall_mark_family(service);
    }
    Parsed {
        value: table,
        problems,
    }
}

/// Reads `1.2.1 (size=4096)`.
fn parse_header(rest: &str, table: &mut IpVsProc) {
    let mut words = rest.split_whitespace();
    table.version = words.next().map(str::to_string);
    table.connection_table_buckets = words.next().and_then(|size| {
        size.strip_prefix("(size=")
            .and_then(|s| s.strip_suffix(')'))
            .and_then(|s| s.parse().ok())
    });
}

fn parse_service(line: &str) -> Result<Service, String> {
    let mut words = line.split_whitespace();
    let protocol_word = words.next().ok_or("empty service line")?;
    let target = words.next().ok_or("service line without an address")?;
    let scheduler = words.next().ok_or("service line without a scheduler")?;

    let key = if protocol_word == "FWM" {
        let mark =
            u32::from_str_radix(target, 16).map_err(|_| format!("bad firewall mark {target:?}"))?;
        ServiceKey::FirewallMark { mark, family: None }
    } else {
        let protocol = parse_protocol(protocol_word)?;
        let (address, port) = parse_socket(target)?;
        ServiceKey::Address {
            protocol,
            address,
            port,
        }
    };

    let mut flags = ServiceFlags::default();
    let mut rest = words.peekable();
    while let Some(word) = rest.next() {
        match word {
            "ops" => flags.one_packet = true,
            "persistent" => {
                flags.persistent = true;
                // Timeout (jiffies) and netmask follow; neither is exported from here.
                rest.next();
                rest.next();
            }
            other => return Err(format!("unknown service flag {other:?}")),
        }
    }

    Ok(Service {
        flags,
        ..Service::new(key, scheduler)
    })
}

fn parse_backend(rest: &str) -> Result<Backend, String> {
    let mut words = rest.split_whitespace();
    let target = words.next().ok_or("real server line without an address")?;
    let (address, port) = parse_socket(target)?;
    let forward_word = words
        .next()
        .ok_or("real server line without a forwarding method")?;
    let forward = parse_forward(forward_word)?;
    let mut number = |what: &str| -> Result<i64, String> {
        let word = words
            .next()
            .ok_or_else(|| format!("real server line without {what}"))?;
        word.parse()
            .map_err(|_| format!("bad {what} {word:?} (expected a decimal number)"))
    };
    let weight = number("weight")?;
    let active_connections = number("active connections")?;
    let inactive_connections = number("inactive connections")?;
    if let Some(extra) = words.next() {
        return Err(format!(
            "unexpected field {extra:?} after the connection counts"
        ));
    }
    Ok(Backend {
        weight,
        active_connections,
        inactive_connections,
        ..Backend::new(address, port, forward)
    })
}

/// The kernel's protocol names (`ip_vs_proto_name`): TCP, UDP, SCTP, IP_<n> and a few more.
fn parse_protocol(word: &str) -> Result<Protocol, String> {
    match word {
        "TCP" => Ok(Protocol::Tcp),
        "UDP" => Ok(Protocol::Udp),
        "SCTP" => Ok(Protocol::Sctp),
        "IP" => Ok(Protocol::Other(0)),
        "ICMP" => Ok(Protocol::Other(1)),
        "ICMPv6" => Ok(Protocol::Other(58)),
        other => other
            .strip_prefix("IP_")
            .and_then(|n| n.parse::<u8>().ok())
            .map(Protocol::from_number)
            .ok_or_else(|| format!("unknown protocol {other:?}")),
    }
}

fn parse_forward(word: &str) -> Result<ForwardMethod, String> {
    match word {
        "Masq" => Ok(ForwardMethod::Masq),
        "Route" => Ok(ForwardMethod::Route),
        "Tunnel" => Ok(ForwardMethod::Tunnel),
        "Local" => Ok(ForwardMethod::Local),
        "Bypass" => Ok(ForwardMethod::Bypass),
        other => Err(format!("unknown forwarding method {other:?}")),
    }
}

/// Reads `0A000001:0050` (hex IPv4, hex port) or `[2001:0db8:...:0001]:0050`.
fn parse_socket(text: &str) -> Result<(IpAddr, u16), String> {
    let (address_text, port_text) = text
        .rsplit_once(':')
        .ok_or_else(|| format!("bad address {text:?} (no port)"))?;
    let port = u16::from_str_radix(port_text, 16).map_err(|_| format!("bad port {port_text:?}"))?;
    let address = if let Some(inner) = address_text
        .strip_prefix('[')
        .and_then(|a| a.strip_suffix(']'))
    {
        IpAddr::V6(
            inner
                .parse::<Ipv6Addr>()
                .map_err(|_| format!("bad IPv6 address {inner:?}"))?,
        )
    } else {
        if address_text.len() != 8 {
            return Err(format!("bad IPv4 address {address_text:?}"));
        }
        let bits = u32::from_str_radix(address_text, 16)
            .map_err(|_| format!("bad IPv4 address {address_text:?}"))?;
        IpAddr::V4(Ipv4Addr::from(bits))
    };
    Ok((address, port))
}

/// The FWM line does not say its family; the real servers behind it do, when they agree.
fn infer_firewall_mark_family(service: &mut Service) {
    if let ServiceKey::FirewallMark { family, .. } = &mut service.key {
        let mut families = service
            .backends
            .iter()
            .map(|backend| AddressFamily::of(&backend.address));
        if let Some(first) = families.next()
            && families.all(|other| other == first)
        {
            *family = Some(first);
        }
    }
}

/// Parses the text of `/proc/net/ip_vs_stats`: two header lines and a row of hexadecimal
/// totals, then a header line and a row of hexadecimal per-second estimates.
pub fn parse_ip_vs_stats(text: &str) -> Parsed<IpVsStatsProc> {
    let mut rows: Vec<[u64; 5]> = Vec::new();
    let mut problems = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.is_empty()
            || words
                .iter()
                .any(|w| w.chars().any(|c| !c.is_ascii_hexdigit()))
        {
            continue; // blank or header line
        }
        let values: Option<Vec<u64>> = words
            .iter()
            .map(|w| u64::from_str_radix(w, 16).ok())
            .collect();
        match values.as_deref() {
            Some(&[a, b, c, d, e]) => rows.push([a, b, c, d, e]),
            _ => problems.push(LineProblem {
                line: index + 1,
                reason: format!("expected five hexadecimal numbers: {}", excerpt(line)),
            }),
        }
    }
    let mut rows = rows.into_iter();
    let totals = rows.next().map(TrafficCounters::from_array);
    let rates = rows.next().map(TrafficRates::from_array);
    if totals.is_none() || rates.is_none() {
        problems.push(LineProblem {
            line: text.lines().count(),
            reason: "truncated: expected a row of totals and a row of rates".to_string(),
        });
    }
    Parsed {
        value: IpVsStatsProc { totals, rates },
        problems,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAT_TABLE: &str = include_str!("../../tests/fixtures/nat-director/proc/net/ip_vs");
    const NAT_STATS: &str = include_str!("../../tests/fixtures/nat-director/proc/net/ip_vs_stats");
    const MIXED_TABLE: &str = include_str!("../../tests/fixtures/mixed-director/proc/net/ip_vs");

    fn v4(text: &str) -> IpAddr {
        text.parse().expect("test address")
    }

    // Both fixtures were captured from a Debian 6.1 kernel in the lab, with `ipvsadm -Ln`
    // beside them (tests/fixtures/nat-director/ipvsadm-Ln*.txt): the numbers below are
    // ipvsadm's.
    #[test]
    fn nat_director_table() {
        let parsed = parse_ip_vs(NAT_TABLE);
        assert_eq!(parsed.problems, vec![]);
        let table = parsed.value;
        assert_eq!(table.version.as_deref(), Some("1.2.1"));
        assert_eq!(table.connection_table_buckets, Some(4096));
        assert_eq!(table.services.len(), 4);
        let wrr = &table.services[0];
        assert_eq!(
            wrr.key,
            ServiceKey::Address {
                protocol: Protocol::Tcp,
                address: v4("10.0.0.1"),
                port: 8080
            }
        );
        assert_eq!(wrr.scheduler, "wrr");
        assert_eq!(wrr.flags, ServiceFlags::default());
        assert_eq!(wrr.backends.len(), 3);
        let first = &wrr.backends[0];
        assert_eq!(first.address, v4("10.1.3.2"));
        assert_eq!(first.port, 80);
        assert_eq!(first.forward, ForwardMethod::Masq);
        assert_eq!(
            (
                first.weight,
                first.active_connections,
                first.inactive_connections
            ),
            (2, 0, 4)
        );
        let v6 = &table.services[1];
        assert_eq!(
            v6.key,
            ServiceKey::Address {
                protocol: Protocol::Tcp,
                address: "fd00::1".parse().expect("v6"),
                port: 80
            }
        );
        assert_eq!(v6.backends[0].address.to_string(), "fd00:1:2::2");
        assert_eq!(v6.backends[1].inactive_connections, 3);
        assert!(matches!(
            table.services[3].key,
            ServiceKey::Address {
                protocol: Protocol::Udp,
                port: 53,
                ..
            }
        ));
    }

    #[test]
    fn nat_director_stats_are_hexadecimal() {
        let parsed = parse_ip_vs_stats(NAT_STATS);
        assert_eq!(parsed.problems, vec![]);
        let totals = parsed.value.totals.expect("totals");
        // ipvsadm -Ln --stats: the services' Conns add up to 12 + 12 + 0 + 6 = 30 (0x1E).
        assert_eq!(
            (
                totals.connections,
                totals.incoming_packets,
                totals.outgoing_packets
            ),
            (30, 183, 177)
        );
        assert_eq!(
            (totals.incoming_bytes, totals.outgoing_bytes),
            (12692, 16474)
        );
        let rates = parsed.value.rates.expect("rates");
        assert_eq!(
            (
                rates.connections_per_second,
                rates.incoming_packets_per_second,
                rates.incoming_bytes_per_second
            ),
            (3, 17, 1194)
        );
    }

    #[test]
    fn mixed_director_table_from_the_lab() {
        let parsed = parse_ip_vs(MIXED_TABLE);
        assert_eq!(parsed.problems, vec![]);
        let services = parsed.value.services;
        assert_eq!(services.len(), 14);
        let backends: usize = services.iter().map(|s| s.backends.len()).sum();
        assert_eq!(backends, 20);
        // `-p 60` shows as `persistent 15000` (jiffies at HZ=250): only the flag is read.
        let persistent: Vec<String> = services
            .iter()
            .filter(|s| s.flags.persistent)
            .map(|s| s.key.to_string())
            .collect();
        assert_eq!(
            persistent,
            vec!["TCP [2001:db8::10]:443", "TCP 192.0.2.11:65535"]
        );
        let ipv6_mark = services
            .iter()
            .find(|s| {
                matches!(
                    s.key,
                    ServiceKey::FirewallMark {
                        mark: 268_435_457,
                        ..
                    }
                )
            })
            .expect("FWM 268435457");
        assert_eq!(ipv6_mark.key.family(), Some(AddressFamily::Inet6));
        let forwards: Vec<ForwardMethod> = services
            .iter()
            .flat_map(|s| &s.backends)
            .map(|b| b.forward)
            .collect();
        for method in [
            ForwardMethod::Masq,
            ForwardMethod::Route,
            ForwardMethod::Tunnel,
        ] {
            assert!(forwards.contains(&method), "{method:?}");
        }
        let ops: Vec<String> = services
            .iter()
            .filter(|s| s.flags.one_packet)
            .map(|s| s.key.to_string())
            .collect();
        assert_eq!(ops, vec!["UDP 192.0.2.10:53"]);
    }

    #[test]
    fn ipv6_fwm_sctp_and_flags() {
        let text = "IP Virtual Server version 1.2.1 (size=1024)\n\
            Prot LocalAddress:Port Scheduler Flags\n\
            \x20 -> RemoteAddress:Port Forward Weight ActiveConn InActConn\n\
            SCTP  C0A80A64:0B86 sh  \n\
            \x20 -> 0A000102:0B86      Tunnel  1      0          0         \n\
            UDP  [2001:0db8:0000:0000:0000:0000:0000:0035]:0035 rr persistent 75000 FFFFFFFF\n\
            \x20 -> [2001:0db8:0000:0000:0000:0000:0001:0002]:0035      Route   5      0          1         \n\
            UDP  C0A80A64:0035 rr ops \n\
            FWM  00000007 wlc persistent 75000 FFFFFFFF\n\
            \x20 -> 0A000103:0000      Local   1      0          0         \n\
            FWM  00000008 lc \n";
        let parsed = parse_ip_vs(text);
        assert_eq!(parsed.problems, vec![]);
        let services = parsed.value.services;
        assert_eq!(services.len(), 5);
        assert!(matches!(
            services[0].key,
            ServiceKey::Address {
                protocol: Protocol::Sctp,
                port: 2950,
                ..
            }
        ));
        assert_eq!(services[0].backends[0].forward, ForwardMethod::Tunnel);
        assert_eq!(
            services[1].key,
            ServiceKey::Address {
                protocol: Protocol::Udp,
                address: "2001:db8::35".parse().expect("v6"),
                port: 53
            }
        );
        assert!(services[1].flags.persistent && !services[1].flags.one_packet);
        assert_eq!(services[1].backends[0].address.to_string(), "2001:db8::1:2");
        assert_eq!(services[1].backends[0].forward, ForwardMethod::Route);
        assert!(services[2].flags.one_packet && !services[2].flags.persistent);
        assert_eq!(services[2].flags.label("rr"), "ops");
        assert_eq!(
            services[3].key,
            ServiceKey::FirewallMark {
                mark: 7,
                family: Some(AddressFamily::Inet)
            }
        );
        assert_eq!(services[3].flags.label("wlc"), "persistent");
        assert_eq!(services[3].backends[0].forward, ForwardMethod::Local);
        assert_eq!(
            services[4].key,
            ServiceKey::FirewallMark {
                mark: 8,
                family: None
            }
        );
    }

    #[test]
    fn odd_spacing_is_accepted() {
        let text = "IP Virtual Server version 1.2.1 (size=4096)\r\n\
                    TCP\t0A000001:0050   rr\r\n\
                    \t->   0A000002:0050 Masq 1 0 0\r\n\n\n";
        let parsed = parse_ip_vs(text);
        assert_eq!(parsed.problems, vec![]);
        assert_eq!(parsed.value.services.len(), 1);
        assert_eq!(parsed.value.services[0].backends.len(), 1);
    }

    #[test]
    fn garbage_lines_are_skipped_and_reported_without_losing_the_rest() {
        let text = "IP Virtual Server version 1.2.1 (size=4096)\n\
            TCP  0A000001:0050 rr  \n\
            \x20 -> 0A000002:0050      Masq    1      0          0\n\
            \x20 -> 0A00000Z:0050      Masq    1      0          0\n\
            \x20 -> 0A000003:0050      Warp    1      0          0\n\
            \x20 -> 0A000004:0050      Masq    x      0          0\n\
            \x20 -> 0A000005:0050      Masq    1      0          0    7\n\
            TCP  0A000009 rr\n\
            \x20 -> 0A00000A:0050      Masq    1      0          0\n\
            HTTP  0A000001:0050 rr\n\
            TCP  0A000001:0051 rr bogusflag\n\
            UDP  [2001:db8::zz]:0035 rr\n\
            \u{0}\u{1}\u{7f}binary junk\n\
            TCP  0A000001:0052 sh\n\
            \x20 -> 0A000006:0052      Route   2      4          5";
        let parsed = parse_ip_vs(text);
        let services = &parsed.value.services;
        assert_eq!(services.len(), 2, "the two good services survive");
        assert_eq!(services[0].backends.len(), 1);
        assert_eq!(services[1].backends.len(), 1);
        assert_eq!(services[1].backends[0].active_connections, 4);
        let lines: Vec<usize> = parsed.problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, vec![4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
        assert!(
            parsed.problems[1]
                .reason
                .contains("unknown forwarding method \"Warp\"")
        );
    }

    #[test]
    fn truncated_input_keeps_the_complete_lines() {
        let cut = &NAT_TABLE[..NAT_TABLE.len() - 20];
        let parsed = parse_ip_vs(cut);
        assert_eq!(parsed.value.services.len(), 4);
        assert_eq!(parsed.value.services[3].backends.len(), 1);
        assert_eq!(parsed.problems.len(), 1);

        for end in 0..NAT_TABLE.len() {
            if NAT_TABLE.is_char_boundary(end) {
                let _ = parse_ip_vs(&NAT_TABLE[..end]);
                let _ = parse_ip_vs_stats(&NAT_STATS[..end.min(NAT_STATS.len())]);
            }
        }
    }

    #[test]
    fn empty_and_huge_values() {
        assert_eq!(parse_ip_vs("").value, IpVsProc::default());
        let stats = "   Total Incoming\n FFFFFFFFFFFFFFFF 0 0 0 0\n\n Conns/s\n 1 2 3 4\n";
        let parsed = parse_ip_vs_stats(stats);
        assert_eq!(parsed.value.totals.map(|t| t.connections), Some(u64::MAX));
        assert_eq!(parsed.value.rates, None);
        assert_eq!(parsed.problems.len(), 2);
        let overflow = " 1FFFFFFFFFFFFFFFF 0 0 0 0\n";
        assert_eq!(parse_ip_vs_stats(overflow).value.totals, None);
    }
}
