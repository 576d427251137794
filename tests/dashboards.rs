//! The Grafana dashboards in `dashboards/`, as committed: their structure against the
//! conventions the project keeps (datasource variable, descriptions, units, `$__rate_interval`,
//! unique uids), and the advisor rules' fixes they show, against the advisor itself.
//!
//! Generating them from jsonnet and loading them through a typed dashboard library are in
//! `tests/dashboards_host.rs` (they need jsonnet and Python).

// Test code: a failed unwrap or index is a failed test (the [lints] table guards src/).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use ipvs_exporter::advisor::rules::RULES;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn dashboards_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboards")
}

/// Every committed dashboard: (file name, parsed JSON).
fn dashboards() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dashboards_dir()).expect("dashboards/ is readable") {
        let path = entry.expect("directory entry").path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".json") || name == "advisor-rules.json" {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let json: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: not JSON: {e}"));
        out.push((name, json));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(
        out.len() >= 4,
        "expected at least the four dashboards, found {}",
        out.len()
    );
    out
}

/// Panels, with those nested in collapsed rows.
fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for p in dashboard["panels"].as_array().into_iter().flatten() {
        out.push(p);
        for inner in p["panels"].as_array().into_iter().flatten() {
            out.push(inner);
        }
    }
    out
}

/// The `rate(...[RANGE])`-style range selectors of an expression: what is between `[` and `]`.
fn ranges(expr: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = expr;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        let Some(close) = after.find(']') else { break };
        out.push(&after[..close]);
        rest = &after[close + 1..];
    }
    out
}

#[test]
fn ranges_finds_every_range_selector() {
    assert_eq!(
        ranges("rate(a[5m]) / sum(rate(b{x=\"[\"}[$__rate_interval]))"),
        vec!["5m", "\"}[$__rate_interval"]
    );
}

#[test]
fn dashboards_keep_the_conventions() {
    let mut problems = Vec::new();
    let mut uids = BTreeSet::new();
    for (name, d) in dashboards() {
        let uid = d["uid"].as_str().unwrap_or("");
        if uid.is_empty() || uid.len() > 40 {
            problems.push(format!("{name}: uid {uid:?} is empty or longer than 40"));
        }
        if !uids.insert(uid.to_string()) {
            problems.push(format!("{name}: uid {uid} is used twice"));
        }
        if d["schemaVersion"].as_u64().unwrap_or(0) < 39 {
            problems.push(format!("{name}: schemaVersion below 39"));
        }
        if d["refresh"] != "30s" {
            problems.push(format!("{name}: refresh is {} not 30s", d["refresh"]));
        }
        for key in ["title", "description"] {
            if d[key].as_str().unwrap_or("").is_empty() {
                problems.push(format!("{name}: no {key}"));
            }
        }
        let vars = d["templating"]["list"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let var = |n: &str| vars.iter().find(|v| v["name"] == n).cloned();
        match var("datasource") {
            Some(v) if v["type"] == "datasource" && v["query"] == "prometheus" => {}
            _ => problems.push(format!("{name}: no datasource variable of type prometheus")),
        }
        for n in ["job", "instance"] {
            match var(n) {
                Some(v) if v["type"] == "query" => {
                    let q = v["query"]["query"].as_str().unwrap_or("");
                    if !q.starts_with("label_values(") {
                        problems.push(format!("{name}: variable {n} is not from label_values"));
                    }
                    if v["datasource"] != json!({"type": "prometheus", "uid": "${datasource}"}) {
                        problems.push(format!(
                            "{name}: variable {n} does not query ${{datasource}}"
                        ));
                    }
                }
                _ => problems.push(format!("{name}: no {n} query variable")),
            }
        }
        match var("cluster") {
            // hidden (2) unless the configuration says the fleet has several clusters
            Some(v) if v["hide"] == 2 || v["hide"] == 0 => {}
            _ => problems.push(format!("{name}: no cluster variable")),
        }
        let mut ids = BTreeSet::new();
        for p in panels(&d) {
            let title = p["title"].as_str().unwrap_or("?");
            let at = format!("{name}: panel {title:?}");
            if !ids.insert(p["id"].as_u64().unwrap_or(0)) {
                problems.push(format!("{at}: id repeated"));
            }
            for k in ["x", "y", "w", "h"] {
                if !p["gridPos"][k].is_u64() {
                    problems.push(format!("{at}: gridPos.{k} missing"));
                }
            }
            if p["type"] == "row" {
                continue;
            }
            if p["datasource"] != json!({"type": "prometheus", "uid": "${datasource}"}) {
                problems.push(format!("{at}: datasource is not ${{datasource}}"));
            }
            if p["description"].as_str().unwrap_or("").is_empty() {
                problems.push(format!("{at}: no description"));
            }
            if p["fieldConfig"]["defaults"]["unit"]
                .as_str()
                .unwrap_or("")
                .is_empty()
            {
                problems.push(format!("{at}: no unit"));
            }
            let targets = p["targets"].as_array().cloned().unwrap_or_default();
            if targets.is_empty() {
                problems.push(format!("{at}: no query"));
            }
            for t in targets {
                if t["datasource"] != json!({"type": "prometheus", "uid": "${datasource}"}) {
                    problems.push(format!("{at}: a query's datasource is not ${{datasource}}"));
                }
                let expr = t["expr"].as_str().unwrap_or("");
                if expr.is_empty() {
                    problems.push(format!("{at}: a query has no expression"));
                }
                for r in ranges(expr) {
                    if r != "$__rate_interval" {
                        problems.push(format!(
                            "{at}: range [{r}] in {expr:?}: use [$__rate_interval]"
                        ));
                    }
                }
                // ALERTS carries the labels each alert keeps, and the per-VRID recordings
                // are fleet-wide: neither has a job
                let fleet_wide = expr.contains("ALERTS{") || expr.starts_with("vrid:");
                if !expr.contains("job=~\"$job\"") && !fleet_wide {
                    problems.push(format!("{at}: {expr:?} is not narrowed to $job"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// `dashboards/advisor-rules.json` lists every advisor rule with its fix, for the host
/// dashboard's findings table; it must say what the advisor says.
/// `UPDATE_DASHBOARDS=1 cargo test --test dashboards` rewrites it.
#[test]
fn advisor_rules_file_matches_the_advisor() {
    let rules: Vec<Value> = RULES
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "severity": r.severity.as_str(),
                "what": r.what,
                "fix": r.fix,
            })
        })
        .collect();
    let want = serde_json::to_string_pretty(&Value::Array(rules)).unwrap() + "\n";
    let path = dashboards_dir().join("advisor-rules.json");
    if std::env::var_os("UPDATE_DASHBOARDS").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    let got = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        got == want,
        "{} is not what the advisor says; run UPDATE_DASHBOARDS=1 cargo test --test dashboards, then dashboards/generate.sh",
        path.display()
    );
}
