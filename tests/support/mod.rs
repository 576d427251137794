//! Shared by the integration tests: start the real binary, speak plain HTTP/1.1 to it, and
//! normalise the parts of /metrics that change from run to run.

#![allow(dead_code)]

pub mod fleet_api;
pub mod fleet_scrape;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Flags that point the exporter at the fixture tree `tests/fixtures/SCENARIO`. The fixtures
/// are procfs trees, so the ipvs and conntrack collectors are told to read procfs rather than
/// this host's kernel over netlink; this host's own links and addresses are no part of a
/// fixture.
pub fn fixture_args(scenario: &str) -> Vec<String> {
    let base = std::path::Path::new("tests/fixtures").join(scenario);
    let path = |sub: &str| base.join(sub).to_string_lossy().into_owned();
    vec![
        "--path.procfs".into(),
        path("proc"),
        "--collector.ipvs.source".into(),
        "procfs".into(),
        "--collector.conntrack.source".into(),
        "procfs".into(),
        "--path.sysfs".into(),
        path("sys"),
        "--no-collector.netdev.ethtool".into(),
        "--no-collector.interfaces".into(),
        "--path.rootfs".into(),
        base.to_string_lossy().into_owned(),
    ]
}

/// Serves exposition text on a loopback port for as long as the test runs: `text` is given
/// the request's User-Agent and how many requests that User-Agent made before this one, so
/// a counter can grow at each scrape, and two scrapers each see the same sequence.
pub fn serve_exposition(
    text: impl Fn(&str, usize) -> String + Send + 'static,
) -> std::net::SocketAddr {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut seen: std::collections::BTreeMap<String, usize> = Default::default();
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(read) => head.extend_from_slice(&buf[..read]),
                }
            }
            let head = String::from_utf8_lossy(&head);
            let agent = head
                .lines()
                .filter_map(|l| l.split_once(':'))
                .find(|(name, _)| name.eq_ignore_ascii_case("user-agent"))
                .map(|(_, value)| value.trim().to_string())
                .unwrap_or_default();
            let count = seen.entry(agent.clone()).or_default();
            let body = text(&agent, *count);
            *count += 1;
            let reply = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(reply.as_bytes());
        }
    });
    address
}

