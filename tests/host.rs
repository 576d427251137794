//! Host collectors end to end: the interrupt imbalance over successive scrapes of a fixture
//! tree whose `/proc/interrupts` changes in between, and the live values of this machine
//! (softnet, interrupts) against what `/proc` says around the scrape.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use support::{Exporter, http_get};

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

fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
        })
        .and_then(|v| v.trim().parse().ok())
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
