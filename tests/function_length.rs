//! No function under src/ is longer than 80 lines (from the line with `fn` to its closing
//! brace), outside `#[cfg(test)]` items and the exceptions listed here: a long function is
//! split into named helpers that say what they do. testkit/src/ (the test doubles) is held to
//! the same rule: tests read it as they read the library.

#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};

/// The most lines a function may take, its signature and closing brace included.
const MAX_LINES: usize = 80;

/// Functions allowed to be longer, by file (relative to the crate root) and name. An entry
/// whose function is no longer too long fails the test, so the list only shrinks.
const EXCEPTIONS: &[(&str, &str)] = &[
    // a flat list of metric families, one `gauges` call each
    ("src/metrics/ipvs.rs", "encode_tables"),
];

/// A function found in a file: its name, the line its `fn` is on (from 1) and its length.
#[derive(Debug, PartialEq, Eq)]
struct Function {
    name: String,
    line: usize,
    lines: usize,
}

/// The name of the function declared on this line, when the line starts one (`pub fn`,
/// `pub(crate) async fn`, `const fn`...).
fn declared_name(line: &str) -> Option<&str> {
    let mut words = line.split_whitespace();
    loop {
        let word = words.next()?;
        match word {
            "pub" | "async" | "const" | "unsafe" | "extern" | "\"C\"" | "default" => {}
            _ if word.starts_with("pub(") => {}
            "fn" => {
                let rest = words.next()?;
                let end = rest
                    .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .unwrap_or(rest.len());
                return (end > 0).then(|| &rest[..end]);
            }
            _ => return None,
        }
    }
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// The index of the line that closes the item starting at `start` (the first later line that
/// is only `}` at the item's indentation), or `None` when the item has no body (a trait's
/// declaration ends in `;`) or its body is on its first line.
fn closing_line(lines: &[&str], start: usize) -> Option<usize> {
    let indent = indent_of(lines[start]);
    // The signature ends at the first line that ends in `{` (a body follows) or in `;` or
    // `}` (no body, or a body on one line).
    let mut at = start;
    loop {
        let trimmed = lines.get(at)?.trim_end();
        if trimmed.ends_with('{') {
            break;
        }
        if trimmed.ends_with(';') || trimmed.ends_with('}') {
            return None;
        }
        at += 1;
    }
    let closing = format!("{}}}", " ".repeat(indent));
    (at + 1..lines.len()).find(|&i| {
        let line = lines[i].trim_end();
        line == closing || line.starts_with(&format!("{closing} ")) || line == format!("{closing};")
    })
}

/// The functions of a file's text, outside `#[cfg(test)]` items.
fn functions(text: &str) -> Vec<Function> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    let mut skip_until = 0;
    for (i, line) in lines.iter().enumerate() {
        if i < skip_until {
            continue;
        }
        if line.trim() == "#[cfg(test)]" {
            // the item after the attribute (a module or a function) is test code
            if let Some(item) = (i + 1..lines.len()).find(|&j| !lines[j].trim().starts_with("#["))
                && let Some(end) = closing_line(&lines, item)
            {
                skip_until = end + 1;
            }
            continue;
        }
        if line.trim_start().starts_with("//") {
            continue;
        }
        let Some(name) = declared_name(line) else {
            continue;
        };
        if let Some(end) = closing_line(&lines, i) {
            found.push(Function {
                name: name.to_string(),
                line: i + 1,
                lines: end - i + 1,
            });
        }
    }
    found
}

fn rust_files(dir: &Path, into: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, into);
        } else if path.extension().is_some_and(|e| e == "rs") {
            into.push(path);
        }
    }
}

#[test]
fn no_function_under_src_is_longer_than_80_lines() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    rust_files(&root.join("testkit/src"), &mut files);
    files.sort();
    assert!(
        files
            .iter()
            .any(|f| f.ends_with("testkit/src/fake_kernel.rs"))
    );
    assert!(files.len() > 20, "only {} files under src/", files.len());
    let mut too_long = Vec::new();
    let mut excepted = Vec::new();
    let mut counted = 0;
    for path in &files {
        let relative = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let text = std::fs::read_to_string(path).unwrap();
        for function in functions(&text) {
            counted += 1;
            if function.lines <= MAX_LINES {
                continue;
            }
            let key = (relative.as_str(), function.name.as_str());
            if EXCEPTIONS.contains(&key) {
                excepted.push((relative.clone(), function.name));
            } else {
                too_long.push(format!(
                    "{relative}:{} fn {} is {} lines (at most {MAX_LINES})",
                    function.line, function.name, function.lines
                ));
            }
        }
    }
    assert!(counted > 500, "only {counted} functions found under src/");
    assert!(
        too_long.is_empty(),
        "functions longer than {MAX_LINES} lines; split them into named helpers:\n{}",
        too_long.join("\n")
    );
    let stale: Vec<String> = EXCEPTIONS
        .iter()
        .filter(|(file, name)| !excepted.iter().any(|(f, n)| f == file && n == name))
        .map(|(file, name)| format!("{file} fn {name}"))
        .collect();
    assert!(
        stale.is_empty(),
        "no longer over {MAX_LINES} lines (or gone); remove from EXCEPTIONS:\n{}",
        stale.join("\n")
    );
}

#[test]
fn the_scanner_measures_from_fn_to_its_closing_brace_and_skips_test_code() {
    let text = "\
pub fn short() -> u8 {
    1
}

impl Thing {
    pub(crate) async fn method(&self)
    where
        Self: Sized,
    {
        let x = {
            2
        };
    }

    fn declared(&self);
    fn one_line(&self) -> u8 { 3 }
}

#[cfg(test)]
mod tests {
    fn hidden() {
    }
}
// fn commented() {
fn last() {}
";
    assert_eq!(
        functions(text),
        vec![
            Function {
                name: "short".into(),
                line: 1,
                lines: 3
            },
            Function {
                name: "method".into(),
                line: 6,
                lines: 8
            },
        ]
    );
}
