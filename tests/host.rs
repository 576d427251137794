//! Host collectors end to end on a fixture tree: the interrupt imbalance over successive scrapes
//! while the tree's `/proc/interrupts` changes in between. The same collectors on this
//! machine's live `/proc` are checked by `tests/host_live.rs` (tier `test-host`).

// Test code: a failed unwrap or index is a failed test (the [lints] table guards src/).
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::panic, clippy::indexing_slicing)]
#![allow(clippy::cast_possible_truncation)]

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use support::{Exporter, http_get, sample_value as value};

/// A copy of tests/fixtures/host that the test may change.
fn fixture_copy(name: &str) -> PathBuf {
    let target =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&target);
    let status = Command::new("cp")
        .arg("-a")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/host"))
        .arg(&target)
        .status()
        .expect("cp");
    assert!(status.success());
    target
}

/// Adds `extra[irq][cpu]` to the counts of those IRQs in the copy's /proc/interrupts.
fn add_interrupts(root: &Path, extra: &BTreeMap<u32, [u64; 4]>) {
    let path = root.join("proc/interrupts");
    let text = std::fs::read_to_string(&path).expect("interrupts");
    let mut out = String::new();
    for line in text.lines() {
        let irq = line
            .split(':')
            .next()
            .and_then(|n| n.trim().parse::<u32>().ok());
        match irq.and_then(|irq| extra.get(&irq).map(|add| (irq, add))) {
            Some((irq, add)) => {
                let rest = line.split_once(':').map(|(_, r)| r).unwrap_or("");
                let mut words = rest.split_whitespace();
                let counts: Vec<u64> = (&mut words)
                    .take(4)
                    .map(|w| w.parse().expect("count"))
                    .collect();
                let tail: Vec<&str> = words.collect();
                out.push_str(&format!("{irq:4}: "));
                for (count, plus) in counts.iter().zip(add) {
                    out.push_str(&format!("{:10} ", count + plus));
                }
                out.push_str(&tail.join(" "));
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    std::fs::write(&path, out).expect("write interrupts");
}

#[test]
fn interrupt_imbalance_follows_the_interrupts_over_the_exporters_window() {
    let root = fixture_copy("imbalance");
    let procfs = root.join("proc");
    let sysfs = root.join("sys");
    let exporter = Exporter::start(&[
        "--path.procfs",
        procfs.to_str().expect("utf-8"),
        "--path.sysfs",
        sysfs.to_str().expect("utf-8"),
        "--no-collector.netdev.ethtool",
        "--no-collector.ipvs",
    ]);
    let series = "ipvs_netdev_interrupt_imbalance_ratio{device=\"eth2\"}";
    let scrape = || http_get(exporter.address, "/metrics", &[]).body;
    assert_eq!(value(&scrape(), series), None, "no previous scrape yet");

    // Every queue's interrupts on CPU 0.
    let all_on_cpu0: BTreeMap<u32, [u64; 4]> =
        (65..=68).map(|irq| (irq, [1000, 0, 0, 0])).collect();
    add_interrupts(&root, &all_on_cpu0);
    assert_eq!(value(&scrape(), series), Some(1.0));

    // One queue per CPU, evenly.
    let spread: BTreeMap<u32, [u64; 4]> = [
        (65, [1000, 0, 0, 0]),
        (66, [0, 1000, 0, 0]),
        (67, [0, 0, 1000, 0]),
        (68, [0, 0, 0, 1000]),
    ]
    .into();
    add_interrupts(&root, &spread);
    // The window runs from the first scrape (the exporter has run less than a minute):
    // CPU 0 took 4000 + 1000 of 8000, the others 1000 each: (5/8 - 1/4) / (3/4).
    let ratio = value(&scrape(), series).expect("imbalance");
    assert!((ratio - 0.5).abs() < 1e-9, "{ratio}");

    // Half on CPU 0, half on CPU 1.
    let halves: BTreeMap<u32, [u64; 4]> = [
        (65, [1000, 0, 0, 0]),
        (66, [1000, 0, 0, 0]),
        (67, [0, 1000, 0, 0]),
        (68, [0, 1000, 0, 0]),
    ]
    .into();
    add_interrupts(&root, &halves);
    // 7000, 3000, 1000, 1000 of 12000: (7/12 - 1/4) / (3/4).
    let ratio = value(&scrape(), series).expect("imbalance");
    assert!((ratio - 4.0 / 9.0).abs() < 1e-9, "{ratio}");

    // Another scraper in between (a second Prometheus, a curl) changes nothing: the window
    // is the exporter's, not the previous scrape's.
    let again = value(&scrape(), series).expect("imbalance");
    assert!((again - 4.0 / 9.0).abs() < 1e-9, "{again}");
    exporter.stop();
    let _ = std::fs::remove_dir_all(root);
}
