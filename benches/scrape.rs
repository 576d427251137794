//! Decode and encode cost of a large director: 2,000 services of 10 real servers each
//! (20,000 backends), from recorded netlink replies to the text Prometheus receives.
//! `cargo bench --bench scrape`.

// Test code: a failed unwrap or index is a failed test (the [lints] table guards src/).
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::panic, clippy::indexing_slicing)]
#![allow(clippy::cast_possible_truncation)]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use ipvs_exporter::metrics::{EncodeOptions, Format, encode};
use ipvs_exporter::model::snapshot::Snapshot;
use ipvs_exporter::netlink::capture::Exchange;
use ipvs_exporter::source::ipvs_netlink::read_table;
use ipvs_exporter_testkit::{Replay, recorded_synthetic_table};

const SERVICES: usize = 2_000;
const BACKENDS_PER_SERVICE: usize = 10;

fn snapshot_of(exchanges: Vec<Exchange>) -> Arc<Snapshot> {
    let mut replay = Replay::new(exchanges);
    let read = read_table(&mut replay)
        .expect("replay reads")
        .expect("has IPVS");
    Arc::new(Snapshot {
        ipvs: Some(read.table),
        ..Snapshot::default()
    })
}

fn scrape(c: &mut Criterion) {
    let exchanges =
        recorded_synthetic_table(SERVICES, BACKENDS_PER_SERVICE).expect("synthetic table reads");
    let snapshot = snapshot_of(exchanges.clone());
    let options = EncodeOptions::default();
    let mut group = c.benchmark_group("20k_backends");
    group.sample_size(20);
    group.bench_function("decode", |b| {
        b.iter_batched(
            || Replay::new(exchanges.clone()),
            |mut replay| black_box(read_table(&mut replay).expect("reads")),
            BatchSize::LargeInput,
        )
    });
    group.bench_function("encode_classic", |b| {
        b.iter(|| black_box(encode(Arc::clone(&snapshot), Format::Classic, &options)))
    });
    group.bench_function("encode_openmetrics", |b| {
        b.iter(|| black_box(encode(Arc::clone(&snapshot), Format::OpenMetrics, &options)))
    });
    group.bench_function("decode_and_encode", |b| {
        b.iter_batched(
            || exchanges.clone(),
            |exchanges| black_box(encode(snapshot_of(exchanges), Format::Classic, &options)),
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, scrape);
criterion_main!(benches);
