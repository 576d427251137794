//! Parsers for what the lab captures (the exporter's classic text metrics,
//! `ipvsadm -Ln --exact`, `ipvsadm -Ln --stats --exact`, `/proc/net/ip_vs_stats`)
//! and the comparisons between the exporter and the kernel's own view.
//!
//! Every comparison returns a list of problems instead of panicking, so that one
//! run reports every difference at once and so that the checks themselves can be
//! tested on hand-made input. A problem names the series and both values.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;
use std::path::Path;

// ------------------------------------------------------------------ metrics

/// One sample of the classic Prometheus text format.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

impl Sample {
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).map(String::as_str)
    }
}

/// Identity labels first, in the contract's order, then the rest by name.
const LABEL_ORDER: [&str; 6] = [
    "proto",
    "local_address",
    "local_port",
    "local_mark",
    "remote_address",
    "remote_port",
];

impl fmt::Display for Sample {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rank = |k: &str| {
            LABEL_ORDER
                .iter()
                .position(|o| *o == k)
                .unwrap_or(LABEL_ORDER.len())
        };
        let mut labels: Vec<(&String, &String)> = self.labels.iter().collect();
        labels.sort_by(|a, b| (rank(a.0), a.0).cmp(&(rank(b.0), b.0)));
        write!(f, "{}", series_text(&self.name, labels))
    }
}

/// `name{a="x",b="y"}` with the labels in the order given.
pub fn series_text<'a, I>(name: &str, labels: I) -> String
where
    I: IntoIterator<Item = (&'a String, &'a String)>,
{
    let body: Vec<String> = labels
        .into_iter()
        .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    if body.is_empty() {
        name.to_string()
    } else {
        format!("{name}{{{}}}", body.join(","))
    }
}

/// A parsed exposition: the samples in order and the declared family types.
#[derive(Debug, Default)]
pub struct Metrics {
    pub samples: Vec<Sample>,
    pub types: BTreeMap<String, String>,
}

impl Metrics {
    pub fn parse(text: &str) -> Result<Metrics, String> {
        let mut m = Metrics::default();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim_end();
            if line.is_empty() {
                continue;
            }
            if let Some(rest) = line.strip_prefix('#') {
                let mut words = rest.split_whitespace();
                if words.next() == Some("TYPE") {
                    let (Some(name), Some(kind)) = (words.next(), words.next()) else {
                        return Err(format!("line {}: malformed TYPE line: {line}", i + 1));
                    };
                    m.types.insert(name.to_string(), kind.to_string());
                }
                continue;
            }
            m.samples
                .push(parse_sample(line).map_err(|e| format!("line {}: {e}: {line}", i + 1))?);
        }
        Ok(m)
    }

    /// The series of one network namespace's IPVS (`None`: the exporter's own, without a
    /// `netns` label), with the label removed; the exporter's own families are kept.
    pub fn in_netns(&self, netns: Option<&str>) -> Metrics {
        let samples = self
            .samples
            .iter()
            .filter(|s| {
                s.label("netns") == netns
                    || s.name.starts_with("ipvs_scrape_")
                    || s.name.starts_with("ipvs_exporter_")
            })
            .map(|s| {
                let mut s = s.clone();
                s.labels.remove("netns");
                s
            })
            .collect();
        Metrics {
            samples,
            types: self.types.clone(),
        }
    }

    pub fn family<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |s| s.name == name)
    }

    /// A family is present when it has samples or a TYPE line.
    pub fn has_family(&self, name: &str) -> bool {
        self.types.contains_key(name) || self.samples.iter().any(|s| s.name == name)
    }

    /// The value of the one sample of `name` whose labels include `labels`.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Result<f64, String> {
        let found: Vec<&Sample> = self
            .family(name)
            .filter(|s| labels.iter().all(|(k, v)| s.label(k) == Some(*v)))
            .collect();
        match found.as_slice() {
            [one] => Ok(one.value),
            [] => Err(format!(
                "no series {name}{labels:?} in the exporter's output"
            )),
            many => Err(format!("{} series match {name}{labels:?}", many.len())),
        }
    }
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line
        .find(|c: char| c == '{' || c.is_whitespace())
        .ok_or("no value")?;
    let name = &line[..name_end];
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    {
        return Err(format!("bad metric name {name:?}"));
    }
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(body) = rest.strip_prefix('{') {
        let mut chars = body.char_indices().peekable();
        let close;
        loop {
            while chars
                .peek()
                .is_some_and(|(_, c)| *c == ',' || c.is_whitespace())
            {
                chars.next();
            }
            match chars.peek() {
                Some((i, '}')) => {
                    close = *i;
                    break;
                }
                None => return Err("unterminated label set".into()),
                _ => {}
            }
            let mut key = String::new();
            for (_, c) in chars.by_ref() {
                if c == '=' {
                    break;
                }
                key.push(c);
            }
            if chars.next().map(|(_, c)| c) != Some('"') {
                return Err(format!("label {key} has no quoted value"));
            }
            let mut value = String::new();
            loop {
                match chars.next() {
                    Some((_, '"')) => break,
                    Some((_, '\\')) => match chars.next() {
                        Some((_, 'n')) => value.push('\n'),
                        Some((_, c)) => value.push(c),
                        None => return Err("unterminated escape".into()),
                    },
                    Some((_, c)) => value.push(c),
                    None => return Err(format!("unterminated value of label {key}")),
                }
            }
            let key = key.trim().to_string();
            if labels.insert(key.clone(), value).is_some() {
                return Err(format!("label {key} given twice"));
            }
        }
        rest = &body[close + 1..];
    }
    let mut words = rest.split_whitespace();
    let value = words.next().ok_or("no value")?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v
            .parse::<f64>()
            .map_err(|e| format!("bad value {v:?}: {e}"))?,
    };
    Ok(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

// ------------------------------------------------------------------ identities

/// A virtual service as the metric contract names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServiceKey {
    pub proto: String,
    pub local_address: String,
    pub local_port: String,
    pub local_mark: String,
}

