//! The endpoint table of docs/endpoints.md against the server: every path the server routes is
//! listed, every listed path is routed, and the running binary answers each listed path (and 404 for one
//! that is not), so the documentation and the routes cannot drift apart.

#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::panic, clippy::indexing_slicing)]
#![allow(clippy::cast_possible_truncation)]

mod support;

use std::collections::BTreeSet;

use ipvs_exporter::web::routes::FIXED_ROUTES;
use support::{Exporter, http_get};

/// The default `--web.telemetry-path`.
const TELEMETRY_PATH: &str = "/metrics";

/// The first column of the table under docs/endpoints.md's "## Endpoints".
fn documented_endpoints() -> BTreeSet<String> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/endpoints.md"))
        .expect("read docs/endpoints.md");
    let section = doc
        .split("\n## Endpoints\n")
        .nth(1)
        .expect("docs/endpoints.md has an Endpoints section");
    let section = section.split("\n## ").next().unwrap_or_default();
    section
        .lines()
        .filter_map(|line| {
            let first = line.strip_prefix('|')?.split('|').next()?.trim();
            let path = first.strip_prefix('`')?.strip_suffix('`')?;
            path.starts_with('/').then(|| path.to_string())
        })
        .collect()
}

fn served_routes() -> BTreeSet<String> {
    FIXED_ROUTES
        .iter()
        .map(|route| route.path.to_string())
        .chain([TELEMETRY_PATH.to_string()])
        .collect()
}

#[test]
fn the_doc_lists_exactly_the_routes_the_server_has() {
    let listed = documented_endpoints();
    let served = served_routes();
    assert!(
        listed.contains("/report"),
        "docs/endpoints.md lists {listed:?}"
    );
    assert_eq!(
        listed, served,
        "docs/endpoints.md's endpoint table and the server's routes differ"
    );
}

#[test]
fn the_server_answers_every_listed_endpoint() {
    let exporter = Exporter::start(&["--scrape.collector-timeout", "2s"]);
    for path in documented_endpoints() {
        let response = http_get(exporter.address, &path, &[]);
        assert_eq!(response.status, 200, "{path}: {}", response.body);
    }
    let unknown = http_get(exporter.address, "/reports", &[]);
    assert_eq!(unknown.status, 404, "an unlisted path");
}
