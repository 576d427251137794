//! Requests and replies of the `SIOCETHTOOL` ioctl (`<linux/ethtool.h>`), as plain bytes.
//!
//! Every ethtool command is a buffer that starts with a `u32` command number; the kernel reads
//! the request from it and writes the reply over it. This module builds those buffers, says
//! how many bytes the kernel may write into each ([`reply_len`], which the source checks before
//! every call), and decodes the replies into model types. Nothing here does I/O.
//!
//! The layouts are `#[repr(C)]` mirrors of the uapi structures in [`crate::netlink::uapi`];
//! offsets and sizes are taken from them with `offset_of!` / `size_of` rather than counted by
//! hand, and the `uapi_headers` test compares every one with the kernel's headers. Integers
//! are in the host's byte order, as the kernel writes them.
//!
//! Decoders never panic: a reply shorter than its structure decodes to `None`, and a count the
//! kernel (or a test) claims beyond what the buffer holds is cut to what it does hold.

use std::collections::HashSet;
use std::mem::{offset_of, size_of};

use crate::model::netdev::{Channels, DriverInfo, Feature, Rings};
use crate::netlink::uapi::{
    ETH_GSTRING_LEN, ETHTOOL_GCHANNELS, ETHTOOL_GDRVINFO, ETHTOOL_GFEATURES, ETHTOOL_GLINKSETTINGS,
    ETHTOOL_GRINGPARAM, ETHTOOL_GSET, ETHTOOL_GSSET_INFO, ETHTOOL_GSTRINGS, EthtoolChannels,
    EthtoolCmd, EthtoolDrvinfo, EthtoolGetFeaturesBlock, EthtoolGfeatures, EthtoolGstrings,
    EthtoolLinkSettings, EthtoolRingparam, EthtoolSsetInfo, SPEED_UNKNOWN,
};

/// The most strings this module asks for in one `ETHTOOL_GSTRINGS` request. The feature set
/// has about 70 names (the kernel's `NETDEV_FEATURE_COUNT`); a count far beyond this is not
/// believed and no buffer is sized from it.
pub const MAX_STRINGS: u32 = 4096;

/// A zeroed command buffer of `len` bytes (at least 4) with `cmd` in its first word.
fn command(cmd: u32, len: usize) -> Vec<u8> {
    let mut buffer = vec![0u8; len.max(4)];
    put_u32(&mut buffer, 0, cmd);
    buffer
}

fn put_u32(buffer: &mut [u8], offset: usize, value: u32) {
    if let Some(slot) = buffer.get_mut(offset..offset + 4) {
        slot.copy_from_slice(&value.to_ne_bytes());
    }
}

fn put_u64(buffer: &mut [u8], offset: usize, value: u64) {
    if let Some(slot) = buffer.get_mut(offset..offset + 8) {
        slot.copy_from_slice(&value.to_ne_bytes());
    }
}

fn u32_at(buffer: &[u8], offset: usize) -> Option<u32> {
    let bytes = buffer.get(offset..offset.checked_add(4)?)?;
    Some(u32::from_ne_bytes(bytes.try_into().ok()?))
}

fn u16_at(buffer: &[u8], offset: usize) -> Option<u16> {
    let bytes = buffer.get(offset..offset.checked_add(2)?)?;
    Some(u16::from_ne_bytes(bytes.try_into().ok()?))
}

fn u64_at(buffer: &[u8], offset: usize) -> Option<u64> {
    let bytes = buffer.get(offset..offset.checked_add(8)?)?;
    Some(u64::from_ne_bytes(bytes.try_into().ok()?))
}

/// A NUL-padded C string field of `len` bytes at `offset`: the bytes before the first NUL (all
/// of them when there is none), invalid UTF-8 replaced.
fn c_string_at(buffer: &[u8], offset: usize, len: usize) -> Option<String> {
    let field = buffer.get(offset..offset.checked_add(len)?)?;
    let end = field.iter().position(|b| *b == 0).unwrap_or(field.len());
    Some(String::from_utf8_lossy(field.get(..end).unwrap_or(field)).into_owned())
}

/// The command number in a buffer's first word.
pub fn command_of(buffer: &[u8]) -> Option<u32> {
    u32_at(buffer, 0)
}

