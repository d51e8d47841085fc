//! A load generator for benchmarks: realistic OTLP traces, logs or metrics
//! (HTTP server/client spans with ~12 attributes and k8s resource
//! attributes, some with planted personal data; ~150-byte log bodies; sum
//! and histogram points), fresh ids in every request, over OTLP/gRPC, at a
//! fixed rate or flat out with N connections × M concurrent streams.
//! Reports acknowledged, refused (retryable) and failed requests, the rate
//! achieved and latency percentiles.
//!
//!     ignis-loadgen --signal traces --rate 10000 --duration 20
//!     ignis-loadgen --signal logs --connections 4 --streams 16 --duration 10
//!     ignis-loadgen --connections 16 --streams 16 --retry     # as an SDK: resend refusals

use bytes::Bytes;
use clap::{Parser, ValueEnum};
use http::uri::PathAndQuery;
use ignis_agent::proto::codec::ClientCodec;
use ignis_agent::proto::common::v1::{any_value::Value, AnyValue, InstrumentationScope, KeyValue};
use ignis_agent::proto::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use ignis_agent::proto::metrics::v1::{
    metric::Data, number_data_point, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum,
};
use ignis_agent::proto::resource::v1::Resource;
use ignis_agent::proto::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use ignis_agent::signal::{Logs, Metrics, Signal, Traces};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tonic::codec::CompressionEncoding;

#[derive(Clone, Copy, ValueEnum)]
enum SignalArg {
    Traces,
    Logs,
    Metrics,
}

#[derive(Parser)]
#[command(about = "OTLP load generator for ignis-agent benchmarks")]
struct Args {
    #[arg(long, default_value = "127.0.0.1:4317")]
    endpoint: String,
    #[arg(long, value_enum, default_value = "traces")]
    signal: SignalArg,
    /// Items per second over all connections; 0 sends flat out.
    #[arg(long, default_value_t = 0)]
    rate: u64,
    #[arg(long, default_value_t = 10)]
    duration: u64,
    #[arg(long, default_value_t = 1)]
    connections: usize,
    /// Concurrent requests per connection.
    #[arg(long, default_value_t = 8)]
    streams: usize,
    #[arg(long, default_value_t = 100)]
    items_per_request: usize,
    /// Compress requests with gzip.
    #[arg(long)]
    gzip: bool,
    /// Resend a refused request as the OpenTelemetry SDKs do: after the
    /// server's RetryInfo delay, else exponential backoff from 1 s (to 30 s,
    /// jittered); a worker sends nothing new meanwhile. Refusals are then
    /// attempts, and only acknowledged items count.
    #[arg(long)]
    retry: bool,
}

#[derive(Default)]
struct Tally {
    acknowledged: AtomicU64,
    refused: AtomicU64,
    failed: AtomicU64,
    items: AtomicU64,
    latencies_us: Mutex<Vec<u32>>,
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

fn s(key: &str, value: impl Into<String>) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

fn i(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(Value::IntValue(value)),
        }),
        ..Default::default()
    }
}

fn resource(n: u64) -> Resource {
    Resource {
        attributes: vec![
            s("service.name", "checkout-service"),
            s("service.version", "2.14.3"),
            s("k8s.pod.name", format!("checkout-7d9f8-{:05}", n % 7)),
            s("k8s.namespace.name", "shop"),
            s("k8s.node.name", "node-3"),
            s("deployment.environment", "production"),
        ],
        ..Default::default()
    }
}

const ROUTES: &[&str] = &[
    "/api/orders/{id}",
    "/api/cart",
    "/api/checkout",
    "/api/products/{sku}",
    "/healthz",
];

