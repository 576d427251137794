//! Licences: the project is Apache-2.0 (Cargo.toml, LICENSE, the Debian copyright file), and
//! every crate that a build for x86_64 Linux resolves, dev-dependencies included, is under a
//! licence expression the allow-list of docs/licences.md satisfies. The crates' licences are
//! read from `cargo metadata --offline --locked` (the registry's own `license` field of each
//! resolved package), so this needs no network once the crates have been fetched by a build.

// Test code: a failed unwrap or index is a failed test (the [lints] table guards src/).
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::panic, clippy::indexing_slicing)]

use std::collections::BTreeSet;
use std::path::PathBuf;

#[path = "support/cargo.rs"]
mod cargo;

/// The licences a dependency may be used under; docs/licences.md says why each is accepted,
/// and why MPL-2.0, CC0-1.0 and the Unlicense are not on it.
const ALLOWED: &[&str] = &[
    "Apache-2.0",
    "MIT",
    "BSD-2-Clause",
    "BSD-3-Clause",
    "ISC",
    "Unicode-3.0",
    "Zlib",
];

/// The platform the released binaries are built for.
const PLATFORM: &str = "x86_64-unknown-linux-gnu";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// An SPDX licence expression as Cargo accepts it: `OR`, `AND`, `WITH`, parentheses, and the
/// old `/` for `OR`.
#[derive(Debug, PartialEq)]
enum Expression {
    Licence(String),
    /// A licence with an exception; allowed only when the pair is allowed as written.
    With(String, String),
    Any(Vec<Expression>),
    All(Vec<Expression>),
}

impl Expression {
    fn parse(text: &str) -> Result<Expression, String> {
        let spaced = text
            .replace('(', " ( ")
            .replace(')', " ) ")
            .replace('/', " OR ");
        let tokens: Vec<&str> = spaced.split_whitespace().collect();
        let mut at = 0;
        let e = parse_or(&tokens, &mut at)?;
        if at != tokens.len() {
            return Err(format!("{text:?}: unexpected {:?}", tokens[at]));
        }
        Ok(e)
    }

    fn allowed_by(&self, allowed: &[&str]) -> bool {
        match self {
            Expression::Licence(id) => allowed.contains(&id.as_str()),
            Expression::With(id, exception) => {
                allowed.contains(&format!("{id} WITH {exception}").as_str())
            }
            Expression::Any(options) => options.iter().any(|o| o.allowed_by(allowed)),
            Expression::All(parts) => parts.iter().all(|p| p.allowed_by(allowed)),
        }
    }
}

fn parse_or(tokens: &[&str], at: &mut usize) -> Result<Expression, String> {
    let mut options = vec![parse_and(tokens, at)?];
    while tokens.get(*at) == Some(&"OR") {
        *at += 1;
        options.push(parse_and(tokens, at)?);
    }
    Ok(if options.len() == 1 {
        options.pop().unwrap()
    } else {
        Expression::Any(options)
    })
}

fn parse_and(tokens: &[&str], at: &mut usize) -> Result<Expression, String> {
    let mut parts = vec![parse_term(tokens, at)?];
    while tokens.get(*at) == Some(&"AND") {
        *at += 1;
        parts.push(parse_term(tokens, at)?);
    }
    Ok(if parts.len() == 1 {
        parts.pop().unwrap()
    } else {
        Expression::All(parts)
    })
}

fn parse_term(tokens: &[&str], at: &mut usize) -> Result<Expression, String> {
    let token = *tokens.get(*at).ok_or("the expression ends too early")?;
    *at += 1;
    if token == "(" {
        let inner = parse_or(tokens, at)?;
        if tokens.get(*at) != Some(&")") {
            return Err("a parenthesis is not closed".into());
        }
        *at += 1;
        return Ok(inner);
    }
    if ["OR", "AND", "WITH", ")"].contains(&token) {
        return Err(format!("{token} where a licence was expected"));
    }
    if tokens.get(*at) == Some(&"WITH") {
        let exception = tokens.get(*at + 1).ok_or("WITH without an exception")?;
        *at += 2;
        return Ok(Expression::With(token.into(), (*exception).into()));
    }
    Ok(Expression::Licence(token.into()))
}

/// (name, version, license field) of every package a build for PLATFORM resolves.
fn resolved_packages() -> Vec<(String, String, Option<String>)> {
    let metadata = cargo::metadata(&["--locked", "--filter-platform", PLATFORM]);
    let in_graph: BTreeSet<&str> = metadata["resolve"]["nodes"]
        .as_array()
        .expect("resolve.nodes")
        .iter()
        .map(|n| n["id"].as_str().expect("node id"))
        .collect();
    metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .filter(|p| in_graph.contains(p["id"].as_str().expect("package id")))
        .map(|p| {
            (
                p["name"].as_str().expect("name").to_string(),
                p["version"].as_str().expect("version").to_string(),
                p["license"].as_str().map(str::to_string),
            )
        })
        .collect()
}

