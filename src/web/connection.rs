//! A connection's whole life: the accept, admission under the connection cap, the TLS
//! handshake (through [`super::handshake`]), the deadline of each phase, and HTTP/1.1 on it
//! until the client goes, a deadline passes, the connection is evicted or the server shuts
//! down. Each request is handed to [`super::routes`] for its answer.
//!
//! Each connection is in one phase: reading a request's head (from its first byte, or from
//! the accept), answering a request, or idle between requests; each phase has its own
//! deadline. Beyond the connection cap the connections that have waited longest without a
//! request in progress (an eighth of the cap at a time) are closed to make room; when every
//! connection is answering a request, the new one is refused.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::Request;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::handshake;
use super::routes::{self, App};

/// The limits, from the `--web.*` flags.
#[derive(Debug, Clone)]
pub struct Limits {
    /// From a connection's accept, or a request's first byte, to the end of its head
    /// (the TLS handshake included).
    pub header_timeout: Duration,
    /// From the end of a response to the next request's first byte.
    pub idle_timeout: Duration,
    /// From the end of a request's head to the end of its response.
    pub request_timeout: Duration,
    pub max_connections: usize,
    pub max_header_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
            request_timeout: Duration::from_secs(60),
            max_connections: 1024,
            max_header_bytes: 16 * 1024,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    ReadingHead,
    Answering,
    Idle,
}

/// One connection's phase, and the means to close it from outside.
#[derive(Debug)]
pub struct Conn {
    id: u64,
    phase: Mutex<(Phase, Instant)>,
    /// Notified when the connection is closed to make room for a new one.
    pub evicted: Notify,
}

impl Conn {
    fn set(&self, from: Option<Phase>, to: Phase) {
        if let Ok(mut phase) = self.phase.lock()
            && from.is_none_or(|from| phase.0 == from)
        {
            *phase = (to, Instant::now());
        }
    }

    /// A byte arrived: an idle connection starts reading a request's head.
    pub fn bytes_read(&self) {
        self.set(Some(Phase::Idle), Phase::ReadingHead);
    }

    /// A request's head is in: it is being answered.
    pub fn request_started(&self) {
        self.set(None, Phase::Answering);
    }

    /// Its response is written: the connection is idle.
    pub fn request_finished(&self) {
        self.set(None, Phase::Idle);
    }

    pub fn phase(&self) -> (Phase, Instant) {
        self.phase
            .lock()
            .map(|p| *p)
            .unwrap_or((Phase::Idle, Instant::now()))
    }

    /// When the current phase runs out.
    pub fn deadline(&self, limits: &Limits) -> (Phase, Instant) {
        let (phase, since) = self.phase();
        let allowed = match phase {
            Phase::ReadingHead => limits.header_timeout,
            Phase::Answering => limits.request_timeout,
            Phase::Idle => limits.idle_timeout,
        };
        (phase, since + allowed)
    }
}

/// The open connections.
#[derive(Debug)]
pub struct Tracker {
    pub limits: Limits,
    open: Mutex<HashMap<u64, Arc<Conn>>>,
    next_id: AtomicU64,
    evictions: AtomicU64,
    refusals: AtomicU64,
}

/// A connection's place in the tracker, given up when dropped.
#[derive(Debug)]
pub struct Registration {
    tracker: Arc<Tracker>,
    pub conn: Arc<Conn>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Ok(mut open) = self.tracker.open.lock() {
            open.remove(&self.conn.id);
        }
    }
}

impl Tracker {
    pub fn new(limits: Limits) -> Arc<Tracker> {
        Arc::new(Tracker {
            limits,
            open: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
            refusals: AtomicU64::new(0),
        })
    }

    /// Makes room for a new connection: `None` when it must be refused.
    pub fn admit(self: &Arc<Self>) -> Option<Registration> {
        let mut open = self.open.lock().ok()?;
        if open.len() >= self.limits.max_connections && self.evict(&mut open) == 0 {
            let n = self.refusals.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                tracing::warn!(
                    max_connections = self.limits.max_connections,
                    refused_so_far = n,
                    "connection cap reached with every connection answering a request: refusing"
                );
            }
            return None;
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let conn = Arc::new(Conn {
            id,
            phase: Mutex::new((Phase::ReadingHead, Instant::now())),
            evicted: Notify::new(),
        });
        open.insert(id, Arc::clone(&conn));
        Some(Registration {
            tracker: Arc::clone(self),
            conn,
        })
    }

    /// Closes a batch of the connections that have waited longest without a request in
    /// progress: for when the process runs out of file descriptors before the cap.
    pub fn make_room(&self) -> usize {
        match self.open.lock() {
            Ok(mut open) => self.evict(&mut open),
            Err(_) => 0,
        }
    }

