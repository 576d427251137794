//! The routes: a request in, a response out. `/metrics` (content-negotiated, gzip when
//! asked, streamed from the encoder), the advisor's `/report` (rendered on a blocking thread),
//! `/healthz`, a landing page at `/`; 404 elsewhere, 405 for methods other than GET and HEAD.
//! Basic auth and the extra response headers of the web configuration apply to every route;
//! parallel scrapes are capped. What carries requests to here is [`super::connection`].

use std::convert::Infallible;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::metrics::{self, EncodeOptions, Format};
use crate::report;
use crate::snapshot::Gatherer;
use crate::web::WebConfig;

/// Every response body: a whole one, or one streamed from the encoder.
pub type Body = BoxBody<Bytes, Infallible>;

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

/// The answer to one request: the routes behind basic auth (when users are configured), with
/// the configured headers.
pub async fn respond(app: &App, request: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
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
                route(app, request, peer).await
            } else {
                tracing::debug!(%peer, "basic auth failed");
                let mut response = text_response(StatusCode::UNAUTHORIZED, "Unauthorized\n");
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic"));
                response
            }
        }
        None => route(app, request, peer).await,
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

/// The route a request asks for.
async fn route(app: &App, request: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
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
    let (chunks, mut receiver) = tokio::sync::mpsc::channel::<Bytes>(CHUNKS_IN_FLIGHT);
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
    // The body ends when the encoder drops its sender.
    let frames = futures_util::stream::poll_fn(move |cx| {
        receiver
            .poll_recv(cx)
            .map(|chunk| chunk.map(|data| Ok::<_, Infallible>(Frame::data(data))))
    });
    let mut response = Response::new(StreamBody::new(frames).boxed());
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
    use crate::web::connection::{Limits, serve};
    use std::io::Read as _;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;
    use std::time::Instant;
    use tokio::net::TcpListener;

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
