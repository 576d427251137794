//! One pass of each step of a scrape of a large director (decode of recorded netlink replies,
//! encode in the classic and OpenMetrics formats), for an instruction-counting profiler:
//! `valgrind --tool=callgrind target/release/deps/scrape_once-* [SERVICES] [STEP]`, STEP
//! being `decode`, `classic`, `openmetrics` or `all` (the default). Prints the bytes written;
//! with a third word, also writes the text to that file (to compare two builds byte for byte).
//! `cargo bench --bench scrape_once` runs it once on 2,000 services of 10 real servers.

// Test code: a failed unwrap or index is a failed test (the [lints] table guards src/).
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::panic, clippy::indexing_slicing)]

use std::hint::black_box;
use std::sync::Arc;

use ipvs_exporter::metrics::{EncodeOptions, Format, encode_chunks};
use ipvs_exporter::model::snapshot::Snapshot;
use ipvs_exporter::source::ipvs_netlink::read_table;
use ipvs_exporter_testkit::{Replay, recorded_synthetic_table};

const BACKENDS_PER_SERVICE: usize = 10;

fn main() {
    // `cargo bench` passes `--bench`; only plain words are ours.
    let words: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let services: usize = words
        .first()
        .map_or(2_000, |w| w.parse().expect("SERVICES"));
    let step = words.get(1).map_or("all", String::as_str);
    let mut keep = words
        .get(2)
        .map(|path| std::io::BufWriter::new(std::fs::File::create(path).expect("output file")));

    // The fake kernel's table is dropped once recorded: only the replies stay in memory.
    let exchanges =
        recorded_synthetic_table(services, BACKENDS_PER_SERVICE).expect("synthetic table reads");

    let mut replay = Replay::new(exchanges);
    let table = read_table(&mut replay)
        .expect("replay reads")
        .expect("has IPVS")
        .table;
    let snapshot = Arc::new(Snapshot {
        ipvs: Some(table),
        ..Snapshot::default()
    });
    let options = EncodeOptions::default();
    for (name, format) in [
        ("classic", Format::Classic),
        ("openmetrics", Format::OpenMetrics),
    ] {
        if step != "all" && step != name {
            continue;
        }
        let mut bytes = 0;
        encode_chunks(Arc::clone(&snapshot), format, &options, &mut |chunk| {
            if let Some(out) = keep.as_mut() {
                std::io::Write::write_all(out, chunk.as_bytes()).expect("written");
            }
            bytes += black_box(chunk).len();
            true
        });
        println!("{name}: {bytes} bytes");
    }
}
