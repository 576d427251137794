//! A synthetic IPVS generic netlink peer: answers the requests [`read_table`] makes with
//! replies built the way the kernel builds them, for a table of any size. Benchmarks use it
//! for tables larger than a test VM holds comfortably; tests use it for situations that are
//! hard to catch live (a service removed between two dumps, attributes from newer kernels).
//!
//! [`read_table`]: ipvs_exporter::source::ipvs_netlink::read_table

// A test double: its synthetic addresses and counts wrap on purpose, and it indexes only
// buffers it has just built.
#![allow(clippy::cast_possible_truncation, clippy::indexing_slicing)]

use std::collections::HashMap;

use ipvs_exporter::netlink::decode::{attributes, messages};
use ipvs_exporter::netlink::encode::{MessageWriter, push_attribute};
use ipvs_exporter::netlink::socket::{Transport, TransportError};
use ipvs_exporter::netlink::uapi::*;

/// The family id the fake kernel gives IPVS.
const FAMILY_ID: u16 = 0x23;
/// Roughly how much a real kernel packs into one dump buffer.
const DUMP_BUFFER: usize = 16 * 1024;
/// An attribute type no kernel sends today, added to every record to check it is skipped.
const FUTURE_ATTRIBUTE: u16 = 0x7f;

/// Appends one attribute (header, payload, padding). The fake kernel's payloads are a few
/// bytes each, far below the 64 KiB an attribute can hold, so writing cannot fail here.
pub fn put(out: &mut Vec<u8>, kind: u16, payload: &[u8]) {
    let written = push_attribute(out, kind, payload);
    debug_assert!(
        written.is_ok(),
        "attribute {kind} too long for the fake kernel"
    );
}

/// Appends one netlink message carrying a generic netlink payload.
pub fn put_message(
    out: &mut Vec<u8>,
    kind: u16,
    flags: u16,
    sequence: u32,
    command: u8,
    body: &[u8],
) {
    append(
        out,
        MessageWriter::generic(kind, flags, sequence, command, IPVS_GENL_VERSION).attributes(body),
    );
}

/// Appends a `NLMSG_DONE` or `NLMSG_ERROR` message carrying `code`.
fn put_control(out: &mut Vec<u8>, kind: u16, sequence: u32, code: i32) {
    append(
        out,
        MessageWriter::new(kind, NLM_F_MULTI, sequence).header(&code.to_ne_bytes()),
    );
}

fn append(out: &mut Vec<u8>, message: &mut MessageWriter) {
    let finished = message.finish();
    debug_assert!(finished.is_ok(), "fake kernel message too long");
    if let Ok(bytes) = finished {
        out.extend_from_slice(&bytes);
    }
}

fn stats64(base: u64) -> Vec<u8> {
    let mut block = Vec::new();
    for (kind, value) in [
        (IPVS_STATS_ATTR_CONNS, base),
        (IPVS_STATS_ATTR_INPKTS, base * 7),
        (IPVS_STATS_ATTR_OUTPKTS, base * 6),
        (IPVS_STATS_ATTR_INBYTES, base * 900),
        (IPVS_STATS_ATTR_OUTBYTES, base * 4000),
        (IPVS_STATS_ATTR_CPS, base % 10),
        (IPVS_STATS_ATTR_INPPS, base % 70),
        (IPVS_STATS_ATTR_OUTPPS, base % 60),
        (IPVS_STATS_ATTR_INBPS, base % 9000),
        (IPVS_STATS_ATTR_OUTBPS, base % 40000),
    ] {
        put(&mut block, kind, &value.to_ne_bytes());
    }
    block
}

struct FakeService {
    /// The service block's inner attributes.
    block: Vec<u8>,
    dests: Vec<Vec<u8>>,
}

/// A fake kernel holding a synthetic IPVS table.
pub struct FakeIpvsKernel {
    services: Vec<FakeService>,
    by_identity: HashMap<Vec<u8>, usize>,
    /// Services the next GET_DEST must answer with ESRCH, as if removed meanwhile.
    pub vanished: Vec<usize>,
    /// Services the service dump sends a second time, and whose real-server dump sends its
    /// first real server a second time, as the kernel does when the table changes between the
    /// replies of a dump.
    pub repeated: Vec<usize>,
}

/// The identity of a service in a GET_DEST request: address and port, or the mark.
fn identity_key(service_block: &[u8]) -> Vec<u8> {
    let mut key = Vec::new();
    for attribute in attributes(service_block).flatten() {
        if matches!(
            attribute.kind,
            IPVS_SVC_ATTR_AF
                | IPVS_SVC_ATTR_PROTOCOL
                | IPVS_SVC_ATTR_ADDR
                | IPVS_SVC_ATTR_PORT
                | IPVS_SVC_ATTR_FWMARK
        ) {
            key.extend_from_slice(&attribute.kind.to_ne_bytes());
            key.extend_from_slice(attribute.payload);
        }
    }
    key
}

