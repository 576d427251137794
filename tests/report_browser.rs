//! The HTML report in a real browser: headless Chromium (Debian's `chromium`, which the test
//! command installs) loads `/report` from the exporter pointed at a fixture tree, and what it
//! renders is held to the same state's JSON report (`/report?format=json`):
//!
//! - the page as served (`--dump-dom`): a summary card per severity whose count is the number
//!   of findings of that severity, one block per rule with its findings, each rule's fix once,
//!   no script;
//! - the page as laid out: a copy of it with a measuring script appended (the page itself has
//!   none) reports the drawn width of every weight bar against its track, which must be the
//!   real server's share of its service's weight; drained real servers (weight 0) drawn apart;
//!   and, in a window 500 pixels wide (headless Chromium's narrowest), nothing wider than the window.
//!
//! A screenshot is left in the test's output directory to look at.
//!
//! Tier `test-browser`: `cargo test --features test-browser --test report_browser`.

// Test code: a failed unwrap or index is a failed test (the [lints] table guards src/).
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::panic, clippy::indexing_slicing)]
#![allow(clippy::cast_possible_truncation)]

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use support::{Exporter, http_get};

fn chromium(args: &[String]) -> std::process::Output {
    let profile = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("chromium-profile-{}", std::process::id()));
    Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .expect(
            "chromium must be installed (Debian package chromium); the test command installs it",
        )
}

/// The DOM Chromium built from `url`, serialized.
fn dump_dom(url: &str, window: &str) -> String {
    let dom = chromium(&[
        format!("--window-size={window}"),
        "--dump-dom".into(),
        url.into(),
    ]);
    let page = String::from_utf8_lossy(&dom.stdout).into_owned();
    assert!(
        dom.status.success() && page.contains("<h1>ipvs_exporter report</h1>"),
        "chromium did not render {url} ({}): {}",
        dom.status,
        String::from_utf8_lossy(&dom.stderr)
    );
    page
}

/// Text as Chromium serializes a text node (quotes as they are).
fn dom_text(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The page's text: its markup taken out.
fn without_tags(page: &str) -> String {
    let mut text = String::with_capacity(page.len());
    let mut in_tag = false;
    for c in page.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text
}

/// The value of `name="..."` in each element that has it.
fn attributes<'a>(page: &'a str, name: &str) -> Vec<&'a str> {
    let pattern = format!(" {name}=\"");
    page.match_indices(&pattern)
        .filter_map(|(at, _)| {
            let rest = page.get(at + pattern.len()..)?;
            rest.get(..rest.find('"')?)
        })
        .collect()
}

/// What the measuring script reports about the laid-out page.
const MEASURE: &str = r#"<script>
(function () {
  var share = function (part, whole) {
    var w = whole.getBoundingClientRect().width;
    return w > 0 ? part.getBoundingClientRect().width / w : -1;
  };
  var rows = [];
  document.querySelectorAll("article.service").forEach(function (service) {
    service.querySelectorAll("tr[data-real-server]").forEach(function (row) {
      var bar = row.querySelector(".bar .weight");
      var td = row.querySelector("td");
      rows.push({
        service: service.getAttribute("data-service"),
        real_server: row.getAttribute("data-real-server"),
        drained: row.classList.contains("drained"),
        weight_share: bar ? share(bar, bar.parentElement) : -2,
        background: getComputedStyle(td).backgroundImage
      });
    });
  });
  var out = document.createElement("pre");
  out.id = "measured";
  out.textContent = JSON.stringify({
    rows: rows,
    scroll_width: document.documentElement.scrollWidth,
    inner_width: window.innerWidth
  });
  document.body.appendChild(out);
})();
</script>
"#;

