//! keepalived.conf under `--path.rootfs`: the main file, the files its `include` patterns
//! name (matched as keepalived's glob(3) matches them), and the accounts its scripts run as,
//! looked up in the root's /etc/passwd and /etc/group.

use std::path::{Component, Path, PathBuf};

use glob::{MatchOptions, Pattern};

use super::KeepalivedOptions;
use super::files::under_root;
use crate::model::keepalived::{Accounts, KeepalivedConfig, script_accounts_needed};
use crate::parse::accounts::account_names;
use crate::parse::keepalived::{IncludeSource, MAX_CONFIG_BYTES, parse_config_from};
use crate::source::rootfs::Rootfs;
use crate::source::{Paths, SourceError};

/// A host path with `.` and `..` resolved as the kernel resolves them in a path without
/// symbolic links: `..` goes up one directory, never above `/`.
fn normalize(path: &Path) -> PathBuf {
    let mut normal = PathBuf::from("/");
    for component in path.components() {
        match component {
            Component::Normal(part) => normal.push(part),
            Component::ParentDir => {
                normal.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    normal
}

/// How keepalived's glob(3) matches a name: a leading dot only by a literal dot.
const GLOB_OPTIONS: MatchOptions = MatchOptions {
    case_sensitive: true,
    require_literal_separator: true,
    require_literal_leading_dot: true,
};

/// The longest include pattern matched against directory entries (a file name is at most
/// 255 bytes; a longer pattern can only cost time).
const MAX_PATTERN_BYTES: usize = 1024;
/// How many entries of one directory are looked at for one include pattern.
const MAX_DIRECTORY_ENTRIES: usize = 65_536;

/// The files an include pattern names, sorted as glob(3) sorts them; wildcards (`*`, `?`,
/// `[...]`) in the last component only. Relative patterns are taken from the including
/// file's directory; `..` is resolved (without leaving the root). A pattern glob(3) would read
/// literally (an unclosed `[`) names one file. At most `max` names.
fn expand_include(
    rootfs: &Rootfs,
    including: &str,
    pattern: &str,
    max: usize,
) -> Result<Vec<String>, String> {
    let pattern_path = Path::new(pattern);
    let host_path = normalize(&if pattern_path.is_absolute() {
        pattern_path.to_path_buf()
    } else {
        Path::new(including)
            .parent()
            .unwrap_or(Path::new("/"))
            .join(pattern_path)
    });
    let Some(file_pattern) = host_path.file_name().and_then(|n| n.to_str()) else {
        return Ok(Vec::new());
    };
    if file_pattern.len() > MAX_PATTERN_BYTES {
        return Err(format!(
            "the pattern is longer than {MAX_PATTERN_BYTES} bytes"
        ));
    }
    let directory = host_path.parent().unwrap_or(Path::new("/")).to_path_buf();
    let wanted = match Pattern::new(file_pattern) {
        Ok(wanted) if Pattern::escape(file_pattern) != file_pattern => wanted,
        _ => {
            if under_root(rootfs, &host_path)
                .map_err(|e| e.to_string())?
                .exists()
            {
                return Ok(vec![host_path.to_string_lossy().into_owned()]);
            }
            return Ok(Vec::new());
        }
    };
    let listed = under_root(rootfs, &directory).map_err(|e| e.to_string())?;
    let Ok(entries) = std::fs::read_dir(listed) else {
        return Ok(Vec::new());
    };
    let mut names = Vec::new();
    for (seen, entry) in entries.filter_map(Result::ok).enumerate() {
        if seen >= MAX_DIRECTORY_ENTRIES {
            return Err(format!(
                "{} has more than {MAX_DIRECTORY_ENTRIES} entries",
                directory.display()
            ));
        }
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        if let Some(name) = entry.file_name().to_str()
            && wanted.matches_with(name, GLOB_OPTIONS)
        {
            names.push(name.to_string());
        }
    }
    names.sort();
    names.truncate(max);
    Ok(names
        .into_iter()
        .map(|name| directory.join(name).to_string_lossy().into_owned())
        .collect())
}

/// Included files, listed and read under `--path.rootfs`.
struct RootedIncludes<'a> {
    rootfs: &'a Rootfs,
}

impl IncludeSource for RootedIncludes<'_> {
    fn expand(
        &mut self,
        including: &str,
        pattern: &str,
        max: usize,
    ) -> Result<Vec<String>, String> {
        expand_include(self.rootfs, including, pattern, max)
    }

    fn read(&mut self, name: &str, max_bytes: usize) -> Result<String, String> {
        match self.rootfs.read_text(Path::new(name), max_bytes) {
            Ok(Some(text)) => Ok(text),
            Ok(None) => Err("no such file".into()),
            Err(e) => Err(e.reason()),
        }
    }
}

/// The largest /etc/passwd or /etc/group read.
const MAX_ACCOUNTS_BYTES: usize = 8 << 20;

/// Whether the accounts that the configuration's script statements look up exist, from
/// /etc/passwd and /etc/group under the root; an error when /etc/passwd cannot be read.
fn read_accounts(rootfs: &Rootfs, config: &KeepalivedConfig) -> Result<Accounts, String> {
    let (users, groups) = script_accounts_needed(&config.script_users);
    let names = |file: &str| -> Result<Vec<String>, String> {
        let text = rootfs
            .read_text(Path::new(file), MAX_ACCOUNTS_BYTES)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| {
                format!(
                    "{} does not exist",
                    rootfs.display_path(Path::new(file)).display()
                )
            })?;
        Ok(account_names(&text).into_iter().map(String::from).collect())
    };
    let known_users = names("/etc/passwd")?;
    // Without /etc/group, no group is looked up (and none is claimed missing).
    let known_groups = if groups.is_empty() {
        Vec::new()
    } else {
        names("/etc/group").unwrap_or_default()
    };
    Ok(Accounts {
        users: users
            .into_iter()
            .map(|u| {
                let exists = known_users.contains(&u);
                (u, exists)
            })
            .collect(),
        groups: if known_groups.is_empty() {
            Vec::new()
        } else {
            groups
                .into_iter()
                .map(|g| {
                    let exists = known_groups.contains(&g);
                    (g, exists)
                })
                .collect()
        },
    })
}

