//! Live: the real exporter on this host's network devices, every ethtool value it reports
//! compared with what the `ethtool` command (Debian package `ethtool`) says about the same
//! device: `ethtool -i` (driver), `-l` (channels), `-g` (rings), `-k` (features by name, on/off
//! and `[fixed]`) and plain `ethtool` (speed). Two kinds of device: `eth0`, the host's NIC,
//! and a veth pair the test creates (root, or CAP_NET_ADMIN, is needed for that).
//!
//! When `ethtool` refuses a request for a device (its exit status), the exporter must have no
//! series for it; when it answers, the exporter must have the same numbers. Running as root,
//! the test also runs the exporter as `nobody` and expects the same series: these requests
//! need no privileges.
//!
//! Tier `test-host`: `cargo test --features test-host --test ethtool_live`.

// Test code: a failed unwrap or index is a failed test (the [lints] table guards src/).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Output};

use support::{Exporter, http_get};

/// One sample: its labels and value.
type Sample = (BTreeMap<String, String>, f64);

/// `/metrics` text by family name.
struct Metrics(BTreeMap<String, Vec<Sample>>);

impl Metrics {
    fn parse(text: &str) -> Metrics {
        let mut families: BTreeMap<String, Vec<Sample>> = BTreeMap::new();
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let (series, value) = line.rsplit_once(' ').expect("sample line has a value");
            let value: f64 = value.parse().expect("numeric sample value");
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (
                    name,
                    parse_labels(rest.strip_suffix('}').expect("labels end with }")),
                ),
                None => (series, BTreeMap::new()),
            };
            families
                .entry(name.to_string())
                .or_default()
                .push((labels, value));
        }
        Metrics(families)
    }

    /// The samples of `family` for `device`.
    fn of(&self, family: &str, device: &str) -> Vec<&Sample> {
        self.0
            .get(family)
            .map(|samples| {
                samples
                    .iter()
                    .filter(|(labels, _)| labels.get("device").map(String::as_str) == Some(device))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The value of `family` for `device` whose label `key` is `value`.
    fn value(&self, family: &str, device: &str, key: &str, value: &str) -> Option<f64> {
        let matching: Vec<f64> = self
            .of(family, device)
            .into_iter()
            .filter(|(labels, _)| labels.get(key).map(String::as_str) == Some(value))
            .map(|(_, v)| *v)
            .collect();
        assert!(
            matching.len() <= 1,
            "{family}{{device={device:?},{key}={value:?}}} is repeated"
        );
        matching.first().copied()
    }
}

/// `a="x",b="y \" z"` -> {a: x, b: y " z}.
fn parse_labels(text: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (key, after) = rest.split_once("=\"").expect("label key");
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next().expect("closing quote") {
                (_, '\\') => match chars.next().expect("escaped char").1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                (i, '"') => break i,
                (_, c) => value.push(c),
            }
        };
        labels.insert(key.to_string(), value);
        rest = after[end + 1..].trim_start_matches(',');
    }
    labels
}

/// Runs `ethtool` with `args`; panics when the command is missing.
fn ethtool(args: &[&str]) -> Output {
    Command::new("ethtool")
        .args(args)
        .output()
        .unwrap_or_else(|err| {
            panic!(
                "cannot run `ethtool {}`: {err}. This test needs the ethtool command \
             (Debian package `ethtool`; tests/run.sh installs it)",
                args.join(" ")
            )
        })
}

/// `ethtool`'s answer when it succeeded, `None` when it refused.
fn ethtool_answer(args: &[&str]) -> Option<String> {
    let out = ethtool(args);
    out.status
        .success()
        .then(|| String::from_utf8(out.stdout).expect("UTF-8 ethtool output"))
}

/// A veth pair, deleted when dropped.
struct Veth {
    names: [String; 2],
}

impl Veth {
    fn create() -> Veth {
        let id = std::process::id() % 100_000;
        let names = [format!("ietA{id}"), format!("ietB{id}")];
        let out = Command::new("ip")
            .args([
                "link", "add", &names[0], "type", "veth", "peer", "name", &names[1],
            ])
            .output()
            .expect("run ip (Debian package iproute2)");
        assert!(
            out.status.success(),
            "`ip link add {} type veth peer name {}` failed (the test needs root or \
             CAP_NET_ADMIN): {}",
            names[0],
            names[1],
            String::from_utf8_lossy(&out.stderr)
        );
        Veth { names }
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        // Deleting one end deletes the pair.
        let _ = Command::new("ip")
            .args(["link", "del", &self.names[0]])
            .status();
    }
}

