//! The TLS handshake on an accepted connection, and what the operator is told when it fails.
//! Each failure is sorted into a [`Reason`], said in plain words with the fix where there is
//! one, and logged at WARN with the client's address. A reason is logged at most once every
//! [`QUIET_PERIOD`]; the next line for that reason says how many failures were left out in
//! between (`suppressed=N`). A handshake that succeeds costs no allocation and no lock here.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

use super::connection::{Conn, Limits, Watched, supervise};

/// The first byte of a TLS handshake record.
const TLS_HANDSHAKE: u8 = 0x16;

/// What a client speaking plain HTTP to the TLS port is answered.
const PLAIN_HTTP_ANSWER: &[u8] = b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\nClient sent an HTTP request to an HTTPS server.\n";

/// How long one reason stays quiet after it was logged.
pub const QUIET_PERIOD: Duration = Duration::from_secs(10);

/// Runs the TLS handshake under the connection's header deadline. `None` when it failed or
/// was cut off; every failure but a client that left before sending a byte, or a connection
/// closed to make room for another, is logged.
pub async fn accept(
    stream: TcpStream,
    peer: SocketAddr,
    tls: Arc<rustls::ServerConfig>,
    conn: &Arc<Conn>,
    limits: &Limits,
) -> Option<TlsStream<Watched<TcpStream>>> {
    let handshake = async {
        let mut first = [0u8; 1];
        if stream.peek(&mut first).await.ok()? == 0 {
            return None;
        }
        if first[0] != TLS_HANDSHAKE {
            // A client speaking plain HTTP to the TLS port is told so, and gets nothing else.
            let mut stream = stream;
            let _ = stream.write_all(PLAIN_HTTP_ANSWER).await;
            let _ = stream.shutdown().await;
            let reason = if first[0].is_ascii_uppercase() {
                Reason::PlainHttp
            } else {
                Reason::NotTls
            };
            report(peer, reason, None);
            return None;
        }
        let acceptor = tokio_rustls::TlsAcceptor::from(tls);
        match acceptor
            .accept(Watched::new(stream, Arc::clone(conn)))
            .await
        {
            Ok(stream) => Some(stream),
            Err(err) => {
                report(peer, classify(&err), Some(&err));
                None
            }
        }
    };
    match supervise(conn, limits, handshake).await {
        Some(outcome) => outcome,
        None => {
            // Cut off: by its deadline, or closed to make room (logged by the tracker).
            if conn.deadline(limits).1 <= tokio::time::Instant::now() {
                let waited = format!("no complete handshake within {:?}", limits.header_timeout);
                report(peer, Reason::Timeout, Some(&waited));
            }
            None
        }
    }
}

/// Why a handshake failed, as the operator needs to know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    PlainHttp,
    NotTls,
    Timeout,
    ClientCertVersion1,
    NoClientCert,
    UnknownCa,
    ClientCertExpired,
    ClientCertNotYetValid,
    ClientCertNotForClientAuth,
    ClientCertSanNotAllowed,
    ClientCertRefused,
    NoCommonVersion,
    NoCommonParameters,
    ServerCertRefused,
    ClientAlert,
    ClientLeft,
    BadTlsMessage,
    Other,
}

impl Reason {
    /// Every reason, in the order of the rate limiter's slots.
    pub const ALL: [Reason; 18] = [
        Reason::PlainHttp,
        Reason::NotTls,
        Reason::Timeout,
        Reason::ClientCertVersion1,
        Reason::NoClientCert,
        Reason::UnknownCa,
        Reason::ClientCertExpired,
        Reason::ClientCertNotYetValid,
        Reason::ClientCertNotForClientAuth,
        Reason::ClientCertSanNotAllowed,
        Reason::ClientCertRefused,
        Reason::NoCommonVersion,
        Reason::NoCommonParameters,
        Reason::ServerCertRefused,
        Reason::ClientAlert,
        Reason::ClientLeft,
        Reason::BadTlsMessage,
        Reason::Other,
    ];

    fn slot(self) -> usize {
        self as usize
    }

