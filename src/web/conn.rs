//! The open connections and the limits on them. Each connection is in one phase: reading a
//! request's head (from its first byte, or from the accept), answering a request, or idle
//! between requests; each phase has its own deadline. Beyond the connection cap the
//! connections that have waited longest without a request in progress (an eighth of the cap
//! at a time) are closed to make room; when every connection is answering a request, the new
//! one is refused.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

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
}
