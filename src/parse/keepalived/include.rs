//! `include` lines: the files they name, listed and read by a caller-given source (the parser
//! reads no file), lexed in place, so that the later stages see one stream of tokens as if the
//! configuration were one file.
//!
//! A configuration is local input that can be wrong in costly ways (a file that includes itself,
//! a directory of files that each include the whole directory), so everything here is bounded:
//! include depth, cycles (a file that includes itself or a file that includes it is reported
//! and not followed), the files one include may name, and the files, bytes and tokens read in
//! all. Past a bound the rest is not read and one error says so; what was read is still used.

use std::collections::HashMap;

use super::Diagnostics;
use super::lexer::{Located, push_line, split_line};
use crate::model::keepalived::ConfigError;

/// How deep includes may nest (keepalived's own limit is of the same order).
pub const MAX_INCLUDE_DEPTH: usize = 8;
/// How many files one `include` may name; the first ones (in glob order) are read.
pub const MAX_INCLUDE_FANOUT: usize = 256;
/// How many files are read in all, the main one included.
pub const MAX_CONFIG_FILES: usize = 512;
/// How many bytes are read in all.
pub const MAX_CONFIG_BYTES: usize = 8 << 20;
/// How many tokens are kept in all (a few tens of bytes each).
const MAX_TOKENS: usize = 1 << 20;

/// What a resolver answers for one include pattern: each matching file's name and its text,
/// or why it could not be read.
pub type Included = Vec<(String, Result<String, String>)>;

/// Where included files come from.
pub trait IncludeSource {
    /// The files `pattern` names, seen from the file `including`, in the order to read them;
    /// at most `max` names (a source may stop listing there), or why none could be listed.
    fn expand(&mut self, including: &str, pattern: &str, max: usize)
    -> Result<Vec<String>, String>;
    /// A file's text, or why it could not be read; at most `max_bytes` (a longer file is an
    /// error).
    fn read(&mut self, name: &str, max_bytes: usize) -> Result<String, String>;
}

/// A source answering from a closure that lists and reads at once (tests, canned files).
pub(super) struct Canned<'a> {
    resolve: &'a mut dyn FnMut(&str, &str) -> Included,
    texts: HashMap<String, Result<String, String>>,
}

impl<'a> Canned<'a> {
    pub(super) fn new(resolve: &'a mut dyn FnMut(&str, &str) -> Included) -> Self {
        Canned {
            resolve,
            texts: HashMap::new(),
        }
    }
}

impl IncludeSource for Canned<'_> {
    fn expand(
        &mut self,
        including: &str,
        pattern: &str,
        max: usize,
    ) -> Result<Vec<String>, String> {
        let found = (self.resolve)(including, pattern);
        let mut names = Vec::new();
        for (name, text) in found.into_iter().take(max) {
            names.push(name.clone());
            self.texts.insert(name, text);
        }
        Ok(names)
    }

    fn read(&mut self, name: &str, max_bytes: usize) -> Result<String, String> {
        match self.texts.get(name) {
            Some(Ok(text)) if text.len() > max_bytes => {
                Err(format!("longer than {max_bytes} bytes"))
            }
            Some(text) => text.clone(),
            None => Err("no such file".into()),
        }
    }
}

/// Lexes the main file and, in place of each `include`, the files it names. Every file read
/// gets an index in `diagnostics.files`, the main one first.
pub(super) fn tokenize(
    name: &str,
    text: &str,
    source: &mut dyn IncludeSource,
    diagnostics: &mut Diagnostics,
) -> Vec<Located> {
    let mut walk = Walk {
        tokens: Vec::new(),
        source,
        diagnostics,
        ancestors: Vec::new(),
        bytes: 0,
        exhausted: false,
    };
    walk.file(name.to_string(), text);
    walk.tokens
}

struct Walk<'a> {
    tokens: Vec<Located>,
    source: &'a mut dyn IncludeSource,
    diagnostics: &'a mut Diagnostics,
    /// The file being read and the files that included it, outermost first.
    ancestors: Vec<String>,
    /// Bytes read so far.
    bytes: usize,
    /// A bound was reached: nothing more is read.
    exhausted: bool,
}

