//! The composition root: runs a built `Config` as receivers → pipelines →
//! exporter queues → senders, applies a new one in place (`apply`: a
//! reload), and stops it in order (receivers first, then queues drain
//! through their senders within the grace period).
//!
//! A reload keeps what did not change: a receiver whose settings are the
//! same keeps serving (its listener stays bound) and only the pipelines
//! behind it are swapped; an exporter whose settings are the same keeps its
//! queue, in memory or on disk, and its senders. Everything else is built
//! anew; a changed exporter is retired (a disk queue stops at once and the
//! new one replays it, a memory queue drains in the background).

mod emitter;
mod exporter;
mod receiver;

use crate::admin::{self, server::AdminState};
use crate::budget::Budget;
use crate::components::Config;
use crate::config::ComponentId;
use crate::exporters::delivery::{IntoSenders, SpawnError};
use crate::metrics::Registry;
use crate::pipeline::memory_limiter::MemoryLimiter;
use crate::pipeline::{Fanout, Pipeline, QueueHandle};
use crate::processors::on_wire::WireChain;
use crate::processors::Processor;
use crate::receivers::BindError;
use crate::signal::{Logs, Metrics, Signal, SignalKind, Traces};
use emitter::Emitter;
use exporter::RunningExporter;
use receiver::{Fanouts, RunningReceiver};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
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
    receivers: BTreeMap<ComponentId, RunningReceiver>,
    exporters: BTreeMap<(ComponentId, SignalKind), RunningExporter>,
    /// What the current config's pipelines run: memory sampling, connectors.
    generation: Vec<JoinHandle<()>>,
    /// Connectors' emitters, flushed once more at shutdown.
    emitters: Vec<Emitter>,
    /// Replaced exporters still delivering what their memory queue held.
    retiring: Vec<JoinHandle<()>>,
    /// The admin endpoint: as configured, where it listens, its server.
    admin: Option<(String, JoinHandle<()>)>,
    admin_address: Option<SocketAddr>,
    admin_state: Arc<AdminState>,
    grace_period: Duration,
    /// The bytes of telemetry held, against the limit: one for the life of
    /// the agent, since queues kept across a reload count into it.
    budget: Arc<Budget>,
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

impl Agent {
    pub async fn start(config: &Config) -> Result<Agent, StartError> {
        let metrics = Arc::clone(&config.metrics);
        let mut agent = Agent {
            admin_state: Arc::new(AdminState::new(Arc::clone(&metrics))),
            metrics,
            listening: BTreeMap::new(),
            receivers: BTreeMap::new(),
            exporters: BTreeMap::new(),
            generation: Vec::new(),
            emitters: Vec::new(),
            retiring: Vec::new(),
            admin: None,
            admin_address: None,
            grace_period: config.service.grace_period.0,
            budget: Budget::new(0),
        };
        agent.apply(config).await?;
        Ok(agent)
    }

