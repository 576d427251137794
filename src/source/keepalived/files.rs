//! How the keepalived collector opens the host's files: a path as the host names it, resolved
//! under `--path.rootfs` without leaving it (files are read with `source::text_file`).

use std::path::{Path, PathBuf};

use crate::source::rootfs::Rootfs;

/// A path as the host names it, under the root the exporter was given, resolved as a process
/// chrooted there would resolve it ([`Rootfs::resolve`]): neither `..` nor a symbolic link
/// leaves the root; a link loop is an error.
pub(super) fn under_root(rootfs: &Rootfs, path: &Path) -> std::io::Result<PathBuf> {
    Ok(rootfs.resolve(path)?)
}

/// `path` under `root`, resolved as the collector resolves it (for this collector's tests).
#[cfg(test)]
#[allow(clippy::panic)]
pub(super) fn under(root: &Path, path: &str) -> PathBuf {
    under_root(&Rootfs::new(root), Path::new(path))
        .unwrap_or_else(|e| panic!("{path} under {}: {e}", root.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

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