/// Reads keepalived's configuration (and the accounts its scripts need) under the root.
pub(super) fn read_config(
    paths: &Paths,
    options: &KeepalivedOptions,
) -> std::io::Result<KeepalivedConfig> {
    let rootfs = Rootfs::new(&paths.rootfs);
    let text = rootfs
        .read_text(&options.config_file, MAX_CONFIG_BYTES)?
        .ok_or_else(|| std::io::Error::from_raw_os_error(nix::libc::ENOENT))?;
    let name = options.config_file.to_string_lossy();
    let mut config = parse_config_from(&name, &text, &mut RootedIncludes { rootfs: &rootfs });
    config.accounts = read_accounts(&rootfs, &config).ok();
    Ok(config)
}

/// keepalived.conf as one scrape read it.
pub(super) enum ScrapedConfig {
    /// There is no such file: why, for the collector's "no data".
    Missing(String),
    /// The configuration, and what could not be read in it (its errors, its script accounts).
    Read(Box<KeepalivedConfig>, Vec<String>),
}

/// Reads keepalived.conf (`config_file`, as the host names it) and what it includes for one
/// scrape; a file that exists but cannot be read is an error.
pub(super) fn read_for_scrape(
    rootfs: &Rootfs,
    config_file: &Path,
) -> Result<ScrapedConfig, SourceError> {
    let config_name = config_file.to_string_lossy().into_owned();
    let text = match rootfs.read_text(config_file, MAX_CONFIG_BYTES) {
        Ok(Some(text)) => text,
        Ok(None) => {
            return Ok(ScrapedConfig::Missing(format!(
                "{} does not exist",
                rootfs.display_path(config_file).display()
            )));
        }
        Err(e) => return Err(e.into()),
    };
    let mut config = parse_config_from(&config_name, &text, &mut RootedIncludes { rootfs });
    let mut problems: Vec<String> = config
        .errors
        .iter()
        .map(|e| format!("keepalived configuration: {e}"))
        .collect();
    // Only a configuration with scripts or notify FIFOs needs a script user.
    if !config.script_users.is_empty() {
        match read_accounts(rootfs, &config) {
            Ok(accounts) => config.accounts = Some(accounts),
            Err(problem) => problems.push(format!(
                "keepalived's script user cannot be checked: {problem}"
            )),
        }
    }
    Ok(ScrapedConfig::Read(Box::new(config), problems))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::source::keepalived::KeepalivedCollector;
    use crate::source::keepalived::files::under;
    use crate::source::text_file::read_text;
    use crate::source::{Collected, CollectedData, Collector};
    use crate::testing::Scratch;


    #[test]
    fn includes_expand_relative_to_the_including_file_and_sort() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let found = expand_include(
            &Rootfs::new(&root),
            "/keepalived-conf/with-includes.conf",
            "conf.d/*.conf",
            10,
        )
        .expect("listed");
        assert_eq!(
            found,
            vec![
                "/keepalived-conf/conf.d/10-vrrp.conf",
                "/keepalived-conf/conf.d/20-lvs.conf"
            ]
        );
        assert_eq!(
            expand_include(
                &Rootfs::new(&root),
                "/keepalived-conf/x.conf",
                "nothing/*.conf",
                10
            ),
            Ok(Vec::new())
        );
    }

    /// A directory holding `names` as empty files (and `sub.conf` as a directory).
    fn include_dir(name: &str, names: &[&str]) -> Scratch {
        let dir = Scratch::new("keepalived-include", name, "keepalived.conf");
        let parent = dir.parent().expect("a scratch file has a directory");
        std::fs::create_dir_all(parent.join("sub.conf")).expect("make a directory");
        for name in names {
            std::fs::write(parent.join(name), "").expect("write an include");
        }
        dir
    }

    fn expanded(dir: &Scratch, pattern: &str) -> Vec<String> {
        let root = dir.parent().unwrap_or(Path::new("/"));
        expand_include(&Rootfs::new(root), "/keepalived.conf", pattern, 100).expect("listed")
    }

    #[test]
    fn include_patterns_match_as_glob_3_does() {
        let dir = include_dir(
            "glob",
            &[
                "vi_1.conf",
                "vi_2.conf",
                "vi_3.conf",
                "vi_a.conf",
                "vi_10.conf",
                ".vi_1.conf",
                "vi_[1].conf",
                "a.conf.bak",
            ],
        );
        let files = |pattern| expanded(&dir, pattern);
        assert_eq!(
            files("vi_[12].conf"),
            vec!["/vi_1.conf", "/vi_2.conf"],
            "a class"
        );
        assert_eq!(
            files("vi_[0-9].conf"),
            vec!["/vi_1.conf", "/vi_2.conf", "/vi_3.conf"],
            "a range"
        );
        assert_eq!(
            files("vi_[!0-9].conf"),
            vec!["/vi_a.conf"],
            "a negated range"
        );
        assert_eq!(files("vi_?.conf").len(), 4, "one character, not two");
        assert_eq!(
            files("*.conf").len(),
            6,
            "no hidden file, no directory, no .bak: {:?}",
            files("*.conf")
        );
        assert_eq!(
            files(".*.conf"),
            vec!["/.vi_1.conf"],
            "a literal leading dot"
        );
        assert_eq!(
            files("vi_[1.conf"),
            Vec::<String>::new(),
            "an unclosed bracket is read literally"
        );
        assert_eq!(files("vi_3.conf"), vec!["/vi_3.conf"], "no wildcard");
        assert_eq!(files("sub/*.conf"), Vec::<String>::new());
    }

    /// A root holding `files` (host path, text), as `--path.rootfs` would.
    fn rootfs_with(name: &str, files: &[(&str, &str)]) -> Scratch {
        let dir = Scratch::new("keepalived-rootfs", name, "root");
        for (path, text) in files {
            let at = under(&dir, path);
            if let Some(parent) = at.parent() {
                std::fs::create_dir_all(parent).expect("make a directory");
            }
            std::fs::write(at, text).expect("write a file");
        }
        dir
    }

    fn parse_under(root: &Path, main: &str) -> crate::model::keepalived::KeepalivedConfig {
        let text = read_text(&under(root, main), MAX_CONFIG_BYTES)
            .expect("the main file")
            .expect("the main file exists");
        parse_config_from(
            main,
            &text,
            &mut RootedIncludes {
                rootfs: &Rootfs::new(root),
            },
        )
    }

    #[test]
    fn script_accounts_are_looked_up_in_the_roots_passwd_and_group() {
        let root = rootfs_with(
            "accounts",
            &[
                (
                    "/etc/keepalived/keepalived.conf",
                    "global_defs {\n enable_script_security\n script_user runner nogroup\n\
                     notify_fifo /run/k.fifo\n}\n",
                ),
                (
                    "/etc/passwd",
                    "root:x:0:0::/root:/bin/sh\nrunner:x:900:900::/:/bin/false\n",
                ),
                ("/etc/group", "root:x:0:\n"),
            ],
        );
        let config = parse_under(&root, "/etc/keepalived/keepalived.conf");
        let accounts = read_accounts(&Rootfs::new(&*root), &config);
        assert_eq!(
            accounts,
            Ok(Accounts {
                users: vec![
                    ("keepalived_script".to_string(), false),
                    ("runner".to_string(), true)
                ],
                groups: vec![("nogroup".to_string(), false)],
            })
        );
        // no /etc/passwd: nothing can be claimed
        let bare = rootfs_with(
            "no-passwd",
            &[(
                "/etc/keepalived/keepalived.conf",
                "global_defs {\n notify_fifo /run/k.fifo\n}\n",
            )],
        );
        let config = parse_under(&bare, "/etc/keepalived/keepalived.conf");
        assert!(read_accounts(&Rootfs::new(&*bare), &config).is_err());
    }

    #[test]
    fn include_dot_dot_resolves_as_keepalived_does_but_stays_under_the_root() {
        let root = rootfs_with(
            "dotdot",
            &[
                ("/etc/keepalived/keepalived.conf", "include conf.d/a.conf\n"),
                (
                    "/etc/keepalived/conf.d/a.conf",
                    "include ../common.conf\ninclude ../../../../../../outside.conf\n",
                ),
                ("/etc/keepalived/common.conf", "vrrp_instance COMMON {\n}\n"),
                ("/outside.conf", "vrrp_instance TOP {\n}\n"),
            ],
        );
        // A file beside the root, which `..` from the top of the root must not reach.
        let beside = root
            .parent()
            .and_then(Path::parent)
            .map(|p| p.join("outside.conf"));
        let config = parse_under(&root, "/etc/keepalived/keepalived.conf");
        assert_eq!(
            config.files,
            vec![
                "/etc/keepalived/keepalived.conf",
                "/etc/keepalived/conf.d/a.conf",
                "/etc/keepalived/common.conf",
                "/outside.conf",
            ]
        );
        let names: Vec<&str> = config.instances.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, vec!["COMMON", "TOP"], "{:?}", config.errors);
        assert!(beside.is_some_and(|b| !b.exists()));
    }

    #[test]
    fn symbolic_links_in_the_root_are_followed_inside_it() {
        use std::os::unix::fs::symlink;
        let root = rootfs_with(
            "links",
            &[
                ("/etc/keepalived/keepalived.conf", "include conf.d/*.conf\n"),
                ("/outside.conf", "vrrp_instance INSIDE_TOP {\n}\n"),
            ],
        );
        // Beside the root, where no link from inside it may lead.
        let beside = root
            .parent()
            .expect("the scratch directory")
            .join("outside.conf");
        std::fs::write(&beside, "vrrp_instance OUTSIDE_MARKER {\n}\n").expect("write");
        let conf_d = under(&root, "/etc/keepalived/conf.d");
        std::fs::create_dir_all(&conf_d).expect("mkdir");
        // By the outside file's full path: inside the root that path does not exist.
        symlink(&beside, conf_d.join("10-absolute.conf")).expect("link");
        // Climbing with `..` past the root's top: stops there, at the root's /outside.conf.
        symlink("../../../../../outside.conf", conf_d.join("20-up.conf")).expect("link");
        // A loop.
        symlink("30-loop.conf", conf_d.join("30-loop.conf")).expect("link");
        let config = parse_under(&root, "/etc/keepalived/keepalived.conf");
        let names: Vec<&str> = config.instances.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, vec!["INSIDE_TOP"], "{:?}", config.errors);
        let errors: Vec<String> = config.errors.iter().map(|e| e.to_string()).collect();
        assert!(
            errors
                .iter()
                .any(|e| e.contains("30-loop.conf") && e.contains("symbolic links")),
            "{errors:?}"
        );
        assert!(
            errors.iter().any(|e| e.contains("10-absolute.conf")),
            "{errors:?}"
        );
    }

    #[test]
    fn a_linked_main_configuration_is_read_inside_the_root() {
        use std::os::unix::fs::symlink;
        let root = rootfs_with("main-link", &[("/etc/keepalived/.keep", "")]);
        let beside = root.parent().expect("the scratch directory").join("k.conf");
        std::fs::write(&beside, "global_defs {\n  router_id OUTSIDE_MARKER\n}\n").expect("write");
        symlink(&beside, under(&root, "/etc/keepalived/keepalived.conf")).expect("link");
        let collector = KeepalivedCollector::new(
            Paths {
                rootfs: root.to_path_buf(),
                ..Paths::default()
            },
            KeepalivedOptions::default(),
        );
        match collector.collect() {
            Ok(Collected {
                data: CollectedData::NoData { reason },
                ..
            }) => assert!(reason.contains("does not exist"), "{reason}"),
            other => panic!("the outside file was read: {other:?}"),
        }
    }

    /// The shape that made doctor time out at about 1 GB: thirty-one files in one directory,
    /// each including the whole directory.
    #[test]
    fn thirty_one_files_that_include_their_directory_are_read_in_bounded_time() {
        let text = "include /etc/keepalived/*.conf\nvrrp_instance VI {\n}\n";
        let names: Vec<String> = (0..31)
            .map(|i| format!("/etc/keepalived/{i:02}.conf"))
            .chain(std::iter::once(
                "/etc/keepalived/keepalived.conf".to_string(),
            ))
            .collect();
        let files: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), text)).collect();
        let root = rootfs_with("fanout", &files);
        let started = std::time::Instant::now();
        let config = parse_under(&root, "/etc/keepalived/keepalived.conf");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        assert!(config.files.len() <= crate::parse::keepalived::MAX_CONFIG_FILES);
        assert!(!config.errors.is_empty());
    }

    #[test]
    fn an_include_of_a_fifo_or_a_huge_file_is_an_error_not_a_hang() {
        let root = rootfs_with(
            "special",
            &[("/k.conf", "include /big.conf\ninclude /dev/zero\n")],
        );
        let big = under(&root, "/big.conf");
        std::fs::write(&big, vec![b'#'; MAX_CONFIG_BYTES + 1]).expect("write");
        let dev = under(&root, "/dev");
        std::fs::create_dir_all(&dev).expect("mkdir");
        let made = std::process::Command::new("mkfifo")
            .arg(dev.join("zero"))
            .status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo");
        let config = parse_under(&root, "/k.conf");
        let messages: Vec<String> = config.errors.iter().map(|e| e.to_string()).collect();
        assert!(
            messages
                .iter()
                .any(|m| m.contains("/dev/zero") && m.contains("not a regular file")),
            "{messages:?}"
        );
        assert!(
            messages.iter().any(|m| m.contains("/big.conf")),
            "{messages:?}"
        );
    }
}
