//! The accept loop every receiver server runs (gRPC and HTTP, plain or
//! TLS), hardened against clients that hold resources without using them:
//! a cap on open connections (past it the agent stops accepting, so the
//! kernel's backlog makes new clients wait), a deadline for the TLS
//! handshake and for a request's headers, connections closed when idle or
//! when a write to them has not moved for `write_timeout` (a client that
//! does not read its answers), a cap on concurrent HTTP/2 streams per
//! connection, and gRPC's keepalive: pings to find dead peers, a maximum
//! connection age, and the enforcement policy against ping floods
//! (`ping_policy.rs`). Shutdown is graceful: connections finish their
//! in-flight requests (HTTP/2 GOAWAY).

use super::ping_policy::PingWatch;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify, Semaphore};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

/// What a client may send on one HTTP/2 stream ahead of what the agent
/// reads: the protocol's default (gRPC-Go's servers start there too), not
/// hyper's 1 MiB. A request waiting for room holds up to this much in hyper
/// plus one frame read for its length, which the memory budget cannot see:
/// streams per connection and connections bound it. Not smaller: clients
/// send at the default before they read the server's settings, and h2 then
/// stalls the connection (hyperium/h2#630; seen here with 16 KiB).
const STREAM_WINDOW: u32 = 64 << 10;

/// What a server allows each client.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    pub tls_handshake_timeout: Duration,
    /// HTTP/1: how long a client may take to send a request's headers.
    pub read_header_timeout: Duration,
    /// A connection with no byte read or written for this long is closed
    /// (gracefully: in-flight requests finish).
    pub idle_timeout: Duration,
    pub max_concurrent_streams: u32,
    /// A connection whose answer has not moved for this long is closed:
    /// its client stopped reading.
    pub write_timeout: Duration,
    pub keepalive: Keepalive,
}

/// gRPC's keepalive settings (`keepalive.server_parameters` and
/// `keepalive.enforcement_policy` in the Collector).
#[derive(Debug, Clone, Copy)]
pub struct Keepalive {
    /// The agent pings a connection silent for this long ...
    pub time: Option<Duration>,
    /// ... and closes it when the answer takes longer than this.
    pub timeout: Duration,
    /// A connection this old is asked to go away (GOAWAY) ...
    pub max_connection_age: Option<Duration>,
    /// ... and closed this long after, finished or not.
    pub max_connection_age_grace: Duration,
    /// A client pinging more often than this is sent away (None: any rate).
    pub min_ping_interval: Option<Duration>,
}

impl Keepalive {
    /// No keepalive pings, no age, no policy: HTTP/1 and OTLP/HTTP.
    pub const OFF: Keepalive = Keepalive {
        time: None,
        timeout: Duration::from_secs(20),
        max_connection_age: None,
        max_connection_age_grace: Duration::MAX,
        min_ping_interval: None,
    };
}

