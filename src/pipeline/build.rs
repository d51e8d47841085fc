//! Starting the graph from a `Config` and stopping it in order:
//! receivers first, then queues drain through their senders.

use super::memory_limiter::MemoryLimiter;
use super::{Fanout, Pipeline, QueueHandle, Valid};
use crate::admin::metrics::Registry;
use crate::admin::{self, server::AdminState};
use crate::config::IgnisProtocol;
use crate::config::{ComponentId, Config, ExporterConfig, ProcessorConfig, ReceiverConfig};
use crate::config::{FsyncPolicy, Storage};
use crate::exporters::auth::Auth;
use crate::exporters::debug::DebugTransport;
use crate::exporters::file::FileTransport;
use crate::exporters::grpc::GrpcTransport;
use crate::exporters::http::HttpTransport;
use crate::exporters::ledger::Ledger;
use crate::exporters::sender::{DropReason, Sender, SenderMetrics};
use crate::exporters::Transport;
use crate::processors::on_wire::WireChain;
use crate::processors::Processor;
use crate::queue::disk::{DiskCounters, DiskOptions, Fsync};
use crate::queue::{DiskQueue, MemoryQueue, Queue};
use crate::receivers;
use crate::receivers::auth::BearerToken;
use crate::receivers::grpc::{ExportService, Receive};
use crate::signal::{Logs, Metrics, Signal, Traces};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("receiver {receiver}: cannot listen on {endpoint}: {source}")]
    Bind {
        receiver: String,
        endpoint: String,
        source: std::io::Error,
    },
    #[error("exporter {exporter}: {message}")]
    Exporter { exporter: String, message: String },
    #[error("processor {processor}: {message}")]
    Processor { processor: String, message: String },
    #[error("receiver {receiver}: {message}")]
    Tls { receiver: String, message: String },
}

/// A running agent.
pub struct Agent {
    pub metrics: Arc<Registry>,
    /// Where each receiver listens, as `otlp/grpc` → address (useful with port 0).
    pub listening: BTreeMap<String, SocketAddr>,
    stop_receivers: watch::Sender<bool>,
    receivers: Vec<JoinHandle<()>>,
    closers: Vec<Box<dyn Fn() + Send + Sync>>,
    /// Tasks that live as long as the agent (memory sampling, syncing).
    background: Vec<JoinHandle<()>>,
    /// Derived-metrics emitters, flushed once more at shutdown.
    emitters: Vec<Emitter>,
    /// Run after the senders stop: persist disk queue checkpoints.
    finishers: Vec<Box<dyn Fn() + Send + Sync>>,
    senders: Vec<JoinHandle<()>>,
    hard_stop: watch::Sender<bool>,
    grace_period: Duration,
    admin_ready: Arc<AdminState>,
}

/// What the shutdown managed.
#[derive(Debug, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Whether every queue drained within the grace period.
    pub drained: bool,
}

/// Built processors by id (`None`: it acts elsewhere, like the memory limiter).
type Processors = BTreeMap<ComponentId, Option<Arc<Processor>>>;

/// The exporter queues of one signal, by exporter id.
type Queues<S> = BTreeMap<ComponentId, Arc<Queue<S>>>;

