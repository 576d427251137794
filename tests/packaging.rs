//! The packaging files checked without building a package: the systemd unit asks for the
//! privileges the exporter needs and no more, the flags that the unit, the defaults file and
//! the DaemonSet pass are flags the built exporter knows, cargo-deb's assets exist, and the
//! PrometheusRule is what its generator makes from `alerts/`.
//!
//! Building and installing the packages is in `tests/packaging_host.rs` (tier `test-host`)
//! and `tests/lab_debian.rs` (tier `test-lab`).

// Test code: a failed unwrap or index is a failed test (the [lints] table guards src/).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The `Key=value` settings of a systemd unit file, each key with every value it was given.
fn unit_settings(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with('[') {
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("not a setting: {line}"));
        out.entry(k.to_string()).or_default().push(v.to_string());
    }
    out
}

fn one<'a>(settings: &'a BTreeMap<String, Vec<String>>, key: &str) -> &'a str {
    match settings.get(key).map(Vec::as_slice) {
        Some([v]) => v,
        other => panic!("{key}: expected one value, found {other:?}"),
    }
}

#[test]
fn unit_grants_cap_net_admin_alone_to_its_own_user() {
    let s = unit_settings(&read("packaging/systemd/ipvs_exporter.service"));
    assert_eq!(one(&s, "User"), "ipvs_exporter");
    assert_eq!(one(&s, "AmbientCapabilities"), "CAP_NET_ADMIN");
    assert_eq!(one(&s, "CapabilityBoundingSet"), "CAP_NET_ADMIN");
    for (key, want) in [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("ProtectKernelTunables", "yes"),
        ("ProtectKernelModules", "yes"),
        ("ProtectKernelLogs", "yes"),
        ("ProtectControlGroups", "yes"),
        ("Restart", "always"),
    ] {
        assert_eq!(one(&s, key), want, "{key}");
    }
    // CAP_NET_ADMIN only counts in the initial user namespace, IPVS is in the host's
    // network namespace, and the keepalived pid check reads other users' /proc/PID/comm
    for absent in [
        "PrivateUsers",
        "PrivateNetwork",
        "ProcSubset",
        "DynamicUser",
    ] {
        assert!(!s.contains_key(absent), "{absent} would break the exporter");
    }
    if let Some(v) = s.get("ProtectProc") {
        assert!(
            !v.iter().any(|v| v == "invisible" || v == "noaccess"),
            "ProtectProc={v:?} hides keepalived's /proc/PID from the exporter"
        );
    }
    let families: Vec<&str> = one(&s, "RestrictAddressFamilies")
        .split_whitespace()
        .collect();
    for f in ["AF_NETLINK", "AF_UNIX", "AF_INET", "AF_INET6"] {
        assert!(families.contains(&f), "RestrictAddressFamilies lacks {f}");
    }
    assert!(s.contains_key("SystemCallFilter"));
    let nofile: u64 = one(&s, "LimitNOFILE").parse().expect("LimitNOFILE number");
    assert!(nofile >= 4096, "LimitNOFILE={nofile}");
    assert_eq!(
        one(&s, "EnvironmentFile"),
        "-/etc/default/ipvs_exporter",
        "flags come from the defaults file"
    );
    assert_eq!(one(&s, "ExecStart"), "/usr/bin/ipvs_exporter $ARGS");
}

#[test]
fn sysusers_names_the_units_user() {
    let text = read("packaging/sysusers/ipvs_exporter.conf");
    let line = text
        .lines()
        .find(|l| l.starts_with("u "))
        .expect("a u line");
    assert_eq!(line.split_whitespace().nth(1), Some("ipvs_exporter"));
}

/// Every `--flag` named in a packaging file is one the built exporter documents in --help.
#[test]
fn packaging_files_pass_flags_the_exporter_knows() {
    let out = Command::new(env!("CARGO_BIN_EXE_ipvs_exporter"))
        .arg("--help")
        .output()
        .expect("run ipvs_exporter --help");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    let known: Vec<&str> = help
        .split(|c: char| c.is_whitespace() || c == ',' || c == '[' || c == ']')
        .filter(|w| w.starts_with("--"))
        .map(|w| w.split('=').next().unwrap_or(w))
        .collect();
    let mut seen = 0;
    for rel in [
        "packaging/kubernetes/daemonset.yaml",
        "packaging/default/ipvs_exporter",
        "packaging/systemd/ipvs_exporter.service",
        "packaging/systemd/keepalived-json.conf",
    ] {
        for word in read(rel).split(|c: char| c.is_whitespace() || c == '"') {
            let Some(flag) = word.strip_prefix("--").map(|f| {
                let end = f
                    .find(|c: char| !(c.is_ascii_alphanumeric() || "._-".contains(c)))
                    .unwrap_or(f.len());
                &f[..end]
            }) else {
                continue;
            };
            // a flag of the exporter has a dot in its name (--web.x, --path.x, ...)
            if !flag.contains('.') {
                continue;
            }
            let flag = format!("--{flag}");
            assert!(
                known.contains(&flag.as_str()),
                "{rel}: {flag} is not an exporter flag"
            );
            seen += 1;
        }
    }
    assert!(seen >= 8, "only {seen} flags found in the packaging files");
}

