//! Host collectors on this machine (tier `test-host`: the live kernel): softnet and interrupt
//! counts from the exporter must lie between two reads of `/proc` made around the scrape.
//! `cargo test --features test-host --test host_live`.

// Test code: a failed unwrap or index is a failed test (the [lints] table guards src/).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use std::collections::BTreeMap;

use support::{Exporter, http_get, sample_value as value};

/// Parses the hexadecimal processed column of /proc/net/softnet_stat by CPU.
fn softnet_processed() -> BTreeMap<String, u64> {
    let text = std::fs::read_to_string("/proc/net/softnet_stat").expect("softnet_stat");
    text.lines()
        .enumerate()
        .map(|(row, line)| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let cpu = words
                .get(12)
                .and_then(|w| u64::from_str_radix(w, 16).ok())
                .unwrap_or(row as u64);
            let processed = u64::from_str_radix(words[0], 16).expect("hex");
            (cpu.to_string(), processed)
        })
        .collect()
}

/// Every numbered IRQ's count per CPU in /proc/interrupts, by (IRQ, CPU number).
fn irq_counts() -> BTreeMap<(u32, String), u64> {
    let text = std::fs::read_to_string("/proc/interrupts").expect("interrupts");
    let mut lines = text.lines();
    let cpus: Vec<String> = lines
        .next()
        .expect("header")
        .split_whitespace()
        .map(|w| w.trim_start_matches("CPU").to_string())
        .collect();
    let mut counts = BTreeMap::new();
    for line in lines {
        let Some((label, rest)) = line.split_once(':') else {
            continue;
        };
        let Ok(irq) = label.trim().parse::<u32>() else {
            continue;
        };
        for (cpu, word) in cpus.iter().zip(rest.split_whitespace()) {
            counts.insert((irq, cpu.clone()), word.parse::<u64>().expect("count"));
        }
    }
    counts
}

#[test]
fn live_softnet_and_interrupts_lie_between_two_reads_of_proc() {
    let exporter = Exporter::start(&["--no-collector.ipvs", "--no-collector.netdev.ethtool"]);
    let before = softnet_processed();
    let irqs_before = irq_counts();
    let metrics = http_get(exporter.address, "/metrics", &[]).body;
    let irqs_after = irq_counts();
    let after = softnet_processed();
    assert!(!before.is_empty());
    for (cpu, low) in &before {
        let high = after[cpu];
        let got = value(
            &metrics,
            &format!("ipvs_softnet_processed_total{{cpu=\"{cpu}\"}}"),
        )
        .unwrap_or_else(|| panic!("no softnet series for CPU {cpu}")) as u64;
        assert!(
            *low <= got && got <= high,
            "CPU {cpu}: {low} <= {got} <= {high}"
        );
    }

    // Every IRQ the exporter gives this machine's NICs, against /proc/interrupts.
    let irq_series: Vec<(String, u32)> = metrics
        .lines()
        .filter(|l| l.starts_with("ipvs_netdev_interrupts_total{"))
        .filter_map(|l| {
            let irq = l.split("irq=\"").nth(1)?.split('"').next()?.parse().ok()?;
            Some((l.to_string(), irq))
        })
        .collect();
    assert!(
        !irq_series.is_empty(),
        "this machine's NIC has interrupts:\n{metrics}"
    );
    let mut checked = 0;
    for (line, irq) in &irq_series {
        let cpu = line
            .split("cpu=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .expect("cpu");
        let got: u64 = line
            .rsplit(' ')
            .next()
            .and_then(|v| v.parse().ok())
            .expect("value");
        let key = (*irq, cpu.to_string());
        let (low, high) = (irqs_before[&key], irqs_after[&key]);
        assert!(
            low <= got && got <= high,
            "{line}: /proc/interrupts says {low} before and {high} after the scrape"
        );
        checked += 1;
    }
    exporter.stop();
    assert!(checked >= 2, "{checked} IRQ series checked");
}