impl ServiceKey {
    pub const LABELS: [&'static str; 4] = ["proto", "local_address", "local_port", "local_mark"];

    fn pairs(&self) -> [(&'static str, &str); 4] {
        [
            ("proto", &self.proto),
            ("local_address", &self.local_address),
            ("local_port", &self.local_port),
            ("local_mark", &self.local_mark),
        ]
    }

    fn from_sample(s: &Sample) -> Result<ServiceKey, String> {
        let get = |k: &str| {
            s.label(k)
                .map(str::to_string)
                .ok_or_else(|| format!("{s} has no label {k}"))
        };
        Ok(ServiceKey {
            proto: get("proto")?,
            local_address: get("local_address")?,
            local_port: get("local_port")?,
            local_mark: get("local_mark")?,
        })
    }
}

impl fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .pairs()
            .iter()
            .map(|(k, v)| format!("{k}=\"{v}\""))
            .collect();
        write!(f, "{}", parts.join(","))
    }
}

/// A real server of a virtual service.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BackendKey {
    pub service: ServiceKey,
    pub remote_address: String,
    pub remote_port: String,
}

impl BackendKey {
    fn from_sample(s: &Sample) -> Result<BackendKey, String> {
        let get = |k: &str| {
            s.label(k)
                .map(str::to_string)
                .ok_or_else(|| format!("{s} has no label {k}"))
        };
        Ok(BackendKey {
            service: ServiceKey::from_sample(s)?,
            remote_address: get("remote_address")?,
            remote_port: get("remote_port")?,
        })
    }
}

impl fmt::Display for BackendKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{},remote_address=\"{}\",remote_port=\"{}\"",
            self.service, self.remote_address, self.remote_port
        )
    }
}

// ------------------------------------------------------------------ ipvsadm

#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub key: ServiceKey,
    /// "inet" or "inet6"
    pub family: String,
    pub scheduler: String,
    /// persistence timeout in seconds when persistent
    pub persistent: Option<u64>,
    /// the persistence netmask as ipvsadm writes it, when it writes one
    pub mask: Option<String>,
    pub ops: bool,
    /// scheduler flags as ipvsadm names them (sh-fallback, sh-port, mh-port...)
    pub sched_flags: Vec<String>,
    pub backends: Vec<Backend>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Backend {
    pub key: BackendKey,
    /// masq, route, tunnel, local or bypass
    pub forward: String,
    pub weight: u64,
    pub active: u64,
    pub inactive: u64,
}

/// Canonical text of an address: dotted IPv4 or RFC 5952 IPv6 (which is what
/// Rust's `Display` for `Ipv6Addr` prints), no brackets.
fn canonical_addr(text: &str) -> Result<(String, &'static str), String> {
    let inner = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text);
    let ip: IpAddr = inner.parse().map_err(|_| format!("bad address {text:?}"))?;
    Ok((ip.to_string(), if ip.is_ipv6() { "inet6" } else { "inet" }))
}

/// `10.0.0.1:80` or `[2001:db8::1]:80`
fn split_addr_port(text: &str) -> Result<(String, &'static str, String), String> {
    let colon = text
        .rfind(':')
        .ok_or_else(|| format!("no port in {text:?}"))?;
    let (addr, port) = (&text[..colon], &text[colon + 1..]);
    let port: u16 = port.parse().map_err(|_| format!("bad port in {text:?}"))?;
    let (addr, family) = canonical_addr(addr)?;
    Ok((addr, family, port.to_string()))
}

fn num(text: &str, what: &str) -> Result<u64, String> {
    text.parse().map_err(|_| format!("bad {what} {text:?}"))
}

/// The service part of a service line: returns the key, its family and the
/// rest of the words.
fn service_head<'a>(words: &'a [&'a str]) -> Result<(ServiceKey, String, &'a [&'a str]), String> {
    let proto = *words.first().ok_or("empty service line")?;
    let target = *words.get(1).ok_or("service line without address")?;
    match proto {
        "FWM" => {
            let mark = num(target, "mark")?;
            let (family, rest) = if words.get(2) == Some(&"IPv6") {
                ("inet6", &words[3..])
            } else {
                ("inet", &words[2..])
            };
            let key = ServiceKey {
                proto: "FWM".into(),
                local_address: String::new(),
                local_port: "0".into(),
                local_mark: mark.to_string(),
            };
            Ok((key, family.into(), rest))
        }
        "TCP" | "UDP" | "SCTP" => {
            let (addr, family, port) = split_addr_port(target)?;
            let key = ServiceKey {
                proto: proto.into(),
                local_address: addr,
                local_port: port,
                local_mark: String::new(),
            };
            Ok((key, family.into(), &words[2..]))
        }
        other => Err(format!("unknown protocol {other:?}")),
    }
}

/// Parse `ipvsadm -Ln --exact`.
pub fn parse_ipvsadm_list(text: &str) -> Result<Vec<Service>, String> {
    let mut services: Vec<Service> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let ctx = |e: String| format!("ipvsadm -Ln line {}: {e}: {line:?}", i + 1);
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.is_empty()
            || line.starts_with("IP Virtual Server")
            || words[0] == "Prot"
            || (words[0] == "->" && words.get(1) == Some(&"RemoteAddress:Port"))
        {
            continue;
        }
        if words[0] == "->" {
            let svc = services
                .last_mut()
                .ok_or_else(|| ctx("real server before any service".into()))?;
            let [_, target, forward, weight, active, inactive] = words[..] else {
                return Err(ctx("expected 6 words".into()));
            };
            let (addr, _, port) = split_addr_port(target).map_err(ctx)?;
            let forward = match forward {
                "Masq" => "masq",
                "Route" => "route",
                "Tunnel" => "tunnel",
                "Local" => "local",
                "Bypass" => "bypass",
                other => return Err(ctx(format!("unknown forwarding method {other:?}"))),
            };
            svc.backends.push(Backend {
                key: BackendKey {
                    service: svc.key.clone(),
                    remote_address: addr,
                    remote_port: port,
                },
                forward: forward.into(),
                weight: num(weight, "weight").map_err(ctx)?,
                active: num(active, "ActiveConn").map_err(ctx)?,
                inactive: num(inactive, "InActConn").map_err(ctx)?,
            });
            continue;
        }
        let (key, family, rest) = service_head(&words).map_err(ctx)?;
        let scheduler = rest
            .first()
            .ok_or_else(|| ctx("no scheduler".into()))?
            .to_string();
        let mut svc = Service {
            key,
            family,
            scheduler,
            persistent: None,
            mask: None,
            ops: false,
            sched_flags: Vec::new(),
            backends: Vec::new(),
        };
        let mut it = rest[1..].iter();
        while let Some(w) = it.next() {
            match *w {
                "persistent" => {
                    let t = it
                        .next()
                        .ok_or_else(|| ctx("persistent without timeout".into()))?;
                    svc.persistent = Some(num(t, "timeout").map_err(ctx)?);
                }
                "mask" => {
                    svc.mask = it.next().map(|m| m.to_string());
                }
                "pe" => {
                    it.next();
                }
                "ops" => svc.ops = true,
                w if w.starts_with('(') && w.ends_with(')') => {
                    svc.sched_flags = w[1..w.len() - 1]
                        .split(',')
                        .filter(|f| !f.is_empty())
                        .map(str::to_string)
                        .collect();
                }
                other => return Err(ctx(format!("unknown service word {other:?}"))),
            }
        }
        // An IPv4 and an IPv6 service may share a firewall mark.
        if services
            .iter()
            .any(|s| s.key == svc.key && s.family == svc.family)
        {
            return Err(ctx(format!(
                "service {} listed twice (same identity labels)",
                svc.key
            )));
        }
        services.push(svc);
    }
    Ok(services)
}

