//! Checks of the `conformance` lab scenario: for each keepalived configuration shape, the
//! table the exporter expects keepalived to program (doctor's JSON, `keepalived`) against the
//! table real keepalived programmed (`ipvsadm -Ln --exact`, read at the same moment), entry by
//! entry: services with their family, scheduler, persistence and one-packet flag, and every
//! destination with its address, port, forwarding method and weight.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::check::{Service, parse_ipvsadm_list};

/// A service as both sides name it: protocol, address, port, mark and family.
pub type ServiceId = (String, String, String, String, String);
/// A destination: address, port, forwarding method, weight.
pub type Destination = (String, String, String, u64);

/// What one service looks like, on either side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub scheduler: String,
    pub persistent: Option<u64>,
    /// The netmask as ipvsadm writes it; `None` where it writes none (a whole address).
    pub mask: Option<String>,
    pub ops: bool,
    pub destinations: BTreeSet<Destination>,
}

pub type Table = BTreeMap<ServiceId, Entry>;

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn id_of(service: &Service) -> ServiceId {
    (
        service.key.proto.clone(),
        service.key.local_address.clone(),
        service.key.local_port.clone(),
        service.key.local_mark.clone(),
        service.family.clone(),
    )
}

/// The kernel's table from `ipvsadm -Ln --exact`.
pub fn kernel_table(ipvsadm: &str) -> Result<Table, String> {
    Ok(parse_ipvsadm_list(ipvsadm)?
        .iter()
        .map(|s| {
            (
                id_of(s),
                Entry {
                    scheduler: s.scheduler.clone(),
                    persistent: s.persistent,
                    mask: s.mask.clone(),
                    ops: s.ops,
                    destinations: s
                        .backends
                        .iter()
                        .map(|b| {
                            (
                                b.key.remote_address.clone(),
                                b.key.remote_port.clone(),
                                b.forward.clone(),
                                b.weight,
                            )
                        })
                        .collect(),
                },
            )
        })
        .collect())
}

fn text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn service_id(service: &serde_json::Value) -> ServiceId {
    let proto = text(&service["proto"]);
    let port = if proto == "FWM" {
        "0".to_string()
    } else {
        text(&service["local_port"])
    };
    (
        proto,
        text(&service["local_address"]),
        port,
        text(&service["local_mark"]),
        text(&service["family"]),
    )
}

/// The services of doctor's JSON `keepalived` section.
pub fn expected_services(doctor: &serde_json::Value) -> Result<Vec<serde_json::Value>, String> {
    doctor["keepalived"]["services"]
        .as_array()
        .cloned()
        .ok_or_else(|| "doctor's JSON has no keepalived.services".to_string())
}

/// The table the exporter expects while every real server passes its checks: each real server
/// at its configured weight, a sorry server only where `sorry_server_inhibit` keeps it at 0
/// (and it is not one of the real servers).
pub fn expected_healthy_table(doctor: &serde_json::Value) -> Result<Table, String> {
    let mut table = Table::new();
    for service in expected_services(doctor)? {
        let family = text(&service["family"]);
        let mut destinations: BTreeSet<Destination> = BTreeSet::new();
        for real in service["real_servers"].as_array().into_iter().flatten() {
            destinations.insert((
                text(&real["address"]),
                text(&real["port"]),
                text(&real["forward"]),
                real["weight"]
                    .as_u64()
                    .ok_or("a weight that is not a number")?,
            ));
        }
        let sorry = &service["sorry_server"];
        if sorry["inhibit"] == serde_json::Value::Bool(true)
            && !destinations
                .iter()
                .any(|(a, p, _, _)| *a == text(&sorry["address"]) && *p == text(&sorry["port"]))
        {
            destinations.insert((
                text(&sorry["address"]),
                text(&sorry["port"]),
                text(&sorry["forward"]),
                0,
            ));
        }
        let mask = match (
            family.as_str(),
            text(&service["persistence_netmask"]).as_str(),
        ) {
            (_, "") | ("inet", "255.255.255.255") | ("inet6", "128") => None,
            (_, m) => Some(m.to_string()),
        };
        let entry = Entry {
            scheduler: text(&service["scheduler"]),
            persistent: service["persistence_timeout"].as_u64(),
            mask,
            ops: service["one_packet"] == serde_json::Value::Bool(true),
            destinations,
        };
        if table.insert(service_id(&service), entry).is_some() {
            return Err(format!(
                "the exporter expects {:?} twice",
                service_id(&service)
            ));
        }
    }
    Ok(table)
}

