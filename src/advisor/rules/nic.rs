//! Network cards: interrupts spread over CPUs, receive queues and steering, offloads (RHEL
//! performance tuning guide; the kernel's scaling.rst; dev_disable_lro).

use super::{Applies, Rule, Skip};
use crate::advisor::Severity;
use crate::model::netdev::NetDevice;

/// The device's interrupts per CPU: since the previous scrape when known, else since boot.
fn interrupts_per_cpu(device: &NetDevice) -> (Vec<u64>, usize) {
    if let Some(delta) = &device.since_last_scrape {
        return (delta.per_cpu.clone(), delta.active_irqs);
    }
    let width = device.irqs.first().map_or(0, |irq| irq.per_cpu.len());
    let mut sum = vec![0u64; width];
    let mut active = 0;
    for irq in &device.irqs {
        if irq.per_cpu.iter().any(|n| *n > 0) {
            active += 1;
        }
        for (total, n) in sum.iter_mut().zip(&irq.per_cpu) {
            *total += n;
        }
    }
    (sum, active)
}

pub static IRQS_ON_ONE_CPU: Rule = Rule {
    id: "nic-irqs-on-one-cpu",
    severity: Severity::Warning,
    applies: &[Applies::AnyHost],
    what: "A multi-queue NIC's interrupts do not all land on one CPU.",
    why: "A director saturates on packets per second long before bandwidth; if every queue's \
          interrupt goes to one CPU, that CPU does all the receive work while the others idle \
          (RHEL performance tuning guide: spread queue IRQs over CPUs of the NIC's NUMA node).",
    severity_why: "A warning: one CPU doing all of a multi-queue NIC's receive work caps \
          throughput and drops under load, but forwards correctly until then.",
    fix: "Spread the IRQs: run irqbalance, or write a CPU per queue IRQ into \
          /proc/irq/N/smp_affinity_list (made lasting by a udev rule or a unit that runs at \
          boot).",
    check: |context| {
        let net = context.netdev()?;
        if net.cpus.len() < 2 {
            return Ok(Vec::new());
        }
        Ok(net
            .devices
            .iter()
            .filter_map(|device| {
                let (per_cpu, active) = interrupts_per_cpu(device);
                let total: u64 = per_cpu.iter().sum();
                let max = per_cpu.iter().copied().max().unwrap_or(0);
                let (cpu_index, _) = per_cpu.iter().enumerate().max_by_key(|(_, n)| **n)?;
                let cpu = net.cpus.get(cpu_index)?;
                (active >= 2 && total >= 1000 && max * 100 >= total * 95).then(|| {
                    IRQS_ON_ONE_CPU.finding(
                        device.name.clone(),
                        format!(
                            "{:.0} % of {total} interrupts on CPU {cpu}",
                            max as f64 * 100.0 / total as f64
                        ),
                        "spread over the CPUs",
                        format!(
                            "{} queue interrupts of {} land on one CPU",
                            active, device.name
                        ),
                    )
                })
            })
            .collect::<Vec<_>>())
    },
};

pub static FEW_QUEUES_WITHOUT_RPS: Rule = Rule {
    id: "nic-few-queues-without-rps",
    severity: Severity::Info,
    applies: &[Applies::AnyDirector],
    what: "A NIC with fewer receive queues than CPUs spreads work with RPS.",
    why: "Receive work follows the queue's interrupt: with fewer queues than CPUs, the other \
          CPUs help only when Receive Packet Steering hashes flows to them (the kernel's \
          scaling.rst; RHEL performance tuning guide). With as many queues as CPUs, RPS is not \
          needed.",
    severity_why: "Info: without RPS the few queues' CPUs do all the work; the host still \
          forwards, with less headroom.",
    fix: "Enable RPS on each receive queue: echo a CPU mask (for example ff for CPUs 0-7) > \
          /sys/class/net/DEV/queues/rx-N/rps_cpus, with net.core.rps_sock_flow_entries=32768 \
          and rps_flow_cnt = 32768 / queues for RFS; make it last with a udev rule.",
    check: |context| {
        let net = context.netdev()?;
        let cpus = net.cpus.len();
        Ok(net
            .devices
            .iter()
            .filter(|d| !d.irqs.is_empty() && !d.rx_queues.is_empty())
            .filter(|d| d.rx_queues.len() < cpus)
            .filter(|d| {
                d.rx_queues
                    .iter()
                    .all(|q| q.rps_cpus.as_deref().is_none_or(str::is_empty))
            })
            .map(|d| {
                FEW_QUEUES_WITHOUT_RPS.finding(
                    d.name.clone(),
                    format!("{} receive queues, {cpus} CPUs, RPS off", d.rx_queues.len()),
                    "RPS over the CPUs, or a queue per CPU",
                    format!(
                        "{} receives on {} of {cpus} CPUs",
                        d.name,
                        d.rx_queues.len()
                    ),
                )
            })
            .collect::<Vec<_>>())
    },
};

