//! keepalived's JSON dump (`/tmp/keepalived.json`): an array with one object per VRRP
//! instance, each holding `data` (name, interface, VRID, state, priorities, last transition)
//! and `stats` (advert and transition counters). Fields differ between keepalived versions, so
//! every field is optional and unknown ones are ignored; a truncated file (read while
//! keepalived rewrites it) is an error, never a partial result.

use serde_json::Value;

use crate::model::keepalived::{DumpInstance, VrrpState};

/// Why a dump could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DumpError {
    #[error("not valid JSON (written half?): {0}")]
    Json(String),
    #[error("not an array of VRRP instances")]
    Shape,
}

/// Parses a whole dump.
pub fn parse_dump(text: &str) -> Result<Vec<DumpInstance>, DumpError> {
    let value: Value = serde_json::from_str(text).map_err(|e| DumpError::Json(e.to_string()))?;
    let entries = value.as_array().ok_or(DumpError::Shape)?;
    let mut instances = Vec::new();
    for entry in entries {
        let data = entry.get("data");
        let field = |name: &str| data.and_then(|d| d.get(name));
        let Some(name) = field("iname").and_then(Value::as_str) else {
            continue;
        };
        let stats = entry
            .get("stats")
            .and_then(Value::as_object)
            .map(|stats| {
                stats
                    .iter()
                    .filter_map(|(k, v)| v.as_u64().map(|n| (k.clone(), n)))
                    .collect()
            })
            .unwrap_or_default();
        instances.push(DumpInstance {
            name: name.to_string(),
            interface: field("ifp_ifname")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(String::from),
            vrid: field("vrid")
                .and_then(Value::as_u64)
                .and_then(|v| u8::try_from(v).ok()),
            state: field("state")
                .and_then(Value::as_i64)
                .and_then(VrrpState::from_keepalived_number),
            base_priority: field("base_priority").and_then(Value::as_i64),
            effective_priority: field("effective_priority").and_then(Value::as_i64),
            last_transition: field("last_transition").and_then(Value::as_f64),
            stats,
        });
    }
    Ok(instances)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Written by Debian's keepalived 2.2.7 on SIGRTMIN+2, in a lab pair of directors.
    const MASTER: &str = include_str!("../../tests/fixtures/keepalived-json/master.json");
    const BACKUP: &str = include_str!("../../tests/fixtures/keepalived-json/backup.json");

    fn stat(instance: &DumpInstance, name: &str) -> Option<u64> {
        instance
            .stats
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| *v)
    }

    #[test]
    fn a_master_dump_from_keepalived_2_2_7() {
        let instances = parse_dump(MASTER).unwrap_or_default();
        assert_eq!(instances.len(), 1);
        let vi = instances.first().cloned().unwrap_or_default();
        assert_eq!(vi.name, "VI_1");
        assert_eq!(vi.interface.as_deref(), Some("eth0"));
        assert_eq!(vi.vrid, Some(51));
        assert_eq!(vi.state, Some(VrrpState::Master));
        assert_eq!(vi.base_priority, Some(150));
        assert_eq!(vi.effective_priority, Some(150));
        assert_eq!(vi.last_transition, Some(1795305364.882548));
        assert_eq!(stat(&vi, "advert_sent"), Some(8));
        assert_eq!(stat(&vi, "become_master"), Some(1));
        assert_eq!(stat(&vi, "release_master"), Some(0));
        assert_eq!(vi.stats.len(), 14);
    }

    #[test]
    fn a_backup_dump_from_keepalived_2_2_7() {
        let vi = parse_dump(BACKUP)
            .unwrap_or_default()
            .first()
            .cloned()
            .unwrap_or_default();
        assert_eq!(vi.state, Some(VrrpState::Backup));
        assert_eq!(vi.effective_priority, Some(100));
        assert_eq!(stat(&vi, "advert_rcvd"), Some(11));
    }

    #[test]
    fn a_dump_cut_anywhere_is_an_error() {
        for cut in 0..MASTER.len() - 2 {
            let Some(head) = MASTER.get(..cut) else {
                continue;
            };
            assert!(parse_dump(head).is_err(), "cut at {cut} parsed");
        }
        assert_eq!(parse_dump("{}"), Err(DumpError::Shape));
    }
}