/// `Key:\tvalue` lines of an ethtool section, `n/a` as 0.
fn section_numbers<'a>(lines: impl Iterator<Item = &'a str>) -> BTreeMap<String, u64> {
    lines
        .filter_map(|line| line.split_once(':'))
        .filter_map(|(key, value)| {
            let value = value.trim();
            let number = if value == "n/a" {
                0
            } else {
                value.parse().ok()?
            };
            Some((key.trim().to_string(), number))
        })
        .collect()
}

/// The "Pre-set maximums" and "Current hardware settings" sections of `ethtool -l` / `-g`.
fn maximums_and_current(text: &str) -> (BTreeMap<String, u64>, BTreeMap<String, u64>) {
    let (_, after_max) = text
        .split_once("Pre-set maximums:")
        .expect("a Pre-set maximums section");
    let (max, current) = after_max
        .split_once("Current hardware settings:")
        .expect("a Current hardware settings section");
    (
        section_numbers(max.lines()),
        section_numbers(current.lines()),
    )
}

fn check_driver(metrics: &Metrics, device: &str) {
    let text = ethtool_answer(&["-i", device]).expect("ethtool -i answers for every device");
    let fields: BTreeMap<&str, &str> = text
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim(), v.trim()))
        .collect();
    let series = metrics.of("ipvs_netdev_info", device);
    assert_eq!(series.len(), 1, "one ipvs_netdev_info for {device}");
    let (labels, value) = series[0];
    assert_eq!(*value, 1.0);
    for (label, key) in [
        ("driver", "driver"),
        ("version", "version"),
        ("firmware_version", "firmware-version"),
        ("bus_info", "bus-info"),
    ] {
        assert_eq!(
            labels.get(label).map(String::as_str),
            fields.get(key).copied(),
            "{device}: {label} against ethtool -i {key}"
        );
    }
    eprintln!("{device}: ethtool -i agrees: {labels:?}");
}

/// Compares `ethtool -l` or `-g` with a current and a maximum family.
fn check_sizes(
    metrics: &Metrics,
    device: &str,
    flag: &str,
    families: [&str; 2],
    label: &str,
    rows: &[(&str, &str)],
) -> bool {
    let Some(text) = ethtool_answer(&[flag, device]) else {
        for family in families {
            assert!(
                metrics.of(family, device).is_empty(),
                "ethtool {flag} {device} is refused, yet the exporter has {family}"
            );
        }
        eprintln!("{device}: ethtool {flag} refused; the exporter has no series either");
        return false;
    };
    let (max, current) = maximums_and_current(&text);
    for (family, numbers) in [(families[0], &current), (families[1], &max)] {
        assert_eq!(
            metrics.of(family, device).len(),
            rows.len(),
            "{family} for {device}"
        );
        for (row, value) in rows {
            let expected = *numbers
                .get(*row)
                .unwrap_or_else(|| panic!("ethtool {flag} {device} has no {row:?} row"));
            assert_eq!(
                metrics.value(family, device, label, value),
                Some(expected as f64),
                "{family}{{device={device:?},{label}={value:?}}} against ethtool {flag} {row:?}"
            );
        }
    }
    eprintln!("{device}: ethtool {flag} agrees: current {current:?}, maximum {max:?}");
    true
}

/// ethtool's legacy names for features (its `off_flag_def` table): `ethtool -k` prints a
/// legacy name in place of the one feature it stands for, or as a heading (with the features'
/// OR) over several, each then printed indented under its own name. A `*` stands for any text.
const LEGACY_NAMES: [(&str, &str); 12] = [
    ("rx-checksumming", "rx-checksum"),
    ("tx-checksumming", "tx-checksum-*"),
    ("scatter-gather", "tx-scatter-gather*"),
    ("tcp-segmentation-offload", "tx-tcp*-segmentation"),
    ("udp-fragmentation-offload", "tx-udp-fragmentation"),
    ("generic-segmentation-offload", "tx-generic-segmentation"),
    ("generic-receive-offload", "rx-gro"),
    ("large-receive-offload", "rx-lro"),
    ("rx-vlan-offload", "rx-vlan-hw-parse"),
    ("tx-vlan-offload", "tx-vlan-hw-insert"),
    ("ntuple-filters", "rx-ntuple-filter"),
    ("receive-hashing", "rx-hashing"),
];

fn pattern_matches(name: &str, pattern: &str) -> bool {
    match pattern.split_once('*') {
        Some((head, tail)) => {
            name.len() >= head.len() + tail.len() && name.starts_with(head) && name.ends_with(tail)
        }
        None => name == pattern,
    }
}

