//! Command-line flags, in node_exporter's style (`--web.listen-address`, `--path.procfs`,
//! `--collector.<name>` / `--no-collector.<name>`). Parsing and validation only: every bad
//! value is an error here, before any port is opened.

use std::path::PathBuf;
use std::time::Duration;

use clap::{
    Arg, ArgAction, ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum,
};

use crate::advisor::{AdviceOptions, Role};
use crate::metrics::{BACKEND_LABEL_NAMES, BackendLabels, EncodeOptions};
pub use crate::parse::duration::{LONGEST_DURATION, parse_duration_flag};
use crate::report::DoctorFormat;
use crate::source::conntrack::ConntrackFlags;
use crate::source::interfaces::SharedInterfaces;
use crate::source::ipvs::IpvsFlags;
use crate::source::keepalived::KeepalivedFlags;
use crate::source::netdev::NetdevFlags;
use crate::source::{COLLECTORS, CollectorOptions, CollectorSpec, Paths};

/// Prometheus exporter and tuning advisor for Linux IPVS (LVS) load balancers.
#[derive(Debug, Parser)]
#[command(name = "ipvs_exporter", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Address to listen on for HTTP (host:port; ":9748" means every address). Repeatable.
    #[arg(
        long = "web.listen-address",
        value_name = "ADDRESS",
        default_value = ":9748"
    )]
    pub listen_addresses: Vec<String>,

    /// Path under which metrics are served.
    #[arg(long = "web.telemetry-path", value_name = "PATH", default_value = "/metrics", value_parser = parse_telemetry_path)]
    pub telemetry_path: String,

    /// Web configuration file (the Prometheus exporter-toolkit format): TLS, basic auth,
    /// response headers. Re-read when it or the files it names change.
    #[arg(long = "web.config.file", value_name = "FILE")]
    pub web_config_file: Option<PathBuf>,

    /// Scrapes (of metrics or the report) served at once; more get 503. 0 for no limit.
    #[arg(long = "web.max-requests", value_name = "N", default_value_t = 40)]
    pub web_max_requests: usize,

    /// Open connections at most; beyond it the connection that has waited longest without a
    /// request in progress is closed. 0 sizes it from the open-files limit (at most 1024).
    #[arg(long = "web.max-connections", value_name = "N", default_value_t = 0)]
    pub web_max_connections: usize,

    /// Time a client gets to send a request's headers (and to finish the TLS handshake),
    /// from its connection or the request's first byte.
    #[arg(long = "web.header-read-timeout", value_name = "DURATION", default_value = "10s", value_parser = parse_duration_flag)]
    pub web_header_read_timeout: Duration,

    /// Time a request gets from its headers to the end of its response.
    #[arg(long = "web.request-timeout", value_name = "DURATION", default_value = "60s", value_parser = parse_duration_flag)]
    pub web_request_timeout: Duration,

    /// Time a kept-alive connection may wait for its next request.
    #[arg(long = "web.idle-timeout", value_name = "DURATION", default_value = "120s", value_parser = parse_duration_flag)]
    pub web_idle_timeout: Duration,

    /// Largest request head (request line and headers) accepted; larger gets 431.
    #[arg(long = "web.max-header-bytes", value_name = "BYTES", default_value_t = 16384, value_parser = clap::value_parser!(u32).range(1024..=1_048_576))]
    pub web_max_header_bytes: u32,

    /// procfs mount point.
    #[arg(
        long = "path.procfs",
        value_name = "DIR",
        default_value = "/proc",
        global = true
    )]
    pub procfs: PathBuf,

    /// sysfs mount point.
    #[arg(
        long = "path.sysfs",
        value_name = "DIR",
        default_value = "/sys",
        global = true
    )]
    pub sysfs: PathBuf,

    /// Root of the host's filesystem (for configuration files).
    #[arg(
        long = "path.rootfs",
        value_name = "DIR",
        default_value = "/",
        global = true
    )]
    pub rootfs: PathBuf,

    /// How long one collector may take in a scrape before it is reported as timed out.
    #[arg(long = "scrape.collector-timeout", value_name = "DURATION", default_value = "5s", value_parser = parse_duration_flag, global = true)]
    pub collector_timeout: Duration,

    #[command(flatten)]
    pub ipvs: IpvsFlags,

    /// Labels to keep on real-server series, comma separated; series that differ only in
    /// dropped labels are summed (and ipvs_backend_info is left out).
    #[arg(
        long = "collector.ipvs.backend-labels",
        value_name = "LABELS",
        default_value = "proto,local_address,local_port,local_mark,remote_address,remote_port",
        value_parser = parse_backend_labels,
        global = true
    )]
    pub ipvs_backend_labels: BackendLabels,

    /// Export no per-real-server series at all (for hosts with tens of thousands of them).
    #[arg(long = "no-collector.ipvs.backends", global = true)]
    pub no_ipvs_backends: bool,

    /// Also export the kernel's rate estimates per real server: five more series each, which
    /// Prometheus computes itself from the counters with rate(). Per service and for the host
    /// they are always exported.
    #[arg(long = "collector.ipvs.estimates", global = true)]
    pub ipvs_backend_estimates: bool,

    #[command(flatten)]
    pub conntrack: ConntrackFlags,

    #[command(flatten)]
    pub netdev: NetdevFlags,

    #[command(flatten)]
    pub keepalived: KeepalivedFlags,

    /// The host's roles, instead of inferring them from the kernel (comma separated:
    /// nat-director, dr-director, tun-director, director, dr-real-server, tun-real-server).
    #[arg(long = "role", value_name = "ROLE,...", value_delimiter = ',', value_parser = parse_role, global = true)]
    pub roles: Vec<Role>,

    /// Advisor rules to skip, in doctor, /report and the advisor metrics (comma separated).
    #[arg(long = "advisor.disable", value_name = "RULE,...", value_delimiter = ',', value_parser = parse_rule_id, global = true)]
    pub advisor_disable: Vec<String>,

    /// Only log messages with this level or above.
    #[arg(long = "log.level", value_enum, default_value_t = LogLevel::Info, global = true)]
    pub log_level: LogLevel,

    /// Log line format.
    #[arg(long = "log.format", value_enum, default_value_t = LogFormat::Logfmt, global = true)]
    pub log_format: LogFormat,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the raw netlink exchanges of one IPVS read, or of one read of the conntrack
    /// statistics, as annotated hex (for test fixtures and bug reports). Needs CAP_NET_ADMIN.
    #[command(hide = true, name = "capture-netlink")]
    CaptureNetlink {
        /// What to read.
        #[arg(value_enum, default_value_t = CaptureSubject::Ipvs)]
        subject: CaptureSubject,
    },
    /// Write the man page (ipvs_exporter.1) and the bash, zsh and fish completions into DIR,
    /// from these very definitions (packaging/build.sh runs it for the .deb).
    #[command(hide = true, name = "__generate-docs")]
    GenerateDocs {
        /// The directory to write into (made if missing).
        dir: PathBuf,
    },
    /// Print what the host looks like and what is wrong with its setup; exit 0 when nothing
    /// is wrong, 1 with warnings, 2 with a critical finding, 3 when it could not run.
    Doctor {
        /// Output format.
        #[arg(long, value_enum, default_value_t = DoctorFormat::Text)]
        format: DoctorFormat,
        /// Print a rule's full text (what it checks, why, how to fix) and exit; without
        /// RULE, list the rules. Text, or JSON with --format json.
        #[arg(long, value_name = "RULE", num_args = 0..=1)]
        explain: Option<Option<String>>,
        /// Print a sysctl.d file that fixes the sysctl findings, instead of the report (exit
        /// 0 once printed, whatever the findings).
        #[arg(long)]
        emit_sysctl: bool,
        /// Skip these rules (comma separated ids).
        #[arg(long, value_name = "RULE,...", value_delimiter = ',')]
        disable: Vec<String>,
    },
    /// Look across the hosts a Prometheus scrapes, through its query API (Prometheus, Thanos,
    /// Mimir, VictoriaMetrics): VRRP groups (split brain, no MASTER), directors of a pair
    /// that differ, connection sync behind, every host's advisor findings by rule. Reads only;
    /// exit codes as doctor's (docs/fleet.md).
    Fleet(Box<FleetArgs>),
    /// Wait until a real server of weight 0 has no active connections left (with
    /// --templates, no persistence templates either) in every service that has it; exit 0
    /// drained, 1 timed out, 2 not at weight 0 or not found, 3 could not run. Reads only:
    /// it never changes a weight. Reads the network namespace --collector.ipvs.netns names,
    /// if given (once).
    WaitDrained {
        /// The real server: ADDRESS:PORT, or [IPv6]:PORT.
        #[arg(long = "real-server", value_name = "ADDR:PORT", value_parser = crate::wait_drained::parse_real_server)]
        real_server: std::net::SocketAddr,
        /// Only this service: tcp|udp|sctp:VIP:PORT (IPv6 as [VIP]:PORT).
        #[arg(long, value_name = "PROTO:VIP:PORT", value_parser = crate::wait_drained::parse_service, conflicts_with = "fwmark")]
        service: Option<crate::wait_drained::ServiceSelector>,
        /// Only the services of this firewall mark.
        #[arg(long, value_name = "N")]
        fwmark: Option<u32>,
        /// Wait for the persistence templates to expire too (needs netlink).
        #[arg(long)]
        templates: bool,
        /// Give up after this long (such as 90s, 5m, 1h).
        #[arg(long, value_name = "DURATION", value_parser = parse_duration_flag)]
        timeout: Duration,
        /// Time between two reads of the table.
        #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration_flag)]
        interval: Duration,
    },
}