/// How many bytes the kernel may write into `buffer` for the command in it, judged from the
/// request as built here; `None` for a command this module does not build. A buffer shorter
/// than this must not be handed to the kernel.
///
/// - `ETHTOOL_GSSET_INFO`: the header and one count per set asked for in `sset_mask`.
/// - `ETHTOOL_GSTRINGS`: the header and `len` strings. The kernel writes as many strings as
///   the set has *now*, whatever `len` says; for `ETH_SS_FEATURES` that is a constant of the
///   kernel core, not something a driver answers, so the count from `ETHTOOL_GSSET_INFO` holds.
/// - `ETHTOOL_GFEATURES`: the header and at most `size` blocks (the kernel copies the smaller
///   of its own count and `size`).
/// - `ETHTOOL_GLINKSETTINGS`: the header alone while `link_mode_masks_nwords` is not the
///   kernel's own word count (the handshake's first step), else the header and three bitmaps.
pub fn reply_len(buffer: &[u8]) -> Option<usize> {
    match command_of(buffer)? {
        ETHTOOL_GSET => Some(size_of::<EthtoolCmd>()),
        ETHTOOL_GDRVINFO => Some(size_of::<EthtoolDrvinfo>()),
        ETHTOOL_GRINGPARAM => Some(size_of::<EthtoolRingparam>()),
        ETHTOOL_GCHANNELS => Some(size_of::<EthtoolChannels>()),
        ETHTOOL_GSSET_INFO => {
            let mask = u64_at(buffer, offset_of!(EthtoolSsetInfo, sset_mask))?;
            Some(size_of::<EthtoolSsetInfo>() + 4 * mask.count_ones() as usize)
        }
        ETHTOOL_GSTRINGS => {
            let len = u32_at(buffer, offset_of!(EthtoolGstrings, len))?;
            Some(size_of::<EthtoolGstrings>() + ETH_GSTRING_LEN * len as usize)
        }
        ETHTOOL_GFEATURES => {
            let size = u32_at(buffer, offset_of!(EthtoolGfeatures, size))?;
            Some(
                size_of::<EthtoolGfeatures>()
                    + size_of::<EthtoolGetFeaturesBlock>() * size as usize,
            )
        }
        ETHTOOL_GLINKSETTINGS => {
            let nwords = link_mode_masks_nwords(buffer)?;
            let words = usize::try_from(nwords).unwrap_or(0);
            Some(size_of::<EthtoolLinkSettings>() + 3 * 4 * words)
        }
        _ => None,
    }
}

/// `ETHTOOL_GDRVINFO`.
pub fn drvinfo_request() -> Vec<u8> {
    command(ETHTOOL_GDRVINFO, size_of::<EthtoolDrvinfo>())
}

/// `ETHTOOL_GCHANNELS`.
pub fn channels_request() -> Vec<u8> {
    command(ETHTOOL_GCHANNELS, size_of::<EthtoolChannels>())
}

/// `ETHTOOL_GRINGPARAM`.
pub fn rings_request() -> Vec<u8> {
    command(ETHTOOL_GRINGPARAM, size_of::<EthtoolRingparam>())
}

/// `ETHTOOL_GSET`.
pub fn legacy_settings_request() -> Vec<u8> {
    command(ETHTOOL_GSET, size_of::<EthtoolCmd>())
}

/// `ETHTOOL_GSSET_INFO` for one string set.
pub fn sset_info_request(set: u32) -> Vec<u8> {
    let mut buffer = command(ETHTOOL_GSSET_INFO, size_of::<EthtoolSsetInfo>() + 4);
    let mask = 1u64.checked_shl(set).unwrap_or(0);
    put_u64(&mut buffer, offset_of!(EthtoolSsetInfo, sset_mask), mask);
    buffer
}

/// `ETHTOOL_GSTRINGS` for `count` strings of `set`; `None` when `count` is beyond
/// [`MAX_STRINGS`].
pub fn strings_request(set: u32, count: u32) -> Option<Vec<u8>> {
    if count > MAX_STRINGS {
        return None;
    }
    let len = size_of::<EthtoolGstrings>() + ETH_GSTRING_LEN * count as usize;
    let mut buffer = command(ETHTOOL_GSTRINGS, len);
    put_u32(&mut buffer, offset_of!(EthtoolGstrings, string_set), set);
    put_u32(&mut buffer, offset_of!(EthtoolGstrings, len), count);
    Some(buffer)
}