    /// The longest-waiting connections without a request in progress go, an eighth of the
    /// cap at a time, so that a flood of connections costs one scan per batch. Returns how
    /// many went.
    fn evict(&self, open: &mut HashMap<u64, Arc<Conn>>) -> usize {
        let mut waiting: Vec<(Instant, u64)> = open
            .values()
            .map(|conn| (conn.phase(), conn.id))
            .filter(|((phase, _), _)| *phase != Phase::Answering)
            .map(|((_, since), id)| (since, id))
            .collect();
        if waiting.is_empty() {
            return 0;
        }
        let batch = (self.limits.max_connections / 8).clamp(1, waiting.len());
        if batch < waiting.len() {
            waiting.select_nth_unstable(batch);
        }
        for (_, id) in waiting.iter().take(batch) {
            if let Some(victim) = open.remove(id) {
                victim.evicted.notify_one();
            }
        }
        let before = self.evictions.fetch_add(batch as u64, Ordering::Relaxed);
        let after = before + batch as u64;
        if before == 0 || after.ilog2() != before.ilog2() {
            tracing::warn!(
                max_connections = self.limits.max_connections,
                closed_so_far = after,
                "connection cap reached: closing the longest-waiting connections without a request in progress"
            );
        }
        batch
    }

    pub fn open_connections(&self) -> usize {
        self.open.lock().map(|open| open.len()).unwrap_or(0)
    }
}

/// A stream that tells its connection when bytes arrive.
pub struct Watched<S> {
    inner: S,
    conn: Arc<Conn>,
}

impl<S> Watched<S> {
    pub fn new(inner: S, conn: Arc<Conn>) -> Watched<S> {
        Watched { inner, conn }
    }

