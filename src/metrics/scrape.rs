//! The exporter's own families: how each collector fared in this scrape, and build info.

use std::fmt;

use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::registry::Unit;

use super::gauges;
use crate::build;
use crate::model::snapshot::Snapshot;

pub(super) fn encode(snapshot: &Snapshot, encoder: &mut DescriptorEncoder) -> fmt::Result {
    let reports = &snapshot.collectors;
    gauges(
        encoder,
        "ipvs_scrape_collector_success",
        "Whether the collector did its job in this scrape (1 also when the subsystem is absent).",
        None,
        reports
            .iter()
            .map(|r| ([("collector", r.name)], i64::from(r.outcome.succeeded()))),
    )?;
    gauges(
        encoder,
        "ipvs_scrape_collector_duration",
        "How long the collector took in this scrape.",
        Some(Unit::Seconds),
        reports
            .iter()
            .map(|r| ([("collector", r.name)], r.duration.as_secs_f64())),
    )?;
    gauges(
        encoder,
        "ipvs_scrape_collector_skipped_records",
        "Lines or records the collector skipped in this scrape because it could not parse them.",
        None,
        reports
            .iter()
            .map(|r| ([("collector", r.name)], r.problems.len() as u64)),
    )?;
    gauges(
        encoder,
        "ipvs_exporter_build_info",
        "The exporter's version, source revision and compiler version.",
        None,
        std::iter::once((
            [
                ("version", build::VERSION),
                ("revision", build::REVISION),
                ("rustversion", build::RUST_VERSION),
            ],
            1,
        )),
    )
}
