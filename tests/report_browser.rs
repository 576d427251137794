//! The HTML report in a real browser: headless Chromium (Debian's `chromium`, which the test
//! command installs) loads `/report` from the exporter pointed at a fixture tree; the rendered
//! page's text is checked, and a screenshot is left in the test's output directory to look at.
//!
//! Tier `test-browser`: `cargo test --features test-browser --test report_browser`.

// Test code: a failed unwrap or index is a failed test (the [lints] table guards src/).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use std::path::PathBuf;
use std::process::Command;

use support::Exporter;

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
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .expect(
            "chromium must be installed (Debian package chromium); the test command installs it",
        )
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

    let dom = chromium(&["--dump-dom".into(), url.clone()]);
    let page = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.status.success() && page.contains("<h1>ipvs_exporter report</h1>"),
        "chromium did not render the report ({}): {}",
        dom.status,
        String::from_utf8_lossy(&dom.stderr)
    );
    for text in [
        "NAT director, DR director, TUN director",
        "<td class=\"critical\">critical</td>",
        "TCP 192.0.2.12:8443 cannot take new connections",
        "service-without-weight",
        "ipvsadm -e -t VIP:PORT -r RIP:PORT -w 1",
        "<td>FWM 268435457</td>",
    ] {
        assert!(
            page.contains(text),
            "the rendered report lacks {text:?}:\n{page}"
        );
    }

    let screenshot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report.png");
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
