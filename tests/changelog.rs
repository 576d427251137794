//! CHANGELOG.md keeps the Keep a Changelog 1.1.0 shape (an Unreleased section first, then
//! releases `## [X.Y.Z] - YYYY-MM-DD`, newest first, with Added/Changed/... sections), its newest
//! release is the version Cargo.toml builds, and the Debian changelog that cargo-deb packs
//! (packaging/debian/changelog) has an entry for exactly the same releases, the newest one
//! dated the day CHANGELOG.md gives it, with the weekday that day really has.

// Test code: a failed unwrap or index is a failed test (the [lints] table guards src/).
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::panic, clippy::indexing_slicing)]
#![allow(clippy::cast_possible_truncation)]

use std::path::PathBuf;

const SECTIONS: &[&str] = &[
    "Added",
    "Changed",
    "Deprecated",
    "Removed",
    "Fixed",
    "Security",
];

fn read(rel: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

type Version = (u64, u64, u64);

fn version(text: &str) -> Version {
    let parts: Vec<u64> = text
        .split('.')
        .map(|p| {
            p.parse()
                .unwrap_or_else(|_| panic!("{text:?} is not X.Y.Z"))
        })
        .collect();
    let [major, minor, patch] = parts[..] else {
        panic!("{text:?} is not X.Y.Z");
    };
    (major, minor, patch)
}

/// (year, month, day) from YYYY-MM-DD.
fn iso_date(text: &str) -> (i64, u32, u32) {
    let parts: Vec<&str> = text.split('-').collect();
    assert!(
        parts.len() == 3 && parts[0].len() == 4 && parts[1].len() == 2 && parts[2].len() == 2,
        "{text:?} is not YYYY-MM-DD"
    );
    let date = (
        parts[0].parse().unwrap(),
        parts[1].parse().unwrap(),
        parts[2].parse().unwrap(),
    );
    assert!(
        (1..=12).contains(&date.1) && (1..=31).contains(&date.2),
        "{text:?}"
    );
    date
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
fn days_from_civil((y, m, d): (i64, u32, u32)) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn weekday(date: (i64, u32, u32)) -> &'static str {
    // 1970-01-01 was a Thursday
    ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][days_from_civil(date).rem_euclid(7) as usize]
}

struct Release {
    version: Version,
    date: (i64, u32, u32),
}

/// The releases of CHANGELOG.md, in file order, after checking the file's shape.
fn changelog_releases() -> Vec<Release> {
    let text = read("CHANGELOG.md");
    assert!(text.starts_with("# Changelog\n"), "the title line");
    let mut sections = text.split("\n## ").skip(1);
    let unreleased = sections.next().expect("a ## [Unreleased] section");
    assert!(
        unreleased.starts_with("[Unreleased]\n"),
        "the first section is [Unreleased], not {:?}",
        unreleased.lines().next()
    );
    check_change_kinds("Unreleased", unreleased, true);
    let mut releases = Vec::new();
    for section in sections {
        let heading = section.lines().next().unwrap();
        let (v, d) = heading
            .strip_prefix('[')
            .and_then(|h| h.split_once("] - "))
            .unwrap_or_else(|| panic!("{heading:?} is not \"[X.Y.Z] - YYYY-MM-DD\""));
        check_change_kinds(heading, section, false);
        releases.push(Release {
            version: version(v),
            date: iso_date(d),
        });
    }
    assert!(!releases.is_empty(), "no release in CHANGELOG.md");
    for pair in releases.windows(2) {
        assert!(pair[0].version > pair[1].version, "versions newest first");
        assert!(pair[0].date >= pair[1].date, "dates newest first");
    }
    releases
}

/// A section's `### Kind` headings are Keep a Changelog's, each once, each with entries.
fn check_change_kinds(name: &str, section: &str, may_be_empty: bool) {
    let mut kinds = Vec::new();
    for block in section.split("\n### ").skip(1) {
        let kind = block.lines().next().unwrap();
        assert!(SECTIONS.contains(&kind), "{name}: unknown kind {kind:?}");
        assert!(!kinds.contains(&kind), "{name}: {kind} twice");
        kinds.push(kind);
        assert!(
            block.lines().any(|l| l.starts_with("- ")),
            "{name}: {kind} has no entry"
        );
    }
    assert!(may_be_empty || !kinds.is_empty(), "{name}: no changes");
    assert!(
        !section.lines().any(|l| l.starts_with("# ")),
        "{name}: a level-1 heading inside"
    );
}

