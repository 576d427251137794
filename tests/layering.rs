//! The layer order of `src/`: a top-level module may use the modules on the lines below its
//! own in [`LAYERS`], never one above it nor another one on its own line. Every `crate::`
//! path under `src/` is checked (`use` lines, grouped `use crate::{..}`, paths written inline
//! in code, and `super::` chains that climb to the crate root); comments, string literals and
//! `#[cfg(test)]` items are not, since a unit test may set its module against a higher one.
//! A `super::` chain is counted from the file's own module, so inside an inline module it
//! climbs one level too far: it may report a path that is not there, never hide one that is.
//! docs/ARCHITECTURE.md shows the same list, and a test holds the two equal.

// Test code: a failed unwrap or index is a failed test (the [lints] table guards src/).
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::panic, clippy::indexing_slicing)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

#[path = "support/cargo.rs"]
mod cargo;

/// The top-level modules of the crate, highest first. Modules on one line are at the same
/// level: neither may use the other.
const LAYERS: &str = "\
app
manual
exit_codes logging
cli
wait_drained
web
snapshot
source
fleet
report
metrics
advisor
parse
netlink
model
build testing
";

/// Each module with its level: 0 for the lowest line, higher above.
fn levels() -> Vec<(&'static str, usize)> {
    let lines: Vec<&str> = LAYERS.lines().collect();
    let mut out = Vec::new();
    for (from_top, line) in lines.iter().enumerate() {
        for module in line.split_whitespace() {
            out.push((module, lines.len() - 1 - from_top));
        }
    }
    out
}