    /// The `reason=` value: short, stable, for grepping.
    pub fn key(self) -> &'static str {
        match self {
            Reason::PlainHttp => "plain_http",
            Reason::NotTls => "not_tls",
            Reason::Timeout => "timeout",
            Reason::ClientCertVersion1 => "client_cert_x509_v1",
            Reason::NoClientCert => "no_client_cert",
            Reason::UnknownCa => "client_cert_unknown_ca",
            Reason::ClientCertExpired => "client_cert_expired",
            Reason::ClientCertNotYetValid => "client_cert_not_yet_valid",
            Reason::ClientCertNotForClientAuth => "client_cert_not_for_client_auth",
            Reason::ClientCertSanNotAllowed => "client_cert_san_not_allowed",
            Reason::ClientCertRefused => "client_cert_refused",
            Reason::NoCommonVersion => "no_common_tls_version",
            Reason::NoCommonParameters => "no_common_parameters",
            Reason::ServerCertRefused => "server_cert_refused_by_client",
            Reason::ClientAlert => "client_alert",
            Reason::ClientLeft => "client_closed",
            Reason::BadTlsMessage => "bad_tls_message",
            Reason::Other => "other",
        }
    }

    /// What happened, in plain words.
    pub fn explanation(self) -> &'static str {
        match self {
            Reason::PlainHttp => "the client spoke plain HTTP to the TLS port",
            Reason::NotTls => "the client sent something that is not TLS",
            Reason::Timeout => {
                "the client did not finish the TLS handshake within --web.header-read-timeout"
            }
            Reason::ClientCertVersion1 => {
                "the client certificate is X.509 v1 (a certificate without extensions), which is refused: only v3 certificates are accepted"
            }
            Reason::NoClientCert => {
                "the client sent no certificate, and client_auth_type requires one"
            }
            Reason::UnknownCa => {
                "the client certificate is not signed by a CA in client_ca_file (unknown CA)"
            }
            Reason::ClientCertExpired => "the client certificate has expired",
            Reason::ClientCertNotYetValid => "the client certificate is not valid yet",
            Reason::ClientCertNotForClientAuth => {
                "the client certificate is not for client authentication (its extended key usage lacks clientAuth)"
            }
            Reason::ClientCertSanNotAllowed => {
                "the client certificate has no subject alternative name listed in client_allowed_sans"
            }
            Reason::ClientCertRefused => "the client certificate was refused",
            Reason::NoCommonVersion => {
                "the client and the server have no TLS protocol version in common"
            }
            Reason::NoCommonParameters => {
                "the client and the server have no cipher suite, key-exchange group or signature scheme in common"
            }
            Reason::ServerCertRefused => "the client refused the server's certificate",
            Reason::ClientAlert => "the client ended the handshake with an alert",
            Reason::ClientLeft => "the client closed the connection during the handshake",
            Reason::BadTlsMessage => "the client sent a malformed or unexpected TLS message",
            Reason::Other => "the handshake failed",
        }
    }

    /// What to do about it, where there is something to say.
    pub fn hint(self) -> Option<&'static str> {
        Some(match self {
            Reason::PlainHttp => {
                "use https:// in the client's URL (in Prometheus: scheme: https with a tls_config)"
            }
            Reason::ClientCertVersion1 => {
                // The guides' usual signing command gives v1 when no extensions are asked
                // for; the same command with one extension gives v3 (README: Web
                // configuration, which the TLS tests run).
                "reissue it as v3 with extensions, e.g. openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out client.crt -days 30 -extfile <(echo extendedKeyUsage=clientAuth)"
            }
            Reason::NoClientCert => {
                "give the client a certificate signed by a CA in client_ca_file (in Prometheus: tls_config.cert_file and key_file)"
            }
            Reason::UnknownCa => {
                "put the CA that issued it in client_ca_file, or reissue it from a CA that is there; a client behind an intermediate CA must send the intermediate too"
            }
            Reason::ClientCertExpired => "renew the client certificate",
            Reason::ClientCertNotYetValid => "check the clocks of the client and of this host",
            Reason::ClientCertNotForClientAuth => {
                "reissue it with extendedKeyUsage=clientAuth, or without an extended key usage"
            }
            Reason::ClientCertSanNotAllowed => {
                "add one of its names to client_allowed_sans, or reissue it with a listed name"
            }
            Reason::NoCommonVersion => {
                "the server speaks TLS 1.2 and 1.3 within min_version and max_version; the client needs one of them"
            }
            Reason::NoCommonParameters => {
                "compare the client's offer with cipher_suites and curve_preferences"
            }
            Reason::ServerCertRefused => {
                "the client must trust the CA that signed cert_file and connect by a name the certificate holds"
            }
            Reason::ClientLeft => {
                "a client that gives up silently often does not trust the server's certificate"
            }
            Reason::Timeout => "a slow or stalled client, or one that is not speaking TLS",
            _ => return None,
        })
    }
}

