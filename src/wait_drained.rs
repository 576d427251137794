//! `ipvs_exporter wait-drained`: waits, for a deploy script, until a real server of weight 0
//! has no active connections left (and, with `--templates`, no persistence templates) in every
//! service that has it. It reads the IPVS table as the ipvs collector does and never changes
//! anything. The decision ([`judge`]) and the waiting loop ([`wait`]) are pure, given a way to
//! read the table and a clock; [`run`] gives them the kernel's table and the real clock.
//!
//! Exit codes: 0 drained; 1 timed out; 2 draining never started: the real server has a weight
//! above 0 in a matching service, or it (or the service asked for) is not in the table, at the
//! start or at any later poll (a real server removed while waiting is reported, not taken as
//! drained: its connections may still be there); 3 could not run (bad arguments, no IPVS,
//! no permission, templates asked for but unknown).

use std::fmt;
use std::io::IsTerminal;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::model::drain::{ActiveSample, MAX_SAMPLES, estimate, whole_duration};
use crate::model::{IpvsTable, Protocol, ServiceKey, SocketText};
use crate::source::ipvs::{IpvsCollector, NetnsTarget, SourceMode};
use crate::source::{CollectedData, Collector};

/// The exit codes of `wait-drained`.
pub mod exit_code {
    /// No active connections (and, if asked, no templates) are left.
    pub const DRAINED: u8 = 0;
    /// The timeout came first.
    pub const TIMED_OUT: u8 = 1;
    /// The real server is not at weight 0 in a matching service, or not found.
    pub const NOT_DRAINING: u8 = 2;
    /// Bad arguments, no IPVS, no permission, or templates asked for and unknown.
    pub const COULD_NOT_RUN: u8 = 3;
}

/// Which services to look at: `--service PROTO:VIP:PORT` or `--fwmark N`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceSelector {
    Address {
        protocol: Protocol,
        address: IpAddr,
        port: u16,
    },
    /// Every service with this mark (an IPv4 and an IPv6 one may share it).
    FirewallMark(u32),
}

impl ServiceSelector {
    pub fn matches(&self, key: &ServiceKey) -> bool {
        match (self, key) {
            (
                ServiceSelector::Address {
                    protocol,
                    address,
                    port,
                },
                ServiceKey::Address {
                    protocol: p,
                    address: a,
                    port: o,
                },
            ) => protocol == p && address == a && port == o,
            (ServiceSelector::FirewallMark(mark), ServiceKey::FirewallMark { mark: m, .. }) => {
                mark == m
            }
            _ => false,
        }
    }
}

impl fmt::Display for ServiceSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceSelector::Address {
                protocol,
                address,
                port,
            } => write!(f, "{protocol} {}", SocketText(address, *port)),
            ServiceSelector::FirewallMark(mark) => write!(f, "FWM {mark}"),
        }
    }
}

/// Reads `tcp:10.0.0.1:80`, `UDP:[2001:db8::1]:53`, `sctp:...`.
pub fn parse_service(text: &str) -> Result<ServiceSelector, String> {
    let (protocol, rest) = text
        .split_once(':')
        .ok_or_else(|| format!("{text:?} is not PROTO:VIP:PORT (such as tcp:10.0.0.1:80)"))?;
    let protocol = match protocol.to_ascii_lowercase().as_str() {
        "tcp" => Protocol::Tcp,
        "udp" => Protocol::Udp,
        "sctp" => Protocol::Sctp,
        other => return Err(format!("unknown protocol {other:?} (tcp, udp or sctp)")),
    };
    let socket = parse_real_server(rest)?;
    Ok(ServiceSelector::Address {
        protocol,
        address: socket.ip(),
        port: socket.port(),
    })
}

/// Reads `10.0.0.2:80` or `[2001:db8::2]:80`.
pub fn parse_real_server(text: &str) -> Result<SocketAddr, String> {
    text.parse::<SocketAddr>().map_err(|_| {
        format!("{text:?} is not ADDRESS:PORT (such as 10.0.0.2:80 or [2001:db8::2]:80)")
    })
}

/// What to wait for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub real_server: SocketAddr,
    /// `None`: every service that has the real server.
    pub service: Option<ServiceSelector>,
    /// Wait for the persistence templates too.
    pub templates: bool,
}