/// Connections, incoming packets, outgoing packets, incoming bytes, outgoing bytes.
pub type Counters = [u64; 5];

pub const COUNTER_NAMES: [&str; 5] = [
    "connections",
    "incoming_packets",
    "outgoing_packets",
    "incoming_bytes",
    "outgoing_bytes",
];

#[derive(Debug, Default)]
pub struct Stats {
    pub services: BTreeMap<ServiceKey, Counters>,
    pub backends: BTreeMap<BackendKey, Counters>,
}

fn five(words: &[&str]) -> Result<Counters, String> {
    if words.len() != 5 {
        return Err(format!("expected 5 counters, got {}", words.len()));
    }
    let mut out = [0u64; 5];
    for (o, w) in out.iter_mut().zip(words) {
        *o = num(w, "counter")?;
    }
    Ok(out)
}

/// Parse `ipvsadm -Ln --stats --exact`.
pub fn parse_ipvsadm_stats(text: &str) -> Result<Stats, String> {
    let mut stats = Stats::default();
    let mut current: Option<ServiceKey> = None;
    for (i, line) in text.lines().enumerate() {
        let ctx = |e: String| format!("ipvsadm --stats line {}: {e}: {line:?}", i + 1);
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.is_empty()
            || line.starts_with("IP Virtual Server")
            || words[0] == "Prot"
            || (words[0] == "->" && words.len() == 2)
        {
            continue;
        }
        if words[0] == "->" {
            let svc = current
                .clone()
                .ok_or_else(|| ctx("real server before any service".into()))?;
            let (addr, _, port) = split_addr_port(words[1]).map_err(ctx)?;
            let key = BackendKey {
                service: svc,
                remote_address: addr,
                remote_port: port,
            };
            stats.backends.insert(key, five(&words[2..]).map_err(ctx)?);
            continue;
        }
        let (key, _, rest) = service_head(&words).map_err(ctx)?;
        stats.services.insert(key.clone(), five(rest).map_err(ctx)?);
        current = Some(key);
    }
    Ok(stats)
}

/// Parse the totals of `/proc/net/ip_vs_stats` (hexadecimal).
pub fn parse_proc_ip_vs_stats(text: &str) -> Result<Counters, String> {
    let line = text
        .lines()
        .nth(2)
        .ok_or("ip_vs_stats: fewer than 3 lines")?;
    let words: Vec<&str> = line.split_whitespace().collect();
    if words.len() != 5 {
        return Err(format!("ip_vs_stats: expected 5 totals: {line:?}"));
    }
    let mut out = [0u64; 5];
    for (o, w) in out.iter_mut().zip(&words) {
        *o = u64::from_str_radix(w, 16).map_err(|_| format!("ip_vs_stats: bad hex {w:?}"))?;
    }
    Ok(out)
}

/// `size=4096` from `IP Virtual Server version 1.2.1 (size=4096)`.
pub fn parse_table_size(text: &str) -> Option<u64> {
    let rest = text.lines().next()?.split("size=").nth(1)?;
    rest.trim_end_matches(|c: char| !c.is_ascii_digit())
        .parse()
        .ok()
}

/// `Timeout (tcp tcpfin udp): 900 120 300`
pub fn parse_ipvsadm_timeout(text: &str) -> Result<Vec<(String, u64)>, String> {
    let line = text
        .lines()
        .find(|l| l.starts_with("Timeout"))
        .ok_or("no Timeout line")?;
    let open = line.find('(').ok_or("no '('")?;
    let close = line.find("):").ok_or("no '):'")?;
    let names: Vec<&str> = line[open + 1..close].split_whitespace().collect();
    let values: Vec<&str> = line[close + 2..].split_whitespace().collect();
    if names.len() != values.len() {
        return Err(format!("names and values differ in number: {line:?}"));
    }
    names
        .iter()
        .zip(&values)
        .map(|(n, v)| Ok((n.to_string(), num(v, "timeout")?)))
        .collect()
}

// ------------------------------------------------------------------ a checkpoint

/// Everything captured at one checkpoint.
pub struct Checkpoint {
    pub name: String,
    pub metrics: Metrics,
    pub services: Vec<Service>,
    pub services_after: Vec<Service>,
    pub stats: Stats,
    pub stats_after: Stats,
    pub totals: Counters,
    pub totals_after: Counters,
    /// connection table size from ipvsadm's header line
    pub table_size: Option<u64>,
    /// `ipvsadm -L --timeout`: (protocol, seconds)
    pub timeouts: Option<Vec<(String, u64)>>,
    /// the HTTP response headers of the scrape, as busybox wget -S prints them
    pub headers: Option<String>,
}

fn read(dir: &Path, file: &str) -> Result<String, String> {
    std::fs::read_to_string(dir.join(file))
        .map_err(|e| format!("{}: {e}", dir.join(file).display()))
}