/// Service `s` of a synthetic table: its identifying attributes, and its whole block.
fn synthetic_service(s: usize) -> (Vec<u8>, Vec<u8>) {
    let address = [10, 0, (s >> 8) as u8, s as u8];
    let mut identity = Vec::new();
    put(&mut identity, IPVS_SVC_ATTR_AF, &AF_INET.to_ne_bytes());
    put(&mut identity, IPVS_SVC_ATTR_PROTOCOL, &6u16.to_ne_bytes());
    let mut raw_address = [0u8; 16];
    raw_address[..4].copy_from_slice(&address);
    put(&mut identity, IPVS_SVC_ATTR_ADDR, &raw_address);
    put(&mut identity, IPVS_SVC_ATTR_PORT, &80u16.to_be_bytes());
    let mut block = identity.clone();
    put(&mut block, IPVS_SVC_ATTR_SCHED_NAME, b"wlc\0");
    put(&mut block, IPVS_SVC_ATTR_FLAGS, &[0u8; 8]);
    put(&mut block, IPVS_SVC_ATTR_TIMEOUT, &0u32.to_ne_bytes());
    put(&mut block, IPVS_SVC_ATTR_NETMASK, &u32::MAX.to_be_bytes());
    put(&mut block, IPVS_SVC_ATTR_STATS, &[]);
    put(&mut block, IPVS_SVC_ATTR_STATS64, &stats64(1000 + s as u64));
    put(&mut block, FUTURE_ATTRIBUTE, &[1, 2, 3]);
    (identity, block)
}

/// Real server `d` of service `s` in a synthetic table of `dests` real servers per service.
fn synthetic_dest(s: usize, d: usize, dests: usize) -> Vec<u8> {
    let mut dest = Vec::new();
    let mut raw = [0u8; 16];
    raw[..4].copy_from_slice(&[10, 128 + (d as u8 % 100), (s >> 8) as u8, s as u8]);
    put(&mut dest, IPVS_DEST_ATTR_ADDR, &raw);
    put(&mut dest, IPVS_DEST_ATTR_PORT, &8080u16.to_be_bytes());
    put(
        &mut dest,
        IPVS_DEST_ATTR_FWD_METHOD,
        &IP_VS_CONN_F_MASQ.to_ne_bytes(),
    );
    put(
        &mut dest,
        IPVS_DEST_ATTR_WEIGHT,
        &((d as u32 % 5) + 1).to_ne_bytes(),
    );
    put(&mut dest, IPVS_DEST_ATTR_U_THRESH, &0u32.to_ne_bytes());
    put(&mut dest, IPVS_DEST_ATTR_L_THRESH, &0u32.to_ne_bytes());
    put(
        &mut dest,
        IPVS_DEST_ATTR_ACTIVE_CONNS,
        &(d as u32 * 3).to_ne_bytes(),
    );
    put(
        &mut dest,
        IPVS_DEST_ATTR_INACT_CONNS,
        &(d as u32 * 11).to_ne_bytes(),
    );
    put(&mut dest, IPVS_DEST_ATTR_PERSIST_CONNS, &0u32.to_ne_bytes());
    put(&mut dest, IPVS_DEST_ATTR_STATS, &[]);
    put(
        &mut dest,
        IPVS_DEST_ATTR_ADDR_FAMILY,
        &AF_INET.to_ne_bytes(),
    );
    put(
        &mut dest,
        IPVS_DEST_ATTR_STATS64,
        &stats64((s * dests + d) as u64),
    );
    put(&mut dest, FUTURE_ATTRIBUTE, &[9]);
    dest
}

impl FakeIpvsKernel {
    /// `services` IPv4 TCP NAT services of `dests` real servers each, every number distinct.
    pub fn synthetic(services: usize, dests: usize) -> Self {
        let mut kernel = FakeIpvsKernel {
            services: Vec::with_capacity(services),
            by_identity: HashMap::with_capacity(services),
            vanished: Vec::new(),
            repeated: Vec::new(),
        };
        for s in 0..services {
            let (identity, block) = synthetic_service(s);
            let dest_blocks = (0..dests).map(|d| synthetic_dest(s, d, dests)).collect();
            kernel.by_identity.insert(identity_key(&identity), s);
            kernel.services.push(FakeService {
                block,
                dests: dest_blocks,
            });
        }
        kernel
    }

    /// The service a real-server dump asks for, unless it vanished, and its index.
    fn service_asked_for(&self, body: &[u8]) -> Option<(usize, &FakeService)> {
        let service_block = attributes(body)
            .flatten()
            .find(|a| a.kind == IPVS_CMD_ATTR_SERVICE)
            .map(|a| a.payload)
            .unwrap_or(&[]);
        self.by_identity
            .get(&identity_key(service_block))
            .filter(|index| !self.vanished.contains(index))
            .and_then(|index| self.services.get(*index).map(|s| (*index, s)))
    }

