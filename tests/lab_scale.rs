//! The series budget on a real kernel, and the scale benchmark's report. `tests/lab/bench-scale.sh`
//! boots the lab with its `scale` scenario: a NAT director of TCP services of 10 real servers
//! each, loaded with one `ipvsadm -R`, the exporter with its defaults and Debian's
//! node_exporter with only its ipvs collector beside it. This test runs it at 2,000 services
//! (20,000 real servers) with one measured round, prints its report (times, ratios, bytes and
//! series per real server, peak memory; figures, not checks) and then checks, for each size
//! the run measured, what does not depend on how busy the host was:
//!
//! - `ipvsadm -Ln --stats --exact` in the guest lists the table that was loaded (the truth the
//!   rest is held to);
//! - a default scrape has one `ipvs_backend_weight` series per real server ipvsadm lists, and
//!   one `ipvs_service_info` per service: every real server is exported;
//! - it stays within the budget of docs/metrics.md: at most 10 series per real server and 12
//!   per service, counted in the classic text scrape by name (`ipvs_backend_*` and
//!   `ipvs_service_*`);
//! - the OpenMetrics scrape has the same number of series as the classic one;
//! - the 8 concurrent scrapes all got their answer.
//!
//! Tier `test-lab`: `cargo test --features test-lab --test lab_scale -- --nocapture` (root, qemu,
//! Debian's prometheus-node-exporter in the guest; about five minutes). `IPVS_LAB_SCALE_SIZES`
//! and `IPVS_LAB_SCALE_ROUNDS` choose other sizes (default here `2000` and `1`);
//! `IPVS_LAB_SCALE_RESULTS=DIR` checks an earlier run's results in DIR (the benchmark's OUTDIR)
//! without booting.

// Test code: a failed unwrap or index is a failed test (the [lints] table guards src/).
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::panic, clippy::indexing_slicing)]
#![allow(clippy::cast_precision_loss)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const BUDGET_PER_REAL_SERVER: f64 = 10.0;
const BUDGET_PER_SERVICE: f64 = 12.0;

fn say(msg: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{msg}");
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs the benchmark (or takes an earlier run's directory) and returns its OUTDIR.
fn run_benchmark() -> PathBuf {
    if let Some(dir) = std::env::var_os("IPVS_LAB_SCALE_RESULTS") {
        say(&format!(
            "lab-scale: checking earlier results in {} (IPVS_LAB_SCALE_RESULTS); no boot",
            dir.to_string_lossy()
        ));
        return PathBuf::from(dir);
    }
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("lab-scale");
    let _ = std::fs::remove_dir_all(&out);
    let sizes = std::env::var("IPVS_LAB_SCALE_SIZES").unwrap_or_else(|_| "2000".into());
    let rounds = std::env::var("IPVS_LAB_SCALE_ROUNDS").unwrap_or_else(|_| "1".into());
    let status = Command::new("bash")
        .arg(root().join("tests/lab/bench-scale.sh"))
        .arg(&out)
        .current_dir(root())
        .env("IPVS_LAB_SCALE_SIZES", &sizes)
        .env("IPVS_LAB_SCALE_ROUNDS", &rounds)
        .stdin(Stdio::null())
        .status()
        .expect("bash runs tests/lab/bench-scale.sh");
    assert!(
        status.success(),
        "tests/lab/bench-scale.sh failed ({status}); its reason is on stderr above, the guest's console in {}",
        out.join("console.log").display()
    );
    out
}

/// `key=value` lines of a size's info.txt.
fn info(dir: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(dir.join("info.txt"))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.join("info.txt").display()));
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn number(info: &BTreeMap<String, String>, key: &str) -> usize {
    info.get(key)
        .unwrap_or_else(|| panic!("info.txt has no {key}"))
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("info.txt: {key}: {e}"))
}

