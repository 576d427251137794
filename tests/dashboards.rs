//! The Grafana dashboards in `dashboards/`, as committed: their structure against the
//! conventions the project keeps (datasource variable, descriptions, units, `$__rate_interval`,
//! unique uids), and the advisor rules' fixes they show, against the advisor itself.
//!
//! Generating them from jsonnet and loading them through a typed dashboard library are in
//! `tests/dashboards_host.rs` (they need jsonnet and Python).

// Test code: a failed unwrap or index is a failed test (the [lints] table guards src/).
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::panic, clippy::indexing_slicing)]
#![allow(clippy::cast_possible_truncation)]

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
        // links and the README's pictures find a panel by its title
        let mut titles = BTreeSet::new();
        for p in panels(&d) {
            if p["type"] != "row" && !titles.insert(p["title"].as_str().unwrap_or("")) {
                problems.push(format!("{name}: two panels titled {}", p["title"]));
            }
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

/// The dashboard with `uid`.
fn by_uid<'a>(all: &'a [(String, Value)], uid: &str) -> Option<&'a (String, Value)> {
    all.iter().find(|(_, d)| d["uid"] == uid)
}

/// The uid a link's address opens (`/d/UID` or `/d/UID?...`), if it opens a dashboard.
fn link_target(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("/d/")?;
    let end = rest.find(['?', '/']).unwrap_or(rest.len());
    Some(&rest[..end])
}

#[test]
fn link_target_reads_the_uid() {
    assert_eq!(link_target("/d/ipvs-fleet"), Some("ipvs-fleet"));
    assert_eq!(link_target("/d/a-b?var-x=1&y"), Some("a-b"));
    assert_eq!(link_target("/d/a/slug"), Some("a"));
    assert_eq!(link_target("https://example.org/d/x"), None);
}