impl Agent {
    pub async fn start(config: &Config) -> Result<Agent, StartError> {
        let metrics = Arc::new(Registry::default());
        let (hard_stop, hard_stop_rx) = watch::channel(false);
        let (stop_receivers, stop_rx) = watch::channel(false);
        let mut agent = Agent {
            metrics: Arc::clone(&metrics),
            listening: BTreeMap::new(),
            stop_receivers,
            receivers: Vec::new(),
            closers: Vec::new(),
            background: Vec::new(),
            emitters: Vec::new(),
            finishers: Vec::new(),
            senders: Vec::new(),
            hard_stop,
            grace_period: config.grace_period,
            admin_ready: Arc::new(AdminState::new(Arc::clone(&metrics))),
        };
        let (limit, spike, interval) = config.memory_limit();
        let limiter = MemoryLimiter::new(limit, spike);
        agent
            .background
            .push(tokio::spawn(Arc::clone(&limiter).run(interval)));
        let gauge = Arc::clone(&limiter);
        metrics.gauge("ignis_process_resident_memory_bytes", &[], move || {
            gauge.rss()
        });
        metrics.gauge("ignis_memory_limit_bytes", &[], move || limit);
        // Built once and shared by every pipeline (and signal) naming them.
        let mut processors: Processors = BTreeMap::new();
        for (id, processor) in &config.processors {
            let built =
                Processor::build(&id.to_string(), processor, &metrics).map_err(|message| {
                    StartError::Processor {
                        processor: id.to_string(),
                        message,
                    }
                })?;
            processors.insert(id.clone(), built.map(Arc::new));
        }
        let traces = agent.signal_graph::<Traces>(config, &processors, &hard_stop_rx)?;
        let metrics_graph = agent.signal_graph::<Metrics>(config, &processors, &hard_stop_rx)?;
        let logs = agent.signal_graph::<Logs>(config, &processors, &hard_stop_rx)?;

        // span_metrics: derived metrics flow into the metrics pipelines.
        for (id, processor) in &config.processors {
            let ProcessorConfig::SpanMetrics(settings) = processor else {
                continue;
            };
            let Some(Some(built)) = processors.get(id) else {
                continue;
            };
            let targets: Vec<_> = metrics_graph
                .pipelines
                .iter()
                .filter(|(_, p)| {
                    settings
                        .metrics_pipeline
                        .as_ref()
                        .is_none_or(|name| *name == p.name)
                })
                .map(|(_, p)| Arc::clone(p))
                .collect();
            if targets.is_empty() {
                tracing::warn!(processor = %id, "span_metrics has no metrics pipeline to send to");
                continue;
            }
            let fanout = Arc::new(Fanout::new(
                targets,
                Arc::clone(&limiter),
                &metrics,
                &id.to_string(),
                "internal",
            ));
            let emitter = Emitter {
                processor: Arc::clone(built),
                fanout,
            };
            let periodic = emitter.clone();
            let interval = settings.interval.0;
            agent.background.push(tokio::spawn(async move {
                loop {
                    tokio::time::sleep(interval).await;
                    periodic.emit().await;
                }
            }));
            agent.emitters.push(emitter);
        }

        agent.start_admin(config).await?;
        for (id, receiver) in &config.receivers {
            let used = config.pipelines.values().any(|p| p.receivers.contains(id));
            if !used {
                tracing::warn!(receiver = %id, "receiver is in no pipeline; not started");
                continue;
            }
            let ReceiverConfig::Otlp(otlp) = receiver;
            let name = id.to_string();
            // The receiver's three fan-outs, one set per transport (they count apart).
            let fanouts = |transport: &str| {
                let limiter = || Arc::clone(&limiter);
                (
                    Arc::new(Fanout::new(
                        traces.for_receiver(id),
                        limiter(),
                        &metrics,
                        &name,
                        transport,
                    )),
                    Arc::new(Fanout::new(
                        metrics_graph.for_receiver(id),
                        limiter(),
                        &metrics,
                        &name,
                        transport,
                    )),
                    Arc::new(Fanout::new(
                        logs.for_receiver(id),
                        limiter(),
                        &metrics,
                        &name,
                        transport,
                    )),
                )
            };
            if let Some(grpc) = &otlp.protocols.grpc {
                let listener = bind(&name, &grpc.endpoint).await?;
                agent
                    .listening
                    .insert(format!("{name}/grpc"), local_addr(&listener));
                let limit = (grpc.max_recv_msg_size_mib as usize).saturating_mul(1 << 20);
                let (t, m, l) = fanouts("grpc");
                let token = grpc
                    .auth
                    .as_ref()
                    .map(|a| BearerToken::new(&a.bearer_token));
                let (t, m, l) = (
                    ExportService::new(Receive(t, token.clone()), limit),
                    ExportService::new(Receive(m, token.clone()), limit),
                    ExportService::new(Receive(l, token), limit),
                );
                let mut stop = stop_rx.clone();
                if let Some(tls) = &grpc.tls {
                    let acceptor = receivers::tls::acceptor(tls).map_err(|e| StartError::Tls {
                        receiver: name.clone(),
                        message: e.to_string(),
                    })?;
                    let app = tonic::service::Routes::new(t)
                        .add_service(m)
                        .add_service(l)
                        .into_axum_router();
                    agent.receivers.push(tokio::spawn(async move {
                        let shutdown = async move {
                            let _ = stop.wait_for(|s| *s).await;
                        };
                        receivers::tls::serve(listener, acceptor, app, shutdown).await;
                    }));
                } else {
                    let router = tonic::transport::Server::builder()
                        .add_service(t)
                        .add_service(m)
                        .add_service(l);
                    let incoming = tonic::transport::server::TcpIncoming::from(listener)
                        .with_nodelay(Some(true));
                    let task_name = name.clone();
                    agent.receivers.push(tokio::spawn(async move {
                    let shutdown = async move {
                        let _ = stop.wait_for(|s| *s).await;
                    };
                    if let Err(e) = router
                        .serve_with_incoming_shutdown(incoming, shutdown)
                        .await
                    {
                        tracing::error!(receiver = %task_name, error = %e, "gRPC server failed");
                    }
                }));
                }
            }
            if let Some(http) = &otlp.protocols.http {
                let listener = bind(&name, &http.endpoint).await?;
                agent
                    .listening
                    .insert(format!("{name}/http"), local_addr(&listener));
                let (t, m, l) = fanouts("http");
                let app = receivers::http::router(
                    t,
                    m,
                    l,
                    http.max_request_body_size.0 as usize,
                    http.auth
                        .as_ref()
                        .map(|a| BearerToken::new(&a.bearer_token)),
                );
                let mut stop = stop_rx.clone();
                let task_name = name.clone();
                if let Some(tls) = &http.tls {
                    let acceptor = receivers::tls::acceptor(tls).map_err(|e| StartError::Tls {
                        receiver: name.clone(),
                        message: e.to_string(),
                    })?;
                    agent.receivers.push(tokio::spawn(async move {
                        let shutdown = async move {
                            let _ = stop.wait_for(|s| *s).await;
                        };
                        receivers::tls::serve(listener, acceptor, app, shutdown).await;
                    }));
                    continue;
                }
                agent.receivers.push(tokio::spawn(async move {
                    let shutdown = async move {
                        let _ = stop.wait_for(|s| *s).await;
                    };
                    if let Err(e) = axum::serve(listener, app)
                        .with_graceful_shutdown(shutdown)
                        .await
                    {
                        tracing::error!(receiver = %task_name, error = %e, "HTTP server failed");
                    }
                }));
            }
        }
        agent
            .admin_ready
            .ready
            .store(true, std::sync::atomic::Ordering::Relaxed);
        Ok(agent)
    }

