//! The packages built and checked on the host (tier `test-host`): `packaging/build.sh` makes
//! the static binary, the `.deb` (cargo-deb) and its upgrade twin, the `FROM scratch`
//! image (podman), the release tarball, the image's OCI archive and SHA256SUMS; then lintian,
//! dpkg-deb, ldd, file, tar, sha256sum, `systemd-analyze verify` and `security`, and
//! kubernetes-validate judge them. Installing the `.deb` on a booted Debian system, running
//! the unit and the image's entrypoint against a real IPVS table is `tests/lab_debian.rs`.
//!
//! Needs root (podman, cargo install), podman, lintian, dpkg-deb, systemd-analyze, man
//! (man-db), groff (groff-base) and python3 with venv; tests/run.sh installs them. A
//! missing tool fails the test, naming it.

// Test code: a failed unwrap or index is a failed test (the [lints] table guards src/).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

const KUBERNETES_VALIDATE: &str = "kubernetes-validate==1.37.0";
const TRIPLE: &str = "x86_64-unknown-linux-gnu";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn out_dir() -> PathBuf {
    root().join("target/packaging")
}

fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

fn run(cmd: &mut Command) -> Output {
    let shown = format!("{cmd:?}");
    match cmd.output() {
        Ok(o) => o,
        Err(e) => {
            panic!("cannot run {shown}: {e} (is the tool installed? tests/run.sh installs it)")
        }
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn need_tool(tool: &str, package: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "{tool} is missing: install the Debian package {package}"
    );
}

/// Runs packaging/build.sh once for all tests of this file.
fn built() -> &'static Path {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let r = BUILT.get_or_init(|| {
        need_tool("podman", "podman");
        need_tool("dpkg-deb", "dpkg");
        let t = std::time::Instant::now();
        let status = Command::new("bash")
            .arg(root().join("packaging/build.sh"))
            .status()
            .map_err(|e| format!("cannot run packaging/build.sh: {e}"))?;
        eprintln!("packaging/build.sh took {:.0} s", t.elapsed().as_secs_f64());
        if status.success() {
            Ok(out_dir())
        } else {
            Err(format!(
                "packaging/build.sh failed ({status}); see its stderr"
            ))
        }
    });
    match r {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    }
}

fn deb() -> PathBuf {
    built().join(format!("ipvs-exporter_{}-1_amd64.deb", version()))
}

#[test]
fn deb_holds_the_binary_unit_defaults_and_copyright() {
    let deb = deb();
    let list = run(Command::new("dpkg-deb").arg("-c").arg(&deb));
    assert!(list.status.success(), "dpkg-deb -c: {}", text(&list.stderr));
    let list = text(&list.stdout);
    eprintln!("{list}");
    let has = |path: &str, mode: &str| {
        list.lines()
            .any(|l| l.starts_with(mode) && l.trim_end().ends_with(path))
    };
    assert!(has("./usr/bin/ipvs_exporter", "-rwxr-xr-x"), "binary");
    assert!(
        has("/systemd/system/ipvs_exporter.service", "-rw-r--r--"),
        "systemd unit"
    );
    assert!(
        has("./etc/default/ipvs_exporter", "-rw-r--r--"),
        "defaults file"
    );
    assert!(
        has("./usr/lib/sysusers.d/ipvs_exporter.conf", "-rw-r--r--"),
        "sysusers.d file"
    );
    assert!(
        has("./usr/share/doc/ipvs-exporter/copyright", "-rw-r--r--"),
        "copyright"
    );

    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("deb-control");
    let _ = std::fs::remove_dir_all(&dir);
    let ctl = run(Command::new("dpkg-deb").arg("-e").arg(&deb).arg(&dir));
    assert!(ctl.status.success(), "dpkg-deb -e: {}", text(&ctl.stderr));
    let conffiles = std::fs::read_to_string(dir.join("conffiles")).expect("conffiles");
    assert_eq!(conffiles.trim(), "/etc/default/ipvs_exporter");
    let postinst = std::fs::read_to_string(dir.join("postinst")).expect("postinst");
    assert!(
        postinst.contains("ipvs_exporter.conf"),
        "user created from the sysusers.d file"
    );
    assert!(postinst.contains("systemd-sysusers"));
    assert!(
        postinst.contains("deb-systemd-helper"),
        "unit enabled in postinst"
    );
    assert!(
        postinst.find("systemd-sysusers") < postinst.find("deb-systemd-invoke"),
        "the user must exist before the unit starts"
    );
    let postrm = std::fs::read_to_string(dir.join("postrm")).expect("postrm");
    assert!(postrm.contains("purge"), "postrm handles purge");
    let control = std::fs::read_to_string(dir.join("control")).expect("control");
    eprintln!("{control}");
    assert!(control.contains(&format!("Version: {}-1\n", version())));
    assert!(control.contains("Package: ipvs-exporter\n"));

    let up = built().join(format!("ipvs-exporter_{}-2_amd64.deb", version()));
    let f = run(Command::new("dpkg-deb").arg("-f").arg(&up).arg("Version"));
    assert_eq!(text(&f.stdout).trim(), format!("{}-2", version()));
}