/// What one read of the table says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing left in any of these services.
    Drained { services: Vec<ServiceKey> },
    /// Still there, summed over the matching services.
    Waiting {
        services: Vec<ServiceKey>,
        active: i64,
        /// Counted only with `--templates`.
        templates: Option<i64>,
    },
    /// Weight above 0 in a matching service: draining never started (or was undone).
    NotDraining { service: ServiceKey, weight: i64 },
    /// The service asked for, or the real server, is not in the table.
    NotFound(String),
    /// The table cannot say (no IPVS; templates asked for and not read).
    CannotTell(String),
}

/// Decides from one read of the table (`None`: no IPVS).
pub fn judge(table: Option<&IpvsTable>, target: &Target) -> Verdict {
    let Some(table) = table else {
        return Verdict::CannotTell(
            "no IPVS in this network namespace (ip_vs is not loaded)".to_string(),
        );
    };
    let real = SocketText(&target.real_server.ip(), target.real_server.port()).to_string();
    let selected: Vec<_> = table
        .services
        .iter()
        .filter(|s| {
            target
                .service
                .as_ref()
                .is_none_or(|sel| sel.matches(&s.key))
        })
        .collect();
    if let (Some(selector), true) = (&target.service, selected.is_empty()) {
        return Verdict::NotFound(format!("no service {selector} in the IPVS table"));
    }
    let mut services = Vec::new();
    let mut active: i64 = 0;
    let mut templates: i64 = 0;
    for service in selected {
        let Some(backend) = service
            .backends
            .iter()
            .find(|b| b.address == target.real_server.ip() && b.port == target.real_server.port())
        else {
            continue;
        };
        if backend.weight != 0 {
            return Verdict::NotDraining {
                service: service.key.clone(),
                weight: backend.weight,
            };
        }
        services.push(service.key.clone());
        active = active.saturating_add(backend.active_connections.max(0));
        if target.templates {
            match backend.persistent_connections {
                Some(n) => templates = templates.saturating_add(n.max(0)),
                // A service that is not persistent holds no templates.
                None if !service.flags.persistent => {}
                None => {
                    return Verdict::CannotTell(format!(
                        "persistence templates of {real} in {} are unknown: IPVS was read \
                         from /proc (templates are read over netlink, which needs CAP_NET_ADMIN)",
                        service.key
                    ));
                }
            }
        }
    }
    if services.is_empty() {
        return Verdict::NotFound(match &target.service {
            Some(selector) => format!("real server {real} is not in {selector}"),
            None => format!("real server {real} is in no IPVS service"),
        });
    }
    if active == 0 && templates == 0 {
        Verdict::Drained { services }
    } else {
        Verdict::Waiting {
            services,
            active,
            templates: target.templates.then_some(templates),
        }
    }
}

/// Time as the waiting loop sees it.
pub trait Clock {
    /// Time since some fixed origin.
    fn now(&self) -> Duration;
    fn sleep(&mut self, duration: Duration);
}

/// The machine's monotonic clock.
pub struct RealClock(Instant);

impl RealClock {
    pub fn start() -> Self {
        RealClock(Instant::now())
    }
}

impl Clock for RealClock {
    fn now(&self) -> Duration {
        self.0.elapsed()
    }
    fn sleep(&mut self, duration: Duration) {
        std::thread::sleep(duration);
    }
}

/// How a wait ended: the exit code and its final line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub code: u8,
    pub message: String,
}

/// Settings of one wait.
#[derive(Debug, Clone)]
pub struct WaitOptions {
    pub timeout: Duration,
    pub interval: Duration,
}

fn left_text(active: i64, templates: Option<i64>) -> String {
    match templates {
        Some(t) => format!("{active} active connections, {t} persistence templates"),
        None => format!("{active} active connections"),
    }
}

fn service_count(services: &[ServiceKey]) -> String {
    match services {
        [one] => one.to_string(),
        many => format!("{} services", many.len()),
    }
}

