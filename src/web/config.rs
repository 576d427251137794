//! The web configuration file, in the format of the Prometheus exporter-toolkit
//! (`--web.config.file`): its YAML model, read strictly (an unknown key is an error), and the
//! checks that need more than one key. Turning it into a TLS setup and an authenticator is
//! done by [`super::tls`] and [`super::auth`].

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::{self, Deserializer};

/// The whole file. Every section is optional; an empty file means plain HTTP, no auth.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfigFile {
    #[serde(default)]
    pub tls_server_config: Option<TlsServerConfig>,
    #[serde(default)]
    pub http_server_config: Option<HttpServerConfig>,
    #[serde(default)]
    pub basic_auth_users: Option<BTreeMap<String, BcryptHash>>,
    /// The toolkit's request rate limiter: recognised so that it is refused by name rather
    /// than reported as an unknown key.
    #[serde(default)]
    pub rate_limit: Option<serde_norway::Value>,
}

/// `tls_server_config`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsServerConfig {
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    /// The certificate chain inline, in PEM.
    pub cert: Option<String>,
    /// The private key inline, in PEM.
    pub key: Option<String>,
    pub client_ca_file: Option<PathBuf>,
    /// Client CA certificates inline, in PEM.
    pub client_ca: Option<String>,
    #[serde(default)]
    pub client_auth_type: ClientAuthType,
    pub client_allowed_sans: Option<Vec<String>>,
    #[serde(rename = "min_version")]
    min_version_name: Option<String>,
    #[serde(rename = "max_version")]
    max_version_name: Option<String>,
    #[serde(default, rename = "cipher_suites")]
    cipher_suite_names: Vec<String>,
    #[serde(default, rename = "curve_preferences")]
    curve_names: Vec<String>,
    pub prefer_server_cipher_suites: Option<bool>,
    /// The typed values of the named settings above, filled in by [`parse`].
    #[serde(skip)]
    pub min_version: Option<TlsVersion>,
    #[serde(skip)]
    pub max_version: Option<TlsVersion>,
    #[serde(skip)]
    pub cipher_suites: Vec<CipherSuiteName>,
    #[serde(skip)]
    pub curve_preferences: Vec<CurveName>,
}

/// `http_server_config`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpServerConfig {
    /// Whether HTTP/2 may be negotiated. This server speaks HTTP/1.1 only, which every
    /// Prometheus negotiates; the key is accepted so that a node_exporter file loads.
    pub http2: Option<bool>,
    #[serde(default)]
    pub headers: BTreeMap<ResponseHeader, String>,
}

/// `client_auth_type`, with the toolkit's names (Go's `tls.ClientAuthType`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum ClientAuthType {
    #[default]
    NoClientCert,
    RequestClientCert,
    /// `RequireClientCert` is the toolkit's older name for it.
    #[serde(alias = "RequireClientCert")]
    RequireAnyClientCert,
    VerifyClientCertIfGiven,
    RequireAndVerifyClientCert,
}

impl ClientAuthType {
    /// Whether a client must present a certificate.
    pub fn requires_certificate(self) -> bool {
        matches!(
            self,
            ClientAuthType::RequireAnyClientCert | ClientAuthType::RequireAndVerifyClientCert
        )
    }

    /// Whether a presented certificate is checked against the client CAs.
    pub fn verifies(self) -> bool {
        matches!(
            self,
            ClientAuthType::VerifyClientCertIfGiven | ClientAuthType::RequireAndVerifyClientCert
        )
    }
}

/// A TLS protocol version rustls can speak. TLS 1.0 and 1.1 are recognised and refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    Tls12,
    Tls13,
}

impl TlsVersion {
    fn from_name(name: &str) -> Result<Self, String> {
        match name {
            "TLS12" => Ok(TlsVersion::Tls12),
            "TLS13" => Ok(TlsVersion::Tls13),
            "TLS10" | "TLS11" => Err(format!(
                "{name} is not supported: rustls speaks TLS 1.2 and 1.3 only (use TLS12 or TLS13)"
            )),
            _ => Err(format!(
                "unknown TLS version {name:?} (expected TLS12 or TLS13)"
            )),
        }
    }
}

