//! Network device settings through the `SIOCETHTOOL` ioctl: what `ethtool -i`, `-l`, `-g`,
//! `-k` and the link speed of plain `ethtool` show. Every request used here is a GET that the
//! kernel answers without privileges.
//!
//! The requests are byte buffers built and decoded by [`crate::parse::ethtool`]; this module
//! only hands them to the kernel. The one `unsafe` call is in [`EthtoolSocket::ask`], which
//! checks first that the buffer is as long as the most the kernel writes for its command.
//!
//! A driver that refuses a request (`EOPNOTSUPP`, `EINVAL`, ...) costs that request's data only.
//! A device that went away between listing and asking (`ENODEV`) gives `None` as a whole.

use std::os::fd::{AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::libc;
use nix::sys::socket::{AddressFamily, SockFlag, SockType, socket};

use crate::model::netdev::{Ethtool, Feature};
use crate::netlink::uapi::{ETH_SS_FEATURES, IFNAMSIZ};
use crate::parse::ethtool as decode;

/// Asks the driver of `device` for its settings; `None` when it answers no request, when the
/// device is gone, or when the name cannot be a device's.
pub fn read(device: &str) -> Option<Ethtool> {
    let name = DeviceName::new(device)?;
    let socket = EthtoolSocket::open()?;
    match socket.read_all(&name) {
        Ok((ethtool, true)) => Some(ethtool),
        Ok((_, false)) => None,
        Err(Vanished) => {
            tracing::debug!(
                device,
                "device went away while reading its ethtool settings"
            );
            None
        }
    }
}

/// The index the kernel gives `device` in the exporter's own network namespace, the one the
/// ioctls of [`read`] reach; `None` when no device there has that name.
pub fn live_ifindex(device: &str) -> Option<u32> {
    DeviceName::new(device)?;
    nix::net::if_::if_nametoindex(device).ok()
}

/// The device is gone (`ENODEV`).
struct Vanished;

/// A device name as `struct ifreq` holds it: at most 15 bytes, NUL-padded.
struct DeviceName([u8; IFNAMSIZ]);

impl DeviceName {
    fn new(device: &str) -> Option<DeviceName> {
        let bytes = device.as_bytes();
        if bytes.is_empty() || bytes.len() >= IFNAMSIZ || bytes.contains(&0) {
            return None;
        }
        let mut name = [0u8; IFNAMSIZ];
        name.get_mut(..bytes.len())?.copy_from_slice(bytes);
        Some(DeviceName(name))
    }
}

/// `struct ifreq` as `SIOCETHTOOL` reads it: the device name, then (in the union that follows)
/// `ifr_data`, the address of the ethtool command. The union is 24 bytes on 64-bit Linux
/// (16 on 32-bit); the padding makes this at least as large as `struct ifreq` everywhere, so
/// the kernel's copy of the whole structure in and out stays inside it.
#[repr(C)]
struct IfReq {
    ifr_name: [u8; IFNAMSIZ],
    ifr_data: *mut libc::c_void,
    _rest_of_union: [u8; 24],
}

nix::ioctl_readwrite_bad!(
    /// `ioctl(fd, SIOCETHTOOL, &ifreq)`.
    siocethtool,
    libc::SIOCETHTOOL,
    IfReq
);

/// A datagram socket to send ethtool ioctls through. The kernel hands `SIOCETHTOOL` on any
/// socket to the device layer; AF_INET is the usual one, AF_UNIX the fallback on a kernel
/// without IPv4.
struct EthtoolSocket {
    fd: OwnedFd,
}

impl EthtoolSocket {
    fn open() -> Option<EthtoolSocket> {
        let open = |family| socket(family, SockType::Datagram, SockFlag::SOCK_CLOEXEC, None);
        match open(AddressFamily::Inet).or_else(|_| open(AddressFamily::Unix)) {
            Ok(fd) => Some(EthtoolSocket { fd }),
            Err(errno) => {
                tracing::warn!(error = %errno, "cannot open a socket for ethtool requests");
                None
            }
        }
    }

    /// Sends the ethtool command in `buffer` for `device`; the kernel writes its reply over
    /// the buffer.
    fn ask(&self, device: &DeviceName, buffer: &mut [u8]) -> Result<(), Errno> {
        // The kernel writes up to `needed` bytes at `ifr_data`: never hand it less room.
        let Some(needed) = decode::reply_len(buffer) else {
            tracing::warn!(
                command = ?decode::command_of(buffer),
                "refusing to send an ethtool command of unknown reply length"
            );
            return Err(Errno::EINVAL);
        };
        if buffer.len() < needed {
            tracing::warn!(
                command = ?decode::command_of(buffer),
                have = buffer.len(),
                needed,
                "refusing to send an ethtool buffer shorter than its reply"
            );
            return Err(Errno::EMSGSIZE);
        }
        let mut request = IfReq {
            ifr_name: device.0,
            ifr_data: buffer.as_mut_ptr().cast(),
            _rest_of_union: [0; 24],
        };
        // SAFETY: `request` is a live, writable `struct ifreq` (at least its size) with a
        // NUL-terminated name; `ifr_data` points at `buffer`, which stays borrowed mutably for
        // the call and has room for every byte the kernel writes for the command in its first
        // word (checked above). The kernel neither keeps nor frees either pointer.
        unsafe { siocethtool(self.fd.as_raw_fd(), &mut request) }.map(drop)
    }

    /// Sends one request: `Ok(true)` when answered, `Ok(false)` when the driver refused.
    fn answered(
        &self,
        device: &DeviceName,
        what: &'static str,
        buffer: &mut [u8],
    ) -> Result<bool, Vanished> {
        match self.ask(device, buffer) {
            Ok(()) => Ok(true),
            Err(Errno::ENODEV) => Err(Vanished),
            Err(errno) => {
                tracing::debug!(
                    device = %String::from_utf8_lossy(&device.0).trim_end_matches('\0'),
                    request = what,
                    error = %errno,
                    "ethtool request refused"
                );
                Ok(false)
            }
        }
    }

    /// Every request; the bool says whether any was answered.
    fn read_all(&self, device: &DeviceName) -> Result<(Ethtool, bool), Vanished> {
        let mut any = false;

        let mut buffer = decode::drvinfo_request();
        let driver = if self.answered(device, "ETHTOOL_GDRVINFO", &mut buffer)? {
            any = true;
            decode::driver_info(&buffer)
        } else {
            None
        };

        let mut buffer = decode::channels_request();
        let channels = if self.answered(device, "ETHTOOL_GCHANNELS", &mut buffer)? {
            any = true;
            decode::channels(&buffer)
        } else {
            None
        };

        let mut buffer = decode::rings_request();
        let rings = if self.answered(device, "ETHTOOL_GRINGPARAM", &mut buffer)? {
            any = true;
            decode::rings(&buffer)
        } else {
            None
        };

        let features = self.features(device)?;
        any |= features.is_some();

        let speed = self.speed(device)?;
        any |= speed.is_some();

        let ethtool = Ethtool {
            driver,
            channels,
            rings,
            features: features.unwrap_or_default(),
            speed_mbps: speed.flatten(),
        };
        Ok((ethtool, any))
    }

    /// Feature names (`ETHTOOL_GSSET_INFO`, `ETHTOOL_GSTRINGS`) and their state
    /// (`ETHTOOL_GFEATURES`); `None` when a step is refused.
    fn features(&self, device: &DeviceName) -> Result<Option<Vec<Feature>>, Vanished> {
        let set = ETH_SS_FEATURES;
        let mut info = decode::sset_info_request(set);
        if !self.answered(device, "ETHTOOL_GSSET_INFO", &mut info)? {
            return Ok(None);
        }
        let Some(count) = decode::sset_count(&info, set) else {
            return Ok(None);
        };
        // The feature set's size is the kernel's own constant, the same for every device;
        // `strings_request` refuses an unbelievable count before anything is allocated.
        let Some(mut names) = decode::strings_request(set, count) else {
            tracing::warn!(
                count,
                "the kernel claims an unbelievable number of features"
            );
            return Ok(None);
        };
        if !self.answered(device, "ETHTOOL_GSTRINGS", &mut names)? {
            return Ok(None);
        }
        let Some(mut state) = decode::features_request(count) else {
            return Ok(None);
        };
        if !self.answered(device, "ETHTOOL_GFEATURES", &mut state)? {
            return Ok(None);
        }
        Ok(Some(decode::features(
            &decode::strings(&names),
            &decode::feature_blocks(&state),
        )))
    }

    /// The link speed: `ETHTOOL_GLINKSETTINGS` in its two steps (ask with no bitmap words, the
    /// kernel answers how many it wants, ask again with that many), else the legacy
    /// `ETHTOOL_GSET`. `None` when both are refused; `Some(None)` when the speed is unknown.
    fn speed(&self, device: &DeviceName) -> Result<Option<Option<u32>>, Vanished> {
        let mut probe = decode::link_settings_request(0);
        if self.answered(device, "ETHTOOL_GLINKSETTINGS", &mut probe)?
            && let Some(nwords) = decode::link_settings_nwords(&probe)
        {
            let mut settings = decode::link_settings_request(nwords);
            if self.answered(device, "ETHTOOL_GLINKSETTINGS", &mut settings)?
                && decode::link_settings_nwords(&settings).is_none()
            {
                return Ok(Some(decode::link_settings_speed(&settings)));
            }
        }
        let mut legacy = decode::legacy_settings_request();
        if self.answered(device, "ETHTOOL_GSET", &mut legacy)? {
            return Ok(Some(decode::legacy_settings_speed(&legacy)));
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ifreq_is_at_least_as_large_as_the_kernels() {
        assert!(std::mem::size_of::<IfReq>() >= std::mem::size_of::<libc::ifreq>());
        assert_eq!(std::mem::offset_of!(IfReq, ifr_data), IFNAMSIZ);
    }

    #[test]
    fn device_names_that_cannot_be_are_refused() {
        assert!(DeviceName::new("eth0").is_some());
        assert!(DeviceName::new("fifteen-bytes-x").is_some());
        assert!(DeviceName::new("sixteen-bytes-xx").is_none());
        assert!(DeviceName::new("").is_none());
        assert!(DeviceName::new("a\0b").is_none());
    }

    #[test]
    fn a_device_that_does_not_exist_gives_none() {
        assert_eq!(read("ipvsexp-nodev"), None);
        assert_eq!(live_ifindex("ipvsexp-nodev"), None);
        assert_eq!(live_ifindex("sixteen-bytes-xx"), None);
    }

    #[test]
    fn the_live_index_is_the_one_sysfs_shows() {
        // `lo` is the first device of every network namespace.
        assert_eq!(live_ifindex("lo"), Some(1));
        let from_sysfs: u32 = std::fs::read_to_string("/sys/class/net/lo/ifindex")
            .expect("this host's sysfs")
            .trim()
            .parse()
            .expect("a number");
        assert_eq!(live_ifindex("lo"), Some(from_sysfs));
    }

    #[test]
    fn loopback_answers_some_requests() {
        // `lo` exists in every network namespace; its driver answers at least the features.
        let lo = read("lo").expect("lo answers ethtool requests");
        assert!(
            lo.features
                .iter()
                .any(|f| f.name == "loopback" && f.enabled),
            "{lo:?}"
        );
    }
}
