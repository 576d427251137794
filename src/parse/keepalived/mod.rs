//! keepalived.conf, parsed without keepalived, in four stages:
//!
//! - [`lexer`]: one line into words (`#` and `!` comments, double-quoted strings, braces);
//! - [`include`]: follows `include` lines through the files a caller-given resolver names, and
//!   turns every file's lines into one stream of tokens;
//! - [`tree`]: the tokens into statements and their `{ }` blocks (opened on the keyword's line
//!   or the next one);
//! - [`config`]: the statements the exporter needs (VRRP instances, sync groups, virtual
//!   servers and their groups) into the model; other keywords are skipped;
//! - [`script_users`]: what decides keepalived's default script user, and what uses it.
//!
//! Includes need the filesystem, so the parser asks the resolver (in `source::keepalived`) for
//! the files a pattern names; the parser itself stays pure. A syntax error is recorded and
//! parsing goes on: what could be read is still used.

mod config;
mod include;
mod lexer;
mod script_users;
mod tree;

use crate::model::keepalived::{ConfigError, KeepalivedConfig};

pub use include::{
    IncludeSource, Included, MAX_CONFIG_BYTES, MAX_CONFIG_FILES, MAX_INCLUDE_DEPTH,
    MAX_INCLUDE_FANOUT,
};

/// At most this many errors are listed; the rest are counted in one last error.
const MAX_ERRORS: usize = 100;

/// The files read so far, by index, and the errors found in them: shared by every stage.
#[derive(Debug, Default)]
struct Diagnostics {
    files: Vec<String>,
    errors: Vec<ConfigError>,
    /// Errors found beyond [`MAX_ERRORS`].
    unlisted: usize,
}

impl Diagnostics {
    /// Records an error at a line of the `file`th file read.
    fn error(&mut self, file: usize, line: usize, message: String) {
        let file = self.files.get(file).cloned().unwrap_or_default();
        self.push(ConfigError {
            file,
            line,
            message,
        });
    }

    /// Records an error even past [`MAX_ERRORS`] (a bound reached: said once).
    fn error_listed(&mut self, file: usize, line: usize, message: String) {
        let file = self.files.get(file).cloned().unwrap_or_default();
        self.errors.push(ConfigError {
            file,
            line,
            message,
        });
    }

    /// Records an error, or only counts it once [`MAX_ERRORS`] are listed.
    fn push(&mut self, error: ConfigError) {
        if self.errors.len() < MAX_ERRORS {
            self.errors.push(error);
        } else {
            self.unlisted += 1;
        }
    }

    /// The errors, the last one saying how many more were not listed.
    fn into_errors(mut self) -> (Vec<String>, Vec<ConfigError>) {
        if self.unlisted > 0 {
            self.errors.push(ConfigError {
                file: self.files.first().cloned().unwrap_or_default(),
                line: 0,
                message: format!("{} more errors not listed", self.unlisted),
            });
        }
        (self.files, self.errors)
    }
}

/// Parses a configuration. `resolve(including_file, pattern)` lists the files an `include`
/// names, with their text; the names it returns are used in error messages.
pub fn parse_config(
    name: &str,
    text: &str,
    resolve: &mut dyn FnMut(&str, &str) -> Included,
) -> KeepalivedConfig {
    parse_config_from(name, text, &mut include::Canned::new(resolve))
}

/// Parses a configuration whose includes are listed and read by `source`, within the bounds
/// of [`include`]: depth, cycles, fan-out, files and bytes read.
pub fn parse_config_from(
    name: &str,
    text: &str,
    source: &mut dyn IncludeSource,
) -> KeepalivedConfig {
    let mut diagnostics = Diagnostics::default();
    let tokens = include::tokenize(name, text, source, &mut diagnostics);
    let statements = tree::build(&tokens, &mut diagnostics);
    let mut config = config::read(&statements, &mut diagnostics);
    (config.files, config.errors) = diagnostics.into_errors();
    config
}

/// Parses a configuration that includes nothing (tests, and files read alone).
pub fn parse_single(name: &str, text: &str) -> KeepalivedConfig {
    parse_config(name, text, &mut |_, _| Vec::new())
}
