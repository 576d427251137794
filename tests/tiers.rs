//! The test tiers hold together: every test target Cargo.toml puts behind a tier feature is run
//! by name in tests/run.sh with that feature (one list of all tier features), so the full run cannot leave one out, and every
//! test file outside the plain tier is declared as such.

// Test code: a failed unwrap or index is a failed test (the [lints] table guards src/).
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::panic, clippy::indexing_slicing)]
#![allow(clippy::cast_possible_truncation)]

use std::collections::BTreeMap;
use std::path::Path;

const TIERS: &[&str] = &["test-host", "test-browser", "test-lab"];

fn read(file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `[[test]]` name -> its required features, from Cargo.toml.
fn tiered_targets() -> BTreeMap<String, Vec<String>> {
    let manifest = read("Cargo.toml");
    let mut targets = BTreeMap::new();
    for block in manifest.split("[[test]]").skip(1) {
        let block = block.split("\n[").next().unwrap_or_default();
        let value = |key: &str| {
            block
                .lines()
                .find_map(|line| line.trim().strip_prefix(key)?.trim().strip_prefix('='))
                .map(str::trim)
        };
        let name = value("name")
            .expect("a [[test]] has a name")
            .trim_matches('"');
        let features: Vec<String> = value("required-features")
            .unwrap_or("[]")
            .trim_matches(|c| c == '[' || c == ']')
            .split(',')
            .map(|f| f.trim().trim_matches('"').to_string())
            .filter(|f| !f.is_empty())
            .collect();
        targets.insert(name.to_string(), features);
    }
    targets
}

#[test]
fn every_tiered_target_runs_in_run_sh() {
    let targets = tiered_targets();
    assert!(
        targets.contains_key("lab"),
        "Cargo.toml has no [[test]] lab: {targets:?}"
    );
    let script = read("tests/run.sh");
    // run.sh builds every tier with one feature list, `tiers=a,b,c`, so that one build serves all
    let tier_list: Vec<&str> = script
        .lines()
        .find_map(|line| line.strip_prefix("tiers="))
        .unwrap_or_else(|| panic!("tests/run.sh sets no tiers=<features>"))
        .split(',')
        .collect();
    for (name, features) in &targets {
        let [tier] = features.as_slice() else {
            panic!("[[test]] {name} needs exactly one tier feature, has {features:?}");
        };
        assert!(TIERS.contains(&tier.as_str()), "{name}: {tier} is no tier");
        assert!(
            tier_list.contains(&tier.as_str()),
            "{name} needs {tier}, which tests/run.sh's tiers= ({tier_list:?}) leaves out"
        );
        // the command, then the end of the line or more of it (`|| failed=1`, `-- filters`)
        let command = format!("cargo test --locked --features $tiers --test {name}");
        let runs = script.lines().any(|line| {
            line.trim_start()
                .strip_prefix(&command)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(' '))
        });
        assert!(runs, "tests/run.sh lacks a line that runs: {command}");
    }
}

#[test]
fn files_that_need_more_than_plain_cargo_test_are_tiered() {
    let targets = tiered_targets();
    for name in [
        "lab",
        "conntrack_live",
        "ethtool_live",
        "host_live",
        "report_browser",
        "golden_promtool",
    ] {
        assert!(
            targets.get(name).is_some_and(|f| !f.is_empty()),
            "tests/{name}.rs must be a tiered [[test]] target"
        );
    }
}