impl Checkpoint {
    pub fn load(dir: &Path) -> Result<Checkpoint, String> {
        // "scenario/checkpoint" in messages
        let name = {
            let parts: Vec<_> = dir.iter().rev().take(2).collect();
            match parts.as_slice() {
                [cp, scenario] => {
                    format!("{}/{}", scenario.to_string_lossy(), cp.to_string_lossy())
                }
                _ => dir.display().to_string(),
            }
        };
        let wrap = |file: &str, e: String| format!("{name}/{file}: {e}");
        let metrics =
            Metrics::parse(&read(dir, "metrics.txt")?).map_err(|e| wrap("metrics.txt", e))?;
        Ok(Checkpoint {
            metrics,
            services: parse_ipvsadm_list(&read(dir, "ipvsadm.txt")?)
                .map_err(|e| wrap("ipvsadm.txt", e))?,
            services_after: parse_ipvsadm_list(&read(dir, "ipvsadm-after.txt")?)
                .map_err(|e| wrap("ipvsadm-after.txt", e))?,
            stats: parse_ipvsadm_stats(&read(dir, "ipvsadm-stats.txt")?)
                .map_err(|e| wrap("ipvsadm-stats.txt", e))?,
            stats_after: parse_ipvsadm_stats(&read(dir, "ipvsadm-stats-after.txt")?)
                .map_err(|e| wrap("ipvsadm-stats-after.txt", e))?,
            totals: parse_proc_ip_vs_stats(&read(dir, "proc-ip_vs_stats.txt")?)
                .map_err(|e| wrap("proc-ip_vs_stats.txt", e))?,
            totals_after: parse_proc_ip_vs_stats(&read(dir, "proc-ip_vs_stats-after.txt")?)
                .map_err(|e| wrap("proc-ip_vs_stats-after.txt", e))?,
            table_size: parse_table_size(&read(dir, "ipvsadm.txt")?),
            timeouts: match read(dir, "ipvsadm-timeout.txt") {
                Ok(t) => {
                    Some(parse_ipvsadm_timeout(&t).map_err(|e| wrap("ipvsadm-timeout.txt", e))?)
                }
                Err(_) => None,
            },
            headers: read(dir, "metrics.txt.headers").ok(),
            name,
        })
    }

    pub fn backends(&self) -> impl Iterator<Item = &Backend> {
        self.services.iter().flat_map(|s| s.backends.iter())
    }

    pub fn service(&self, key: &ServiceKey) -> Option<&Service> {
        self.services.iter().find(|s| &s.key == key)
    }
}

/// Per-service and per-backend counter families: not in the /proc source, they
/// come with netlink. Checked as soon as the exporter shows them.
pub const SERVICE_COUNTERS: [&str; 5] = [
    "ipvs_service_connections_total",
    "ipvs_service_incoming_packets_total",
    "ipvs_service_outgoing_packets_total",
    "ipvs_service_incoming_bytes_total",
    "ipvs_service_outgoing_bytes_total",
];
pub const BACKEND_COUNTERS: [&str; 5] = [
    "ipvs_backend_connections_total",
    "ipvs_backend_incoming_packets_total",
    "ipvs_backend_outgoing_packets_total",
    "ipvs_backend_incoming_bytes_total",
    "ipvs_backend_outgoing_bytes_total",
];
pub const HOST_COUNTERS: [&str; 5] = [
    "ipvs_connections_total",
    "ipvs_incoming_packets_total",
    "ipvs_outgoing_packets_total",
    "ipvs_incoming_bytes_total",
    "ipvs_outgoing_bytes_total",
];

