//! The dashboards against their sources and Grafana's schema (tier `test-host`: needs jsonnet,
//! Python 3 with venv, and PyPI the first time):
//!
//! - `dashboards/generate.sh` renders the jsonnet sources into a scratch directory and the
//!   result must equal the committed JSON byte for byte;
//! - every dashboard is decoded with grafana-foundation-sdk's typed models (installed at a
//!   pinned version into a virtual environment under `target/`) and encoded again: nothing may
//!   be lost (an unknown or misplaced key is), every panel type must be a known panel plugin
//!   and every query a Prometheus query (`dashboards/check/sdk_check.py`). A dashboard with a
//!   misspelt key must fail the same check;
//! - the mixin (`mixin.libsonnet`): with its defaults it gives the committed rule files and
//!   dashboards (read back with Python's YAML parser, python3-yaml); with another selector and
//!   cluster label in its one `_config` every rule and dashboard query follows and promtool
//!   accepts the rules; the generate.sh scripts take the same overrides from the environment.
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
        // the committed files are the defaults'
        .env_remove("IPVS_SELECTOR")
        .env_remove("IPVS_CLUSTER_LABEL")
        .env_remove("IPVS_MIXIN_CONFIG")
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

// ------------------------------------------------------------------ the mixin

/// `mixin.libsonnet`'s three outputs with `overrides` over its `_config`, as one JSON object
/// `{alerts, rules, dashboards}` (one evaluation: one configuration for all three).
fn render_mixin(overrides: &str) -> serde_json::Value {
    let program = format!(
        "local m = (import 'mixin.libsonnet') + {{ _config+:: {overrides} }}; \
         {{ alerts: m.prometheusAlerts, rules: m.prometheusRules, dashboards: m.grafanaDashboards }}"
    );
    let out = Command::new("jsonnet")
        .arg("-e")
        .arg(&program)
        .current_dir(repo())
        .output()
        .expect("jsonnet not found: install the Debian package jsonnet");
    assert!(
        out.status.success(),
        "jsonnet on mixin.libsonnet: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // through Python's JSON printer, as `read_rendered` gives the files: serde_json's float
    // parsing can read two spellings of one number (1.0000000000000001e-09, 1e-09) one bit
    // apart
    let mut python = Command::new("python3")
        .args([
            "-c",
            "import json, sys; json.dump(json.load(sys.stdin), sys.stdout)",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 not found: install the Debian package python3");
    std::io::Write::write_all(&mut python.stdin.take().unwrap(), &out.stdout).unwrap();
    let printed = python.wait_with_output().unwrap();
    assert!(printed.status.success());
    serde_json::from_slice(&printed.stdout).unwrap()
}

/// Rule files (YAML) and dashboards (JSON) in `dir`, read by Python's YAML parser, not by the
/// jsonnet that wrote them: `{alerts, rules, dashboards}` as `render_mixin` gives.
fn read_rendered(rules_dir: &Path, dashboards_dir: &Path) -> serde_json::Value {
    let script = r#"
import json, os, sys, yaml
rules, dashboards = sys.argv[1], sys.argv[2]
out = {
    "alerts": yaml.safe_load(open(os.path.join(rules, "ipvs_exporter.alerts.yaml"))),
    "rules": yaml.safe_load(open(os.path.join(rules, "ipvs_exporter.rules.yaml"))),
    "dashboards": {
        f: json.load(open(os.path.join(dashboards, f)))
        for f in sorted(os.listdir(dashboards))
        if f.endswith(".json") and f != "advisor-rules.json"
    },
}
json.dump(out, sys.stdout)
"#;
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(rules_dir)
        .arg(dashboards_dir)
        .output()
        .expect("python3 not found: install the Debian package python3");
    assert!(
        out.status.success(),
        "reading the rendered files (Debian: python3-yaml): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The rule files write each expression as a YAML block without its final newline; the
/// mixin's expressions, from jsonnet text blocks, end with one. Nothing else may differ.
fn without_final_newlines(mut v: serde_json::Value) -> serde_json::Value {
    for part in ["alerts", "rules"] {
        for g in v[part]["groups"].as_array_mut().unwrap() {
            for r in g["rules"].as_array_mut().unwrap() {
                let expr = r["expr"]
                    .as_str()
                    .unwrap()
                    .trim_end_matches('\n')
                    .to_string();
                r["expr"] = serde_json::Value::String(expr);
            }
        }
    }
    v
}

/// Every expression of the rules: (group/name, expr).
fn rule_exprs(groups: &serde_json::Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for g in groups["groups"].as_array().unwrap() {
        for r in g["rules"].as_array().unwrap() {
            let name = r["alert"].as_str().or(r["record"].as_str()).unwrap();
            out.push((
                format!("{}/{name}", g["name"].as_str().unwrap()),
                r["expr"].as_str().unwrap().to_string(),
            ));
        }
    }
    out
}

/// Every query of every dashboard, the variables' among them: (where, expr).
fn dashboard_exprs(dashboards: &serde_json::Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (file, d) in dashboards.as_object().unwrap() {
        for v in d["templating"]["list"].as_array().unwrap() {
            if let Some(q) = v["query"]["query"].as_str() {
                out.push((format!("{file} variable {}", v["name"]), q.to_string()));
            }
        }
        let mut panels: Vec<&serde_json::Value> = Vec::new();
        for p in d["panels"].as_array().unwrap() {
            panels.push(p);
            panels.extend(p["panels"].as_array().into_iter().flatten());
        }
        for p in panels {
            for t in p["targets"].as_array().into_iter().flatten() {
                out.push((
                    format!("{file} panel {} {}", p["title"], t["refId"]),
                    t["expr"].as_str().unwrap().to_string(),
                ));
            }
        }
    }
    out
}

/// The committed rule files and dashboards are what `mixin.libsonnet` gives with its defaults
/// (read back by another parser), so a user who vendors the mixin gets what the repository
/// ships.
#[test]
fn the_mixin_renders_the_committed_files() {
    let from_mixin = without_final_newlines(render_mixin("{}"));
    let committed = without_final_newlines(read_rendered(
        &repo().join("alerts"),
        &repo().join("dashboards"),
    ));
    for part in ["alerts", "rules", "dashboards"] {
        assert!(
            from_mixin[part] == committed[part],
            "mixin.libsonnet's {part} differ from the committed files: run alerts/generate.sh and dashboards/generate.sh"
        );
    }
    assert_eq!(from_mixin["dashboards"].as_object().unwrap().len(), 4);
}

const OTHER_CONFIG: &str = "{ ipvsSelector: 'job=\"lb\"', clusterLabel: 'region' }";

/// One `_config` moves everything: with another selector and cluster label, every alert and
/// every recording rule changes and carries the new selector, every dashboard query carries it
/// (but those on ALERTS and on the fleet-wide per-VRID recordings, whose series have no job),
/// the default job is nowhere, and promtool accepts the rules.
#[test]
fn one_config_moves_every_selector() {
    let default = render_mixin("{}");
    let other = render_mixin(OTHER_CONFIG);
    let text = other.to_string();
    assert!(
        !text.contains(r#"job=\"ipvs_exporter\""#),
        "the default selector is left somewhere"
    );
    let mut problems = Vec::new();
    for part in ["alerts", "rules"] {
        // compared in order: an alert name can appear twice (one per severity)
        let before = rule_exprs(&default[part]);
        let after = rule_exprs(&other[part]);
        assert_eq!(before.len(), after.len());
        for ((_, old), (name, expr)) in before.iter().zip(&after) {
            // alerts on the fleet-wide per-VRID recordings alone (which have no job; their
            // recording rules carry the selector and the cluster label) do not change
            if expr.starts_with("vrid:") && !expr.contains('{') && !expr.contains(" on (") {
                continue;
            }
            if old == expr {
                problems.push(format!("{part} {name}: unchanged"));
            }
            // the others carry the selector, or group by the cluster label
            if !expr.contains(r#"job="lb""#) && !expr.contains("region") {
                problems.push(format!(
                    "{part} {name}: neither selector nor cluster label: {expr}"
                ));
            }
        }
    }
    let before = dashboard_exprs(&default["dashboards"]);
    let after = dashboard_exprs(&other["dashboards"]);
    assert_eq!(before.len(), after.len());
    assert!(after.len() > 100, "only {} dashboard queries", after.len());
    for ((_, old), (at, expr)) in before.iter().zip(&after) {
        let fleet_wide = expr.contains("ALERTS{") || expr.starts_with("vrid:");
        if fleet_wide {
            continue;
        }
        if !expr.contains(r#"job="lb""#) {
            problems.push(format!("{at}: no selector: {expr}"));
        }
        if old == expr {
            problems.push(format!("{at}: unchanged"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // promtool on the rules as rendered (JSON is YAML)
    let dir = scratch("mixin-other-config");
    let mut files = Vec::new();
    for part in ["alerts", "rules"] {
        let path = dir.join(format!("{part}.yaml"));
        std::fs::write(&path, other[part].to_string()).unwrap();
        files.push(path);
    }
    let out = Command::new("promtool")
        .args(["check", "rules"])
        .args(&files)
        .output()
        .expect("promtool not found: install the Debian package prometheus");
    assert!(
        out.status.success(),
        "promtool check rules on the other configuration: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Without jsonnet-bundler: `IPVS_SELECTOR=... IPVS_CLUSTER_LABEL=... alerts/generate.sh DIR`
/// and `dashboards/generate.sh DIR` render what the mixin renders with that configuration.
#[test]
fn generate_scripts_take_another_selector() {
    let rules = scratch("generate-other-rules");
    let dashboards = scratch("generate-other-dashboards");
    for (script, out) in [
        ("alerts/generate.sh", &rules),
        ("dashboards/generate.sh", &dashboards),
    ] {
        let status = Command::new("bash")
            .arg(repo().join(script))
            .arg(out)
            .env("IPVS_SELECTOR", r#"job="lb""#)
            .env("IPVS_CLUSTER_LABEL", "region")
            .env_remove("IPVS_MIXIN_CONFIG")
            .status()
            .unwrap();
        assert!(status.success(), "{script} with IPVS_SELECTOR failed");
    }
    let got = without_final_newlines(read_rendered(&rules, &dashboards));
    let want = without_final_newlines(render_mixin(OTHER_CONFIG));
    for part in ["alerts", "rules", "dashboards"] {
        assert!(
            got[part] == want[part],
            "the generate.sh scripts' {part} differ from the mixin's with the same configuration"
        );
    }
    assert!(!got.to_string().contains(r#"job=\"ipvs_exporter\""#));
    let _ = std::fs::remove_dir_all(&rules);
    let _ = std::fs::remove_dir_all(&dashboards);
}
