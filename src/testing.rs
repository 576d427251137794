//! Helpers for unit tests only.

use std::path::{Path, PathBuf};

/// A file's path in a fresh directory of its own, removed with the directory when dropped.
pub(crate) struct Scratch(PathBuf);

impl Scratch {
    /// `<tmp>/ipvs-exporter-<what>-<pid>-<name>/<file>`, the directory made empty.
    pub fn new(what: &str, name: &str, file: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "ipvs-exporter-{what}-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::create_dir_all(&dir);
        Scratch(dir.join(file))
    }
}

impl std::ops::Deref for Scratch {
    type Target = PathBuf;
    fn deref(&self) -> &PathBuf {
        &self.0
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Some(dir) = self.0.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