/// Words of a `flags` label value, however the exporter joins them.
fn flag_words(v: &str) -> BTreeSet<String> {
    v.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

fn as_count(v: f64) -> Option<u64> {
    (v >= 0.0 && v.fract() == 0.0 && v < 9.007_199_254_740_992e15).then_some(v as u64)
}

/// What a comparison found: problems (the test fails on any) and notes about
/// checks that do not apply (yet).
#[derive(Default)]
pub struct Report {
    pub problems: Vec<String>,
    pub notes: Vec<String>,
}

impl Report {
    fn problem(&mut self, cp: &str, msg: String) {
        self.problems.push(format!("[{cp}] {msg}"));
    }
    fn note(&mut self, cp: &str, msg: String) {
        self.notes.push(format!("[{cp}] {msg}"));
    }
}

/// Compare one checkpoint's exporter output with ipvsadm and /proc.
pub fn check_checkpoint(cp: &Checkpoint, report: &mut Report) {
    let n = cp.name.as_str();
    let m = &cp.metrics;

    // The lab's own precondition: the table and counters did not move while the
    // checkpoint was taken, so any difference below is the exporter's.
    if cp.services != cp.services_after {
        report.problem(
            n,
            "lab: the IPVS table changed between the ipvsadm reads around the scrape".into(),
        );
    }
    if cp.stats.services != cp.stats_after.services || cp.stats.backends != cp.stats_after.backends
    {
        report.problem(
            n,
            "lab: ipvsadm --stats changed around the scrape (not a quiet moment)".into(),
        );
    }
    if cp.totals != cp.totals_after {
        report.problem(
            n,
            format!(
                "lab: /proc/net/ip_vs_stats changed around the scrape: {:?} then {:?}",
                cp.totals, cp.totals_after
            ),
        );
    }

    // a scraper that does not ask for OpenMetrics gets the classic text format
    if let Some(h) = &cp.headers {
        let ctype = h
            .lines()
            .map(str::trim)
            .find(|l| l.to_ascii_lowercase().starts_with("content-type:"))
            .unwrap_or("content-type: <absent>");
        if !ctype.to_ascii_lowercase().contains("text/plain") {
            report.problem(
                n,
                format!("/metrics answered with {ctype:?}, expected text/plain (classic format)"),
            );
        }
    }

    match m.value("ipvs_up", &[]) {
        Ok(1.0) => {}
        Ok(v) => report.problem(
            n,
            format!("ipvs_up: exporter {v}, expected 1 (IPVS is loaded)"),
        ),
        Err(e) => report.problem(n, e),
    }
    match m.value("ipvs_scrape_collector_success", &[("collector", "ipvs")]) {
        Ok(1.0) => {}
        Ok(v) => report.problem(
            n,
            format!(
                "ipvs_scrape_collector_success{{collector=\"ipvs\"}}: exporter {v}, expected 1"
            ),
        ),
        Err(e) => report.problem(n, e),
    }

    let want_services: BTreeMap<&ServiceKey, &Service> =
        cp.services.iter().map(|s| (&s.key, s)).collect();
    let want_backends: BTreeMap<&BackendKey, &Backend> =
        cp.backends().map(|b| (&b.key, b)).collect();
    let netlink = SERVICE_COUNTERS
        .iter()
        .chain(&BACKEND_COUNTERS)
        .any(|f| m.has_family(f));

    // Every per-service and per-backend series names a service / real server
    // the kernel has: nothing stale, nothing invented, no label missing.
    for s in &m.samples {
        if s.name.starts_with("ipvs_service_") {
            match ServiceKey::from_sample(s) {
                Ok(k) if !want_services.contains_key(&k) => report.problem(
                    n,
                    format!(
                        "{s} = {}: no such service in ipvsadm -Ln (stale or invented)",
                        s.value
                    ),
                ),
                Ok(_) => {}
                Err(e) => report.problem(n, e),
            }
        } else if s.name.starts_with("ipvs_backend_") {
            match BackendKey::from_sample(s) {
                Ok(k) if !want_backends.contains_key(&k) => report.problem(
                    n,
                    format!(
                        "{s} = {}: no such real server in ipvsadm -Ln (stale or invented)",
                        s.value
                    ),
                ),
                Ok(_) => {}
                Err(e) => report.problem(n, e),
            }
        }
    }

    // ipvs_service_info: exactly one series per service, with the right labels.
    let mut seen: BTreeMap<ServiceKey, &Sample> = BTreeMap::new();
    for s in m.family("ipvs_service_info") {
        let Ok(k) = ServiceKey::from_sample(s) else {
            continue;
        };
        if s.value != 1.0 {
            report.problem(n, format!("{s}: value {}, expected 1", s.value));
        }
        if seen.insert(k, s).is_some() {
            report.problem(
                n,
                format!("{s}: more than one ipvs_service_info series for this service"),
            );
        }
    }
    for (k, svc) in &want_services {
        let Some(s) = seen.get(*k) else {
            report.problem(
                n,
                format!("ipvs_service_info{{{k}}}: missing; ipvsadm lists the service"),
            );
            continue;
        };
        let label = |name: &str| s.label(name).unwrap_or("<absent>").to_string();
        if label("scheduler") != svc.scheduler {
            report.problem(
                n,
                format!(
                    "{s}: label scheduler: exporter {:?}, ipvsadm {:?}",
                    label("scheduler"),
                    svc.scheduler
                ),
            );
        }
        let family = label("family");
        if family != svc.family {
            // /proc/net/ip_vs prints no family on FWM lines; only real servers
            // reveal it. Without real servers (and without netlink) the family
            // cannot be known, and "" is the honest answer.
            if svc.key.proto == "FWM" && svc.backends.is_empty() && !netlink && family.is_empty() {
                report.note(
                    n,
                    format!("{s}: family \"\" accepted for an FWM service without real servers (ipvsadm: {:?}); checked once netlink families appear", svc.family),
                );
            } else {
                report.problem(
                    n,
                    format!(
                        "{s}: label family: exporter {family:?}, ipvsadm {:?}",
                        svc.family
                    ),
                );
            }
        }
        let persistent = if svc.persistent.is_some() {
            "true"
        } else {
            "false"
        };
        if label("persistent") != persistent {
            report.problem(
                n,
                format!(
                    "{s}: label persistent: exporter {:?}, ipvsadm {persistent:?} ({:?})",
                    label("persistent"),
                    svc.persistent
                ),
            );
        }
        let flags = flag_words(&label("flags"));
        for (word, on) in [("persistent", svc.persistent.is_some()), ("ops", svc.ops)] {
            if flags.contains(word) != on {
                report.problem(
                    n,
                    format!(
                        "{s}: label flags {:?} {} {word:?}, ipvsadm {}",
                        label("flags"),
                        if on { "lacks" } else { "has" },
                        if on { "shows it" } else { "does not" }
                    ),
                );
            }
        }
        for f in &svc.sched_flags {
            if !flags.contains(f) {
                if netlink {
                    report.problem(
                        n,
                        format!(
                            "{s}: label flags {:?} lacks scheduler flag {f:?} that ipvsadm shows",
                            label("flags")
                        ),
                    );
                } else {
                    report.note(n, format!("{s}: scheduler flag {f:?} not in flags (not in /proc; checked once netlink families appear)"));
                }
            }
        }
    }

    // ipvs_backend_info: exactly one series per real server, forward as ipvsadm says.
    let mut seen: BTreeMap<BackendKey, &Sample> = BTreeMap::new();
    for s in m.family("ipvs_backend_info") {
        let Ok(k) = BackendKey::from_sample(s) else {
            continue;
        };
        if s.value != 1.0 {
            report.problem(n, format!("{s}: value {}, expected 1", s.value));
        }
        if seen.insert(k, s).is_some() {
            report.problem(
                n,
                format!("{s}: more than one ipvs_backend_info series for this real server"),
            );
        }
    }
    for (k, b) in &want_backends {
        match seen.get(*k) {
            None => report.problem(
                n,
                format!("ipvs_backend_info{{{k}}}: missing; ipvsadm lists the real server"),
            ),
            Some(s) if s.label("forward") != Some(b.forward.as_str()) => report.problem(
                n,
                format!(
                    "{s}: label forward: exporter {:?}, ipvsadm {:?}",
                    s.label("forward").unwrap_or("<absent>"),
                    b.forward
                ),
            ),
            Some(_) => {}
        }
    }

    // Gauges per real server.
    type Column = fn(&Backend) -> u64;
    let gauges: [(&str, Column, &str); 3] = [
        ("ipvs_backend_weight", |b| b.weight, "Weight"),
        (
            "ipvs_backend_connections_active",
            |b| b.active,
            "ActiveConn",
        ),
        (
            "ipvs_backend_connections_inactive",
            |b| b.inactive,
            "InActConn",
        ),
    ];
    for (family, get, column) in gauges {
        compare_per_key(
            report,
            n,
            m,
            family,
            BackendKey::from_sample,
            want_backends
                .iter()
                .map(|(k, b)| ((*k).clone(), get(b)))
                .collect(),
            &format!("ipvsadm -Ln {column}"),
        );
    }

    // ipvs_backend_draining: 1 exactly for the real servers of weight 0 (when the exporter
    // shows real servers at all).
    if m.family("ipvs_backend_weight").next().is_some() {
        let draining: BTreeMap<BackendKey, &Sample> = m
            .family("ipvs_backend_draining")
            .filter_map(|s| BackendKey::from_sample(s).ok().map(|k| (k, s)))
            .collect();
        for (k, b) in &want_backends {
            match (b.weight == 0, draining.get(*k)) {
                (true, None) => report.problem(
                    n,
                    format!("ipvs_backend_draining{{{k}}}: missing; ipvsadm -Ln has weight 0"),
                ),
                (true, Some(s)) if s.value != 1.0 => {
                    report.problem(n, format!("{s}: exporter {}, expected 1", s.value))
                }
                (false, Some(s)) => report.problem(
                    n,
                    format!("{s}: draining, but ipvsadm -Ln has weight {}", b.weight),
                ),
                _ => {}
            }
        }
    }

    // Host totals: /proc/net/ip_vs_stats, and the sum over services. The sum
    // holds because every scenario starts with zeroed counters (ipvsadm -Z also
    // zeroes the totals) and removes no service that carried traffic.
    let mut sums = [0u64; 5];
    for c in cp.stats.services.values() {
        for (s, v) in sums.iter_mut().zip(c) {
            *s += v;
        }
    }
    for (i, family) in HOST_COUNTERS.iter().enumerate() {
        match m.value(family, &[]) {
            Err(e) => report.problem(n, e),
            Ok(v) => {
                if as_count(v) != Some(cp.totals[i]) {
                    report.problem(
                        n,
                        format!(
                            "{family}: exporter {v}, /proc/net/ip_vs_stats {}",
                            cp.totals[i]
                        ),
                    );
                }
                if as_count(v) != Some(sums[i]) {
                    report.problem(
                        n,
                        format!(
                            "{family}: exporter {v}, sum of ipvsadm --stats over services {}",
                            sums[i]
                        ),
                    );
                }
            }
        }
    }

    // Families beyond the contract's table, checked when the exporter has them.
    if m.has_family("ipvs_connection_table_buckets") {
        match (m.value("ipvs_connection_table_buckets", &[]), cp.table_size) {
            (Ok(v), Some(size)) if as_count(v) == Some(size) => {}
            (Ok(v), size) => report.problem(
                n,
                format!("ipvs_connection_table_buckets: exporter {v}, ipvsadm size={size:?}"),
            ),
            (Err(e), _) => report.problem(n, e),
        }
    }
    if let (true, Some(timeouts)) = (m.has_family("ipvs_timeout_seconds"), &cp.timeouts) {
        for (proto, secs) in timeouts {
            match m.value("ipvs_timeout_seconds", &[("protocol", proto)]) {
                Ok(v) if as_count(v) == Some(*secs) => {}
                Ok(v) => report.problem(
                    n,
                    format!("ipvs_timeout_seconds{{protocol=\"{proto}\"}}: exporter {v}, ipvsadm --timeout {secs}"),
                ),
                Err(e) => report.problem(n, e),
            }
        }
    }
    let family = "ipvs_service_persistence_timeout_seconds";
    if m.has_family(family) {
        let mut got: BTreeMap<ServiceKey, &Sample> = BTreeMap::new();
        for s in m.family(family) {
            if let Ok(k) = ServiceKey::from_sample(s) {
                got.insert(k, s);
            }
        }
        for svc in &cp.services {
            match (got.get(&svc.key), svc.persistent) {
                (Some(s), Some(secs)) if as_count(s.value) != Some(secs) => report.problem(
                    n,
                    format!(
                        "{s}: exporter {}, ipvsadm persistent {secs} (seconds)",
                        s.value
                    ),
                ),
                (None, Some(secs)) => report.problem(
                    n,
                    format!(
                        "{family}{{{}}}: missing; ipvsadm shows persistent {secs}",
                        svc.key
                    ),
                ),
                (Some(s), None) if s.value != 0.0 => report.problem(
                    n,
                    format!(
                        "{s}: exporter {}, but ipvsadm shows the service is not persistent",
                        s.value
                    ),
                ),
                _ => {}
            }
        }
    }

    // Per-service and per-backend counters: only once they exist.
    let mut absent = Vec::new();
    for (i, family) in SERVICE_COUNTERS.iter().enumerate() {
        if m.has_family(family) {
            let want = cp
                .stats
                .services
                .iter()
                .map(|(k, c)| (k.clone(), c[i]))
                .collect();
            compare_per_key(
                report,
                n,
                m,
                family,
                ServiceKey::from_sample,
                want,
                "ipvsadm --stats --exact",
            );
        } else {
            absent.push(*family);
        }
    }
    for (i, family) in BACKEND_COUNTERS.iter().enumerate() {
        if m.has_family(family) {
            let want = cp
                .stats
                .backends
                .iter()
                .map(|(k, c)| (k.clone(), c[i]))
                .collect();
            compare_per_key(
                report,
                n,
                m,
                family,
                BackendKey::from_sample,
                want,
                "ipvsadm --stats --exact",
            );
        } else {
            absent.push(*family);
        }
    }
    if !absent.is_empty() {
        // /proc has no traffic per service or real server; netlink must give all of it.
        let from_netlink = m
            .family("ipvs_info")
            .any(|s| s.label("source") == Some("netlink"));
        if from_netlink {
            report.problem(
                n,
                format!("read over netlink but missing: {}", absent.join(" ")),
            );
        } else {
            report.note(
                n,
                format!(
                    "not read over netlink, so not exported and not compared with ipvsadm --stats: {}",
                    absent.join(" ")
                ),
            );
        }
    }
}

/// The exporter's stderr: no panic, nothing logged at error level.
pub fn check_exporter_log(scenario: &str, log: &str, report: &mut Report) {
    for line in log.lines() {
        let l = line.to_ascii_lowercase();
        if l.contains("panicked at")
            || l.contains("level=error")
            || l.contains("\"level\":\"error\"")
        {
            report.problem(scenario, format!("exporter log: {line}"));
        }
    }
}

/// One series per key in `want`, each with the wanted value.
fn compare_per_key<K: Ord + Clone + fmt::Display>(
    report: &mut Report,
    n: &str,
    m: &Metrics,
    family: &str,
    key_of: fn(&Sample) -> Result<K, String>,
    want: BTreeMap<K, u64>,
    source: &str,
) {
    let mut got: BTreeMap<K, &Sample> = BTreeMap::new();
    for s in m.family(family) {
        let Ok(k) = key_of(s) else { continue };
        if got.insert(k, s).is_some() {
            report.problem(n, format!("{s}: duplicate series"));
        }
    }
    for (k, w) in &want {
        match got.get(k) {
            None => report.problem(n, format!("{family}{{{k}}}: missing; {source} has {w}")),
            Some(s) if as_count(s.value) != Some(*w) => {
                report.problem(n, format!("{s}: exporter {}, {source} {w}", s.value))
            }
            Some(_) => {}
        }
    }
    // series for keys the kernel does not have are reported once, by the
    // stale-series check in check_checkpoint
}

// ------------------------------------------------------------------ tests of the checks

#[cfg(test)]
mod tests {
    use super::*;

    const IPVSADM: &str = "\
IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  10.0.0.1:80 wrr
  -> 10.1.1.2:80                  Masq    3      1          6
  -> 10.1.2.2:80                  Route   1      0          2
UDP  [2001:db8:0:0:1::1]:53 rr ops
  -> [2001:db8::1:0:0:1]:53       Tunnel  1      0          0
FWM  268435457 IPv6 sh persistent 300 (sh-fallback,sh-port)
";
    const STATS: &str = "\
IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes
  -> RemoteAddress:Port
TCP  10.0.0.1:80                         9       50       40     3040     4000
  -> 10.1.1.2:80                         7       40       30     2040     3000
  -> 10.1.2.2:80                         2       10       10     1000     1000
UDP  [2001:db8::1:0:0:1]:53              1        1        0       60        0
  -> [2001:db8::1:0:0:1]:53              1        1        0       60        0
FWM  268435457 IPv6                      0        0        0        0        0
";
    const PROC_STATS: &str = "   Total Incoming Outgoing         Incoming         Outgoing
   Conns  Packets  Packets            Bytes            Bytes
       A       33       28              C1C              FA0

 Conns/s   Pkts/s   Pkts/s          Bytes/s          Bytes/s
       0        0        0                0                0
";

    fn good_metrics() -> String {
        let svc80 = r#"proto="TCP",local_address="10.0.0.1",local_port="80",local_mark="""#;
        let svc53 =
            r#"proto="UDP",local_address="2001:db8::1:0:0:1",local_port="53",local_mark="""#;
        let fwm = r#"proto="FWM",local_address="",local_port="0",local_mark="268435457""#;
        let b1 = format!(r#"{svc80},remote_address="10.1.1.2",remote_port="80""#);
        let b2 = format!(r#"{svc80},remote_address="10.1.2.2",remote_port="80""#);
        let b3 = format!(r#"{svc53},remote_address="2001:db8::1:0:0:1",remote_port="53""#);
        format!(
            "# TYPE ipvs_up gauge
ipvs_up 1
ipvs_scrape_collector_success{{collector=\"ipvs\"}} 1
ipvs_connections_total 10
ipvs_incoming_packets_total 51
ipvs_outgoing_packets_total 40
ipvs_incoming_bytes_total 3100
ipvs_outgoing_bytes_total 4000
ipvs_service_info{{{svc80},scheduler=\"wrr\",family=\"inet\",flags=\"\",persistent=\"false\"}} 1
ipvs_service_info{{{svc53},scheduler=\"rr\",family=\"inet6\",flags=\"ops\",persistent=\"false\"}} 1
ipvs_service_info{{{fwm},scheduler=\"sh\",family=\"inet6\",flags=\"persistent\",persistent=\"true\"}} 1
ipvs_backend_info{{{b1},forward=\"masq\"}} 1
ipvs_backend_info{{{b2},forward=\"route\"}} 1
ipvs_backend_info{{{b3},forward=\"tunnel\"}} 1
ipvs_backend_weight{{{b1}}} 3
ipvs_backend_weight{{{b2}}} 1
ipvs_backend_weight{{{b3}}} 1
ipvs_backend_connections_active{{{b1}}} 1
ipvs_backend_connections_active{{{b2}}} 0
ipvs_backend_connections_active{{{b3}}} 0
ipvs_backend_connections_inactive{{{b1}}} 6
ipvs_backend_connections_inactive{{{b2}}} 2
ipvs_backend_connections_inactive{{{b3}}} 0
"
        )
    }

    fn checkpoint(metrics: &str) -> Checkpoint {
        let services = parse_ipvsadm_list(IPVSADM).unwrap();
        let totals = parse_proc_ip_vs_stats(PROC_STATS).unwrap();
        Checkpoint {
            name: "unit".into(),
            metrics: Metrics::parse(metrics).unwrap(),
            services_after: services.clone(),
            services,
            stats: parse_ipvsadm_stats(STATS).unwrap(),
            stats_after: parse_ipvsadm_stats(STATS).unwrap(),
            totals,
            totals_after: totals,
            table_size: parse_table_size(IPVSADM),
            headers: Some("  HTTP/1.1 200 OK\n  content-type: text/plain; version=0.0.4\n".into()),
            timeouts: Some(vec![
                ("tcp".into(), 900),
                ("tcpfin".into(), 120),
                ("udp".into(), 300),
            ]),
        }
    }

    fn problems(metrics: &str) -> Vec<String> {
        let mut r = Report::default();
        check_checkpoint(&checkpoint(metrics), &mut r);
        r.problems
    }

    #[test]
    fn ipvsadm_list_canonicalises_addresses_and_reads_flags() {
        let s = parse_ipvsadm_list(IPVSADM).unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(s[1].key.local_address, "2001:db8::1:0:0:1");
        assert_eq!(s[1].family, "inet6");
        assert!(s[1].ops);
        assert_eq!(s[2].key.local_mark, "268435457");
        assert_eq!(s[2].key.local_port, "0");
        assert_eq!(s[2].family, "inet6");
        assert_eq!(s[2].persistent, Some(300));
        assert_eq!(s[2].sched_flags, ["sh-fallback", "sh-port"]);
        assert_eq!(s[0].backends[1].forward, "route");
        assert_eq!(s[0].backends[0].inactive, 6);
    }

    #[test]
    fn optional_families_are_checked_when_present() {
        let fwm = r#"proto="FWM",local_address="",local_port="0",local_mark="268435457""#;
        let extra = format!(
            "ipvs_connection_table_buckets 4096
ipvs_timeout_seconds{{protocol=\"tcp\"}} 900
ipvs_timeout_seconds{{protocol=\"tcpfin\"}} 120
ipvs_timeout_seconds{{protocol=\"udp\"}} 300
ipvs_service_persistence_timeout_seconds{{{fwm}}} 300
"
        );
        assert_eq!(
            problems(&format!("{}{extra}", good_metrics())),
            Vec::<String>::new()
        );
        // jiffies at HZ=250 instead of seconds
        let p = problems(&format!(
            "{}{}",
            good_metrics(),
            extra.replace("} 300\n", "} 75000\n")
        ));
        assert!(
            p.iter()
                .any(|p| p.contains("ipvs_service_persistence_timeout_seconds{")
                    && p.contains("exporter 75000")),
            "{p:#?}"
        );
        let p = problems(&format!(
            "{}{}",
            good_metrics(),
            extra.replace("4096", "1024")
        ));
        assert!(
            p.iter()
                .any(|p| p.contains("ipvs_connection_table_buckets: exporter 1024")),
            "{p:#?}"
        );
    }

    #[test]
    fn ipvsadm_timeout_and_size() {
        assert_eq!(
            parse_ipvsadm_timeout("Timeout (tcp tcpfin udp): 900 120 300\n").unwrap(),
            [
                ("tcp".to_string(), 900),
                ("tcpfin".to_string(), 120),
                ("udp".to_string(), 300)
            ]
        );
        assert_eq!(parse_table_size(IPVSADM), Some(4096));
    }

    #[test]
    fn proc_stats_are_hexadecimal() {
        assert_eq!(
            parse_proc_ip_vs_stats(PROC_STATS).unwrap(),
            [10, 51, 40, 3100, 4000]
        );
    }

    #[test]
    fn metrics_parser_reads_escapes_and_rejects_garbage() {
        let m = Metrics::parse("a{x=\"q\\\"\\\\\\n\",y=\"\"} 2.5 1700000000\nb 1e3\n").unwrap();
        assert_eq!(m.samples[0].label("x"), Some("q\"\\\n"));
        assert_eq!(m.samples[0].value, 2.5);
        assert_eq!(m.samples[1].value, 1000.0);
        assert!(Metrics::parse("a{x=\"1} 2\n").is_err());
        assert!(Metrics::parse("a{x=\"1\"}\n").is_err());
    }

    #[test]
    fn consistent_output_has_no_problems() {
        assert_eq!(problems(&good_metrics()), Vec::<String>::new());
    }

    #[test]
    fn wrong_weight_is_reported_with_series_and_both_values() {
        let bad = good_metrics().replace(
            "ipvs_backend_weight{proto=\"TCP\",local_address=\"10.0.0.1\",local_port=\"80\",local_mark=\"\",remote_address=\"10.1.2.2\",remote_port=\"80\"} 1",
            "ipvs_backend_weight{proto=\"TCP\",local_address=\"10.0.0.1\",local_port=\"80\",local_mark=\"\",remote_address=\"10.1.2.2\",remote_port=\"80\"} 5",
        );
        let p = problems(&bad);
        assert_eq!(p.len(), 1, "{p:#?}");
        assert!(
            p[0].contains("ipvs_backend_weight{") && p[0].contains("remote_address=\"10.1.2.2\""),
            "{}",
            p[0]
        );
        assert!(
            p[0].contains("exporter 5") && p[0].contains("Weight 1"),
            "{}",
            p[0]
        );
    }

    #[test]
    fn a_draining_series_must_match_a_weight_of_0() {
        let b = "proto=\"TCP\",local_address=\"10.0.0.1\",local_port=\"80\",local_mark=\"\",remote_address=\"10.1.2.2\",remote_port=\"80\"";
        let bad = format!("{}ipvs_backend_draining{{{b}}} 1\n", good_metrics());
        let p = problems(&bad);
        assert_eq!(p.len(), 1, "{p:#?}");
        assert!(
            p[0].contains("draining, but ipvsadm -Ln has weight 1"),
            "{}",
            p[0]
        );
    }

    #[test]
    fn stale_and_missing_series_are_reported() {
        let stale = format!(
            "{}ipvs_backend_weight{{proto=\"TCP\",local_address=\"10.0.0.1\",local_port=\"80\",local_mark=\"\",remote_address=\"10.1.3.2\",remote_port=\"80\"}} 1\n",
            good_metrics()
        );
        let p = problems(&stale);
        assert!(
            p.iter()
                .any(|p| p.contains("10.1.3.2") && p.contains("stale")),
            "{p:#?}"
        );

        let missing: String = good_metrics()
            .lines()
            .filter(|l| !l.contains("local_mark=\"268435457\""))
            .map(|l| format!("{l}\n"))
            .collect();
        let p = problems(&missing);
        assert!(
            p.iter()
                .any(|p| p.contains("ipvs_service_info{proto=\"FWM\"") && p.contains("missing")),
            "{p:#?}"
        );
    }

    #[test]
    fn uncompressed_ipv6_label_is_not_the_same_service() {
        let bad = good_metrics().replace(
            "local_address=\"2001:db8::1:0:0:1\"",
            "local_address=\"2001:db8:0:0:1::1\"",
        );
        assert!(!problems(&bad).is_empty());
    }

    #[test]
    fn host_totals_must_match_proc() {
        let bad = good_metrics().replace(
            "ipvs_incoming_bytes_total 3100",
            "ipvs_incoming_bytes_total 3088",
        );
        let p = problems(&bad);
        assert!(
            p.iter().any(|p| p
                .contains("ipvs_incoming_bytes_total: exporter 3088, /proc/net/ip_vs_stats 3100")),
            "{p:#?}"
        );
    }

    #[test]
    fn per_service_counters_are_checked_once_they_appear() {
        let svc80 = r#"proto="TCP",local_address="10.0.0.1",local_port="80",local_mark="""#;
        let with = format!(
            "{}ipvs_service_connections_total{{{svc80}}} 8\n",
            good_metrics()
        );
        let p = problems(&with);
        // 8 is wrong (ipvsadm: 9), and the other two services are missing
        assert!(
            p.iter()
                .any(|p| p.contains("ipvs_service_connections_total{")
                    && p.contains("exporter 8")
                    && p.contains("9")),
            "{p:#?}"
        );
        assert_eq!(
            p.iter().filter(|p| p.contains("missing")).count(),
            2,
            "{p:#?}"
        );
        // and the family of an FWM service without real servers is then required
    }

    #[test]
    fn wrong_forward_and_family_are_reported() {
        let bad = good_metrics()
            .replace("forward=\"tunnel\"", "forward=\"masq\"")
            .replace(
                "scheduler=\"wrr\",family=\"inet\"",
                "scheduler=\"wrr\",family=\"inet6\"",
            );
        let p = problems(&bad);
        assert!(
            p.iter()
                .any(|p| p.contains("label forward: exporter \"masq\", ipvsadm \"tunnel\"")),
            "{p:#?}"
        );
        assert!(
            p.iter()
                .any(|p| p.contains("label family: exporter \"inet6\", ipvsadm \"inet\"")),
            "{p:#?}"
        );
    }
}