fn level_of(module: &str) -> Option<usize> {
    levels()
        .into_iter()
        .find(|(name, _)| *name == module)
        .map(|(_, level)| level)
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The file's module path under `src/` (`src/parse/keepalived/config.rs` is
/// `parse::keepalived::config`); empty for the crate roots.
fn module_path(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if let Some(last) = parts.pop() {
        let stem = last.trim_end_matches(".rs");
        if !["mod", "lib", "main"].contains(&stem) {
            parts.push(stem.to_string());
        }
    }
    parts
}

/// The code with comments and the insides of string and char literals replaced by spaces
/// (newlines kept, so offsets keep their line).
fn code_only(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = bytes.to_vec();
    let blank = |out: &mut Vec<u8>, from: usize, to: usize| {
        for byte in &mut out[from..to.min(bytes.len())] {
            if *byte != b'\n' {
                *byte = b' ';
            }
        }
    };
    let mut i = 0;
    while i < bytes.len() {
        let rest = &bytes[i..];
        if rest.starts_with(b"//") {
            let end = rest
                .iter()
                .position(|&b| b == b'\n')
                .map_or(bytes.len(), |p| i + p);
            blank(&mut out, i, end);
            i = end;
        } else if rest.starts_with(b"/*") {
            let (mut depth, mut j) = (0usize, i);
            while j < bytes.len() {
                if bytes[j..].starts_with(b"/*") {
                    depth += 1;
                    j += 2;
                } else if bytes[j..].starts_with(b"*/") {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += 1;
                }
            }
            blank(&mut out, i, j);
            i = j;
        } else if rest[0] == b'r'
            && (i == 0 || !is_ident(bytes[i - 1]) || raw_byte_string(bytes, i))
            && rest[1..].iter().take_while(|&&b| b == b'#').count() + 1 < rest.len()
            && rest[1 + rest[1..].iter().take_while(|&&b| b == b'#').count()] == b'"'
        {
            let hashes = rest[1..].iter().take_while(|&&b| b == b'#').count();
            let close: Vec<u8> = std::iter::once(b'"')
                .chain(std::iter::repeat_n(b'#', hashes))
                .collect();
            let body = i + 2 + hashes;
            let end = bytes[body..]
                .windows(close.len())
                .position(|w| w == close.as_slice())
                .map_or(bytes.len(), |p| body + p + close.len());
            blank(&mut out, body, end - close.len());
            i = end;
        } else if rest[0] == b'"' {
            let mut j = i + 1;
            while j < bytes.len() && bytes[j] != b'"' {
                j += if bytes[j] == b'\\' { 2 } else { 1 };
            }
            blank(&mut out, i + 1, j);
            i = j + 1;
        } else if rest[0] == b'\'' {
            // A char literal ('x', '\n', '\u{..}'); otherwise a lifetime or a label.
            if rest.get(1) == Some(&b'\\') {
                let end = rest[2..]
                    .iter()
                    .position(|&b| b == b'\'')
                    .map_or(bytes.len(), |p| i + 2 + p);
                blank(&mut out, i + 1, end);
                i = end + 1;
            } else if let Some(width) = text
                .get(i + 1..)
                .and_then(|s| s.chars().next())
                .map(char::len_utf8)
                .filter(|width| rest.get(1 + width) == Some(&b'\''))
            {
                blank(&mut out, i + 1, i + 1 + width);
                i += 2 + width;
            } else {
                i += 1;
            }
        } else {
            i += 1;
        }
    }
    out
}

/// Whether the `r` at `at` follows the `b` of a raw byte string (`br"..."`).
fn raw_byte_string(bytes: &[u8], at: usize) -> bool {
    at >= 1 && bytes[at - 1] == b'b' && (at == 1 || !is_ident(bytes[at - 2]))
}

fn is_ident(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

/// Blanks every item under `#[cfg(test)]`: up to its `;`, or its whole `{ .. }` body.
fn without_test_items(code: &mut [u8]) {
    const ATTRIBUTE: &[u8] = b"#[cfg(test)]";
    let mut from = 0;
    while let Some(at) = code[from..]
        .windows(ATTRIBUTE.len())
        .position(|w| w == ATTRIBUTE)
        .map(|p| from + p)
    {
        let mut j = at;
        let mut depth = 0usize;
        while j < code.len() {
            match code[j] {
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                b';' if depth == 0 => break,
                _ => {}
            }
            j += 1;
        }
        let end = (j + 1).min(code.len());
        for byte in &mut code[at..end] {
            if *byte != b'\n' {
                *byte = b' ';
            }
        }
        from = j.min(code.len());
    }
}

fn identifier(code: &[u8], mut at: usize) -> (String, usize) {
    while at < code.len() && code[at].is_ascii_whitespace() {
        at += 1;
    }
    let start = at;
    while at < code.len() && is_ident(code[at]) {
        at += 1;
    }
    (String::from_utf8_lossy(&code[start..at]).into_owned(), at)
}

/// Skips whitespace and one `::`; the offset after it, if there is one.
fn path_separator(code: &[u8], mut at: usize) -> Option<usize> {
    while at < code.len() && code[at].is_ascii_whitespace() {
        at += 1;
    }
    code[at..].starts_with(b"::").then_some(at + 2)
}

/// The first segment of each item of a group that opens at `open` (`{a::b, c, d::{e}}`).
fn group_heads(code: &[u8], open: usize) -> Vec<(String, usize)> {
    let mut heads = Vec::new();
    let mut depth = 0usize;
    let mut expect_head = true;
    let mut j = open;
    while j < code.len() {
        match code[j] {
            b'{' => {
                depth += 1;
                expect_head = depth == 1;
            }
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            b',' if depth == 1 => expect_head = true,
            byte if expect_head && depth == 1 && is_ident(byte) => {
                let (name, end) = identifier(code, j);
                heads.push((name, j));
                expect_head = false;
                j = end;
                continue;
            }
            _ => {}
        }
        j += 1;
    }
    heads
}

/// Every top-level module the code names through `crate::` (or `super::` chains that climb
/// to the crate root, from a file at `module` depth), with the byte offset of the mention.
fn crate_paths(code: &[u8], module: &[String]) -> Vec<(String, usize)> {
    let mut found = Vec::new();
    let mut i = 0;
    while i < code.len() {
        if !is_ident(code[i]) || (i > 0 && is_ident(code[i - 1])) {
            i += 1;
            continue;
        }
        let (word, end) = identifier(code, i);
        let after_root = match word.as_str() {
            "crate" => path_separator(code, end),
            "super" => {
                let (mut climbs, mut at) = (1, path_separator(code, end));
                while let Some(next) = at {
                    let (word, word_end) = identifier(code, next);
                    if word != "super" {
                        break;
                    }
                    climbs += 1;
                    at = path_separator(code, word_end);
                }
                at.filter(|_| climbs >= module.len())
            }
            _ => None,
        };
        if let Some(next) = after_root {
            let mut at = next;
            while at < code.len() && code[at].is_ascii_whitespace() {
                at += 1;
            }
            if code.get(at) == Some(&b'{') {
                found.extend(group_heads(code, at));
            } else {
                let (target, _) = identifier(code, at);
                found.push((target, at));
            }
        }
        i = end.max(i + 1);
    }
    found.retain(|(name, _)| !name.is_empty() && name != "self");
    found
}

fn line_of(code: &[u8], offset: usize) -> usize {
    code[..offset].iter().filter(|&&b| b == b'\n').count() + 1
}

/// What a file under `src/` gets wrong: `file:line: a uses b` for each upward or sideways
/// mention, and each module missing from [`LAYERS`].
fn violations(relative: &Path, text: &str) -> Vec<String> {
    let module = module_path(relative);
    let Some(own) = module.first() else {
        return Vec::new(); // lib.rs and main.rs declare the modules; they sit above them all.
    };
    let mut code = code_only(text);
    without_test_items(&mut code);
    let mut problems = Vec::new();
    let Some(own_level) = level_of(own) else {
        return vec![format!(
            "{}: module `{own}` is not in LAYERS (tests/layering.rs, docs/ARCHITECTURE.md)",
            relative.display()
        )];
    };
    for (target, offset) in crate_paths(&code, &module) {
        if &target == own {
            continue;
        }
        let place = format!("src/{}:{}", relative.display(), line_of(&code, offset));
        match level_of(&target) {
            None => problems.push(format!(
                "{place}: `{own}` uses `{target}`, which is not in LAYERS"
            )),
            Some(level) if level > own_level => problems.push(format!(
                "{place}: `{own}` uses `{target}`, a layer above it (LAYERS puts `{target}` over `{own}`)"
            )),
            Some(level) if level == own_level => problems.push(format!(
                "{place}: `{own}` uses `{target}`, on the same layer (LAYERS puts them on one line)"
            )),
            Some(_) => {}
        }
    }
    problems
}

#[test]
fn every_module_uses_only_the_layers_below_it() {
    let src = root().join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(
        files.len() > 50,
        "found only {} files under src/",
        files.len()
    );
    let mut problems = Vec::new();
    let mut mentions = 0;
    for file in &files {
        let relative = file.strip_prefix(&src).unwrap();
        let text = std::fs::read_to_string(file).unwrap();
        mentions += crate_paths(&code_only(&text), &module_path(relative)).len();
        problems.extend(violations(relative, &text));
    }
    assert!(
        mentions > 300,
        "only {mentions} crate paths found: the scanner is broken"
    );
    assert!(
        problems.is_empty(),
        "imports against the layer order (docs/ARCHITECTURE.md, \"Layers\"):\n{}",
        problems.join("\n")
    );
}

#[test]
fn layers_name_each_module_of_the_crate_once() {
    let lib = std::fs::read_to_string(root().join("src/lib.rs")).unwrap();
    let declared: BTreeSet<String> = lib
        .lines()
        .filter_map(|line| {
            let line = line.trim();
            let rest = line
                .strip_prefix("pub mod ")
                .or_else(|| line.strip_prefix("mod "))?;
            Some(rest.trim_end_matches([';', '{', ' ']).to_string())
        })
        .collect();
    let listed: Vec<&str> = levels().into_iter().map(|(name, _)| name).collect();
    let unique: BTreeSet<String> = listed.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        unique.len(),
        listed.len(),
        "a module is listed twice: {listed:?}"
    );
    assert_eq!(
        unique, declared,
        "LAYERS against the modules src/lib.rs declares"
    );
}

#[test]
fn architecture_shows_the_same_layers() {
    let doc = std::fs::read_to_string(root().join("docs/ARCHITECTURE.md")).unwrap();
    let block = format!("```\n{LAYERS}```\n");
    assert!(
        doc.contains(&block),
        "docs/ARCHITECTURE.md must show the layer order exactly as tests/layering.rs has it:\n{block}"
    );
}

/// The scanner against a file written for it: each kind of path is found, and nothing in a
/// comment, a string or a test module is.
#[test]
fn the_scanner_finds_every_kind_of_path_and_nothing_else() {
    let text = r#"//! Docs name [`crate::app`], which is no import.
use crate::model::IpvsTable;
use crate::{
    netlink::decode::messages,
    snapshot::{Snapshot, Outcome},
};
/* crate::cli in a block comment */
fn f() -> crate::metrics::EncodeOptions {
    let _ = "crate::http in a string";
    let _ = r"crate::web in a raw string";
    let _ = '"';
    let _ = super::super::report::render();
    crate::advisor::run()
}
#[cfg(test)]
mod tests {
    use crate::fleet::Fleet;
}
"#;
    let module = vec!["parse".to_string(), "conntrack".to_string()];
    let mut code = code_only(text);
    without_test_items(&mut code);
    let found: Vec<(String, usize)> = crate_paths(&code, &module)
        .into_iter()
        .map(|(name, offset)| (name, line_of(&code, offset)))
        .collect();
    let expected: Vec<(String, usize)> = [
        ("model", 2),
        ("netlink", 4),
        ("snapshot", 5),
        ("metrics", 8),
        ("report", 12),
        ("advisor", 13),
    ]
    .iter()
    .map(|(name, line)| (name.to_string(), *line))
    .collect();
    assert_eq!(found, expected);

    let problems = violations(Path::new("parse/conntrack.rs"), text);
    assert_eq!(problems.len(), 4, "{problems:#?}");
    assert!(
        problems[0].starts_with("src/parse/conntrack.rs:5: `parse` uses `snapshot`, a layer above"),
        "{problems:#?}"
    );
}

/// The root package as `cargo metadata` resolves Cargo.toml: its features, and each dependency's
/// name and kind (`null` for a normal one, `"dev"`, `"build"`).
fn root_package() -> serde_json::Value {
    let metadata = cargo::metadata(&["--no-deps"]);
    metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == env!("CARGO_PKG_NAME"))
        .cloned()
        .expect("the root package in cargo metadata")
}