/// Each dashboard's links at its top open each of the three others, keep the time range and
/// carry the variables; every link's target exists.
#[test]
fn dashboards_link_to_each_other() {
    let all = dashboards();
    let uids: BTreeSet<String> = all
        .iter()
        .map(|(_, d)| d["uid"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        uids,
        [
            "ipvs-fleet",
            "ipvs-host-tuning",
            "ipvs-keepalived-vrrp",
            "ipvs-virtual-service"
        ]
        .map(String::from)
        .into(),
        "the four dashboards' uids"
    );
    let mut problems = Vec::new();
    for (name, d) in &all {
        let own = d["uid"].as_str().unwrap();
        let mut targets = BTreeSet::new();
        for link in d["links"].as_array().into_iter().flatten() {
            let url = link["url"].as_str().unwrap_or("");
            let Some(target) = link_target(url) else {
                problems.push(format!("{name}: link {url:?} opens no dashboard"));
                continue;
            };
            match by_uid(&all, target) {
                Some((_, t)) => {
                    // the link is titled as its target is, without the common prefix
                    let title = t["title"].as_str().unwrap();
                    if !title.ends_with(link["title"].as_str().unwrap_or("?")) {
                        problems.push(format!("{name}: link {:?} opens {title:?}", link["title"]));
                    }
                }
                None => problems.push(format!("{name}: link to {target}, no such dashboard")),
            }
            if link["keepTime"] != true || link["includeVars"] != true {
                problems.push(format!(
                    "{name}: link to {target} does not keep the time and variables"
                ));
            }
            targets.insert(target.to_string());
        }
        let others: BTreeSet<String> = uids.iter().filter(|u| *u != own).cloned().collect();
        if targets != others {
            problems.push(format!(
                "{name}: links to {targets:?}, should link to {others:?}"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Every data link (on a panel's series or on a table column) of every dashboard: (dashboard
/// file, panel title, link).
fn data_links(all: &[(String, Value)]) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (name, d) in all {
        for p in panels(d) {
            let title = p["title"].as_str().unwrap_or("?").to_string();
            let config = &p["fieldConfig"];
            let mut lists = vec![&config["defaults"]["links"]];
            for o in config["overrides"].as_array().into_iter().flatten() {
                for prop in o["properties"].as_array().into_iter().flatten() {
                    if prop["id"] == "links" {
                        lists.push(&prop["value"]);
                    }
                }
            }
            for l in lists.into_iter().filter_map(Value::as_array).flatten() {
                out.push((name.clone(), title.clone(), l.clone()));
            }
        }
    }
    out
}

/// The `var-NAME=VALUE` parameters of a link's address.
fn link_vars(url: &str) -> Vec<(String, String)> {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    query
        .split('&')
        .filter_map(|kv| kv.strip_prefix("var-"))
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The field names a table panel shows (what `${__data.fields.NAME}` can name).
fn shown_fields(panel: &Value) -> BTreeSet<String> {
    panel["transformations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["id"] == "filterFieldsByName")
        .flat_map(|t| {
            t["options"]["include"]["names"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|n| n.as_str().map(String::from))
        .collect()
}

/// The data links: from the fleet's hosts to the host and keepalived dashboards, from rows of
/// services to the virtual service dashboard on the row's service; every link opens a
/// dashboard that exists, names only variables the target has, carries the time range, and
/// takes from a table's row only fields the table shows.
#[test]
fn data_links_open_the_right_dashboard_on_the_row() {
    let all = dashboards();
    let links = data_links(&all);
    let mut problems = Vec::new();
    for (name, panel_title, link) in &links {
        let at = format!("{name}: panel {panel_title:?}, link {:?}", link["title"]);
        let url = link["url"].as_str().unwrap_or("");
        if !url.starts_with('/') {
            continue; // runbooks, outside Grafana
        }
        let Some(target) = link_target(url) else {
            problems.push(format!("{at}: {url:?} opens no dashboard"));
            continue;
        };
        let Some((_, t)) = by_uid(&all, target) else {
            problems.push(format!("{at}: no dashboard {target}"));
            continue;
        };
        if !url.contains("${__url_time_range}") {
            problems.push(format!("{at}: does not carry the time range"));
        }
        let target_vars: BTreeSet<&str> = t["templating"]["list"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v["name"].as_str())
            .collect();
        for (var, value) in link_vars(url) {
            if !target_vars.contains(var.as_str()) {
                problems.push(format!("{at}: {target} has no variable {var}"));
            }
            if let Some(field) = value
                .strip_prefix("${__data.fields.")
                .and_then(|v| v.strip_suffix('}'))
            {
                let (_, d) = all.iter().find(|(n, _)| n == name).unwrap();
                let panel = panels(d)
                    .into_iter()
                    .find(|p| p["title"] == panel_title.as_str() && p["type"] != "row")
                    .unwrap();
                if !shown_fields(panel).contains(field) {
                    problems.push(format!("{at}: the table does not show field {field}"));
                }
            }
        }
    }
    // the links that must be there: (dashboard, panel, target uid, variables set)
    let service_vars = [
        "instance",
        "netns",
        "proto",
        "local_address",
        "local_port",
        "local_mark",
    ];
    let keepalived_vars = [
        "instance",
        "proto",
        "local_address",
        "local_port",
        "local_mark",
    ];
    let wanted: &[(&str, &str, &str, &[&str])] = &[
        ("fleet.json", "Directors", "ipvs-host-tuning", &["instance"]),
        (
            "fleet.json",
            "Directors",
            "ipvs-keepalived-vrrp",
            &["instance"],
        ),
        (
            "fleet.json",
            "VRRP roles",
            "ipvs-keepalived-vrrp",
            &["instance"],
        ),
        (
            "fleet.json",
            "New connections per host",
            "ipvs-host-tuning",
            &["instance"],
        ),
        (
            "fleet.json",
            "Services",
            "ipvs-virtual-service",
            &service_vars,
        ),
        (
            "keepalived-vrrp.json",
            "Virtual servers: quorum and sorry server",
            "ipvs-virtual-service",
            &keepalived_vars,
        ),
        (
            "keepalived-vrrp.json",
            "Real-server health",
            "ipvs-virtual-service",
            &keepalived_vars,
        ),
        (
            "keepalived-vrrp.json",
            "Drains in progress",
            "ipvs-virtual-service",
            &keepalived_vars,
        ),
    ];
    for (file, panel, target, vars) in wanted {
        let found = links.iter().any(|(n, p, l)| {
            let url = l["url"].as_str().unwrap_or("");
            let set: BTreeSet<String> = link_vars(url).into_iter().map(|(k, _)| k).collect();
            n == file
                && p == panel
                && link_target(url) == Some(target)
                && vars.iter().all(|v| set.contains(*v))
        });
        if !found {
            problems.push(format!(
                "{file}: panel {panel:?} has no link to {target} setting {vars:?}"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The label matchers of every `{...}` selector of an expression.
fn selectors(expr: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = expr;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else { break };
        out.push(&after[..close]);
        rest = &after[close + 1..];
    }
    out
}

/// The virtual service dashboard picks a service by every label a service has, the network
/// namespace and the firewall mark among them: each is a variable whose "All" is `.*` (which
/// matches an empty label too: the default All, a list of the values label_values found, would
/// leave out every series where the label is empty, such as netns outside
/// --collector.ipvs.netns and local_mark of an address service), and every selector of every
/// query matches on each.
#[test]
fn the_virtual_service_dashboard_filters_by_every_service_label() {
    let all = dashboards();
    let (_, d) = all
        .iter()
        .find(|(n, _)| n == "virtual-service.json")
        .unwrap();
    let labels = [
        "netns",
        "proto",
        "local_address",
        "local_port",
        "local_mark",
    ];
    let vars = d["templating"]["list"].as_array().unwrap();
    for l in labels {
        let v = vars
            .iter()
            .find(|v| v["name"] == l)
            .unwrap_or_else(|| panic!("no variable {l}"));
        assert_eq!(v["includeAll"], true, "{l}: no All");
        assert_eq!(v["allValue"], ".*", "{l}: All is not .*");
        let q = v["query"]["query"].as_str().unwrap();
        assert!(
            q.starts_with("label_values(ipvs_service_info{") && q.ends_with(&format!(", {l})")),
            "{l}: {q}"
        );
    }
    let mut problems = Vec::new();
    let mut queries = 0;
    for p in panels(d) {
        for t in p["targets"].as_array().into_iter().flatten() {
            let expr = t["expr"].as_str().unwrap();
            queries += 1;
            for sel in selectors(expr) {
                for l in labels {
                    if !sel.contains(&format!("{l}=~\"${l}\"")) {
                        problems.push(format!(
                            "panel {:?}: selector {{{sel}}} does not match {l} on ${l}",
                            p["title"]
                        ));
                    }
                }
            }
        }
    }
    assert!(queries > 15, "only {queries} queries");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