/// Sorts a failed handshake's error. rustls's own errors arrive inside the I/O error
/// tokio-rustls returns.
pub fn classify(err: &std::io::Error) -> Reason {
    use std::io::ErrorKind;
    match err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(tls) => classify_tls(tls),
        None => match err.kind() {
            ErrorKind::UnexpectedEof
            | ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::BrokenPipe => Reason::ClientLeft,
            _ => Reason::Other,
        },
    }
}

fn classify_tls(err: &rustls::Error) -> Reason {
    use rustls::{AlertDescription as Alert, CertificateError as Cert, Error, PeerIncompatible};
    match err {
        Error::NoCertificatesPresented => Reason::NoClientCert,
        Error::InvalidCertificate(cert) => match cert {
            Cert::UnknownIssuer => Reason::UnknownCa,
            Cert::Expired | Cert::ExpiredContext { .. } => Reason::ClientCertExpired,
            Cert::NotValidYet | Cert::NotValidYetContext { .. } => Reason::ClientCertNotYetValid,
            Cert::InvalidPurpose | Cert::InvalidPurposeContext { .. } => {
                Reason::ClientCertNotForClientAuth
            }
            // The only refusal of our own after the CA check: see `tls::ClientPolicy`.
            Cert::ApplicationVerificationFailure => Reason::ClientCertSanNotAllowed,
            Cert::Other(other) if is_version_1(other) => Reason::ClientCertVersion1,
            _ => Reason::ClientCertRefused,
        },
        Error::PeerIncompatible(
            PeerIncompatible::Tls12NotOffered
            | PeerIncompatible::Tls12NotOfferedOrEnabled
            | PeerIncompatible::SupportedVersionsExtensionRequired
            | PeerIncompatible::ServerDoesNotSupportTls12Or13
            // Left out only by clients older than TLS 1.2 (curl --tls-max 1.1).
            | PeerIncompatible::SignatureAlgorithmsExtensionRequired,
        ) => Reason::NoCommonVersion,
        Error::PeerIncompatible(_) => Reason::NoCommonParameters,
        Error::AlertReceived(
            Alert::BadCertificate
            | Alert::UnsupportedCertificate
            | Alert::CertificateRevoked
            | Alert::CertificateExpired
            | Alert::CertificateUnknown
            | Alert::UnknownCA,
        ) => Reason::ServerCertRefused,
        Error::AlertReceived(Alert::ProtocolVersion) => Reason::NoCommonVersion,
        Error::AlertReceived(Alert::HandshakeFailure | Alert::InsufficientSecurity) => {
            Reason::NoCommonParameters
        }
        Error::AlertReceived(_) => Reason::ClientAlert,
        Error::InvalidMessage(_)
        | Error::PeerMisbehaved(_)
        | Error::InappropriateMessage { .. }
        | Error::InappropriateHandshakeMessage { .. }
        | Error::PeerSentOversizedRecord => Reason::BadTlsMessage,
        _ => Reason::Other,
    }
}

/// Whether the certificate verifier refused a certificate for being X.509 v1: rustls passes
/// this refusal of rustls-webpki on as an "other" error.
fn is_version_1(other: &rustls::OtherError) -> bool {
    matches!(
        other.0.downcast_ref::<webpki::Error>(),
        Some(webpki::Error::UnsupportedCertVersion)
    )
}

/// One reason's state: when it was last logged, and the failures left out since.
#[derive(Debug, Clone, Copy)]
struct Slot {
    last_logged: Option<Instant>,
    suppressed: u64,
}

/// At most one line per reason every `quiet` period.
#[derive(Debug)]
pub struct RateLimiter {
    quiet: Duration,
    slots: Mutex<[Slot; Reason::ALL.len()]>,
}

impl RateLimiter {
    pub const fn new(quiet: Duration) -> RateLimiter {
        RateLimiter {
            quiet,
            slots: Mutex::new(
                [Slot {
                    last_logged: None,
                    suppressed: 0,
                }; Reason::ALL.len()],
            ),
        }
    }

    /// A failure for `reason` at `now`: `Some(left out since the last line)` when it is to
    /// be logged, `None` when it is counted and left out.
    pub fn admit(&self, reason: Reason, now: Instant) -> Option<u64> {
        let mut slots = self.slots.lock().ok()?;
        let slot = slots.get_mut(reason.slot())?;
        let due = slot
            .last_logged
            .is_none_or(|last| now.saturating_duration_since(last) >= self.quiet);
        if due {
            slot.last_logged = Some(now);
            Some(std::mem::take(&mut slot.suppressed))
        } else {
            slot.suppressed = slot.suppressed.saturating_add(1);
            None
        }
    }
}

