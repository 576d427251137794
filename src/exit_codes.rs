//! The exit codes of the server and of every subcommand, in one table. The man page's EXIT
//! STATUS section and docs/exit-codes.md are written from it; `main` and the subcommands
//! return the constants it names.
//!
//! The scheme: 0 is success; 1 and 2 are a subcommand's own outcomes (doctor's findings,
//! wait-drained's timeout and refusal); 3 is "could not run" for every command, the server
//! included: a bad flag or value, a bad file, no permission, an address that cannot be bound.

use crate::{report, wait_drained};

/// Every command's "could not run".
pub const COULD_NOT_RUN: u8 = 3;

/// Success: the server stopped on SIGTERM or SIGINT, `--help` or `--version` printed.
pub const SUCCESS: u8 = 0;

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitCodeRow {
    /// The command as typed: `ipvs_exporter` (the server), `ipvs_exporter doctor`, ...
    pub command: &'static str,
    pub code: u8,
    pub meaning: &'static str,
}

const SERVER: &str = "ipvs_exporter";
const DOCTOR: &str = "ipvs_exporter doctor";
const WAIT_DRAINED: &str = "ipvs_exporter wait-drained";
const FLEET: &str = "ipvs_exporter fleet";

/// Every exit code of every command, by command then code.
pub const TABLE: &[ExitCodeRow] = &[
    ExitCodeRow {
        command: SERVER,
        code: SUCCESS,
        meaning: "stopped by SIGTERM or SIGINT; or --help or --version printed",
    },
    ExitCodeRow {
        command: SERVER,
        code: COULD_NOT_RUN,
        meaning: "could not start: a bad flag or value, a bad --web.config.file, an address \
                  that cannot be bound",
    },
    ExitCodeRow {
        command: DOCTOR,
        code: report::exit_code::CLEAN,
        meaning: "no warning or critical finding; or --explain or --emit-sysctl printed what \
                  was asked",
    },
    ExitCodeRow {
        command: DOCTOR,
        code: report::exit_code::WARNINGS,
        meaning: "at least one warning, no critical finding",
    },
    ExitCodeRow {
        command: DOCTOR,
        code: report::exit_code::CRITICAL,
        meaning: "at least one critical finding",
    },
    ExitCodeRow {
        command: DOCTOR,
        code: report::exit_code::COULD_NOT_RUN,
        meaning: "could not run: a bad flag or value, an unknown rule",
    },
    ExitCodeRow {
        command: WAIT_DRAINED,
        code: wait_drained::exit_code::DRAINED,
        meaning: "no active connection (with --templates, no template) left in any matching \
                  service",
    },
    ExitCodeRow {
        command: WAIT_DRAINED,
        code: wait_drained::exit_code::TIMED_OUT,
        meaning: "the timeout came first",
    },
    ExitCodeRow {
        command: WAIT_DRAINED,
        code: wait_drained::exit_code::NOT_DRAINING,
        meaning: "not draining or not found: weight above 0 in a matching service, the \
                  service asked for is not in the table, or the real server is in none of the \
                  matching services (also when it leaves the table while waited for)",
    },
    ExitCodeRow {
        command: WAIT_DRAINED,
        code: wait_drained::exit_code::COULD_NOT_RUN,
        meaning: "could not run: a bad flag or value, no IPVS, no permission, templates asked \
                  for and unknown",
    },
    ExitCodeRow {
        command: FLEET,
        code: report::exit_code::CLEAN,
        meaning: "no warning or critical finding across the fleet; or --explain printed what \
                  was asked",
    },
    ExitCodeRow {
        command: FLEET,
        code: report::exit_code::WARNINGS,
        meaning: "at least one warning, no critical finding",
    },
    ExitCodeRow {
        command: FLEET,
        code: report::exit_code::CRITICAL,
        meaning: "at least one critical finding (such as a VRRP split brain or a group without \
                  MASTER)",
    },
    ExitCodeRow {
        command: FLEET,
        code: report::exit_code::COULD_NOT_RUN,
        meaning: "could not run: a bad flag or value, an unreadable credential or CA file, the \
                  query API unreachable, refusing, timing out or not a Prometheus query API, or \
                  no exporter matching the selector",
    },
];

/// How each kind of command reports why it could not run, for the docs and the man page.
pub const HOW_ERRORS_ARE_SAID: &str = "A bad flag or value is refused before anything runs, \
    with the parser's message and a usage line on stderr. The server logs why it could not \
    start as one log line in --log.format, as it logs everything else. doctor, wait-drained and \
    fleet print one line on stderr that starts with their name (ipvs_exporter doctor: ...).";

/// The table as Markdown, as docs/exit-codes.md holds it.
pub fn markdown_table() -> String {
    let mut out = String::from("| command | exit code | meaning |\n|---|---|---|\n");
    for row in TABLE {
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            row.command, row.code, row.meaning
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_shares_could_not_run_and_has_no_code_twice() {
        for command in [SERVER, DOCTOR, WAIT_DRAINED, FLEET] {
            let codes: Vec<u8> = TABLE
                .iter()
                .filter(|row| row.command == command)
                .map(|row| row.code)
                .collect();
            assert!(codes.contains(&COULD_NOT_RUN), "{command}: {codes:?}");
            assert!(codes.contains(&SUCCESS), "{command}: {codes:?}");
            let mut sorted = codes.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted, codes, "{command}: in order, each once");
        }
        assert_eq!(report::exit_code::COULD_NOT_RUN, COULD_NOT_RUN);
        assert_eq!(wait_drained::exit_code::COULD_NOT_RUN, COULD_NOT_RUN);
    }

    #[test]
    fn docs_hold_the_table_as_the_code_has_it() {
        let docs = include_str!("../docs/exit-codes.md");
        assert!(
            docs.contains(&markdown_table()),
            "docs/exit-codes.md must hold this table as is:\n{}",
            markdown_table()
        );
        assert!(
            docs.contains(HOW_ERRORS_ARE_SAID),
            "docs/exit-codes.md must say how errors are said:\n{HOW_ERRORS_ARE_SAID}"
        );
    }
}
