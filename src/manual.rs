//! The man page and the shell completions, written from the clap definitions (with
//! clap_mangen and clap_complete) so that they name exactly the flags and subcommands the
//! binary takes, collectors included, and the exit codes of [`crate::exit_codes`].
//! `ipvs_exporter __generate-docs DIR` writes them; packaging/build.sh runs it for the .deb.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use clap_complete::Shell;
use roff::{Roff, bold, roman};

use crate::exit_codes;

/// The program's name, in the man page and the completions.
pub const BIN: &str = "ipvs_exporter";

/// The man page's file name (uncompressed; the package gzips it).
pub const MAN_PAGE_FILE: &str = "ipvs_exporter.1";

/// Each shell with its completion script's file name, as Debian's paths want it.
pub const COMPLETIONS: [(Shell, &str); 3] = [
    (Shell::Bash, "ipvs_exporter"),
    (Shell::Zsh, "_ipvs_exporter"),
    (Shell::Fish, "ipvs_exporter.fish"),
];

/// The command as documented: every flag, and the subcommands that are not hidden (the
/// hidden ones are tools for tests and packaging). clap cannot remove a subcommand, so the
/// command is put together again from its parts.
pub fn documented_command() -> clap::Command {
    let full = crate::cli::command();
    let mut documented = clap::Command::new(BIN);
    if let Some(version) = full.get_version() {
        documented = documented.version(version.to_string());
    }
    if let Some(about) = full.get_about() {
        documented = documented.about(about.clone());
    }
    if let Some(about) = full.get_long_about() {
        documented = documented.long_about(about.clone());
    }
    for arg in full.get_arguments() {
        documented = documented.arg(arg.clone());
    }
    for sub in full.get_subcommands().filter(|sub| !sub.is_hide_set()) {
        documented = documented.subcommand(sub.clone());
    }
    documented
}

/// The man page, in roff: clap_mangen's sections for the command, one section per
/// subcommand with its own flags, then EXIT STATUS and SEE ALSO.
/// `date` is the page's date (YYYY-MM-DD).
pub fn man_page(date: &str) -> std::io::Result<Vec<u8>> {
    let command = documented_command();
    // One form per command instead of every flag in one paragraph: the flags follow.
    let mut forms = format!("{BIN} [OPTIONS]");
    for sub in command.get_subcommands() {
        forms.push_str(&format!("\n{BIN} [OPTIONS] {} [OPTIONS]", sub.get_name()));
    }
    let man = clap_mangen::Man::new(command.clone().override_usage(forms))
        .section("1")
        .date(date)
        .manual("ipvs_exporter manual");
    let mut parts = Parts::default();
    parts.add(|w| man.render_title(w))?;
    // Flag names are not words: no hyphenation inside them.
    parts.add_roff(Roff::new().control("nh", []));
    parts.add(|w| man.render_name_section(w))?;
    parts.add(|w| man.render_synopsis_section(w))?;
    parts.add(|w| man.render_description_section(w))?;
    parts.add(|w| man.render_options_section(w))?;
    parts.add_roff(&subcommand_list(&command));
    for sub in command.get_subcommands() {
        let name = format!("{BIN} {}", sub.get_name());
        let man = clap_mangen::Man::new(sub.clone().bin_name(name.clone()));
        parts.add_roff(Roff::new().control("SH", [name.to_uppercase().as_str()]));
        // The subcommand's own SYNOPSIS, DESCRIPTION and OPTIONS, as subsections.
        parts.add_subsections(|w| man.render_synopsis_section(w))?;
        parts.add_subsections(|w| man.render_description_section(w))?;
        parts.add_subsections(|w| man.render_options_section(w))?;
    }
    parts.add_roff(&exit_status());
    parts.add_roff(&see_also());
    parts.add(|w| man.render_version_section(w))?;
    Ok(parts.page.into_bytes())
}

/// A completion script for `shell`.
pub fn completion(shell: Shell) -> Vec<u8> {
    let mut command = documented_command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command, BIN, &mut out);
    out
}

/// The man page's date: that of `SOURCE_DATE_EPOCH` when set (reproducible builds set it to
/// the last commit's time), else today's; in UTC.
pub fn page_date() -> String {
    let when = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|epoch| epoch.trim().parse::<i64>().ok())
        .and_then(|epoch| time::OffsetDateTime::from_unix_timestamp(epoch).ok())
        .unwrap_or_else(time::OffsetDateTime::now_utc);
    when.format(time::macros::format_description!("[year]-[month]-[day]"))
        .unwrap_or_default()
}