/// The measuring script's report from a copy of `html` laid out in `window`.
fn measure(html: &str, window: &str, dir: &Path) -> Value {
    let copy = dir.join(format!("measure-{}.html", window.replace(',', "x")));
    std::fs::write(&copy, format!("{html}{MEASURE}")).unwrap();
    let page = dump_dom(&format!("file://{}", copy.display()), window);
    let start = page
        .find("<pre id=\"measured\">")
        .unwrap_or_else(|| panic!("the measuring script wrote nothing:\n{page}"))
        + "<pre id=\"measured\">".len();
    let end = start + page[start..].find("</pre>").expect("</pre>");
    let text = page[start..end]
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// `198.51.100.1:80`, `[2001:db8::1]:443` as the page names a real server.
fn socket(address: &str, port: u64) -> String {
    if address.contains(':') {
        format!("[{address}]:{port}")
    } else {
        format!("{address}:{port}")
    }
}

#[test]
fn html_report_renders_the_findings_in_chromium() {
    let exporter = Exporter::start(&[
        "--path.procfs",
        "tests/fixtures/mixed-director/proc",
        "--path.sysfs",
        "tests/fixtures/mixed-director/sys",
        "--collector.ipvs.source",
        "procfs",
        "--collector.conntrack.source",
        "procfs",
        "--no-collector.netdev.ethtool",
    ]);
    let url = format!("http://{}/report", exporter.address);
    let json: Value =
        serde_json::from_str(&http_get(exporter.address, "/report?format=json", &[]).body)
            .expect("the JSON report");
    let findings = json["findings"].as_array().expect("findings");
    assert!(!findings.is_empty(), "the fixture has findings: {json}");

    // ---- the page as served
    let page = dump_dom(&url, "1280,1600");
    for text in [
        "NAT director, DR director, TUN director",
        "TCP 192.0.2.12:8443 cannot take new connections",
        "data-service=\"FWM 268435457\"",
    ] {
        assert!(
            page.contains(text),
            "the rendered report lacks {text:?}:\n{page}"
        );
    }
    assert!(!page.contains("<script"), "the page needs no script");

    // The summary: one card per severity, counted from the JSON.
    let mut by_severity: BTreeMap<&str, usize> = BTreeMap::new();
    let mut by_rule: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    for finding in findings {
        *by_severity
            .entry(finding["severity"].as_str().unwrap())
            .or_default() += 1;
        by_rule
            .entry(finding["rule"].as_str().unwrap())
            .or_default()
            .push(finding);
    }
    let rules_evaluated = json["rules_evaluated"].as_u64().unwrap() as usize;
    let skipped = json["skipped"].as_array().unwrap().len();
    for (severity, expected) in [
        (
            "critical",
            by_severity.get("critical").copied().unwrap_or(0),
        ),
        ("warning", by_severity.get("warning").copied().unwrap_or(0)),
        ("info", by_severity.get("info").copied().unwrap_or(0)),
        ("ok", rules_evaluated - by_rule.len()),
        ("skipped", skipped),
    ] {
        let card = format!(
            "data-severity=\"{severity}\" data-count=\"{expected}\"><span class=\"n\">{expected}</span>"
        );
        assert_eq!(page.matches(&card).count(), 1, "{card} in:\n{page}");
    }

    // One block per rule, each with its findings, and each rule's fix once in the page.
    let text = without_tags(&page);
    let blocks = attributes(&page, "data-rule");
    let rule_blocks: Vec<&str> = page
        .match_indices("<article class=\"rule ")
        .map(|(at, _)| {
            let rest = &page[at..];
            &rest[..rest.find("</article>").unwrap()]
        })
        .collect();
    assert_eq!(rule_blocks.len(), by_rule.len(), "{page}");
    for (rule, of_rule) in &by_rule {
        let block = rule_blocks
            .iter()
            .find(|b| b.contains(&format!("data-rule=\"{rule}\"")))
            .unwrap_or_else(|| panic!("no block for {rule}: {blocks:?}"));
        assert!(
            block.contains(&format!("data-findings=\"{}\"", of_rule.len())),
            "{block}"
        );
        assert_eq!(
            block.matches("<li data-subject=").count(),
            of_rule.len(),
            "{block}"
        );
        let mut fixes: Vec<&str> = of_rule.iter().map(|f| f["fix"].as_str().unwrap()).collect();
        fixes.dedup();
        for fix in fixes {
            // The page sets what is between backticks as code.
            let fix = fix.replace('`', "");
            assert_eq!(
                text.matches(&dom_text(&fix)).count(),
                1,
                "{rule}: its fix once in the page: {fix}"
            );
        }
    }

    // ---- the page as laid out
    let html = http_get(exporter.address, "/report?format=html", &[]).body;
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let measured = measure(&html, "1280,1600", &dir);
    let rows = measured["rows"].as_array().expect("rows");
    let services = json["ipvs"]["services"].as_array().expect("services");
    let real_servers: usize = services
        .iter()
        .map(|s| s["real_servers"].as_array().unwrap().len())
        .sum();
    assert_eq!(
        rows.len(),
        real_servers,
        "a row per real server: {measured}"
    );
    let mut row = rows.iter();
    let mut drained = 0;
    for service in services {
        let servers = service["real_servers"].as_array().unwrap();
        let total: i64 = servers
            .iter()
            .map(|r| r["weight"].as_i64().unwrap().max(0))
            .sum();
        for server in servers {
            let drawn = row.next().unwrap();
            let name = socket(
                server["address"].as_str().unwrap(),
                server["port"].as_u64().unwrap(),
            );
            assert_eq!(drawn["real_server"], name.as_str(), "{drawn}");
            let weight = server["weight"].as_i64().unwrap();
            let share = if total > 0 {
                weight as f64 / total as f64
            } else {
                0.0
            };
            let width = drawn["weight_share"].as_f64().unwrap();
            assert!(
                (width - share).abs() < 0.01,
                "{name} in {}: bar {width:.3} of its track, weight {weight} of {total}",
                drawn["service"]
            );
            let hatched = drawn["background"]
                .as_str()
                .unwrap()
                .contains("repeating-linear-gradient");
            assert_eq!(drawn["drained"], weight == 0, "{drawn}");
            assert_eq!(hatched, weight == 0, "drained rows drawn apart: {drawn}");
            drained += usize::from(weight == 0);
        }
    }
    assert!(drained > 0, "the fixture has drained real servers");

    // A narrow window (headless Chromium's narrowest, 500 px): the page reflows instead of
    // spilling sideways.
    let narrow = measure(&html, "500,1000", &dir);
    let inner = narrow["inner_width"].as_f64().unwrap();
    assert!(inner <= 520.0, "not a narrow window: {narrow}");
    assert!(
        narrow["scroll_width"].as_f64().unwrap() <= inner,
        "wider than a {inner} px window: {}",
        narrow["scroll_width"]
    );

    let screenshot = dir.join("report.png");
    let _ = std::fs::remove_file(&screenshot);
    let shot = chromium(&[
        format!("--screenshot={}", screenshot.display()),
        "--window-size=1280,1600".into(),
        url,
    ]);
    let size = std::fs::metadata(&screenshot).map(|m| m.len()).unwrap_or(0);
    assert!(
        shot.status.success() && size > 10_000,
        "no screenshot at {} ({} bytes): {}",
        screenshot.display(),
        size,
        String::from_utf8_lossy(&shot.stderr)
    );
    eprintln!("report screenshot: {}", screenshot.display());
    exporter.stop();
}