#[test]
fn every_resolved_crate_has_an_allowed_licence() {
    let packages = resolved_packages();
    // the crates a release build cannot do without, to be sure the graph is the real one
    for needed in ["tokio", "rustls", "ring", "hyper", "unicode-ident"] {
        assert!(
            packages.iter().any(|(name, _, _)| name == needed),
            "{needed} is not in the resolved graph: {packages:?}"
        );
    }
    assert!(packages.len() > 100, "only {} packages", packages.len());
    let mut refused = Vec::new();
    for (name, version, licence) in &packages {
        match licence.as_deref().map(Expression::parse) {
            None => refused.push(format!("{name} {version}: no licence expression")),
            Some(Err(e)) => refused.push(format!("{name} {version}: unreadable: {e}")),
            Some(Ok(e)) if !e.allowed_by(ALLOWED) => refused.push(format!(
                "{name} {version}: {} is not satisfied by {ALLOWED:?}",
                licence.as_deref().unwrap_or_default()
            )),
            Some(Ok(_)) => {}
        }
    }
    eprintln!("{} packages checked", packages.len());
    assert!(
        refused.is_empty(),
        "crates outside the allow-list (see docs/licences.md):\n{}",
        refused.join("\n")
    );
}

#[test]
fn the_project_is_apache_2_0_everywhere_it_says_so() {
    let packages = resolved_packages();
    let ours = packages
        .iter()
        .find(|(name, _, _)| name == env!("CARGO_PKG_NAME"))
        .expect("the project itself");
    assert_eq!(ours.2.as_deref(), Some("Apache-2.0"), "Cargo.toml license");

    let licence = read("LICENSE");
    assert!(
        licence.contains("Apache License\n                           Version 2.0, January 2004"),
        "LICENSE is not the Apache License 2.0"
    );
    assert!(licence.contains("TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION"));
    assert!(licence.contains("END OF TERMS AND CONDITIONS"));

    // DEP-5: the Files: * paragraph names the licence, a standalone License paragraph holds
    // its notice and points at Debian's copy of the full text
    let copyright = read("packaging/debian/copyright");
    assert!(copyright.starts_with(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"
    ));
    let paragraphs: Vec<&str> = copyright.split("\n\n").collect();
    let files = paragraphs
        .iter()
        .find(|p| p.starts_with("Files: *\n"))
        .expect("a Files: * paragraph");
    assert!(files.contains("\nLicense: Apache-2.0\n"), "{files}");
    let text = paragraphs
        .iter()
        .find(|p| p.starts_with("License: Apache-2.0\n"))
        .expect("a License: Apache-2.0 paragraph");
    assert!(
        text.contains("/usr/share/common-licenses/Apache-2.0"),
        "{text}"
    );
    for line in copyright.lines().filter(|l| l.starts_with(' ')) {
        assert!(
            line.len() > 1,
            "an empty continuation line must be \" .\" in DEP-5: {line:?}"
        );
    }
}

#[test]
fn docs_list_the_allow_list_as_the_test_has_it() {
    let doc = read("docs/licences.md");
    // the rows of the "allowed" table: | `ID` | why |
    let section = doc
        .split("\n## ")
        .find(|s| s.starts_with("Allowed"))
        .expect("an \"Allowed\" section in docs/licences.md");
    let listed: BTreeSet<&str> = section
        .lines()
        .filter_map(|l| l.strip_prefix("| `")?.split('`').next())
        .collect();
    let allowed: BTreeSet<&str> = ALLOWED.iter().copied().collect();
    assert_eq!(listed, allowed, "docs/licences.md against ALLOWED");
}

#[test]
fn expressions_are_judged_as_spdx_says() {
    let allowed = &["MIT", "Apache-2.0", "ISC"];
    let judge = |e: &str| Expression::parse(e).unwrap().allowed_by(allowed);
    assert!(judge("MIT"));
    assert!(judge("MIT OR Apache-2.0"));
    assert!(judge("MIT/Apache-2.0"));
    assert!(judge("Apache-2.0 AND ISC"));
    assert!(judge("(MIT OR Apache-2.0) AND ISC"));
    assert!(judge("GPL-3.0-only OR MIT"));
    assert!(judge("Apache-2.0 WITH LLVM-exception OR MIT"));
    assert!(!judge("Apache-2.0 WITH LLVM-exception"));
    assert!(!judge("MIT AND GPL-3.0-only"));
    assert!(!judge("(MIT OR Apache-2.0) AND Unicode-3.0"));
    assert!(!judge("MPL-2.0"));
    assert_eq!(
        Expression::parse("MIT OR Apache-2.0 AND ISC").unwrap(),
        Expression::Any(vec![
            Expression::Licence("MIT".into()),
            Expression::All(vec![
                Expression::Licence("Apache-2.0".into()),
                Expression::Licence("ISC".into()),
            ]),
        ]),
        "AND binds tighter than OR"
    );
    for bad in ["", "MIT OR", "(MIT", "MIT)", "AND MIT", "MIT WITH"] {
        assert!(Expression::parse(bad).is_err(), "{bad:?} parsed");
    }
}
