//! Parsers for interrupt and CPU-set files: `/proc/interrupts` (a header of CPU columns, then
//! one line per IRQ: counts per CPU, the interrupt chip, the hardware IRQ and trigger type,
//! and the names of the handlers), hexadecimal CPU masks (`rps_cpus`, `xps_cpus`), and the
//! queue an IRQ serves as its handler's name tells.
//!
//! ```text
//!            CPU0       CPU1
//!  38:          0      13716  PCI-MSIX-0000:00:03.0   1-edge      virtio2-input.0
//!  NMI:         0          0   Non-maskable interrupts
//! ```

use super::{LineProblem, Parsed, excerpt};

/// The parsed `/proc/interrupts`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InterruptTable {
    /// The CPU of each count column (online CPUs only; numbers can have gaps).
    pub cpus: Vec<u32>,
    /// Numbered IRQs; the architecture's named lines (NMI, LOC, ...) are left out.
    pub lines: Vec<InterruptLine>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InterruptLine {
    pub irq: u32,
    /// One count per column of [`InterruptTable::cpus`].
    pub per_cpu: Vec<u64>,
    /// The handlers' names (`eth0-TxRx-0`, `virtio2-input.0`, `mlx5_comp3@pci:0000:3b:00.0`).
    pub actions: Vec<String>,
}

/// Parses the text of `/proc/interrupts`.
pub fn parse_interrupts(text: &str) -> Parsed<InterruptTable> {
    let mut table = InterruptTable::default();
    let mut problems = Vec::new();
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, header)) => {
            for word in header.split_whitespace() {
                match word.strip_prefix("CPU").and_then(|n| n.parse().ok()) {
                    Some(cpu) => table.cpus.push(cpu),
                    None => problems.push(LineProblem {
                        line: 1,
                        reason: format!("header column {word:?} is not CPUn"),
                    }),
                }
            }
        }
        None => {
            return Parsed {
                value: table,
                problems,
            };
        }
    }
    for (index, line) in lines {
        let Some((label, rest)) = line.split_once(':') else {
            if !line.trim().is_empty() {
                problems.push(LineProblem {
                    line: index + 1,
                    reason: format!("no ':' after the IRQ: {}", excerpt(line)),
                });
            }
            continue;
        };
        let Ok(irq) = label.trim().parse::<u32>() else {
            continue; // NMI, LOC, ERR, MIS...: not a device's interrupt
        };
        let mut words = rest.split_whitespace();
        let per_cpu: Option<Vec<u64>> = (&mut words)
            .take(table.cpus.len())
            .map(|w| w.parse().ok())
            .collect();
        let per_cpu = match per_cpu {
            Some(counts) if counts.len() == table.cpus.len() => counts,
            _ => {
                problems.push(LineProblem {
                    line: index + 1,
                    reason: format!(
                        "expected {} counts after IRQ {irq}: {}",
                        table.cpus.len(),
                        excerpt(line)
                    ),
                });
                continue;
            }
        };
        let description: Vec<&str> = words.collect();
        table.lines.push(InterruptLine {
            irq,
            per_cpu,
            actions: actions_of(&description),
        });
    }
    Parsed {
        value: table,
        problems,
    }
}

/// Whether a word is the hardware IRQ and flow type: `1-edge`, `9-fasteoi`, `524288-edge`.
fn is_hwirq_and_type(word: &str) -> bool {
    word.rsplit_once('-').is_some_and(|(hwirq, flow)| {
        !hwirq.is_empty()
            && hwirq.bytes().all(|b| b.is_ascii_digit())
            && !flow.is_empty()
            && flow.bytes().all(|b| b.is_ascii_alphabetic())
    })
}

/// The handler names: what follows the hardware IRQ and type, comma separated.
fn actions_of(description: &[&str]) -> Vec<String> {
    let after_type = description
        .iter()
        .position(|w| is_hwirq_and_type(w))
        .map_or(description.len().saturating_sub(1), |at| at + 1);
    description
        .get(after_type..)
        .unwrap_or(&[])
        .join(" ")
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_string)
        .collect()
}

/// The queue an IRQ serves, from a handler name that starts with one of the device's names:
/// `eth0-TxRx-3` gives `TxRx-3`, `virtio2-input.0` gives `input.0`, `i40e-eth0-TxRx-1` gives
/// `TxRx-1`, `mlx5_comp3@pci:0000:3b:00.0` gives `comp3`. `None` when the name says nothing
/// beyond the device.
pub fn queue_of(action: &str, device_names: &[&str]) -> Option<String> {
    for name in device_names.iter().filter(|n| !n.is_empty()) {
        let start = match action.find(name) {
            Some(at) => at + name.len(),
            None => continue,
        };
        let rest = action.get(start..).unwrap_or("");
        let rest = rest.trim_start_matches(['-', '_', ':']);
        let queue = rest.split('@').next().unwrap_or("");
        if !queue.is_empty() {
            return Some(queue.to_string());
        }
        return None;
    }
    // mlx5-style names carry the PCI address after '@', not the device name.
    action
        .split_once('@')
        .map(|(queue, _)| queue.trim_start_matches("mlx5_").to_string())
        .filter(|q| !q.is_empty())
}

