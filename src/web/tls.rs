//! Builds the rustls server configuration from `tls_server_config`: the certificate and key,
//! the five client-authentication policies, the client SAN allowlist, protocol versions,
//! cipher suites and key-exchange groups. Crypto comes from rustls's `ring` provider.

use std::path::Path;
use std::sync::Arc;

use rustls::DistinguishedName;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};

use super::config::{
    ClientAuthType, CurveName, TlsServerConfig, TlsVersion, resolve, tls12_suites,
};

/// A problem with the TLS settings, naming the key it comes from.
#[derive(Debug, thiserror::Error)]
#[error("tls_server_config.{key}: {message}")]
pub struct TlsError {
    pub key: &'static str,
    pub message: String,
}

fn error(key: &'static str, message: impl Into<String>) -> TlsError {
    TlsError {
        key,
        message: message.into(),
    }
}

/// Reads PEM from `file` (relative to the configuration file) or takes the inline text.
fn pem_bytes(
    config_path: &Path,
    file: Option<&Path>,
    inline: Option<&str>,
    key: &'static str,
) -> Result<Vec<u8>, TlsError> {
    match (file, inline) {
        (Some(file), _) => {
            let path = resolve(config_path, file);
            std::fs::read(&path)
                .map_err(|err| error(key, format!("cannot read {}: {err}", path.display())))
        }
        (None, Some(text)) => Ok(text.as_bytes().to_vec()),
        (None, None) => Err(error(key, "missing")),
    }
}

/// The paths of the files the TLS settings read, to notice when they change.
pub fn watched_files(config_path: &Path, tls: &TlsServerConfig) -> Vec<std::path::PathBuf> {
    [&tls.cert_file, &tls.key_file, &tls.client_ca_file]
        .into_iter()
        .flatten()
        .map(|file| resolve(config_path, file))
        .collect()
}

fn provider(tls: &TlsServerConfig) -> CryptoProvider {
    let mut provider = rustls::crypto::ring::default_provider();
    if !tls.cipher_suites.is_empty() {
        // TLS 1.3 suites stay as they are (Go does not let them be chosen either); the
        // TLS 1.2 ones are the configured ones, in the configured order.
        let mut suites: Vec<_> = provider
            .cipher_suites
            .iter()
            .filter(|suite| suite.version() == &rustls::version::TLS13)
            .copied()
            .collect();
        let tls12 = tls12_suites();
        for wanted in &tls.cipher_suites {
            suites.extend(tls12.iter().filter(|s| s.suite() == wanted.0).copied());
        }
        provider.cipher_suites = suites;
    }
    if !tls.curve_preferences.is_empty() {
        use rustls::crypto::ring::kx_group;
        provider.kx_groups = tls
            .curve_preferences
            .iter()
            .map(|curve| match curve {
                CurveName::X25519 => kx_group::X25519,
                CurveName::P256 => kx_group::SECP256R1,
                CurveName::P384 => kx_group::SECP384R1,
            })
            .collect();
    }
    provider
}

/// Builds the server configuration, reading the certificate, key and CA files now.
pub fn server_config(config_path: &Path, tls: &TlsServerConfig) -> Result<ServerConfig, TlsError> {
    let provider = Arc::new(provider(tls));
    let min = tls.min_version.unwrap_or(TlsVersion::Tls12);
    let max = tls.max_version.unwrap_or(TlsVersion::Tls13);
    let mut versions = Vec::new();
    if min <= TlsVersion::Tls12 && max >= TlsVersion::Tls12 {
        versions.push(&rustls::version::TLS12);
    }
    if max >= TlsVersion::Tls13 {
        versions.push(&rustls::version::TLS13);
    }

    let cert_pem = pem_bytes(
        config_path,
        tls.cert_file.as_deref(),
        tls.cert.as_deref(),
        if tls.cert_file.is_some() {
            "cert_file"
        } else {
            "cert"
        },
    )?;
    let key_name = if tls.key_file.is_some() {
        "key_file"
    } else {
        "key"
    };
    let key_pem = pem_bytes(
        config_path,
        tls.key_file.as_deref(),
        tls.key.as_deref(),
        key_name,
    )?;
    let cert_name = if tls.cert_file.is_some() {
        "cert_file"
    } else {
        "cert"
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|err| error(cert_name, format!("not a PEM certificate chain: {err}")))?;
    if chain.is_empty() {
        return Err(error(cert_name, "no certificate in it"));
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|err| error(key_name, format!("not a PEM private key: {err}")))?;

    let verifier = client_verifier(config_path, tls, &provider)?;
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&versions)
        .map_err(|err| {
            error(
                "cipher_suites",
                format!("no usable suite for the protocol versions asked: {err}"),
            )
        })?;
    let builder = match verifier {
        Some(verifier) => builder.with_client_cert_verifier(verifier),
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|err| error(key_name, format!("does not fit the certificate: {err}")))?;
    config.ignore_client_order = tls.prefer_server_cipher_suites.unwrap_or(true);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