    /// Runs `config` in place of the current one (a reload), keeping the
    /// receivers and exporters whose settings did not change.
    pub async fn apply(&mut self, config: &Config) -> Result<(), StartError> {
        self.grace_period = config.service.grace_period.0;
        self.metrics = Arc::clone(&config.metrics);
        let replaced = self.set_aside_changed_exporters(config).await;

        let memory = config.memory_limit();
        self.budget.set_limit(memory.budget as usize);
        self.budget_gauges();
        let limiter = MemoryLimiter::new(memory.backstop);
        let interval = memory.check_interval;
        let limit = memory.backstop;
        // Aborted if this config does not start.
        let mut generation = Tasks(vec![tokio::spawn(Arc::clone(&limiter).run(interval))]);
        let gauge = Arc::clone(&limiter);
        self.metrics
            .gauge("ignis_process_resident_memory_bytes", &[], move || {
                gauge.rss()
            });
        self.metrics
            .gauge("ignis_memory_limit_bytes", &[], move || limit);
        let graphs = Graphs {
            traces: self.signal_graph::<Traces>(config)?,
            metrics: self.signal_graph::<Metrics>(config)?,
            logs: self.signal_graph::<Logs>(config)?,
            limiter,
            budget: Arc::clone(&self.budget),
            registry: Arc::clone(&self.metrics),
        };

        // Connectors, rebuilt with the pipelines they feed.
        let mut emitters = Vec::new();
        for (id, connector) in &config.connectors {
            let (traces, metrics, logs) = graphs.fanouts(id, "internal");
            let emitter = Emitter {
                name: id.to_string(),
                connector: Arc::clone(connector),
                traces,
                metrics,
                logs,
            };
            generation.0.push(emitter.clone().spawn());
            emitters.push(emitter);
        }
        self.start_admin(config).await?;
        self.apply_receivers(config, &graphs).await?;

        // The new pipelines are in force. What the old connectors derived
        // since their last interval goes out first, while the replaced
        // exporters (memory queues) still take it; then those deliver what
        // they hold in the background.
        for emitter in &self.emitters {
            emitter.emit().await;
        }
        for retired in replaced {
            if let Some(draining) = retired.retire(self.grace_period).await {
                self.retiring.push(draining);
            }
        }
        for task in std::mem::replace(&mut self.generation, std::mem::take(&mut generation.0)) {
            task.abort();
        }
        self.emitters = emitters;
        self.listening = self
            .receivers
            .values()
            .flat_map(|r| r.listening.iter().cloned())
            .collect();
        if let Some(admin) = self.admin_address {
            self.listening.insert("admin".into(), admin);
        }
        self.admin_state.ready.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Takes out the exporters that the new config drops or changes. A
    /// disk queue is retired at once (its replacement may open the same
    /// directory); memory queues are returned, to retire once the new
    /// pipelines are in force, so the receivers never meet a closed queue.
    async fn set_aside_changed_exporters(&mut self, config: &Config) -> Vec<RunningExporter> {
        let mut later = Vec::new();
        let keys: Vec<_> = self.exporters.keys().cloned().collect();
        for key in keys {
            let (id, kind) = &key;
            let wanted = config
                .pipelines
                .values()
                .any(|p| p.signal == *kind && p.exporters.contains(id))
                && config.exporters.contains_key(id);
            let same = config.fingerprints.get(&("exporters", id.clone()))
                == Some(&self.exporters[&key].fingerprint);
            if wanted && same {
                continue;
            }
            let retired = self.exporters.remove(&key).expect("listed");
            self.admin_state
                .ledgers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .retain(|(name, _)| *name != retired.name);
            self.admin_state
                .healths
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .retain(|(health, _)| health.name() != retired.name);
            self.metrics
                .forget_gauges(&[("exporter", &id.to_string()), ("signal", kind.as_str())]);
            if retired.queue.is_durable() {
                retired.retire(self.grace_period).await;
            } else {
                later.push(retired);
            }
        }
        later
    }

    /// The budget's figures, in this config's registry.
    fn budget_gauges(&self) {
        type Read = fn(&Budget) -> usize;
        let gauges: [(&str, Read); 3] = [
            ("ignis_memory_budget_bytes", Budget::limit),
            ("ignis_memory_budget_used_bytes", Budget::used),
            ("ignis_memory_budget_waiting_requests", Budget::waiting),
        ];
        for (name, read) in gauges {
            let budget = Arc::clone(&self.budget);
            self.metrics.gauge(name, &[], move || read(&budget) as u64);
        }
    }

    /// The exporters and pipelines of one signal: kept exporters are
    /// reused, missing ones started.
    fn signal_graph<S: IntoSenders>(
        &mut self,
        config: &Config,
    ) -> Result<SignalGraph<S>, StartError> {
        let pipelines: Vec<_> = config
            .pipelines
            .iter()
            .filter(|(_, p)| p.signal == S::KIND)
            .collect();
        for (_, pipeline) in &pipelines {
            for id in &pipeline.exporters {
                let key = (id.clone(), S::KIND);
                let Some(exporter) = config.exporters.get(id) else {
                    continue; // a connector
                };
                if self.exporters.contains_key(&key) {
                    continue;
                }
                let fingerprint = config.fingerprints[&("exporters", id.clone())];
                let running = RunningExporter::start::<S>(
                    id,
                    &**exporter,
                    fingerprint,
                    &self.metrics,
                    &self.admin_state,
                    &self.budget,
                )?;
                self.exporters.insert(key, running);
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
                        .filter_map(|e| self.exporters.get(&(e.clone(), S::KIND)))
                        .map(|e| QueueHandle {
                            queue: e.queue::<S>(),
                            evicted: e.evicted.clone(),
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

    /// Receivers with the same settings keep serving with the new pipelines
    /// behind them; changed ones are restarted, removed ones stopped.
    async fn apply_receivers(
        &mut self,
        config: &Config,
        graphs: &Graphs,
    ) -> Result<(), StartError> {
        let deadline = tokio::time::Instant::now() + self.grace_period;
        let used = |id: &ComponentId| config.pipelines.values().any(|p| p.receivers.contains(id));
        let old: Vec<ComponentId> = self.receivers.keys().cloned().collect();
        for id in old {
            let fingerprint = config.fingerprints.get(&("receivers", id.clone()));
            let keep = used(&id) && fingerprint == Some(&self.receivers[&id].fingerprint);
            if !keep {
                let stopped = self.receivers.remove(&id).expect("listed");
                stopped.stop(deadline).await;
            }
        }
        for (id, receiver) in &config.receivers {
            if !used(id) {
                tracing::warn!(receiver = %id, "receiver is in no pipeline; not started");
                continue;
            }
            let fanouts = |transport: &str| graphs.fanouts(id, transport);
            match self.receivers.get(id) {
                Some(running) => running.rewire(&fanouts),
                None => {
                    let fingerprint = config.fingerprints[&("receivers", id.clone())];
                    let running = RunningReceiver::start(id, &**receiver, fingerprint, &fanouts)?;
                    self.receivers.insert(id.clone(), running);
                }
            }
        }
        Ok(())
    }

    /// The admin endpoint keeps serving across reloads unless it moved.
    async fn start_admin(&mut self, config: &Config) -> Result<(), StartError> {
        let endpoint = &config.service.admin.endpoint;
        if self
            .admin
            .as_ref()
            .is_some_and(|(current, _)| current == endpoint)
        {
            return Ok(());
        }
        if let Some((_, task)) = self.admin.take() {
            task.abort();
            let _ = task.await;
        }
        self.admin_address = None;
        if endpoint.is_empty() {
            return Ok(());
        }
        let listener = tokio::net::TcpListener::bind(endpoint)
            .await
            .map_err(|source| StartError::Admin {
                endpoint: endpoint.clone(),
                source,
            })?;
        self.admin_address = Some(crate::receivers::local_addr(&listener));
        let state = Arc::clone(&self.admin_state);
        // It outlives the receivers: it answers until the end of shutdown.
        // The status page's history is sampled while it serves.
        let task = tokio::spawn(async move {
            let sampling = state.history.run(&state.metrics);
            let serving = axum::serve(listener, admin::server::router(Arc::clone(&state)));
            tokio::select! {
                () = sampling => {}
                served = serving => if let Err(e) = served {
                    tracing::error!(error = %e, "admin server failed");
                }
            }
        });
        self.admin = Some((endpoint.clone(), task));
        Ok(())
    }

    /// Stops accepting, then delivers what is queued within the grace period.
    pub async fn shutdown(mut self) -> ShutdownReport {
        let deadline = tokio::time::Instant::now() + self.grace_period;
        self.admin_state.ready.store(false, Ordering::Relaxed);
        for receiver in self.receivers.values() {
            receiver.signal_stop();
        }
        for (_, receiver) in std::mem::take(&mut self.receivers) {
            // In-flight requests finish, so what they were acknowledged for is queued.
            receiver.stop(deadline).await;
        }
        for emitter in &self.emitters {
            emitter.emit().await;
        }
        for exporter in self.exporters.values() {
            exporter.close();
        }
        let mut drained = true;
        for exporter in self.exporters.values_mut() {
            if !exporter.drain(deadline).await && drained {
                drained = false;
                tracing::warn!("grace period over: dropping what is still queued in memory (disk queues keep theirs)");
            }
        }
        let mut left_on_disk = 0;
        for exporter in self.exporters.values() {
            exporter.finish().await;
            let (entries, bytes, items) = exporter.queue.usage();
            if exporter.queue.is_durable() && items > 0 {
                tracing::info!(queue = %exporter.name, entries, bytes, items, "left in the disk queue; delivered after the next start");
                left_on_disk += items as u64;
            }
        }
        for task in self.retiring.drain(..) {
            let _ = tokio::time::timeout_at(deadline, task).await;
        }
        let dropped = self
            .metrics
            .total("ignis_exporter_dropped_items", &[("reason", "shutdown")]);
        let mut tasks: Vec<JoinHandle<()>> = self.generation.drain(..).collect();
        tasks.extend(self.admin.take().map(|(_, task)| task));
        for task in &tasks {
            task.abort();
        }
        // Awaited, so their listeners are closed before a restart binds the
        // same addresses (on a current-thread runtime an aborted task is
        // only dropped when the scheduler next runs it).
        for task in tasks {
            let _ = task.await;
        }
        ShutdownReport {
            drained,
            left_on_disk,
            dropped,
        }
    }
}

/// Tasks aborted when dropped, unless taken.
struct Tasks(Vec<JoinHandle<()>>);

impl Drop for Tasks {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// The pipelines of the three signals, and what their fan-outs share.
struct Graphs {
    traces: SignalGraph<Traces>,
    metrics: SignalGraph<Metrics>,
    logs: SignalGraph<Logs>,
    limiter: Arc<MemoryLimiter>,
    budget: Arc<Budget>,
    registry: Arc<Registry>,
}

impl Graphs {
    /// The fan-outs of one receiver (or connector) and transport.
    fn fanouts(&self, receiver: &ComponentId, transport: &str) -> Fanouts {
        (
            self.fanout(&self.traces, receiver, transport),
            self.fanout(&self.metrics, receiver, transport),
            self.fanout(&self.logs, receiver, transport),
        )
    }

    fn fanout<S: Signal>(
        &self,
        graph: &SignalGraph<S>,
        receiver: &ComponentId,
        transport: &str,
    ) -> Arc<Fanout<S>> {
        Arc::new(Fanout::new(
            graph.for_receiver(receiver),
            Arc::clone(&self.budget),
            Arc::clone(&self.limiter),
            &self.registry,
            &receiver.to_string(),
            transport,
        ))
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