/// The man page and the completions at Debian's paths, and each readable by its tool: the
/// page rendered by man (groff) without a warning, the bash script parsed by bash.
#[test]
fn deb_ships_the_man_page_and_completions() {
    let deb = deb();
    let list = run(Command::new("dpkg-deb").arg("-c").arg(&deb));
    assert!(list.status.success(), "dpkg-deb -c: {}", text(&list.stderr));
    let list = text(&list.stdout);
    const SHIPPED: [&str; 4] = [
        "./usr/share/man/man1/ipvs_exporter.1.gz",
        "./usr/share/bash-completion/completions/ipvs_exporter",
        "./usr/share/zsh/vendor-completions/_ipvs_exporter",
        "./usr/share/fish/vendor_completions.d/ipvs_exporter.fish",
    ];
    for path in SHIPPED {
        assert!(
            list.lines()
                .any(|l| l.starts_with("-rw-r--r--") && l.trim_end().ends_with(path)),
            "{path} (mode 644) not in the package:\n{list}"
        );
    }

    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("deb-files");
    let _ = std::fs::remove_dir_all(&dir);
    let x = run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&dir));
    assert!(x.status.success(), "dpkg-deb -x: {}", text(&x.stderr));
    let file = |path: &str| dir.join(path.trim_start_matches("./"));

    need_tool("man", "man-db");
    need_tool("groff", "groff-base");
    let page = file(SHIPPED[0]);
    let man = run(Command::new("man")
        .args(["--warnings", "-l"])
        .arg(&page)
        .env("MANWIDTH", "100")
        .env("LC_ALL", "C.UTF-8"));
    let rendered = text(&man.stdout);
    assert!(man.status.success(), "man -l: {}", text(&man.stderr));
    assert!(
        text(&man.stderr).trim().is_empty(),
        "man -l warns: {}",
        text(&man.stderr)
    );
    // Plain text of the page, formatting stripped (man writes bold as X\bX on a pipe).
    let plain: String = {
        let mut out: Vec<char> = Vec::new();
        for c in rendered.chars() {
            if c == '\u{8}' {
                out.pop();
                continue;
            }
            out.push(c);
        }
        out.into_iter().collect()
    };
    for said in [
        "NAME",
        "EXIT STATUS",
        "--collector.disable-defaults",
        "IPVS_EXPORTER DOCTOR",
        "IPVS_EXPORTER WAIT-DRAINED",
        "--real-server",
    ] {
        assert!(
            plain.contains(said),
            "{said} not in the rendered page:\n{plain}"
        );
    }
    // The same page through groff alone, every warning on.
    let groff = run(Command::new("sh").arg("-c").arg(format!(
        "zcat '{}' | groff -man -Tutf8 -ww -z",
        page.display()
    )));
    assert!(
        groff.status.success() && text(&groff.stderr).trim().is_empty(),
        "groff warns: {}",
        text(&groff.stderr)
    );

    let bash = run(Command::new("bash").arg("-n").arg(file(SHIPPED[1])));
    assert!(bash.status.success(), "bash -n: {}", text(&bash.stderr));
    // Sourced, it registers a completion for the command.
    let sourced = run(Command::new("bash").arg("-c").arg(format!(
        "source '{}' && complete -p ipvs_exporter",
        file(SHIPPED[1]).display()
    )));
    assert!(
        sourced.status.success() && text(&sourced.stdout).contains("ipvs_exporter"),
        "bash complete -p: {}{}",
        text(&sourced.stdout),
        text(&sourced.stderr)
    );
}