/// `ETHTOOL_GFEATURES` with room for `count` features; `None` when `count` is beyond
/// [`MAX_STRINGS`].
pub fn features_request(count: u32) -> Option<Vec<u8>> {
    if count > MAX_STRINGS {
        return None;
    }
    let blocks = count.div_ceil(32);
    let len =
        size_of::<EthtoolGfeatures>() + size_of::<EthtoolGetFeaturesBlock>() * blocks as usize;
    let mut buffer = command(ETHTOOL_GFEATURES, len);
    put_u32(&mut buffer, offset_of!(EthtoolGfeatures, size), blocks);
    Some(buffer)
}

/// `ETHTOOL_GLINKSETTINGS` with room for three bitmaps of `nwords` words; 0 is the first step
/// of the handshake, which asks the kernel for its word count.
pub fn link_settings_request(nwords: u8) -> Vec<u8> {
    let nwords = nwords.min(i8::MAX as u8);
    let len = size_of::<EthtoolLinkSettings>() + 3 * 4 * usize::from(nwords);
    let mut buffer = command(ETHTOOL_GLINKSETTINGS, len);
    if let Some(slot) = buffer.get_mut(offset_of!(EthtoolLinkSettings, link_mode_masks_nwords)) {
        *slot = nwords;
    }
    buffer
}

fn link_mode_masks_nwords(buffer: &[u8]) -> Option<i8> {
    let byte = *buffer.get(offset_of!(EthtoolLinkSettings, link_mode_masks_nwords))?;
    Some(i8::from_ne_bytes([byte]))
}

/// The handshake's first reply: the kernel answers a word count it does not use with its own,
/// negated. `None` when the reply does not say (a positive or zero count).
pub fn link_settings_nwords(reply: &[u8]) -> Option<u8> {
    let nwords = link_mode_masks_nwords(reply)?;
    if nwords < 0 {
        nwords.checked_neg().and_then(|n| u8::try_from(n).ok())
    } else {
        None
    }
}

/// A link speed in Mb/s as drivers report it; `None` for unknown. Like ethtool, 0 and the
/// 16-bit `SPEED_UNKNOWN` of old drivers (65535) are taken as unknown too.
pub fn speed_from_raw(raw: u32) -> Option<u32> {
    match raw {
        0 | 0xffff | SPEED_UNKNOWN => None,
        mbps => Some(mbps),
    }
}

/// The speed in an `ETHTOOL_GLINKSETTINGS` reply (its second step).
pub fn link_settings_speed(reply: &[u8]) -> Option<u32> {
    speed_from_raw(u32_at(reply, offset_of!(EthtoolLinkSettings, speed))?)
}

/// The speed in an `ETHTOOL_GSET` reply: `speed_hi` is its upper 16 bits.
pub fn legacy_settings_speed(reply: &[u8]) -> Option<u32> {
    let low = u16_at(reply, offset_of!(EthtoolCmd, speed))?;
    let high = u16_at(reply, offset_of!(EthtoolCmd, speed_hi))?;
    speed_from_raw(u32::from(high) << 16 | u32::from(low))
}

/// An `ETHTOOL_GDRVINFO` reply.
pub fn driver_info(reply: &[u8]) -> Option<DriverInfo> {
    if reply.len() < size_of::<EthtoolDrvinfo>() {
        return None;
    }
    let field = |offset| c_string_at(reply, offset, 32);
    Some(DriverInfo {
        driver: field(offset_of!(EthtoolDrvinfo, driver))?,
        version: field(offset_of!(EthtoolDrvinfo, version))?,
        firmware_version: field(offset_of!(EthtoolDrvinfo, fw_version))?,
        bus_info: field(offset_of!(EthtoolDrvinfo, bus_info))?,
    })
}

/// An `ETHTOOL_GCHANNELS` reply.
pub fn channels(reply: &[u8]) -> Option<Channels> {
    if reply.len() < size_of::<EthtoolChannels>() {
        return None;
    }
    let word = |offset| u32_at(reply, offset);
    Some(Channels {
        rx: word(offset_of!(EthtoolChannels, rx_count))?,
        tx: word(offset_of!(EthtoolChannels, tx_count))?,
        other: word(offset_of!(EthtoolChannels, other_count))?,
        combined: word(offset_of!(EthtoolChannels, combined_count))?,
        max_rx: word(offset_of!(EthtoolChannels, max_rx))?,
        max_tx: word(offset_of!(EthtoolChannels, max_tx))?,
        max_other: word(offset_of!(EthtoolChannels, max_other))?,
        max_combined: word(offset_of!(EthtoolChannels, max_combined))?,
    })
}