static LIMITER: RateLimiter = RateLimiter::new(QUIET_PERIOD);

/// Logs a failed handshake, unless its reason was logged less than [`QUIET_PERIOD`] ago.
fn report(peer: SocketAddr, reason: Reason, error: Option<&dyn std::fmt::Display>) {
    let Some(suppressed) = LIMITER.admit(reason, Instant::now()) else {
        return;
    };
    tracing::warn!(
        %peer,
        reason = reason.key(),
        error = error.map(tracing::field::display),
        hint = reason.hint(),
        suppressed = (suppressed > 0).then_some(suppressed),
        "TLS handshake failed: {}",
        reason.explanation()
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Error as IoError, ErrorKind};

    fn wrapped(err: rustls::Error) -> IoError {
        IoError::new(ErrorKind::InvalidData, err)
    }

    #[test]
    fn rustls_errors_are_sorted_into_reasons() {
        use rustls::{AlertDescription, CertificateError, Error, OtherError, PeerIncompatible};
        let v1 =
            CertificateError::Other(OtherError(Arc::new(webpki::Error::UnsupportedCertVersion)));
        let other_webpki =
            CertificateError::Other(OtherError(Arc::new(webpki::Error::ExtensionValueInvalid)));
        let cases = [
            (Error::InvalidCertificate(v1), Reason::ClientCertVersion1),
            (
                Error::InvalidCertificate(other_webpki),
                Reason::ClientCertRefused,
            ),
            (Error::NoCertificatesPresented, Reason::NoClientCert),
            (
                Error::InvalidCertificate(CertificateError::UnknownIssuer),
                Reason::UnknownCa,
            ),
            (
                Error::InvalidCertificate(CertificateError::Expired),
                Reason::ClientCertExpired,
            ),
            (
                Error::InvalidCertificate(CertificateError::ApplicationVerificationFailure),
                Reason::ClientCertSanNotAllowed,
            ),
            (
                Error::PeerIncompatible(PeerIncompatible::Tls12NotOffered),
                Reason::NoCommonVersion,
            ),
            (
                Error::PeerIncompatible(PeerIncompatible::NoCipherSuitesInCommon),
                Reason::NoCommonParameters,
            ),
            (
                Error::AlertReceived(AlertDescription::UnknownCA),
                Reason::ServerCertRefused,
            ),
            (
                Error::AlertReceived(AlertDescription::DecodeError),
                Reason::ClientAlert,
            ),
        ];
        for (err, want) in cases {
            let shown = err.to_string();
            assert_eq!(classify(&wrapped(err)), want, "{shown}");
        }
        let eof = IoError::new(ErrorKind::UnexpectedEof, "tls handshake eof");
        assert_eq!(classify(&eof), Reason::ClientLeft);
        assert_eq!(
            classify(&IoError::from(ErrorKind::OutOfMemory)),
            Reason::Other
        );
    }

    #[test]
    fn reasons_have_their_own_slots_and_keys() {
        for (index, reason) in Reason::ALL.iter().enumerate() {
            assert_eq!(reason.slot(), index, "{reason:?}");
        }
        let mut keys: Vec<_> = Reason::ALL.iter().map(|r| r.key()).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), Reason::ALL.len());
    }

    #[test]
    fn one_line_per_reason_per_quiet_period_then_the_count_left_out() {
        let limiter = RateLimiter::new(Duration::from_secs(10));
        let start = Instant::now();
        let at = |secs: u64| start + Duration::from_secs(secs);
        assert_eq!(limiter.admit(Reason::ClientCertVersion1, at(0)), Some(0));
        for _ in 0..20 {
            assert_eq!(limiter.admit(Reason::ClientCertVersion1, at(1)), None);
        }
        // Another reason is not held back by the first.
        assert_eq!(limiter.admit(Reason::PlainHttp, at(2)), Some(0));
        assert_eq!(limiter.admit(Reason::ClientCertVersion1, at(9)), None);
        assert_eq!(limiter.admit(Reason::ClientCertVersion1, at(10)), Some(21));
        assert_eq!(limiter.admit(Reason::ClientCertVersion1, at(25)), Some(0));
    }
}