fn client_verifier(
    config_path: &Path,
    tls: &TlsServerConfig,
    provider: &Arc<CryptoProvider>,
) -> Result<Option<Arc<dyn ClientCertVerifier>>, TlsError> {
    let kind = tls.client_auth_type;
    if kind == ClientAuthType::NoClientCert {
        return Ok(None);
    }
    let chain_verifier = if kind.verifies() {
        let ca_key = if tls.client_ca_file.is_some() {
            "client_ca_file"
        } else {
            "client_ca"
        };
        let pem = pem_bytes(
            config_path,
            tls.client_ca_file.as_deref(),
            tls.client_ca.as_deref(),
            ca_key,
        )?;
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|err| error(ca_key, format!("not PEM certificates: {err}")))?;
            roots
                .add(cert)
                .map_err(|err| error(ca_key, format!("unusable CA certificate: {err}")))?;
        }
        if roots.is_empty() {
            return Err(error(ca_key, "no CA certificate in it"));
        }
        let builder =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(provider));
        let builder = if kind.requires_certificate() {
            builder
        } else {
            builder.allow_unauthenticated()
        };
        Some(
            builder
                .build()
                .map_err(|err| error(ca_key, format!("cannot verify with it: {err}")))?,
        )
    } else {
        None
    };
    Ok(Some(Arc::new(ClientPolicy {
        chain_verifier,
        mandatory: kind.requires_certificate(),
        allowed_sans: tls.client_allowed_sans.clone(),
        provider: Arc::clone(provider),
    })))
}

/// Client-certificate policy: the CA check when the policy verifies, any certificate
/// otherwise; then the SAN allowlist.
#[derive(Debug)]
struct ClientPolicy {
    chain_verifier: Option<Arc<dyn ClientCertVerifier>>,
    mandatory: bool,
    allowed_sans: Option<Vec<String>>,
    provider: Arc<CryptoProvider>,
}

impl ClientCertVerifier for ClientPolicy {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        match &self.chain_verifier {
            Some(verifier) => verifier.root_hint_subjects(),
            None => &[],
        }
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        if let Some(verifier) = &self.chain_verifier {
            verifier.verify_client_cert(end_entity, intermediates, now)?;
        }
        if let Some(allowed) = &self.allowed_sans {
            let sans = subject_alt_names(end_entity).ok_or(rustls::Error::InvalidCertificate(
                rustls::CertificateError::BadEncoding,
            ))?;
            if !sans.iter().any(|san| allowed.contains(san)) {
                tracing::info!(
                    presented = sans.join(","),
                    "client certificate has no SAN in client_allowed_sans"
                );
                return Err(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::ApplicationVerificationFailure,
                ));
            }
        }
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A certificate's subject alternative names as strings: DNS names, e-mail addresses, IP
/// addresses and URIs (what the toolkit compares `client_allowed_sans` against).
pub fn subject_alt_names(cert: &CertificateDer<'_>) -> Option<Vec<String>> {
    use x509_parser::extensions::GeneralName;
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    let Ok(Some(extension)) = parsed.subject_alternative_name() else {
        return Some(Vec::new());
    };
    let mut names = Vec::new();
    for name in &extension.value.general_names {
        match name {
            GeneralName::DNSName(dns) => names.push((*dns).to_string()),
            GeneralName::RFC822Name(mail) => names.push((*mail).to_string()),
            GeneralName::URI(uri) => names.push((*uri).to_string()),
            GeneralName::IPAddress(bytes) => {
                if let Ok(octets) = <[u8; 4]>::try_from(*bytes) {
                    names.push(std::net::Ipv4Addr::from(octets).to_string());
                } else if let Ok(octets) = <[u8; 16]>::try_from(*bytes) {
                    names.push(std::net::Ipv6Addr::from(octets).to_string());
                }
            }
            _ => {}
        }
    }
    Some(names)
}