/// How long a client sent away for its pings gets to finish its calls.
const PING_ABUSE_GRACE: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    app: axum::Router,
    limits: Limits,
    mut shutdown: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut connections = tokio::task::JoinSet::new();
    loop {
        // At the cap, stop accepting until a connection ends.
        let permit = tokio::select! {
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            _ = shutdown.wait_for(|s| *s) => break,
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.wait_for(|s| *s) => break,
        };
        let tcp = match accepted {
            Ok((tcp, _)) => tcp,
            Err(e) => {
                // Out of file descriptors, say: wait rather than spin.
                tracing::warn!(error = %e, "cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let (tls, app, stop) = (tls.clone(), app.clone(), shutdown.clone());
        connections.spawn(async move {
            let _permit = permit;
            match tls {
                None => connection(tcp, app, limits, stop).await,
                Some(acceptor) => {
                    // A client that never finishes its handshake is not waited for.
                    let handshake =
                        tokio::time::timeout(limits.tls_handshake_timeout, acceptor.accept(tcp));
                    if let Ok(Ok(tls)) = handshake.await {
                        connection(tls, app, limits, stop).await;
                    }
                }
            }
        });
        // Reap the ones that ended.
        while connections.try_join_next().is_some() {}
    }
    // Stop accepting; the open connections finish what they serve.
    drop(listener);
    while connections.join_next().await.is_some() {}
}

/// Serves one connection until it ends, idles too long, stops reading
/// its answers, outlives its age, pings too often, or shutdown.
async fn connection<IO>(
    io: IO,
    app: axum::Router,
    limits: Limits,
    mut shutdown: watch::Receiver<bool>,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let started = Instant::now();
    let shared = Arc::new(Shared {
        started,
        last_activity: AtomicU64::new(0),
        write_stalled_since: AtomicU64::new(NEVER),
        pinged_too_often: Notify::new(),
    });
    let io = Watched {
        io,
        shared: Arc::clone(&shared),
        pings: limits.keepalive.min_ping_interval.map(PingWatch::new),
    };
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.read_header_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.max_concurrent_streams)
        .initial_stream_window_size(STREAM_WINDOW)
        // A request waiting for room is not read, so the connection's
        // window is every stream's: a waiting stream then never holds back
        // one that was let in.
        .initial_connection_window_size(STREAM_WINDOW.saturating_mul(limits.max_concurrent_streams))
        .keep_alive_interval(limits.keepalive.time)
        .keep_alive_timeout(limits.keepalive.timeout);
    let connection = builder.serve_connection(TokioIo::new(io), TowerToHyperService::new(app));
    tokio::pin!(connection);
    // Once asked to go away, the connection finishes its calls; some
    // reasons give it only until `hard_stop`.
    let mut closing = false;
    let mut hard_stop: Option<Instant> = None;
    let far = started + Duration::from_secs(86_400 * 365);
    let age_limit = limits
        .keepalive
        .max_connection_age
        .map_or(far, |age| started + age);
    loop {
        let idle_deadline = shared.at(&shared.last_activity) + limits.idle_timeout;
        // Looked at every write_timeout at least, to catch a stall that
        // began while the loop slept.
        let write_deadline =
            shared.write_stalled_at().unwrap_or_else(Instant::now) + limits.write_timeout;
        tokio::select! {
            _ = connection.as_mut() => return,
            _ = tokio::time::sleep_until(write_deadline) => {
                if shared
                    .write_stalled_at()
                    .is_some_and(|since| since.elapsed() >= limits.write_timeout)
                {
                    tracing::debug!("closing a connection whose client stopped reading");
                    return;
                }
            }
            _ = tokio::time::sleep_until(hard_stop.unwrap_or(far)), if hard_stop.is_some() => return,
            _ = tokio::time::sleep_until(idle_deadline), if !closing => {
                if shared.at(&shared.last_activity) + limits.idle_timeout <= Instant::now() {
                    closing = true;
                    connection.as_mut().graceful_shutdown();
                }
            }
            _ = tokio::time::sleep_until(age_limit), if !closing && age_limit < far => {
                closing = true;
                hard_stop = Instant::now().checked_add(limits.keepalive.max_connection_age_grace);
                connection.as_mut().graceful_shutdown();
            }
            _ = shared.pinged_too_often.notified(), if !closing => {
                tracing::debug!("sending away a client that pings too often");
                closing = true;
                hard_stop = Some(Instant::now() + PING_ABUSE_GRACE);
                connection.as_mut().graceful_shutdown();
            }
            _ = shutdown.wait_for(|s| *s), if !closing => {
                closing = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}

/// `write_stalled_since` when no write is waiting.
const NEVER: u64 = u64::MAX;

/// What a connection's IO tells its serving loop; times are milliseconds
/// since `started`.
struct Shared {
    started: Instant,
    last_activity: AtomicU64,
    write_stalled_since: AtomicU64,
    pinged_too_often: Notify,
}

impl Shared {
    fn now(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn at(&self, millis: &AtomicU64) -> Instant {
        self.started + Duration::from_millis(millis.load(Ordering::Relaxed))
    }

    fn write_stalled_at(&self) -> Option<Instant> {
        let since = self.write_stalled_since.load(Ordering::Relaxed);
        (since != NEVER).then(|| self.started + Duration::from_millis(since))
    }
}

/// An IO that notes when it last moved a byte, since when a write has been
/// waiting, and the client's pings.
struct Watched<IO> {
    io: IO,
    shared: Arc<Shared>,
    pings: Option<PingWatch>,
}

impl<IO: AsyncRead + Unpin> AsyncRead for Watched<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            let now = self.shared.now();
            self.shared.last_activity.store(now, Ordering::Relaxed);
            let this = &mut *self;
            if let Some(pings) = &mut this.pings {
                if pings.read(&buf.filled()[before..], Instant::now()) {
                    this.shared.pinged_too_often.notify_one();
                }
            }
        }
        result
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Watched<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.io).poll_write(cx, data);
        match result {
            Poll::Ready(Ok(n)) if n > 0 => {
                let now = self.shared.now();
                self.shared.last_activity.store(now, Ordering::Relaxed);
                self.shared
                    .write_stalled_since
                    .store(NEVER, Ordering::Relaxed);
            }
            Poll::Pending => {
                let now = self.shared.now();
                let _ = self.shared.write_stalled_since.compare_exchange(
                    NEVER,
                    now,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
            }
            _ => {}
        }
        result
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// Runs `serve` as a task.
pub fn spawn(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    app: axum::Router,
    limits: Limits,
    shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(serve(listener, tls, app, limits, shutdown))
}
