//! A counting OTLP sink for benchmarks: accepts OTLP over gRPC and HTTP,
//! counts items at the wire level (no decode, so it is never the
//! bottleneck), and reports totals at `GET /stats` on its HTTP port and a
//! rate line per second on stderr.

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::{get, post};
use clap::Parser;
use http::HeaderMap;
use ignis_agent::compression::{decompress, Encoding};
use ignis_agent::receivers::grpc::{ExportHandler, ExportService};
use ignis_agent::signal::wire::validate;
use ignis_agent::signal::SignalKind;
use ignis_agent::signal::{Logs, Metrics, Signal, Traces};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser)]
#[command(about = "Counting OTLP sink for benchmarks")]
struct Args {
    #[arg(long, default_value = "127.0.0.1:5317")]
    grpc: String,
    #[arg(long, default_value = "127.0.0.1:5318")]
    http: String,
    /// Print the rate every second.
    #[arg(long)]
    verbose: bool,
}

#[derive(Default)]
struct Counts {
    items: [AtomicU64; 3],
    requests: AtomicU64,
    malformed: AtomicU64,
}

impl Counts {
    fn record(&self, signal: SignalKind, body: &[u8]) -> bool {
        self.requests.fetch_add(1, Ordering::Relaxed);
        match validate(signal, body) {
            Ok(n) => {
                self.items[signal as usize].fetch_add(n as u64, Ordering::Relaxed);
                true
            }
            Err(_) => {
                self.malformed.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    fn json(&self) -> String {
        let get = |i: usize| self.items[i].load(Ordering::Relaxed);
        format!(
            "{{\"spans\":{},\"metric_points\":{},\"log_records\":{},\"requests\":{},\"malformed\":{}}}\n",
            get(0),
            get(1),
            get(2),
            self.requests.load(Ordering::Relaxed),
            self.malformed.load(Ordering::Relaxed)
        )
    }
}

/// Counts what arrives over gRPC.
#[derive(Clone)]
struct Count(Arc<Counts>);

impl<S: Signal> ExportHandler<S> for Count {
    async fn export(
        &self,
        request: tonic::Request<bytes::Bytes>,
    ) -> Result<S::Response, tonic::Status> {
        if self.0.record(S::KIND, request.get_ref()) {
            Ok(S::Response::default())
        } else {
            Err(tonic::Status::invalid_argument("malformed"))
        }
    }
}

async fn http_export(
    signal: SignalKind,
    counts: Arc<Counts>,
    headers: HeaderMap,
    body: Bytes,
) -> http::StatusCode {
    let encoding = headers
        .get("content-encoding")
        .and_then(|v| v.to_str().ok());
    let Some(encoding) = Encoding::from_header(encoding) else {
        return http::StatusCode::UNSUPPORTED_MEDIA_TYPE;
    };
    match decompress(&body, encoding, 256 << 20) {
        Ok(data) if counts.record(signal, &data) => http::StatusCode::OK,
        _ => http::StatusCode::BAD_REQUEST,
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let counts = Arc::new(Counts::default());
    let grpc = tokio::net::TcpListener::bind(&args.grpc).await?;
    let http = tokio::net::TcpListener::bind(&args.http).await?;
    let count = Count(counts.clone());
    let limit = 256 << 20;
    let router = tonic::transport::Server::builder()
        .add_service(ExportService::<Traces, _>::new(count.clone(), limit))
        .add_service(ExportService::<Metrics, _>::new(count.clone(), limit))
        .add_service(ExportService::<Logs, _>::new(count, limit));
    tokio::spawn(router.serve_with_incoming(tonic::transport::server::TcpIncoming::from(grpc)));
    let route = |signal: SignalKind| {
        post(
            move |State(c): State<Arc<Counts>>, h: HeaderMap, b: Bytes| {
                http_export(signal, c, h, b)
            },
        )
    };
    let app = axum::Router::new()
        .route("/v1/traces", route(SignalKind::Traces))
        .route("/v1/metrics", route(SignalKind::Metrics))
        .route("/v1/logs", route(SignalKind::Logs))
        .route(
            "/stats",
            get(|State(c): State<Arc<Counts>>| async move { c.json() }),
        )
        .with_state(counts.clone());
    eprintln!(
        "ignis-sink: gRPC {} HTTP {} (GET /stats)",
        args.grpc, args.http
    );
    if args.verbose {
        let counts = counts.clone();
        tokio::spawn(async move {
            let mut last = 0;
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let now: u64 = counts.items.iter().map(|c| c.load(Ordering::Relaxed)).sum();
                eprintln!("{} items/s, {}", now - last, counts.json().trim());
                last = now;
            }
        });
    }
    axum::serve(http, app).await
}
