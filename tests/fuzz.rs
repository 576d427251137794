//! Every decoder and parser under random input, on stable Rust (`arbtest`): each family is fed
//! the real captures under tests/fixtures, mutated (bytes flipped, set to edge values, cut,
//! duplicated, spliced), and plain arbitrary bytes. A parser may reject its input; it must not
//! panic, hang or grow without bound.
//!
//! Plain `cargo test` gives each family a short budget. For a long run:
//! `IPVS_FUZZ_SECONDS=600 cargo test --release --test fuzz -- --nocapture --test-threads 1`
//! (the number of inputs tried per family is printed). A failure prints arbtest's seed; replay
//! it with `IPVS_FUZZ_SEED=0x... cargo test --test fuzz FAMILY`.

// Test code: a failed unwrap or index is a failed test (the [lints] table guards src/).
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::panic, clippy::indexing_slicing)]
#![allow(clippy::cast_possible_truncation)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arbitrary::{Result, Unstructured};

use ipvs_exporter::parse;
use ipvs_exporter_testkit::{Replay, read_capture_file};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn fixture(path: &str) -> Vec<u8> {
    let path = fixtures().join(path);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The budget of one family: `IPVS_FUZZ_SECONDS`, or a short one inside `cargo test`.
fn budget() -> Duration {
    let seconds = std::env::var("IPVS_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(1.0);
    Duration::from_secs_f64(seconds)
}

/// Values that often sit on a decoder's edges.
const EDGES: &[u8] = &[0, 1, 2, 3, 4, 7, 8, 0x0f, 0x10, 0x7f, 0x80, 0xfe, 0xff];

/// One of `seeds`, mutated a few times; or, one time in eight, arbitrary bytes.
fn mutated(u: &mut Unstructured, seeds: &[Vec<u8>]) -> Result<Vec<u8>> {
    if seeds.is_empty() || u.ratio(1, 8)? {
        return u.arbitrary();
    }
    let mut data = u.choose(seeds)?.clone();
    let rounds = u.int_in_range(1..=8)?;
    for _ in 0..rounds {
        let len = data.len();
        match u.int_in_range(0..=6)? {
            0 if len > 0 => {
                let at = u.choose_index(len)?;
                if let Some(b) = data.get_mut(at) {
                    *b ^= 1 << u.int_in_range(0..=7)?;
                }
            }
            1 if len > 0 => {
                let at = u.choose_index(len)?;
                let value = *u.choose(EDGES)?;
                if let Some(b) = data.get_mut(at) {
                    *b = value;
                }
            }
            2 if len > 0 => {
                let at = u.choose_index(len)?;
                data.truncate(at);
            }
            3 if len > 0 => {
                let start = u.choose_index(len)?;
                let end = u.int_in_range(start..=len.min(start + 64))?;
                let chunk: Vec<u8> = data.get(start..end).unwrap_or_default().to_vec();
                let at = u.int_in_range(0..=len)?;
                data.splice(at..at, chunk);
            }
            4 => {
                let at = u.int_in_range(0..=len)?;
                let more: Vec<u8> = u.arbitrary()?;
                data.splice(at..at, more.into_iter().take(32));
            }
            5 if len > 0 => {
                let start = u.choose_index(len)?;
                let end = u.int_in_range(start..=len.min(start + 64))?;
                data.drain(start..end);
            }
            _ => {
                // A splice of another seed's tail.
                let other = u.choose(seeds)?;
                if !other.is_empty() {
                    let from = u.choose_index(other.len())?;
                    let at = u.int_in_range(0..=len)?;
                    data.truncate(at);
                    data.extend_from_slice(other.get(from..).unwrap_or_default());
                }
            }
        }
    }
    Ok(data)
}

/// Runs `check` on mutated inputs for the family's budget and reports how many were tried.
fn fuzz(family: &str, check: impl Fn(&mut Unstructured) -> Result<()>) {
    let tried = AtomicU64::new(0);
    let budget = budget();
    let mut test = arbtest::arbtest(|u| {
        tried.fetch_add(1, Ordering::Relaxed);
        check(u)
    })
    .budget(budget);
    if let Some(seed) = std::env::var("IPVS_FUZZ_SEED")
        .ok()
        .and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok())
    {
        test = test.seed(seed);
    }
    test.run();
    eprintln!(
        "fuzz {family}: {} inputs in {:?}",
        tried.load(Ordering::Relaxed),
        budget
    );
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn fuzz_proc_ip_vs() {
    let seeds = vec![
        fixture("nat-director/proc/net/ip_vs"),
        fixture("mixed-director/proc/net/ip_vs"),
    ];
    fuzz("proc_ip_vs", |u| {
        let input = text(&mutated(u, &seeds)?);
        let _ = parse::ipvs_proc::parse_ip_vs(&input);
        Ok(())
    });
}

#[test]
fn fuzz_proc_ip_vs_stats() {
    let seeds = vec![
        fixture("nat-director/proc/net/ip_vs_stats"),
        fixture("mixed-director/proc/net/ip_vs_stats"),
    ];
    fuzz("proc_ip_vs_stats", |u| {
        let input = text(&mutated(u, &seeds)?);
        let _ = parse::ipvs_proc::parse_ip_vs_stats(&input);
        Ok(())
    });
}

#[test]
fn fuzz_softnet_stat() {
    let seeds = vec![fixture("host/proc/net/softnet_stat")];
    fuzz("softnet_stat", |u| {
        let input = text(&mutated(u, &seeds)?);
        let _ = parse::softnet::parse_softnet_stat(&input);
        Ok(())
    });
}

#[test]
fn fuzz_interrupts() {
    let seeds: Vec<Vec<u8>> = [
        "interrupts/i40e-64cpu.txt",
        "interrupts/ixgbe-4cpu.txt",
        "interrupts/mlx5-4cpu.txt",
        "interrupts/virtio-2cpu.txt",
        "host/proc/interrupts",
    ]
    .iter()
    .map(|p| fixture(p))
    .collect();
    fuzz("interrupts", |u| {
        let input = text(&mutated(u, &seeds)?);
        let _ = parse::interrupts::parse_interrupts(&input);
        let mask = text(&mutated(
            u,
            &[b"00000000,0000000f".to_vec(), b"ff".to_vec()],
        )?);
        let _ = parse::interrupts::cpu_mask_to_list(&mask);
        Ok(())
    });
}

#[test]
fn fuzz_nf_conntrack_stats() {
    let seeds = vec![
        fixture("conntrack/idle/proc/net/stat/nf_conntrack"),
        fixture("conntrack/traffic/proc/net/stat/nf_conntrack"),
    ];
    fuzz("nf_conntrack_stats", |u| {
        let input = text(&mutated(u, &seeds)?);
        let _ = parse::conntrack::parse_stat_nf_conntrack(&input);
        Ok(())
    });
}

/// Replays a capture with its replies mutated (the requests kept, so the reader gets as far
/// as the replies let it).
fn mutated_capture(
    u: &mut Unstructured,
    exchanges: &[ipvs_exporter::netlink::capture::Exchange],
) -> Result<Replay> {
    let mut copy = exchanges.to_vec();
    let replies: Vec<Vec<u8>> = copy.iter().flat_map(|(_, r)| r.clone()).collect();
    for (_, buffers) in &mut copy {
        for buffer in buffers.iter_mut() {
            if u.ratio(1, 3)? {
                *buffer = mutated(u, std::slice::from_ref(buffer))?;
            } else if u.ratio(1, 16)? {
                *buffer = mutated(u, &replies)?;
            }
        }
        if u.ratio(1, 16)? {
            buffers.truncate(u.int_in_range(0..=buffers.len())?);
        }
    }
    Ok(Replay::new(copy))
}

fn capture(path: &str) -> Vec<ipvs_exporter::netlink::capture::Exchange> {
    read_capture_file(&fixtures().join(path)).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn fuzz_ipvs_netlink_replies() {
    let nat = capture("netlink/nat/exchanges.txt");
    let kinds = capture("netlink/kinds/exchanges.txt");
    fuzz("ipvs_netlink", |u| {
        let seed = if u.arbitrary()? { &nat } else { &kinds };
        let mut replay = mutated_capture(u, seed)?;
        let _ = ipvs_exporter::source::ipvs_netlink::read_table(&mut replay);
        Ok(())
    });
}

#[test]
fn fuzz_ctnetlink_replies() {
    let idle = capture("conntrack/idle/exchanges.txt");
    let traffic = capture("conntrack/traffic/exchanges.txt");
    fuzz("ctnetlink", |u| {
        let seed = if u.arbitrary()? { &idle } else { &traffic };
        let mut replay = mutated_capture(u, seed)?;
        let _ = ipvs_exporter::source::conntrack::read_statistics(&mut replay);
        Ok(())
    });
}

#[test]
fn fuzz_rtnetlink_replies() {
    let exchanges = capture("netlink/rtnetlink/exchanges.txt");
    let replies: Vec<Vec<u8>> = exchanges.iter().flat_map(|(_, r)| r.clone()).collect();
    fuzz("rtnetlink", |u| {
        let mut replay = mutated_capture(u, &exchanges)?;
        let _ = ipvs_exporter::source::interfaces::read_interfaces(&mut replay);
        let buffers = vec![mutated(u, &replies)?, mutated(u, &replies)?];
        let _ = parse::rtnetlink::decode_links(&buffers);
        let _ = parse::rtnetlink::decode_addresses(&buffers);
        Ok(())
    });
}

#[test]
fn fuzz_ethtool_replies() {
    use parse::ethtool;
    let seeds = vec![
        ethtool::drvinfo_request(),
        ethtool::channels_request(),
        ethtool::rings_request(),
        ethtool::legacy_settings_request(),
        ethtool::sset_info_request(4),
        ethtool::link_settings_request(3),
    ];
    fuzz("ethtool", |u| {
        let reply = mutated(u, &seeds)?;
        let _ = ethtool::command_of(&reply);
        let _ = ethtool::reply_len(&reply);
        let _ = ethtool::link_settings_nwords(&reply);
        let _ = ethtool::link_settings_speed(&reply);
        let _ = ethtool::legacy_settings_speed(&reply);
        let _ = ethtool::driver_info(&reply);
        let _ = ethtool::channels(&reply);
        let _ = ethtool::rings(&reply);
        let _ = ethtool::sset_count(&reply, u.arbitrary()?);
        let names = ethtool::strings(&reply);
        let blocks = ethtool::feature_blocks(&reply);
        let _ = ethtool::features(&names, &blocks);
        let _ = ethtool::strings_request(u.arbitrary()?, u.arbitrary()?);
        let _ = ethtool::features_request(u.arbitrary()?);
        Ok(())
    });
}

#[test]
fn fuzz_keepalived_config_with_includes() {
    let conf: Vec<Vec<u8>> = [
        "keepalived-conf/broken.conf",
        "keepalived-conf/dr-director.conf",
        "keepalived-conf/nat-director.conf",
        "keepalived-conf/with-includes.conf",
        "keepalived-conf/conf.d/10-vrrp.conf",
        "keepalived-conf/conf.d/20-lvs.conf",
        "keepalived-director/etc/keepalived/keepalived.conf",
    ]
    .iter()
    .map(|p| fixture(p))
    .collect();
    let mut seeds = conf.clone();
    seeds.push(b"include *.conf\ninclude ../a.conf\ninclude b[\n".to_vec());
    fuzz("keepalived_config", |u| {
        let main = text(&mutated(u, &seeds)?);
        // A small directory of mutated files that includes resolve into, in any pattern.
        let mut files: Vec<(String, String)> = Vec::new();
        for i in 0..u.int_in_range(0..=4)? {
            files.push((format!("f{i}.conf"), text(&mutated(u, &seeds)?)));
        }
        let files_for_resolver = files.clone();
        let choices: Vec<u8> = u.arbitrary()?;
        let mut asked = 0usize;
        let config = parse::keepalived::parse_config("main.conf", &main, &mut |_, _| {
            asked += 1;
            let pick = choices
                .get(asked % choices.len().max(1))
                .copied()
                .unwrap_or(0);
            files_for_resolver
                .iter()
                .enumerate()
                .filter(|(i, _)| pick & (1 << (i % 8)) != 0)
                .map(|(_, (name, text))| (name.clone(), Ok(text.clone())))
                .chain(
                    std::iter::once(("main.conf".to_string(), Ok(main.clone())))
                        .filter(|_| pick & 0x80 != 0),
                )
                .collect()
        });
        assert!(config.files.len() <= parse::keepalived::MAX_CONFIG_FILES);
        assert!(config.errors.len() <= 102);
        Ok(())
    });
}

#[test]
fn fuzz_keepalived_json_dump() {
    let seeds = vec![
        fixture("keepalived-json/master.json"),
        fixture("keepalived-json/backup.json"),
    ];
    fuzz("keepalived_json", |u| {
        let input = text(&mutated(u, &seeds)?);
        let _ = parse::keepalived_json::parse_dump(&input);
        Ok(())
    });
}

#[test]
fn fuzz_keepalived_data_dump() {
    let seeds = vec![
        fixture("keepalived-data/master/keepalived.data"),
        fixture("keepalived-data/master/keepalived_check.data"),
        fixture("keepalived-data/master/keepalived_parent.data"),
        fixture("keepalived-data/fault/keepalived.data"),
        fixture("keepalived-data/flapped/keepalived_check.data"),
    ];
    fuzz("keepalived_data", |u| {
        let input = text(&mutated(u, &seeds)?);
        let parsed = parse::keepalived_data::parse_data_dump(&input);
        // every entry comes from a line of its own: never more than the lines
        let lines = input.lines().count();
        assert!(parsed.value.real_servers.len() <= lines);
        assert!(parsed.value.instances.len() <= lines);
        assert!(
            parsed
                .problems
                .iter()
                .all(|p| p.line >= 1 && p.line <= lines)
        );
        Ok(())
    });
}

#[test]
fn fuzz_notify_fifo_lines() {
    let seeds: Vec<Vec<u8>> = [
        "INSTANCE \"VI_1\" MASTER 100\n",
        "GROUP \"VG_1\" BACKUP\n",
        "VS [192.0.2.1]:tcp:80 UP\n",
        "RS [10.0.0.1]:tcp:80 [192.0.2.1]:tcp:80 DOWN\n",
        "INSTANCE \"a b\" FAULT 0\n",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    fuzz("notify_fifo", |u| {
        let line = text(&mutated(u, &seeds)?);
        let _ = parse::keepalived_notify::parse_notify_line(&line);
        Ok(())
    });
}

/// An IPv4 header for protocol 112 from 192.0.2.1 to 224.0.0.18, then a VRRP advert.
fn vrrp_packet(version: u8) -> Vec<u8> {
    let mut packet = vec![
        0x45, 0xc0, 0, 40, 0, 0, 0, 0, 255, 112, 0, 0, 192, 0, 2, 1, 224, 0, 0, 18,
    ];
    packet.extend_from_slice(&[version << 4 | 1, 51, 150, 1, 0, 1, 0, 0, 192, 0, 2, 100]);
    packet.extend_from_slice(&[0; 8]);
    packet
}

#[test]
fn fuzz_vrrp_adverts() {
    let seeds = vec![vrrp_packet(2), vrrp_packet(3)];
    fuzz("vrrp_advert", |u| {
        let packet = mutated(u, &seeds)?;
        let _ = parse::vrrp::parse_advert(&packet);
        Ok(())
    });
}

#[test]
fn fuzz_accept_headers() {
    let seeds: Vec<Vec<u8>> = [
        "application/openmetrics-text;version=1.0.0;q=0.9,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
        "text/plain",
        "application/openmetrics-text; version=0.0.1",
        "gzip, deflate, br;q=0",
        "identity;q=1, *;q=0",
        "gzip;q=0.000",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    fuzz("accept_headers", |u| {
        let header = text(&mutated(u, &seeds)?);
        let _ = ipvs_exporter::web::routes::negotiate_format(&header);
        let _ = ipvs_exporter::web::routes::accepts_gzip(&header);
        Ok(())
    });
}
