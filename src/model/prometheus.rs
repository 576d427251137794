//! What a Prometheus-compatible query API answers to an instant query: a vector of samples,
//! each a label set and a value, plus the warnings the server attached (a Thanos or Mimir
//! partial response says so there).

use std::collections::BTreeMap;

/// One series of an instant vector: its labels and its value at the evaluation time.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sample {
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

impl Sample {
    /// A label's value; empty when the series does not have it (as PromQL sees it).
    pub fn label(&self, name: &str) -> &str {
        self.labels.get(name).map_or("", String::as_str)
    }
}

/// The answer to one instant query.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Vector {
    pub samples: Vec<Sample>,
    /// The server's own warnings about the answer, as it worded them.
    pub warnings: Vec<String>,
    /// The evaluation time the samples carry (unix seconds), when any sample came back.
    pub time: Option<f64>,
}
