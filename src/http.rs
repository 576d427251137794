//! The HTTP server: `/metrics` (content-negotiated, gzip when asked), the advisor's `/report`
//! (rendered on a blocking thread), `/healthz`, a landing page at `/`; 404 elsewhere, 405 for methods other than GET and HEAD. TLS, basic auth and
//! extra headers from the web configuration; every connection under the limits of
//! [`crate::web::conn`]; parallel scrapes capped. Shuts down gracefully.

use std::convert::Infallible;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::metrics::{self, EncodeOptions, Format};
use crate::report;
use crate::snapshot::Gatherer;
use crate::web::WebConfig;
use crate::web::conn::{Conn, Limits, Registration, Tracker, Watched, supervise};
use crate::web::handshake;

/// Every response body: a whole one, or one streamed from the encoder.
type Body = BoxBody<Bytes, Infallible>;

/// What request handlers share.
pub struct App {
    pub gatherer: Gatherer,
    pub telemetry_path: String,
    pub encode_options: EncodeOptions,
    /// TLS, users and extra headers, re-read when their files change.
    pub web: WebConfig,
    /// Scrapes (of metrics or the report) allowed at once; `None` for no limit.
    pub scrape_slots: Option<Arc<Semaphore>>,
}

/// A path the server answers besides the telemetry path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub path: &'static str,
    /// What it serves, for messages.
    pub what: &'static str,
}

pub const LANDING_PATH: &str = "/";
pub const HEALTH_PATH: &str = "/healthz";
pub const REPORT_PATH: &str = "/report";

/// Every path served other than `--web.telemetry-path`, which may be none of them.
pub const FIXED_ROUTES: &[Route] = &[
    Route {
        path: LANDING_PATH,
        what: "the landing page",
    },
    Route {
        path: HEALTH_PATH,
        what: "the health check",
    },
    Route {
        path: REPORT_PATH,
        what: "the advisor's report",
    },
];

/// How long open connections get to finish after a shutdown signal.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves on the listeners until `shutdown` completes, then drains open connections.
pub async fn serve(
    listeners: Vec<TcpListener>,
    app: Arc<App>,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let graceful = Arc::new(GracefulShutdown::new());
    let tracker = Tracker::new(limits);
    let mut acceptors = Vec::new();
    for listener in listeners {
        let app = Arc::clone(&app);
        let tracker = Arc::clone(&tracker);
        let graceful = Arc::clone(&graceful);
        acceptors.push(tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, peer)) => {
                        // Beyond the cap, the longest-waiting connections without a request
                        // in progress are closed; when there are none, this one is dropped.
                        let Some(registration) = tracker.admit() else {
                            continue;
                        };
                        let _ = stream.set_nodelay(true);
                        tokio::spawn(connection(
                            stream,
                            peer,
                            registration,
                            Arc::clone(&app),
                            Arc::clone(&tracker),
                            graceful.watcher(),
                        ));
                    }
                    Err(err) => {
                        // Out of descriptors (a cap set above the open-files limit, or
                        // descriptors used elsewhere): idle connections make room.
                        let out_of_files = matches!(
                            err.raw_os_error(),
                            Some(nix::libc::EMFILE) | Some(nix::libc::ENFILE)
                        );
                        if out_of_files && tracker.make_room() > 0 {
                            tracing::warn!(error = %err, "accept failed; closed idle connections to make room");
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        } else {
                            tracing::warn!(error = %err, "accept failed");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                }
            }
        }));
    }
    shutdown.await;
    for acceptor in &acceptors {
        acceptor.abort();
    }
    for acceptor in acceptors {
        let _ = acceptor.await;
    }
    tracing::info!("shutting down");
    // The acceptors are gone, and with them every other reference.
    let Ok(graceful) = Arc::try_unwrap(graceful) else {
        return;
    };
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after {DRAIN_TIMEOUT:?}; closing them");
    }
}

