//! NIC settings from ethtool requests: driver, queue counts, ring sizes, offload features and
//! link speed, one `device` label each. A device whose driver refused a request has no series
//! in that request's families.

use std::fmt;

use prometheus_client::encoding::DescriptorEncoder;

use super::gauges;
use crate::model::netdev::{Channels, Ethtool, Rings};
use crate::model::snapshot::Snapshot;

/// Bytes per second in one Mb/s.
const BYTES_PER_SECOND_PER_MBPS: u64 = 125_000;

type ChannelField = fn(&Channels) -> (u32, u32);
type RingField = fn(&Rings) -> (u32, u32);

/// Queue kinds: the current and the maximum count of each.
const CHANNEL_TYPES: [(&str, ChannelField); 4] = [
    ("rx", |c| (c.rx, c.max_rx)),
    ("tx", |c| (c.tx, c.max_tx)),
    ("other", |c| (c.other, c.max_other)),
    ("combined", |c| (c.combined, c.max_combined)),
];

/// Rings: the current and the maximum size of each.
const RING_TYPES: [(&str, RingField); 4] = [
    ("rx", |r| (r.rx, r.max_rx)),
    ("rx_mini", |r| (r.rx_mini, r.max_rx_mini)),
    ("rx_jumbo", |r| (r.rx_jumbo, r.max_rx_jumbo)),
    ("tx", |r| (r.tx, r.max_tx)),
];

pub(super) fn encode(snapshot: &Snapshot, encoder: &mut DescriptorEncoder) -> fmt::Result {
    let devices: Vec<(&str, &Ethtool)> = snapshot
        .netdev
        .iter()
        .flat_map(|netdev| &netdev.devices)
        .filter_map(|d| d.ethtool.as_ref().map(|e| (d.name.as_str(), e)))
        .collect();
    if devices.is_empty() {
        return Ok(());
    }

    gauges(
        encoder,
        "ipvs_netdev_info",
        "The device's driver, its version, firmware version and bus address (ethtool -i).",
        None,
        devices.iter().filter_map(|(device, e)| {
            let d = e.driver.as_ref()?;
            Some((
                [
                    ("device", *device),
                    ("driver", d.driver.as_str()),
                    ("version", d.version.as_str()),
                    ("firmware_version", d.firmware_version.as_str()),
                    ("bus_info", d.bus_info.as_str()),
                ],
                1u32,
            ))
        }),
    )?;
    encode_sizes(&devices, encoder)?;
    encode_features(&devices, encoder)?;
    gauges(
        encoder,
        "ipvs_netdev_link_speed_bytes_per_second",
        "The link's speed (ethtool: Speed), in bytes per second; absent when unknown.",
        None,
        devices.iter().filter_map(|(device, e)| {
            let mbps = e.speed_mbps?;
            Some((
                [("device", *device)],
                u64::from(mbps) * BYTES_PER_SECOND_PER_MBPS,
            ))
        }),
    )
}

/// The devices with ethtool settings, by name.
type Devices<'a> = [(&'a str, &'a Ethtool)];

/// Queue counts (ethtool -l) and ring sizes (ethtool -g), current and maximum.
fn encode_sizes(devices: &Devices, encoder: &mut DescriptorEncoder) -> fmt::Result {
    let channels: Vec<(&str, &Channels)> = devices
        .iter()
        .filter_map(|(device, e)| e.channels.as_ref().map(|c| (*device, c)))
        .collect();
    let channel_series = |pick: fn((u32, u32)) -> u32| {
        channels.iter().flat_map(move |(device, c)| {
            CHANNEL_TYPES
                .iter()
                .map(move |(kind, field)| ([("device", *device), ("type", *kind)], pick(field(c))))
        })
    };
    gauges(
        encoder,
        "ipvs_netdev_channels",
        "Queues (channels) of each type the device uses now (ethtool -l); 0 for a type it does not have.",
        None,
        channel_series(|(current, _)| current),
    )?;
    gauges(
        encoder,
        "ipvs_netdev_channels_max",
        "The most queues (channels) of each type the device can be given (ethtool -l).",
        None,
        channel_series(|(_, max)| max),
    )?;

    let rings: Vec<(&str, &Rings)> = devices
        .iter()
        .filter_map(|(device, e)| e.rings.as_ref().map(|r| (*device, r)))
        .collect();
    let ring_series = |pick: fn((u32, u32)) -> u32| {
        rings.iter().flat_map(move |(device, r)| {
            RING_TYPES
                .iter()
                .map(move |(ring, field)| ([("device", *device), ("ring", *ring)], pick(field(r))))
        })
    };
    gauges(
        encoder,
        "ipvs_netdev_ring_size",
        "Descriptors in each of the device's rings now (ethtool -g); 0 for a ring it does not have.",
        None,
        ring_series(|(current, _)| current),
    )?;
    gauges(
        encoder,
        "ipvs_netdev_ring_size_max",
        "The most descriptors each of the device's rings can be given (ethtool -g).",
        None,
        ring_series(|(_, max)| max),
    )
}