    async fn start_admin(&mut self, config: &Config) -> Result<(), StartError> {
        if config.admin.endpoint.is_empty() {
            return Ok(());
        }
        let listener = bind("admin", &config.admin.endpoint).await?;
        self.listening.insert("admin".into(), local_addr(&listener));
        let state = Arc::clone(&self.admin_ready);
        // The admin endpoint outlives the receivers: it answers until the
        // end of shutdown (with the background tasks), then frees its port
        // for a reload.
        self.background.push(tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, admin::server::router(state)).await {
                tracing::error!(error = %e, "admin server failed");
            }
        }));
        Ok(())
    }

    /// Creates the exporter queues and senders of one signal, and its pipelines.
    fn signal_graph<S: Signal>(
        &mut self,
        config: &Config,
        processors: &Processors,
        hard_stop: &watch::Receiver<bool>,
    ) -> Result<SignalGraph<S>, StartError> {
        let pipelines: Vec<(&ComponentId, _)> = config
            .pipelines
            .iter()
            .filter(|(_, p)| p.signal == S::KIND)
            .collect();
        let mut queues: Queues<S> = BTreeMap::new();
        let mut evicted = BTreeMap::new();
        for (_, pipeline) in &pipelines {
            for id in &pipeline.exporters {
                if queues.contains_key(id) {
                    continue;
                }
                let exporter = &config.exporters[id];
                let (queue, sender_metrics) = self.start_exporter::<S>(id, exporter, hard_stop)?;
                evicted.insert(
                    id.clone(),
                    sender_metrics.dropped(DropReason::QueueFull).clone(),
                );
                queues.insert(id.clone(), queue);
            }
        }
        let built = pipelines
            .into_iter()
            .map(|(id, p)| {
                let chain: Vec<_> = p
                    .processors
                    .iter()
                    .filter_map(|id| processors.get(id).cloned().flatten())
                    .collect();
                let pipeline = Pipeline {
                    signal: std::marker::PhantomData,
                    wire: WireChain::new(&chain),
                    processors: chain,
                    name: id.to_string(),
                    exporters: p
                        .exporters
                        .iter()
                        .map(|e| QueueHandle {
                            queue: Arc::clone(&queues[e]),
                            evicted: evicted[e].clone(),
                        })
                        .collect(),
                };
                (p.receivers.clone(), Arc::new(pipeline))
            })
            .collect();
        Ok(SignalGraph { pipelines: built })
    }

    fn start_exporter<S: Signal>(
        &mut self,
        id: &ComponentId,
        exporter: &ExporterConfig,
        hard_stop: &watch::Receiver<bool>,
    ) -> Result<(Arc<Queue<S>>, SenderMetrics), StartError> {
        let delivery = exporter.delivery();
        let q = &delivery.sending_queue;
        let name = id.to_string();
        let signal = S::KIND.as_str();
        let sender_metrics = SenderMetrics::new::<S>(&self.metrics, &name);
        let queue = Arc::new(self.open_queue::<S>(&name, q, &sender_metrics)?);
        let labels = [("exporter", name.as_str()), ("signal", signal)];
        let gauge_queue = Arc::clone(&queue);
        self.metrics
            .gauge("otelcol_exporter_queue_size", &labels, move || {
                gauge_queue.usage().0 as u64
            });
        let gauge_queue = Arc::clone(&queue);
        self.metrics
            .gauge("ignis_exporter_queue_bytes", &labels, move || {
                gauge_queue.usage().1 as u64
            });
        let capacity = q.max_size.0;
        self.metrics
            .gauge("ignis_exporter_queue_capacity_bytes", &labels, move || {
                capacity
            });
        let setup_error = |message: String| StartError::Exporter {
            exporter: name.clone(),
            message,
        };
        let setup = SenderSetup {
            name: &name,
            queue: &queue,
            delivery: &delivery,
            metrics: &sender_metrics,
            hard_stop,
            ledger: None,
        };
        let handles = match exporter {
            ExporterConfig::OtlpGrpc(c) => {
                setup.spawn(GrpcTransport::new(c).map_err(|e| setup_error(e.to_string()))?)
            }
            ExporterConfig::OtlpHttp(c) => {
                setup.spawn(HttpTransport::new(c).map_err(|e| setup_error(e.to_string()))?)
            }
            ExporterConfig::Ignis(c) => {
                let auth = Auth::from_config(c).map_err(&setup_error)?.map(Arc::new);
                let ledger = Arc::new(Ledger::new(c.ledger_size, &self.metrics, &name));
                self.admin_ready
                    .ledgers
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push((format!("{name}/{signal}"), Arc::clone(&ledger)));
                let setup = SenderSetup {
                    ledger: Some(ledger),
                    ..setup
                };
                let otlp = c.otlp();
                match c.protocol {
                    IgnisProtocol::Grpc => {
                        let mut transport =
                            GrpcTransport::new(&otlp).map_err(|e| setup_error(e.to_string()))?;
                        transport.auth = auth;
                        setup.spawn(transport)
                    }
                    IgnisProtocol::Http => {
                        let mut transport =
                            HttpTransport::new(&otlp).map_err(|e| setup_error(e.to_string()))?;
                        transport.auth = auth;
                        setup.spawn(transport)
                    }
                }
            }
            ExporterConfig::Debug(c) => setup.spawn(DebugTransport {
                name: name.clone(),
                verbosity: c.verbosity,
            }),
            ExporterConfig::File(c) => setup.spawn(FileTransport::new(c)),
        };
        self.senders.extend(handles);
        let closing = Arc::clone(&queue);
        self.closers.push(Box::new(move || closing.close()));
        if queue.is_durable() {
            if q.fsync == FsyncPolicy::Interval {
                let syncing = Arc::clone(&queue);
                let interval = q.fsync_interval.0;
                tokio::spawn(async move {
                    if let Queue::Disk(disk) = &*syncing {
                        disk.run_syncer(interval).await;
                    }
                });
            }
            let finishing = Arc::clone(&queue);
            let exporter = name.clone();
            self.finishers.push(Box::new(move || {
                if let Queue::Disk(disk) = &*finishing {
                    if let Err(e) = disk.finish() {
                        tracing::error!(%exporter, error = %e, "could not persist the disk queue checkpoint");
                    }
                }
            }));
        }
        Ok((queue, sender_metrics))
    }

    fn open_queue<S: Signal>(
        &self,
        exporter: &str,
        q: &crate::config::QueueConfig,
        metrics: &SenderMetrics,
    ) -> Result<Queue<S>, StartError> {
        match q.storage.unwrap_or_default() {
            Storage::Memory => Ok(Queue::Memory(MemoryQueue::new(
                q.max_size.0 as usize,
                q.when_full,
                q.block_timeout.0,
            ))),
            Storage::Disk => {
                let base = q
                    .directory
                    .clone()
                    .expect("validated: disk has a directory");
                let dir = base.join(exporter.replace('/', "_")).join(S::KIND.as_str());
                let labels = [("exporter", exporter), ("signal", S::KIND.as_str())];
                let counters = DiskCounters {
                    corrupt_records: self.metrics.counter("ignis_queue_corrupt_records", &labels),
                    expired_items: metrics.dropped(DropReason::Expired).clone(),
                };
                let options = DiskOptions {
                    dir: dir.clone(),
                    capacity: q.max_size.0,
                    segment_size: q.segment_size.0,
                    when_full: q.when_full,
                    block_timeout: q.block_timeout.0,
                    fsync: match q.fsync {
                        FsyncPolicy::Always => Fsync::Always,
                        FsyncPolicy::Interval => Fsync::Interval(q.fsync_interval.0),
                        FsyncPolicy::Never => Fsync::Never,
                    },
                    max_age: (!q.max_age.0.is_zero()).then_some(q.max_age.0),
                };
                let queue =
                    DiskQueue::open(options, counters).map_err(|e| StartError::Exporter {
                        exporter: exporter.to_owned(),
                        message: format!("cannot open the disk queue in {}: {e}", dir.display()),
                    })?;
                let (entries, bytes, _) = queue.usage();
                if entries > 0 {
                    tracing::info!(%exporter, signal = S::KIND.as_str(), entries, bytes, "disk queue holds data from before; delivering it");
                }
                Ok(Queue::Disk(Box::new(queue)))
            }
        }
    }

    /// Stops accepting, then delivers what is queued within the grace period.
    pub async fn shutdown(self) -> ShutdownReport {
        let deadline = tokio::time::Instant::now() + self.grace_period;
        self.admin_ready
            .ready
            .store(false, std::sync::atomic::Ordering::Relaxed);
        let _ = self.stop_receivers.send(true);
        for receiver in self.receivers {
            // In-flight requests finish, so what they were acknowledged for is queued.
            let _ = tokio::time::timeout_at(deadline, receiver).await;
        }
        for emitter in &self.emitters {
            emitter.emit().await;
        }
        for close in &self.closers {
            close();
        }
        let mut senders = self.senders;
        let drained = tokio::time::timeout_at(deadline, async {
            for sender in &mut senders {
                let _ = sender.await;
            }
        })
        .await
        .is_ok();
        if !drained {
            tracing::warn!("grace period over: dropping what is still queued in memory (disk queues keep theirs)");
            let _ = self.hard_stop.send(true);
            for sender in senders {
                let _ = sender.await;
            }
        }
        for finish in &self.finishers {
            finish();
        }
        for task in &self.background {
            task.abort();
        }
        // Awaited, so their listeners are closed before a reload binds the
        // same addresses (on a current-thread runtime an aborted task is
        // only dropped when the scheduler next runs it).
        for task in self.background {
            let _ = task.await;
        }
        ShutdownReport { drained }
    }
}

