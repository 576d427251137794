//! One scrape's view of the host: what each collector read, in one plain [`Snapshot`], and how
//! each collector fared. Filled by the gatherer (`crate::snapshot`) through each collector's
//! [`crate::source::SnapshotPart`]; read by the metrics, the advisor and the report. It reads back
//! from JSON too, which is how the advisor's rules get their fixtures.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::model::IpvsTable;
use crate::model::conntrack::Conntrack;
use crate::model::interfaces::Interfaces;
use crate::model::keepalived::Keepalived;
use crate::model::netdev::NetDevices;
use crate::model::softnet::SoftnetCpu;
use crate::model::sysctl::Sysctls;

/// The ipvs collector's name, which the metrics look for among a gather's collectors.
pub const IPVS_COLLECTOR: &str = "ipvs";

/// The IPVS table of a network namespace named with `--collector.ipvs.netns`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamespaceTable {
    pub netns: String,
    /// `None` when that namespace has no IPVS, or could not be read.
    pub table: Option<IpvsTable>,
}

/// How one collector fared in a gather.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", content = "detail", rename_all = "snake_case")]
pub enum Outcome {
    /// Data was read.
    Ok,
    /// The subsystem is absent; the collector ran fine.
    NoData(String),
    /// The collector failed; the reason.
    Failed(String),
    /// The collector did not answer within the timeout.
    TimedOut,
    /// The previous run of this collector has not returned yet, so it was not started again.
    StillRunning,
}

impl Outcome {
    /// Whether the collector did its job (found data, or found that there is none).
    pub fn succeeded(&self) -> bool {
        matches!(self, Outcome::Ok | Outcome::NoData(_))
    }
}

/// One collector's part of a gather.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CollectorReport {
    pub name: &'static str,
    pub outcome: Outcome,
    #[serde(serialize_with = "seconds")]
    pub duration: Duration,
    /// Records that were skipped because they could not be parsed.
    pub problems: Vec<String>,
}

fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// Everything one scrape knows about the host. Plain data, read by encoders and the advisor;
/// it reads back from JSON too, which is how the advisor's rules get their fixtures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Snapshot {
    /// The IPVS table; `None` when IPVS is absent or its collector is off or failed.
    pub ipvs: Option<IpvsTable>,
    /// IPVS in the other network namespaces the exporter was asked to read.
    pub ipvs_namespaces: Vec<NamespaceTable>,
    /// Connection tracking; `None` when absent or not collected.
    pub conntrack: Option<Conntrack>,
    /// Per-CPU packet processing; empty when not collected.
    pub softnet: Vec<SoftnetCpu>,
    /// Network devices; `None` when not collected.
    pub netdev: Option<NetDevices>,
    /// The kernel settings the advisor checks; `None` when not collected.
    pub sysctl: Option<Sysctls>,
    /// Links and addresses of the exporter's network namespace; `None` when not collected.
    pub interfaces: Option<Interfaces>,
    /// keepalived and its VRRP instances; `None` when not configured or not collected.
    pub keepalived: Option<Keepalived>,
    /// One report per enabled collector, in registration order.
    #[serde(skip_deserializing)]
    pub collectors: Vec<CollectorReport>,
}

impl Snapshot {
    /// Whether the ipvs collector ran in this gather, whatever it found (the metrics tell
    /// "IPVS is absent" from "not read").
    pub fn ipvs_collector_ran(&self) -> bool {
        self.collectors.iter().any(|c| c.name == IPVS_COLLECTOR)
    }
}