/// A running exporter, killed when dropped. Its log lines are kept as they come.
pub struct Exporter {
    child: Option<Child>,
    pub address: SocketAddr,
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Exporter {
    /// Starts the exporter on an ephemeral loopback port and waits for its "listening" line.
    pub fn start<S: AsRef<std::ffi::OsStr>>(extra_args: &[S]) -> Exporter {
        Exporter::start_via(&[], extra_args)
    }

    /// Like [`Exporter::start`], with the binary run by `wrapper` (its program and arguments,
    /// such as `setpriv --reuid=65534 ...`); none runs it directly.
    pub fn start_via<S: AsRef<std::ffi::OsStr>>(wrapper: &[&str], extra_args: &[S]) -> Exporter {
        let binary = env!("CARGO_BIN_EXE_ipvs_exporter");
        let mut command = match wrapper.split_first() {
            Some((program, wrapper_args)) => {
                let mut command = Command::new(program);
                command.args(wrapper_args).arg(binary);
                command
            }
            None => Command::new(binary),
        };
        let mut child = command
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["--web.listen-address", "127.0.0.1:0"])
            .args(extra_args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start exporter");
        let stderr = child.stderr.take().expect("stderr is piped");
        let mut lines = BufReader::new(stderr).lines();
        let mut kept_lines = Vec::new();
        let address = loop {
            let line = match lines.next() {
                Some(Ok(line)) => line,
                _ => panic!("exporter exited before listening"),
            };
            let address = line.split("msg=listening address=").nth(1).map(|rest| {
                rest.trim()
                    .parse::<SocketAddr>()
                    .expect("listening address")
            });
            kept_lines.push(line);
            if let Some(address) = address {
                break address;
            }
        };
        // Keep draining stderr so the exporter never blocks on a full pipe, and keep the lines.
        let log = std::sync::Arc::new(std::sync::Mutex::new(kept_lines));
        let kept = std::sync::Arc::clone(&log);
        let reader = std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                kept.lock().unwrap().push(line);
            }
        });
        Exporter {
            child: Some(child),
            address,
            log,
            reader: Some(reader),
        }
    }

    /// The log so far, one line each.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// The log lines so far.
    pub fn log_lines(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// The first log line that `wanted` accepts, waiting up to 10 s for it.
    pub fn wait_for_log(&self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        let started = std::time::Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if let Some(line) = self.log.lock().unwrap().iter().find(|l| wanted(l)) {
                return line.clone();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("no log line with {what}; the log:\n{}", self.log());
    }

    /// Kills the exporter and returns its whole log, read to the end.
    pub fn kill_and_log(mut self) -> String {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        self.log()
    }

    /// The exporter's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Sends SIGTERM and returns the exit code.
    pub fn stop(mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        for _ in 0..100 {
            if let Ok(Some(status)) = child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        panic!("exporter did not stop within 5 s of SIGTERM");
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub raw_body: Vec<u8>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub fn http_get(address: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Response {
    http_request(address, "GET", path, headers)
}

pub fn http_request(
    address: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Response {
    let mut response = http_request_raw(address, method, path, headers);
    response.body = String::from_utf8(response.raw_body.clone()).expect("UTF-8 body");
    response
}

/// The status of a GET of `path`, or what went wrong: a server still starting may take a
/// connection and reset it.
pub fn try_status(address: SocketAddr, path: &str) -> std::io::Result<u16> {
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    text.lines()
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|status| status.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no status line in {text:?}")))
}

/// Waits, for at most 60 s, until a GET of `path` answers 200; `what` names the server if it
/// does not.
pub fn wait_until_ready(address: SocketAddr, path: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = try_status(address, path);
        if matches!(status, Ok(200)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what} was not ready on {address} within 60 s: {status:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// One request on its own connection (`Connection: close`), the body read to the end.
pub fn http_request_raw(
    address: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Response {
    let mut stream = TcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut request =
        format!("{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).expect("send request");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read response");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of headers");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let body = raw[split + 4..].to_vec();
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let raw_body = if chunked { dechunk(&body) } else { body };
    Response {
        status,
        headers,
        raw_body,
        body: String::new(),
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk size line");
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .expect("chunk size");
        data = &data[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

pub fn gunzip(data: &[u8]) -> String {
    let mut text = String::new();
    flate2::read::GzDecoder::new(data)
        .read_to_string(&mut text)
        .expect("valid gzip");
    text
}

/// Replaces what changes between runs: collector durations and the build's revision and
/// compiler version.
pub fn normalize_metrics(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        if line.starts_with("ipvs_scrape_collector_duration_seconds{") {
            let series = line.rsplit_once(' ').map_or(line, |(series, _)| series);
            out.push_str(series);
            out.push_str(" 0");
        } else if line.starts_with("ipvs_exporter_build_info{") {
            out.push_str("ipvs_exporter_build_info{version=\"VERSION\",revision=\"REVISION\",rustversion=\"RUSTVERSION\"} 1");
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

/// Compares `actual` with a golden file, or rewrites the file when UPDATE_GOLDEN is set.
pub fn check_golden(path: &std::path::Path, actual: &str) {
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("create golden dir");
        }
        std::fs::write(path, actual).expect("write golden");
        return;
    }
    let expected = std::fs::read_to_string(path).unwrap_or_else(|err| {
        panic!(
            "cannot read {}: {err} (UPDATE_GOLDEN=1 writes it)",
            path.display()
        )
    });
    if expected != actual {
        let mut e = expected.lines();
        let mut a = actual.lines();
        let mut diff = "outputs differ only in line endings".to_string();
        for number in 1.. {
            match (e.next(), a.next()) {
                (None, None) => break,
                (x, y) if x == y => continue,
                (x, y) => {
                    diff = format!("line {number}:\n  golden: {x:?}\n  actual: {y:?}");
                    break;
                }
            }
        }
        panic!(
            "{} differs from the output (UPDATE_GOLDEN=1 rewrites it):\n{diff}",
            path.display()
        );
    }
}

/// Runs `conntrack -S` and sums its per-CPU lines by name. Without CAP_NET_ADMIN, conntrack
/// prints the columns of /proc/net/stat/nf_conntrack under their file names instead; those are
/// put under the names it prints over netlink, and `entries` (the table size) is left out.
/// Panics, saying why, when conntrack is not installed or fails.
pub fn conntrack_statistics() -> Vec<(String, u64)> {
    let mut last_error = None;
    for program in ["conntrack", "/usr/sbin/conntrack", "/sbin/conntrack"] {
        match std::process::Command::new(program).arg("-S").output() {
            Ok(out) if out.status.success() => {
                return parse_conntrack_statistics(&String::from_utf8_lossy(&out.stdout));
            }
            Ok(out) => panic!(
                "conntrack -S failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(err) => last_error = Some(err),
        }
    }
    panic!(
        "conntrack is not installed ({last_error:?}): install Debian's conntrack package \
         (tests/run.sh does)"
    );
}

/// Sums `conntrack -S` output (`cpu=N name=value ...`, one line per CPU) by name.
pub fn parse_conntrack_statistics(text: &str) -> Vec<(String, u64)> {
    let mut sums: Vec<(String, u64)> = Vec::new();
    for word in text.split_whitespace() {
        let (name, value) = word
            .split_once('=')
            .unwrap_or_else(|| panic!("conntrack -S printed {word:?}"));
        let name = match name {
            "cpu" | "entries" => continue,
            "clashres" => "clash_resolve",
            "chainlength" => "chaintoolong",
            "icmp_error" => "error",
            other => other,
        };
        let value: u64 = value
            .parse()
            .unwrap_or_else(|_| panic!("conntrack -S printed {word:?}"));
        match sums.iter_mut().find(|(n, _)| n == name) {
            Some((_, sum)) => *sum += value,
            None => sums.push((name.to_string(), value)),
        }
    }
    sums
}

/// The value of each series in a /metrics body, by its full text (`name{labels}`).
pub fn metric_values(body: &str) -> std::collections::HashMap<String, f64> {
    body.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.rsplit_once(' '))
        .filter_map(|(series, value)| Some((series.to_string(), value.parse().ok()?)))
        .collect()
}

/// The value of one series (`name{labels}` exactly as written) in an exposition text.
pub fn sample_value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
        })
        .and_then(|v| v.trim().parse().ok())
}

/// The generated Grafana dashboards (`dashboards/*.json` but the advisor's rule table they
/// read), sorted by name.
pub fn dashboard_files() -> Vec<std::path::PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboards");
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .expect("dashboards/ is readable")
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "json") && !p.ends_with("advisor-rules.json")
        })
        .collect();
    files.sort();
    files
}