/// `ipvs_exporter fleet`'s flags.
#[derive(Debug, clap::Args)]
pub struct FleetArgs {
    /// The query API's base URL, such as http://prometheus:9090 (the part before /api/v1).
    #[arg(long, value_name = "URL", required_unless_present = "explain")]
    pub prometheus: Option<String>,
    /// Label matchers that select the exporters' series (the alert rules' job selector).
    #[arg(long, value_name = "MATCHERS", default_value = "job=\"ipvs_exporter\"")]
    pub selector: String,
    /// Evaluate at this time (RFC 3339, or unix seconds) instead of the server's now.
    #[arg(long, value_name = "TIME", value_parser = parse_query_time)]
    pub time: Option<String>,
    /// The label that names a cluster; directors in no VRRP group are compared with the
    /// others of their cluster, and VRRP groups are told apart by it.
    #[arg(long, value_name = "LABEL", default_value = "cluster")]
    pub cluster_label: String,
    /// How far back a host that stopped reporting is still known (stale, not forgotten).
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_duration_flag)]
    pub lookback: Duration,
    /// Output format.
    #[arg(long, value_enum, default_value_t = DoctorFormat::Text)]
    pub format: DoctorFormat,
    /// Print a rule's full text and exit; without RULE, list the rules.
    #[arg(long, value_name = "RULE", num_args = 0..=1)]
    pub explain: Option<Option<String>>,
    /// Send the token in this file as `Authorization: Bearer`.
    #[arg(long, value_name = "FILE", conflicts_with = "basic_auth_username")]
    pub bearer_token_file: Option<PathBuf>,
    /// Basic auth user name.
    #[arg(long, value_name = "NAME")]
    pub basic_auth_username: Option<String>,
    /// Basic auth password, read from this file.
    #[arg(long, value_name = "FILE", requires = "basic_auth_username")]
    pub basic_auth_password_file: Option<PathBuf>,
    /// CA certificates (PEM) for an https URL; default the system's bundle.
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// Client certificate (PEM) for an https URL.
    #[arg(long, value_name = "FILE", requires = "key_file")]
    pub cert_file: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(long, value_name = "FILE", requires = "cert_file")]
    pub key_file: Option<PathBuf>,
    /// How long one query may take, connection to last byte.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration_flag)]
    pub timeout: Duration,
}