#[test]
fn deb_assets_exist() {
    let toml = read("Cargo.toml");
    let start = toml
        .find("[package.metadata.deb]")
        .expect("[package.metadata.deb]");
    let mut n = 0;
    for line in toml[start..].lines() {
        let line = line.trim();
        let Some(rest) = line.strip_prefix("[\"") else {
            continue;
        };
        let src = rest.split('"').next().unwrap_or("");
        if src.starts_with("target/") {
            continue;
        }
        if let Some((dir, ext)) = src.split_once("/*.") {
            // a glob, `dir/*.ext`: it must match something
            let matched = std::fs::read_dir(root().join(dir))
                .unwrap_or_else(|e| panic!("deb asset {src}: {dir}: {e}"))
                .filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == ext))
                .count();
            assert!(matched > 0, "deb asset {src} matches no file");
        } else {
            assert!(root().join(src).is_file(), "deb asset {src} does not exist");
        }
        n += 1;
    }
    assert!(n >= 3, "found only {n} deb assets");
    for f in [
        "packaging/debian/copyright",
        "packaging/debian/maintainer-scripts/postinst",
        "packaging/debian/maintainer-scripts/postrm",
        "packaging/systemd/ipvs_exporter.service",
    ] {
        assert!(root().join(f).is_file(), "{f}");
    }
    // cargo-deb puts its systemd fragments where the scripts say #DEBHELPER#
    for s in ["postinst", "postrm"] {
        let text = read(&format!("packaging/debian/maintainer-scripts/{s}"));
        assert!(text.contains("#DEBHELPER#"), "{s} lacks #DEBHELPER#");
    }
}

/// The committed PrometheusRule is exactly what `packaging/kubernetes/prometheusrule.sh`
/// builds from the rule files in `alerts/`; with no rule file there, there is no
/// PrometheusRule either.
#[test]
fn prometheusrule_matches_alerts() {
    let out = Command::new("bash")
        .arg(root().join("packaging/kubernetes/prometheusrule.sh"))
        .output()
        .expect("run bash packaging/kubernetes/prometheusrule.sh");
    assert!(
        out.status.success(),
        "prometheusrule.sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let generated = String::from_utf8(out.stdout).expect("utf-8");
    let committed_path = root().join("packaging/kubernetes/prometheusrule.yaml");
    let committed = std::fs::read_to_string(&committed_path).ok();
    match (generated.is_empty(), committed) {
        (true, None) => {
            let rule_files = std::fs::read_dir(root().join("alerts"))
                .map(|d| d.count())
                .unwrap_or(0);
            eprintln!("no rule file in alerts/ ({rule_files} entries): no PrometheusRule");
        }
        (true, Some(_)) => panic!(
            "{} exists but alerts/ has no rule file: run packaging/kubernetes/prometheusrule.sh --write",
            committed_path.display()
        ),
        (false, None) => panic!(
            "alerts/ has rule files but {} is missing: run packaging/kubernetes/prometheusrule.sh --write",
            committed_path.display()
        ),
        (false, Some(c)) => assert!(
            c == generated,
            "{} is stale: run packaging/kubernetes/prometheusrule.sh --write",
            committed_path.display()
        ),
    }
}

/// The generator keeps a rule file's groups as they are, under `spec.groups`.
#[test]
fn prometheusrule_generator_nests_groups() {
    let dir =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("prt-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("alerts")).expect("mkdir");
    std::fs::create_dir_all(dir.join("packaging/kubernetes")).expect("mkdir");
    std::fs::copy(
        root().join("packaging/kubernetes/prometheusrule.sh"),
        dir.join("packaging/kubernetes/prometheusrule.sh"),
    )
    .expect("copy");
    std::fs::write(
        dir.join("alerts/a.yaml"),
        "# rules\ngroups:\n- name: a\n  rules:\n  - alert: A\n    expr: |\n      up\n        == 0\n",
    )
    .expect("write");
    std::fs::write(dir.join("alerts/not-rules.yaml"), "tests:\n- x\n").expect("write");
    let out = Command::new("bash")
        .arg(dir.join("packaging/kubernetes/prometheusrule.sh"))
        .output()
        .expect("bash");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let spec = text
        .split_once("\nspec:\n  groups:\n")
        .expect("spec.groups")
        .1;
    assert_eq!(
        spec,
        "    # from alerts/a.yaml\n    - name: a\n      rules:\n      - alert: A\n        expr: |\n          up\n            == 0\n"
    );
    assert!(
        !text.contains("tests:"),
        "a file that is not a rule file was included"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
