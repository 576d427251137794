//! Reads the IPVS table over generic netlink, as ipvsadm does: resolve the `IPVS` family, then
//! GET_INFO, a dump of services, a dump of each service's destinations, GET_CONFIG and the sync
//! daemons. Runs over any [`Transport`], so tests replay captured kernel replies.

use crate::model::{IpvsSource, IpvsTable, Service, ServiceKey};
use crate::parse::ipvs_netlink::*;
use crate::parse::netlink::{
    Attribute, CTRL_ATTR_FAMILY_ID, CTRL_ATTR_FAMILY_NAME, CTRL_CMD_GETFAMILY, GENL_ID_CTRL,
    attributes,
};
use crate::source::netlink::{
    Transport, TransportError, attribute, check_replies, data_messages, genl_request, libc_errno,
    nested,
};

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

    let info = client.request(family, IPVS_CMD_GET_INFO, false, Vec::new())?;
    for message in data_messages(&info) {
        let (_, body) = message?.generic()?;
        let (version, size) = decode_info(attributes(body))?;
        table.version = version;
        table.connection_table_buckets = size;
    }

    let services = client.request(family, IPVS_CMD_GET_SERVICE, true, Vec::new())?;
    let mut identities = Vec::new();
    for message in data_messages(&services) {
        let (_, body) = message?.generic()?;
        for block in attributes(body) {
            let block = block?;
            if block.kind != IPVS_CMD_ATTR_SERVICE {
                continue;
            }
            match decode_service(&block) {
                Ok((service, identity)) => {
                    table.services.push(service);
                    identities.push(identity);
                }
                Err(err) => problems.push(format!("service skipped: {err}")),
            }
        }
    }

    let mut kept = Vec::with_capacity(table.services.len());
    for (mut service, identity) in table.services.drain(..).zip(identities) {
        match client.destinations(family, &service, &identity) {
            Ok((backends, skipped)) => {
                service.backends = backends;
                problems.extend(skipped);
                kept.push(service);
            }
            // Removed between the two dumps: it is gone, so it is not reported.
            Err(TransportError::Kernel(libc_errno::ESRCH)) => {}
            Err(err) => return Err(err),
        }
    }
    table.services = kept;

    let config = client.request(family, IPVS_CMD_GET_CONFIG, false, Vec::new())?;
    for message in data_messages(&config) {
        let (_, body) = message?.generic()?;
        table.timeouts = Some(decode_config(attributes(body))?);
    }

    let daemons = client.request(family, IPVS_CMD_GET_DAEMON, true, Vec::new())?;
    for message in data_messages(&daemons) {
        let (_, body) = message?.generic()?;
        for block in attributes(body) {
            let block = block?;
            if block.kind == IPVS_CMD_ATTR_DAEMON {
                match decode_daemon(&block) {
                    Ok(daemon) => table.sync_daemons.push(daemon),
                    Err(err) => problems.push(format!("sync daemon skipped: {err}")),
                }
            }
        }
    }
    Ok(Some(NetlinkRead { table, problems }))
}

struct Client<'a> {
    transport: &'a mut dyn Transport,
    sequence: u32,
}

impl Client<'_> {
    fn request(
        &mut self,
        family: u16,
        command: u8,
        dump: bool,
        attrs: Vec<neli::genl::Nlattr<u16, neli::types::Buffer>>,
    ) -> Result<Vec<Vec<u8>>, TransportError> {
        self.sequence = self.sequence.wrapping_add(1);
        let version = if family == GENL_ID_CTRL {
            CTRL_VERSION
        } else {
            IPVS_GENL_VERSION
        };
        let request = genl_request(family, command, version, dump, self.sequence, attrs)?;
        let replies = self.transport.exchange(&request)?;
        check_replies(&replies)?;
        Ok(replies)
    }

    fn resolve_family(&mut self) -> Result<Option<u16>, TransportError> {
        let replies = self.request(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, true, Vec::new())?;
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
        let mut fields = vec![attribute(
            IPVS_SVC_ATTR_AF,
            identity.family.to_ne_bytes().to_vec(),
        )?];
        if identity.fwmark != 0 {
            fields.push(attribute(
                IPVS_SVC_ATTR_FWMARK,
                identity.fwmark.to_ne_bytes().to_vec(),
            )?);
        } else {
            fields.push(attribute(
                IPVS_SVC_ATTR_PROTOCOL,
                identity.protocol.to_ne_bytes().to_vec(),
            )?);
            fields.push(attribute(IPVS_SVC_ATTR_ADDR, identity.address.to_vec())?);
            fields.push(attribute(IPVS_SVC_ATTR_PORT, identity.port_be.to_vec())?);
        }
        let request = vec![nested(IPVS_CMD_ATTR_SERVICE, &fields)?];
        let replies = self.request(family, IPVS_CMD_GET_DEST, true, request)?;
        let service_family = service
            .key
            .family()
            .unwrap_or(crate::model::AddressFamily::Inet);
        let mut backends = Vec::new();
        let mut problems = Vec::new();
        for message in data_messages(&replies) {
            let (_, body) = message?.generic()?;
            for block in attributes(body) {
                let block = block?;
                if block.kind != IPVS_CMD_ATTR_DEST {
                    continue;
                }
                match decode_dest(&block, service_family) {
                    Ok(backend) => backends.push(backend),
                    Err(err) => problems.push(format!(
                        "real server of {} skipped: {err}",
                        describe(&service.key)
                    )),
                }
            }
        }
        Ok((backends, problems))
    }
}

fn describe(key: &ServiceKey) -> String {
    key.to_string()
}
