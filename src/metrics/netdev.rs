//! Network device families: interrupts per CPU and how evenly they fall, RPS/XPS steering,
//! and the settings ethtool shows.

use std::fmt;

use prometheus_client::encoding::DescriptorEncoder;

use super::{NO_LABELS, counters, gauges};
use crate::model::netdev::NetDevices;
use crate::model::snapshot::Snapshot;

/// How unevenly a device's interrupts fell on CPUs over the collector's window, from 0 (as evenly
/// as its queues allow) to 1 (all on one CPU).
///
/// With `n` = the smaller of the number of CPUs and the number of the device's IRQs that
/// fired, and `max` = the largest share of the interrupts that one CPU took, the imbalance is
/// `(max - 1/n) / (1 - 1/n)`, clamped to 0..1. Four queues on four CPUs taking a quarter each
/// give 0; all on CPU 0 give 1; half on each of two CPUs give 1/3. Two queues on 64 CPUs, one
/// CPU each, give 0: nothing more even is possible without more queues (or RPS). `None` when
/// there were no interrupts, or when `n` is below 2 (one queue, or one CPU): then nothing can
/// be uneven.
pub fn interrupt_imbalance(per_cpu: &[u64], active_irqs: usize) -> Option<f64> {
    let total: u64 = per_cpu.iter().sum();
    let n = per_cpu.len().min(active_irqs);
    if total == 0 || n < 2 {
        return None;
    }
    let max = per_cpu.iter().copied().max().unwrap_or(0) as f64 / total as f64;
    let fair = 1.0 / n as f64;
    Some(((max - fair) / (1.0 - fair)).clamp(0.0, 1.0))
}

/// One info series per queue that has a CPU list: (device, queue, CPUs).
fn cpu_list_info<'a>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    queues: impl Iterator<Item = (&'a str, &'a str, Option<&'a str>)>,
) -> fmt::Result {
    gauges(
        encoder,
        name,
        help,
        None,
        queues.filter_map(|(device, queue, cpus)| {
            cpus.map(|cpus| ([("device", device), ("queue", queue), ("cpus", cpus)], 1))
        }),
    )
}

pub(super) fn encode(snapshot: &Snapshot, encoder: &mut DescriptorEncoder) -> fmt::Result {
    let Some(net) = &snapshot.netdev else {
        return Ok(());
    };
    encode_irqs(net, encoder)?;
    encode_queues(net, encoder)
}

/// The families of the devices' IRQs: interrupts per CPU, affinity, imbalance.
fn encode_irqs(net: &NetDevices, encoder: &mut DescriptorEncoder) -> fmt::Result {
    let cpus: Vec<String> = net.cpus.iter().map(u32::to_string).collect();
    struct IrqRow<'a> {
        device: &'a str,
        irq: String,
        queue: &'a str,
        irq_data: &'a crate::model::netdev::DeviceIrq,
    }
    let irqs: Vec<IrqRow> = net
        .devices
        .iter()
        .flat_map(|d| {
            d.irqs.iter().map(move |irq| IrqRow {
                device: d.name.as_str(),
                irq: irq.irq.to_string(),
                queue: irq.queue.as_deref().unwrap_or(""),
                irq_data: irq,
            })
        })
        .collect();

    counters(
        encoder,
        "ipvs_netdev_interrupts",
        "Interrupts of a network device's IRQ handled by each CPU (/proc/interrupts).",
        None,
        irqs.iter().flat_map(|row| {
            row.irq_data
                .per_cpu
                .iter()
                .zip(&cpus)
                .map(move |(count, cpu)| {
                    (
                        [
                            ("device", row.device),
                            ("irq", row.irq.as_str()),
                            ("queue", row.queue),
                            ("cpu", cpu.as_str()),
                        ],
                        *count,
                    )
                })
        }),
    )?;
    gauges(
        encoder,
        "ipvs_netdev_irq_affinity_info",
        "The CPUs a network device's IRQ may go to (smp_affinity_list) and goes to (effective_affinity_list).",
        None,
        irqs.iter().map(|row| {
            (
                [
                    ("device", row.device),
                    ("irq", row.irq.as_str()),
                    ("queue", row.queue),
                    ("affinity", row.irq_data.affinity.as_deref().unwrap_or("")),
                    (
                        "effective_affinity",
                        row.irq_data.effective_affinity.as_deref().unwrap_or(""),
                    ),
                ],
                1,
            )
        }),
    )?;
    gauges(
        encoder,
        "ipvs_netdev_interrupt_imbalance_ratio",
        "How unevenly the device's interrupts fell on CPUs over the last minute or so (a window the exporter keeps, the same for every scraper): 0 as even as its queues allow, 1 all on one CPU.",
        None,
        net.devices.iter().filter_map(|d| {
            let delta = d.since_last_scrape.as_ref()?;
            interrupt_imbalance(&delta.per_cpu, delta.active_irqs)
                .map(|ratio| ([("device", d.name.as_str())], ratio))
        }),
    )
}