/// Turns a hexadecimal CPU mask (`00000000,0000000f`, 32-bit groups, most significant first)
/// into a CPU list (`0-3`); an all-zero mask gives an empty list. `None` when not a mask.
pub fn cpu_mask_to_list(mask: &str) -> Option<String> {
    let mut cpus = Vec::new();
    let groups: Vec<&str> = mask.trim().split(',').collect();
    for (position, group) in groups.iter().rev().enumerate() {
        let bits = u32::from_str_radix(group, 16).ok()?;
        let first = u32::try_from(position).ok()?.checked_mul(32)?;
        for bit in 0..32u32 {
            if bits & (1 << bit) != 0 {
                cpus.push(first.checked_add(bit)?);
            }
        }
    }
    Some(format_cpu_list(&cpus))
}

/// Writes sorted CPU numbers as ranges: `0-3,8,10-11`.
pub fn format_cpu_list(cpus: &[u32]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut iter = cpus.iter().copied().peekable();
    while let Some(first) = iter.next() {
        let mut last = first;
        while iter.peek() == Some(&(last + 1)) {
            last += 1;
            iter.next();
        }
        parts.push(if first == last {
            first.to_string()
        } else {
            format!("{first}-{last}")
        });
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This machine (two CPUs, virtio_net), abridged.
    const VIRTIO_2CPU: &str = include_str!("../../tests/fixtures/interrupts/virtio-2cpu.txt");
    /// An ixgbe-style NIC on 4 CPUs, one IRQ per TxRx queue and one for link events.
    const IXGBE_4CPU: &str = include_str!("../../tests/fixtures/interrupts/ixgbe-4cpu.txt");
    /// An mlx5-style NIC: completion IRQs named by PCI address, not by the device.
    const MLX5_4CPU: &str = include_str!("../../tests/fixtures/interrupts/mlx5-4cpu.txt");
    /// 64 CPUs, a NIC whose 8 queues' interrupts all land on CPU 0.
    const I40E_64CPU: &str = include_str!("../../tests/fixtures/interrupts/i40e-64cpu.txt");

    #[test]
    fn virtio_lines_and_their_queues() {
        let parsed = parse_interrupts(VIRTIO_2CPU);
        assert_eq!(parsed.problems, vec![]);
        let table = parsed.value;
        assert_eq!(table.cpus, vec![0, 1]);
        let input = table.lines.iter().find(|l| l.irq == 38).expect("irq 38");
        assert_eq!(input.per_cpu, vec![0, 13746]);
        assert_eq!(input.actions, vec!["virtio2-input.0"]);
        assert_eq!(
            queue_of("virtio2-input.0", &["eth0", "virtio2"]).as_deref(),
            Some("input.0")
        );
        assert!(table.lines.iter().all(|l| l.per_cpu.len() == 2));
    }

    #[test]
    fn ixgbe_and_mlx5_names() {
        let ixgbe = parse_interrupts(IXGBE_4CPU).value;
        let queues: Vec<Option<String>> = ixgbe
            .lines
            .iter()
            .filter(|l| l.actions.iter().any(|a| a.starts_with("eth2")))
            .map(|l| queue_of(&l.actions[0], &["eth2"]))
            .collect();
        assert_eq!(
            queues,
            vec![
                Some("TxRx-0".to_string()),
                Some("TxRx-1".to_string()),
                Some("TxRx-2".to_string()),
                Some("TxRx-3".to_string()),
                None
            ]
        );
        let mlx5 = parse_interrupts(MLX5_4CPU).value;
        let comp = mlx5
            .lines
            .iter()
            .find(|l| l.actions.iter().any(|a| a.starts_with("mlx5_comp2")))
            .expect("mlx5_comp2");
        assert_eq!(
            queue_of(&comp.actions[0], &["ens1f0"]).as_deref(),
            Some("comp2")
        );
    }

    #[test]
    fn sixty_four_cpus_and_shared_lines() {
        let parsed = parse_interrupts(I40E_64CPU);
        assert_eq!(parsed.problems, vec![]);
        assert_eq!(parsed.value.cpus.len(), 64);
        assert_eq!(parsed.value.cpus.last(), Some(&63));
        let shared = parsed
            .value
            .lines
            .iter()
            .find(|l| l.irq == 16)
            .expect("irq 16");
        assert_eq!(shared.actions, vec!["ehci_hcd:usb1", "i801_smbus"]);
    }

    #[test]
    fn odd_lines_are_reported_not_fatal() {
        let text = "           CPU0       CPU1\n  1:          9\n  2:  x y IO-APIC 2-edge timer\n \
                    3:  1 2 IO-APIC 3-edge ok\nNMI: 0 0 Non-maskable interrupts\ngarbage\n";
        let parsed = parse_interrupts(text);
        assert_eq!(parsed.value.lines.len(), 1);
        assert_eq!(parsed.problems.len(), 3);
        assert_eq!(parse_interrupts("").value, InterruptTable::default());
    }

    #[test]
    fn masks_become_lists() {
        assert_eq!(cpu_mask_to_list("0").as_deref(), Some(""));
        assert_eq!(cpu_mask_to_list("f").as_deref(), Some("0-3"));
        assert_eq!(
            cpu_mask_to_list("00000000,00000103\n").as_deref(),
            Some("0-1,8")
        );
        assert_eq!(cpu_mask_to_list("1,00000000").as_deref(), Some("32"));
        assert_eq!(cpu_mask_to_list("zz"), None);
        assert_eq!(format_cpu_list(&[0, 2, 3, 4, 9]), "0,2-4,9");
    }
}
