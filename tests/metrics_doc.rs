//! docs/metrics.md against the goldens (`tests/golden/**/metrics.prom`, what the real binary
//! serves on the fixture trees): every family a golden has is in the reference table, and every
//! family of the table is in some golden or in the table of families no golden has, with the
//! reason. A family that a golden gains must leave that list, so the list cannot go stale.

// Test code: a failed unwrap or index is a failed test (the [lints] table guards src/).
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::panic, clippy::indexing_slicing)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The lines of the `## TITLE` section of docs/metrics.md, up to the next `## ` heading.
fn section<'a>(doc: &'a str, title: &str) -> Vec<&'a str> {
    let heading = format!("## {title}");
    let mut lines = doc.lines().skip_while(|l| *l != heading);
    assert!(
        lines.next().is_some(),
        "docs/metrics.md has no section {heading:?}"
    );
    lines.take_while(|l| !l.starts_with("## ")).collect()
}

/// The table rows of a section that name families: each row's first cell, its backticked
/// `ipvs_` names, with the rest of the row.
fn rows<'a>(lines: &[&'a str]) -> Vec<(Vec<String>, &'a str)> {
    lines
        .iter()
        .filter(|l| l.starts_with("| `ipvs_"))
        .map(|l| {
            let (first, rest) = l[1..].split_once(" | ").expect("a row with cells");
            let names: Vec<String> = first
                .split('`')
                .skip(1)
                .step_by(2)
                .filter(|n| n.starts_with("ipvs_"))
                .map(str::to_string)
                .collect();
            for name in &names {
                assert!(
                    name.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                    "not a whole family name in docs/metrics.md: {name:?} (write every family out)"
                );
            }
            (names, rest)
        })
        .collect()
}

fn metrics_doc() -> String {
    std::fs::read_to_string(root().join("docs/metrics.md")).expect("docs/metrics.md")
}

/// Family -> the goldens that have it, from their `# TYPE` lines.
fn golden_families() -> BTreeMap<String, BTreeSet<String>> {
    let mut files: Vec<PathBuf> = Vec::new();
    let mut dirs = vec![root().join("tests/golden")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("a golden directory") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.file_name().is_some_and(|n| n == "metrics.prom") {
                files.push(path);
            }
        }
    }
    assert!(files.len() >= 8, "metrics goldens found: {files:?}");
    let mut families: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("a golden");
        let scenario = file
            .parent()
            .and_then(|p| p.strip_prefix(root().join("tests/golden")).ok())
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let name = rest.split(' ').next().expect("a family name");
                families
                    .entry(name.to_string())
                    .or_default()
                    .insert(scenario.clone());
            }
        }
    }
    assert!(
        families.len() >= 50,
        "families in the goldens: {families:?}"
    );
    families
}

/// Every family of the reference table, each once.
fn documented() -> BTreeSet<String> {
    let doc = metrics_doc();
    let mut seen = BTreeSet::new();
    for (names, _) in rows(&section(&doc, "Families")) {
        for name in names {
            assert!(
                seen.insert(name.clone()),
                "{name} is in docs/metrics.md's table twice"
            );
        }
    }
    assert!(seen.len() >= 100, "families in docs/metrics.md: {seen:?}");
    seen
}

/// The families docs/metrics.md says no golden has, each with its reason.
fn without_golden() -> BTreeMap<String, String> {
    let doc = metrics_doc();
    let mut listed = BTreeMap::new();
    for (names, rest) in rows(&section(&doc, "Families no golden has")) {
        let reason = rest.trim_end_matches('|').trim();
        assert!(
            reason.split_whitespace().count() >= 4,
            "{names:?}: no reason given for having no golden"
        );
        for name in names {
            assert!(
                listed.insert(name.clone(), reason.to_string()).is_none(),
                "{name} is listed twice as having no golden"
            );
        }
    }
    listed
}

#[test]
fn every_family_a_golden_has_is_documented() {
    let documented = documented();
    let missing: Vec<String> = golden_families()
        .into_iter()
        .filter(|(family, _)| !documented.contains(family))
        .map(|(family, goldens)| format!("{family} (in {goldens:?})"))
        .collect();
    assert!(
        missing.is_empty(),
        "families the goldens have that docs/metrics.md's table lacks: {missing:#?}"
    );
}

#[test]
fn every_documented_family_is_in_a_golden_or_says_why_not() {
    let goldens = golden_families();
    let without = without_golden();
    let unexplained: Vec<String> = documented()
        .into_iter()
        .filter(|f| !goldens.contains_key(f) && !without.contains_key(f))
        .collect();
    assert!(
        unexplained.is_empty(),
        "documented families that no golden has, and that docs/metrics.md does not list as \
         such with a reason: {unexplained:#?}"
    );
}

#[test]
fn the_families_listed_without_a_golden_really_have_none() {
    let documented = documented();
    let goldens = golden_families();
    for family in without_golden().keys() {
        assert!(
            documented.contains(family),
            "{family} is listed as having no golden but is not in the reference table"
        );
        assert!(
            !goldens.contains_key(family),
            "{family} is listed as having no golden, yet {:?} have it: take it off the list",
            goldens[family]
        );
    }
}