impl Walk<'_> {
    fn file(&mut self, name: String, text: &str) {
        let file = self.diagnostics.files.len();
        self.diagnostics.files.push(name.clone());
        self.bytes = self.bytes.saturating_add(text.len());
        self.ancestors.push(name.clone());
        for (index, raw) in text.lines().enumerate() {
            if self.exhausted {
                break;
            }
            let line = index + 1;
            let words = match split_line(raw) {
                Ok(words) => words,
                Err(message) => {
                    self.diagnostics.error(file, line, message);
                    continue;
                }
            };
            if words.first().map(String::as_str) == Some("include") {
                self.include(&name, words.get(1), (file, line));
            } else if self.tokens.len() + words.len() >= MAX_TOKENS {
                self.exhaust(
                    file,
                    line,
                    format!(
                        "more than {MAX_TOKENS} words; the rest of the configuration is not read"
                    ),
                );
            } else {
                push_line(&mut self.tokens, words, file, line);
            }
        }
        self.ancestors.pop();
    }

    /// Records that a bound was reached and stops reading.
    fn exhaust(&mut self, file: usize, line: usize, message: String) {
        self.diagnostics.error_listed(file, line, message);
        self.exhausted = true;
    }

    /// Follows one `include` line of `including` (at `file`, `line`).
    fn include(&mut self, including: &str, pattern: Option<&String>, (file, line): (usize, usize)) {
        let Some(pattern) = pattern else {
            self.diagnostics
                .error(file, line, "include without a file name".into());
            return;
        };
        let depth = self.ancestors.len();
        if depth > MAX_INCLUDE_DEPTH {
            self.diagnostics.error(
                file,
                line,
                format!("include {pattern:?} nests deeper than {MAX_INCLUDE_DEPTH} files"),
            );
            return;
        }
        let Some(found) = self.included_names(including, pattern, (file, line)) else {
            return;
        };
        for included in found {
            if self.exhausted {
                return;
            }
            if let Some(message) = self.cycle_through(pattern, &included) {
                self.diagnostics.error(file, line, message);
                continue;
            }
            if self.diagnostics.files.len() >= MAX_CONFIG_FILES {
                self.exhaust(
                    file,
                    line,
                    format!("more than {MAX_CONFIG_FILES} files included; the rest of the configuration is not read"),
                );
                return;
            }
            self.read_included(included, (file, line));
        }
    }

    /// The files an include's `pattern` names, the first [`MAX_INCLUDE_FANOUT`] of them; none
    /// when they cannot be listed. Listing none, or too many, is reported.
    fn included_names(
        &mut self,
        including: &str,
        pattern: &str,
        (file, line): (usize, usize),
    ) -> Option<Vec<String>> {
        let mut found = match self
            .source
            .expand(including, pattern, MAX_INCLUDE_FANOUT + 1)
        {
            Ok(found) => found,
            Err(reason) => {
                self.diagnostics
                    .error(file, line, format!("include {pattern:?}: {reason}"));
                return None;
            }
        };
        if found.is_empty() {
            self.diagnostics
                .error(file, line, format!("include {pattern:?} matches no file"));
        }
        if found.len() > MAX_INCLUDE_FANOUT {
            self.diagnostics.error(
                file,
                line,
                format!(
                    "include {pattern:?} matches more than {MAX_INCLUDE_FANOUT} files; only the first {MAX_INCLUDE_FANOUT} are read"
                ),
            );
            found.truncate(MAX_INCLUDE_FANOUT);
        }
        Some(found)
    }

    /// Why `included` is not followed when it is being read already (the file itself or one
    /// that includes it), or `None` when it may be read.
    fn cycle_through(&self, pattern: &str, included: &str) -> Option<String> {
        let position = self.ancestors.iter().position(|a| *a == included)?;
        let message = if position + 1 == self.ancestors.len() {
            format!("include {pattern:?}: {included} includes itself; not followed")
        } else {
            format!(
                "include {pattern:?}: {included} is already being read (an include cycle: {} -> {included}); not followed",
                self.ancestors
                    .get(position..)
                    .unwrap_or_default()
                    .join(" -> ")
            )
        };
        Some(message)
    }

    /// Reads and lexes one included file within the bytes left; a file past the bound stops
    /// the reading, one that cannot be read is reported against its own name.
    fn read_included(&mut self, included: String, (file, line): (usize, usize)) {
        let budget = MAX_CONFIG_BYTES.saturating_sub(self.bytes);
        match self.source.read(&included, budget) {
            Ok(text) if text.len() <= budget => self.file(included, &text),
            Ok(_) => self.exhaust(
                file,
                line,
                format!("more than {MAX_CONFIG_BYTES} bytes included; the rest of the configuration is not read"),
            ),
            Err(reason) => self.diagnostics.push(ConfigError {
                file: included,
                line: 0,
                message: format!("cannot read included file: {reason}"),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{parse_config, parse_single};
    use super::*;

    #[test]
    fn includes_are_resolved_by_the_caller_and_nest() {
        let mut asked = Vec::new();
        let config = parse_config(
            "main.conf",
            "include conf.d/*.conf\ninclude missing/*.conf\n",
            &mut |from, pattern| {
                asked.push((from.to_string(), pattern.to_string()));
                match pattern {
                    "conf.d/*.conf" => vec![
                        (
                            "conf.d/a.conf".into(),
                            Ok("vrrp_instance A {\n}\ninclude b.inc\n".into()),
                        ),
                        ("conf.d/bad.conf".into(), Err("permission denied".into())),
                    ],
                    "b.inc" => vec![("conf.d/b.inc".into(), Ok("vrrp_instance B {\n}\n".into()))],
                    _ => Vec::new(),
                }
            },
        );
        let names: Vec<&str> = config.instances.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, vec!["A", "B"]);
        assert_eq!(asked.get(1).map(|a| a.0.as_str()), Some("conf.d/a.conf"));
        assert_eq!(
            config.files,
            vec!["main.conf", "conf.d/a.conf", "conf.d/b.inc"]
        );
        let errors: Vec<String> = config.errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            errors,
            vec![
                "conf.d/bad.conf: cannot read included file: permission denied",
                "main.conf:2: include \"missing/*.conf\" matches no file",
            ]
        );
    }

    #[test]
    fn a_file_that_includes_itself_is_read_once_and_reported() {
        let text = "vrrp_instance VI_1 {\n}\ninclude main.conf\n";
        let config = parse_config("main.conf", text, &mut |_, _| {
            vec![("main.conf".into(), Ok(text.into()))]
        });
        assert_eq!(config.instances.len(), 1, "{:?}", config.instances);
        assert_eq!(config.files, vec!["main.conf"]);
        let errors: Vec<String> = config.errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            errors,
            vec!["main.conf:3: include \"main.conf\": main.conf includes itself; not followed"]
        );
    }

    #[test]
    fn an_include_cycle_through_another_file_is_reported_not_followed() {
        let config = parse_config(
            "a.conf",
            "include b.conf\n",
            &mut |_, pattern| match pattern {
                "b.conf" => vec![(
                    "b.conf".into(),
                    Ok("vrrp_instance B {\n}\ninclude a.conf\n".into()),
                )],
                _ => vec![("a.conf".into(), Ok("include b.conf\n".into()))],
            },
        );
        assert_eq!(config.instances.len(), 1);
        assert_eq!(config.files, vec!["a.conf", "b.conf"]);
        assert_eq!(config.errors.len(), 1, "{:?}", config.errors);
        assert!(
            config
                .errors
                .iter()
                .all(|e| e.message.contains("a.conf -> b.conf -> a.conf")),
            "{:?}",
            config.errors
        );
    }

    #[test]
    fn a_chain_of_includes_stops_at_the_depth_limit() {
        let config = parse_config("f0", "include next\n", &mut |from, _| {
            let n: usize = from.trim_start_matches('f').parse().unwrap_or(0);
            vec![(format!("f{}", n + 1), Ok("include next\n".into()))]
        });
        assert_eq!(config.files.len(), MAX_INCLUDE_DEPTH + 1);
        assert_eq!(config.errors.len(), 1, "{:?}", config.errors);
        assert!(
            config
                .errors
                .iter()
                .all(|e| e.message.contains("nests deeper"))
        );
    }

    /// Thirty-one files, each including the whole directory: without bounds the walk is
    /// every ordering of the files (30! paths); with them it stops after a bounded number.
    #[test]
    fn a_directory_of_files_that_each_include_the_directory_is_bounded() {
        let names: Vec<String> = (0..31)
            .map(|i| format!("/etc/keepalived/{i:02}.conf"))
            .collect();
        let text = "include /etc/keepalived/*.conf\nvrrp_instance VI {\n}\n";
        let mut asked = 0usize;
        let started = std::time::Instant::now();
        let config = parse_config("/etc/keepalived/00.conf", text, &mut |_, _| {
            asked += 1;
            names
                .iter()
                .map(|n| (n.clone(), Ok(text.to_string())))
                .collect()
        });
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        assert!(
            config.files.len() <= MAX_CONFIG_FILES,
            "{}",
            config.files.len()
        );
        assert!(asked <= MAX_CONFIG_FILES);
        assert!(
            config
                .errors
                .iter()
                .any(|e| e.message.contains("files included; the rest")),
            "{:?}",
            config.errors.last()
        );
        assert!(config.errors.len() <= 102);
    }

    #[test]
    fn an_include_naming_too_many_files_reads_only_the_first() {
        let config = parse_config("main.conf", "include d/*\n", &mut |_, _| {
            (0..MAX_INCLUDE_FANOUT + 50)
                .map(|i| (format!("d/{i:04}"), Ok(String::new())))
                .collect()
        });
        assert_eq!(config.files.len(), MAX_INCLUDE_FANOUT + 1);
        assert!(
            config
                .errors
                .iter()
                .any(|e| e.message.contains("matches more than"))
        );
    }

    #[test]
    fn included_bytes_are_bounded() {
        let line = format!("#{}\n", "x".repeat(1022));
        let big = line.repeat(MAX_CONFIG_BYTES / 1024 / 3 + 1);
        let config = parse_config("main.conf", "include d/*\n", &mut |_, _| {
            (0..5)
                .map(|i| (format!("d/{i}"), Ok(big.clone())))
                .collect()
        });
        assert!(config.files.len() <= 4, "{:?}", config.files);
        assert!(
            config
                .errors
                .iter()
                .any(|e| e.message.contains("longer than")),
            "{:?}",
            config.errors
        );
    }

    #[test]
    fn an_include_without_a_name_is_an_error_and_not_a_statement() {
        let config = parse_single("k.conf", "include\nvrrp_instance A {\n}\n");
        assert_eq!(
            config
                .errors
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>(),
            vec!["k.conf:1: include without a file name"]
        );
        assert_eq!(config.instances.len(), 1);
    }

    #[test]
    fn includes_from_a_conf_d_directory() {
        let main = include_str!("../../../tests/fixtures/keepalived-conf/with-includes.conf");
        let config = parse_config("with-includes.conf", main, &mut |_, pattern| {
            assert_eq!(pattern, "conf.d/*.conf");
            vec![
                (
                    "conf.d/10-vrrp.conf".into(),
                    Ok(
                        include_str!("../../../tests/fixtures/keepalived-conf/conf.d/10-vrrp.conf")
                            .into(),
                    ),
                ),
                (
                    "conf.d/20-lvs.conf".into(),
                    Ok(
                        include_str!("../../../tests/fixtures/keepalived-conf/conf.d/20-lvs.conf")
                            .into(),
                    ),
                ),
            ]
        });
        assert_eq!(config.errors, Vec::new());
        assert_eq!(
            config.instances.first().map(|i| i.name.as_str()),
            Some("VI_INC")
        );
        assert_eq!(
            config
                .virtual_servers
                .first()
                .and_then(|s| s.real_servers.first())
                .map(|r| r.checkers.clone()),
            Some(vec!["SSL_GET".to_string()])
        );
    }
}
