//! Snapshot -> Prometheus exposition. Pure: nothing here can fail on data, and nothing reads
//! the kernel. `prometheus-client` writes OpenMetrics; the classic 0.0.4 text format is derived
//! from it by [`openmetrics_to_classic`].

mod ipvs;
mod scrape;

use std::fmt;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabel, EncodeLabelSet, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use crate::snapshot::Snapshot;

/// The exposition formats /metrics can answer in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text format 0.0.4.
    Classic,
    /// OpenMetrics 1.0 text.
    OpenMetrics,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Classic => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// The real-server labels, in the order of [`BackendLabels`]' bits.
pub const BACKEND_LABEL_NAMES: [&str; 6] = [
    "proto",
    "local_address",
    "local_port",
    "local_mark",
    "remote_address",
    "remote_port",
];

/// Which real-server labels to keep (`--collector.ipvs.backend-labels`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackendLabels {
    kept: [bool; 6],
}

impl BackendLabels {
    pub fn all() -> Self {
        BackendLabels { kept: [true; 6] }
    }

    pub fn none() -> Self {
        BackendLabels { kept: [false; 6] }
    }

    /// Keeps the named label; false when there is no such label.
    pub fn keep(&mut self, name: &str) -> bool {
        match BACKEND_LABEL_NAMES.iter().position(|known| *known == name) {
            Some(index) => {
                if let Some(slot) = self.kept.get_mut(index) {
                    *slot = true;
                }
                true
            }
            None => false,
        }
    }

    pub fn keeps(&self, index: usize) -> bool {
        self.kept.get(index).copied().unwrap_or(false)
    }

    pub fn keeps_all(&self) -> bool {
        self.kept.iter().all(|k| *k)
    }
}

/// How a snapshot is turned into series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodeOptions {
    pub backend_labels: BackendLabels,
    /// Whether to export per-real-server series at all.
    pub backends: bool,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        EncodeOptions {
            backend_labels: BackendLabels::all(),
            backends: true,
        }
    }
}

/// Encodes a snapshot in the requested format.
pub fn encode(snapshot: Arc<Snapshot>, format: Format, options: &EncodeOptions) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(SnapshotCollector(snapshot, *options)));
    let mut openmetrics = String::new();
    if let Err(err) = prometheus_client::encoding::text::encode(&mut openmetrics, &registry) {
        // Writing to a String cannot fail; keep what was written if it somehow does.
        tracing::error!(error = %err, "encoding metrics failed");
    }
    match format {
        Format::OpenMetrics => openmetrics,
        Format::Classic => openmetrics_to_classic(&openmetrics),
    }
}

#[derive(Debug)]
struct SnapshotCollector(Arc<Snapshot>, EncodeOptions);

impl Collector for SnapshotCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        ipvs::encode(&self.0, &self.1, &mut encoder)?;
        scrape::encode(&self.0, &mut encoder)
    }
}

/// A label set that can tell whether it is empty, so that a series without labels is written
/// as `name value` rather than `name{} value`.
pub(crate) trait SeriesLabels: EncodeLabelSet {
    fn is_empty(&self) -> bool;
}

impl<T: EncodeLabel, const N: usize> SeriesLabels for [T; N] {
    fn is_empty(&self) -> bool {
        N == 0
    }
}

impl<T: EncodeLabel> SeriesLabels for &[T] {
    fn is_empty(&self) -> bool {
        <[T]>::is_empty(self)
    }
}

impl<A: SeriesLabels, B: SeriesLabels> SeriesLabels for (A, B) {
    fn is_empty(&self) -> bool {
        self.0.is_empty() && self.1.is_empty()
    }
}