/// An `ETHTOOL_GRINGPARAM` reply.
pub fn rings(reply: &[u8]) -> Option<Rings> {
    if reply.len() < size_of::<EthtoolRingparam>() {
        return None;
    }
    let word = |offset| u32_at(reply, offset);
    Some(Rings {
        rx: word(offset_of!(EthtoolRingparam, rx_pending))?,
        rx_mini: word(offset_of!(EthtoolRingparam, rx_mini_pending))?,
        rx_jumbo: word(offset_of!(EthtoolRingparam, rx_jumbo_pending))?,
        tx: word(offset_of!(EthtoolRingparam, tx_pending))?,
        max_rx: word(offset_of!(EthtoolRingparam, rx_max_pending))?,
        max_rx_mini: word(offset_of!(EthtoolRingparam, rx_mini_max_pending))?,
        max_rx_jumbo: word(offset_of!(EthtoolRingparam, rx_jumbo_max_pending))?,
        max_tx: word(offset_of!(EthtoolRingparam, tx_max_pending))?,
    })
}

/// The count of `set` in an `ETHTOOL_GSSET_INFO` reply; `None` when the kernel cleared the
/// set's bit (it does not know the set, or the driver has none).
pub fn sset_count(reply: &[u8], set: u32) -> Option<u32> {
    let mask = u64_at(reply, offset_of!(EthtoolSsetInfo, sset_mask))?;
    let bit = 1u64.checked_shl(set)?;
    if mask & bit == 0 {
        return None;
    }
    // Counts follow in the order of the mask's bits: this set's is after one per lower bit.
    let position = (mask & (bit - 1)).count_ones() as usize;
    u32_at(reply, size_of::<EthtoolSsetInfo>() + 4 * position)
}

/// The strings of an `ETHTOOL_GSTRINGS` reply, as many as its `len` says and the buffer
/// holds, whichever is fewer. A string without a NUL is taken whole.
pub fn strings(reply: &[u8]) -> Vec<String> {
    let Some(len) = u32_at(reply, offset_of!(EthtoolGstrings, len)) else {
        return Vec::new();
    };
    let data = reply.get(size_of::<EthtoolGstrings>()..).unwrap_or(&[]);
    data.chunks_exact(ETH_GSTRING_LEN)
        .take(len as usize)
        .filter_map(|slot| c_string_at(slot, 0, ETH_GSTRING_LEN))
        .collect()
}

/// One `struct ethtool_get_features_block`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FeatureBlock {
    /// Features the driver lets be changed (`hw_features`).
    pub available: u32,
    /// Features asked for (`wanted_features`).
    pub requested: u32,
    /// Features on (`features`).
    pub active: u32,
    /// Features the kernel never lets be changed (`NETIF_F_NEVER_CHANGE`).
    pub never_changed: u32,
}

/// The blocks of an `ETHTOOL_GFEATURES` reply, as many as its `size` says and the buffer
/// holds, whichever is fewer.
pub fn feature_blocks(reply: &[u8]) -> Vec<FeatureBlock> {
    let Some(size) = u32_at(reply, offset_of!(EthtoolGfeatures, size)) else {
        return Vec::new();
    };
    let data = reply.get(size_of::<EthtoolGfeatures>()..).unwrap_or(&[]);
    data.chunks_exact(size_of::<EthtoolGetFeaturesBlock>())
        .take(size as usize)
        .filter_map(|block| {
            let word = |offset| u32_at(block, offset);
            Some(FeatureBlock {
                available: word(offset_of!(EthtoolGetFeaturesBlock, available))?,
                requested: word(offset_of!(EthtoolGetFeaturesBlock, requested))?,
                active: word(offset_of!(EthtoolGetFeaturesBlock, active))?,
                never_changed: word(offset_of!(EthtoolGetFeaturesBlock, never_changed))?,
            })
        })
        .collect()
}