/// A request of `n` items; `seq` makes ids and values differ per request.
fn traces(seq: u64, n: usize) -> Traces {
    let now = now_nanos();
    let spans = (0..n)
        .map(|k| {
            let id = seq.wrapping_mul(1_000_003).wrapping_add(k as u64);
            let route = ROUTES[k % ROUTES.len()];
            let server = k % 5 == 0;
            let mut attributes = vec![
                s(
                    "http.request.method",
                    if k % 3 == 0 { "POST" } else { "GET" },
                ),
                s(
                    "url.full",
                    format!("https://shop.example{route}?session={id:016x}"),
                ),
                s("http.route", route),
                i(
                    "http.response.status_code",
                    if k % 20 == 0 { 500 } else { 200 },
                ),
                s("server.address", "shop.example"),
                i("server.port", 443),
                s(
                    "user_agent.original",
                    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0",
                ),
                s("enduser.id", format!("user-{}", id % 10_000)),
                s(
                    "net.peer.ip",
                    format!("10.{}.{}.{}", id % 250, k % 250, seq % 250),
                ),
                i("http.response.body.size", (id % 40_000) as i64),
            ];
            if k % 10 == 0 {
                attributes.push(s("user.email", format!("jane.{}@example.com", id % 1000)));
            }
            if k % 25 == 0 {
                attributes.push(s("payment.card", "4111 1111 1111 1111"));
            }
            Span {
                // The high bit: ids of all zeros are invalid (and dropped).
                trace_id: [(seq | 1 << 63).to_be_bytes(), (k as u64 / 5).to_be_bytes()].concat(),
                span_id: (id | 1 << 63).to_be_bytes().to_vec(),
                name: if server {
                    format!("GET {route}")
                } else {
                    "GET".into()
                },
                kind: if server { 2 } else { 3 },
                start_time_unix_nano: now - 9_000_000,
                end_time_unix_nano: now - (id % 5_000_000),
                attributes,
                status: Some(Status {
                    code: if k % 20 == 0 { 2 } else { 0 },
                    message: String::new(),
                }),
                ..Default::default()
            }
        })
        .collect();
    Traces {
        resource_spans: vec![ResourceSpans {
            resource: Some(resource(seq)),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "io.opentelemetry.http".into(),
                    ..Default::default()
                }),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn logs(seq: u64, n: usize) -> Logs {
    let now = now_nanos();
    let records = (0..n)
        .map(|k| {
            let id = seq.wrapping_mul(1_000_003).wrapping_add(k as u64);
            let body = match k % 4 {
                0 => format!("order {id} placed by customer {} for 129.90 EUR, 3 items, shipping to warehouse EU-2", id % 9973),
                1 => format!("inventory reservation {id} confirmed for sku SKU-{:06} at location 17, ttl 900 seconds", id % 999_999),
                2 => format!("payment retry {} for order {id}: gateway timeout after 3000 ms, contact ops@example.com", k % 3),
                _ => format!("token refresh for session {id:016x} from 192.168.{}.{} succeeded in 41 ms", k % 250, id % 250),
            };
            LogRecord {
                time_unix_nano: now,
                observed_time_unix_nano: now,
                severity_number: if k % 10 == 0 { 13 } else { 9 },
                severity_text: if k % 10 == 0 { "WARN".into() } else { "INFO".into() },
                body: Some(AnyValue { value: Some(Value::StringValue(body)) }),
                attributes: vec![s("code.namespace", "com.shop.checkout"), i("thread.id", (k % 16) as i64)],
                trace_id: if k % 3 == 2 { Vec::new() } else { [seq.to_be_bytes(), (k as u64).to_be_bytes()].concat() },
                ..Default::default()
            }
        })
        .collect();
    Logs {
        resource_logs: vec![ResourceLogs {
            resource: Some(resource(seq)),
            scope_logs: vec![ScopeLogs {
                log_records: records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn metrics(seq: u64, n: usize) -> Metrics {
    let now = now_nanos();
    let attrs = |k: usize| {
        vec![
            s("http.route", ROUTES[k % ROUTES.len()]),
            i("http.response.status_code", 200),
        ]
    };
    let sums = (0..n / 2)
        .map(|k| NumberDataPoint {
            attributes: attrs(k),
            start_time_unix_nano: now - 60_000_000_000,
            time_unix_nano: now,
            value: Some(number_data_point::Value::AsInt(
                (seq * 10 + k as u64) as i64,
            )),
            ..Default::default()
        })
        .collect();
    let histograms = (0..n - n / 2)
        .map(|k| HistogramDataPoint {
            attributes: attrs(k),
            start_time_unix_nano: now - 60_000_000_000,
            time_unix_nano: now,
            count: 100 + seq,
            sum: Some(12.5 * (k + 1) as f64),
            bucket_counts: vec![10, 20, 30, 20, 10, 5, 3, 2, 0, 0],
            explicit_bounds: vec![0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5],
            ..Default::default()
        })
        .collect();
    Metrics {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(resource(seq)),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![
                    Metric {
                        name: "http.server.request.count".into(),
                        data: Some(Data::Sum(Sum {
                            data_points: sums,
                            aggregation_temporality: 2,
                            is_monotonic: true,
                        })),
                        ..Default::default()
                    },
                    Metric {
                        name: "http.server.request.duration".into(),
                        unit: "s".into(),
                        data: Some(Data::Histogram(Histogram {
                            data_points: histograms,
                            aggregation_temporality: 2,
                        })),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn request(signal: SignalArg, seq: u64, n: usize) -> (Bytes, usize, &'static str) {
    fn encode<S: Signal>(r: S) -> (Bytes, usize, &'static str) {
        let items = r.item_count();
        (r.encode_to_vec().into(), items, S::GRPC_SERVICE)
    }
    match signal {
        SignalArg::Traces => encode(traces(seq, n)),
        SignalArg::Logs => encode(logs(seq, n)),
        SignalArg::Metrics => encode(metrics(seq, n)),
    }
}

async fn send(
    channel: tonic::transport::Channel,
    body: Bytes,
    service: &'static str,
    gzip: bool,
) -> Result<(), tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    if gzip {
        grpc = grpc.send_compressed(CompressionEncoding::Gzip);
    }
    grpc.ready()
        .await
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let path = PathAndQuery::from_maybe_shared(format!("/{service}/Export")).expect("static path");
    // Every export response has the same shape; traces' decodes them all.
    grpc.unary(
        tonic::Request::new(body),
        path,
        ClientCodec::<<Traces as Signal>::Response>::default(),
    )
    .await
    .map(|_| ())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let tally = Arc::new(Tally::default());
    let seq = Arc::new(AtomicU64::new(1));
    let deadline = Instant::now() + Duration::from_secs(args.duration);
    let workers = args.connections * args.streams;
    // Fixed rate: each worker sends on its share of the schedule.
    let interval = (args.rate > 0).then(|| {
        let requests_per_second = args.rate as f64 / args.items_per_request as f64;
        Duration::from_secs_f64(workers as f64 / requests_per_second)
    });
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..args.connections {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", args.endpoint))?
            .tcp_nodelay(true)
            .connect()
            .await?;
        for w in 0..args.streams {
            let (channel, tally, seq) = (channel.clone(), tally.clone(), seq.clone());
            let (signal, n, gzip, retry) =
                (args.signal, args.items_per_request, args.gzip, args.retry);
            let offset =
                interval.map(|i| i.mul_f64((c * args.streams + w) as f64 / workers as f64));
            tasks.push(tokio::spawn(async move {
                let mut next = Instant::now() + offset.unwrap_or_default();
                while Instant::now() < deadline {
                    if let Some(interval) = interval {
                        tokio::time::sleep_until(next.into()).await;
                        next += interval;
                    }
                    let (body, items, service) =
                        request(signal, seq.fetch_add(1, Ordering::Relaxed), n);
                    let sent = Instant::now();
                    let mut result = send(channel.clone(), body.clone(), service, gzip).await;
                    let mut backoff = Duration::from_secs(1);
                    while let (true, Err(status)) = (retry, &result) {
                        if !matches!(
                            status.code(),
                            tonic::Code::Unavailable | tonic::Code::ResourceExhausted
                        ) || Instant::now() > deadline + Duration::from_secs(30)
                        {
                            break;
                        }
                        tally.refused.fetch_add(1, Ordering::Relaxed);
                        let jittered = backoff.mul_f64(rand::random_range(0.5..1.5));
                        let delay = ignis_agent::proto::rpc::retry_delay(status.details())
                            .unwrap_or(jittered);
                        tokio::time::sleep(delay).await;
                        backoff = (backoff * 2).min(Duration::from_secs(30));
                        result = send(channel.clone(), body.clone(), service, gzip).await;
                    }
                    let micros = sent.elapsed().as_micros().min(u32::MAX as u128) as u32;
                    match result {
                        Ok(()) => {
                            tally.acknowledged.fetch_add(1, Ordering::Relaxed);
                            tally.items.fetch_add(items as u64, Ordering::Relaxed);
                            tally.latencies_us.lock().unwrap().push(micros);
                        }
                        Err(s)
                            if matches!(
                                s.code(),
                                tonic::Code::Unavailable | tonic::Code::ResourceExhausted
                            ) =>
                        {
                            tally.refused.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(_) => {
                            tally.failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }));
        }
    }
    for task in tasks {
        task.await?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let (sample, sample_items, _) = request(args.signal, 0, args.items_per_request);
    let bytes_per_item = sample.len() as f64 / sample_items.max(1) as f64;
    let mut latencies = std::mem::take(&mut *tally.latencies_us.lock().unwrap());
    latencies.sort_unstable();
    let percentile = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    let items = tally.items.load(Ordering::Relaxed);
    println!(
        "{{\"bytes_per_item\":{bytes_per_item:.0},\"acknowledged_requests\":{},\"refused_requests\":{},\"failed_requests\":{},\"acknowledged_items\":{items},\"seconds\":{elapsed:.2},\"items_per_second\":{:.0},\"latency_us\":{{\"p50\":{},\"p90\":{},\"p99\":{}}}}}",
        tally.acknowledged.load(Ordering::Relaxed),
        tally.refused.load(Ordering::Relaxed),
        tally.failed.load(Ordering::Relaxed),
        items as f64 / elapsed,
        percentile(0.50),
        percentile(0.90),
        percentile(0.99),
    );
    Ok(())
}