/// A TLS 1.2 cipher suite by its IANA name (as Go and the toolkit spell them), limited to
/// those rustls implements. TLS 1.3 suites are not configurable, as in Go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CipherSuiteName(pub rustls::CipherSuite);

impl CipherSuiteName {
    fn from_name(name: &str) -> Result<Self, String> {
        // Go also accepts the ChaCha20 suites without the `_SHA256` suffix.
        let canonical = match name {
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305" => "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305" => {
                "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"
            }
            other => other,
        };
        let supported = tls12_suites();
        supported
            .iter()
            .find(|suite| suite.suite().as_str() == Some(canonical))
            .map(|suite| CipherSuiteName(suite.suite()))
            .ok_or_else(|| {
                let names: Vec<&str> = supported
                    .iter()
                    .filter_map(|suite| suite.suite().as_str())
                    .collect();
                format!(
                    "cipher suite {name:?} is not supported by rustls (supported: {})",
                    names.join(", ")
                )
            })
    }
}

/// The TLS 1.2 suites of the ring provider.
pub fn tls12_suites() -> Vec<rustls::SupportedCipherSuite> {
    rustls::crypto::ring::ALL_CIPHER_SUITES
        .iter()
        .filter(|suite| suite.version() == &rustls::version::TLS12)
        .copied()
        .collect()
}

/// A key-exchange group by the toolkit's name. P-521 is recognised and refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CurveName {
    X25519,
    P256,
    P384,
}

impl CurveName {
    fn from_name(name: &str) -> Result<Self, String> {
        match name {
            "X25519" => Ok(CurveName::X25519),
            "CurveP256" => Ok(CurveName::P256),
            "CurveP384" => Ok(CurveName::P384),
            _ => Err(format!(
                "curve {name:?} is not supported by rustls's ring provider (supported: X25519, CurveP256, CurveP384)"
            )),
        }
    }
}

/// The response headers the toolkit lets a configuration set, and nothing else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
pub enum ResponseHeader {
    #[serde(rename = "Strict-Transport-Security")]
    StrictTransportSecurity,
    #[serde(rename = "X-Content-Type-Options")]
    XContentTypeOptions,
    #[serde(rename = "X-Frame-Options")]
    XFrameOptions,
    #[serde(rename = "X-XSS-Protection")]
    XXssProtection,
    #[serde(rename = "Content-Security-Policy")]
    ContentSecurityPolicy,
}

impl ResponseHeader {
    pub fn name(self) -> &'static str {
        match self {
            ResponseHeader::StrictTransportSecurity => "Strict-Transport-Security",
            ResponseHeader::XContentTypeOptions => "X-Content-Type-Options",
            ResponseHeader::XFrameOptions => "X-Frame-Options",
            ResponseHeader::XXssProtection => "X-XSS-Protection",
            ResponseHeader::ContentSecurityPolicy => "Content-Security-Policy",
        }
    }

    /// The values allowed, when the header is an enumeration.
    pub fn allowed_values(self) -> &'static [&'static str] {
        match self {
            ResponseHeader::XContentTypeOptions => &["nosniff"],
            ResponseHeader::XFrameOptions => &["deny", "sameorigin"],
            _ => &[],
        }
    }
}

/// A bcrypt hash, checked when the file is read.
#[derive(Clone, PartialEq, Eq)]
pub struct BcryptHash(pub String);

impl fmt::Debug for BcryptHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BcryptHash(..)")
    }
}

impl BcryptHash {
    /// The hash's cost factor.
    pub fn cost(&self) -> u32 {
        self.0
            .parse::<bcrypt::HashParts>()
            .map(|parts| parts.get_cost())
            .unwrap_or(bcrypt::DEFAULT_COST)
    }
}