#[test]
fn lintian_finds_no_error() {
    need_tool("lintian", "lintian");
    let out = run(Command::new("lintian")
        .args(["--fail-on", "error", "--tag-display-limit", "0"])
        .arg(deb()));
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    eprintln!("lintian said:\n{said}");
    assert!(
        out.status.success() && !said.lines().any(|l| l.starts_with("E:")),
        "lintian reports errors"
    );
    assert!(
        !said
            .lines()
            .any(|l| (l.starts_with("E:") || l.starts_with("W:")) && l.contains("copyright")),
        "lintian has a word about the copyright file"
    );
    // The man page is shipped (and found where lintian looks for it).
    assert!(!said.contains("no-manual-page"), "{said}");
}

/// The copyright file the .deb installs is the DEP-5 file of packaging/debian, naming
/// Apache-2.0 and pointing at Debian's copy of its text, and LICENSE is that very text.
#[test]
fn deb_copyright_is_the_apache_licence() {
    let deb = deb();
    let out = run(Command::new("sh").arg("-c").arg(format!(
        "dpkg-deb --fsys-tarfile '{}' | tar -xOf - ./usr/share/doc/ipvs-exporter/copyright",
        deb.display()
    )));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let installed = text(&out.stdout);
    let ours = std::fs::read_to_string(root().join("packaging/debian/copyright")).unwrap();
    assert_eq!(
        installed, ours,
        "the .deb's copyright against packaging/debian/copyright"
    );
    assert!(installed.contains("\nFiles: *\n"));
    assert!(installed.contains("\nLicense: Apache-2.0\n"));
    let common = Path::new("/usr/share/common-licenses/Apache-2.0");
    assert!(installed.contains(common.to_str().unwrap()));
    let debians = std::fs::read(common).expect("base-files' Apache-2.0 text");
    let licence = std::fs::read(root().join("LICENSE")).unwrap();
    assert!(
        licence == debians,
        "LICENSE differs from {}",
        common.display()
    );
}

#[test]
fn binary_is_static() {
    built();
    let bin = root().join(format!("target/{TRIPLE}/release/ipvs_exporter"));
    let out = run(Command::new("ldd").arg(&bin));
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        said.contains("not a dynamic executable") || said.contains("statically linked"),
        "ldd {}: {said}",
        bin.display()
    );
}

#[test]
fn image_holds_the_binary_alone() {
    let dir = built();
    let tar = run(Command::new("tar")
        .arg("-tvf")
        .arg(dir.join("container.tar")));
    assert!(tar.status.success());
    let listing = text(&tar.stdout);
    eprintln!("the image's file system:\n{listing}");
    let files: Vec<&str> = listing
        .lines()
        .filter(|l| !l.starts_with('d'))
        .filter_map(|l| l.split_whitespace().last())
        .collect();
    // podman export adds the empty files a runtime bind-mounts over
    let allowed = [
        "usr/bin/ipvs_exporter",
        "etc/hosts",
        "etc/resolv.conf",
        "run/.containerenv",
    ];
    assert!(files.contains(&"usr/bin/ipvs_exporter"), "{files:?}");
    for f in &files {
        assert!(allowed.contains(f), "unexpected file in the image: {f}");
    }
    let cmd = std::fs::read_to_string(dir.join("container-command.txt")).expect("command");
    let words: Vec<&str> = cmd.lines().collect();
    assert_eq!(words.first(), Some(&"/usr/bin/ipvs_exporter"), "entrypoint");
    assert!(words.contains(&"--path.procfs=/host/proc"), "{words:?}");
}

fn release_name() -> String {
    format!("ipvs_exporter-{}.linux-amd64", version())
}

/// sha256sum's hexadecimal digest of each file, in order.
fn sha256(files: &[PathBuf]) -> Vec<String> {
    let out = run(Command::new("sha256sum").args(files));
    assert!(out.status.success(), "sha256sum: {}", text(&out.stderr));
    let digests: Vec<String> = text(&out.stdout)
        .lines()
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect();
    assert_eq!(digests.len(), files.len());
    digests
}

/// The rule files of alerts/: the YAML files that hold Prometheus rule `groups:` (the
/// promtool tests under alerts/tests/ hold `rule_files:` and `tests:` instead).
fn rule_files() -> BTreeSet<String> {
    std::fs::read_dir(root().join("alerts"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "yaml"))
        .filter(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .lines()
                .any(|l| l == "groups:")
        })
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

