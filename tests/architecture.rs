//! docs/ARCHITECTURE.md's example of adding a collector still applies to the tree: for each file
//! of its diff, the lines each hunk keeps or removes stand together in that file, in that order,
//! and a file the diff makes does not exist yet. The example then shows today's code, not the
//! code of when it was written.

// Test code: a failed unwrap or index is a failed test (the [lints] table guards src/).
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::panic, clippy::indexing_slicing)]

use std::path::Path;

/// One hunk: the file it is in (`None` for a file the diff makes), the file it makes if any,
/// and the old side's lines.
struct Hunk {
    file: Option<String>,
    made: Option<String>,
    old_lines: Vec<String>,
}

/// The hunks of the first ```diff block of `text`.
fn hunks(text: &str) -> Vec<Hunk> {
    let block = text
        .split("```diff\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .expect("a ```diff block");
    let mut out: Vec<Hunk> = Vec::new();
    let mut file: Option<String> = None;
    let mut made: Option<String> = None;
    for line in block.lines() {
        if let Some(old) = line.strip_prefix("--- ") {
            file = old.strip_prefix("a/").map(str::to_string);
        } else if let Some(new) = line.strip_prefix("+++ b/") {
            made = file.is_none().then(|| new.to_string());
        } else if line.starts_with("@@") {
            out.push(Hunk {
                file: file.clone(),
                made: made.clone(),
                old_lines: Vec::new(),
            });
        } else if let Some(kept) = line.strip_prefix(' ').or_else(|| line.strip_prefix('-')) {
            out.last_mut()
                .expect("a line before any @@")
                .old_lines
                .push(kept.to_string());
        } else if line.is_empty() {
            // a kept empty line, its leading space trimmed by an editor
            out.last_mut()
                .expect("a line before any @@")
                .old_lines
                .push(String::new());
        }
    }
    out
}

/// Whether `needle` stands as consecutive lines somewhere in `haystack`.
fn contains_run(haystack: &[&str], needle: &[String]) -> bool {
    needle.is_empty()
        || haystack
            .windows(needle.len())
            .any(|window| window.iter().zip(needle).all(|(a, b)| a == b))
}

#[test]
fn the_example_collector_diff_applies_to_the_tree() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/ARCHITECTURE.md")).unwrap();
    let hunks = hunks(&doc);
    assert!(hunks.len() >= 4, "the example has {} hunks", hunks.len());
    let mut problems = Vec::new();
    for hunk in &hunks {
        if let Some(made) = &hunk.made
            && root.join(made).exists()
        {
            problems.push(format!("{made} exists: the example makes it"));
        }
        let Some(file) = &hunk.file else {
            continue;
        };
        let text = std::fs::read_to_string(root.join(file))
            .unwrap_or_else(|e| panic!("the example changes {file}: {e}"));
        let lines: Vec<&str> = text.lines().collect();
        if !contains_run(&lines, &hunk.old_lines) {
            problems.push(format!(
                "{file}: these lines are not together in the file any more:\n{}",
                hunk.old_lines.join("\n")
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "docs/ARCHITECTURE.md's example diff no longer applies; make it again (add the collector, \
         take `git diff`, drop it):\n{}",
        problems.join("\n")
    );
}

#[test]
fn a_moved_line_is_caught() {
    let hunks = hunks("```diff\n--- a/x\n+++ b/x\n@@ -1,2 +1,3 @@\n one\n-two\n+three\n```\n");
    assert_eq!(hunks[0].old_lines, ["one", "two"]);
    assert_eq!(hunks[0].made, None);
    assert!(contains_run(&["zero", "one", "two"], &hunks[0].old_lines));
    assert!(!contains_run(&["one", "zero", "two"], &hunks[0].old_lines));
}
