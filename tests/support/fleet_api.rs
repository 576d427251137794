//! A fake Prometheus query API on 127.0.0.1 for `ipvs_exporter fleet`: it answers each of
//! fleet's queries (as the binary writes them with the default flags) from a fixture of
//! tests/fixtures/fleet, refuses any other query as Prometheus does a bad one, and records the
//! parameters of every request it gets.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};

use ipvs_exporter::fleet::queries::{Query, QueryOptions};

/// How the fake server answers.
#[derive(Clone)]
pub enum Mode {
    /// The fixture's samples as the query API's JSON.
    Fixture(String),
    /// Every request refused with 401 unless it carries this bearer token.
    FixtureWithToken(String, String),
    /// A web page, 200.
    Html,
    /// 404 with a plain text body, as a server without the API.
    NotFound,
    /// Reads the request and never answers.
    Silent,
}

pub struct FakeApi {
    pub address: SocketAddr,
    /// Each request's decoded query parameters.
    requests: Arc<Mutex<Vec<BTreeMap<String, String>>>>,
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b'%' if at + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[at + 1..at + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                at += 3;
            }
            b'+' => {
                out.push(b' ');
                at += 1;
            }
            b => {
                out.push(b);
                at += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

/// The PromQL of each query, as the binary writes it with the default flags.
fn query_names() -> BTreeMap<String, String> {
    let options = QueryOptions {
        selector: "job=\"ipvs_exporter\"".into(),
        cluster_label: "cluster".into(),
        lookback: "3600s".into(),
    };
    Query::ALL
        .into_iter()
        .map(|q| (q.promql(&options), q.name()))
        .collect()
}

/// The API's JSON for a fixture's answer to one query.
fn vector_json(fixture: &serde_json::Value, name: &str) -> String {
    let samples = fixture[name].as_array().cloned().unwrap_or_default();
    let result: Vec<serde_json::Value> = samples
        .iter()
        .map(|pair| {
            let mut metric = pair[0].as_object().unwrap().clone();
            metric
                .entry("job")
                .or_insert_with(|| serde_json::Value::from("ipvs_exporter"));
            let value = pair[1].as_f64().unwrap().to_string();
            serde_json::json!({"metric": metric, "value": [1_764_957_600.5, value]})
        })
        .collect();
    serde_json::json!({"status": "success", "data": {"resultType": "vector", "result": result}})
        .to_string()
}

fn reply(status: &str, content_type: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// Reads one request from `stream`, records its parameters and answers it as `mode` says.
fn serve_one(
    stream: &mut (impl Read + Write),
    mode: &Mode,
    names: &BTreeMap<String, String>,
    seen: &Mutex<Vec<BTreeMap<String, String>>>,
) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head).to_string();
    let target = head.split_whitespace().nth(1).unwrap_or("").to_string();
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let params: BTreeMap<String, String> = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), decode(v)))
        .collect();
    let authorization = head
        .lines()
        .find_map(|l| {
            l.split_once(':')
                .filter(|(n, _)| n.eq_ignore_ascii_case("authorization"))
        })
        .map(|(_, v)| v.trim().to_string());
    seen.lock().unwrap().push(params.clone());
    let fixture_reply = |name: &str| {
        let text = std::fs::read_to_string(format!(
            "{}/tests/fixtures/fleet/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let fixture: serde_json::Value = serde_json::from_str(&text).unwrap();
        if path != "/api/v1/query" {
            return reply("404 Not Found", "text/plain", "404 page not found");
        }
        match params.get("query").and_then(|q| names.get(q)) {
            Some(query) => reply("200 OK", "application/json", &vector_json(&fixture, query)),
            None => reply(
                "400 Bad Request",
                "application/json",
                r#"{"status":"error","errorType":"bad_data","error":"a query the fixtures do not know"}"#,
            ),
        }
    };
    let answer = match mode {
        Mode::Fixture(name) => fixture_reply(name),
        Mode::FixtureWithToken(name, token) => {
            if authorization.as_deref() == Some(&format!("Bearer {token}")) {
                fixture_reply(name)
            } else {
                reply("401 Unauthorized", "text/plain", "Unauthorized\n")
            }
        }
        Mode::Html => reply(
            "200 OK",
            "text/html; charset=utf-8",
            "<!DOCTYPE html><html><head><title>Grafana</title></head></html>",
        ),
        Mode::NotFound => reply("404 Not Found", "text/plain", "404 page not found"),
        Mode::Silent => {
            std::thread::sleep(std::time::Duration::from_secs(30));
            return;
        }
    };
    let _ = stream.write_all(answer.as_bytes());
    let _ = stream.flush();
}

impl FakeApi {
    /// Serves plain HTTP.
    pub fn start(mode: Mode) -> FakeApi {
        FakeApi::serve(mode, None)
    }

    /// Serves HTTPS with this rustls configuration.
    pub fn start_tls(mode: Mode, tls: Arc<rustls::ServerConfig>) -> FakeApi {
        FakeApi::serve(mode, Some(tls))
    }

    fn serve(mode: Mode, tls: Option<Arc<rustls::ServerConfig>>) -> FakeApi {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let address = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        let names = query_names();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (mode, names, seen, tls) =
                    (mode.clone(), names.clone(), Arc::clone(&seen), tls.clone());
                // one thread per connection, so that a silent answer holds up no other
                std::thread::spawn(move || match tls {
                    Some(config) => {
                        let Ok(connection) = rustls::ServerConnection::new(config) else {
                            return;
                        };
                        let mut tls_stream = rustls::StreamOwned::new(connection, stream);
                        serve_one(&mut tls_stream, &mode, &names, &seen);
                        tls_stream.conn.send_close_notify();
                        let _ = tls_stream.flush();
                    }
                    None => {
                        let mut stream = stream;
                        serve_one(&mut stream, &mode, &names, &seen);
                    }
                });
            }
        });
        FakeApi { address, requests }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    pub fn requests(&self) -> Vec<BTreeMap<String, String>> {
        self.requests.lock().unwrap().clone()
    }
}
