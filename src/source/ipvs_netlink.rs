//! Reads the IPVS table over generic netlink, as ipvsadm does: resolve the `IPVS` family, then
//! GET_INFO, a dump of services, a dump of each service's destinations, GET_CONFIG and the sync
//! daemons. Runs over any [`Transport`], so tests replay captured kernel replies.

use nix::errno::Errno;

use crate::model::{IpvsSource, IpvsTable, Service, ServiceKey};
use crate::netlink::capture::{Recording, write_capture};
use crate::netlink::decode::{Attribute, DecodeError, attributes, data_messages};
use crate::netlink::encode::{MessageWriter, request_flags};
use crate::netlink::socket::{SocketTransport, Transport, TransportError, check_replies};
use crate::netlink::uapi::*;
use crate::parse::ipvs_netlink::*;

/// The controller's version field in GETFAMILY requests.
const CTRL_VERSION: u8 = 1;

/// A table read over netlink, with the records that had to be skipped.
#[derive(Debug)]
pub struct NetlinkRead {
    pub table: IpvsTable,
    pub problems: Vec<String>,
}

/// Reads the whole IPVS table. `Ok(None)` when the kernel has no IPVS family registered (the
/// module is not loaded); asking the controller for a dump of families does not load it.
/// Up to this many real servers, duplicates are looked for in a list rather than a hash set.
const SMALL_SERVICE: usize = 32;

pub fn read_table(transport: &mut dyn Transport) -> Result<Option<NetlinkRead>, TransportError> {
    let mut client = Client {
        transport,
        sequence: 0,
    };
    let Some(family) = client.resolve_family()? else {
        return Ok(None);
    };
    let mut problems = Vec::new();
    let mut table = IpvsTable {
        source: IpvsSource::Netlink,
        ..IpvsTable::default()
    };
    client.info(family, &mut table)?;
    let services = client.services(family, &mut problems)?;
    table.services = client.with_destinations(family, services, &mut problems)?;
    client.config(family, &mut table)?;
    table.sync_daemons = client.daemons(family, &mut problems)?;
    Ok(Some(NetlinkRead { table, problems }))
}

/// What a request asks the kernel for, and so how its reply is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reply {
    /// One reply message.
    One,
    /// A dump that may be long (services, families, daemons).
    Dump,
    /// A dump expected to take a few KiB: one service's real servers.
    SmallDump,
}

struct Client<'a> {
    transport: &'a mut dyn Transport,
    sequence: u32,
}

