//! The Prometheus rules in `alerts/` (test-host tier: needs promtool and jsonnet, which
//! tests/run.sh installs): promtool accepts the committed rule files and passes their unit
//! tests in `alerts/tests/`, every alert has a firing and a silent case there, the committed
//! files are what `alerts/generate.sh` renders from the jsonnet sources, and the lab variant
//! keeps the recording rule names.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const RULE_FILES: &[&str] = &["ipvs_exporter.rules.yaml", "ipvs_exporter.alerts.yaml"];

fn alerts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("alerts")
}

/// Runs a tool, failing loudly with the Debian package to install when it is missing.
fn run(tool: &str, package: &str, args: &[&str], dir: &Path) -> Output {
    Command::new(tool)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("{tool} could not be run ({e}): install the Debian package {package} (tests/run.sh does)")
        })
}

fn said(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn generate(args: &[&str]) -> tempfile_dir::TempDir {
    let dir = tempfile_dir::TempDir::new("ipvs-alerts");
    let mut full: Vec<&str> = args.to_vec();
    let path = dir.path().to_string_lossy().into_owned();
    full.push(&path);
    let out = run(
        "bash",
        "bash",
        &[&["generate.sh"], full.as_slice()].concat(),
        &alerts_dir(),
    );
    assert!(out.status.success(), "generate.sh {args:?}: {}", said(&out));
    dir
}

/// A temporary directory removed on drop (std only).
mod tempfile_dir {
    use std::path::{Path, PathBuf};

    pub struct TempDir(PathBuf);

    impl TempDir {
        pub fn new(prefix: &str) -> TempDir {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            let path =
                std::env::temp_dir().join(format!("{prefix}-{}-{nanos}", std::process::id()));
            std::fs::create_dir_all(&path).expect("create a temporary directory");
            TempDir(path)
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Values of `key: "value"` lines (the generated files quote every string).
fn values_of(text: &str, key: &str) -> Vec<String> {
    let prefix = format!("- {key}: ");
    text.lines()
        .filter_map(|l| l.trim_start().strip_prefix(&prefix))
        .map(|v| v.trim_matches('"').to_string())
        .collect()
}

#[test]
fn promtool_checks_the_rule_files() {
    let out = run(
        "promtool",
        "prometheus",
        &[&["check", "rules"], RULE_FILES].concat(),
        &alerts_dir(),
    );
    assert!(out.status.success(), "promtool check rules: {}", said(&out));
    let text = said(&out);
    assert_eq!(text.matches("SUCCESS").count(), RULE_FILES.len(), "{text}");
}

#[test]
fn promtool_unit_tests_pass() {
    let tests_dir = alerts_dir().join("tests");
    let mut files: Vec<String> = std::fs::read_dir(&tests_dir)
        .expect("alerts/tests")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "unit test files: {files:?}");
    let args: Vec<&str> = ["test", "rules"]
        .into_iter()
        .chain(files.iter().map(String::as_str))
        .collect();
    // promtool evaluates the groups in the order the files give; run a few times so that an
    // order the tests forgot to pin shows up
    for _ in 0..3 {
        let out = run("promtool", "prometheus", &args, &tests_dir);
        assert!(out.status.success(), "promtool test rules: {}", said(&out));
        assert_eq!(
            said(&out).matches("SUCCESS").count(),
            files.len(),
            "{}",
            said(&out)
        );
    }
}

#[test]
fn every_alert_has_a_firing_and_a_silent_case() {
    let alerts = std::fs::read_to_string(alerts_dir().join("ipvs_exporter.alerts.yaml"))
        .expect("alerts file");
    let names: BTreeSet<String> = values_of(&alerts, "alert").into_iter().collect();
    assert!(names.len() >= 25, "alerts: {names:?}");
    let mut firing = BTreeSet::new();
    let mut silent = BTreeSet::new();
    for entry in std::fs::read_dir(alerts_dir().join("tests")).expect("alerts/tests") {
        let text = std::fs::read_to_string(entry.expect("entry").path()).expect("test file");
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        for (i, line) in lines.iter().enumerate() {
            let Some(name) = line.strip_prefix("alertname: ") else {
                continue;
            };
            match lines.get(i + 1) {
                Some(&"exp_alerts: []") => silent.insert(name.to_string()),
                Some(&"exp_alerts:") => {
                    // a firing case names its labels and annotations
                    let rest = lines[i + 2..].join("\n");
                    let case = rest.split("alertname: ").next().unwrap_or_default();
                    assert!(
                        case.contains("exp_labels:") && case.contains("exp_annotations:"),
                        "{name}: a firing case without exp_labels and exp_annotations"
                    );
                    firing.insert(name.to_string())
                }
                other => panic!("{name}: unexpected {other:?}"),
            };
        }
    }
    let no_firing: Vec<_> = names.difference(&firing).collect();
    let no_silent: Vec<_> = names.difference(&silent).collect();
    assert!(
        no_firing.is_empty(),
        "alerts without a firing case: {no_firing:?}"
    );
    assert!(
        no_silent.is_empty(),
        "alerts without a silent case: {no_silent:?}"
    );
    let unknown: Vec<_> = firing
        .union(&silent)
        .filter(|n| !names.contains(*n))
        .collect();
    assert!(
        unknown.is_empty(),
        "tests of alerts that do not exist: {unknown:?}"
    );
}

#[test]
fn committed_rule_files_are_what_the_generator_renders() {
    let fresh = generate(&[]);
    for name in RULE_FILES {
        let committed = std::fs::read(alerts_dir().join(name)).expect("committed rule file");
        let rendered = std::fs::read(fresh.path().join(name)).expect("rendered rule file");
        assert!(
            committed == rendered,
            "alerts/{name} is not what alerts/generate.sh renders from alerts/*.libsonnet: run alerts/generate.sh and commit"
        );
    }
}

#[test]
fn the_lab_variant_keeps_names_and_shortens_waits() {
    let lab = generate(&["--lab"]);
    let out = run(
        "promtool",
        "prometheus",
        &[&["check", "rules"], RULE_FILES].concat(),
        lab.path(),
    );
    assert!(
        out.status.success(),
        "promtool check rules (lab): {}",
        said(&out)
    );
    for name in RULE_FILES {
        let committed =
            std::fs::read_to_string(alerts_dir().join(name)).expect("committed rule file");
        let rendered = std::fs::read_to_string(lab.path().join(name)).expect("lab rule file");
        for key in ["record", "alert"] {
            assert_eq!(
                values_of(&committed, key),
                values_of(&rendered, key),
                "{name}: {key} names"
            );
        }
        let fors: Vec<String> = rendered
            .lines()
            .filter_map(|l| l.trim().strip_prefix("for: "))
            .map(|v| v.trim_matches('"').to_string())
            .collect();
        for d in &fors {
            assert!(d.ends_with('s'), "{name}: lab for: {d} is not in seconds");
        }
    }
}

/// Each alert links to its own section of docs/runbooks.md, and that section justifies the
/// alert's `for:` as the committed file has it.
#[test]
fn every_alert_has_its_runbook_section() {
    let alerts = std::fs::read_to_string(alerts_dir().join("ipvs_exporter.alerts.yaml"))
        .expect("alerts file");
    let runbooks =
        std::fs::read_to_string(alerts_dir().join("../docs/runbooks.md")).expect("runbooks");
    let names = values_of(&alerts, "alert");
    let fors: Vec<String> = alerts
        .lines()
        .filter_map(|l| l.trim().strip_prefix("for: "))
        .map(|v| v.trim_matches('"').to_string())
        .collect();
    let urls: Vec<String> = alerts
        .lines()
        .filter_map(|l| l.trim().strip_prefix("runbook_url: "))
        .map(|v| v.trim_matches('"').to_string())
        .collect();
    assert_eq!(names.len(), fors.len());
    assert_eq!(names.len(), urls.len());
    for ((name, wait), url) in names.iter().zip(&fors).zip(&urls) {
        assert!(
            url.ends_with(&format!("docs/runbooks.md#{}", name.to_lowercase())),
            "{name}: runbook_url {url}"
        );
        let heading = format!("\n## {name}\n");
        let start = runbooks
            .find(&heading)
            .unwrap_or_else(|| panic!("docs/runbooks.md has no section {name}"));
        let section = &runbooks[start + heading.len()..];
        let section = section.split("\n## ").next().unwrap_or_default();
        assert!(
            section.contains(&format!("**Why `for: {wait}`")),
            "{name}: its runbook section does not justify for: {wait}"
        );
    }
}
