//! The `ipvs_exporter` binary: parse flags, start logging, run, exit with the code it returns.

use std::process::ExitCode;

use ipvs_exporter::{app, cli, logging, report};

fn main() -> ExitCode {
    let settings = match cli::parse_from(std::env::args_os()) {
        Ok(settings) => settings,
        Err(err) => {
            let _ = err.print();
            let code = match err.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                // doctor reserves 1 and 2 for findings: a usage error means it could not run.
                _ if std::env::args().any(|a| a == "doctor") => report::exit_code::COULD_NOT_RUN,
                _ => 2,
            };
            return ExitCode::from(code);
        }
    };
    logging::init(settings.cli.log_level, settings.cli.log_format);
    ExitCode::from(app::run(settings))
}
