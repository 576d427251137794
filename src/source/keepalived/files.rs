//! How the keepalived collector opens the host's files: a path as the host names it, resolved
//! under `--path.rootfs` without leaving it, and a read bounded in size that refuses anything
//! but a regular file.

use std::path::{Path, PathBuf};

use nix::libc;

use crate::source::rootfs::Rootfs;

/// A path as the host names it, under the root the exporter was given, resolved as a process
/// chrooted there would resolve it ([`Rootfs::resolve`]): neither `..` nor a symbolic link
/// leaves the root; a link loop is an error.
pub(super) fn under_root(rootfs: &Rootfs, path: &Path) -> std::io::Result<PathBuf> {
    Ok(rootfs.resolve(path)?)
}

/// Reads at most `max_bytes` of a file as text: a longer file is an error, and so is one that
/// is not a regular file (a FIFO or a device would block or never end).
pub(super) fn read_bounded(path: &Path, max_bytes: usize) -> std::io::Result<String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    // Opened without blocking: opening a FIFO for reading would wait for a writer. Paths
    // come resolved under the root, links and all: a link that appears in the last component
    // since is refused, not followed.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let mut text = Vec::new();
    let limit = u64::try_from(max_bytes)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    file.take(limit).read_to_end(&mut text)?;
    if text.len() > max_bytes {
        return Err(std::io::Error::other(format!(
            "longer than {max_bytes} bytes"
        )));
    }
    String::from_utf8(text).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `path` under `root`, resolved as the collector resolves it.
    fn under(root: &Path, path: &str) -> PathBuf {
        under_root(&Rootfs::new(root), Path::new(path))
            .unwrap_or_else(|e| panic!("{path} under {}: {e}", root.display()))
    }

    #[test]
    fn paths_stay_under_the_root() {
        assert_eq!(
            under(Path::new("/fx"), "/etc/../../k.conf"),
            PathBuf::from("/fx/k.conf")
        );
        assert_eq!(
            under(Path::new("/fx"), "/etc/keepalived/conf.d/../common.conf"),
            PathBuf::from("/fx/etc/keepalived/common.conf")
        );
    }
}