/// Lines under `src/` that switch code on for tests through a feature: `test-support` named at
/// all, or a `cfg` on one of the `test-*` features (those gate test targets, never library code).
fn test_features_in_src() -> Vec<String> {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    assert!(files.len() > 20, "only {} files under src/", files.len());
    let mut found = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for (number, line) in text.lines().enumerate() {
            if line.contains("test-support") || line.contains("feature = \"test-") {
                let relative = file.strip_prefix(root()).unwrap_or(file);
                found.push(format!(
                    "{}:{}: {}",
                    relative.display(),
                    number + 1,
                    line.trim()
                ));
            }
        }
    }
    found
}

/// The shipped library holds no test code under any feature: the test doubles live in the
/// testkit crate, which the root package dev-depends on; no `test-support` feature switches test
/// code on in src/, and the package does not dev-depend on itself to turn such a feature on.
#[test]
fn the_library_has_no_test_code_behind_a_feature() {
    assert_eq!(test_features_in_src(), Vec::<String>::new());

    let package = root_package();
    let features: Vec<&str> = package["features"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert!(
        !features.contains(&"test-support"),
        "Cargo.toml declares the test-support feature: {features:?}"
    );
    assert!(
        features.contains(&"test-host"),
        "the features were not read: {features:?}"
    );

    let dependencies = package["dependencies"].as_array().unwrap();
    let of_kind = |kind: &str| -> Vec<&str> {
        dependencies
            .iter()
            .filter(|d| d["kind"].as_str() == Some(kind))
            .map(|d| d["name"].as_str().unwrap())
            .collect()
    };
    let normal: Vec<&str> = dependencies
        .iter()
        .filter(|d| d["kind"].is_null())
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    let dev = of_kind("dev");
    assert!(
        !dev.contains(&env!("CARGO_PKG_NAME")),
        "the package dev-depends on itself: {dev:?}"
    );
    assert!(
        dev.contains(&"ipvs_exporter_testkit"),
        "tests and benches get their doubles from testkit: {dev:?}"
    );
    assert!(
        !normal.contains(&"ipvs_exporter_testkit") && normal.contains(&"tokio"),
        "the shipped library must not depend on testkit: {normal:?}"
    );
}
