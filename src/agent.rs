//! The composition root: wires receivers → pipelines → exporter queues →
//! senders from a built `Config`, and stops them in order (receivers first,
//! then queues drain through their senders within the grace period).

use crate::admin::{self, server::AdminState};
use crate::components::Config;
use crate::config::ComponentId;
use crate::connectors::{Connector, Derived};
use crate::exporters::delivery::{self, Exporter, IntoSenders, SenderSetup, SpawnError};
use crate::exporters::sender::{DropReason, SenderMetrics};
use crate::metrics::Registry;
use crate::pipeline::memory_limiter::MemoryLimiter;
use crate::pipeline::{Fanout, Pipeline, QueueHandle};
use crate::processors::on_wire::WireChain;
use crate::processors::Processor;
use crate::queue::PushError;
use crate::queue::{AnyQueue, FsyncPolicy, Queue};
use crate::receivers::{BindError, FanoutSet};
use crate::signal::{Logs, Metrics, Signal, Traces};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Why the agent did not start: what the config could not check (a port
/// in use, a disk queue directory that cannot be written).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("receiver {receiver}: {source}")]
    Receiver {
        receiver: String,
        #[source]
        source: BindError,
    },
    #[error("admin endpoint: cannot listen on {endpoint}: {source}")]
    Admin {
        endpoint: String,
        source: std::io::Error,
    },
    #[error("exporter {exporter}: {source}")]
    Exporter {
        exporter: String,
        #[source]
        source: SpawnError,
    },
    #[error("exporter {exporter}: cannot open the disk queue in {}: {source}", dir.display())]
    DiskQueue {
        exporter: String,
        dir: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A running agent.
pub struct Agent {
    pub metrics: Arc<Registry>,
    /// Where each receiver listens, as `otlp/grpc` → address (useful with port 0).
    pub listening: BTreeMap<String, SocketAddr>,
    stop_receivers: watch::Sender<bool>,
    receivers: Vec<JoinHandle<()>>,
    /// Every exporter queue, by `exporter/signal`: closed at shutdown, and
    /// what they still hold then is reported.
    queues: Vec<(String, Arc<dyn AnyQueue>)>,
    /// Tasks that live as long as the agent (memory sampling, syncing).
    background: Vec<JoinHandle<()>>,
    /// Connectors' emitters, flushed once more at shutdown.
    emitters: Vec<Emitter>,
    /// Run after the senders stop: persist disk queue checkpoints.
    finishers: Vec<Finisher>,
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
    /// Items kept in disk queues for the next start.
    pub left_on_disk: u64,
    /// Items in memory queues given up at the end of the grace period.
    pub dropped: u64,
}

/// The exporter queues of one signal, by exporter id.
type Queues<S> = BTreeMap<ComponentId, Arc<Queue<S>>>;

impl Agent {
    pub async fn start(config: &Config) -> Result<Agent, StartError> {
        let metrics = Arc::clone(&config.metrics);
        let (hard_stop, hard_stop_rx) = watch::channel(false);
        let (stop_receivers, stop_rx) = watch::channel(false);
        let mut agent = Agent {
            metrics: Arc::clone(&metrics),
            listening: BTreeMap::new(),
            stop_receivers,
            receivers: Vec::new(),
            queues: Vec::new(),
            background: Vec::new(),
            emitters: Vec::new(),
            finishers: Vec::new(),
            senders: Vec::new(),
            hard_stop,
            grace_period: config.service.grace_period.0,
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
        let traces = agent.signal_graph::<Traces>(config, &hard_stop_rx)?;
        let metrics_graph = agent.signal_graph::<Metrics>(config, &hard_stop_rx)?;
        let logs = agent.signal_graph::<Logs>(config, &hard_stop_rx)?;
        let graphs = (traces, metrics_graph, logs);
        agent.start_connectors(config, &graphs, &limiter);
        let (traces, metrics_graph, logs) = &graphs;
        agent.start_admin(config).await?;
        for (id, receiver) in &config.receivers {
            let used = config.pipelines.values().any(|p| p.receivers.contains(id));
            if !used {
                tracing::warn!(receiver = %id, "receiver is in no pipeline; not started");
                continue;
            }
            let name = id.to_string();
            let feeds = |transport: &str| -> FanoutSet {
                (
                    fanout(traces, id, &limiter, &metrics, transport),
                    fanout(metrics_graph, id, &limiter, &metrics, transport),
                    fanout(logs, id, &limiter, &metrics, transport),
                )
            };
            let started =
                receiver
                    .start(&name, &feeds, &stop_rx)
                    .map_err(|source| StartError::Receiver {
                        receiver: name.clone(),
                        source,
                    })?;
            agent.listening.extend(started.listening);
            agent.receivers.extend(started.tasks);
        }
        agent
            .admin_ready
            .ready
            .store(true, std::sync::atomic::Ordering::Relaxed);
        Ok(agent)
    }

    /// Each connector sends what it derives into the pipelines that list
    /// it as a receiver, every interval.
    fn start_connectors(&mut self, config: &Config, graphs: &Graphs, limiter: &Arc<MemoryLimiter>) {
        for (id, connector) in &config.connectors {
            let emitter = Emitter {
                name: id.to_string(),
                connector: Arc::clone(connector),
                traces: fanout(&graphs.0, id, limiter, &self.metrics, "internal"),
                metrics: fanout(&graphs.1, id, limiter, &self.metrics, "internal"),
                logs: fanout(&graphs.2, id, limiter, &self.metrics, "internal"),
            };
            let periodic = emitter.clone();
            let interval = connector.interval();
            self.background.push(tokio::spawn(async move {
                loop {
                    tokio::time::sleep(interval).await;
                    periodic.emit().await;
                }
            }));
            self.emitters.push(emitter);
        }
    }

    async fn start_admin(&mut self, config: &Config) -> Result<(), StartError> {
        let endpoint = &config.service.admin.endpoint;
        if endpoint.is_empty() {
            return Ok(());
        }
        let listener = tokio::net::TcpListener::bind(endpoint)
            .await
            .map_err(|source| StartError::Admin {
                endpoint: endpoint.clone(),
                source,
            })?;
        self.listening
            .insert("admin".into(), crate::receivers::local_addr(&listener));
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
    fn signal_graph<S: IntoSenders>(
        &mut self,
        config: &Config,
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
                let Some(exporter) = config.exporters.get(id) else {
                    continue; // a connector
                };
                let (queue, sender_metrics) =
                    self.start_exporter::<S>(id, &**exporter, hard_stop)?;
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
                // The memory limiter acts in the receivers, not on the data.
                let chain: Vec<Arc<dyn Processor>> = p
                    .processors
                    .iter()
                    .map(|id| Arc::clone(&config.processors[id]))
                    .filter(|p| p.memory_limit().is_none())
                    .collect();
                let pipeline = Pipeline {
                    signal: std::marker::PhantomData,
                    wire: WireChain::new(&chain),
                    processors: chain,
                    name: id.to_string(),
                    exporters: p
                        .exporters
                        .iter()
                        .filter(|e| queues.contains_key(e))
                        .map(|e| QueueHandle {
                            queue: Arc::clone(&queues[e]),
                            evicted: evicted[e].clone(),
                        })
                        .collect(),
                    connectors: p
                        .exporters
                        .iter()
                        .filter_map(|e| config.connectors.get(e).cloned())
                        .collect(),
                };
                (p.receivers.clone(), Arc::new(pipeline))
            })
            .collect();
        Ok(SignalGraph { pipelines: built })
    }

    fn start_exporter<S: IntoSenders>(
        &mut self,
        id: &ComponentId,
        exporter: &dyn Exporter,
        hard_stop: &watch::Receiver<bool>,
    ) -> Result<(Arc<Queue<S>>, SenderMetrics), StartError> {
        let delivery = exporter.delivery();
        let q = &delivery.sending_queue;
        let name = id.to_string();
        let sender_metrics = SenderMetrics::new::<S>(&self.metrics, &name);
        let queue = delivery::open_queue::<S>(&name, q, &self.metrics, &sender_metrics).map_err(
            |(dir, source)| StartError::DiskQueue {
                exporter: name.clone(),
                dir,
                source,
            },
        )?;
        let setup = SenderSetup {
            name: &name,
            queue: &queue,
            delivery,
            metrics: &sender_metrics,
            hard_stop,
            registry: &self.metrics,
            ledgers: &self.admin_ready.ledgers,
        };
        let handles = exporter
            .spawn(S::senders(setup))
            .map_err(|source| StartError::Exporter {
                exporter: name.clone(),
                source,
            })?;
        self.senders.extend(handles);
        self.queues.push((
            format!("{name}/{}", S::KIND.as_str()),
            Arc::clone(&queue) as Arc<dyn AnyQueue>,
        ));
        if queue.is_durable() {
            if q.fsync == FsyncPolicy::Interval {
                let syncing = Arc::clone(&queue);
                let interval = q.fsync_interval.0;
                // Ends when the queue closes (or with the background tasks).
                self.background.push(tokio::spawn(async move {
                    if let Queue::Disk(disk) = &*syncing {
                        disk.run_syncer(interval).await;
                    }
                }));
            }
            let finishing = Arc::clone(&queue);
            let exporter = name.clone();
            self.finishers.push(Box::new(move || {
                let queue = Arc::clone(&finishing);
                let exporter = exporter.clone();
                Box::pin(async move {
                    if let Queue::Disk(disk) = &*queue {
                        if let Err(e) = disk.finish().await {
                            tracing::error!(%exporter, error = %e, "could not persist the disk queue checkpoint");
                        }
                    }
                })
            }));
        }
        Ok((queue, sender_metrics))
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
        for (_, queue) in &self.queues {
            queue.close();
        }
        let mut senders = self.senders;
        // A sender is forgotten once it ended: a finished JoinHandle must
        // not be awaited again after the deadline.
        let drained = tokio::time::timeout_at(deadline, async {
            while let Some(sender) = senders.last_mut() {
                let _ = sender.await;
                senders.pop();
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
        let mut left_on_disk = 0;
        for (queue_name, queue) in &self.queues {
            let (entries, bytes, items) = queue.usage();
            if queue.is_durable() && items > 0 {
                tracing::info!(queue = %queue_name, entries, bytes, items, "left in the disk queue; delivered after the next start");
                left_on_disk += items as u64;
            }
        }
        let dropped = self
            .metrics
            .total("ignis_exporter_dropped_items", &[("reason", "shutdown")]);
        for finish in &self.finishers {
            finish().await;
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
        ShutdownReport {
            drained,
            left_on_disk,
            dropped,
        }
    }
}

/// Persists a disk queue at shutdown, once its senders stopped.
type Finisher = Box<dyn Fn() -> futures_util::future::BoxFuture<'static, ()> + Send + Sync>;

/// The pipelines of the three signals.
type Graphs = (SignalGraph<Traces>, SignalGraph<Metrics>, SignalGraph<Logs>);

/// The fan-out of one receiver (or connector) to its pipelines of one signal.
fn fanout<S: Signal>(
    graph: &SignalGraph<S>,
    receiver: &ComponentId,
    limiter: &Arc<MemoryLimiter>,
    metrics: &Registry,
    transport: &str,
) -> Arc<Fanout<S>> {
    Arc::new(Fanout::new(
        graph.for_receiver(receiver),
        Arc::clone(limiter),
        metrics,
        &receiver.to_string(),
        transport,
    ))
}

/// Sends what a connector derived into the pipelines it feeds.
#[derive(Clone)]
struct Emitter {
    name: String,
    connector: Arc<dyn Connector>,
    traces: Arc<Fanout<Traces>>,
    metrics: Arc<Fanout<Metrics>>,
    logs: Arc<Fanout<Logs>>,
}

impl Emitter {
    async fn emit(&self) {
        let result = match self.connector.emit() {
            None => return,
            Some(Derived::Traces(r)) => send(&self.traces, r).await,
            Some(Derived::Metrics(r)) => send(&self.metrics, r).await,
            Some(Derived::Logs(r)) => send(&self.logs, r).await,
        };
        // What connectors derive is cumulative: the next interval carries it.
        if let Err(e) = result {
            tracing::warn!(connector = %self.name, error = %e, "a connector could not queue what it derived; the next interval carries it");
        }
    }
}

async fn send<S: Signal>(fanout: &Fanout<S>, request: S) -> Result<(), PushError> {
    fanout.consume(fanout.validate_decoded(request, None)).await
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
