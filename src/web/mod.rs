//! The HTTP server. [`connection`] owns a connection's life from its accept to its close
//! (the cap, the TLS handshake of [`handshake`], the deadlines that keep slow or idle clients
//! from starving a scrape); [`routes`] turns a request into a response. Here too: the web
//! configuration file (TLS, basic auth, response headers) with its reloading, and the
//! listening sockets.

pub mod auth;
pub mod config;
pub mod connection;
pub mod handshake;
pub mod listen;
pub mod routes;
pub mod tls;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use hyper::header::{HeaderName, HeaderValue};

use auth::BasicAuth;
pub use config::ConfigError;

/// One loaded state of the web configuration.
#[derive(Debug, Default)]
pub struct Active {
    /// The TLS setup; `None` serves plain HTTP.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// The users; `None` lets every request in.
    pub auth: Option<Arc<BasicAuth>>,
    /// Headers added to every response.
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

/// What identifies one version of a file: change any and the file is read again.
type Stamp = Option<(SystemTime, u64, u64)>;

fn stamp(path: &Path) -> Stamp {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len(), meta.ino()))
}

struct Loaded {
    /// The configuration file and the files it names, with their stamps when read.
    stamps: Vec<(PathBuf, Stamp)>,
    active: Arc<Active>,
    /// Stamps of a version that failed to load, so that its error is logged once.
    failed: Option<Vec<Stamp>>,
}

/// The web configuration, re-read when the file or a certificate, key or CA file it names
/// changes (checked as connections and requests arrive), so that a rotated certificate is
/// served without a restart. A changed file that does not load is logged and the last good
/// version stays in force, as does one that would turn TLS on or off or basic auth off.
pub struct WebConfig {
    path: Option<PathBuf>,
    loaded: Mutex<Loaded>,
}

impl WebConfig {
    /// No file: plain HTTP, no auth.
    pub fn none() -> WebConfig {
        WebConfig {
            path: None,
            loaded: Mutex::new(Loaded {
                stamps: Vec::new(),
                active: Arc::new(Active::default()),
                failed: None,
            }),
        }
    }

    /// Loads the file now; any problem is an error (the program stops before it listens).
    pub fn load(path: &Path) -> Result<WebConfig, ConfigError> {
        let (active, stamps) = load_file(path)?;
        Ok(WebConfig {
            path: Some(path.to_path_buf()),
            loaded: Mutex::new(Loaded {
                stamps,
                active: Arc::new(active),
                failed: None,
            }),
        })
    }

    /// The configuration in force, after re-reading the files if they changed.
    pub fn current(&self) -> Arc<Active> {
        let Ok(mut loaded) = self.loaded.lock() else {
            return Arc::new(Active::default());
        };
        let Some(path) = &self.path else {
            return Arc::clone(&loaded.active);
        };
        let now: Vec<Stamp> = loaded.stamps.iter().map(|(p, _)| stamp(p)).collect();
        let unchanged = loaded
            .stamps
            .iter()
            .zip(&now)
            .all(|((_, old), new)| old == new);
        if unchanged || loaded.failed.as_ref() == Some(&now) {
            return Arc::clone(&loaded.active);
        }
        // Reading certificates and hashing the decoy password block: on the server's
        // multi-threaded runtime, tell it so that other tasks move to another thread.
        let reloaded = match tokio::runtime::Handle::try_current() {
            Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| load_file(path))
            }
            _ => load_file(path),
        };
        match reloaded {
            Ok((active, stamps)) => {
                if active.tls.is_some() != loaded.active.tls.is_some() {
                    tracing::error!(
                        file = %path.display(),
                        "web configuration changed whether TLS is on; that needs a restart, keeping the previous configuration"
                    );
                    loaded.failed = Some(now);
                } else if active.auth.is_none() && loaded.active.auth.is_some() {
                    // Also what a file caught half-written (emptied, not yet filled) looks
                    // like: never open the door on a reload.
                    tracing::error!(
                        file = %path.display(),
                        "web configuration no longer has basic_auth_users; turning basic auth off needs a restart, keeping the previous configuration"
                    );
                    loaded.failed = Some(now);
                } else {
                    tracing::info!(file = %path.display(), "web configuration reloaded");
                    loaded.active = Arc::new(active);
                    loaded.stamps = stamps;
                    loaded.failed = None;
                }
            }
            Err(err) => {
                tracing::error!(error = %err, "web configuration not reloaded; keeping the previous one");
                loaded.failed = Some(now);
            }
        }
        Arc::clone(&loaded.active)
    }

    /// Whether the listeners speak TLS.
    pub fn tls_enabled(&self) -> bool {
        self.current().tls.is_some()
    }
}

fn load_file(path: &Path) -> Result<(Active, Vec<(PathBuf, Stamp)>), ConfigError> {
    // Stamp before reading: a change made while reading is seen next time.
    let mut stamps = vec![(path.to_path_buf(), stamp(path))];
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let file = config::parse(path, &text)?;
    let invalid = |key: String, message: String| ConfigError::Invalid {
        path: path.to_path_buf(),
        line: None,
        key,
        message,
    };
    let mut active = Active::default();
    if let Some(tls_config) = &file.tls_server_config {
        for file in tls::watched_files(path, tls_config) {
            let file_stamp = stamp(&file);
            stamps.push((file, file_stamp));
        }
        let server = tls::server_config(path, tls_config)
            .map_err(|err| invalid(format!("tls_server_config.{}", err.key), err.message))?;
        active.tls = Some(Arc::new(server));
    }
    if let Some(users) = file.basic_auth_users {
        let auth = BasicAuth::new(users)
            .map_err(|err| invalid("basic_auth_users".into(), err.to_string()))?;
        active.auth = Some(Arc::new(auth));
    }
    if let Some(http) = file.http_server_config {
        if http.http2 == Some(true) {
            tracing::info!("http_server_config.http2: HTTP/2 is not offered; clients use HTTP/1.1");
        }
        for (header, value) in http.headers {
            let value = HeaderValue::from_str(&value).map_err(|_| {
                invalid(
                    format!("http_server_config.headers.{}", header.name()),
                    "not a valid header value".into(),
                )
            })?;
            active
                .headers
                .push((HeaderName::from_static(lowercase_name(header)), value));
        }
    }
    Ok((active, stamps))
}

fn lowercase_name(header: config::ResponseHeader) -> &'static str {
    use config::ResponseHeader::*;
    match header {
        StrictTransportSecurity => "strict-transport-security",
        XContentTypeOptions => "x-content-type-options",
        XFrameOptions => "x-frame-options",
        XXssProtection => "x-xss-protection",
        ContentSecurityPolicy => "content-security-policy",
    }
}

#[cfg(test)]
mod tests {
    /// TLS is rustls on ring: neither OpenSSL nor aws-lc (which builds C with cmake) may come
    /// in through any dependency, development ones included.
    #[test]
    fn no_openssl_or_aws_lc_in_the_lock_file() {
        let lock = include_str!("../../Cargo.lock");
        let names: Vec<&str> = lock
            .lines()
            .filter_map(|line| line.strip_prefix("name = \""))
            .map(|rest| rest.trim_end_matches('"'))
            .collect();
        assert!(names.contains(&"rustls") && names.contains(&"ring"));
        for name in names {
            assert!(
                !(name.starts_with("openssl")
                    || name.starts_with("aws-lc")
                    || name == "native-tls"),
                "{name} is in Cargo.lock"
            );
        }
    }
}