/// One line of `ethtool -k`.
#[derive(Debug)]
struct ShownFeature {
    indented: bool,
    name: String,
    on: bool,
    fixed: bool,
}

fn parse_features(text: &str) -> Vec<ShownFeature> {
    text.lines()
        .skip_while(|l| !l.starts_with("Features for "))
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let (name, state) = line
                .split_once(": ")
                .unwrap_or_else(|| panic!("ethtool -k line {line:?}"));
            let on = match state.split_whitespace().next() {
                Some("on") => true,
                Some("off") => false,
                _ => panic!("ethtool -k line {line:?} is neither on nor off"),
            };
            ShownFeature {
                indented: name.starts_with(char::is_whitespace),
                name: name.trim().to_string(),
                on,
                fixed: state.contains("[fixed]"),
            }
        })
        .collect()
}

fn check_features(metrics: &Metrics, device: &str) -> usize {
    let text = ethtool_answer(&["-k", device]).expect("ethtool -k answers for every device");
    let shown = parse_features(&text);
    assert!(!shown.is_empty(), "ethtool -k {device} shows no feature");

    let mut exported: BTreeMap<String, (bool, bool)> = BTreeMap::new();
    for (labels, value) in metrics.of("ipvs_netdev_feature_enabled", device) {
        exported.insert(labels["feature"].clone(), (*value == 1.0, false));
    }
    for (labels, value) in metrics.of("ipvs_netdev_feature_fixed", device) {
        let entry = exported
            .get_mut(&labels["feature"])
            .unwrap_or_else(|| panic!("{device}: fixed without enabled: {labels:?}"));
        entry.1 = *value == 1.0;
    }
    assert_eq!(
        metrics.of("ipvs_netdev_feature_enabled", device).len(),
        metrics.of("ipvs_netdev_feature_fixed", device).len(),
        "{device}: one fixed series per feature"
    );

    let mut compared: BTreeSet<String> = BTreeSet::new();
    let compare = |kernel_name: &str, line: &ShownFeature, compared: &mut BTreeSet<String>| {
        let Some(&(enabled, fixed)) = exported.get(kernel_name) else {
            panic!("{device}: ethtool -k shows {kernel_name:?} ({line:?}), the exporter does not");
        };
        assert_eq!(
            (enabled, fixed),
            (line.on, line.fixed),
            "{device}: {kernel_name:?} (enabled, fixed) against ethtool -k {line:?}"
        );
        assert!(
            compared.insert(kernel_name.to_string()),
            "{device}: {kernel_name:?} shown twice"
        );
    };

    for line in &shown {
        let legacy = (!line.indented)
            .then(|| LEGACY_NAMES.iter().find(|(long, _)| *long == line.name))
            .flatten();
        let Some((_, pattern)) = legacy else {
            compare(&line.name, line, &mut compared);
            continue;
        };
        let members: Vec<&String> = exported
            .keys()
            .filter(|name| {
                // A feature belongs to the first legacy name whose pattern it matches.
                LEGACY_NAMES
                    .iter()
                    .find(|(_, p)| pattern_matches(name, p))
                    .is_some_and(|(_, p)| p == pattern)
            })
            .collect();
        match members.as_slice() {
            [only] => compare(only, line, &mut compared),
            _ => {
                // A heading: on when any member is; members follow, indented, and are
                // compared by their own names.
                let any_on = members.iter().any(|m| exported[*m].0);
                assert_eq!(
                    any_on, line.on,
                    "{device}: heading {:?} against its features {members:?}",
                    line.name
                );
            }
        }
    }

    let all: BTreeSet<String> = exported.keys().cloned().collect();
    assert_eq!(
        all, compared,
        "{device}: the exporter's features and those ethtool -k shows differ"
    );
    eprintln!(
        "{device}: ethtool -k agrees on {} features ({} on, {} fixed)",
        compared.len(),
        exported.values().filter(|(on, _)| *on).count(),
        exported.values().filter(|(_, fixed)| *fixed).count(),
    );
    compared.len()
}

fn check_speed(metrics: &Metrics, device: &str) {
    let out = ethtool(&[device]);
    let text = String::from_utf8_lossy(&out.stdout);
    let shown = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Speed: "))
        .map(str::to_string);
    let exported: Vec<f64> = metrics
        .of("ipvs_netdev_link_speed_bytes_per_second", device)
        .iter()
        .map(|(_, v)| *v)
        .collect();
    match shown.as_deref().and_then(|s| s.strip_suffix("Mb/s")) {
        Some(mbps) => {
            let mbps: f64 = mbps.parse().expect("speed in Mb/s");
            assert_eq!(exported, [mbps * 125_000.0], "{device}: speed");
        }
        None => assert!(
            exported.is_empty(),
            "{device}: ethtool shows speed {shown:?}, the exporter {exported:?}"
        ),
    }
    eprintln!("{device}: speed agrees: ethtool {shown:?}, exporter {exported:?}");
}

