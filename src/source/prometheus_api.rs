//! A client of a Prometheus-compatible HTTP query API (Prometheus, Thanos, Mimir,
//! VictoriaMetrics): instant queries with `GET /api/v1/query`, over plain HTTP or TLS
//! (rustls), with a bearer token or basic auth, a client certificate and a timeout. It only
//! reads: no other endpoint is called. The answers are read by `parse::prometheus_api`.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty, Limited};
use hyper::Request;
use hyper::header::{
    ACCEPT, ACCEPT_ENCODING, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, HOST, USER_AGENT,
};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::text_file::read_text;
use crate::model::prometheus::Vector;
use crate::parse::prometheus_api::{ApiError, parse_query_response};

/// The largest answer read, compressed or not.
pub const MAX_ANSWER_BYTES: usize = 256 * 1024 * 1024;

/// The CA bundle used for `https` without `--ca-file` (Debian's, from ca-certificates), unless
/// `SSL_CERT_FILE` names another.
pub const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// How to reach the query API.
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// The API's base URL: `http://prometheus:9090`, `https://thanos/prefix`.
    pub url: String,
    pub bearer_token_file: Option<PathBuf>,
    pub basic_auth_username: Option<String>,
    pub basic_auth_password_file: Option<PathBuf>,
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    /// How long one query may take, connection to last byte.
    pub timeout: Duration,
}

/// Why the client could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("--prometheus {url:?}: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("cannot read {what} {}: {source}", path.display())]
    File {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{what} {}: {reason}", path.display())]
    Pem {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("TLS setup: {0}")]
    Tls(#[from] rustls::Error),
}

/// Why a query gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("cannot connect to {address}: {source}")]
    Connect {
        address: String,
        source: std::io::Error,
    },
    #[error("TLS handshake with {address} failed: {source}")]
    Handshake {
        address: String,
        source: std::io::Error,
    },
    #[error("HTTP exchange with {url} failed: {source}")]
    Http { url: String, source: hyper::Error },
    #[error("reading the answer of {url} failed: {reason}")]
    Body { url: String, reason: String },
    #[error("no answer from {url} within {timeout:?} (--timeout)")]
    Timeout { url: String, timeout: Duration },
    #[error("{url}: {source}")]
    Api { url: String, source: ApiError },
}

