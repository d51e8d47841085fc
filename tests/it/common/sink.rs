//! A real OTLP destination for tests: gRPC and HTTP servers that record every
//! request and answer from a script (to test retries and refusals).

use axum::body::Bytes as AxumBytes;
use axum::extract::State;
use axum::routing::post;
use http::{HeaderMap, StatusCode};
use ignis_agent::compression::{decompress, Encoding};
use ignis_agent::receivers::grpc::{ExportHandler, ExportService};
use ignis_agent::signal::{Logs, Metrics, Signal, Traces};
use prost::Message;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

/// How the sink answers one request.
#[derive(Clone, Debug)]
pub enum Reply {
    Ok,
    /// gRPC error (HTTP requests get 500).
    Grpc(tonic::Status),
    /// HTTP status with optional Retry-After seconds (gRPC requests get UNAVAILABLE).
    Http(u16, Option<u64>),
    /// Success with a partial_success rejecting this many items.
    Partial(i64, &'static str),
}

#[derive(Default)]
pub struct SinkState {
    pub traces: Mutex<Vec<Traces>>,
    pub metrics: Mutex<Vec<Metrics>>,
    pub logs: Mutex<Vec<Logs>>,
    /// Answers for the next requests, in order; when empty, `Ok`.
    pub script: Mutex<VecDeque<Reply>>,
    /// Every request seen, including refused ones.
    pub attempts: Mutex<usize>,
    /// Header values of the last request, by name.
    pub last_headers: Mutex<HeaderMap>,
}

pub trait Stored: Signal {
    fn store(state: &SinkState) -> &Mutex<Vec<Self>>;
}
impl Stored for Traces {
    fn store(state: &SinkState) -> &Mutex<Vec<Self>> {
        &state.traces
    }
}
impl Stored for Metrics {
    fn store(state: &SinkState) -> &Mutex<Vec<Self>> {
        &state.metrics
    }
}
impl Stored for Logs {
    fn store(state: &SinkState) -> &Mutex<Vec<Self>> {
        &state.logs
    }
}

impl SinkState {
    fn next_reply(&self) -> Reply {
        *self.attempts.lock().unwrap() += 1;
        self.script.lock().unwrap().pop_front().unwrap_or(Reply::Ok)
    }

    /// Requests received (accepted) for a signal.
    pub fn requests<S: Stored>(&self) -> Vec<S> {
        S::store(self).lock().unwrap().clone()
    }

    /// Items received for a signal.
    pub fn items<S: Stored>(&self) -> usize {
        S::store(self)
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.item_count())
            .sum()
    }
}

pub struct Sink {
    pub grpc: SocketAddr,
    pub http: SocketAddr,
    pub state: Arc<SinkState>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Sink {
    pub async fn start() -> Sink {
        Self::start_on("127.0.0.1:0").await
    }

    pub async fn start_on(grpc: &str) -> Sink {
        let grpc_listener = TcpListener::bind(grpc).await.unwrap();
        Self::start_with(grpc_listener).await
    }

    /// A sink whose gRPC server listens on a port reserved while it was down.
    pub async fn start_at(grpc: super::ReservedPort) -> Sink {
        Self::start_with(grpc.listen()).await
    }

    async fn start_with(grpc_listener: TcpListener) -> Sink {
        let state = Arc::new(SinkState::default());
        let http_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (grpc_stop, grpc_stopped) = tokio::sync::watch::channel(false);
        let addrs = (
            grpc_listener.local_addr().unwrap(),
            http_listener.local_addr().unwrap(),
        );
        let router = tonic::transport::Server::builder()
            .add_service(grpc_service::<Traces>(&state))
            .add_service(grpc_service::<Metrics>(&state))
            .add_service(grpc_service::<Logs>(&state));
        let mut grpc_wait = grpc_stopped.clone();
        tokio::spawn(async move {
            let incoming = tonic::transport::server::TcpIncoming::from(grpc_listener);
            let _ = router
                .serve_with_incoming_shutdown(incoming, async move {
                    let _ = grpc_wait.wait_for(|s| *s).await;
                })
                .await;
        });
        let app = http_app(state.clone());
        tokio::spawn(async move {
            let _ = axum::serve(http_listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                    let _ = grpc_stop.send(true);
                })
                .await;
        });
        Sink {
            grpc: addrs.0,
            http: addrs.1,
            state,
            stop: Some(stop),
        }
    }