fn scrape(exporter: &Exporter) -> String {
    let response = http_get(exporter.address, "/metrics", &[]);
    assert_eq!(response.status, 200);
    response.body
}

fn exporter_args(devices: &[&str]) -> Vec<String> {
    vec![
        "--no-collector.ipvs".into(),
        "--no-collector.conntrack".into(),
        "--no-collector.softnet".into(),
        "--collector.netdev.device-include".into(),
        format!("^({})$", devices.join("|")),
    ]
}

fn netdev_lines(text: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("ipvs_netdev_"))
        .collect();
    lines.sort_unstable();
    lines
}

#[test]
fn ethtool_settings_match_the_ethtool_command() {
    let version = ethtool(&["--version"]);
    assert!(version.status.success(), "ethtool --version failed");
    eprintln!("{}", String::from_utf8_lossy(&version.stdout).trim());
    assert!(
        std::path::Path::new("/sys/class/net/eth0").exists(),
        "this test compares eth0, and this host has none"
    );

    let veth = Veth::create();
    let devices = ["eth0", veth.names[0].as_str(), veth.names[1].as_str()];
    let exporter = Exporter::start(&exporter_args(&devices));
    let text = scrape(&exporter);
    promtool_accepts(&text);
    let metrics = Metrics::parse(&text);

    for device in devices {
        check_driver(&metrics, device);
        let channels = check_sizes(
            &metrics,
            device,
            "-l",
            ["ipvs_netdev_channels", "ipvs_netdev_channels_max"],
            "type",
            &[
                ("RX", "rx"),
                ("TX", "tx"),
                ("Other", "other"),
                ("Combined", "combined"),
            ],
        );
        let rings = check_sizes(
            &metrics,
            device,
            "-g",
            ["ipvs_netdev_ring_size", "ipvs_netdev_ring_size_max"],
            "ring",
            &[
                ("RX", "rx"),
                ("RX Mini", "rx_mini"),
                ("RX Jumbo", "rx_jumbo"),
                ("TX", "tx"),
            ],
        );
        let features = check_features(&metrics, device);
        check_speed(&metrics, device);
        eprintln!(
            "{device}: channels answered: {channels}, rings answered: {rings}, {features} features"
        );
    }

    // What this host's drivers are known to answer, so that a driver or kernel that changes
    // its answers is noticed rather than compared away.
    let driver = |device: &str| metrics.of("ipvs_netdev_info", device)[0].0["driver"].clone();
    if driver("eth0") == "virtio_net" {
        assert_eq!(metrics.of("ipvs_netdev_channels", "eth0").len(), 4);
        assert_eq!(metrics.of("ipvs_netdev_ring_size", "eth0").len(), 4);
    }
    assert_eq!(driver(devices[1]), "veth");
    assert_eq!(metrics.of("ipvs_netdev_channels", devices[1]).len(), 4);
    assert!(
        metrics
            .of("ipvs_netdev_link_speed_bytes_per_second", devices[1])
            .len()
            == 1,
        "veth reports a speed"
    );

    // The same requests without privileges: the exporter as nobody sees the same.
    if running_as_root() {
        let check = Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "id",
                "-u",
            ])
            .output()
            .expect("run setpriv (Debian package util-linux)");
        assert_eq!(String::from_utf8_lossy(&check.stdout).trim(), "65534");
        let unprivileged = Exporter::start_via(
            &[
                "setpriv",
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
            ],
            &exporter_args(&devices),
        );
        let as_nobody = scrape(&unprivileged);
        assert_eq!(
            netdev_lines(&as_nobody),
            netdev_lines(&text),
            "the exporter as nobody sees other ethtool settings than as root"
        );
        eprintln!(
            "as nobody: the same {} ipvs_netdev_ series",
            netdev_lines(&as_nobody).len()
        );
    }
}

/// `promtool check metrics` says nothing about the scrape (label values from drivers included).
fn promtool_accepts(text: &str) {
    use std::io::Write;
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect(
            "promtool must be installed (Debian package prometheus); the test command installs it",
        );
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(text.as_bytes())
        .expect("write to promtool");
    let out = child.wait_with_output().expect("promtool runs");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool: {said}"
    );
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}