/// Features by name: feature `i` is bit `i % 32` of block `i / 32`. `enabled` is the active
/// bit; `fixed` is what ethtool shows as `[fixed]`: not available to change, or never
/// changeable. Unnamed bits, names without a block, and repeats of a name are left out.
pub fn features(names: &[String], blocks: &[FeatureBlock]) -> Vec<Feature> {
    let mut seen = HashSet::new();
    names
        .iter()
        .enumerate()
        .filter_map(|(index, name)| {
            if name.is_empty() || !seen.insert(name.as_str()) {
                return None;
            }
            let block = blocks.get(index / 32)?;
            let bit = 1u32 << (index % 32);
            Some(Feature {
                name: name.clone(),
                enabled: block.active & bit != 0,
                fixed: block.available & bit == 0 || block.never_changed & bit != 0,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::uapi::ETH_SS_FEATURES;

    fn words(values: &[u32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_ne_bytes()).collect()
    }

    fn name_slot(name: &str) -> Vec<u8> {
        let mut slot = name.as_bytes().to_vec();
        slot.resize(ETH_GSTRING_LEN, 0);
        slot
    }

    #[test]
    fn layouts_have_the_kernels_sizes_and_offsets() {
        assert_eq!(size_of::<EthtoolDrvinfo>(), 196);
        assert_eq!(offset_of!(EthtoolDrvinfo, bus_info), 100);
        assert_eq!(size_of::<EthtoolChannels>(), 36);
        assert_eq!(size_of::<EthtoolRingparam>(), 36);
        assert_eq!(size_of::<EthtoolSsetInfo>(), 16);
        assert_eq!(size_of::<EthtoolGstrings>(), 12);
        assert_eq!(size_of::<EthtoolGfeatures>(), 8);
        assert_eq!(size_of::<EthtoolGetFeaturesBlock>(), 16);
        assert_eq!(size_of::<EthtoolLinkSettings>(), 48);
        assert_eq!(offset_of!(EthtoolLinkSettings, link_mode_masks_nwords), 15);
        assert_eq!(size_of::<EthtoolCmd>(), 44);
        assert_eq!(offset_of!(EthtoolCmd, speed_hi), 28);
    }

    #[test]
    fn every_request_is_as_long_as_its_reply() {
        let requests = [
            drvinfo_request(),
            channels_request(),
            rings_request(),
            legacy_settings_request(),
            sset_info_request(ETH_SS_FEATURES),
            strings_request(ETH_SS_FEATURES, 66).expect("small count"),
            features_request(66).expect("small count"),
            link_settings_request(0),
            link_settings_request(4),
        ];
        for request in requests {
            assert_eq!(reply_len(&request), Some(request.len()), "{request:?}");
        }
        assert_eq!(features_request(66).map(|r| r.len()), Some(8 + 3 * 16));
        assert_eq!(link_settings_request(4).len(), 48 + 48);
        assert_eq!(reply_len(&[0x99, 0, 0, 0]), None);
        assert_eq!(reply_len(&[1, 0]), None);
    }

    #[test]
    fn counts_beyond_the_limit_build_no_buffer() {
        assert_eq!(strings_request(ETH_SS_FEATURES, u32::MAX), None);
        assert_eq!(features_request(MAX_STRINGS + 1), None);
        // A word count the kernel could never send is clamped to what an s8 holds.
        assert_eq!(link_settings_request(200).len(), 48 + 12 * 127);
    }

    #[test]
    fn driver_info_stops_each_field_at_its_nul() {
        let mut reply = drvinfo_request();
        let put = |reply: &mut Vec<u8>, offset: usize, text: &[u8]| {
            reply[offset..offset + text.len()].copy_from_slice(text);
        };
        put(&mut reply, 4, b"virtio_net\0junk");
        put(&mut reply, 36, b"1.0.0");
        put(&mut reply, 100, b"0000:00:03.0");
        // A field that fills all 32 bytes has no NUL; it is taken whole, not run on.
        put(&mut reply, 132, &[b'e'; 32]);
        assert_eq!(
            driver_info(&reply),
            Some(DriverInfo {
                driver: "virtio_net".into(),
                version: "1.0.0".into(),
                firmware_version: String::new(),
                bus_info: "0000:00:03.0".into(),
            })
        );
        put(&mut reply, 68, &[b'f'; 32]);
        assert_eq!(
            driver_info(&reply).map(|d| d.firmware_version),
            Some("f".repeat(32))
        );
        put(&mut reply, 4, &[0xff, 0xfe, 0]);
        assert_eq!(
            driver_info(&reply).map(|d| d.driver),
            Some("\u{fffd}\u{fffd}".into())
        );
        assert_eq!(driver_info(&reply[..195]), None);
        assert_eq!(driver_info(&[]), None);
    }

    #[test]
    fn channels_and_rings_put_current_and_maximum_apart() {
        let reply = words(&[ETHTOOL_GCHANNELS, 8, 8, 1, 16, 4, 4, 1, 2]);
        assert_eq!(
            channels(&reply),
            Some(Channels {
                rx: 4,
                tx: 4,
                other: 1,
                combined: 2,
                max_rx: 8,
                max_tx: 8,
                max_other: 1,
                max_combined: 16,
            })
        );
        assert_eq!(channels(&reply[..35]), None);
        let reply = words(&[ETHTOOL_GRINGPARAM, 4096, 0, 0, 4096, 1024, 0, 0, 512]);
        assert_eq!(
            rings(&reply),
            Some(Rings {
                rx: 1024,
                rx_mini: 0,
                rx_jumbo: 0,
                tx: 512,
                max_rx: 4096,
                max_rx_mini: 0,
                max_rx_jumbo: 0,
                max_tx: 4096,
            })
        );
        assert_eq!(rings(&reply[..8]), None);
    }

    #[test]
    fn sset_count_finds_the_sets_place_among_the_mask_bits() {
        let mut reply = words(&[ETHTOOL_GSSET_INFO, 0]);
        reply.extend_from_slice(&(1u64 << ETH_SS_FEATURES).to_ne_bytes());
        reply.extend_from_slice(&words(&[66]));
        assert_eq!(sset_count(&reply, ETH_SS_FEATURES), Some(66));
        // Stats (bit 1) and features asked together: the features' count is the second.
        let mut both = words(&[ETHTOOL_GSSET_INFO, 0]);
        both.extend_from_slice(&((1u64 << 1) | (1u64 << ETH_SS_FEATURES)).to_ne_bytes());
        both.extend_from_slice(&words(&[12, 66]));
        assert_eq!(sset_count(&both, ETH_SS_FEATURES), Some(66));
        assert_eq!(sset_count(&both, 1), Some(12));
        // The kernel cleared the bit: no such set.
        let mut cleared = reply.clone();
        cleared[8..16].copy_from_slice(&0u64.to_ne_bytes());
        assert_eq!(sset_count(&cleared, ETH_SS_FEATURES), None);
        // The bit is set but the count is cut off.
        assert_eq!(sset_count(&reply[..18], ETH_SS_FEATURES), None);
        assert_eq!(sset_count(&reply[..4], ETH_SS_FEATURES), None);
        assert_eq!(sset_count(&reply, 64), None);
    }

    #[test]
    fn strings_take_what_the_buffer_holds_when_the_count_lies() {
        let mut reply = words(&[ETHTOOL_GSTRINGS, ETH_SS_FEATURES, 3]);
        for name in ["tx-scatter-gather", "", "rx-gro"] {
            reply.extend_from_slice(&name_slot(name));
        }
        assert_eq!(strings(&reply), ["tx-scatter-gather", "", "rx-gro"]);
        // A count larger than the buffer: the three strings there are, no more.
        let mut lying = reply.clone();
        lying[8..12].copy_from_slice(&1_000_000u32.to_ne_bytes());
        assert_eq!(strings(&lying).len(), 3);
        // A count smaller than the buffer: only that many.
        let mut fewer = reply.clone();
        fewer[8..12].copy_from_slice(&1u32.to_ne_bytes());
        assert_eq!(strings(&fewer), ["tx-scatter-gather"]);
        // A last string cut short is dropped, not read past the end.
        assert_eq!(strings(&reply[..12 + 32 * 2 + 10]).len(), 2);
        assert!(strings(&reply[..7]).is_empty());
        // A string that fills its slot without a NUL is taken whole.
        let mut full = words(&[ETHTOOL_GSTRINGS, ETH_SS_FEATURES, 1]);
        full.extend_from_slice(&[b'x'; 32]);
        assert_eq!(strings(&full), ["x".repeat(32)]);
    }

    #[test]
    fn feature_blocks_take_what_the_buffer_holds_when_the_size_lies() {
        let mut reply = words(&[ETHTOOL_GFEATURES, 2]);
        reply.extend_from_slice(&words(&[0b0110, 0b0101, 0b0101, 0b1000]));
        reply.extend_from_slice(&words(&[1, 1, 1, 0]));
        let blocks = feature_blocks(&reply);
        assert_eq!(
            blocks,
            [
                FeatureBlock {
                    available: 0b0110,
                    requested: 0b0101,
                    active: 0b0101,
                    never_changed: 0b1000,
                },
                FeatureBlock {
                    available: 1,
                    requested: 1,
                    active: 1,
                    never_changed: 0,
                },
            ]
        );
        let mut lying = reply.clone();
        lying[4..8].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert_eq!(feature_blocks(&lying).len(), 2);
        assert_eq!(feature_blocks(&reply[..8 + 16 + 15]).len(), 1);
        assert!(feature_blocks(&reply[..6]).is_empty());
    }

    #[test]
    fn fixed_means_unavailable_or_never_changed() {
        let names: Vec<String> = ["a", "b", "c", "d", "", "a"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let blocks = [FeatureBlock {
            // b and c may be changed, a and d may not; d is also never changed.
            available: 0b0110,
            requested: 0b0011,
            active: 0b1101,
            never_changed: 0b1000,
        }];
        let got = features(&names, &blocks);
        let summary: Vec<(&str, bool, bool)> = got
            .iter()
            .map(|f| (f.name.as_str(), f.enabled, f.fixed))
            .collect();
        // The unnamed bit and the repeated name are left out.
        assert_eq!(
            summary,
            [
                ("a", true, true),
                ("b", false, false),
                ("c", true, false),
                ("d", true, true),
            ]
        );
        // Never changed wins over available.
        let never = [FeatureBlock {
            available: 1,
            never_changed: 1,
            ..FeatureBlock::default()
        }];
        assert!(features(&names[..1], &never)[0].fixed);
    }

    #[test]
    fn names_beyond_the_blocks_are_left_out() {
        let names: Vec<String> = (0..40).map(|i| format!("f{i}")).collect();
        let blocks = [FeatureBlock {
            active: u32::MAX,
            ..FeatureBlock::default()
        }];
        let got = features(&names, &blocks);
        assert_eq!(got.len(), 32);
        assert!(got.iter().all(|f| f.enabled && f.fixed));
        assert!(features(&names, &[]).is_empty());
    }

    #[test]
    fn link_settings_handshake_and_speed() {
        let mut first = link_settings_request(0);
        first[15] = (-3i8).to_ne_bytes()[0];
        assert_eq!(link_settings_nwords(&first), Some(3));
        // A count that is not negative, or a reply too short to hold it, says nothing.
        first[15] = 3;
        assert_eq!(link_settings_nwords(&first), None);
        // -128 would need 128 words, more than the field can ask for in return.
        first[15] = (i8::MIN).to_ne_bytes()[0];
        assert_eq!(link_settings_nwords(&first), None);
        assert_eq!(link_settings_nwords(&first[..15]), None);

        let mut second = link_settings_request(3);
        second[4..8].copy_from_slice(&25_000u32.to_ne_bytes());
        assert_eq!(link_settings_speed(&second), Some(25_000));
        second[4..8].copy_from_slice(&SPEED_UNKNOWN.to_ne_bytes());
        assert_eq!(link_settings_speed(&second), None);
        assert_eq!(link_settings_speed(&second[..7]), None);
    }

    #[test]
    fn legacy_speed_joins_its_two_halves() {
        let mut reply = legacy_settings_request();
        // 100,000 Mb/s = 0x1_86a0: 0x86a0 in `speed`, 1 in `speed_hi`.
        reply[12..14].copy_from_slice(&0x86a0u16.to_ne_bytes());
        reply[28..30].copy_from_slice(&1u16.to_ne_bytes());
        assert_eq!(legacy_settings_speed(&reply), Some(100_000));
        reply[12..14].copy_from_slice(&0xffffu16.to_ne_bytes());
        reply[28..30].copy_from_slice(&0xffffu16.to_ne_bytes());
        assert_eq!(legacy_settings_speed(&reply), None);
        reply[28..30].copy_from_slice(&0u16.to_ne_bytes());
        assert_eq!(legacy_settings_speed(&reply), None, "16-bit SPEED_UNKNOWN");
        assert_eq!(legacy_settings_speed(&reply[..29]), None);
    }

    #[test]
    fn unknown_speeds_are_none() {
        assert_eq!(speed_from_raw(0), None);
        assert_eq!(speed_from_raw(0xffff), None);
        assert_eq!(speed_from_raw(SPEED_UNKNOWN), None);
        assert_eq!(speed_from_raw(10), Some(10));
        assert_eq!(speed_from_raw(400_000), Some(400_000));
    }
}
