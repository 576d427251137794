//! Snapshot -> Prometheus exposition. Pure: nothing here can fail on data, and nothing reads
//! the kernel. `prometheus-client` writes OpenMetrics; the classic 0.0.4 text format is derived
//! from it by [`openmetrics_to_classic`].

mod ipvs;
mod scrape;

use std::fmt;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, MetricEncoder};
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

/// Encodes a snapshot in the requested format.
pub fn encode(snapshot: Arc<Snapshot>, format: Format) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(SnapshotCollector(snapshot)));
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
struct SnapshotCollector(Arc<Snapshot>);

impl Collector for SnapshotCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        ipvs::encode(&self.0, &mut encoder)?;
        scrape::encode(&self.0, &mut encoder)
    }
}

/// One metric family: its descriptor, then whatever series `write` adds.
pub(crate) struct Family<'a> {
    pub name: &'a str,
    pub help: &'a str,
    pub unit: Option<Unit>,
    pub kind: MetricType,
}

impl Family<'_> {
    pub fn encode(
        &self,
        encoder: &mut DescriptorEncoder,
        write: impl FnOnce(&mut MetricEncoder) -> fmt::Result,
    ) -> fmt::Result {
        let mut metric =
            encoder.encode_descriptor(self.name, self.help, self.unit.as_ref(), self.kind)?;
        write(&mut metric)
    }
}

/// Writes one gauge series.
pub(crate) fn gauge<L: EncodeLabelSet, V: prometheus_client::encoding::EncodeGaugeValue>(
    metric: &mut MetricEncoder,
    labels: &L,
    value: V,
) -> fmt::Result {
    metric.encode_family(labels)?.encode_gauge(&value)
}

/// Writes the one series of a family without labels.
pub(crate) fn gauge_unlabelled<V: prometheus_client::encoding::EncodeGaugeValue>(
    metric: &mut MetricEncoder,
    value: V,
) -> fmt::Result {
    metric.encode_gauge(&value)
}

/// Writes the one series of a counter family without labels.
pub(crate) fn counter_unlabelled(metric: &mut MetricEncoder, value: u64) -> fmt::Result {
    metric.encode_counter::<prometheus_client::encoding::NoLabelSet, u64, u64>(&value, None)
}

/// Writes one counter series.
pub(crate) fn counter<L: EncodeLabelSet>(
    metric: &mut MetricEncoder,
    labels: &L,
    value: u64,
) -> fmt::Result {
    metric
        .encode_family(labels)?
        .encode_counter::<prometheus_client::encoding::NoLabelSet, u64, u64>(&value, None)
}

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