/// The tarball holds exactly its directory, the static binary the image holds, the licence,
/// README, changelog, docs/, the generated dashboards and the rule files, as they are in the
/// tree.
#[test]
fn release_tarball_holds_exactly_the_release_files() {
    need_tool("file", "file");
    let dir = built();
    let name = release_name();
    let tarball = dir.join(format!("{name}.tar.gz"));
    let out = run(Command::new("tar").arg("-tzvf").arg(&tarball));
    assert!(out.status.success(), "tar -t: {}", text(&out.stderr));
    let listing = text(&out.stdout);
    eprintln!("{listing}");

    let mut expected: BTreeSet<String> = [
        "",
        "ipvs_exporter",
        "LICENSE",
        "README.md",
        "CHANGELOG.md",
        "dashboards/",
        "alerts/",
        "docs/",
        "docs/images/",
    ]
    .iter()
    .map(|f| format!("{name}/{f}"))
    .collect();
    let docs = shipped_docs();
    expected.extend(docs.iter().map(|f| format!("{name}/{f}")));
    let dashboards: Vec<String> = support::dashboard_files()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(dashboards.len() >= 4, "{dashboards:?}");
    let rules = rule_files();
    assert_eq!(rules.len(), 2, "{rules:?}");
    expected.extend(dashboards.iter().map(|f| format!("{name}/dashboards/{f}")));
    expected.extend(rules.iter().map(|f| format!("{name}/alerts/{f}")));
    // the example Alertmanager configuration the README names
    expected.insert(format!("{name}/alerts/alertmanager.yml"));
    let mut found = BTreeSet::new();
    for line in listing.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (mode, owner, path) = (fields[0], fields[1], *fields.last().unwrap());
        assert_eq!(owner, "0/0", "{line}");
        let want = if path.ends_with('/') {
            "drwxr-xr-x"
        } else if path == format!("{name}/ipvs_exporter") {
            "-rwxr-xr-x"
        } else {
            "-rw-r--r--"
        };
        assert_eq!(mode, want, "{line}");
        assert!(found.insert(path.to_string()), "{path} twice");
    }
    assert_eq!(found, expected, "the tarball's listing");

    let unpacked = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("release-tarball");
    let _ = std::fs::remove_dir_all(&unpacked);
    std::fs::create_dir_all(&unpacked).unwrap();
    let out = run(Command::new("tar")
        .arg("-xzf")
        .arg(&tarball)
        .arg("-C")
        .arg(&unpacked));
    assert!(out.status.success(), "tar -x: {}", text(&out.stderr));
    let top = unpacked.join(&name);
    let mut same = vec![
        ("LICENSE".to_string(), "LICENSE".to_string()),
        ("README.md".into(), "README.md".into()),
        ("CHANGELOG.md".into(), "CHANGELOG.md".into()),
    ];
    same.extend(
        dashboards
            .iter()
            .map(|f| (format!("dashboards/{f}"), format!("dashboards/{f}"))),
    );
    same.extend(
        rules
            .iter()
            .map(|f| (format!("alerts/{f}"), format!("alerts/{f}"))),
    );
    same.extend(docs.iter().map(|f| (f.clone(), f.clone())));
    same.push((
        "alerts/alertmanager.yml".to_string(),
        "alerts/alertmanager.yml".to_string(),
    ));
    for (packed, source) in &same {
        assert!(
            std::fs::read(top.join(packed)).unwrap() == std::fs::read(root().join(source)).unwrap(),
            "{packed} differs from {source}"
        );
    }

    let bin = top.join("ipvs_exporter");
    let out = run(Command::new(&bin).arg("--version"));
    assert!(out.status.success(), "--version: {}", text(&out.stderr));
    let said = text(&out.stdout);
    assert_eq!(
        said.trim(),
        format!("ipvs_exporter {}", version()),
        "--version"
    );
    let out = run(Command::new("ldd").arg(&bin));
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        !said.contains("=>")
            && (said.contains("not a dynamic executable") || said.contains("statically linked")),
        "ldd: {said}"
    );
    let out = run(Command::new("file").arg("-b").arg(&bin));
    let said = text(&out.stdout);
    eprintln!("file: {said}");
    assert!(said.contains("x86-64"), "file: {said}");
    assert!(
        said.contains("statically linked") || said.contains("static-pie linked"),
        "file: {said}"
    );

    // the same binary as the image's
    let out = run(Command::new("tar")
        .arg("-xOf")
        .arg(dir.join("container.tar"))
        .arg("usr/bin/ipvs_exporter"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        out.stdout == std::fs::read(&bin).unwrap(),
        "the tarball's binary is not the image's"
    );
}