/// Writes the man page (dated `date`) and the completion scripts into `dir` (made if
/// missing) and returns the files written.
pub fn write_to(dir: &Path, date: &str) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    let page = dir.join(MAN_PAGE_FILE);
    std::fs::write(&page, man_page(date)?)?;
    written.push(page);
    for (shell, file) in COMPLETIONS {
        let path = dir.join(file);
        std::fs::File::create(&path)?.write_all(&completion(shell))?;
        written.push(path);
    }
    Ok(written)
}

/// The page put together from separately rendered pieces, each of which starts with the
/// same roff preamble: kept once.
#[derive(Default)]
struct Parts {
    page: String,
    preamble: Option<String>,
}

impl Parts {
    fn add(
        &mut self,
        render: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        let mut buffer = Vec::new();
        render(&mut buffer)?;
        let text = String::from_utf8_lossy(&buffer).into_owned();
        self.push(&text);
        Ok(())
    }

    /// Like [`Parts::add`], with the piece's sections turned into subsections.
    fn add_subsections(
        &mut self,
        render: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        let mut buffer = Vec::new();
        render(&mut buffer)?;
        let text = String::from_utf8_lossy(&buffer)
            .lines()
            .map(|line| match line.strip_prefix(".SH ") {
                Some(title) => format!(".SS {title}\n"),
                None => format!("{line}\n"),
            })
            .collect::<String>();
        self.push(&text);
        Ok(())
    }

    fn add_roff(&mut self, roff: &Roff) {
        self.push(&roff.render());
    }

    fn push(&mut self, text: &str) {
        // The preamble is whatever comes before the first request of the first piece (the
        // title's .TH).
        let preamble = self
            .preamble
            .get_or_insert_with(|| {
                text.find(".TH ")
                    .and_then(|at| text.get(..at))
                    .unwrap_or_default()
                    .to_string()
            })
            .clone();
        if self.page.is_empty() || preamble.is_empty() {
            self.page.push_str(text);
        } else {
            self.page
                .push_str(text.strip_prefix(preamble.as_str()).unwrap_or(text));
        }
    }
}

/// COMMANDS: each subcommand's name and first line, pointing at its section below.
fn subcommand_list(command: &clap::Command) -> Roff {
    let mut roff = Roff::new();
    roff.control("SH", ["COMMANDS"]);
    roff.text([roman(
        "Without a command, ipvs_exporter serves metrics. The commands, each with its own \
         section below:",
    )]);
    for sub in command.get_subcommands() {
        roff.control("TP", []);
        roff.text([bold(sub.get_name())]);
        let about = sub
            .get_about()
            .or_else(|| sub.get_long_about())
            .map(|about| about.to_string())
            .unwrap_or_default();
        roff.text([roman(about.replace('\n', " "))]);
    }
    roff
}

/// EXIT STATUS, from the one exit-code table.
fn exit_status() -> Roff {
    let mut roff = Roff::new();
    roff.control("SH", ["EXIT STATUS"]);
    roff.text([roman(
        "0 is success; 1 and 2 are a command's own outcomes; 3 means the command could not run, \
         for every command, the server included.",
    )]);
    let mut command: Option<&str> = None;
    for row in exit_codes::TABLE {
        if command != Some(row.command) {
            roff.control("SS", [row.command]);
            command = Some(row.command);
        }
        roff.control("TP", []);
        roff.text([bold(row.code.to_string())]);
        roff.text([roman(row.meaning)]);
    }
    roff.control("PP", []);
    roff.text([roman(exit_codes::HOW_ERRORS_ARE_SAID)]);
    roff
}

/// The SEE ALSO text: where the installed documentation is (the .deb puts the README and
/// docs/ in /usr/share/doc/ipvs-exporter/).
const SEE_ALSO: &str = "/usr/share/doc/ipvs-exporter/README.md: installing, the scrape \
     configuration, the dashboards and rules, keepalived hosts. Beside it, docs/: the metrics \
     (metrics.md), the advisor's rules (advisor.md), the alerts and runbooks (alerts.md, \
     runbooks.md), the web configuration file (web-configuration.md) and the exit codes \
     (exit-codes.md).";

