//! `include` lines: the files they name, asked of a caller-given resolver (the parser reads
//! no file), lexed in place, nested up to a limit, so that the later stages see one stream of
//! tokens as if the configuration were one file.

use super::Diagnostics;
use super::lexer::{Located, push_line, split_line};
use crate::model::keepalived::ConfigError;

/// How deep includes may nest (keepalived's own limit is of the same order).
pub(super) const MAX_INCLUDE_DEPTH: usize = 8;

/// What a resolver answers for one include pattern: each matching file's name and its text,
/// or why it could not be read.
pub type Included = Vec<(String, Result<String, String>)>;

/// Lexes the main file and, in place of each `include`, the files it names. Every file read
/// gets an index in `diagnostics.files`, the main one first.
pub(super) fn tokenize(
    name: &str,
    text: &str,
    resolve: &mut dyn FnMut(&str, &str) -> Included,
    diagnostics: &mut Diagnostics,
) -> Vec<Located> {
    let mut walk = Walk {
        tokens: Vec::new(),
        resolve,
        diagnostics,
    };
    walk.file(name.to_string(), text, 0);
    walk.tokens
}

struct Walk<'a> {
    tokens: Vec<Located>,
    resolve: &'a mut dyn FnMut(&str, &str) -> Included,
    diagnostics: &'a mut Diagnostics,
}

impl Walk<'_> {
    fn file(&mut self, name: String, text: &str, depth: usize) {
        let file = self.diagnostics.files.len();
        self.diagnostics.files.push(name.clone());
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let words = match split_line(raw) {
                Ok(words) => words,
                Err(message) => {
                    self.diagnostics.error(file, line, message);
                    continue;
                }
            };
            if words.first().map(String::as_str) == Some("include") {
                self.include(&name, words.get(1), (file, line), depth);
            } else {
                push_line(&mut self.tokens, words, file, line);
            }
        }
    }

    /// Follows one `include` line of `including` (at `file`, `line`).
    fn include(
        &mut self,
        including: &str,
        pattern: Option<&String>,
        (file, line): (usize, usize),
        depth: usize,
    ) {
        let Some(pattern) = pattern else {
            self.diagnostics
                .error(file, line, "include without a file name".into());
            return;
        };
        if depth >= MAX_INCLUDE_DEPTH {
            self.diagnostics.error(
                file,
                line,
                format!("include {pattern:?} nests deeper than {MAX_INCLUDE_DEPTH} files"),
            );
            return;
        }
        let found = (self.resolve)(including, pattern);
        if found.is_empty() {
            self.diagnostics
                .error(file, line, format!("include {pattern:?} matches no file"));
        }
        for (included, text) in found {
            match text {
                Ok(text) => self.file(included, &text, depth + 1),
                Err(reason) => self.diagnostics.errors.push(ConfigError {
                    file: included,
                    line: 0,
                    message: format!("cannot read included file: {reason}"),
                }),
            }
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
    fn an_include_loop_stops_at_the_depth_limit() {
        let config = parse_config("main.conf", "include main.conf\n", &mut |_, _| {
            vec![("main.conf".into(), Ok("include main.conf\n".into()))]
        });
        assert_eq!(config.errors.len(), 1);
        assert!(config.files.len() <= MAX_INCLUDE_DEPTH + 1);
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