/// SHA256SUMS names the release artifacts, and sha256sum -c accepts every line.
#[test]
fn sha256sums_check() {
    let dir = built();
    let sums = std::fs::read_to_string(dir.join("SHA256SUMS")).expect("SHA256SUMS");
    let named: BTreeSet<&str> = sums
        .lines()
        .map(|l| {
            let (digest, file) = l.split_once("  ").unwrap_or_else(|| panic!("{l:?}"));
            assert_eq!(digest.len(), 64, "{l}");
            file
        })
        .collect();
    let name = release_name();
    let deb = format!("ipvs-exporter_{}-1_amd64.deb", version());
    let tarball = format!("{name}.tar.gz");
    let oci = format!("{name}.oci.tar");
    let expected: BTreeSet<&str> = [deb.as_str(), tarball.as_str(), oci.as_str()].into();
    assert_eq!(named, expected);
    let out = run(Command::new("sha256sum")
        .args(["-c", "--strict", "SHA256SUMS"])
        .current_dir(dir));
    let said = text(&out.stdout);
    eprintln!("{said}{}", text(&out.stderr));
    assert!(out.status.success(), "sha256sum -c");
    assert_eq!(
        said.lines().filter(|l| l.ends_with(": OK")).count(),
        3,
        "{said}"
    );
}

/// The OCI archive is an OCI image layout: oci-layout, index.json, and every blob the index
/// and the manifest name present under blobs/sha256/ with the digest and size they are named
/// by; the image's config is linux/amd64 with the exporter as its entrypoint.
#[test]
fn oci_archive_is_an_image_layout() {
    let dir = built();
    let archive = dir.join(format!("{}.oci.tar", release_name()));
    let layout = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("oci-layout");
    let _ = std::fs::remove_dir_all(&layout);
    std::fs::create_dir_all(&layout).unwrap();
    let out = run(Command::new("tar")
        .arg("-xf")
        .arg(&archive)
        .arg("-C")
        .arg(&layout));
    assert!(out.status.success(), "tar -x: {}", text(&out.stderr));

    let json = |path: PathBuf| -> serde_json::Value {
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    let marker = json(layout.join("oci-layout"));
    assert_eq!(marker["imageLayoutVersion"], "1.0.0");
    let index = json(layout.join("index.json"));
    eprintln!("index.json: {index}");
    assert_eq!(index["schemaVersion"], 2);
    // a descriptor's blob: present, of its size, with its digest
    let blob = |descriptor: &serde_json::Value| -> PathBuf {
        let digest = descriptor["digest"].as_str().expect("digest");
        let hex = digest.strip_prefix("sha256:").expect("a sha256 digest");
        let path = layout.join("blobs/sha256").join(hex);
        let size = std::fs::metadata(&path)
            .unwrap_or_else(|e| panic!("blob {digest}: {e}"))
            .len();
        assert_eq!(Some(size), descriptor["size"].as_u64(), "size of {digest}");
        assert_eq!(
            sha256(std::slice::from_ref(&path))[0],
            hex,
            "content of {digest}"
        );
        path
    };
    let manifests = index["manifests"].as_array().expect("manifests");
    assert_eq!(manifests.len(), 1, "one image");
    assert_eq!(
        manifests[0]["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    let manifest = json(blob(&manifests[0]));
    assert_eq!(manifest["schemaVersion"], 2);
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.oci.image.config.v1+json"
    );
    let config = json(blob(&manifest["config"]));
    assert_eq!(config["os"], "linux");
    assert_eq!(config["architecture"], "amd64");
    assert_eq!(config["config"]["Entrypoint"][0], "/usr/bin/ipvs_exporter");
    let layers = manifest["layers"].as_array().expect("layers");
    assert!(!layers.is_empty());
    for layer in layers {
        let media = layer["mediaType"].as_str().unwrap();
        assert!(
            media.starts_with("application/vnd.oci.image.layer.v1.tar"),
            "{media}"
        );
        blob(layer);
    }
    assert_eq!(
        config["rootfs"]["diff_ids"].as_array().map(Vec::len),
        Some(layers.len()),
        "one diff_id per layer"
    );
}

#[test]
fn unit_verifies_and_rates_ok() {
    need_tool("systemd-analyze", "systemd");
    // verify wants the ExecStart binary to exist: the built one, in a copy of the unit
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("unit");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let unit = std::fs::read_to_string(root().join("packaging/systemd/ipvs_exporter.service"))
        .expect("unit")
        .replace(
            "/usr/bin/ipvs_exporter",
            env!("CARGO_BIN_EXE_ipvs_exporter"),
        );
    let path = dir.join("ipvs_exporter.service");
    std::fs::write(&path, unit).expect("write");
    let out = run(Command::new("systemd-analyze").arg("verify").arg(&path));
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        out.status.success() && said.trim().is_empty(),
        "systemd-analyze verify: {said}"
    );
    let out = run(Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--no-pager"])
        .arg(&path));
    let said = text(&out.stdout);
    let overall = said
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no exposure level in: {said}{}", text(&out.stderr)));
    eprintln!("{overall}");
    let level: f64 = overall
        .split(':')
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("cannot read the level in {overall}"));
    assert!(level <= 2.5, "exposure {level}: {overall}");
}

