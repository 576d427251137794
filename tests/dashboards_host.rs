//! The dashboards against their sources and Grafana's schema (tier `test-host`: needs jsonnet,
//! Python 3 with venv, and PyPI the first time):
//!
//! - `dashboards/generate.sh` renders the jsonnet sources into a scratch directory and the
//!   result must equal the committed JSON byte for byte;
//! - every dashboard is decoded with grafana-foundation-sdk's typed models (installed at a
//!   pinned version into a virtual environment under `target/`) and encoded again: nothing may
//!   be lost (an unknown or misplaced key is), every panel type must be a known panel plugin
//!   and every query a Prometheus query (`dashboards/check/sdk_check.py`). A dashboard with a
//!   misspelt key must fail the same check.
//!
//! `cargo test --features test-host --test dashboards_host`

// Test code: a failed unwrap or index is a failed test (the [lints] table guards src/).
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::panic, clippy::indexing_slicing)]
#![allow(clippy::cast_possible_truncation)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

/// grafana-foundation-sdk at the version built from Grafana 11.6's schema.
const SDK: &str = "grafana-foundation-sdk==1769699379!11.6.0";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn dashboards() -> Vec<PathBuf> {
    let files = support::dashboard_files();
    assert!(files.len() >= 4, "expected the four dashboards");
    files
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn committed_dashboards_are_what_the_sources_render() {
    let jsonnet = Command::new("jsonnet").arg("--version").output();
    assert!(
        jsonnet.is_ok_and(|o| o.status.success()),
        "jsonnet not found: install the Debian package jsonnet (tests/run.sh does)"
    );
    let out = scratch("dashboards-render");
    let status = Command::new("bash")
        .arg(repo().join("dashboards/generate.sh"))
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success(), "dashboards/generate.sh failed");
    let mut rendered: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    rendered.sort();
    let committed: Vec<String> = dashboards()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        rendered, committed,
        "rendered and committed dashboards differ in their files"
    );
    for name in &committed {
        let want = std::fs::read(out.join(name)).unwrap();
        let got = std::fs::read(repo().join("dashboards").join(name)).unwrap();
        assert!(
            want == got,
            "dashboards/{name} is not what its source renders: run dashboards/generate.sh"
        );
    }
    let _ = std::fs::remove_dir_all(&out);
}

/// `dashboards/generate.sh --selector` (the README's way to another job): each dashboard is
/// the committed one with the default selector replaced (it stands in the job and cluster
/// variables' queries), and the sources are left as they were.
#[test]
fn another_selector_replaces_the_default_in_every_dashboard() {
    // as the JSON writes them: the quotes escaped
    let default = r#"job=\"ipvs_exporter\""#;
    let other = r#"job=\"lb\", env=\"prod\""#;
    let before = support::dashboard_files();
    let out = scratch("dashboards-selector");
    let status = Command::new("bash")
        .arg(repo().join("dashboards/generate.sh"))
        .args(["--selector", r#"job="lb", env="prod""#])
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success(), "dashboards/generate.sh --selector failed");
    for path in dashboards() {
        let name = path.file_name().unwrap();
        let committed = std::fs::read_to_string(&path).unwrap();
        let rendered = std::fs::read_to_string(out.join(name)).unwrap();
        assert!(
            committed.contains(default),
            "{name:?} does not use {default}"
        );
        assert!(
            rendered == committed.replace(default, other),
            "{name:?}: --selector changed more (or less) than the selector"
        );
    }
    assert_eq!(
        support::dashboard_files(),
        before,
        "the sources' directory changed"
    );
    let _ = std::fs::remove_dir_all(&out);
}

/// The virtual environment with the SDK, made on first use.
fn sdk_python() -> PathBuf {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/dashboards-sdk-venv");
    let python = venv.join("bin/python");
    let pinned = venv.join("pinned.txt");
    if std::fs::read_to_string(&pinned).ok().as_deref() == Some(SDK) {
        return python;
    }
    let status = Command::new("python3")
        .args(["-m", "venv", "--clear"])
        .arg(&venv)
        .status()
        .expect("python3 not found: install the Debian packages python3 and python3-venv");
    assert!(
        status.success(),
        "python3 -m venv failed (Debian: install python3-venv)"
    );
    let status = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            SDK,
        ])
        .status()
        .unwrap();
    assert!(
        status.success(),
        "pip install {SDK} failed (is PyPI reachable?)"
    );
    std::fs::write(&pinned, SDK).unwrap();
    python
}

fn sdk_check(python: &Path, files: &[PathBuf]) -> (bool, String) {
    let out = Command::new(python)
        .arg(repo().join("dashboards/check/sdk_check.py"))
        .args(files)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn dashboards_load_through_the_typed_sdk() {
    let python = sdk_python();
    let files = dashboards();
    let (ok, text) = sdk_check(&python, &files);
    eprintln!("{text}");
    assert!(ok, "the typed models do not keep every dashboard:\n{text}");

    // the check must notice a key the schema does not have, and a wrong panel type
    let dir = scratch("dashboards-broken");
    let original = std::fs::read_to_string(&files[0]).unwrap();
    let misspelt = original.replacen("\"fieldConfig\"", "\"fieldconfig\"", 1);
    let unknown = original.replacen("\"type\": \"timeseries\"", "\"type\": \"timeserie\"", 1);
    assert!(misspelt != original && unknown != original);
    for (name, text) in [("misspelt.json", misspelt), ("unknown.json", unknown)] {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        let (ok, out) = sdk_check(&python, &[path]);
        assert!(
            !ok,
            "the check accepted a broken dashboard ({name}):\n{out}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
