//! keepalived.conf, parsed without keepalived, in four stages:
//!
//! - [`lexer`]: one line into words (`#` and `!` comments, double-quoted strings, braces);
//! - [`include`]: follows `include` lines through the files a caller-given resolver names, and
//!   turns every file's lines into one stream of tokens;
//! - [`tree`]: the tokens into statements and their `{ }` blocks (opened on the keyword's line
//!   or the next one);
//! - [`config`]: the statements the exporter needs (VRRP instances, sync groups, virtual
//!   servers) into the model; other keywords are skipped.
//!
//! Includes need the filesystem, so the parser asks the resolver (in `source::keepalived`) for
//! the files a pattern names; the parser itself stays pure. A syntax error is recorded and
//! parsing goes on: what could be read is still used.

mod config;
mod include;
mod lexer;
mod tree;

use crate::model::keepalived::{ConfigError, KeepalivedConfig};

pub use include::Included;

/// The files read so far, by index, and the errors found in them: shared by every stage.
#[derive(Debug, Default)]
struct Diagnostics {
    files: Vec<String>,
    errors: Vec<ConfigError>,
}

impl Diagnostics {
    /// Records an error at a line of the `file`th file read.
    fn error(&mut self, file: usize, line: usize, message: String) {
        let file = self.files.get(file).cloned().unwrap_or_default();
        self.errors.push(ConfigError {
            file,
            line,
            message,
        });
    }
}

/// Parses a configuration. `resolve(including_file, pattern)` lists the files an `include`
/// names, with their text; the names it returns are used in error messages.
pub fn parse_config(
    name: &str,
    text: &str,
    resolve: &mut dyn FnMut(&str, &str) -> Included,
) -> KeepalivedConfig {
    let mut diagnostics = Diagnostics::default();
    let tokens = include::tokenize(name, text, resolve, &mut diagnostics);
    let statements = tree::build(&tokens, &mut diagnostics);
    let mut config = config::read(&statements, &mut diagnostics);
    config.files = diagnostics.files;
    config.errors = diagnostics.errors;
    config
}

/// Parses a configuration that includes nothing (tests, and files read alone).
pub fn parse_single(name: &str, text: &str) -> KeepalivedConfig {
    parse_config(name, text, &mut |_, _| Vec::new())
}