impl<'de> Deserialize<'de> for BcryptHash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let hash = String::deserialize(deserializer)?;
        match hash.parse::<bcrypt::HashParts>() {
            Ok(_) => Ok(BcryptHash(hash)),
            Err(err) => Err(de::Error::custom(format!(
                "not a bcrypt hash ({err}); make one with `htpasswd -nBC 10 \"\" | tr -d ':\\n'`"
            ))),
        }
    }
}

/// Why a web configuration file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("{path}: {key}{}: {message}", line_suffix(*.line))]
    Invalid {
        path: PathBuf,
        key: String,
        line: Option<usize>,
        message: String,
    },
}

fn line_suffix(line: Option<usize>) -> String {
    line.map(|l| format!(" (line {l})")).unwrap_or_default()
}

/// Parses the text of a web configuration file strictly. The file's path is only for the
/// error messages, which name the key and line at fault.
pub fn parse(path: &Path, text: &str) -> Result<WebConfigFile, ConfigError> {
    // An empty document is an empty configuration.
    if text.trim().is_empty() {
        return Ok(WebConfigFile::default());
    }
    let mut file: WebConfigFile =
        serde_norway::from_str(text).map_err(|err| ConfigError::Syntax {
            path: path.to_path_buf(),
            message: with_line(text, &err),
        })?;
    let invalid = |key: &str, message: String| ConfigError::Invalid {
        path: path.to_path_buf(),
        key: key.to_string(),
        line: line_of(text, key.rsplit('.').next().unwrap_or(key)),
        message,
    };
    if file.rate_limit.is_some() {
        return Err(invalid(
            "rate_limit",
            "not supported by ipvs_exporter (it caps connections and parallel scrapes instead: see --web.max-connections and --web.max-requests)".into(),
        ));
    }
    if let Some(http) = &file.http_server_config {
        for (header, value) in &http.headers {
            let allowed = header.allowed_values();
            if !allowed.is_empty() && !allowed.contains(&value.as_str()) {
                return Err(invalid(
                    &format!("http_server_config.headers.{}", header.name()),
                    format!("{value:?} is not one of {allowed:?}"),
                ));
            }
            if hyper::header::HeaderValue::from_str(value).is_err() {
                return Err(invalid(
                    &format!("http_server_config.headers.{}", header.name()),
                    "not a valid header value".into(),
                ));
            }
        }
    }
    if let Some(tls) = &mut file.tls_server_config {
        type_names(tls)
            .map_err(|(key, message)| invalid(&format!("tls_server_config.{key}"), message))?;
        check_tls(tls)
            .map_err(|(key, message)| invalid(&format!("tls_server_config.{key}"), message))?;
    }
    Ok(file)
}

/// Turns the named versions, suites and curves into typed values.
fn type_names(tls: &mut TlsServerConfig) -> Result<(), (&'static str, String)> {
    tls.min_version = tls
        .min_version_name
        .as_deref()
        .map(TlsVersion::from_name)
        .transpose()
        .map_err(|m| ("min_version", m))?;
    tls.max_version = tls
        .max_version_name
        .as_deref()
        .map(TlsVersion::from_name)
        .transpose()
        .map_err(|m| ("max_version", m))?;
    tls.cipher_suites = tls
        .cipher_suite_names
        .iter()
        .map(|n| CipherSuiteName::from_name(n))
        .collect::<Result<_, _>>()
        .map_err(|m| ("cipher_suites", m))?;
    tls.curve_preferences = tls
        .curve_names
        .iter()
        .map(|n| CurveName::from_name(n))
        .collect::<Result<_, _>>()
        .map_err(|m| ("curve_preferences", m))?;
    Ok(())
}