    /// Dump replies: one message per block, packed into buffers, then NLMSG_DONE.
    fn dump<'a>(
        sequence: u32,
        command: u8,
        outer: u16,
        blocks: impl Iterator<Item = &'a Vec<u8>>,
    ) -> Vec<Vec<u8>> {
        let mut buffers = Vec::new();
        let mut buffer = Vec::with_capacity(DUMP_BUFFER);
        let mut body = Vec::new();
        for block in blocks {
            body.clear();
            put(&mut body, outer, block);
            put_message(
                &mut buffer,
                FAMILY_ID,
                NLM_F_MULTI,
                sequence,
                command,
                &body,
            );
            if buffer.len() >= DUMP_BUFFER {
                buffers.push(std::mem::take(&mut buffer));
            }
        }
        put_control(&mut buffer, NLMSG_DONE, sequence, 0);
        buffers.push(buffer);
        buffers
    }
}

impl Transport for FakeIpvsKernel {
    fn exchange(&mut self, request: &[u8]) -> Result<Vec<Vec<u8>>, TransportError> {
        let message = messages(request)
            .next()
            .ok_or(TransportError::Build("empty request".into()))??;
        let (command, body) = message.generic()?;
        let sequence = message.sequence;
        let mut reply = Vec::new();
        match (message.kind, command) {
            (GENL_ID_CTRL, CTRL_CMD_GETFAMILY) => family_reply(&mut reply, sequence),
            (FAMILY_ID, IPVS_CMD_GET_INFO) => info_reply(&mut reply, sequence),
            (FAMILY_ID, IPVS_CMD_GET_SERVICE) => {
                return Ok(Self::dump(
                    sequence,
                    IPVS_CMD_GET_SERVICE,
                    IPVS_CMD_ATTR_SERVICE,
                    self.services.iter().map(|s| &s.block).chain(
                        self.repeated
                            .iter()
                            .filter_map(|r| self.services.get(*r).map(|s| &s.block)),
                    ),
                ));
            }
            (FAMILY_ID, IPVS_CMD_GET_DEST) => match self.service_asked_for(body) {
                Some((index, service)) => {
                    let again = self
                        .repeated
                        .contains(&index)
                        .then(|| service.dests.first())
                        .flatten();
                    return Ok(Self::dump(
                        sequence,
                        IPVS_CMD_GET_DEST,
                        IPVS_CMD_ATTR_DEST,
                        service.dests.iter().chain(again),
                    ));
                }
                None => put_control(&mut reply, NLMSG_ERROR, sequence, -3),
            },
            (FAMILY_ID, IPVS_CMD_GET_CONFIG) => config_reply(&mut reply, sequence),
            (FAMILY_ID, IPVS_CMD_GET_DAEMON) => put_control(&mut reply, NLMSG_DONE, sequence, 0),
            _ => put_control(&mut reply, NLMSG_ERROR, sequence, -22),
        }
        Ok(vec![reply])
    }
}

/// The generic netlink controller's answer: IPVS's family id.
fn family_reply(reply: &mut Vec<u8>, sequence: u32) {
    let mut attrs = Vec::new();
    put(&mut attrs, CTRL_ATTR_FAMILY_NAME, b"IPVS\0");
    put(&mut attrs, CTRL_ATTR_FAMILY_ID, &FAMILY_ID.to_ne_bytes());
    put_message(reply, GENL_ID_CTRL, NLM_F_MULTI, sequence, 1, &attrs);
    put_control(reply, NLMSG_DONE, sequence, 0);
}

/// IPVS_CMD_GET_INFO's answer: the version and the connection table size.
fn info_reply(reply: &mut Vec<u8>, sequence: u32) {
    let mut attrs = Vec::new();
    put(
        &mut attrs,
        IPVS_INFO_ATTR_VERSION,
        &0x010201u32.to_ne_bytes(),
    );
    put(
        &mut attrs,
        IPVS_INFO_ATTR_CONN_TAB_SIZE,
        &4096u32.to_ne_bytes(),
    );
    put_message(reply, FAMILY_ID, 0, sequence, IPVS_CMD_SET_INFO, &attrs);
}

/// IPVS_CMD_GET_CONFIG's answer: the TCP, TCP FIN and UDP timeouts.
fn config_reply(reply: &mut Vec<u8>, sequence: u32) {
    let mut attrs = Vec::new();
    put(&mut attrs, IPVS_CMD_ATTR_TIMEOUT_TCP, &900u32.to_ne_bytes());
    put(
        &mut attrs,
        IPVS_CMD_ATTR_TIMEOUT_TCP_FIN,
        &120u32.to_ne_bytes(),
    );
    put(&mut attrs, IPVS_CMD_ATTR_TIMEOUT_UDP, &300u32.to_ne_bytes());
    put_message(reply, FAMILY_ID, 0, sequence, IPVS_CMD_SET_CONFIG, &attrs);
}
