//! `cargo metadata` of this workspace, for the tests that check its dependency graph.

use std::process::Command;

/// `cargo metadata --format-version 1 --offline` of the workspace's Cargo.toml, with `args`
/// added, as JSON. Offline: the crates were fetched by the build that runs the tests.
pub fn metadata(args: &[&str]) -> serde_json::Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let out = Command::new(&cargo)
        .args(["metadata", "--format-version", "1", "--offline"])
        .args(args)
        .arg("--manifest-path")
        .arg(manifest)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cargo} metadata: {e}"));
    assert!(
        out.status.success(),
        "cargo metadata {args:?} failed (have the crates been fetched by a build?): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON")
}
