//! `ipvs_exporter fleet`: what is wrong across the hosts a Prometheus scrapes, read from its
//! query API. This module is pure: [`queries`] says which PromQL to send (a fixed list,
//! whatever the number of hosts and services), [`analyse`] turns their answers into findings,
//! [`rules`] holds the fleet rules' text for `--explain`, and [`render`] writes text, JSON or
//! Markdown. The HTTP client that sends the queries lives in `source::prometheus_api`.

pub mod analyse;
pub mod queries;
pub mod render;
pub mod rules;

use std::fmt;

use serde::Serialize;

use crate::model::prometheus::Sample;

/// One exporter, as Prometheus tells it from the others: the cluster label (empty without
/// one), the job and the instance.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Host {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cluster: String,
    pub job: String,
    pub instance: String,
}

impl Host {
    /// The host a sample is about, reading the cluster label under `cluster_label`.
    pub fn of(sample: &Sample, cluster_label: &str) -> Host {
        Host {
            cluster: sample.label(cluster_label).to_string(),
            job: sample.label("job").to_string(),
            instance: sample.label("instance").to_string(),
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.cluster.is_empty() {
            write!(f, "{}", self.instance)
        } else {
            write!(f, "{}/{}", self.cluster, self.instance)
        }
    }
}