impl Client<'_> {
    /// Sends one request; `write_attributes` adds its attributes, if any.
    fn request(
        &mut self,
        family: u16,
        command: u8,
        reply: Reply,
        write_attributes: impl FnOnce(&mut MessageWriter),
    ) -> Result<Vec<Vec<u8>>, TransportError> {
        self.sequence = self.sequence.wrapping_add(1);
        let version = if family == GENL_ID_CTRL {
            CTRL_VERSION
        } else {
            IPVS_GENL_VERSION
        };
        let dump = reply != Reply::One;
        let mut writer =
            MessageWriter::generic(family, request_flags(dump), self.sequence, command, version);
        write_attributes(&mut writer);
        let request = writer.finish()?;
        let replies = match reply {
            Reply::SmallDump => self.transport.exchange_small_dump(&request)?,
            Reply::One | Reply::Dump => self.transport.exchange(&request)?,
        };
        check_replies(&replies)?;
        Ok(replies)
    }

    /// GET_INFO: the version and the connection table's size.
    fn info(&mut self, family: u16, table: &mut IpvsTable) -> Result<(), TransportError> {
        let info = self.request(family, IPVS_CMD_GET_INFO, Reply::One, |_| {})?;
        for message in data_messages(&info) {
            let (_, body) = message?.generic()?;
            let (version, size) = decode_info(attributes(body))?;
            table.version = version;
            table.connection_table_buckets = size;
        }
        Ok(())
    }

    /// A dump of the services, each with the identity to ask for its destinations by.
    fn services(
        &mut self,
        family: u16,
        problems: &mut Vec<String>,
    ) -> Result<Vec<(Service, ServiceIdentity)>, TransportError> {
        let replies = self.request(family, IPVS_CMD_GET_SERVICE, Reply::Dump, |_| {})?;
        let mut services = decode_records(
            &replies,
            IPVS_CMD_ATTR_SERVICE,
            decode_service,
            problems,
            |err| format!("service skipped: {err}"),
        )?;
        // The kernel resumes a dump that spans several replies by position: a service added or
        // removed meanwhile shifts the rest, and one may come twice. The first is kept.
        let mut seen = std::collections::HashSet::with_capacity(services.len());
        services.retain(|(_, identity)| seen.insert(identity.clone()));
        Ok(services)
    }

    /// Each service with its destinations; a service removed between the two dumps is gone,
    /// so it is not reported.
    fn with_destinations(
        &mut self,
        family: u16,
        services: Vec<(Service, ServiceIdentity)>,
        problems: &mut Vec<String>,
    ) -> Result<Vec<Service>, TransportError> {
        let mut kept = Vec::with_capacity(services.len());
        for (mut service, identity) in services {
            match self.destinations(family, &service, &identity) {
                Ok((backends, skipped)) => {
                    service.backends = backends;
                    problems.extend(skipped);
                    kept.push(service);
                }
                Err(TransportError::Kernel(Errno::ESRCH)) => {}
                Err(err) => return Err(err),
            }
        }
        Ok(kept)
    }

    /// GET_CONFIG: the timeouts.
    fn config(&mut self, family: u16, table: &mut IpvsTable) -> Result<(), TransportError> {
        let config = self.request(family, IPVS_CMD_GET_CONFIG, Reply::One, |_| {})?;
        for message in data_messages(&config) {
            let (_, body) = message?.generic()?;
            table.timeouts = Some(decode_config(attributes(body))?);
        }
        Ok(())
    }

    /// A dump of the sync daemons.
    fn daemons(
        &mut self,
        family: u16,
        problems: &mut Vec<String>,
    ) -> Result<Vec<crate::model::SyncDaemon>, TransportError> {
        let replies = self.request(family, IPVS_CMD_GET_DAEMON, Reply::Dump, |_| {})?;
        decode_records(
            &replies,
            IPVS_CMD_ATTR_DAEMON,
            decode_daemon,
            problems,
            |err| format!("sync daemon skipped: {err}"),
        )
    }

    fn resolve_family(&mut self) -> Result<Option<u16>, TransportError> {
        let replies = self.request(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, Reply::Dump, |_| {})?;
        for message in data_messages(&replies) {
            let (_, body) = message?.generic()?;
            let mut name = None;
            let mut id = None;
            for a in attributes(body) {
                let a: Attribute = a?;
                match a.kind {
                    CTRL_ATTR_FAMILY_NAME => name = Some(a.text()?),
                    CTRL_ATTR_FAMILY_ID => id = Some(a.u16()?),
                    _ => {}
                }
            }
            if name == Some(IPVS_GENL_NAME) {
                return Ok(id);
            }
        }
        Ok(None)
    }

    fn destinations(
        &mut self,
        family: u16,
        service: &Service,
        identity: &ServiceIdentity,
    ) -> Result<(Vec<crate::model::Backend>, Vec<String>), TransportError> {
        let replies = self.request(family, IPVS_CMD_GET_DEST, Reply::SmallDump, |writer| {
            write_service_identity(writer, identity)
        })?;
        let service_family = service
            .key
            .family()
            .unwrap_or(crate::model::AddressFamily::Inet);
        let mut problems = Vec::new();
        let mut backends = decode_records(
            &replies,
            IPVS_CMD_ATTR_DEST,
            |block| decode_dest(block, service_family),
            &mut problems,
            |err| format!("real server of {} skipped: {err}", describe(&service.key)),
        )?;
        // Resumed by position like the service dump: a real server may come twice. Most
        // services have a few real servers, which a list looks through faster than a hash set.
        if backends.len() <= SMALL_SERVICE {
            let mut seen: Vec<(std::net::IpAddr, u16)> = Vec::with_capacity(backends.len());
            backends.retain(|b| {
                let key = (b.address, b.port);
                let new = !seen.contains(&key);
                if new {
                    seen.push(key);
                }
                new
            });
        } else {
            let mut seen = std::collections::HashSet::with_capacity(backends.len());
            backends.retain(|b| seen.insert((b.address, b.port)));
        }
        // Kept in the snapshot until its scrapes end: without the room the vector grew into
        // (16 places for 10 real servers), a third of the table's memory.
        backends.shrink_to_fit();
        Ok((backends, problems))
    }
}