/// Every difference between the expected and the kernel's table, one line each.
pub fn differences(expected: &Table, kernel: &Table) -> Vec<String> {
    let mut out = Vec::new();
    for (id, want) in expected {
        match kernel.get(id) {
            None => out.push(format!("{id:?}: expected, not in the kernel")),
            Some(have) => {
                if want.scheduler != have.scheduler {
                    out.push(format!(
                        "{id:?}: scheduler {} expected, {} in the kernel",
                        want.scheduler, have.scheduler
                    ));
                }
                if (want.persistent, &want.mask) != (have.persistent, &have.mask) {
                    out.push(format!(
                        "{id:?}: persistence {:?} mask {:?} expected, {:?} mask {:?} in the kernel",
                        want.persistent, want.mask, have.persistent, have.mask
                    ));
                }
                if want.ops != have.ops {
                    out.push(format!(
                        "{id:?}: ops {} expected, {} in the kernel",
                        want.ops, have.ops
                    ));
                }
                for d in want.destinations.difference(&have.destinations) {
                    out.push(format!("{id:?}: expected {d:?}, not in the kernel"));
                }
                for d in have.destinations.difference(&want.destinations) {
                    out.push(format!("{id:?}: the kernel has {d:?}, not expected"));
                }
            }
        }
    }
    for id in kernel.keys().filter(|id| !expected.contains_key(*id)) {
        out.push(format!("{id:?}: in the kernel, not expected"));
    }
    out
}

/// Where the exporter's state of a real server disagrees with the kernel's table: `up` is in
/// the table at its configured weight, `down` absent (or at 0 under inhibit_on_failure),
/// `reweighted` in at another weight; and where a service's live weight or quorum does.
pub fn state_differences(
    doctor: &serde_json::Value,
    kernel: &Table,
) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for service in expected_services(doctor)? {
        let id = service_id(&service);
        let destinations = kernel
            .get(&id)
            .map(|e| e.destinations.clone())
            .unwrap_or_default();
        let weight_of = |address: &str, port: &str| {
            destinations
                .iter()
                .find(|(a, p, _, _)| a == address && p == port)
                .map(|(_, _, _, w)| *w)
        };
        let mut live: u64 = 0;
        for real in service["real_servers"].as_array().into_iter().flatten() {
            let (address, port) = (text(&real["address"]), text(&real["port"]));
            let configured = real["weight"].as_u64().unwrap_or(u64::MAX);
            let inhibit = real["inhibit"] == serde_json::Value::Bool(true);
            let in_kernel = weight_of(&address, &port);
            live += in_kernel.unwrap_or(0);
            let state = match in_kernel {
                None => "down",
                Some(w) if w == configured => "up",
                Some(0) if inhibit => "down",
                Some(_) => "reweighted",
            };
            if text(&real["state"]) != state {
                out.push(format!(
                    "{id:?} {address}:{port}: the exporter says {}, the kernel's table {state} (weight {in_kernel:?})",
                    text(&real["state"])
                ));
            }
        }
        if service["live_weight"].as_u64() != Some(live) {
            out.push(format!(
                "{id:?}: live weight {} from the exporter, {live} from the kernel",
                service["live_weight"]
            ));
        }
        let sorry = &service["sorry_server"];
        if !sorry.is_null() {
            let active =
                weight_of(&text(&sorry["address"]), &text(&sorry["port"])).is_some_and(|w| w > 0);
            if sorry["active"].as_bool() != Some(active) {
                out.push(format!(
                    "{id:?}: sorry server active {} from the exporter, {active} from the kernel",
                    sorry["active"]
                ));
            }
        }
    }
    Ok(out)
}