fn see_also() -> Roff {
    let mut roff = Roff::new();
    roff.control("SH", ["SEE ALSO"]);
    roff.text([roman(SEE_ALSO)]);
    roff
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each file SEE ALSO names under docs/ is one the repository has (and the .deb ships
    /// every docs/*.md).
    #[test]
    fn see_also_names_documents_that_exist() {
        let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
        let named: Vec<&str> = SEE_ALSO
            .split(|c: char| c.is_whitespace() || matches!(c, '(' | ')' | ','))
            .filter(|word| word.ends_with(".md") && !word.contains('/'))
            .collect();
        assert!(named.len() >= 6, "{named:?}");
        for name in named {
            assert!(
                docs.join(name).is_file(),
                "SEE ALSO names docs/{name}, which is not there"
            );
        }
    }

    /// How roff writes a flag or a word: `-` as `\-`.
    fn in_roff(text: &str) -> String {
        text.replace('-', "\\-")
    }

    /// Every subcommand (hidden or not) and every argument of `command`, built.
    fn everything() -> clap::Command {
        let mut command = crate::cli::command();
        command.build();
        command
    }

    #[test]
    fn the_man_page_names_every_flag_and_subcommand() {
        let page = String::from_utf8(man_page("2026-01-02").expect("renders")).expect("UTF-8");
        assert!(
            page.contains("\n.TH ipvs_exporter 1 2026-01-02 \"ipvs_exporter "),
            "{page}"
        );
        let command = everything();
        let mut flags = 0;
        // The page's text from `heading` to the next section.
        let section = |heading: &str| -> String {
            let start = page.find(heading).unwrap_or_else(|| panic!("no {heading}"));
            let rest = &page[start + heading.len()..];
            rest[..rest.find("\n.SH ").unwrap_or(rest.len())].to_string()
        };
        // An option's own entry (not a mention in a synopsis or another option's help).
        let entry = |arg: &clap::Arg| -> Option<String> {
            let long = in_roff(&format!("--{}", arg.get_long()?));
            Some(match arg.get_short() {
                Some(short) => format!(".TP\n\\fB\\-{short}\\fR, \\fB{long}\\fR"),
                None => format!(".TP\n\\fB{long}\\fR"),
            })
        };
        let options = section(".SH OPTIONS");
        for arg in command.get_arguments().filter(|a| !a.is_hide_set()) {
            if let Some(entry) = entry(arg) {
                assert!(options.contains(&entry), "{entry}");
                flags += 1;
            }
        }
        assert!(flags > 40, "only {flags} flags");
        for sub in command.get_subcommands() {
            let name = sub.get_name();
            if name == "help" {
                continue;
            }
            if sub.is_hide_set() {
                assert!(
                    !page.contains(&in_roff(name)),
                    "hidden {name} is in the page"
                );
                continue;
            }
            // A request's arguments are not escaped as text is.
            let heading = format!(".SH \"{}\"", format!("{BIN} {name}").to_uppercase());
            assert!(page.contains(&heading), "{heading}");
            let own = section(&heading);
            let mut own_flags = 0;
            for arg in sub
                .get_arguments()
                .filter(|a| !a.is_hide_set() && !a.is_global_set())
            {
                if let Some(entry) = entry(arg) {
                    assert!(own.contains(&entry), "{name}: {entry}");
                    own_flags += 1;
                }
            }
            assert!(own_flags >= 4, "{name}: {own_flags} flags");
        }
        for row in exit_codes::TABLE {
            assert!(page.contains(&in_roff(row.meaning)), "{row:?}");
        }
        assert!(page.contains(".SH \"EXIT STATUS\""));
        assert_eq!(page.matches(".TH ").count(), 1);
    }

    #[test]
    fn each_completion_script_knows_every_subcommand_and_no_hidden_one() {
        let command = everything();
        for (shell, _) in COMPLETIONS {
            let script = String::from_utf8(completion(shell)).expect("UTF-8");
            for sub in command.get_subcommands() {
                let name = sub.get_name();
                if sub.is_hide_set() {
                    assert!(!script.contains(name), "{shell}: hidden {name}");
                } else {
                    assert!(script.contains(name), "{shell}: {name}");
                }
            }
            // Flags as each shell writes them (fish: `-l NAME`).
            for flag in [
                "web.listen-address",
                "collector.disable-defaults",
                "timeout",
            ] {
                let written = match shell {
                    Shell::Fish => format!("-l {flag}"),
                    _ => format!("--{flag}"),
                };
                assert!(script.contains(&written), "{shell}: {written}");
            }
        }
    }
}
