//! Runs the subcommands: `serve` (the default), `doctor`, `wait-drained` and `fleet`. Turns
//! errors into exit codes.

use std::sync::Arc;

use anyhow::Context;
use tokio::sync::Semaphore;

use crate::cli::{CaptureSubject, Command, Settings};
use crate::report::{self, DoctorFormat, exit_code};
use crate::snapshot::Gatherer;
use crate::source::build_collectors;
use crate::web::connection::{self, Limits};
use crate::web::routes::App;
use crate::web::{WebConfig, listen};
use crate::{advisor, build, exit_codes, wait_drained};

/// Runs what the flags ask for and returns the process exit code.
pub fn run(settings: Settings) -> u8 {
    match settings.cli.command {
        Some(Command::Doctor {
            format,
            ref explain,
            emit_sysctl,
            ref disable,
        }) => match doctor(&settings, format, explain.as_ref(), emit_sysctl, disable) {
            Ok(code) => code,
            Err(err) => {
                eprintln!("ipvs_exporter doctor: {}", said_once(&err));
                exit_code::COULD_NOT_RUN
            }
        },
        Some(Command::Fleet(ref args)) => match fleet(args) {
            Ok(code) => code,
            Err(err) => {
                eprintln!("ipvs_exporter fleet: {}", said_once(&err));
                exit_code::COULD_NOT_RUN
            }
        },
        Some(Command::WaitDrained {
            real_server,
            ref service,
            fwmark,
            templates,
            timeout,
            interval,
        }) => {
            let target = wait_drained::Target {
                real_server,
                service: service
                    .clone()
                    .or(fwmark.map(wait_drained::ServiceSelector::FirewallMark)),
                templates,
            };
            wait_drained::run(
                &settings.cli.procfs,
                &settings.cli.rootfs,
                settings.cli.ipvs.source,
                &settings.cli.ipvs.netns,
                &target,
                &wait_drained::WaitOptions { timeout, interval },
            )
        }
        Some(Command::CaptureNetlink { subject }) => match capture(subject) {
            Ok(text) => {
                print!("{text}");
                0
            }
            Err(err) => {
                eprintln!("ipvs_exporter capture-netlink: {err}");
                exit_codes::COULD_NOT_RUN
            }
        },
        Some(Command::GenerateDocs { ref dir }) => {
            match crate::manual::write_to(dir, &crate::manual::page_date()) {
                Ok(written) => {
                    for path in written {
                        println!("{}", path.display());
                    }
                    exit_codes::SUCCESS
                }
                Err(err) => {
                    eprintln!("ipvs_exporter __generate-docs: {}: {err}", dir.display());
                    exit_codes::COULD_NOT_RUN
                }
            }
        }
        None => match serve(&settings) {
            Ok(()) => exit_codes::SUCCESS,
            Err(err) => {
                tracing::error!("{}", said_once(&err));
                exit_codes::COULD_NOT_RUN
            }
        },
    }
}

