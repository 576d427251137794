//! The exporter's own families: how each collector fared in this scrape, and build info.

use std::fmt;

use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Unit;

use super::{Family, gauge};
use crate::build;
use crate::snapshot::Snapshot;

pub(super) fn encode(snapshot: &Snapshot, encoder: &mut DescriptorEncoder) -> fmt::Result {
    let reports = &snapshot.collectors;
    if !reports.is_empty() {
        Family {
            name: "ipvs_scrape_collector_success",
            help: "Whether the collector did its job in this scrape (1 also when the subsystem is absent).",
            unit: None,
            kind: MetricType::Gauge,
        }
        .encode(encoder, |m| {
            for report in reports {
                gauge(m, &[("collector", report.name)], i64::from(report.outcome.succeeded()))?;
            }
            Ok(())
        })?;
        Family {
            name: "ipvs_scrape_collector_duration",
            help: "How long the collector took in this scrape.",
            unit: Some(Unit::Seconds),
            kind: MetricType::Gauge,
        }
        .encode(encoder, |m| {
            for report in reports {
                gauge(
                    m,
                    &[("collector", report.name)],
                    report.duration.as_secs_f64(),
                )?;
            }
            Ok(())
        })?;
        Family {
            name: "ipvs_scrape_collector_skipped_records",
            help: "Lines or records the collector skipped in this scrape because it could not parse them.",
            unit: None,
            kind: MetricType::Gauge,
        }
        .encode(encoder, |m| {
            for report in reports {
                gauge(m, &[("collector", report.name)], report.problems.len() as u64)?;
            }
            Ok(())
        })?;
    }
    Family {
        name: "ipvs_exporter_build_info",
        help: "The exporter's version, source revision and compiler version.",
        unit: None,
        kind: MetricType::Gauge,
    }
    .encode(encoder, |m| {
        gauge(
            m,
            &[
                ("version", build::VERSION),
                ("revision", build::REVISION),
                ("rustversion", build::RUST_VERSION),
            ],
            1,
        )
    })
}
