//! Checks every number in `ipvs_exporter::netlink::uapi` against the kernel's own headers as
//! the system installs them (Debian: `linux-libc-dev`): a C program that prints each one is
//! generated from the module's own lists, compiled with `cc` and run, and its output compared
//! with the Rust values. Needs `cc` and the headers; fails, naming what is missing, without them.

// Test code: a failed unwrap or index is a failed test (the [lints] table guards src/).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use ipvs_exporter::netlink::uapi::{Constant, HEADERS, LAYOUTS, NUMBERS, TEXTS};

const INCLUDE: &str = "/usr/include";

/// The C program: one line per constant, `index cast raw`, then one per string.
fn program(numbers: &[Constant]) -> String {
    let mut c = String::from("#include <stdio.h>\n#include <stdint.h>\n#include <stddef.h>\n");
    for header in HEADERS {
        let _ = writeln!(c, "#include <{header}>");
    }
    c.push_str("int main(void) {\n");
    for (index, constant) in numbers.iter().enumerate() {
        let (cast, format) = if constant.signed {
            (format!("(long long)(int{}_t)", constant.bits), "%lld")
        } else {
            (
                format!("(unsigned long long)(uint{}_t)", constant.bits),
                "%llu",
            )
        };
        let _ = writeln!(
            c,
            "  printf(\"{index} {format} %lld\\n\", {cast}({expr}), (long long)({expr}));",
            expr = constant.c
        );
    }
    for (name, _) in TEXTS {
        let _ = writeln!(c, "  printf(\"%s\\n\", {name});");
    }
    c.push_str("  return 0;\n}\n");
    c
}

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ipvs_exporter-uapi-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create a scratch directory");
    dir
}

fn compile_and_run(dir: &Path, source: &str) -> String {
    let c_file = dir.join("uapi.c");
    let binary = dir.join("uapi");
    std::fs::write(&c_file, source).expect("write the C program");
    let compiled = Command::new("cc")
        .arg("-std=gnu11")
        .arg("-Wall")
        .arg("-o")
        .arg(&binary)
        .arg(&c_file)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run cc ({e}): install gcc (tests/run.sh does) to check the uapi numbers")
        });
    assert!(
        compiled.status.success(),
        "cc could not compile the check against the kernel headers:\n{}",
        String::from_utf8_lossy(&compiled.stderr)
    );
    let ran = Command::new(&binary)
        .output()
        .expect("run the compiled check");
    assert!(ran.status.success(), "the compiled check failed");
    String::from_utf8(ran.stdout).expect("the check prints text")
}

/// Whether the value C printed agrees with the Rust one: the same at the Rust type's width,
/// and, when C's own value is not negative, the same before that cast too (so a C value too
/// large for the Rust type cannot pass by truncation). A negative C value (`SPEED_UNKNOWN`
/// is `-1`, `NLA_TYPE_MASK` a complement) is compared at the Rust width only.
fn agrees(constant: &Constant, cast: &str, raw: &str) -> bool {
    let Ok(raw) = raw.parse::<i128>() else {
        return false;
    };
    let cast_ok = cast.parse::<i128>() == Ok(constant.value);
    cast_ok && (raw < 0 || raw == constant.value)
}

#[test]
fn every_uapi_number_is_the_kernels() {
    for header in HEADERS.iter().filter(|h| h.starts_with("linux/")) {
        let path = Path::new(INCLUDE).join(header);
        assert!(
            path.exists(),
            "{} is missing: install linux-libc-dev (tests/run.sh does)",
            path.display()
        );
    }
    let numbers: Vec<Constant> = NUMBERS.iter().chain(LAYOUTS).copied().collect();
    let dir = scratch();
    let output = compile_and_run(&dir, &program(&numbers));
    let _ = std::fs::remove_dir_all(&dir);
    let mut lines = output.lines();

    let mut wrong = Vec::new();
    for (index, constant) in numbers.iter().enumerate() {
        let line = lines.next().unwrap_or_default();
        let fields: Vec<&str> = line.split(' ').collect();
        let (matches, says) = match fields.as_slice() {
            [at, cast, raw] => (
                *at == index.to_string() && agrees(constant, cast, raw),
                format!("{raw} ({cast} at the Rust type's width)"),
            ),
            _ => (false, format!("{line:?}")),
        };
        if !matches {
            wrong.push(format!(
                "{}: Rust has {}, the kernel's headers say {says}",
                constant.c, constant.value
            ));
        }
    }
    for (name, value) in TEXTS {
        let line = lines.next().unwrap_or_default();
        if line != *value {
            wrong.push(format!(
                "{name}: Rust has {value:?}, the headers say {line:?}"
            ));
        }
    }
    assert_eq!(
        lines.next(),
        None,
        "the check printed more than it was asked"
    );
    assert!(
        wrong.is_empty(),
        "uapi numbers that differ from the kernel's:\n{}",
        wrong.join("\n")
    );
    assert!(
        numbers.len() > 200,
        "only {} numbers checked",
        numbers.len()
    );
}