/// An error and its causes on one line, each said once: a cause whose text its parent's
/// message already ends with (an error that prints its source as well as returning it) is
/// not repeated.
fn said_once(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if line.ends_with(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

fn capture(subject: CaptureSubject) -> Result<String, crate::netlink::socket::TransportError> {
    match subject {
        CaptureSubject::Ipvs => crate::source::ipvs_netlink::capture(),
        CaptureSubject::Conntrack => crate::source::conntrack::capture(),
    }
}

fn gatherer(settings: &Settings) -> Gatherer {
    Gatherer::new(
        build_collectors(
            &settings.enabled_collectors,
            &settings.paths(),
            &settings.collector_options(),
        ),
        settings.cli.collector_timeout,
    )
}

fn doctor(
    settings: &Settings,
    format: DoctorFormat,
    explain: Option<&Option<String>>,
    emit_sysctl: bool,
    disable: &[String],
) -> anyhow::Result<u8> {
    match explain {
        Some(Some(id)) => {
            let rule = advisor::rules::find(id).with_context(|| {
                let ids: Vec<&str> = advisor::rules::RULES.iter().map(|r| r.id).collect();
                format!("no rule {id:?}; the rules are: {}", ids.join(", "))
            })?;
            match format {
                DoctorFormat::Json => print!("{}", report::explain_json(rule)),
                DoctorFormat::Text | DoctorFormat::Markdown => print!("{}", report::explain(rule)),
            }
            return Ok(exit_code::CLEAN);
        }
        Some(None) => {
            let rules = advisor::rules::RULES;
            match format {
                DoctorFormat::Json => print!("{}", report::rule_list_json(rules)),
                DoctorFormat::Text | DoctorFormat::Markdown => {
                    print!("{}", report::rule_list(rules));
                }
            }
            return Ok(exit_code::CLEAN);
        }
        None => {}
    }
    for id in disable {
        if advisor::rules::find(id).is_none() {
            anyhow::bail!("--disable: no rule {id:?}");
        }
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let gatherer = gatherer(settings);
    let snapshot = runtime.block_on(gatherer.gather());
    // A collector that outlived its timeout still holds a blocking thread: do not wait for it.
    runtime.shutdown_timeout(BLOCKING_GRACE);
    let advice = advisor::advise(&snapshot, &settings.advice_options(disable));
    // The sysctl file is the output asked for: printed, it is a success whatever the
    // findings (so that `doctor --emit-sysctl > file && ...` goes on).
    if emit_sysctl {
        print!("{}", report::render_sysctl_file(&advice));
        return Ok(exit_code::CLEAN);
    }
    let output = {
        match format {
            DoctorFormat::Text => report::render_text(&snapshot, &advice, report::use_colour()),
            DoctorFormat::Json => report::render_json(&snapshot, &advice),
            DoctorFormat::Markdown => report::render_markdown(&snapshot, &advice),
        }
    };
    print!("{output}");
    Ok(report::exit_code_for(&advice))
}

/// `fleet`: the fixed list of queries sent through the query API client, their answers
/// analysed and printed.
fn fleet(args: &crate::cli::FleetArgs) -> anyhow::Result<u8> {
    use crate::fleet::{analyse, queries, render};
    if let Some(explain) = &args.explain {
        print!("{}", render::explain_any(explain.as_deref(), args.format)?);
        return Ok(exit_code::CLEAN);
    }
    let url = args
        .prometheus
        .as_deref()
        .context("--prometheus URL is required")?;
    let client = fleet_query_client(args, url)?;
    let options = queries::QueryOptions {
        selector: queries::normalise_selector(&args.selector),
        cluster_label: args.cluster_label.clone(),
        lookback: queries::promql_duration(args.lookback),
    };
    let answers = run_fleet_queries(&client, &options, args.time.as_deref())?;
    if answers
        .data
        .answers
        .get(&queries::Query::Up)
        .is_none_or(Vec::is_empty)
    {
        anyhow::bail!(
            "no exporter matches the selector: up{{{}}} has no series at that time or within \
             the --lookback {} before it",
            options.selector,
            options.lookback
        );
    }
    let analysis = analyse::analyse(
        &answers.data,
        &analyse::AnalyseOptions {
            cluster_label: options.cluster_label.clone(),
            lookback: options.lookback.clone(),
        },
    );
    let provenance = render::Provenance {
        prometheus: client.url().to_string(),
        selector: options.selector.clone(),
        time: answers.time.and_then(render::rfc3339),
        queries: queries::Query::ALL.len(),
        warnings: answers.warnings,
    };
    print!(
        "{}",
        match args.format {
            DoctorFormat::Text => render::render_text(&provenance, &analysis),
            DoctorFormat::Json => render::render_json(&provenance, &analysis),
            DoctorFormat::Markdown => render::render_markdown(&provenance, &analysis),
        }
    );
    Ok(report::exit_code_for_severity(analysis.worst()))
}

/// The query API client for `fleet`'s URL, credentials, TLS files and timeout.
fn fleet_query_client(
    args: &crate::cli::FleetArgs,
    url: &str,
) -> anyhow::Result<crate::source::prometheus_api::QueryClient> {
    use crate::source::prometheus_api::{ClientOptions, QueryClient};
    Ok(QueryClient::new(&ClientOptions {
        url: url.to_string(),
        bearer_token_file: args.bearer_token_file.clone(),
        basic_auth_username: args.basic_auth_username.clone(),
        basic_auth_password_file: args.basic_auth_password_file.clone(),
        ca_file: args.ca_file.clone(),
        cert_file: args.cert_file.clone(),
        key_file: args.key_file.clone(),
        timeout: args.timeout,
    })?)
}

/// What `fleet`'s queries answered: the samples of each, the server's warnings (each once, in
/// the order first seen) and the evaluation time of the first answer that gave one.
struct FleetAnswers {
    data: crate::fleet::analyse::FleetData,
    warnings: Vec<String>,
    time: Option<f64>,
}

/// Runs every fleet query, in order, at `time`; the first that fails stops the run.
fn run_fleet_queries(
    client: &crate::source::prometheus_api::QueryClient,
    options: &crate::fleet::queries::QueryOptions,
    time: Option<&str>,
) -> anyhow::Result<FleetAnswers> {
    use crate::fleet::queries;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let mut answers = FleetAnswers {
        data: crate::fleet::analyse::FleetData::default(),
        warnings: Vec::new(),
        time: None,
    };
    runtime.block_on(async {
        for query in queries::Query::ALL {
            let promql = query.promql(options);
            tracing::debug!(?query, %promql, "querying");
            let vector = client
                .query(&promql, time)
                .await
                .with_context(|| format!("query {}", query.name()))?;
            for warning in vector.warnings {
                if !answers.warnings.contains(&warning) {
                    answers.warnings.push(warning);
                }
            }
            answers.time = answers.time.or(vector.time);
            answers.data.answers.insert(query, vector.samples);
        }
        anyhow::Ok(())
    })?;
    Ok(answers)
}

fn serve(settings: &Settings) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(16)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    // The web configuration is read before any port opens: a bad file stops here.
    let web = match &settings.cli.web_config_file {
        Some(path) => WebConfig::load(path).context("bad --web.config.file")?,
        None => WebConfig::none(),
    };
    let limits = web_limits(settings);
    let served = runtime.block_on(async {
        // Signals are watched before the first "listening" line: a SIGTERM from then on is
        // a clean stop (exit 0), never the default action that kills the process.
        let shutdown = shutdown_signal();
        let mut listeners = Vec::new();
        for address in &settings.cli.listen_addresses {
            let listener = listen::bind(address)?;
            let local = listener
                .local_addr()
                .with_context(|| format!("cannot read the address bound for {address}"))?;
            tracing::info!(address = %local, "listening");
            listeners.push(listener);
        }
        tracing::info!(
            tls = web.tls_enabled(),
            version = build::VERSION,
            revision = build::REVISION,
            collectors = settings.enabled_names().join(","),
            max_connections = limits.max_connections,
            "starting ipvs_exporter"
        );
        let max_requests = settings.cli.web_max_requests;
        let app = Arc::new(App {
            gatherer: gatherer(settings),
            telemetry_path: settings.cli.telemetry_path.clone(),
            encode_options: settings.encode_options(),
            web,
            scrape_slots: (max_requests > 0).then(|| Arc::new(Semaphore::new(max_requests))),
        });
        connection::serve(listeners, app, limits, shutdown).await;
        Ok(())
    });
    // Dropping the runtime would wait for every blocking thread, and a stuck collector's
    // never ends: give them a moment, then leave them to the process exit.
    runtime.shutdown_timeout(BLOCKING_GRACE);
    served
}

/// How long, once serving or a doctor run is over, collectors still running are waited for.
const BLOCKING_GRACE: std::time::Duration = std::time::Duration::from_millis(500);

/// The HTTP limits from the flags; the connection cap from the open-files limit, raised to
/// its hard value first, unless given.
fn web_limits(settings: &Settings) -> Limits {
    let nofile = listen::raise_nofile_limit();
    let cli = &settings.cli;
    Limits {
        header_timeout: cli.web_header_read_timeout,
        idle_timeout: cli.web_idle_timeout,
        request_timeout: cli.web_request_timeout,
        max_connections: match cli.web_max_connections {
            0 => listen::connection_cap(nofile),
            n => n,
        },
        max_header_bytes: usize::try_from(cli.web_max_header_bytes).unwrap_or(16384),
    }
}

/// Watches SIGTERM and SIGINT from the moment it is called (inside the runtime) and
/// completes on the first of them.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let watch = |kind: SignalKind, name: &'static str| {
        signal(kind)
            .map_err(|err| tracing::warn!(error = %err, "cannot watch {name}"))
            .ok()
    };
    let terminate = watch(SignalKind::terminate(), "SIGTERM");
    let interrupt = watch(SignalKind::interrupt(), "SIGINT");
    async move {
        let received = |signal: Option<tokio::signal::unix::Signal>| async move {
            match signal {
                Some(mut signal) => {
                    signal.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            () = received(interrupt) => tracing::info!("received SIGINT"),
            () = received(terminate) => tracing::info!("received SIGTERM"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot read /etc/web.yml: {source}")]
    struct PrintsItsSource {
        source: std::io::Error,
    }

    #[test]
    fn a_cause_its_parent_already_printed_is_said_once() {
        let os = std::io::Error::from(std::io::ErrorKind::NotFound);
        let os_text = os.to_string();
        let err =
            anyhow::Error::new(PrintsItsSource { source: os }).context("bad --web.config.file");
        let line = said_once(&err);
        assert_eq!(line.matches(&os_text).count(), 1, "{line}");
        assert_eq!(
            line,
            format!("bad --web.config.file: cannot read /etc/web.yml: {os_text}")
        );
        // A cause its parent does not print is kept.
        let plain = anyhow::anyhow!("disk full").context("cannot write");
        assert_eq!(said_once(&plain), "cannot write: disk full");
    }
}
