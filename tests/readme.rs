//! The README against the program: its flags table lists exactly the flags `ipvs_exporter
//! --help` gives, with the same defaults where the table writes one as a value, and its two
//! commands are the ones that run the exporter and every test (`.ci/run` runs the latter).

// Test code: a failed unwrap or index is a failed test (the [lints] table guards src/).
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::panic, clippy::indexing_slicing)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The rows of the first table under README's `## Flags`: each row's flags (the backticked
/// `--` words of its first cell) and its default cell.
fn readme_flag_rows() -> Vec<(Vec<String>, String)> {
    let readme = read("README.md");
    let section = readme
        .split_once("\n## Flags\n")
        .map(|(_, rest)| rest)
        .expect("README has a Flags section");
    let rows: Vec<(Vec<String>, String)> = section
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|row| {
            let cells: Vec<&str> = row.split(" | ").collect();
            let flags: Vec<String> = cells[0]
                .split('`')
                .skip(1)
                .step_by(2)
                .filter(|w| w.starts_with("--"))
                .map(str::to_string)
                .collect();
            (flags, cells[1].to_string())
        })
        .collect();
    assert!(rows.len() >= 30, "README's flags table: {rows:?}");
    rows
}

/// The long flags of `ipvs_exporter --help`, each with its `[default: ...]` if it has one.
fn help_flags() -> BTreeMap<String, Option<String>> {
    let out = Command::new(env!("CARGO_BIN_EXE_ipvs_exporter"))
        .arg("--help")
        .output()
        .expect("run ipvs_exporter --help");
    assert!(out.status.success(), "--help: {out:?}");
    let help = String::from_utf8(out.stdout).expect("UTF-8 help");
    let mut flags = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in help.lines() {
        let trimmed = line.trim_start();
        let long = trimmed
            .strip_prefix("-h, ")
            .or_else(|| trimmed.strip_prefix("-V, "))
            .unwrap_or(trimmed);
        if line.starts_with("  ") && long.starts_with("--") {
            let name = long.split([' ', '=']).next().unwrap().to_string();
            flags.insert(name.clone(), None);
            current = Some(name);
        } else if let Some(default) = trimmed
            .strip_prefix("[default: ")
            .and_then(|d| d.strip_suffix(']'))
        {
            let name = current.as_ref().expect("a default after a flag");
            flags.insert(name.clone(), Some(default.to_string()));
        }
    }
    assert!(flags.len() >= 40, "flags in --help: {flags:?}");
    flags
}

/// The collectors' names, from the README's collector table.
fn readme_collectors() -> BTreeSet<String> {
    let readme = read("README.md");
    let table = readme
        .split_once("Collectors:\n")
        .map(|(_, rest)| rest)
        .expect("README has its collector table");
    let names: BTreeSet<String> = table
        .lines()
        .skip_while(|l| l.trim().is_empty())
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .filter_map(|row| {
            let cell = row.split('|').nth(1)?.trim();
            Some(cell.trim_matches('`').to_string())
        })
        .collect();
    assert!(names.contains("ipvs"), "collectors: {names:?}");
    names
}

#[test]
fn the_flags_table_lists_exactly_the_flags_of_help() {
    let help = help_flags();
    let collectors = readme_collectors();
    let rows = readme_flag_rows();
    let in_table: BTreeSet<String> = rows.iter().flat_map(|(f, _)| f.clone()).collect();
    assert!(
        in_table.contains("--collector.<name>") && in_table.contains("--no-collector.<name>"),
        "the table's row for turning collectors on and off is gone"
    );
    // The flags --help has that the table covers in one row, or that every program has.
    let by_template = |flag: &str| {
        let name = flag
            .strip_prefix("--no-collector.")
            .or_else(|| flag.strip_prefix("--collector."));
        name.is_some_and(|n| collectors.contains(n))
    };
    let missing: Vec<&String> = help
        .keys()
        .filter(|f| !in_table.contains(*f))
        .filter(|f| !by_template(f) && *f != "--help" && *f != "--version")
        .collect();
    assert!(
        missing.is_empty(),
        "flags of --help the README's table lacks: {missing:?}"
    );
    let unknown: Vec<&String> = in_table
        .iter()
        .filter(|f| !help.contains_key(*f) && !f.contains("<name>"))
        .collect();
    assert!(
        unknown.is_empty(),
        "flags in the README's table that --help does not know: {unknown:?}"
    );
}

#[test]
fn the_flags_table_gives_the_defaults_of_help() {
    let help = help_flags();
    let mut compared = 0;
    for (flags, default) in readme_flag_rows() {
        // a row of one flag whose default cell starts with a value: `:9748`, `0` (auto)...
        let [flag] = flags.as_slice() else { continue };
        let Some(value) = default.strip_prefix('`').and_then(|d| d.split('`').next()) else {
            continue;
        };
        let Some(Some(from_help)) = help.get(flag) else {
            panic!("{flag}: the README gives the default {value}, --help none");
        };
        assert_eq!(value, from_help, "{flag}: README's default against --help");
        compared += 1;
    }
    assert!(compared >= 15, "only {compared} defaults compared");
}

#[test]
fn the_test_command_is_the_one_ci_runs() {
    let readme = read("README.md");
    let ci = read(".ci/run");
    let ci_command = ci
        .lines()
        .rfind(|l| !l.trim().is_empty())
        .expect(".ci/run has a command")
        .trim();
    assert_eq!(ci_command, "bash tests/run.sh");
    let first_screen: String = readme.lines().take(40).collect::<Vec<_>>().join("\n");
    for command in ["cargo run --release --locked", ci_command] {
        assert!(
            first_screen.contains(&format!("```sh\n{command}\n```")),
            "the README's first 40 lines lack the command block {command:?}"
        );
    }
    let before_test = first_screen
        .split_once(&format!("```sh\n{ci_command}\n```"))
        .map(|(before, _)| before)
        .unwrap_or_default();
    let warning = before_test.rsplit("```").next().unwrap_or_default();
    assert!(
        warning.contains("development") && warning.contains("production"),
        "the test command is not marked as for development only: {warning:?}"
    );
}
