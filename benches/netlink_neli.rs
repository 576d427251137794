//! The project's netlink decoder against the `neli` crate's, on the same bytes: the replies of
//! the real-server dumps (`IPVS_CMD_GET_DEST`) of a synthetic table of 2,000 services of 10
//! real servers each (20,000 real servers), as the synthetic kernel builds them.
//!
//! Both sides turn the bytes into the project's `Backend` model; the fixture is decoded once
//! by each before timing and the two lists are checked equal. Allocations are counted by a
//! counting global allocator around one decode of the whole fixture and printed first.
//! `cargo bench --bench netlink_neli`; docs/decisions/neli.md has the numbers.

// Test code: a failed unwrap or index is a failed test (the [lints] table guards src/).
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::panic, clippy::indexing_slicing)]
#![allow(clippy::cast_possible_truncation)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::io::Cursor;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{Criterion, criterion_group, criterion_main};
use ipvs_exporter::model::{
    AddressFamily, Backend, ForwardMethod, TrafficCounters, TrafficRates, Tunnel, TunnelKind,
};
use ipvs_exporter::netlink::decode::{Control, attributes, messages};
use ipvs_exporter::netlink::uapi::*;
use ipvs_exporter::parse::ipvs_netlink::decode_dest;
use ipvs_exporter_testkit::recorded_synthetic_table;
use neli::FromBytes;
use neli::attr::Attribute as _;
use neli::genl::{Genlmsghdr, Nlattr};
use neli::nl::{NlPayload, Nlmsghdr};
use neli::types::Buffer;