/// `--time`: unix seconds, or RFC 3339 (as the query API takes them).
fn parse_query_time(text: &str) -> Result<String, String> {
    let text = text.trim();
    if text.parse::<f64>().is_ok_and(f64::is_finite) {
        return Ok(text.to_string());
    }
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map(|_| text.to_string())
        .map_err(|e| format!("neither unix seconds nor RFC 3339 (2026-12-05T18:00:00Z): {e}"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CaptureSubject {
    /// The IPVS table over generic netlink.
    Ipvs,
    /// The per-CPU conntrack statistics over ctnetlink.
    Conntrack,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Logfmt,
    Json,
}

/// Parsed flags plus the collectors they enable.
#[derive(Debug)]
pub struct Settings {
    pub cli: Cli,
    /// In [`COLLECTORS`]' order.
    pub enabled_collectors: Vec<&'static CollectorSpec>,
}

impl Settings {
    /// The enabled collectors' names.
    pub fn enabled_names(&self) -> Vec<&'static str> {
        self.enabled_collectors
            .iter()
            .map(|spec| spec.name)
            .collect()
    }

    pub fn collector_options(&self) -> CollectorOptions {
        CollectorOptions {
            ipvs_source: self.cli.ipvs.source,
            ipvs_namespaces: self.cli.ipvs.netns.clone(),
            ipvs_departed_totals: !self.cli.no_ipvs_backends
                && !self.cli.ipvs_backend_labels.keeps_all(),
            conntrack_source: self.cli.conntrack.source,
            netdev_devices: self.cli.netdev.filter(),
            keepalived: self.cli.keepalived.options(),
            interfaces: SharedInterfaces::default(),
        }
    }

    pub fn encode_options(&self) -> EncodeOptions {
        EncodeOptions {
            backend_labels: self.cli.ipvs_backend_labels,
            backends: !self.cli.no_ipvs_backends,
            backend_estimates: self.cli.ipvs_backend_estimates,
            advice: self.advice_options(&[]),
        }
    }

    /// The advisor's options, with `extra_disabled` rules skipped too.
    pub fn advice_options(&self, extra_disabled: &[String]) -> AdviceOptions {
        AdviceOptions {
            disabled: self
                .cli
                .advisor_disable
                .iter()
                .chain(extra_disabled)
                .cloned()
                .collect(),
            forced_roles: (!self.cli.roles.is_empty()).then(|| self.cli.roles.clone()),
        }
    }

    pub fn paths(&self) -> Paths {
        Paths {
            procfs: self.cli.procfs.clone(),
            sysfs: self.cli.sysfs.clone(),
            rootfs: self.cli.rootfs.clone(),
        }
    }
}

/// The flag that turns off every collector that is on by default (node_exporter's name).
pub const DISABLE_DEFAULTS: &str = "collector.disable-defaults";

/// The clap command with one `--collector.<name>` and `--no-collector.<name>` per collector,
/// and `--collector.disable-defaults`.
pub fn command() -> clap::Command {
    let mut command = Cli::command().arg(
        Arg::new(DISABLE_DEFAULTS)
            .long(DISABLE_DEFAULTS)
            .action(ArgAction::SetTrue)
            .global(true)
            .help(
                "Turn off every collector that is on by default: only those named with \
                 --collector.<name> run",
            ),
    );
    for spec in COLLECTORS {
        let on = format!("collector.{}", spec.name);
        let off = format!("no-collector.{}", spec.name);
        let default = if spec.enabled_by_default { "on" } else { "off" };
        command = command
            .arg(
                Arg::new(on.clone())
                    .long(on.clone())
                    .action(ArgAction::SetTrue)
                    .global(true)
                    .help(format!(
                        "Enable the {} collector: {} (default {default})",
                        spec.name, spec.help
                    )),
            )
            .arg(
                Arg::new(off.clone())
                    .long(off)
                    .action(ArgAction::SetTrue)
                    .global(true)
                    .conflicts_with(on)
                    .help(format!("Disable the {} collector", spec.name)),
            );
    }
    command
}

/// Parses the process's arguments.
pub fn parse_from<I, T>(args: I) -> Result<Settings, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let matches = command().try_get_matches_from(args)?;
    let cli = Cli::from_arg_matches(&matches)?;
    let defaults_off = flag_anywhere(&matches, DISABLE_DEFAULTS);
    let enabled_collectors = COLLECTORS
        .iter()
        .filter(|spec| {
            let on = flag_anywhere(&matches, &format!("collector.{}", spec.name));
            let off = flag_anywhere(&matches, &format!("no-collector.{}", spec.name));
            if on {
                true
            } else if off {
                false
            } else {
                spec.enabled_by_default && !defaults_off
            }
        })
        .collect();
    Ok(Settings {
        cli,
        enabled_collectors,
    })
}

/// A global flag given before or after the subcommand.
fn flag_anywhere(matches: &ArgMatches, id: &str) -> bool {
    if matches.get_flag(id) {
        return true;
    }
    matches
        .subcommand()
        .is_some_and(|(_, sub)| sub.try_get_one::<bool>(id).ok().flatten() == Some(&true))
}

fn parse_telemetry_path(text: &str) -> Result<String, String> {
    if !text.starts_with('/') {
        return Err("must start with '/'".to_string());
    }
    if let Some(bad) = text
        .chars()
        .find(|c| matches!(c, '?' | '#') || c.is_whitespace())
    {
        return Err(format!(
            "{bad:?} cannot be part of a request's path (no request would reach it)"
        ));
    }
    let segments: Vec<&str> = text.split('/').filter(|s| !s.is_empty()).collect();
    if segments.iter().any(|s| matches!(*s, "." | "..")) {
        return Err("'.' and '..' are not allowed in it".to_string());
    }
    // Compared without empty segments, so that "/report/" or "//" cannot shadow an endpoint.
    let normal = format!("/{}", segments.join("/"));
    if let Some(route) = crate::web::routes::FIXED_ROUTES
        .iter()
        .find(|r| r.path == normal)
    {
        return Err(format!(
            "{text} is served by another endpoint ({}); choose another path",
            route.what
        ));
    }
    Ok(text.to_string())
}

fn parse_role(text: &str) -> Result<Role, String> {
    Role::from_id(text).ok_or_else(|| {
        let known: Vec<&str> = Role::ALL.iter().map(|r| r.id()).collect();
        format!("unknown role {text:?} (known: {})", known.join(", "))
    })
}

fn parse_rule_id(text: &str) -> Result<String, String> {
    crate::advisor::rules::find(text)
        .map(|rule| rule.id.to_string())
        .ok_or_else(|| format!("no rule {text:?} (ipvs_exporter doctor --explain lists them)"))
}

fn parse_backend_labels(text: &str) -> Result<BackendLabels, String> {
    let mut labels = BackendLabels::none();
    for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        if !labels.keep(name) {
            return Err(format!(
                "unknown label {name:?} (known: {})",
                BACKEND_LABEL_NAMES.join(",")
            ));
        }
    }
    Ok(labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_flags_read_prometheus_durations_within_a_week() {
        assert_eq!(parse_duration_flag("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration_flag("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration_flag("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration_flag("1w"), Ok(LONGEST_DURATION));
        for bad in ["5", "0", "0s", "1w1ms", "8d", "1.5s", "30m1h", "s", ""] {
            assert!(parse_duration_flag(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn collectors_are_on_by_default_and_can_be_turned_off_anywhere() {
        let enabled = |args: &[&str]| {
            parse_from(std::iter::once("ipvs_exporter").chain(args.iter().copied()))
                .map(|s| s.enabled_names())
                .ok()
        };
        let defaults: Vec<&str> = COLLECTORS
            .iter()
            .filter(|spec| spec.enabled_by_default)
            .map(|spec| spec.name)
            .collect();
        assert!(defaults.starts_with(&["ipvs", "conntrack", "softnet"]));
        assert_eq!(enabled(&[]), Some(defaults.clone()));
        let without =
            |name: &str| -> Vec<&str> { defaults.iter().copied().filter(|n| *n != name).collect() };
        assert_eq!(enabled(&["--no-collector.ipvs"]), Some(without("ipvs")));
        assert_eq!(
            enabled(&["doctor", "--no-collector.softnet"]),
            Some(without("softnet"))
        );
        // Every collector answers to its flags, in registry order whatever the flags' order.
        for spec in COLLECTORS {
            let off = format!("--no-collector.{}", spec.name);
            let on = format!("--collector.{}", spec.name);
            let names = enabled(&[&off]).unwrap_or_default();
            assert!(!names.contains(&spec.name), "{off}");
            let names = enabled(&[&on]).unwrap_or_default();
            assert!(names.contains(&spec.name), "{on}");
            let registry_order: Vec<&str> = COLLECTORS
                .iter()
                .map(|s| s.name)
                .filter(|n| names.contains(n))
                .collect();
            assert_eq!(names, registry_order);
        }
    }

    #[test]
    fn departed_totals_are_kept_only_for_series_summed_over_dropped_labels() {
        let kept = |args: &[&str]| {
            parse_from(std::iter::once("ipvs_exporter").chain(args.iter().copied()))
                .map(|s| s.collector_options().ipvs_departed_totals)
                .ok()
        };
        assert_eq!(
            kept(&[]),
            Some(false),
            "every label kept: nothing is summed"
        );
        assert_eq!(
            kept(&["--collector.ipvs.backend-labels=proto,local_address,local_port"]),
            Some(true)
        );
        assert_eq!(
            kept(&[
                "--collector.ipvs.backend-labels=proto",
                "--no-collector.ipvs.backends"
            ]),
            Some(false),
            "no real-server series at all"
        );
    }

    #[test]
    fn every_duration_flag_reads_1h30m() {
        let mut command = command();
        command.build();
        let is_duration =
            |arg: &&Arg| arg.get_value_parser().type_id() == std::any::TypeId::of::<Duration>();
        let top: Vec<String> = command
            .get_arguments()
            .filter(is_duration)
            .filter_map(|arg| arg.get_long().map(str::to_string))
            .collect();
        let waits: Vec<String> = command
            .find_subcommand("wait-drained")
            .into_iter()
            .flat_map(|sub| sub.get_arguments())
            .filter(is_duration)
            .filter_map(|arg| arg.get_long().map(str::to_string))
            .filter(|long| !top.contains(long))
            .collect();
        assert!(top.len() >= 5 && waits.len() == 2, "{top:?} {waits:?}");
        let expected = Duration::from_secs(5400);
        for long in &top {
            let matches = command
                .clone()
                .try_get_matches_from(["ipvs_exporter", &format!("--{long}"), "1h30m"])
                .unwrap_or_else(|e| panic!("--{long}: {e}"));
            let id = command
                .get_arguments()
                .find(|a| a.get_long() == Some(long))
                .map(|a| a.get_id().clone())
                .expect("the flag");
            assert_eq!(
                matches.get_one::<Duration>(id.as_str()),
                Some(&expected),
                "--{long}"
            );
        }
        let settings = parse_from([
            "ipvs_exporter",
            "wait-drained",
            "--real-server",
            "10.0.0.2:80",
            "--timeout",
            "1h30m",
            "--interval",
            "1h30m",
        ])
        .expect("wait-drained parses");
        match settings.cli.command {
            Some(Command::WaitDrained {
                timeout, interval, ..
            }) => assert_eq!((timeout, interval), (expected, expected)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn disable_defaults_leaves_only_the_collectors_named() {
        let enabled = |args: &[&str]| {
            parse_from(std::iter::once("ipvs_exporter").chain(args.iter().copied()))
                .map(|s| s.enabled_names())
                .expect("flags parse")
        };
        assert_eq!(
            enabled(&["--collector.disable-defaults"]),
            Vec::<&str>::new()
        );
        assert_eq!(
            enabled(&["--collector.disable-defaults", "--collector.conntrack"]),
            ["conntrack"]
        );
        // Anywhere on the line, like the other collector flags; registry order kept.
        assert_eq!(
            enabled(&[
                "doctor",
                "--collector.keepalived",
                "--collector.ipvs",
                "--collector.disable-defaults",
            ]),
            ["ipvs", "keepalived"]
        );
        // Without it, the defaults stay on beside a collector named.
        let with_ipvs = enabled(&["--collector.ipvs"]);
        assert!(
            with_ipvs.len() > 1 && with_ipvs.contains(&"softnet"),
            "{with_ipvs:?}"
        );
    }

    #[test]
    fn a_telemetry_path_that_another_endpoint_serves_is_refused() {
        for taken in [
            "/",
            "//",
            "/report",
            "/report/",
            "//report",
            "/healthz",
            "/healthz//",
        ] {
            let err = parse_telemetry_path(taken).expect_err(taken);
            assert!(err.contains("served by another endpoint"), "{taken}: {err}");
        }
        for unreachable in ["/m?x=1", "/m#a", "/a b", "/a/../report", "/./metrics"] {
            assert!(parse_telemetry_path(unreachable).is_err(), "{unreachable}");
        }
        for fine in ["/metrics", "/probe/metrics", "/reports", "/healthz2"] {
            assert_eq!(parse_telemetry_path(fine).as_deref(), Ok(fine));
        }
    }

    #[test]
    fn unknown_collectors_and_bad_values_are_rejected() {
        assert!(parse_from(["ipvs_exporter", "--collector.nope"]).is_err());
        assert!(parse_from(["ipvs_exporter", "--web.telemetry-path", "metrics"]).is_err());
        assert!(parse_from(["ipvs_exporter", "--web.telemetry-path", "/metrics/"]).is_ok());
        assert!(parse_from(["ipvs_exporter", "--log.level", "loud"]).is_err());
        assert!(parse_from(["ipvs_exporter", "--collector.ipvs", "--no-collector.ipvs"]).is_err());
    }
}