/// Writes a gauge family from its series; writes nothing when there are none.
pub(crate) fn gauges<L, V>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<Unit>,
    series: impl Iterator<Item = (L, V)>,
) -> fmt::Result
where
    L: SeriesLabels,
    V: prometheus_client::encoding::EncodeGaugeValue,
{
    let mut series = series.peekable();
    if series.peek().is_none() {
        return Ok(());
    }
    let mut metric = encoder.encode_descriptor(name, help, unit.as_ref(), MetricType::Gauge)?;
    for (labels, value) in series {
        if labels.is_empty() {
            metric.encode_gauge(&value)?;
        } else {
            metric.encode_family(&labels)?.encode_gauge(&value)?;
        }
    }
    Ok(())
}

/// Writes a counter family (`name` without `_total`); writes nothing when there are no series.
pub(crate) fn counters<L: SeriesLabels>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<Unit>,
    series: impl Iterator<Item = (L, u64)>,
) -> fmt::Result {
    let mut series = series.peekable();
    if series.peek().is_none() {
        return Ok(());
    }
    let mut metric = encoder.encode_descriptor(name, help, unit.as_ref(), MetricType::Counter)?;
    for (labels, value) in series {
        if labels.is_empty() {
            metric.encode_counter::<NoLabelSet, u64, u64>(&value, None)?;
        } else {
            metric
                .encode_family(&labels)?
                .encode_counter::<NoLabelSet, u64, u64>(&value, None)?;
        }
    }
    Ok(())
}

/// A label set with no labels.
pub(crate) const NO_LABELS: [(&str, &str); 0] = [];

/// Rewrites OpenMetrics text as the classic text format: counters are named with their
/// `_total` suffix in HELP and TYPE, and `# UNIT` and `# EOF` lines are dropped.
pub fn openmetrics_to_classic(openmetrics: &str) -> String {
    let mut classic = String::with_capacity(openmetrics.len());
    let mut pending_help: Option<&str> = None;
    for line in openmetrics.lines() {
        if line.starts_with("# HELP ") {
            if let Some(help) = pending_help.replace(line) {
                push_line(&mut classic, help);
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let help = pending_help.take();
            match rest.strip_suffix(" counter") {
                Some(name) => {
                    if let Some(help_text) = help
                        .and_then(|h| h.strip_prefix("# HELP "))
                        .and_then(|h| h.strip_prefix(name))
                    {
                        classic.push_str("# HELP ");
                        classic.push_str(name);
                        classic.push_str("_total");
                        classic.push_str(help_text);
                        classic.push('\n');
                    }
                    classic.push_str("# TYPE ");
                    classic.push_str(name);
                    classic.push_str("_total counter\n");
                }
                None => {
                    if let Some(help) = help {
                        push_line(&mut classic, help);
                    }
                    push_line(&mut classic, line);
                }
            }
            continue;
        }
        if let Some(help) = pending_help.take() {
            push_line(&mut classic, help);
        }
        if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        }
        push_line(&mut classic, line);
    }
    if let Some(help) = pending_help {
        push_line(&mut classic, help);
    }
    classic
}

fn push_line(out: &mut String, line: &str) {
    out.push_str(line);
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classic_format_names_counters_with_their_suffix() {
        let om = "# HELP a_bytes Bytes in.\n# TYPE a_bytes counter\n# UNIT a_bytes bytes\n\
                  a_bytes_total{x=\"1\"} 5\n# HELP b A gauge.\n# TYPE b gauge\nb 1\n# EOF\n";
        assert_eq!(
            openmetrics_to_classic(om),
            "# HELP a_bytes_total Bytes in.\n# TYPE a_bytes_total counter\n\
             a_bytes_total{x=\"1\"} 5\n# HELP b A gauge.\n# TYPE b gauge\nb 1\n"
        );
    }

    #[test]
    fn classic_format_keeps_label_values_that_look_like_comments() {
        let om = "# HELP c C.\n# TYPE c gauge\nc{v=\"# EOF\"} 1\n# EOF\n";
        assert_eq!(
            openmetrics_to_classic(om),
            "# HELP c C.\n# TYPE c gauge\nc{v=\"# EOF\"} 1\n"
        );
    }
}