/// Whether a device has the named feature on: `None` when ethtool told nothing.
fn feature(device: &NetDevice, name: &str) -> Option<(bool, bool)> {
    device
        .ethtool
        .as_ref()?
        .features
        .iter()
        .find(|f| f.name == name)
        .map(|f| (f.enabled, f.fixed))
}

pub static LRO_WHILE_FORWARDING: Rule = Rule {
    id: "nic-lro-while-forwarding",
    severity: Severity::Warning,
    applies: &[Applies::AnyHost],
    what: "No NIC has LRO (rx-lro, ethtool's large-receive-offload) on while the host forwards.",
    why: "LRO merges received segments into large packets that cannot be forwarded as they \
          are; the kernel turns LRO off on every device when forwarding is enabled \
          (dev_disable_lro), so LRO still on means a driver that cannot, and forwarded \
          traffic (NAT replies) breaks.",
    severity_why: "A warning: LRO merges packets that a forwarding host must then send on larger \
          than they came (or drop), which breaks some flows.",
    fix: "ethtool -K DEV lro off (made lasting in the interface's configuration, e.g. \
          `post-up ethtool -K DEV lro off` or a systemd .link file); use GRO instead.",
    check: |context| {
        let net = context.netdev()?;
        // An unread ip_forward is not taken for "not forwarding".
        let forwarding = match context.sysctls()?.get("net.ipv4.ip_forward") {
            Some(value) => value == "1",
            None => return Err(Skip("net.ipv4.ip_forward could not be read".into())),
        };
        if !forwarding {
            return Ok(Vec::new());
        }
        if net.devices.iter().all(|d| d.ethtool.is_none()) {
            return Err(Skip("no ethtool data".into()));
        }
        Ok(net
            .devices
            .iter()
            .filter(|d| feature(d, "rx-lro").is_some_and(|(on, _)| on))
            .map(|d| {
                LRO_WHILE_FORWARDING.finding(
                    d.name.clone(),
                    "rx-lro (large-receive-offload) on",
                    "off",
                    format!("{} merges received packets while the host forwards", d.name),
                )
            })
            .collect::<Vec<_>>())
    },
};