/// A query API client, set up once, used for every query.
pub struct QueryClient {
    /// `http` or `https` scheme's TLS connector and the name the server's certificate must have.
    tls: Option<(TlsConnector, ServerName<'static>)>,
    host: String,
    port: u16,
    /// The `Host` header: the URL's authority.
    authority: String,
    /// The URL's path without a trailing `/`.
    base_path: String,
    authorization: Option<String>,
    timeout: Duration,
    /// The base URL for messages.
    display: String,
}

/// The most read of a certificate, key, CA or secret file: a bundle of every public root CA
/// is a few hundred KiB.
const CREDENTIAL_FILE_BYTES: usize = 16 << 20;

fn read_file(what: &'static str, path: &Path) -> Result<Vec<u8>, ClientError> {
    let failed = |source: std::io::Error| ClientError::File {
        what,
        path: path.to_path_buf(),
        source,
    };
    // Such a file is often a link (certbot's live/, a mounted Kubernetes secret): the reader
    // takes no link in the last component, so the link is resolved first.
    let target = std::fs::canonicalize(path).map_err(failed)?;
    match read_text(&target, CREDENTIAL_FILE_BYTES) {
        Ok(Some(text)) => Ok(text.into_bytes()),
        Ok(None) => Err(failed(std::io::ErrorKind::NotFound.into())),
        Err(err) => Err(failed(err.into())),
    }
}

/// A secret file's content without its trailing newline.
fn read_secret(what: &'static str, path: &Path) -> Result<String, ClientError> {
    let bytes = read_file(what, path)?;
    let text = String::from_utf8(bytes).map_err(|_| ClientError::Pem {
        what,
        path: path.to_path_buf(),
        reason: "not UTF-8 text".to_string(),
    })?;
    Ok(text.trim_end_matches(['\n', '\r']).to_string())
}

fn certificates(
    what: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, ClientError> {
    let pem = read_file(what, path)?;
    let pem_error = |reason: String| ClientError::Pem {
        what,
        path: path.to_path_buf(),
        reason,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|err| pem_error(format!("not PEM certificates: {err}")))?;
    if certs.is_empty() {
        return Err(pem_error("no certificate in it".to_string()));
    }
    Ok(certs)
}

fn tls_connector(options: &ClientOptions) -> Result<TlsConnector, ClientError> {
    let system;
    let (what, ca_path) = match &options.ca_file {
        Some(path) => ("--ca-file", path.as_path()),
        None => {
            system = std::env::var_os("SSL_CERT_FILE")
                .map_or_else(|| PathBuf::from(SYSTEM_CA_BUNDLE), PathBuf::from);
            ("the system CA bundle", system.as_path())
        }
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in certificates(what, ca_path)? {
        roots.add(cert).map_err(|err| ClientError::Pem {
            what,
            path: ca_path.to_path_buf(),
            reason: format!("unusable CA certificate: {err}"),
        })?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    let mut config = match (&options.cert_file, &options.key_file) {
        (Some(cert), Some(key)) => {
            let chain = certificates("--cert-file", cert)?;
            let pem = read_file("--key-file", key)?;
            let key_der = PrivateKeyDer::from_pem_slice(&pem).map_err(|err| ClientError::Pem {
                what: "--key-file",
                path: key.clone(),
                reason: format!("not a PEM private key: {err}"),
            })?;
            builder.with_client_auth_cert(chain, key_der)?
        }
        _ => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsConnector::from(Arc::new(config)))
}

impl QueryClient {
    /// Checks the URL and reads the credential and TLS files.
    pub fn new(options: &ClientOptions) -> Result<QueryClient, ClientError> {
        let bad = |reason: &str| ClientError::BadUrl {
            url: options.url.clone(),
            reason: reason.to_string(),
        };
        let uri: hyper::Uri = options
            .url
            .parse()
            .map_err(|e: hyper::http::uri::InvalidUri| bad(&e.to_string()))?;
        let https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => return Err(bad("the URL must start with http:// or https://")),
        };
        if uri.query().is_some() {
            return Err(bad("the URL is the API's base, without a query string"));
        }
        let authority = uri.authority().ok_or_else(|| bad("no host in the URL"))?;
        if authority.as_str().contains('@') {
            return Err(bad(
                "credentials in the URL are not read; use --basic-auth-username and --basic-auth-password-file",
            ));
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        let tls = if https {
            let name = ServerName::try_from(host.clone())
                .map_err(|_| bad("the host is not a valid TLS server name"))?;
            Some((tls_connector(options)?, name))
        } else {
            None
        };
        let authorization = match (&options.bearer_token_file, &options.basic_auth_username) {
            (Some(path), _) => Some(format!(
                "Bearer {}",
                read_secret("--bearer-token-file", path)?
            )),
            (None, Some(user)) => {
                let password = match &options.basic_auth_password_file {
                    Some(path) => read_secret("--basic-auth-password-file", path)?,
                    None => String::new(),
                };
                let token =
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
                Some(format!("Basic {token}"))
            }
            (None, None) => None,
        };
        Ok(QueryClient {
            tls,
            host,
            port,
            authority: authority.as_str().to_string(),
            base_path: uri.path().trim_end_matches('/').to_string(),
            authorization,
            timeout: options.timeout,
            display: options.url.trim_end_matches('/').to_string(),
        })
    }

    /// The base URL, as given.
    pub fn url(&self) -> &str {
        &self.display
    }

    /// Runs one instant query at `time` (RFC 3339 or unix seconds; the server's now if none).
    pub async fn query(&self, promql: &str, time: Option<&str>) -> Result<Vector, QueryError> {
        let mut target = format!(
            "{}/api/v1/query?query={}",
            self.base_path,
            percent_encode(promql)
        );
        if let Some(time) = time {
            target.push_str(&format!("&time={}", percent_encode(time)));
        }
        let url = format!("{}/api/v1/query", self.display);
        match tokio::time::timeout(self.timeout, self.exchange(&target, &url)).await {
            Ok(answer) => answer,
            Err(_) => Err(QueryError::Timeout {
                url,
                timeout: self.timeout,
            }),
        }
    }

    /// Connects, sends the query's request (over TLS for `https`) and reads the answer.
    async fn exchange(&self, target: &str, url: &str) -> Result<Vector, QueryError> {
        let address = format!("{}:{}", self.host, self.port);
        let stream = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|source| QueryError::Connect {
                address: address.clone(),
                source,
            })?;
        let _ = stream.set_nodelay(true);
        let request = self.query_request(target, url)?;
        let http = |source| QueryError::Http {
            url: url.to_string(),
            source,
        };
        let response = match &self.tls {
            Some((connector, name)) => {
                let tls = connector
                    .connect(name.clone(), stream)
                    .await
                    .map_err(|source| QueryError::Handshake {
                        address: address.clone(),
                        source,
                    })?;
                send(TokioIo::new(tls), request).await.map_err(http)?
            }
            None => send(TokioIo::new(stream), request).await.map_err(http)?,
        };
        read_answer(response, url).await
    }

    /// The `GET` request for `target`, with the host, accepted types, user agent and the
    /// credentials, if any.
    fn query_request(&self, target: &str, url: &str) -> Result<Request<Empty<Bytes>>, QueryError> {
        let mut request = Request::get(target)
            .header(HOST, &self.authority)
            .header(ACCEPT, "application/json")
            .header(ACCEPT_ENCODING, "gzip")
            .header(
                USER_AGENT,
                format!("ipvs_exporter/{}", crate::build::VERSION),
            );
        if let Some(authorization) = &self.authorization {
            request = request.header(AUTHORIZATION, authorization);
        }
        request
            .body(Empty::<Bytes>::new())
            .map_err(|err| QueryError::Body {
                url: url.to_string(),
                reason: format!("cannot build the request: {err}"),
            })
    }
}

/// Reads a response's body (at most [`MAX_ANSWER_BYTES`], gunzipped when it says gzip) and
/// parses it as a query answer with its status and content type.
async fn read_answer(
    response: hyper::Response<hyper::body::Incoming>,
    url: &str,
) -> Result<Vector, QueryError> {
    let status = response.status().as_u16();
    let header = |name| {
        response
            .headers()
            .get(name)
            .and_then(|v: &hyper::header::HeaderValue| v.to_str().ok())
            .map(str::to_string)
    };
    let content_type = header(CONTENT_TYPE);
    let gzip = header(CONTENT_ENCODING).is_some_and(|e| e.eq_ignore_ascii_case("gzip"));
    let body_error = |reason: String| QueryError::Body {
        url: url.to_string(),
        reason,
    };
    let body = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
        .collect()
        .await
        .map_err(|err| body_error(err.to_string()))?
        .to_bytes();
    let body = if gzip {
        gunzip_answer(&body).map_err(body_error)?
    } else {
        body.to_vec()
    };
    parse_query_response(status, content_type.as_deref(), &body).map_err(|source| QueryError::Api {
        url: url.to_string(),
        source,
    })
}

/// A gzip body decompressed, refused (with the reason) when bad or larger than
/// [`MAX_ANSWER_BYTES`] once decompressed.
fn gunzip_answer(body: &[u8]) -> Result<Vec<u8>, String> {
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(body)
        .take(MAX_ANSWER_BYTES as u64 + 1)
        .read_to_end(&mut plain)
        .map_err(|err| format!("bad gzip: {err}"))?;
    if plain.len() > MAX_ANSWER_BYTES {
        return Err(format!("larger than {MAX_ANSWER_BYTES} bytes"));
    }
    Ok(plain)
}

/// One request on a fresh HTTP/1.1 connection.
async fn send<I>(
    io: I,
    request: Request<Empty<Bytes>>,
) -> Result<hyper::Response<hyper::body::Incoming>, hyper::Error>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await?;
    let driver = tokio::spawn(async move {
        if let Err(err) = connection.await {
            tracing::debug!(error = %err, "query API connection ended");
        }
    });
    let response = sender.send_request(request).await;
    // the body is read through the connection the driver runs; it ends with the connection
    drop(driver);
    response
}

/// Percent-encodes a query string value (RFC 3986 unreserved characters are kept).
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(byte));
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_percent_encoded() {
        assert_eq!(
            percent_encode("up{job=\"a b\"} == 1"),
            "up%7Bjob%3D%22a%20b%22%7D%20%3D%3D%201"
        );
        assert_eq!(
            percent_encode("2026-12-05T18:00:00+01:00"),
            "2026-12-05T18%3A00%3A00%2B01%3A00"
        );
    }