/// Decodes the records of a generic netlink dump: the top-level attributes of type `kind` in
/// its data messages (attributes of other types are skipped). A record that does not decode
/// is left out and said in `problems`; framing that does not decode fails the whole read.
fn decode_records<T>(
    replies: &[Vec<u8>],
    kind: u16,
    decode: impl Fn(&Attribute) -> Result<T, DecodeError>,
    problems: &mut Vec<String>,
    skipped: impl Fn(DecodeError) -> String,
) -> Result<Vec<T>, TransportError> {
    let mut records = Vec::new();
    for message in data_messages(replies) {
        let (_, body) = message?.generic()?;
        for block in attributes(body) {
            let block = block?;
            if block.kind != kind {
                continue;
            }
            match decode(&block) {
                Ok(record) => records.push(record),
                Err(err) => problems.push(skipped(err)),
            }
        }
    }
    Ok(records)
}

/// The service a GET_DEST request asks about: its family, then its firewall mark or its
/// protocol, address and port, nested in `IPVS_CMD_ATTR_SERVICE`.
fn write_service_identity(writer: &mut MessageWriter, identity: &ServiceIdentity) {
    writer
        .begin_nested(IPVS_CMD_ATTR_SERVICE)
        .attribute(IPVS_SVC_ATTR_AF, &identity.family.to_ne_bytes());
    if identity.fwmark != 0 {
        writer.attribute(IPVS_SVC_ATTR_FWMARK, &identity.fwmark.to_ne_bytes());
    } else {
        writer
            .attribute(IPVS_SVC_ATTR_PROTOCOL, &identity.protocol.to_ne_bytes())
            .attribute(IPVS_SVC_ATTR_ADDR, &identity.address)
            .attribute(IPVS_SVC_ATTR_PORT, &identity.port_be);
    }
    writer.end_nested();
}

fn describe(key: &ServiceKey) -> String {
    key.to_string()
}

/// Reads the table over a real socket and returns every exchange as annotated hex.
pub fn capture() -> Result<String, TransportError> {
    let mut recording = Recording {
        inner: SocketTransport::connect()?,
        exchanges: Vec::new(),
    };
    let read = read_table(&mut recording)?;
    let mut text = String::from(
        "# IPVS generic netlink exchanges recorded by `ipvs_exporter capture-netlink`.\n\
         # '>' is a request, '<' one buffer of the kernel's reply, in hexadecimal.\n",
    );
    if let Some(read) = &read {
        text.push_str(&format!(
            "# decoded: {} services, {} real servers\n",
            read.table.services.len(),
            read.table
                .services
                .iter()
                .map(|s| s.backends.len())
                .sum::<usize>()
        ));
    }
    text.push_str(&write_capture(&recording.exchanges, |_, request| {
        annotate(request)
    }));
    Ok(text)
}

/// Names the command of a request: `IPVS_CMD_GET_DEST (dump)`.
fn annotate(request: &[u8]) -> String {
    let Some(Ok(message)) = crate::netlink::decode::messages(request).next() else {
        return "undecodable request".to_string();
    };
    let dump = message.is_dump();
    let command = message.payload.first().copied().unwrap_or(0);
    let name = match (message.kind, command) {
        (GENL_ID_CTRL, CTRL_CMD_GETFAMILY) => "CTRL_CMD_GETFAMILY".to_string(),
        (_, IPVS_CMD_GET_INFO) => "IPVS_CMD_GET_INFO".to_string(),
        (_, IPVS_CMD_GET_SERVICE) => "IPVS_CMD_GET_SERVICE".to_string(),
        (_, IPVS_CMD_GET_DEST) => "IPVS_CMD_GET_DEST".to_string(),
        (_, IPVS_CMD_GET_CONFIG) => "IPVS_CMD_GET_CONFIG".to_string(),
        (_, IPVS_CMD_GET_DAEMON) => "IPVS_CMD_GET_DAEMON".to_string(),
        (kind, command) => format!("type {kind} command {command}"),
    };
    if dump { format!("{name} (dump)") } else { name }
}