pub static GRO_OFF: Rule = Rule {
    id: "nic-gro-off",
    severity: Severity::Info,
    applies: &[Applies::AnyHost],
    what: "GRO (rx-gro, ethtool's generic-receive-offload) is on where a NIC's driver lets it be.",
    why: "GRO merges segments of a flow in software before the stack sees them and splits them \
          again when forwarding, so the stack handles far fewer packets per byte; unlike LRO \
          it is safe for forwarding.",
    severity_why: "Info: GRO off costs CPU per packet; nothing is dropped because of it.",
    fix: "ethtool -K DEV gro on (made lasting as for LRO).",
    check: |context| {
        let net = context.netdev()?;
        if net.devices.iter().all(|d| d.ethtool.is_none()) {
            return Err(Skip("no ethtool data".into()));
        }
        // Devices with interrupts of their own: NICs. Virtual devices (veth, bridges) leave
        // GRO off by default for reasons of their own.
        Ok(net
            .devices
            .iter()
            .filter(|d| !d.irqs.is_empty())
            .filter(|d| feature(d, "rx-gro").is_some_and(|(on, fixed)| !on && !fixed))
            .map(|d| {
                GRO_OFF.finding(
                    d.name.clone(),
                    "rx-gro (generic-receive-offload) off",
                    "on",
                    format!("{} has GRO off", d.name),
                )
            })
            .collect::<Vec<_>>())
    },
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advisor::Role;
    use crate::advisor::rules::Check;
    use crate::advisor::rules::testing::{found_subjects, run, sysctls};
    use crate::model::netdev::{DeviceIrq, Ethtool, Feature, NetDevices, RxQueue};
    use crate::model::snapshot::Snapshot;

    fn nic(irq_counts: &[[u64; 4]], features: &[(&str, bool)]) -> Snapshot {
        Snapshot {
            netdev: Some(NetDevices {
                cpus: vec![0, 1, 2, 3],
                devices: vec![NetDevice {
                    name: "eth0".into(),
                    irqs: irq_counts
                        .iter()
                        .enumerate()
                        .map(|(i, counts)| DeviceIrq {
                            irq: 40 + i as u32,
                            per_cpu: counts.to_vec(),
                            ..DeviceIrq::default()
                        })
                        .collect(),
                    rx_queues: vec![RxQueue {
                        name: "rx-0".into(),
                        rps_cpus: Some(String::new()),
                        rps_flow_count: Some(0),
                    }],
                    ethtool: Some(Ethtool {
                        features: features
                            .iter()
                            .map(|(name, enabled)| Feature {
                                name: name.to_string(),
                                enabled: *enabled,
                                fixed: false,
                            })
                            .collect(),
                        ..Ethtool::default()
                    }),
                    ..NetDevice::default()
                }],
                ..NetDevices::default()
            }),
            sysctl: Some(sysctls(&[("net.ipv4.ip_forward", "1")])),
            ..Snapshot::default()
        }
    }

    #[test]
    fn interrupts_on_one_cpu() {
        let piled = nic(&[[5000, 0, 0, 0], [4000, 10, 0, 0]], &[]);
        assert_eq!(
            found_subjects(&run(&IRQS_ON_ONE_CPU, &piled, &[])),
            vec!["eth0"]
        );
        let spread = nic(&[[5000, 0, 0, 0], [0, 4000, 0, 0]], &[]);
        assert_eq!(run(&IRQS_ON_ONE_CPU, &spread, &[]), Check::Pass);
    }

    #[test]
    fn queues_without_rps() {
        let snapshot = nic(&[[1, 0, 0, 0]], &[]);
        let director = [Role::NatDirector];
        assert_eq!(
            found_subjects(&run(&FEW_QUEUES_WITHOUT_RPS, &snapshot, &director)),
            vec!["eth0"]
        );
        let mut with_rps = snapshot.clone();
        if let Some(net) = with_rps.netdev.as_mut() {
            net.devices[0].rx_queues[0].rps_cpus = Some("0-3".into());
        }
        assert_eq!(
            run(&FEW_QUEUES_WITHOUT_RPS, &with_rps, &director),
            Check::Pass
        );
    }

    #[test]
    fn offloads() {
        let lro = nic(&[[100, 0, 0, 0]], &[("rx-lro", true), ("rx-gro", false)]);
        assert_eq!(
            found_subjects(&run(&LRO_WHILE_FORWARDING, &lro, &[])),
            vec!["eth0"]
        );
        assert_eq!(found_subjects(&run(&GRO_OFF, &lro, &[])), vec!["eth0"]);
        let fine = nic(&[], &[("rx-lro", false), ("rx-gro", true)]);
        assert_eq!(run(&LRO_WHILE_FORWARDING, &fine, &[]), Check::Pass);
        assert_eq!(run(&GRO_OFF, &fine, &[]), Check::Pass);
    }

    /// LRO on, and ip_forward not read: not taken for "not forwarding".
    #[test]
    fn lro_with_unread_forwarding_is_said_to_be_unread() {
        let mut lro = nic(&[[100, 0, 0, 0]], &[("rx-lro", true)]);
        lro.sysctl = Some(sysctls(&[("net.ipv4.conf.all.rp_filter", "0")]));
        assert_eq!(
            run(&LRO_WHILE_FORWARDING, &lro, &[]),
            Check::Skipped("net.ipv4.ip_forward could not be read".into())
        );
        lro.sysctl = Some(sysctls(&[("net.ipv4.ip_forward", "0")]));
        assert_eq!(run(&LRO_WHILE_FORWARDING, &lro, &[]), Check::Pass);
    }
}