/// Reads the table every `interval` until the real server is drained, the timeout comes, or
/// it cannot be drained; `progress` gets one line per read while waiting.
pub fn wait(
    target: &Target,
    options: &WaitOptions,
    read: &mut dyn FnMut() -> Result<Option<IpvsTable>, String>,
    clock: &mut dyn Clock,
    progress: &mut dyn FnMut(&str),
) -> Outcome {
    let real = SocketText(&target.real_server.ip(), target.real_server.port()).to_string();
    let start = clock.now();
    let mut samples: Vec<ActiveSample> = Vec::new();
    loop {
        let table = match read() {
            Ok(table) => table,
            Err(err) => {
                return Outcome {
                    code: exit_code::COULD_NOT_RUN,
                    message: format!("cannot read IPVS: {err}"),
                };
            }
        };
        let elapsed = clock.now().saturating_sub(start);
        let (code, message) = match judge(table.as_ref(), target) {
            Verdict::Drained { services } => (
                exit_code::DRAINED,
                format!(
                    "{real} is drained in {} after {}",
                    service_count(&services),
                    whole_duration(elapsed.as_secs_f64())
                ),
            ),
            Verdict::NotDraining { service, weight } => (
                exit_code::NOT_DRAINING,
                format!(
                    "{real} has weight {weight} in {service}: it is not draining (set its \
                     weight to 0 first)"
                ),
            ),
            Verdict::NotFound(why) => (exit_code::NOT_DRAINING, why),
            Verdict::CannotTell(why) => (exit_code::COULD_NOT_RUN, why),
            Verdict::Waiting {
                services,
                active,
                templates,
            } => {
                let at_millis = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
                samples.push(ActiveSample { at_millis, active });
                if samples.len() > MAX_SAMPLES {
                    samples.remove(0);
                }
                if elapsed >= options.timeout {
                    (
                        exit_code::TIMED_OUT,
                        format!(
                            "timed out after {}: {real} still has {} in {}",
                            whole_duration(options.timeout.as_secs_f64()),
                            left_text(active, templates),
                            service_count(&services)
                        ),
                    )
                } else {
                    progress(&format!(
                        "{} of {}: {real} has {} in {}; {}",
                        whole_duration(elapsed.as_secs_f64()),
                        whole_duration(options.timeout.as_secs_f64()),
                        left_text(active, templates),
                        service_count(&services),
                        estimate(&samples).describe()
                    ));
                    let remaining = options.timeout.saturating_sub(elapsed);
                    clock.sleep(options.interval.min(remaining));
                    continue;
                }
            }
        };
        return Outcome { code, message };
    }
}