/// The findings of a rule family (`keepalived-`) in doctor's JSON: (rule, subject).
pub fn keepalived_findings(doctor: &serde_json::Value) -> BTreeSet<(String, String)> {
    doctor["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| (text(&f["rule"]), text(&f["subject"])))
        .filter(|(rule, _)| rule.starts_with("keepalived-"))
        .collect()
}

/// One captured moment of a shape: the kernel's table (read before and after doctor) and
/// doctor's JSON and exit code.
pub struct Capture {
    pub kernel: Table,
    pub doctor: serde_json::Value,
    pub doctor_code: String,
    /// `ipvsadm -Sn` before and after doctor ran were the same.
    pub table_held: bool,
}

impl Capture {
    pub fn load(dir: &Path) -> Result<Capture, String> {
        let doctor: serde_json::Value = serde_json::from_str(&read(&dir.join("doctor.json"))?)
            .map_err(|e| format!("{}: {e}", dir.join("doctor.json").display()))?;
        Ok(Capture {
            kernel: kernel_table(&read(&dir.join("ipvsadm.txt"))?)?,
            doctor,
            doctor_code: read(&dir.join("doctor.code"))?.trim().to_string(),
            table_held: read(&dir.join("ipvsadm-save.txt"))?
                == read(&dir.join("ipvsadm-save-after.txt"))?,
        })
    }
}

/// Everything wrong with a healthy shape: the expected table differs from the kernel's, a
/// configured real server is not up, a quorum is not met, a `keepalived-*` finding, or doctor
/// exited with neither 0 nor 1.
pub fn healthy_shape_problems(capture: &Capture) -> Result<Vec<String>, String> {
    let mut problems = differences(&expected_healthy_table(&capture.doctor)?, &capture.kernel);
    problems.extend(state_differences(&capture.doctor, &capture.kernel)?);
    for service in expected_services(&capture.doctor)? {
        let id = service_id(&service);
        for real in service["real_servers"].as_array().into_iter().flatten() {
            if real["state"] != "up" {
                problems.push(format!(
                    "{id:?} {}:{} is {}, not up",
                    text(&real["address"]),
                    text(&real["port"]),
                    text(&real["state"])
                ));
            }
        }
        if service["quorum_up"] != serde_json::Value::Bool(true) {
            problems.push(format!("{id:?}: quorum not met ({})", service["quorum_up"]));
        }
    }
    for (rule, subject) in keepalived_findings(&capture.doctor) {
        problems.push(format!("finding {rule} for {subject}"));
    }
    if capture.doctor_code != "0" && capture.doctor_code != "1" {
        problems.push(format!("doctor exited {}", capture.doctor_code));
    }
    if !capture.table_held {
        problems.push("the table moved while doctor ran".into());
    }
    Ok(problems)
}

/// Services and destinations of a table, for the summary line of a shape.
pub fn size(table: &Table) -> (usize, usize) {
    (
        table.len(),
        table.values().map(|e| e.destinations.len()).sum(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCTOR: &str = r#"{"findings": [], "keepalived": {"known": true, "services": [
      {"proto": "FWM", "local_address": null, "local_port": null, "local_mark": 5,
       "family": "inet", "scheduler": "rr", "persistence_timeout": null,
       "persistence_netmask": null, "one_packet": false, "present": true, "quorum": 1,
       "hysteresis": 0, "quorum_up": true, "live_weight": 3,
       "real_servers": [
         {"address": "10.40.1.2", "port": 8080, "forward": "masq", "weight": 1,
          "inhibit": false, "kernel_weight": 1, "state": "up", "checker_alive": null},
         {"address": "10.40.2.2", "port": 8080, "forward": "masq", "weight": 2,
          "inhibit": false, "kernel_weight": 2, "state": "up", "checker_alive": null}],
       "sorry_server": null}]}}"#;

    const IPVSADM: &str = "IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
FWM  5 rr
  -> 10.40.1.2:8080               Masq    1      0          0
  -> 10.40.2.2:8080               Masq    2      0          0
";

    #[test]
    fn a_firewall_mark_whose_nat_real_servers_keep_their_port_agrees() {
        let doctor: serde_json::Value = serde_json::from_str(DOCTOR).unwrap();
        let expected = expected_healthy_table(&doctor).unwrap();
        let kernel = kernel_table(IPVSADM).unwrap();
        assert_eq!(differences(&expected, &kernel), Vec::<String>::new());
        assert_eq!(
            state_differences(&doctor, &kernel).unwrap(),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_port_the_kernel_does_not_have_is_a_difference() {
        let doctor: serde_json::Value = serde_json::from_str(&DOCTOR.replace(
            "8080, \"forward\": \"masq\", \"weight\": 2",
            "0, \"forward\": \"masq\", \"weight\": 2",
        ))
        .unwrap();
        let expected = expected_healthy_table(&doctor).unwrap();
        let kernel = kernel_table(IPVSADM).unwrap();
        let found = differences(&expected, &kernel);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(state_differences(&doctor, &kernel).unwrap().len(), 2);
    }
}