    pub fn conn(&self) -> Arc<Conn> {
        Arc::clone(&self.conn)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.conn.bytes_read();
        }
        result
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Runs `work` until it ends, its phase's deadline passes, or the connection is evicted.
/// Returns `None` when it was cut off.
pub async fn supervise<F: std::future::Future>(
    conn: &Conn,
    limits: &Limits,
    work: F,
) -> Option<F::Output> {
    tokio::pin!(work);
    loop {
        let (_, deadline) = conn.deadline(limits);
        tokio::select! {
            output = &mut work => return Some(output),
            () = conn.evicted.notified() => {
                tracing::debug!("connection closed to make room for a new one");
                return None;
            }
            () = tokio::time::sleep_until(deadline) => {
                let (phase, deadline) = conn.deadline(limits);
                if deadline <= Instant::now() {
                    tracing::debug!(?phase, "connection closed: its time ran out");
                    return None;
                }
            }
        }
    }
}

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
    let acceptors: Vec<_> = listeners
        .into_iter()
        .map(|listener| {
            tokio::spawn(accept_loop(
                listener,
                Arc::clone(&app),
                Arc::clone(&tracker),
                Arc::clone(&graceful),
            ))
        })
        .collect();
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

/// Accepts connections on one listener, each admitted under the cap and served on its own
/// task, until aborted.
async fn accept_loop(
    listener: TcpListener,
    app: Arc<App>,
    tracker: Arc<Tracker>,
    graceful: Arc<GracefulShutdown>,
) {
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
            let response = routes::respond(&app, request, peer).await;
            let answering = Answering(conn);
            // The body holds the guard: once it is written (or dropped), the connection is
            // idle.
            Ok::<_, Infallible>(response.map(|body| {
                body.inspect_frame(move |_| {
                    let _held = &answering;
                })
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

/// A request being answered: its connection turns idle when this is dropped, which its
/// response body does once written.
struct Answering(Arc<Conn>);

impl Drop for Answering {
    fn drop(&mut self) {
        self.0.request_finished();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max: usize) -> Limits {
        Limits {
            max_connections: max,
            ..Limits::default()
        }
    }

    #[tokio::test]
    async fn the_longest_waiting_idle_connection_makes_room() {
        let tracker = Tracker::new(limits(2));
        let first = tracker.admit().expect("room");
        tokio::time::sleep(Duration::from_millis(5)).await;
        let second = tracker.admit().expect("room");
        let third = tracker.admit().expect("room made");
        assert_eq!(tracker.open_connections(), 2);
        // The first was told to go; it was the oldest.
        tokio::time::timeout(Duration::from_secs(1), first.conn.evicted.notified())
            .await
            .expect("first evicted");
        drop(first);
        assert_eq!(tracker.open_connections(), 2);
        drop((second, third));
        assert_eq!(tracker.open_connections(), 0);
    }

    #[tokio::test]
    async fn connections_answering_are_never_evicted() {
        let tracker = Tracker::new(limits(1));
        let busy = tracker.admit().expect("room");
        busy.conn.request_started();
        assert!(tracker.admit().is_none());
        busy.conn.request_finished();
        assert!(tracker.admit().is_some());
    }

    #[tokio::test]
    async fn each_phase_has_its_own_deadline() {
        let limits = Limits {
            header_timeout: Duration::from_millis(100),
            request_timeout: Duration::from_millis(300),
            idle_timeout: Duration::from_millis(500),
            ..Limits::default()
        };
        let tracker = Tracker::new(limits.clone());
        for (phase, allowed) in [
            (None, 100),
            (Some(Phase::Answering), 300),
            (Some(Phase::Idle), 500),
        ] {
            let reg = tracker.admit().expect("room");
            match phase {
                Some(Phase::Answering) => reg.conn.request_started(),
                Some(_) => reg.conn.request_finished(),
                None => {}
            }
            let started = Instant::now();
            let cut = supervise(&reg.conn, &limits, std::future::pending::<()>()).await;
            let took = started.elapsed();
            assert!(cut.is_none());
            assert!(
                took >= Duration::from_millis(allowed)
                    && took < Duration::from_millis(allowed + 200),
                "{phase:?}: {took:?}"
            );
        }
        // Work that ends in time is not cut.
        let reg = tracker.admit().expect("room");
        assert_eq!(supervise(&reg.conn, &limits, async { 7 }).await, Some(7));
    }

    #[test]
    fn phases_follow_the_request() {
        let tracker = Tracker::new(Limits::default());
        let reg = tracker.admit().expect("room");
        let conn = &reg.conn;
        assert_eq!(conn.phase().0, Phase::ReadingHead);
        conn.request_started();
        conn.bytes_read();
        assert_eq!(conn.phase().0, Phase::Answering);
        conn.request_finished();
        assert_eq!(conn.phase().0, Phase::Idle);
        conn.bytes_read();
        assert_eq!(conn.phase().0, Phase::ReadingHead);
    }

    /// A host with this many CPUs: its softnet series make a scrape of megabytes.
    struct ManyCpus(u32);

    impl crate::source::Collector for ManyCpus {
        fn collect(&self) -> Result<crate::source::Collected, crate::source::SourceError> {
            let cpus = (0..self.0)
                .map(|cpu| crate::model::softnet::SoftnetCpu {
                    cpu,
                    processed: u64::from(cpu) * 1000,
                    ..Default::default()
                })
                .collect();
            Ok(crate::source::Collected {
                data: crate::source::CollectedData::Softnet(cpus),
                problems: Vec::new(),
            })
        }
    }

    /// Until the client has taken the whole response, its connection is answering (under the
    /// request timeout, never evicted); then it is idle.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_connection_answers_until_its_response_is_written() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let tracker = Tracker::new(Limits::default());
        let registration = tracker.admit().expect("room");
        let conn = Arc::clone(&registration.conn);
        let softnet = crate::source::Enabled {
            name: "softnet",
            collector: Box::new(ManyCpus(50_000)),
        };
        let app = Arc::new(App {
            gatherer: crate::snapshot::Gatherer::new(vec![softnet], Duration::from_secs(10)),
            telemetry_path: "/metrics".into(),
            encode_options: crate::metrics::EncodeOptions::default(),
            web: crate::web::WebConfig::none(),
            scrape_slots: None,
        });
        // The client reads nothing at first: the response waits in a small pipe.
        let (mut client, server) = tokio::io::duplex(4096);
        let graceful = GracefulShutdown::new();
        let watcher = graceful.watcher();
        let limits = tracker.limits.clone();
        let served_conn = Arc::clone(&conn);
        let served = tokio::spawn(async move {
            let peer = SocketAddr::from(([127, 0, 0, 1], 1));
            let io = Watched::new(server, served_conn);
            serve_http(io, peer, app, &limits, watcher).await;
        });
        client
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n")
            .await
            .expect("request");
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(conn.phase().0, Phase::Answering, "while the body waits");
        let mut answer = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        // The end of a chunked body.
        while !answer.ends_with(b"\r\n0\r\n\r\n") {
            let n = tokio::time::timeout(Duration::from_secs(20), client.read(&mut buf))
                .await
                .expect("the response in time")
                .expect("read");
            assert!(n > 0, "closed early after {} bytes", answer.len());
            answer.extend_from_slice(&buf[..n]);
        }
        assert!(answer.starts_with(b"HTTP/1.1 200 OK\r\n"));
        assert!(answer.len() > 1 << 20, "{} bytes", answer.len());
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(conn.phase().0, Phase::Idle, "once the body is written");
        drop(client);
        tokio::time::timeout(Duration::from_secs(5), served)
            .await
            .expect("the connection ends with its client")
            .expect("the connection task");
        drop(registration);
    }
}
