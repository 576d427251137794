//! Runs the subcommands: `serve` (the default) and `doctor`. Turns errors into exit codes.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;

use anyhow::{Context, bail};
use tokio::net::TcpListener;

use crate::cli::{CaptureSubject, Command, DoctorFormat, Settings};
use crate::http::{self, App};
use crate::report::{self, exit_code};
use crate::snapshot::Gatherer;
use crate::source::build_collectors;
use crate::{advisor, build};

/// Runs what the flags ask for and returns the process exit code.
pub fn run(settings: Settings) -> u8 {
    match settings.cli.command {
        Some(Command::Doctor {
            format,
            ref explain,
            emit_sysctl,
            ref disable,
        }) => match doctor(&settings, format, explain.as_deref(), emit_sysctl, disable) {
            Ok(code) => code,
            Err(err) => {
                eprintln!("ipvs_exporter doctor: {err:#}");
                exit_code::COULD_NOT_RUN
            }
        },
        Some(Command::CaptureNetlink { subject }) => match capture(subject) {
            Ok(text) => {
                print!("{text}");
                0
            }
            Err(err) => {
                eprintln!("ipvs_exporter capture-netlink: {err}");
                1
            }
        },
        None => match serve(&settings) {
            Ok(()) => 0,
            Err(err) => {
                tracing::error!("{err:#}");
                1
            }
        },
    }
}

fn capture(subject: CaptureSubject) -> Result<String, crate::source::netlink::TransportError> {
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
    explain: Option<&str>,
    emit_sysctl: bool,
    disable: &[String],
) -> anyhow::Result<u8> {
    if let Some(id) = explain {
        let rule = advisor::rules::find(id).with_context(|| {
            let ids: Vec<&str> = advisor::rules::RULES.iter().map(|r| r.id).collect();
            format!("no rule {id:?}; the rules are: {}", ids.join(", "))
        })?;
        print!("{}", report::explain(rule));
        return Ok(exit_code::CLEAN);
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
    let output = if emit_sysctl {
        report::render_sysctl_file(&advice)
    } else {
        match format {
            DoctorFormat::Text => report::render_text(&snapshot, &advice, report::use_colour()),
            DoctorFormat::Json => report::render_json(&snapshot, &advice),
            DoctorFormat::Markdown => report::render_markdown(&snapshot, &advice),
        }
    };
    print!("{output}");
    Ok(report::exit_code_for(&advice))
}

fn serve(settings: &Settings) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(16)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let served = runtime.block_on(async {
        let mut listeners = Vec::new();
        for address in &settings.cli.listen_addresses {
            let listener = bind(address).await?;
            let local = listener
                .local_addr()
                .with_context(|| format!("cannot read the address bound for {address}"))?;
            tracing::info!(address = %local, "listening");
            listeners.push(listener);
        }
        tracing::info!(
            version = build::VERSION,
            revision = build::REVISION,
            collectors = settings.enabled_collectors.join(","),
            "starting ipvs_exporter"
        );
        let app = Arc::new(App {
            gatherer: gatherer(settings),
            telemetry_path: settings.cli.telemetry_path.clone(),
            encode_options: settings.encode_options(),
        });
        http::serve(listeners, app, shutdown_signal()).await;
        Ok(())
    });
    // Dropping the runtime would wait for every blocking thread, and a stuck collector's
    // never ends: give them a moment, then leave them to the process exit.
    runtime.shutdown_timeout(BLOCKING_GRACE);
    served
}

/// How long, once serving or a doctor run is over, collectors still running are waited for.
const BLOCKING_GRACE: std::time::Duration = std::time::Duration::from_millis(500);

/// Binds `host:port`; `:port` means every address (IPv6 and IPv4 where the host allows).
async fn bind(address: &str) -> anyhow::Result<TcpListener> {
    if let Some(port) = address.strip_prefix(':') {
        let port: u16 = port
            .parse()
            .with_context(|| format!("bad port in listen address {address:?}"))?;
        let any6 = SocketAddr::from((Ipv6Addr::UNSPECIFIED, port));
        return match TcpListener::bind(any6).await {
            Ok(listener) => Ok(listener),
            Err(v6_error) => {
                let any4 = SocketAddr::from((Ipv4Addr::UNSPECIFIED, port));
                TcpListener::bind(any4)
                    .await
                    .with_context(|| format!("cannot listen on {address} (IPv6: {v6_error})"))
            }
        };
    }
    let candidates: Vec<SocketAddr> = address
        .to_socket_addrs()
        .with_context(|| format!("bad listen address {address:?} (expected host:port)"))?
        .collect();
    let mut last_error = None;
    for candidate in candidates {
        match TcpListener::bind(candidate).await {
            Ok(listener) => return Ok(listener),
            Err(err) => last_error = Some((candidate, err)),
        }
    }
    match last_error {
        Some((candidate, err)) => Err(err).with_context(|| format!("cannot listen on {candidate}")),
        None => bail!("listen address {address:?} resolves to nothing"),
    }
}

async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot watch SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("received SIGINT"),
        () = terminate => tracing::info!("received SIGTERM"),
    }
}