/// The checks on `tls_server_config` that involve more than one key.
fn check_tls(tls: &TlsServerConfig) -> Result<(), (&'static str, String)> {
    match (&tls.cert_file, &tls.cert) {
        (None, None) => {
            return Err((
                "cert_file",
                "missing: one of cert_file or cert is needed".into(),
            ));
        }
        (Some(_), Some(_)) => return Err(("cert", "give cert_file or cert, not both".into())),
        _ => {}
    }
    match (&tls.key_file, &tls.key) {
        (None, None) => {
            return Err((
                "key_file",
                "missing: one of key_file or key is needed".into(),
            ));
        }
        (Some(_), Some(_)) => return Err(("key", "give key_file or key, not both".into())),
        _ => {}
    }
    if tls.client_ca_file.is_some() && tls.client_ca.is_some() {
        return Err((
            "client_ca",
            "give client_ca_file or client_ca, not both".into(),
        ));
    }
    let has_ca = tls.client_ca_file.is_some() || tls.client_ca.is_some();
    if has_ca && tls.client_auth_type == ClientAuthType::NoClientCert {
        return Err((
            "client_ca_file",
            "client CAs are set but client_auth_type is NoClientCert (set VerifyClientCertIfGiven or RequireAndVerifyClientCert)".into(),
        ));
    }
    if tls.client_auth_type.verifies() && !has_ca {
        return Err((
            "client_auth_type",
            format!(
                "{:?} needs client_ca_file to verify client certificates against",
                tls.client_auth_type
            ),
        ));
    }
    if tls.client_allowed_sans.is_some() && !tls.client_auth_type.requires_certificate() {
        return Err((
            "client_allowed_sans",
            "needs client_auth_type RequireAnyClientCert or RequireAndVerifyClientCert".into(),
        ));
    }
    if let (Some(min), Some(max)) = (tls.min_version, tls.max_version)
        && max < min
    {
        return Err(("max_version", "is below min_version".to_string()));
    }
    if !tls.cipher_suites.is_empty() && tls.min_version == Some(TlsVersion::Tls13) {
        return Err((
            "cipher_suites",
            "only applies to TLS 1.2, but min_version is TLS13".into(),
        ));
    }
    Ok(())
}

/// The parser's message, with the line of an unknown key where the parser gives none (it
/// gives none at the top level).
fn with_line(text: &str, err: &serde_norway::Error) -> String {
    let message = err.to_string();
    if message.contains(" at line ") {
        return message;
    }
    let line = message
        .split_once("unknown field `")
        .and_then(|(_, rest)| rest.split_once('`'))
        .and_then(|(key, _)| line_of(text, key));
    match line {
        Some(line) => format!("{message} at line {line}"),
        None => message,
    }
}

/// The 1-based line of the first `key:` in the text, for error messages.
fn line_of(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|line| {
            let line = line.trim_start().trim_start_matches("- ");
            line.strip_prefix(key)
                .or_else(|| line.strip_prefix(&format!("\"{key}\"")))
                .or_else(|| line.strip_prefix(&format!("'{key}'")))
                .is_some_and(|rest| rest.trim_start().starts_with(':'))
        })
        .map(|index| index + 1)
}