/// The families of the devices' queues and their packet steering (RPS, RFS, XPS).
fn encode_queues(net: &NetDevices, encoder: &mut DescriptorEncoder) -> fmt::Result {
    gauges(
        encoder,
        "ipvs_netdev_queues",
        "Receive and transmit queues of the device (sysfs).",
        None,
        net.devices.iter().flat_map(|d| {
            [("rx", d.rx_queues.len()), ("tx", d.tx_queues.len())].map(|(direction, n)| {
                (
                    [("device", d.name.as_str()), ("direction", direction)],
                    n as u64,
                )
            })
        }),
    )?;
    cpu_list_info(
        encoder,
        "ipvs_netdev_rps_cpus_info",
        "The CPUs a receive queue steers packets to (rps_cpus; empty: RPS off).",
        net.devices.iter().flat_map(|d| {
            d.rx_queues
                .iter()
                .map(move |q| (d.name.as_str(), q.name.as_str(), q.rps_cpus.as_deref()))
        }),
    )?;
    gauges(
        encoder,
        "ipvs_netdev_rps_flow_table_entries",
        "Entries of the receive queue's RFS flow table (rps_flow_cnt).",
        None,
        net.devices.iter().flat_map(|d| {
            d.rx_queues.iter().filter_map(move |q| {
                q.rps_flow_count
                    .map(|n| ([("device", d.name.as_str()), ("queue", q.name.as_str())], n))
            })
        }),
    )?;
    cpu_list_info(
        encoder,
        "ipvs_netdev_xps_cpus_info",
        "The CPUs that transmit on a queue (xps_cpus; empty: XPS off).",
        net.devices.iter().flat_map(|d| {
            d.tx_queues
                .iter()
                .map(move |q| (d.name.as_str(), q.name.as_str(), q.xps_cpus.as_deref()))
        }),
    )?;
    gauges(
        encoder,
        "ipvs_rps_sock_flow_entries",
        "The global RFS socket flow table size (net.core.rps_sock_flow_entries; 0: RFS off).",
        None,
        net.rps_sock_flow_entries
            .map(|n| (NO_LABELS, n))
            .into_iter(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imbalance_has_the_documented_answers() {
        // All on one CPU while the others idle.
        assert_eq!(interrupt_imbalance(&[4000, 0, 0, 0], 4), Some(1.0));
        // Perfectly spread.
        assert_eq!(interrupt_imbalance(&[1000, 1000, 1000, 1000], 4), Some(0.0));
        // In between: half on each of two CPUs out of four.
        let between = interrupt_imbalance(&[2000, 2000, 0, 0], 4).expect("defined");
        assert!((between - 1.0 / 3.0).abs() < 1e-9, "{between}");
        // Two queues on 64 CPUs, one CPU each: as even as two queues allow.
        let mut wide = vec![0u64; 64];
        wide[3] = 500;
        wide[40] = 500;
        assert_eq!(interrupt_imbalance(&wide, 2), Some(0.0));
        // Nothing to say: no interrupts, one queue, one CPU.
        assert_eq!(interrupt_imbalance(&[0, 0], 2), None);
        assert_eq!(interrupt_imbalance(&[10, 0], 1), None);
        assert_eq!(interrupt_imbalance(&[10], 4), None);
    }
}