    #[test]
    fn urls_are_checked_before_anything_is_sent() {
        let client = |url: &str| {
            QueryClient::new(&ClientOptions {
                url: url.to_string(),
                timeout: Duration::from_secs(1),
                ..ClientOptions::default()
            })
        };
        for bad in [
            "prometheus:9090",
            "ftp://prometheus",
            "http://u:p@prometheus:9090",
            "http://prometheus:9090/?x=1",
            "http://",
        ] {
            assert!(client(bad).is_err(), "{bad}");
        }
        let ok = client("http://[::1]:9090/prefix/").expect("a valid URL");
        assert_eq!((ok.host.as_str(), ok.port), ("::1", 9090));
        assert_eq!(ok.base_path, "/prefix");
        assert_eq!(ok.authority, "[::1]:9090");
        let default_port = client("http://prometheus").expect("a valid URL");
        assert_eq!(
            (default_port.port, default_port.base_path.as_str()),
            (80, "")
        );
    }

    #[test]
    fn credentials_become_the_authorization_header() {
        let dir = std::env::temp_dir().join(format!("ipvs-fleet-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let token = dir.join("token");
        std::fs::write(&token, "s3cret\n").unwrap();
        let options = ClientOptions {
            url: "http://p:9090".into(),
            timeout: Duration::from_secs(1),
            ..ClientOptions::default()
        };
        let bearer = QueryClient::new(&ClientOptions {
            bearer_token_file: Some(token.clone()),
            ..options.clone()
        })
        .unwrap();
        assert_eq!(bearer.authorization.as_deref(), Some("Bearer s3cret"));
        let basic = QueryClient::new(&ClientOptions {
            basic_auth_username: Some("fleet".into()),
            basic_auth_password_file: Some(token.clone()),
            ..options.clone()
        })
        .unwrap();
        // base64("fleet:s3cret"), as `printf fleet:s3cret | base64` prints it
        assert_eq!(
            basic.authorization.as_deref(),
            Some("Basic ZmxlZXQ6czNjcmV0")
        );
        let missing = QueryClient::new(&ClientOptions {
            bearer_token_file: Some(dir.join("absent")),
            ..options
        });
        assert!(matches!(missing, Err(ClientError::File { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
