//! One receiver as the agent runs it: its servers, and the switches behind
//! which a reload installs new pipelines while the servers keep running.

use super::StartError;
use crate::config::ComponentId;
use crate::pipeline::{Fanout, Switch};
use crate::receivers::{FanoutSet, Receiver};
use crate::signal::{Logs, Metrics, Traces};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The fan-outs of one receiver and transport, for the three signals.
pub type Fanouts = (Arc<Fanout<Traces>>, Arc<Fanout<Metrics>>, Arc<Fanout<Logs>>);

pub struct RunningReceiver {
    /// The receiver's settings, digested (`Config::fingerprints`).
    pub fingerprint: u64,
    /// By transport (`grpc`, `http`): what its servers feed.
    switches: BTreeMap<String, FanoutSet>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    pub listening: Vec<(String, SocketAddr)>,
}

impl RunningReceiver {
    /// Binds and serves, feeding the fan-outs `fanouts` makes per transport.
    pub fn start(
        id: &ComponentId,
        receiver: &dyn Receiver,
        fingerprint: u64,
        fanouts: &dyn Fn(&str) -> Fanouts,
    ) -> Result<RunningReceiver, StartError> {
        let switches = Mutex::new(BTreeMap::new());
        let feeds = |transport: &str| -> FanoutSet {
            let (t, m, l) = fanouts(transport);
            let set = (Switch::new(t), Switch::new(m), Switch::new(l));
            switches
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(transport.to_owned(), set.clone());
            set
        };
        let (stop, stop_rx) = watch::channel(false);
        let name = id.to_string();
        let started =
            receiver
                .start(&name, &feeds, &stop_rx)
                .map_err(|source| StartError::Receiver {
                    receiver: name.clone(),
                    source,
                })?;
        Ok(RunningReceiver {
            fingerprint,
            switches: switches.into_inner().unwrap_or_else(|p| p.into_inner()),
            stop,
            tasks: started.tasks,
            listening: started.listening,
        })
    }

    /// Installs new pipelines behind the running servers.
    pub fn rewire(&self, fanouts: &dyn Fn(&str) -> Fanouts) {
        for (transport, (t, m, l)) in &self.switches {
            let (new_t, new_m, new_l) = fanouts(transport);
            t.set(new_t);
            m.set(new_m);
            l.set(new_l);
        }
    }

    /// Tells its servers to stop: they take no new connections or requests.
    pub fn signal_stop(&self) {
        let _ = self.stop.send(true);
    }

    /// Stops, letting in-flight requests finish until `deadline`; what is
    /// still open then (a stream whose body never comes) is cut.
    pub async fn stop(self, deadline: tokio::time::Instant) {
        self.signal_stop();
        for mut task in self.tasks {
            if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
                task.abort();
            }
        }
    }
}
