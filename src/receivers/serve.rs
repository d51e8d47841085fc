//! The accept loop every receiver server runs (gRPC and HTTP, plain or
//! TLS), hardened against clients that hold resources without using them:
//! a cap on open connections (past it the agent stops accepting, so the
//! kernel's backlog makes new clients wait), a deadline for the TLS
//! handshake and for a request's headers, connections closed when idle, and
//! a cap on concurrent HTTP/2 streams per connection. Shutdown is graceful:
//! connections finish their in-flight requests (HTTP/2 GOAWAY).

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
use tokio::sync::{watch, Semaphore};
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
}

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

/// Serves one connection until it ends, idles too long, or shutdown.
async fn connection<IO>(
    io: IO,
    app: axum::Router,
    limits: Limits,
    mut shutdown: watch::Receiver<bool>,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let io = Active {
        io,
        activity: Arc::clone(&activity),
        started,
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
        .initial_connection_window_size(
            STREAM_WINDOW.saturating_mul(limits.max_concurrent_streams),
        );
    let connection = builder.serve_connection(TokioIo::new(io), TowerToHyperService::new(app));
    tokio::pin!(connection);
    let mut closing = false;
    loop {
        let last = started + Duration::from_millis(activity.load(Ordering::Relaxed));
        let idle_deadline = last + limits.idle_timeout;
        tokio::select! {
            _ = connection.as_mut() => return,
            _ = tokio::time::sleep_until(idle_deadline), if !closing => {
                let last = started + Duration::from_millis(activity.load(Ordering::Relaxed));
                if last + limits.idle_timeout <= Instant::now() {
                    closing = true;
                    connection.as_mut().graceful_shutdown();
                }
            }
            _ = shutdown.wait_for(|s| *s), if !closing => {
                closing = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}

/// An IO that notes when it last moved a byte (milliseconds since `started`).
struct Active<IO> {
    io: IO,
    activity: Arc<AtomicU64>,
    started: Instant,
}

impl<IO> Active<IO> {
    fn touch(&self) {
        let now = self.started.elapsed().as_millis() as u64;
        self.activity.store(now, Ordering::Relaxed);
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Active<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.touch();
        }
        result
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Active<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.io).poll_write(cx, data);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
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