/// Runs `wait-drained` against the kernel: reads IPVS as the ipvs collector does (netlink,
/// else /proc, as `--collector.ipvs.source` says) in the exporter's network namespace, or in
/// the one `--collector.ipvs.netns` names (at most one). Prints progress on stderr when it is a
/// terminal, and the final line on stdout (drained, timed out) or stderr (otherwise).
pub fn run(
    procfs: &std::path::Path,
    rootfs: &std::path::Path,
    source: SourceMode,
    netns: &[String],
    target: &Target,
    options: &WaitOptions,
) -> u8 {
    let namespace = match netns {
        [] => None,
        [one] => Some(NetnsTarget::parse(one, rootfs)),
        _ => {
            eprintln!(
                "ipvs_exporter wait-drained: give --collector.ipvs.netns at most once (the \
                 namespace whose IPVS table to read)"
            );
            return exit_code::COULD_NOT_RUN;
        }
    };
    let collector = IpvsCollector::new(
        procfs.to_path_buf(),
        source,
        namespace.iter().cloned().collect(),
    );
    let mut read = || -> Result<Option<IpvsTable>, String> {
        let collected = collector.collect().map_err(|e| e.to_string())?;
        for problem in &collected.problems {
            tracing::debug!("{problem}");
        }
        let reading = match collected.data {
            CollectedData::Ipvs(reading) => reading,
            _ => return Ok(None),
        };
        match &namespace {
            None => Ok(reading.table),
            Some(target) => reading
                .namespaces
                .into_iter()
                .find(|n| n.netns == target.name)
                .map(|n| n.table)
                .ok_or_else(|| collected.problems.join("; ")),
        }
    };
    let terminal = std::io::stderr().is_terminal();
    let mut progress = |line: &str| {
        if terminal {
            eprintln!("{line}");
        }
    };
    let outcome = wait(
        target,
        options,
        &mut read,
        &mut RealClock::start(),
        &mut progress,
    );
    match outcome.code {
        exit_code::DRAINED | exit_code::TIMED_OUT => println!("{}", outcome.message),
        _ => eprintln!("ipvs_exporter wait-drained: {}", outcome.message),
    }
    outcome.code
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;
    use crate::model::{Backend, ForwardMethod, Service, ServiceFlags};

    const REAL: &str = "10.1.0.1:80";

    fn service(port: u16, weight: i64, active: i64, persistent: Option<i64>) -> Service {
        let key = ServiceKey::Address {
            protocol: Protocol::Tcp,
            address: "10.0.0.1".parse().unwrap(),
            port,
        };
        Service {
            flags: ServiceFlags {
                persistent: persistent.is_some(),
                ..ServiceFlags::default()
            },
            backends: vec![
                Backend {
                    weight,
                    active_connections: active,
                    inactive_connections: 7,
                    persistent_connections: persistent,
                    ..Backend::new([10, 1, 0, 1].into(), 80, ForwardMethod::Masq)
                },
                Backend {
                    weight: 5,
                    active_connections: 50,
                    ..Backend::new([10, 1, 0, 2].into(), 80, ForwardMethod::Masq)
                },
            ],
            ..Service::new(key, "wlc")
        }
    }

    fn table(services: Vec<Service>) -> IpvsTable {
        IpvsTable {
            services,
            ..IpvsTable::default()
        }
    }

    fn target(service: Option<&str>, templates: bool) -> Target {
        Target {
            real_server: REAL.parse().unwrap(),
            service: service.map(|s| parse_service(s).unwrap()),
            templates,
        }
    }

    #[test]
    fn arguments_read_as_documented() {
        assert_eq!(
            parse_service("TCP:[2001:db8::1]:443"),
            Ok(ServiceSelector::Address {
                protocol: Protocol::Tcp,
                address: "2001:db8::1".parse().unwrap(),
                port: 443
            })
        );
        assert!(parse_service("icmp:10.0.0.1:80").is_err());
        assert!(parse_service("tcp:10.0.0.1").is_err());
        assert!(parse_service("10.0.0.1:80").is_err());
        assert!(
            parse_real_server("2001:db8::1:80").is_err(),
            "IPv6 needs brackets"
        );
    }

    #[test]
    fn every_service_that_has_the_real_server_counts() {
        let t = table(vec![service(80, 0, 3, None), service(443, 0, 4, None)]);
        assert_eq!(
            judge(Some(&t), &target(None, false)),
            Verdict::Waiting {
                services: vec![t.services[0].key.clone(), t.services[1].key.clone()],
                active: 7,
                templates: None,
            }
        );
        // Only the service asked for.
        assert!(matches!(
            judge(Some(&t), &target(Some("tcp:10.0.0.1:443"), false)),
            Verdict::Waiting { active: 4, .. }
        ));
        // Weight above 0 in one of them: not draining, whatever the other says.
        let t = table(vec![service(80, 0, 0, None), service(443, 2, 0, None)]);
        assert_eq!(
            judge(Some(&t), &target(None, false)),
            Verdict::NotDraining {
                service: t.services[1].key.clone(),
                weight: 2
            }
        );
        assert!(matches!(
            judge(Some(&t), &target(Some("tcp:10.0.0.1:80"), false)),
            Verdict::Drained { .. }
        ));
    }

    #[test]
    fn missing_services_real_servers_and_tables_are_said_plainly() {
        let t = table(vec![service(80, 0, 0, None)]);
        assert_eq!(
            judge(Some(&t), &target(Some("udp:10.0.0.1:80"), false)),
            Verdict::NotFound("no service UDP 10.0.0.1:80 in the IPVS table".into())
        );
        let other = Target {
            real_server: "10.1.0.9:80".parse().unwrap(),
            ..target(None, false)
        };
        assert_eq!(
            judge(Some(&t), &other),
            Verdict::NotFound("real server 10.1.0.9:80 is in no IPVS service".into())
        );
        assert!(matches!(
            judge(None, &target(None, false)),
            Verdict::CannotTell(_)
        ));
        let marked = Target {
            service: Some(ServiceSelector::FirewallMark(3)),
            ..target(None, false)
        };
        assert!(matches!(judge(Some(&t), &marked), Verdict::NotFound(_)));
    }

    #[test]
    fn templates_count_only_when_asked_and_must_be_known() {
        let t = table(vec![service(80, 0, 0, Some(2))]);
        assert!(matches!(
            judge(Some(&t), &target(None, false)),
            Verdict::Drained { .. }
        ));
        assert!(matches!(
            judge(Some(&t), &target(None, true)),
            Verdict::Waiting {
                active: 0,
                templates: Some(2),
                ..
            }
        ));
        // Read from /proc: a persistent service's templates are unknown...
        let mut t = table(vec![service(80, 0, 0, Some(0))]);
        t.services[0].backends[0].persistent_connections = None;
        assert!(matches!(
            judge(Some(&t), &target(None, true)),
            Verdict::CannotTell(_)
        ));
        // ...and a service that is not persistent holds none.
        t.services[0].flags.persistent = false;
        assert!(matches!(
            judge(Some(&t), &target(None, true)),
            Verdict::Drained { .. }
        ));
    }

    /// A clock that moves only when slept on.
    struct FakeClock(Duration);

    impl Clock for FakeClock {
        fn now(&self) -> Duration {
            self.0
        }
        fn sleep(&mut self, duration: Duration) {
            self.0 += duration;
        }
    }

    /// Runs a wait over a sequence of tables (the last one repeats), one a second.
    fn run_over(
        tables: Vec<Result<Option<IpvsTable>, String>>,
        timeout_seconds: u64,
    ) -> (Outcome, Vec<String>, Duration) {
        let tables = RefCell::new(tables.into_iter().peekable());
        let last = RefCell::new(None);
        let mut read = || {
            let mut tables = tables.borrow_mut();
            match tables.next() {
                Some(t) => {
                    *last.borrow_mut() = Some(t.clone());
                    t
                }
                None => last.borrow().clone().unwrap_or(Ok(None)),
            }
        };
        let mut lines = Vec::new();
        let mut clock = FakeClock(Duration::from_secs(1000));
        let outcome = wait(
            &target(None, false),
            &WaitOptions {
                timeout: Duration::from_secs(timeout_seconds),
                interval: Duration::from_secs(1),
            },
            &mut read,
            &mut clock,
            &mut |line: &str| lines.push(line.to_string()),
        );
        (outcome, lines, clock.0 - Duration::from_secs(1000))
    }

    #[test]
    fn waits_while_connections_go_down_then_says_drained() {
        let tables = [30, 20, 10, 0]
            .map(|active| Ok(Some(table(vec![service(80, 0, active, None)]))))
            .to_vec();
        let (outcome, lines, waited) = run_over(tables, 60);
        assert_eq!(outcome.code, exit_code::DRAINED, "{outcome:?}");
        assert_eq!(
            outcome.message,
            "10.1.0.1:80 is drained in TCP 10.0.0.1:80 after 3s"
        );
        assert_eq!(waited, Duration::from_secs(3));
        assert_eq!(lines.len(), 3);
        assert!(lines[0].contains("30 active connections"), "{lines:?}");
        assert!(
            lines[0].ends_with("(needs two scrapes or more)"),
            "{lines:?}"
        );
        assert!(
            lines[2].ends_with("about 1s"),
            "10 left, 10 a second: {lines:?}"
        );
    }

    #[test]
    fn gives_up_at_the_timeout_and_says_what_is_left() {
        let tables = vec![Ok(Some(table(vec![service(80, 0, 5, None)])))];
        let (outcome, lines, waited) = run_over(tables, 3);
        assert_eq!(outcome.code, exit_code::TIMED_OUT);
        assert_eq!(
            outcome.message,
            "timed out after 3s: 10.1.0.1:80 still has 5 active connections in TCP 10.0.0.1:80"
        );
        assert_eq!(
            waited,
            Duration::from_secs(3),
            "the last read is at the timeout"
        );
        assert_eq!(lines.len(), 3);
    }

    #[test]
    fn a_weight_put_back_or_a_removal_while_waiting_ends_it_with_2_and_errors_with_3() {
        let tables = vec![
            Ok(Some(table(vec![service(80, 0, 5, None)]))),
            Ok(Some(table(vec![service(80, 1, 5, None)]))),
        ];
        let (outcome, _, _) = run_over(tables, 30);
        assert_eq!(outcome.code, exit_code::NOT_DRAINING);
        assert!(outcome.message.contains("has weight 1 in TCP 10.0.0.1:80"));
        let mut gone = service(80, 0, 0, None);
        gone.backends.remove(0);
        let tables = vec![
            Ok(Some(table(vec![service(80, 0, 5, None)]))),
            Ok(Some(table(vec![gone]))),
        ];
        assert_eq!(run_over(tables, 30).0.code, exit_code::NOT_DRAINING);
        let tables = vec![Err("netlink: Operation not permitted".to_string())];
        let (outcome, lines, _) = run_over(tables, 30);
        assert_eq!(outcome.code, exit_code::COULD_NOT_RUN);
        assert!(lines.is_empty());
        assert_eq!(
            run_over(vec![Ok(None)], 30).0.code,
            exit_code::COULD_NOT_RUN
        );
    }
}