struct DebianEntry {
    upstream: Version,
    revision: String,
    weekday: String,
    date: (i64, u32, u32),
}

/// The entries of a Debian changelog (deb-changelog(5)): a heading line
/// `package (version) distributions; urgency=...`, and a trailer
/// ` -- name <email>  Www, DD Mmm YYYY hh:mm:ss +zzzz`.
fn debian_entries() -> Vec<DebianEntry> {
    let text = read("packaging/debian/changelog");
    let mut entries = Vec::new();
    let mut open: Option<(Version, String)> = None;
    for line in text.lines() {
        if line.is_empty() || line.starts_with("  ") {
            continue;
        }
        if let Some(trailer) = line.strip_prefix(" -- ") {
            let (upstream, revision) = open.take().expect("a trailer without a heading");
            let (who, when) = trailer
                .split_once(">  ")
                .unwrap_or_else(|| panic!("trailer {trailer:?}: two spaces after the address"));
            assert!(who.contains(" <"), "trailer {trailer:?}: name <email>");
            let (day_name, rest) = when.split_once(", ").expect("Www, DD Mmm YYYY");
            let words: Vec<&str> = rest.split_whitespace().collect();
            let [day, month, year, time, zone] = words[..] else {
                panic!("date {when:?}");
            };
            assert!(time.len() == 8 && zone.len() == 5, "date {when:?}");
            let month = [
                "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
            ]
            .iter()
            .position(|m| *m == month)
            .unwrap_or_else(|| panic!("month in {when:?}")) as u32
                + 1;
            entries.push(DebianEntry {
                upstream,
                revision,
                weekday: day_name.to_string(),
                date: (year.parse().unwrap(), month, day.parse().unwrap()),
            });
            continue;
        }
        assert!(open.is_none(), "a heading inside an entry: {line:?}");
        let rest = line
            .strip_prefix("ipvs-exporter (")
            .unwrap_or_else(|| panic!("not an ipvs-exporter heading: {line:?}"));
        let (full, rest) = rest.split_once(") ").expect("(version) ");
        assert!(rest.contains("; urgency="), "{line:?}");
        let (upstream, revision) = full.rsplit_once('-').expect("a Debian revision");
        open = Some((version(upstream), revision.to_string()));
    }
    assert!(open.is_none(), "the last entry has no trailer");
    entries
}

#[test]
fn the_newest_release_is_the_version_cargo_builds() {
    let releases = changelog_releases();
    assert_eq!(
        releases[0].version,
        version(env!("CARGO_PKG_VERSION")),
        "CHANGELOG.md's newest release against Cargo.toml"
    );
}

#[test]
fn debian_changelog_has_exactly_the_releases() {
    let releases = changelog_releases();
    let debian = debian_entries();
    assert!(!debian.is_empty());
    for pair in debian.windows(2) {
        assert!(
            pair[0].upstream >= pair[1].upstream,
            "Debian entries newest first"
        );
        assert!(
            (pair[0].upstream, &pair[0].revision) != (pair[1].upstream, &pair[1].revision),
            "a Debian version twice"
        );
    }
    for entry in &debian {
        assert_eq!(
            entry.weekday,
            weekday(entry.date),
            "the weekday of {:?} in the Debian changelog",
            entry.date
        );
    }
    let mut ours: Vec<Version> = releases.iter().map(|r| r.version).collect();
    let mut theirs: Vec<Version> = debian.iter().map(|e| e.upstream).collect();
    ours.sort();
    theirs.sort();
    theirs.dedup();
    assert_eq!(
        ours, theirs,
        "the releases of CHANGELOG.md and the upstream versions of packaging/debian/changelog"
    );
    let newest = &debian[0];
    assert_eq!(newest.upstream, releases[0].version);
    assert_eq!(
        newest.date, releases[0].date,
        "the newest Debian entry is dated the day of the newest release"
    );
}

#[test]
fn weekdays_are_counted_from_known_days() {
    assert_eq!(weekday((1970, 1, 1)), "Thu");
    assert_eq!(weekday((2000, 2, 29)), "Tue");
    assert_eq!(weekday((2024, 12, 25)), "Wed");
    assert_eq!(weekday((2026, 11, 30)), "Mon");
    assert_eq!(weekday((2100, 3, 1)), "Mon");
}