/// One connection: the TLS handshake when TLS is on, then HTTP/1.1 under the tracker's
/// deadlines.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    registration: Registration,
    app: Arc<App>,
    tracker: Arc<Tracker>,
    graceful: Watcher,
) {
    let conn = Arc::clone(&registration.conn);
    let limits = &tracker.limits;
    let tls = app.web.current().tls.clone();
    let Some(tls) = tls else {
        serve_http(Watched::new(stream, conn), peer, app, limits, graceful).await;
        drop(registration);
        return;
    };
    if let Some(stream) = handshake::accept(stream, peer, tls, &conn, limits).await {
        serve_http(stream, peer, app, limits, graceful).await;
    }
    drop(registration);
}

/// HTTP/1.1 on an established stream, until the client goes, a deadline passes, the
/// connection is evicted, or the server shuts down.
async fn serve_http<I>(io: I, peer: SocketAddr, app: Arc<App>, limits: &Limits, graceful: Watcher)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    I: WatchedIo,
{
    let conn = io.conn();
    let service_conn = Arc::clone(&conn);
    let service = service_fn(move |request: Request<Incoming>| {
        let app = Arc::clone(&app);
        let conn = Arc::clone(&service_conn);
        conn.request_started();
        async move {
            let response = guarded(&app, request, peer).await;
            Ok::<_, Infallible>(response.map(|body| {
                FinishBody {
                    inner: body,
                    conn: Some(conn),
                }
                .boxed()
            }))
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .header_read_timeout(None)
        .max_header_size(limits.max_header_bytes)
        .keep_alive(true);
    let connection = builder.serve_connection(TokioIo::new(io), service);
    let watched = graceful.watch(connection);
    if let Some(Err(err)) = supervise(&conn, limits, watched).await {
        tracing::debug!(error = %err, %peer, "connection ended with an error");
    }
}

/// Streams that know their tracked connection.
trait WatchedIo {
    fn conn(&self) -> Arc<Conn>;
}

impl<S> WatchedIo for Watched<S> {
    fn conn(&self) -> Arc<Conn> {
        Watched::conn(self)
    }
}

impl<S> WatchedIo for tokio_rustls::server::TlsStream<Watched<S>> {
    fn conn(&self) -> Arc<Conn> {
        Watched::conn(self.get_ref().0)
    }
}

/// A response body that marks its connection idle once it is written (or dropped).
struct FinishBody {
    inner: Body,
    conn: Option<Arc<Conn>>,
}

impl Drop for FinishBody {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            conn.request_finished();
        }
    }
}

impl hyper::body::Body for FinishBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Infallible>>> {
        std::pin::Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// The handlers behind basic auth (when users are configured), with the configured headers.
async fn guarded(app: &Arc<App>, request: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
    let web = app.web.current();
    let mut response = match &web.auth {
        Some(auth) => {
            let auth = Arc::clone(auth);
            let credentials = request
                .headers()
                .get(header::AUTHORIZATION)
                .map(|v| v.as_bytes().to_vec());
            let allowed = match auth.cached(credentials.as_deref()) {
                Some(known) => known,
                None => tokio::task::spawn_blocking(move || auth.check(credentials.as_deref()))
                    .await
                    .unwrap_or(false),
            };
            if allowed {
                handle(app, request, peer).await
            } else {
                tracing::debug!(%peer, "basic auth failed");
                let mut response = text_response(StatusCode::UNAUTHORIZED, "Unauthorized\n");
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic"));
                response
            }
        }
        None => handle(app, request, peer).await,
    };
    for (name, value) in &web.headers {
        response.headers_mut().insert(name.clone(), value.clone());
    }
    response
}

/// A slot for one scrape, or a 503 answer when all are taken.
fn scrape_slot(app: &App) -> Result<Option<OwnedSemaphorePermit>, Box<Response<Body>>> {
    match &app.scrape_slots {
        None => Ok(None),
        Some(slots) => match Arc::clone(slots).try_acquire_owned() {
            Ok(permit) => Ok(Some(permit)),
            Err(_) => Err(Box::new(text_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "too many scrapes in progress (--web.max-requests)\n",
            ))),
        },
    }
}

async fn handle(app: &App, request: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
    let path = request.uri().path();
    let known = path == app.telemetry_path || FIXED_ROUTES.iter().any(|r| r.path == path);
    if !known {
        return text_response(StatusCode::NOT_FOUND, "404 page not found\n");
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response =
            text_response(StatusCode::METHOD_NOT_ALLOWED, "405 method not allowed\n");
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    if path == app.telemetry_path {
        tracing::debug!(%peer, "scrape");
        let slot = match scrape_slot(app) {
            Ok(slot) => slot,
            Err(busy) => return *busy,
        };
        return metrics_response(app, request.headers(), slot).await;
    }
    if path == HEALTH_PATH {
        return text_response(StatusCode::OK, "ok\n");
    }
    if path == REPORT_PATH {
        let _slot = match scrape_slot(app) {
            Ok(slot) => slot,
            Err(busy) => return *busy,
        };
        return report_response(app, request.uri().query().unwrap_or(""), request.headers()).await;
    }
    let mut response =
        Response::new(Full::new(Bytes::from(landing_page(&app.telemetry_path))).boxed());
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

/// The report in the format asked for: `?format=` first, then the Accept header (JSON for
/// programs, HTML for browsers), text otherwise.
async fn report_response(app: &App, query: &str, headers: &HeaderMap) -> Response<Body> {
    let asked = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("format="))
        .unwrap_or("");
    let accept = header_text(headers, header::ACCEPT);
    let format = match asked {
        "json" => "json",
        "html" => "html",
        "text" => "text",
        "markdown" => "markdown",
        "" if accept.contains("application/json") => "json",
        "" if accept.contains("text/html") => "html",
        "" => "text",
        _ => {
            return text_response(
                StatusCode::BAD_REQUEST,
                "format: json, html, text or markdown\n",
            );
        }
    };
    let snapshot = app.gatherer.gather().await;
    let advice_options = app.encode_options.advice.clone();
    // The advisor and the renderers are plain CPU work that grows with the table (the HTML of
    // a large host takes long): a blocking thread does it, so that no async worker waits on it
    // and /metrics and /healthz keep being answered meanwhile.
    let rendered = tokio::task::spawn_blocking(move || {
        #[cfg(test)]
        tests::slow_render();
        let advice = crate::advisor::advise(&snapshot, &advice_options);
        match format {
            "json" => (report::render_json(&snapshot, &advice), "application/json"),
            "html" => (
                report::render_html(&snapshot, &advice),
                "text/html; charset=utf-8",
            ),
            "markdown" => (
                report::render_markdown(&snapshot, &advice),
                "text/markdown; charset=utf-8",
            ),
            _ => (
                report::render_text(&snapshot, &advice, false),
                "text/plain; charset=utf-8",
            ),
        }
    })
    .await;
    let (body, content_type) = match rendered {
        Ok(rendered) => rendered,
        Err(err) => {
            tracing::error!(error = %err, "rendering the report failed");
            return text_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "rendering the report failed\n",
            );
        }
    };
    let mut response = Response::new(Full::new(Bytes::from(body)).boxed());
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// Chunks in flight between the encoder and the connection: bounds the memory of a scrape.
const CHUNKS_IN_FLIGHT: usize = 4;

async fn metrics_response(
    app: &App,
    headers: &HeaderMap,
    slot: Option<OwnedSemaphorePermit>,
) -> Response<Body> {
    let format = negotiate_format(header_text(headers, header::ACCEPT));
    let gzip = accepts_gzip(header_text(headers, header::ACCEPT_ENCODING));
    let snapshot = app.gatherer.gather().await;
    let options = app.encode_options.clone();
    let (chunks, receiver) = tokio::sync::mpsc::channel::<Bytes>(CHUNKS_IN_FLIGHT);
    // Encoding a large table takes milliseconds of CPU: it runs on a blocking thread and
    // hands the text on chunk by chunk, so the response starts before the encoding ends.
    tokio::task::spawn_blocking(move || {
        // The scrape's slot is held until its text is encoded.
        let _slot = slot;
        let mut compressor =
            gzip.then(|| flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
        let send = |chunk: Vec<u8>| chunks.blocking_send(Bytes::from(chunk)).is_ok();
        metrics::encode_chunks(
            snapshot,
            format,
            &options,
            &mut |text| match compressor.as_mut() {
                None => send(text.into_bytes()),
                Some(gz) => {
                    gz.write_all(text.as_bytes()).is_ok() && send(std::mem::take(gz.get_mut()))
                }
            },
        );
        if let Some(gz) = compressor {
            match gz.finish() {
                Ok(rest) => {
                    send(rest);
                }
                Err(err) => tracing::error!(error = %err, "compressing metrics failed"),
            }
        }
    });
    let mut response = Response::new(ChannelBody { receiver }.boxed());
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    headers.insert(
        header::VARY,
        HeaderValue::from_static("Accept, Accept-Encoding"),
    );
    if gzip {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    response
}

/// A response body fed by a channel; it ends when the sender is dropped.
struct ChannelBody {
    receiver: tokio::sync::mpsc::Receiver<Bytes>,
}

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Infallible>>> {
        self.receiver
            .poll_recv(cx)
            .map(|chunk| chunk.map(|data| Ok(hyper::body::Frame::data(data))))
    }
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> &str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

fn text_response(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())).boxed());
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// One media range of an Accept-style header: its value and its q weight.
fn weighted_items(header: &str) -> impl Iterator<Item = (&str, f32)> {
    header.split(',').filter_map(|item| {
        let mut parts = item.split(';').map(str::trim);
        let value = parts.next().filter(|v| !v.is_empty())?;
        let q = parts
            .filter_map(|p| p.strip_prefix("q=").or_else(|| p.strip_prefix("Q=")))
            .find_map(|q| q.parse::<f32>().ok())
            .unwrap_or(1.0);
        Some((value, q))
    })
}

/// Picks OpenMetrics when the client weighs it above the classic text format.
pub fn negotiate_format(accept: &str) -> Format {
    let mut openmetrics: f32 = 0.0;
    let mut classic: f32 = 0.0;
    for (media, q) in weighted_items(accept) {
        let media = media.to_ascii_lowercase();
        match media.as_str() {
            "application/openmetrics-text" => openmetrics = openmetrics.max(q),
            "text/plain" | "text/*" => classic = classic.max(q),
            "*/*" => {
                classic = classic.max(q);
            }
            _ => {}
        }
    }
    if openmetrics > 0.0 && openmetrics > classic {
        Format::OpenMetrics
    } else {
        Format::Classic
    }
}

/// Whether the Accept-Encoding header allows gzip (an explicit `q=0` refuses it).
pub fn accepts_gzip(accept_encoding: &str) -> bool {
    let mut gzip: Option<f32> = None;
    let mut wildcard: Option<f32> = None;
    for (coding, q) in weighted_items(accept_encoding) {
        match coding.to_ascii_lowercase().as_str() {
            "gzip" | "x-gzip" => gzip = Some(q),
            "*" => wildcard = Some(q),
            _ => {}
        }
    }
    gzip.or(wildcard).is_some_and(|q| q > 0.0)
}

fn landing_page(telemetry_path: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>IPVS Exporter</title></head>\n\
         <body>\n<h1>IPVS Exporter</h1>\n<p>Prometheus exporter and tuning advisor for Linux IPVS, version {}.</p>\n\
         <ul>\n<li><a href=\"{telemetry_path}\">Metrics</a></li>\n<li><a href=\"/report\">Report</a> (what the advisor finds)</li>\n<li><a href=\"/healthz\">Health</a></li>\n</ul>\n</body>\n</html>\n",
        crate::build::VERSION
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Instant;

    /// How long each report render sleeps first (milliseconds), to stand for a slow one.
    static RENDER_DELAY_MS: AtomicU64 = AtomicU64::new(0);

    /// Called where the report is rendered.
    pub(super) fn slow_render() {
        let delay = RENDER_DELAY_MS.load(Ordering::SeqCst);
        if delay > 0 {
            std::thread::sleep(Duration::from_millis(delay));
        }
    }

    /// One GET on its own connection; the status line and how long the answer took.
    fn get(address: SocketAddr, path: &str) -> (String, Duration) {
        let started = Instant::now();
        let mut stream = std::net::TcpStream::connect(address).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
        )
        .expect("send");
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        let status = answer.lines().next().unwrap_or_default().to_string();
        (status, started.elapsed())
    }

    #[test]
    fn healthz_and_metrics_answer_while_reports_render_slowly() {
        const RENDER: Duration = Duration::from_secs(3);
        // As many slow reports as async workers: rendered on the workers, they would hold
        // every one of them.
        const WORKERS: usize = 2;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WORKERS)
            .enable_all()
            .build()
            .expect("runtime");
        let listener = runtime
            .block_on(TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let app = Arc::new(App {
            gatherer: Gatherer::new(Vec::new(), Duration::from_secs(1)),
            telemetry_path: "/metrics".into(),
            encode_options: EncodeOptions::default(),
            web: WebConfig::none(),
            scrape_slots: None,
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = runtime.spawn(serve(vec![listener], app, Limits::default(), async {
            let _ = stopped.await;
        }));
        RENDER_DELAY_MS.store(
            u64::try_from(RENDER.as_millis()).unwrap_or(u64::MAX),
            Ordering::SeqCst,
        );
        let reports: Vec<_> = (0..WORKERS)
            .map(|_| std::thread::spawn(move || get(address, "/report")))
            .collect();
        // Let the reports reach their rendering.
        std::thread::sleep(Duration::from_millis(500));
        let (health, health_took) = get(address, HEALTH_PATH);
        let (metrics, metrics_took) = get(address, "/metrics");
        let report_answers: Vec<(String, Duration)> = reports
            .into_iter()
            .map(|r| r.join().expect("report thread"))
            .collect();
        RENDER_DELAY_MS.store(0, Ordering::SeqCst);
        let _ = stop.send(());
        let _ = runtime.block_on(server);
        assert!(health.contains(" 200 "), "{health}");
        assert!(metrics.contains(" 200 "), "{metrics}");
        for (status, took) in &report_answers {
            assert!(status.contains(" 200 "), "{status}");
            assert!(*took >= RENDER, "the report was slow: {took:?}");
        }
        assert!(
            health_took < Duration::from_secs(1),
            "/healthz took {health_took:?} while reports rendered"
        );
        assert!(
            metrics_took < Duration::from_secs(1),
            "/metrics took {metrics_took:?} while reports rendered"
        );
    }

    #[test]
    fn prometheus_default_accept_header_gets_openmetrics() {
        let accept = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(negotiate_format(accept), Format::OpenMetrics);
    }

    #[test]
    fn plain_clients_get_the_classic_format() {
        assert_eq!(negotiate_format(""), Format::Classic);
        assert_eq!(negotiate_format("*/*"), Format::Classic);
        assert_eq!(
            negotiate_format("text/plain;version=0.0.4"),
            Format::Classic
        );
        assert_eq!(
            negotiate_format("text/plain;q=0.9,application/openmetrics-text;q=0.5"),
            Format::Classic
        );
        assert_eq!(
            negotiate_format("application/openmetrics-text;q=0"),
            Format::Classic
        );
    }

    #[test]
    fn scrapes_beyond_max_requests_get_503() {
        let app = App {
            gatherer: Gatherer::new(Vec::new(), Duration::from_secs(1)),
            telemetry_path: "/metrics".into(),
            encode_options: EncodeOptions::default(),
            web: WebConfig::none(),
            scrape_slots: Some(Arc::new(Semaphore::new(2))),
        };
        let first = scrape_slot(&app).expect("a slot");
        let second = scrape_slot(&app).expect("a slot");
        let refused = scrape_slot(&app).expect_err("no slot left");
        assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
        drop(first);
        assert!(scrape_slot(&app).is_ok());
        drop(second);
        let unlimited = App {
            scrape_slots: None,
            ..app
        };
        assert!(scrape_slot(&unlimited).is_ok_and(|slot| slot.is_none()));
    }

    #[test]
    fn gzip_only_when_accepted() {
        assert!(accepts_gzip("gzip"));
        assert!(accepts_gzip("deflate, gzip;q=0.5"));
        assert!(accepts_gzip("*"));
        assert!(!accepts_gzip(""));
        assert!(!accepts_gzip("gzip;q=0"));
        assert!(!accepts_gzip("identity"));
    }
}