/// Counts every allocation the process makes (and the bytes asked for).
struct CountingAllocator;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static ALLOCATED_BYTES: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        ALLOCATED_BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        ALLOCATED_BYTES.fetch_add(new_size as u64, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

const SERVICES: usize = 2_000;
const BACKENDS_PER_SERVICE: usize = 10;

/// The reply buffers of every real-server dump a full table read makes, as received.
fn destination_replies() -> Vec<Vec<u8>> {
    let exchanges =
        recorded_synthetic_table(SERVICES, BACKENDS_PER_SERVICE).expect("synthetic table reads");
    let mut replies = Vec::new();
    for (request, buffers) in exchanges {
        let message = messages(&request).next().unwrap().unwrap();
        let (command, _) = message.generic().unwrap();
        if command == IPVS_CMD_GET_DEST {
            replies.extend(buffers);
        }
    }
    replies
}

/// The project's decoder: framing, generic netlink header, attributes, model.
fn decode_with_project(replies: &[Vec<u8>]) -> Vec<Backend> {
    let mut backends = Vec::with_capacity(SERVICES * BACKENDS_PER_SERVICE);
    for buffer in replies {
        for message in messages(buffer) {
            let message = message.expect("framing");
            match message.control().expect("control") {
                Control::Data(data) => {
                    let (_, body) = data.generic().expect("genl header");
                    for attribute in attributes(body) {
                        let attribute = attribute.expect("attribute");
                        if attribute.kind == IPVS_CMD_ATTR_DEST {
                            backends
                                .push(decode_dest(&attribute, AddressFamily::Inet).expect("dest"));
                        }
                    }
                }
                Control::Done | Control::Ack => {}
                Control::Error(errno) => panic!("kernel error {errno}"),
            }
        }
    }
    backends
}

type GenlMessage = Nlmsghdr<u16, Genlmsghdr<u8, u16>>;
type NeliAttribute = Nlattr<u16, Buffer>;

/// A fixed-width payload through neli's own integer reader, with the length checked as the
/// project checks it (neli reads the first bytes of a longer payload without complaint).
fn fixed<R: FromBytes>(attribute: &NeliAttribute, width: usize) -> Result<R, String> {
    let got = attribute.nla_payload().len();
    if got != width {
        return Err(format!(
            "attribute {} has {got} bytes",
            attribute_kind(attribute)
        ));
    }
    attribute.get_payload_as::<R>().map_err(|e| e.to_string())
}

fn attribute_kind(attribute: &NeliAttribute) -> u16 {
    *attribute.nla_type().nla_type()
}

fn big_endian_u16(attribute: &NeliAttribute) -> Result<u16, String> {
    fixed::<u16>(attribute, 2).map(u16::from_be)
}

fn neli_stats(block: &NeliAttribute) -> Result<(TrafficCounters, TrafficRates), String> {
    let mut counters = TrafficCounters::default();
    let mut rates = TrafficRates::default();
    let handle = block.get_attr_handle::<u16>().map_err(|e| e.to_string())?;
    for a in handle.iter() {
        let value = match a.nla_payload().len() {
            4 => u64::from(fixed::<u32>(a, 4)?),
            _ => fixed::<u64>(a, 8)?,
        };
        match attribute_kind(a) {
            IPVS_STATS_ATTR_CONNS => counters.connections = value,
            IPVS_STATS_ATTR_INPKTS => counters.incoming_packets = value,
            IPVS_STATS_ATTR_OUTPKTS => counters.outgoing_packets = value,
            IPVS_STATS_ATTR_INBYTES => counters.incoming_bytes = value,
            IPVS_STATS_ATTR_OUTBYTES => counters.outgoing_bytes = value,
            IPVS_STATS_ATTR_CPS => rates.connections_per_second = value,
            IPVS_STATS_ATTR_INPPS => rates.incoming_packets_per_second = value,
            IPVS_STATS_ATTR_OUTPPS => rates.outgoing_packets_per_second = value,
            IPVS_STATS_ATTR_INBPS => rates.incoming_bytes_per_second = value,
            IPVS_STATS_ATTR_OUTBPS => rates.outgoing_bytes_per_second = value,
            _ => {}
        }
    }
    Ok((counters, rates))
}

fn neli_forward(bits: u32) -> Result<ForwardMethod, String> {
    match bits & IP_VS_CONN_F_FWD_MASK {
        IP_VS_CONN_F_MASQ => Ok(ForwardMethod::Masq),
        IP_VS_CONN_F_LOCALNODE => Ok(ForwardMethod::Local),
        IP_VS_CONN_F_TUNNEL => Ok(ForwardMethod::Tunnel),
        IP_VS_CONN_F_DROUTE => Ok(ForwardMethod::Route),
        IP_VS_CONN_F_BYPASS => Ok(ForwardMethod::Bypass),
        other => Err(format!("unknown forwarding method {other}")),
    }
}

/// One `IPVS_CMD_ATTR_DEST` block to the project's model, walking it with neli.
fn neli_dest(block: &NeliAttribute) -> Result<Backend, String> {
    let handle = block.get_attr_handle::<u16>().map_err(|e| e.to_string())?;
    let mut address = None;
    let mut family = AF_INET;
    let mut port = None;
    let mut forward = None;
    let (mut weight, mut active, mut inactive) = (0i64, 0i64, 0i64);
    let (mut persistent, mut upper, mut lower) = (None, None, None);
    let (mut stats32, mut stats64) = (None, None);
    let (mut tunnel_kind, mut tunnel_port, mut tunnel_flags) = (None, 0u16, 0u16);
    let signed = |v: u32| i64::from(v as i32);
    for a in handle.iter() {
        match attribute_kind(a) {
            IPVS_DEST_ATTR_ADDR => address = Some(a.nla_payload().as_ref()),
            IPVS_DEST_ATTR_PORT => port = Some(big_endian_u16(a)?),
            IPVS_DEST_ATTR_FWD_METHOD => forward = Some(fixed::<u32>(a, 4)?),
            IPVS_DEST_ATTR_WEIGHT => weight = signed(fixed::<u32>(a, 4)?),
            IPVS_DEST_ATTR_U_THRESH => upper = Some(fixed::<u32>(a, 4)?),
            IPVS_DEST_ATTR_L_THRESH => lower = Some(fixed::<u32>(a, 4)?),
            IPVS_DEST_ATTR_ACTIVE_CONNS => active = signed(fixed::<u32>(a, 4)?),
            IPVS_DEST_ATTR_INACT_CONNS => inactive = signed(fixed::<u32>(a, 4)?),
            IPVS_DEST_ATTR_PERSIST_CONNS => persistent = Some(signed(fixed::<u32>(a, 4)?)),
            IPVS_DEST_ATTR_STATS => stats32 = Some(neli_stats(a)?),
            IPVS_DEST_ATTR_ADDR_FAMILY => family = fixed::<u16>(a, 2)?,
            IPVS_DEST_ATTR_STATS64 => stats64 = Some(neli_stats(a)?),
            IPVS_DEST_ATTR_TUN_TYPE => tunnel_kind = Some(fixed::<u8>(a, 1)?),
            IPVS_DEST_ATTR_TUN_PORT => tunnel_port = big_endian_u16(a)?,
            IPVS_DEST_ATTR_TUN_FLAGS => tunnel_flags = fixed::<u16>(a, 2)?,
            _ => {}
        }
    }
    let raw = address.ok_or("no address")?;
    let address = match family {
        AF_INET => {
            let b: [u8; 4] = raw
                .get(..4)
                .and_then(|b| b.try_into().ok())
                .ok_or("short")?;
            IpAddr::V4(Ipv4Addr::from(b))
        }
        AF_INET6 => {
            let b: [u8; 16] = raw.try_into().map_err(|_| "short")?;
            IpAddr::V6(Ipv6Addr::from(b))
        }
        other => return Err(format!("family {other}")),
    };
    let forward = neli_forward(forward.ok_or("no forwarding method")?)?;
    let stats = stats64.or(stats32);
    Ok(Backend {
        address,
        port: port.ok_or("no port")?,
        forward,
        weight,
        active_connections: active,
        inactive_connections: inactive,
        counters: stats.map(|s| s.0),
        rates: stats.map(|s| s.1),
        persistent_connections: persistent,
        upper_threshold: upper,
        lower_threshold: lower,
        tunnel: match (forward, tunnel_kind) {
            (ForwardMethod::Tunnel, Some(kind)) => Some(Tunnel {
                kind: TunnelKind::from_number(kind),
                port: tunnel_port,
                flags: tunnel_flags,
            }),
            _ => None,
        },
    })
}

/// neli's decoder: `Nlmsghdr` and `Genlmsghdr` deserialisation, attribute handles, model.
fn decode_with_neli(replies: &[Vec<u8>]) -> Vec<Backend> {
    let mut backends = Vec::with_capacity(SERVICES * BACKENDS_PER_SERVICE);
    for buffer in replies {
        let mut cursor = Cursor::new(buffer.as_slice());
        while (cursor.position() as usize) < buffer.len() {
            let message = GenlMessage::from_bytes(&mut cursor).expect("framing");
            match message.nl_payload() {
                NlPayload::Payload(genl) => {
                    for attribute in genl.attrs().iter() {
                        if attribute_kind(attribute) == IPVS_CMD_ATTR_DEST {
                            backends.push(neli_dest(attribute).expect("dest"));
                        }
                    }
                }
                NlPayload::Err(err) => panic!("kernel error {}", err.error()),
                NlPayload::Ack(_) | NlPayload::DumpExtAck(_) | NlPayload::Empty => {}
            }
        }
    }
    backends
}

/// Allocations and bytes asked for during `run`.
fn allocations_of<T>(run: impl FnOnce() -> T) -> (u64, u64, T) {
    let (count, bytes) = (
        ALLOCATIONS.load(Ordering::SeqCst),
        ALLOCATED_BYTES.load(Ordering::SeqCst),
    );
    let out = run();
    (
        ALLOCATIONS.load(Ordering::SeqCst) - count,
        ALLOCATED_BYTES.load(Ordering::SeqCst) - bytes,
        out,
    )
}

fn compare(c: &mut Criterion) {
    let replies = destination_replies();
    let total_bytes: usize = replies.iter().map(Vec::len).sum();

    let (project_allocs, project_bytes, ours) = allocations_of(|| decode_with_project(&replies));
    let (neli_allocs, neli_bytes, theirs) = allocations_of(|| decode_with_neli(&replies));
    assert_eq!(ours.len(), SERVICES * BACKENDS_PER_SERVICE);
    assert_eq!(ours.len(), theirs.len());
    // Both decoders read the same real servers (the first difference, if any, is shown).
    if let Some(at) = (0..ours.len()).find(|&at| ours[at] != theirs[at]) {
        panic!(
            "real server {at}: project {:?}, neli {:?}",
            ours[at], theirs[at]
        );
    }
    // An independent check of a few fields against how the synthetic kernel numbers them:
    // real server d of service s has weight d % 5 + 1 and s * 10 + d connections.
    for (index, backend) in ours.iter().enumerate() {
        let d = index % BACKENDS_PER_SERVICE;
        assert_eq!(backend.weight, (d % 5 + 1) as i64);
        assert_eq!(backend.counters.unwrap().connections, index as u64);
        assert_eq!(backend.port, 8080);
    }
    println!(
        "fixture: {} reply buffers, {total_bytes} bytes, {} real servers",
        replies.len(),
        ours.len()
    );
    println!("allocations, one decode: project {project_allocs} ({project_bytes} bytes)");
    println!("allocations, one decode: neli    {neli_allocs} ({neli_bytes} bytes)");

    let mut group = c.benchmark_group("dest_dump_20k");
    group.sample_size(20);
    group.bench_function("project", |b| {
        b.iter(|| black_box(decode_with_project(black_box(&replies))))
    });
    group.bench_function("neli", |b| {
        b.iter(|| black_box(decode_with_neli(black_box(&replies))))
    });
    group.finish();
}

criterion_group!(benches, compare);
criterion_main!(benches);