/// kubernetes-validate (pinned, in a venv under target/) with --strict against the
/// Kubernetes schemas for the built-in kinds; tests/packaging/check_kubernetes.py for the
/// Prometheus Operator's kinds, which it has no schema for, and for how the files fit.
#[test]
fn kubernetes_manifests_validate() {
    need_tool("python3", "python3");
    let venv = root().join("target/packaging-venv");
    let py = venv.join("bin/python");
    let kv = venv.join("bin/kubernetes-validate");
    if !kv.exists() {
        let out = run(Command::new("python3").arg("-m").arg("venv").arg(&venv));
        assert!(
            out.status.success(),
            "python3 -m venv failed (install python3-venv): {}",
            text(&out.stderr)
        );
        let out = run(Command::new(&py).args(["-m", "pip", "install", "-q", KUBERNETES_VALIDATE]));
        assert!(
            out.status.success(),
            "pip install {KUBERNETES_VALIDATE}: {}",
            text(&out.stderr)
        );
    }
    let k8s = root().join("packaging/kubernetes");
    let out = run(Command::new(&kv)
        .arg("--strict")
        .args(["namespace.yaml", "daemonset.yaml", "service.yaml"].map(|f| k8s.join(f))));
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    eprintln!("{said}");
    assert!(out.status.success(), "kubernetes-validate: {said}");
    assert_eq!(said.matches("passed for resource").count(), 3, "{said}");
    let out = run(Command::new(&py)
        .arg(root().join("tests/packaging/check_kubernetes.py"))
        .arg(&k8s));
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    eprintln!("{said}");
    assert!(out.status.success(), "check_kubernetes.py: {said}");
}

/// The documentation the packages carry beside the README: docs/*.md and docs/images/*.png,
/// as paths relative to the repository (and to the README).
fn shipped_docs() -> Vec<String> {
    let mut files = Vec::new();
    for (dir, ext) in [("docs", "md"), ("docs/images", "png")] {
        for entry in std::fs::read_dir(root().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == ext) {
                files.push(format!(
                    "{dir}/{}",
                    path.file_name().unwrap().to_string_lossy()
                ));
            }
        }
    }
    files.sort();
    assert!(files.iter().any(|f| f == "docs/metrics.md"), "{files:?}");
    files
}

/// Every relative link of the README, as installed, leads to a file the .deb and the tarball
/// carry beside it, but links into tests/ (for developers, in the source tree only).
#[test]
fn the_readme_links_resolve_in_the_packages() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let mut targets = BTreeSet::new();
    for piece in readme.split("](").skip(1) {
        let Some(end) = piece.find(')') else { continue };
        let link = &piece[..end];
        let path = link.split('#').next().unwrap_or_default();
        if path.is_empty() || link.contains("://") || path.starts_with("tests/") {
            continue;
        }
        targets.insert(path.to_string());
    }
    assert!(targets.contains("docs/metrics.md"), "{targets:?}");

    let list = run(Command::new("dpkg-deb").arg("-c").arg(deb()));
    assert!(list.status.success(), "dpkg-deb -c: {}", text(&list.stderr));
    let deb_list = text(&list.stdout);
    let tarball = built().join(format!("{}.tar.gz", release_name()));
    let list = run(Command::new("tar").arg("-tzf").arg(&tarball));
    assert!(list.status.success(), "tar -t: {}", text(&list.stderr));
    let tar_list = text(&list.stdout);
    let mut missing = Vec::new();
    for target in &targets {
        let in_deb = format!("./usr/share/doc/ipvs-exporter/{target}");
        if !deb_list.lines().any(|l| l.trim_end().ends_with(&in_deb)) {
            missing.push(format!(".deb: {in_deb}"));
        }
        let in_tar = format!("{}/{target}", release_name());
        if !tar_list.lines().any(|l| l == in_tar) {
            missing.push(format!("tarball: {in_tar}"));
        }
    }
    assert!(
        missing.is_empty(),
        "README links to files the packages lack: {missing:?}"
    );
}