/// Sends a span_metrics processor's cumulative metrics into metrics pipelines.
#[derive(Clone)]
struct Emitter {
    processor: Arc<Processor>,
    fanout: Arc<Fanout<Metrics>>,
}

impl Emitter {
    async fn emit(&self) {
        let Processor::SpanMetrics(span_metrics) = &*self.processor else {
            return;
        };
        let Some(snapshot) = span_metrics.snapshot() else {
            return;
        };
        let encoded = prost::Message::encode_to_vec(&snapshot).into();
        // Cumulative: a refused snapshot is superseded by the next one.
        if let Err(e) = self.fanout.consume(Valid::decoded(snapshot, encoded)).await {
            tracing::warn!(error = %e, "span_metrics could not queue its metrics; the next interval carries them");
        }
    }
}

/// What every sender of one exporter queue shares.
struct SenderSetup<'a, S> {
    name: &'a str,
    queue: &'a Arc<Queue<S>>,
    delivery: &'a crate::config::DeliveryConfig,
    metrics: &'a SenderMetrics,
    hard_stop: &'a watch::Receiver<bool>,
    ledger: Option<Arc<Ledger>>,
}

impl<S: Signal> SenderSetup<'_, S> {
    fn spawn<T: Transport<S>>(self, transport: T) -> Vec<JoinHandle<()>> {
        Sender {
            name: self.name.to_owned(),
            queue: Arc::clone(self.queue),
            transport: Arc::new(transport),
            delivery: self.delivery.clone(),
            metrics: self.metrics.clone(),
            hard_stop: self.hard_stop.clone(),
            ledger: self.ledger,
            last_log_ms: Default::default(),
        }
        .spawn()
    }
}

/// Pipelines of one signal and the receivers that feed each.
struct SignalGraph<S> {
    pipelines: Vec<(Vec<ComponentId>, Arc<Pipeline<S>>)>,
}

impl<S> SignalGraph<S> {
    fn for_receiver(&self, receiver: &ComponentId) -> Vec<Arc<Pipeline<S>>> {
        self.pipelines
            .iter()
            .filter(|(receivers, _)| receivers.contains(receiver))
            .map(|(_, p)| Arc::clone(p))
            .collect()
    }
}

async fn bind(receiver: &str, endpoint: &str) -> Result<TcpListener, StartError> {
    TcpListener::bind(endpoint)
        .await
        .map_err(|source| StartError::Bind {
            receiver: receiver.to_owned(),
            endpoint: endpoint.to_owned(),
            source,
        })
}

fn local_addr(listener: &TcpListener) -> SocketAddr {
    listener
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
}
