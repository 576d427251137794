//! `promtool check metrics` on every golden metrics file under tests/golden (tier `test-host`:
//! needs promtool, Debian package `prometheus`, which tests/run.sh installs). The goldens
//! themselves are compared byte for byte by the plain `tests/golden.rs`.
//! `cargo test --features test-host --test golden_promtool`.

// Test code: a failed unwrap or index is a failed test (the [lints] table guards src/).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// Every `metrics.prom` under `dir`, at any depth.
fn goldens(dir: &Path, found: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            goldens(&path, found);
        } else if path.file_name().is_some_and(|n| n == "metrics.prom") {
            found.push(path);
        }
    }
}

#[test]
fn promtool_accepts_every_golden() {
    let mut files = Vec::new();
    goldens(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden"),
        &mut files,
    );
    // tests/golden.rs has seven scenarios; a lost directory must not pass quietly.
    assert!(files.len() >= 7, "only {} goldens found", files.len());
    for path in files {
        let file = std::fs::File::open(&path).expect("open golden");
        let out = Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(file)
            .output()
            .expect(
                "promtool must be installed (Debian package prometheus); tests/run.sh installs it",
            );
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success() && said.trim().is_empty(),
            "promtool on {}: {said}",
            path.display()
        );
    }
}