/// Resolves a path from the file relative to the file's directory, as the toolkit does.
pub fn resolve(config_path: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        return path.to_path_buf();
    }
    match config_path.parent() {
        Some(dir) => dir.join(path),
        None => path.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_text(text: &str) -> Result<WebConfigFile, String> {
        parse(Path::new("web.yml"), text).map_err(|e| e.to_string())
    }

    #[test]
    fn a_full_toolkit_file_loads() {
        let file = parse_text(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_ca_file: ca.crt\n  client_auth_type: RequireAndVerifyClientCert\n  client_allowed_sans: [prometheus.example]\n  min_version: TLS12\n  max_version: TLS13\n  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305]\n  curve_preferences: [X25519, CurveP256]\n  prefer_server_cipher_suites: true\nhttp_server_config:\n  http2: false\n  headers:\n    X-Frame-Options: deny\n    Strict-Transport-Security: max-age=31536000\nbasic_auth_users:\n  prometheus: $2y$10$.9CBJvlQsVUGPSmIs/SdDe3OnwlhapbBvcdw4/K5c9ZRpzlJyYhZ2\n",
        )
        .expect("valid");
        let tls = file.tls_server_config.expect("tls");
        assert_eq!(
            tls.client_auth_type,
            ClientAuthType::RequireAndVerifyClientCert
        );
        assert_eq!(tls.cipher_suites.len(), 2);
        assert_eq!(tls.curve_preferences, [CurveName::X25519, CurveName::P256]);
        assert_eq!(file.basic_auth_users.expect("users").len(), 1);
    }

    #[test]
    fn the_readme_example_loads_and_its_password_is_right() {
        let readme = include_str!("../../README.md");
        let section = readme
            .split_once("## Web configuration")
            .map(|(_, rest)| rest)
            .expect("section");
        let yaml = section
            .split_once("```yaml\n")
            .and_then(|(_, rest)| rest.split_once("```"))
            .map(|(yaml, _)| yaml)
            .expect("example");
        let file = parse_text(yaml).expect("the README's example is valid");
        let users = file.basic_auth_users.expect("users");
        let hash = &users.get("prometheus").expect("user").0;
        assert!(bcrypt::verify("changeme", hash).expect("verify"));
    }

    #[test]
    fn an_empty_file_is_plain_http() {
        let file = parse_text("\n").expect("empty is fine");
        assert!(file.tls_server_config.is_none() && file.basic_auth_users.is_none());
    }

    #[test]
    fn errors_name_the_key_and_the_line() {
        let cases = [
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  cert_flie: c\n",
                "cert_flie",
                "line 4",
            ),
            (
                "basic_auth_users:\n  alice: plaintext\n",
                "basic_auth_users",
                "line 2",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS10\n",
                "TLS10 is not supported",
                "line 4",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  cipher_suites: [TLS_RSA_WITH_AES_128_CBC_SHA]\n",
                "not supported by rustls",
                "line 4",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  curve_preferences: [CurveP521]\n",
                "CurveP521",
                "line 4",
            ),
            (
                "http_server_config:\n  headers:\n    X-Powered-By: me\n",
                "X-Powered-By",
                "line 3",
            ),
            (
                "http_server_config:\n  headers:\n    X-Frame-Options: allow\n",
                "X-Frame-Options",
                "line 3",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: Sometimes\n",
                "Sometimes",
                "line 4",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_ca_file: ca\n",
                "client_ca_file (line 4)",
                "NoClientCert",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: RequestClientCert\n  client_allowed_sans: [x]\n",
                "client_allowed_sans (line 5)",
                "RequireAnyClientCert",
            ),
            (
                "tls_server_config:\n  key_file: b\n",
                "cert_file",
                "missing",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS13\n  max_version: TLS12\n",
                "max_version (line 5)",
                "below min_version",
            ),
            (
                "rate_limit:\n  burst: 1\n",
                "rate_limit (line 1)",
                "not supported",
            ),
            ("basic_auth_user:\n  a: b\n", "basic_auth_user", "line 1"),
        ];
        for (text, want_a, want_b) in cases {
            let err = parse_text(text).expect_err(text);
            assert!(
                err.contains(want_a) && err.contains(want_b),
                "{text:?} gave {err:?}"
            );
        }
    }

    #[test]
    fn relative_paths_are_next_to_the_file() {
        assert_eq!(
            resolve(
                Path::new("/etc/ipvs_exporter/web.yml"),
                Path::new("tls/server.crt")
            ),
            PathBuf::from("/etc/ipvs_exporter/tls/server.crt")
        );
        assert_eq!(
            resolve(
                Path::new("/etc/ipvs_exporter/web.yml"),
                Path::new("/srv/a.crt")
            ),
            PathBuf::from("/srv/a.crt")
        );
    }
}