/// Offload features (ethtool -k): on or off, and whether they can be changed.
fn encode_features(devices: &Devices, encoder: &mut DescriptorEncoder) -> fmt::Result {
    let features = || {
        devices.iter().flat_map(|(device, e)| {
            e.features
                .iter()
                .map(move |f| (*device, f.name.as_str(), f))
        })
    };
    gauges(
        encoder,
        "ipvs_netdev_feature_enabled",
        "1 when the offload feature is on (ethtool -k).",
        None,
        features().map(|(device, name, f)| {
            (
                [("device", device), ("feature", name)],
                u32::from(f.enabled),
            )
        }),
    )?;
    gauges(
        encoder,
        "ipvs_netdev_feature_fixed",
        "1 when the feature cannot be changed on this device (ethtool -k shows [fixed]).",
        None,
        features()
            .map(|(device, name, f)| ([("device", device), ("feature", name)], u32::from(f.fixed))),
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::metrics::{EncodeOptions, Format, encode};
    use crate::model::netdev::{DriverInfo, Feature, NetDevice, NetDevices};

    use super::*;

    fn snapshot() -> Snapshot {
        let eth0 = NetDevice {
            name: "eth0".into(),
            ethtool: Some(Ethtool {
                driver: Some(DriverInfo {
                    driver: "virtio_net".into(),
                    version: "1.0.0".into(),
                    firmware_version: String::new(),
                    bus_info: "0000:00:03.0".into(),
                }),
                channels: Some(Channels {
                    combined: 1,
                    max_combined: 4,
                    ..Channels::default()
                }),
                rings: Some(Rings {
                    rx: 256,
                    tx: 256,
                    max_rx: 1024,
                    max_tx: 1024,
                    ..Rings::default()
                }),
                features: vec![
                    Feature {
                        name: "rx-gro".into(),
                        enabled: true,
                        fixed: false,
                    },
                    Feature {
                        name: "rx-lro".into(),
                        enabled: false,
                        fixed: true,
                    },
                ],
                speed_mbps: Some(25_000),
            }),
            ..NetDevice::default()
        };
        let veth = NetDevice {
            name: "veth0".into(),
            ethtool: Some(Ethtool {
                driver: Some(DriverInfo {
                    driver: "veth".into(),
                    version: "1.0".into(),
                    ..DriverInfo::default()
                }),
                ..Ethtool::default()
            }),
            ..NetDevice::default()
        };
        let silent = NetDevice {
            name: "gone0".into(),
            ..NetDevice::default()
        };
        Snapshot {
            netdev: Some(NetDevices {
                devices: vec![eth0, veth, silent],
                ..NetDevices::default()
            }),
            ..Snapshot::default()
        }
    }

    fn lines(text: &str, prefix: &str) -> Vec<String> {
        text.lines()
            .filter(|l| l.starts_with(prefix))
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn every_family_with_its_labels() {
        let text = encode(
            Arc::new(snapshot()),
            Format::Classic,
            &EncodeOptions::default(),
        );
        assert_eq!(
            lines(&text, "ipvs_netdev_info{"),
            [
                r#"ipvs_netdev_info{device="eth0",driver="virtio_net",version="1.0.0",firmware_version="",bus_info="0000:00:03.0"} 1"#,
                r#"ipvs_netdev_info{device="veth0",driver="veth",version="1.0",firmware_version="",bus_info=""} 1"#,
            ]
        );
        assert_eq!(
            lines(&text, "ipvs_netdev_channels{"),
            [
                r#"ipvs_netdev_channels{device="eth0",type="rx"} 0"#,
                r#"ipvs_netdev_channels{device="eth0",type="tx"} 0"#,
                r#"ipvs_netdev_channels{device="eth0",type="other"} 0"#,
                r#"ipvs_netdev_channels{device="eth0",type="combined"} 1"#,
            ]
        );
        assert!(text.contains("ipvs_netdev_channels_max{device=\"eth0\",type=\"combined\"} 4\n"));
        assert_eq!(
            lines(&text, "ipvs_netdev_ring_size_max{"),
            [
                r#"ipvs_netdev_ring_size_max{device="eth0",ring="rx"} 1024"#,
                r#"ipvs_netdev_ring_size_max{device="eth0",ring="rx_mini"} 0"#,
                r#"ipvs_netdev_ring_size_max{device="eth0",ring="rx_jumbo"} 0"#,
                r#"ipvs_netdev_ring_size_max{device="eth0",ring="tx"} 1024"#,
            ]
        );
        assert!(text.contains("ipvs_netdev_ring_size{device=\"eth0\",ring=\"tx\"} 256\n"));
        assert_eq!(
            lines(&text, "ipvs_netdev_feature_"),
            [
                r#"ipvs_netdev_feature_enabled{device="eth0",feature="rx-gro"} 1"#,
                r#"ipvs_netdev_feature_enabled{device="eth0",feature="rx-lro"} 0"#,
                r#"ipvs_netdev_feature_fixed{device="eth0",feature="rx-gro"} 0"#,
                r#"ipvs_netdev_feature_fixed{device="eth0",feature="rx-lro"} 1"#,
            ]
        );
        assert_eq!(
            lines(&text, "ipvs_netdev_link_speed_bytes_per_second{"),
            [r#"ipvs_netdev_link_speed_bytes_per_second{device="eth0"} 3125000000"#]
        );
        let ethtool_families = [
            "ipvs_netdev_info",
            "ipvs_netdev_channels",
            "ipvs_netdev_ring_size",
            "ipvs_netdev_feature_",
            "ipvs_netdev_link_speed",
        ];
        assert!(
            !text
                .lines()
                .any(|l| l.contains("gone0") && ethtool_families.iter().any(|f| l.starts_with(f))),
            "a device with no answers has no ethtool series"
        );
        assert!(
            !text.contains("veth0\",type"),
            "refused requests have no series"
        );
    }

    #[test]
    fn nothing_without_devices() {
        let text = encode(
            Arc::new(Snapshot::default()),
            Format::Classic,
            &EncodeOptions::default(),
        );
        assert!(!text.contains("ipvs_netdev_"), "{text}");
    }
}