    /// A sink that speaks TLS (gRPC and HTTP on one port), with the given
    /// server config; returns its address and state.
    pub async fn start_tls(config: rustls::ServerConfig) -> (SocketAddr, Arc<SinkState>) {
        let state = Arc::new(SinkState::default());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut config = config;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let app = tonic::service::Routes::new(grpc_service::<Traces>(&state))
            .add_service(grpc_service::<Metrics>(&state))
            .add_service(grpc_service::<Logs>(&state))
            .into_axum_router()
            .merge(http_app(state.clone()));
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, app) = (acceptor.clone(), app.clone());
                tokio::spawn(async move {
                    // A refused handshake is what some tests want to see.
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = hyper_util::service::TowerToHyperService::new(app);
                    let _ = hyper_util::server::conn::auto::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    )
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
                });
            }
        });
        (addr, state)
    }

    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.state.script.lock().unwrap().extend(replies);
    }

    /// Stops both servers (in-flight requests finish).
    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.stop();
    }
}

fn http_app(state: Arc<SinkState>) -> axum::Router {
    axum::Router::new()
        .route("/v1/traces", post(http_export::<Traces>))
        .route("/v1/metrics", post(http_export::<Metrics>))
        .route("/v1/logs", post(http_export::<Logs>))
        .with_state(state)
}

fn response<S: Signal>(reply: &Reply) -> Result<S::Response, tonic::Status> {
    match reply {
        Reply::Ok => Ok(S::Response::default()),
        Reply::Grpc(status) => Err(status.clone()),
        Reply::Http(..) => Err(tonic::Status::unavailable("scripted")),
        Reply::Partial(rejected, message) => Ok(partial::<S>(*rejected, message)),
    }
}

/// A response whose partial_success rejects `rejected` items. The three
/// response types share field numbers, so one encoding fits all.
fn partial<S: Signal>(rejected: i64, message: &str) -> S::Response {
    use ignis_agent::proto::collector::trace::v1::{
        ExportTracePartialSuccess, ExportTraceServiceResponse,
    };
    let bytes = ExportTraceServiceResponse {
        partial_success: Some(ExportTracePartialSuccess {
            rejected_spans: rejected,
            error_message: message.to_owned(),
        }),
    }
    .encode_to_vec();
    S::Response::decode(bytes.as_slice()).unwrap()
}

/// Records what arrives over gRPC and answers from the script.
#[derive(Clone)]
struct Record(Arc<SinkState>);

impl<S: Stored> ExportHandler<S> for Record {
    async fn export(
        &self,
        request: tonic::Request<bytes::Bytes>,
    ) -> Result<S::Response, tonic::Status> {
        *self.0.last_headers.lock().unwrap() = request.metadata().clone().into_headers();
        let decoded = S::decode(request.into_inner())
            .map_err(|e| tonic::Status::invalid_argument(e.to_string()))?;
        let answer = response::<S>(&self.0.next_reply())?;
        S::store(&self.0).lock().unwrap().push(decoded);
        Ok(answer)
    }
}

fn grpc_service<S: Stored>(state: &Arc<SinkState>) -> ExportService<S, Record> {
    ExportService::new(Record(state.clone()), 64 << 20)
}

async fn http_export<S: Stored>(
    State(state): State<Arc<SinkState>>,
    headers: HeaderMap,
    body: AxumBytes,
) -> (StatusCode, HeaderMap, Vec<u8>) {
    *state.last_headers.lock().unwrap() = headers.clone();
    let encoding = Encoding::from_header(
        headers
            .get("content-encoding")
            .and_then(|v| v.to_str().ok()),
    )
    .unwrap();
    let data = decompress(&body, encoding, 64 << 20).unwrap();
    let decoded = match S::decode(data.as_slice()) {
        Ok(d) => d,
        Err(_) => return (StatusCode::BAD_REQUEST, HeaderMap::new(), vec![]),
    };
    let mut out = HeaderMap::new();
    out.insert("content-type", "application/x-protobuf".parse().unwrap());
    match state.next_reply() {
        Reply::Http(code, retry_after) => {
            if let Some(secs) = retry_after {
                out.insert("retry-after", secs.to_string().parse().unwrap());
            }
            (StatusCode::from_u16(code).unwrap(), out, vec![])
        }
        Reply::Grpc(_) => (StatusCode::INTERNAL_SERVER_ERROR, out, vec![]),
        reply => {
            let answer = response::<S>(&reply).unwrap();
            S::store(&state).lock().unwrap().push(decoded);
            (StatusCode::OK, out, answer.encode_to_vec())
        }
    }
}
