//! Every advisor rule on two fixtures of its own: a snapshot where it fires and one where it
//! stays silent (tests/fixtures/rules/<rule>/{fires,silent}.json, snapshots as JSON with the
//! roles to assume), and doctor's JSON and text for each compared with
//! tests/golden/rules/<rule>/. `UPDATE_GOLDEN=1 cargo test --test rules` rewrites them.

// Test code: a failed unwrap or index is a failed test (the [lints] table guards src/).
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::panic, clippy::indexing_slicing)]
#![allow(clippy::cast_possible_truncation)]

mod support;

use std::path::PathBuf;

use ipvs_exporter::advisor::{AdviceOptions, Role, advise, rules::RULES};
use ipvs_exporter::model::snapshot::Snapshot;
use ipvs_exporter::report::{render_json, render_text};

#[derive(serde::Deserialize)]
struct Fixture {
    roles: Vec<String>,
    snapshot: Snapshot,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn every_rule_fires_on_its_fixture_and_stays_silent_on_the_other() {
    let mut failures = Vec::new();
    for rule in RULES {
        for case in ["fires", "silent"] {
            let path = root()
                .join("tests/fixtures/rules")
                .join(rule.id)
                .join(format!("{case}.json"));
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("rule {} needs {}: {e}", rule.id, path.display()));
            let fixture: Fixture =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let roles: Vec<Role> = fixture
                .roles
                .iter()
                .map(|r| Role::from_id(r).unwrap_or_else(|| panic!("{}: role {r}", path.display())))
                .collect();
            let advice = advise(
                &fixture.snapshot,
                &AdviceOptions {
                    disabled: Vec::new(),
                    forced_roles: Some(roles),
                },
            );
            let fired = advice.findings.iter().any(|f| f.rule == rule.id);
            let skipped = advice.skipped.iter().find(|s| s.rule == rule.id);
            match (case, fired, skipped) {
                (_, _, Some(s)) => {
                    failures.push(format!("{} {case}: skipped: {}", rule.id, s.reason))
                }
                ("fires", false, None) => failures.push(format!("{} did not fire", rule.id)),
                ("silent", true, None) => {
                    failures.push(format!("{} fired on its silent fixture", rule.id))
                }
                _ => {}
            }
            let golden = root().join("tests/golden/rules").join(rule.id);
            support::check_golden(
                &golden.join(format!("{case}.json")),
                &render_json(&fixture.snapshot, &advice),
            );
            support::check_golden(
                &golden.join(format!("{case}.txt")),
                &render_text(&fixture.snapshot, &advice, false),
            );
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_rules_explanation_says_why_it_has_its_severity() {
    for rule in RULES {
        let text = ipvs_exporter::report::explain(rule);
        let part = text
            .split("\n\n")
            .find(|p| p.starts_with("Severity: "))
            .unwrap_or_else(|| panic!("{} has no Severity part:\n{text}", rule.id));
        let says = part.to_lowercase();
        assert!(
            says.contains(rule.severity.as_str()),
            "{}: its Severity part does not name its severity ({}): {part}",
            rule.id,
            rule.severity.as_str()
        );
    }
}

#[test]
fn the_advisor_doc_lists_every_rule() {
    let doc = std::fs::read_to_string(root().join("docs/advisor.md")).expect("docs/advisor.md");
    for rule in RULES {
        assert!(
            doc.contains(&format!("| `{}` |", rule.id)),
            "docs/advisor.md's rule table lacks {}",
            rule.id
        );
    }
}