/// Series per metric name in one kept scrape (`count name` lines; `TOTAL` is the sum).
fn families(dir: &Path, which: &str) -> BTreeMap<String, usize> {
    let path = dir.join(format!("{which}-families.txt"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .map(|l| {
            let (count, name) = l
                .trim()
                .split_once(' ')
                .unwrap_or_else(|| panic!("{}: {l:?}", path.display()));
            (name.to_string(), count.parse().unwrap())
        })
        .collect()
}

fn sum_with_prefix(families: &BTreeMap<String, usize>, prefix: &str) -> usize {
    families
        .iter()
        .filter(|(name, _)| name.starts_with(prefix))
        .map(|(_, count)| count)
        .sum()
}

/// What one size must show; the failures, each a sentence.
fn check_size(dir: &Path) -> Vec<String> {
    let info = info(dir);
    let services = number(&info, "services");
    let real_servers = services * number(&info, "reals_per_service");
    let mut failures = Vec::new();
    let mut expect = |ok: bool, what: String| {
        if !ok {
            failures.push(what);
        }
    };
    let listed_services = number(&info, "ipvsadm_services");
    let listed_real_servers = number(&info, "ipvsadm_backends");
    expect(
        listed_services == services && listed_real_servers == real_servers,
        format!(
            "ipvsadm lists {listed_services} services and {listed_real_servers} real servers, {services} and {real_servers} were loaded"
        ),
    );

    let text = families(dir, "text");
    let weights = text.get("ipvs_backend_weight").copied().unwrap_or(0);
    expect(
        weights == listed_real_servers,
        format!(
            "{weights} ipvs_backend_weight series for the {listed_real_servers} real servers ipvsadm lists"
        ),
    );
    let service_info = text.get("ipvs_service_info").copied().unwrap_or(0);
    expect(
        service_info == listed_services,
        format!(
            "{service_info} ipvs_service_info series for the {listed_services} services ipvsadm lists"
        ),
    );
    let per_real_server = sum_with_prefix(&text, "ipvs_backend_") as f64 / real_servers as f64;
    expect(
        per_real_server <= BUDGET_PER_REAL_SERVER,
        format!(
            "{per_real_server:.2} series per real server in a default scrape, the budget is {BUDGET_PER_REAL_SERVER}"
        ),
    );
    let per_service = sum_with_prefix(&text, "ipvs_service_") as f64 / services as f64;
    expect(
        per_service <= BUDGET_PER_SERVICE,
        format!(
            "{per_service:.2} series per service in a default scrape, the budget is {BUDGET_PER_SERVICE}"
        ),
    );
    say(&format!(
        "lab-scale: {services} services: {per_real_server:.2} series per real server, {per_service:.2} per service (budget {BUDGET_PER_REAL_SERVER} and {BUDGET_PER_SERVICE})"
    ));

    let (classic, openmetrics) = (number(&info, "text_series"), number(&info, "om_series"));
    expect(
        classic == openmetrics,
        format!(
            "{classic} series in the classic text scrape, {openmetrics} in the OpenMetrics one"
        ),
    );
    let (scrapers, failed) = (
        number(&info, "concurrent_scrapers"),
        number(&info, "concurrent_failed"),
    );
    expect(
        failed == 0,
        format!("{failed} of {scrapers} concurrent scrapes failed"),
    );
    failures
}

#[test]
fn a_default_scrape_of_a_large_director_is_complete_and_within_the_series_budget() {
    let out = run_benchmark();
    if let Ok(report) = std::fs::read_to_string(out.join("report.txt")) {
        say(&report);
    }
    let sizes: Vec<PathBuf> = std::fs::read_dir(out.join("scale"))
        .unwrap_or_else(|e| panic!("{}: {e}", out.join("scale").display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("info.txt").is_file())
        .collect();
    assert!(!sizes.is_empty(), "no size measured in {}", out.display());
    let failures: Vec<String> = sizes
        .iter()
        .flat_map(|dir| {
            check_size(dir)
                .into_iter()
                .map(move |f| format!("{}: {f}", dir.display()))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
