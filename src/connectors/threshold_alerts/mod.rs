//! `threshold_alerts`: rules over figures derived from the spans that pass
//! (error rate, p95 / p99 latency, request rate, GenAI tokens per model),
//! per service, judged once per `window`. A rule fires after `fire_after`
//! violating windows in a row and resolves after `resolve_after` good ones,
//! as Prometheus' `for:` and Alertmanager's resolution do. Each transition
//! becomes an OTLP log record in the logs pipelines that list the
//! connector as a receiver (traces in, logs out), and
//! `ignis_alert_active{connector,rule}` counts the firing subjects, which
//! the status page lists.
//!
//! A transition is kept until the logs pipelines have taken it (`settled`):
//! unlike the cumulative figures of `span_metrics`, a lost transition would
//! not come again. Alerts start over on a reload.

mod config;
mod window;

pub use config::{Measure, RuleConfig, Severity, ThresholdAlertsConfig};

use super::{Connector, Derived};
use crate::config::component::{settings, Context};
use crate::config::de::DeError;
use crate::config::node::{Located, Node};
use crate::metrics::{Counter, Registry};
use crate::proto::common::v1::any_value::Value;
use crate::proto::common::v1::{AnyValue, InstrumentationScope, KeyValue};
use crate::proto::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use crate::proto::resource::v1::Resource;
use crate::signal::walk::string_attribute;
use crate::signal::{AnyRequest, Logs, SignalKind, Traces};
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, Once, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use window::ServiceWindow;

/// Who an alert is about: a service, and for GenAI tokens a model.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
struct Subject {
    service: String,
    model: Option<String>,
}

/// One rule's standing for one subject.
#[derive(Default)]
struct Standing {
    bad_in_a_row: u32,
    good_in_a_row: u32,
    firing: bool,
}

impl Standing {
    /// Counts one window; returns the transition it makes, if any: fires
    /// (true) after `fire_after` bad windows in a row, resolves (false)
    /// after `resolve_after` good ones.
    fn count(&mut self, violated: bool, rule: &RuleConfig) -> Option<bool> {
        if violated {
            self.bad_in_a_row += 1;
            self.good_in_a_row = 0;
            if !self.firing && self.bad_in_a_row >= rule.fire_after {
                self.firing = true;
                return Some(true);
            }
        } else {
            self.good_in_a_row += 1;
            self.bad_in_a_row = 0;
            if self.firing && self.good_in_a_row >= rule.resolve_after {
                self.firing = false;
                return Some(false);
            }
        }
        None
    }

    /// Neither firing nor on its way to.
    fn quiet(&self) -> bool {
        !self.firing && self.bad_in_a_row == 0
    }
}

pub struct ThresholdAlerts {
    name: String,
    config: ThresholdAlertsConfig,
    registry: Arc<Registry>,
    /// The gauges are registered by the instance that runs (the first
    /// window), not by one read for a reload that may yet be refused.
    gauges: Once,
    state: Arc<Mutex<State>>,
    over_limit: Counter,
    dropped: Counter,
}

/// Transitions kept while the logs pipelines do not take them.
const OUTBOX: usize = 10_000;

#[derive(Default)]
struct State {
    /// The current window's figures, by service.
    window: HashMap<String, ServiceWindow>,
    /// Per rule (by index), per subject.
    standings: Vec<BTreeMap<Subject, Standing>>,
    /// Transitions not yet taken by the logs pipelines.
    outbox: Vec<(Subject, LogRecord)>,
    /// How many records of the outbox the last `emit` handed out.
    handed_out: usize,
}

fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn text(key: &str, value: &str) -> KeyValue {
    kv(key, Value::StringValue(value.to_owned()))
}

impl ThresholdAlerts {
    pub fn new(config: ThresholdAlertsConfig, name: String, registry: Arc<Registry>) -> Self {
        let over_limit = registry.counter(
            "ignis_alert_subjects_over_limit",
            &[("connector", name.as_str())],
        );
        let dropped = registry.counter(
            "ignis_alert_transitions_dropped",
            &[("connector", name.as_str())],
        );
        let state = State {
            standings: config.rules.iter().map(|_| BTreeMap::new()).collect(),
            ..State::default()
        };
        ThresholdAlerts {
            name,
            config,
            registry,
            gauges: Once::new(),
            state: Arc::new(Mutex::new(state)),
            over_limit,
            dropped,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a request's spans to the current window.
    pub fn record(&self, traces: &Traces) {
        let mut state = self.lock();
        let max = self.config.max_subjects;
        for rs in &traces.resource_spans {
            let resource = rs.resource.as_ref().map_or(&[][..], |r| &r.attributes);
            let service = string_attribute(resource, "service.name").unwrap_or("unknown_service");
            if !state.window.contains_key(service) && state.window.len() >= max {
                self.over_limit.add(1);
                continue;
            }
            let window = state.window.entry(service.to_owned()).or_default();
            for span in rs.scope_spans.iter().flat_map(|s| &s.spans) {
                window.record(span, max);
            }
        }
    }

    /// `ignis_alert_active{connector, rule}`: how many subjects the rule
    /// fires for now.
    fn register_gauges(&self) {
        for (index, rule) in self.config.rules.iter().enumerate() {
            let state: Weak<Mutex<State>> = Arc::downgrade(&self.state);
            self.registry.gauge(
                "ignis_alert_active",
                &[
                    ("connector", self.name.as_str()),
                    ("rule", rule.name.as_str()),
                ],
                move || {
                    state.upgrade().map_or(0, |state| {
                        let state = state.lock().unwrap_or_else(|p| p.into_inner());
                        state.standings[index].values().filter(|s| s.firing).count() as u64
                    })
                },
            );
        }
    }

    /// Closes the window: judges every rule for every subject, and queues
    /// a log record per transition. `now` in Unix nanoseconds.
    pub fn judge(&self, now: u64) {
        self.gauges.call_once(|| self.register_gauges());
        let window_s = self.config.window.0.as_secs_f64();
        let mut state = self.lock();
        let window = std::mem::take(&mut state.window);
        let mut transitions = Vec::new();
        for (index, rule) in self.config.rules.iter().enumerate() {
            // Who the rule watches: those it has a standing for, and those
            // the window saw.
            let mut subjects: Vec<Subject> = state.standings[index].keys().cloned().collect();
            for (service, figures) in &window {
                if rule.service.as_ref().is_some_and(|s| s != service) {
                    continue;
                }
                if rule.measure == Measure::GenAiTokens {
                    subjects.extend(figures.tokens.keys().map(|model| Subject {
                        service: service.clone(),
                        model: Some(model.clone()),
                    }));
                } else {
                    subjects.push(Subject {
                        service: service.clone(),
                        model: None,
                    });
                }
            }
            subjects.retain(|s| rule.model.is_none() || s.model.is_none() || s.model == rule.model);
            subjects.sort();
            subjects.dedup();
            let empty = ServiceWindow::default();
            let standings = &mut state.standings[index];
            for subject in subjects {
                let figures = window.get(&subject.service).unwrap_or(&empty);
                let value = figures.figure(
                    rule.measure,
                    subject.model.as_deref(),
                    window_s,
                    rule.min_spans,
                );
                let violated = value.is_some_and(|v| rule.violated_by(v));
                let full = standings.len() >= self.config.max_subjects;
                let standing = match standings.entry(subject.clone()) {
                    Entry::Occupied(known) => known.into_mut(),
                    Entry::Vacant(new) if !full => new.insert(Standing::default()),
                    Entry::Vacant(_) => {
                        self.over_limit.add(1);
                        continue;
                    }
                };
                if let Some(firing) = standing.count(violated, rule) {
                    transitions.push((subject.clone(), rule, firing, value));
                }
                // A quiet subject the window did not see is forgotten: what
                // is kept is bounded by what misbehaves.
                if standing.quiet() && !window.contains_key(&subject.service) {
                    standings.remove(&subject);
                }
            }
        }
        for (subject, rule, firing, value) in transitions {
            let record = self.record_of(&subject, rule, firing, value, now);
            state.outbox.push((subject, record));
        }
        // Logs pipelines refusing for hours: the oldest transitions go,
        // counted, rather than memory.
        if state.outbox.len() > OUTBOX {
            let excess = state.outbox.len() - OUTBOX;
            state.outbox.drain(..excess);
            self.dropped.add(excess as u64);
        }
    }

    /// The log record of one transition.
    fn record_of(
        &self,
        subject: &Subject,
        rule: &RuleConfig,
        firing: bool,
        value: Option<f64>,
        now: u64,
    ) -> LogRecord {
        let (number, severity) = match rule.severity {
            Severity::Warn => (13, "WARN"),
            Severity::Error => (17, "ERROR"),
        };
        let state = if firing { "firing" } else { "resolved" };
        let window = self.config.window.0;
        let value = value.unwrap_or(0.0);
        let direction = if rule.above.is_some() {
            "above"
        } else {
            "below"
        };
        let of = subject
            .model
            .as_ref()
            .map_or(String::new(), |m| format!(" model {m}"));
        let body = format!(
            "alert {} {state}: {}{of} {} = {value} ({direction} {} over {}s)",
            rule.name,
            subject.service,
            rule.measure.as_str(),
            rule.threshold(),
            window.as_secs_f64()
        );
        let mut attributes = vec![
            text("rule", &rule.name),
            text("state", state),
            text("service", &subject.service),
            text("measure", rule.measure.as_str()),
            kv("value", Value::DoubleValue(value)),
            kv("threshold", Value::DoubleValue(rule.threshold())),
            text("direction", direction),
            kv("window", Value::DoubleValue(window.as_secs_f64())),
            text("connector", &self.name),
        ];
        if let Some(model) = &subject.model {
            attributes.push(text("gen_ai.request.model", model));
        }
        LogRecord {
            time_unix_nano: now,
            observed_time_unix_nano: now,
            severity_number: number,
            severity_text: severity.into(),
            body: Some(AnyValue {
                value: Some(Value::StringValue(body)),
            }),
            attributes,
            event_name: "ignis.alert".into(),
            ..Default::default()
        }
    }

    /// The outbox as one logs request, a resource per service (so a
    /// backend files each alert with the service it is about).
    fn outbox_request(state: &State) -> Logs {
        let mut by_service: BTreeMap<&str, Vec<LogRecord>> = BTreeMap::new();
        for (subject, record) in &state.outbox {
            by_service
                .entry(subject.service.as_str())
                .or_default()
                .push(record.clone());
        }
        Logs {
            resource_logs: by_service
                .into_iter()
                .map(|(service, log_records)| ResourceLogs {
                    resource: Some(Resource {
                        attributes: vec![text("service.name", service)],
                        ..Default::default()
                    }),
                    scope_logs: vec![ScopeLogs {
                        scope: Some(InstrumentationScope {
                            name: "ignis-agent/threshold_alerts".into(),
                            version: env!("CARGO_PKG_VERSION").into(),
                            ..Default::default()
                        }),
                        log_records,
                        ..Default::default()
                    }],
                    ..Default::default()
                })
                .collect(),
        }
    }
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

pub fn read(node: &Located<Node>, context: &Context) -> Result<Arc<dyn Connector>, DeError> {
    let config: ThresholdAlertsConfig = settings(node)?;
    config.check().map_err(|e| e.locate(node))?;
    Ok(Arc::new(ThresholdAlerts::new(
        config,
        context.name(),
        Arc::clone(context.metrics),
    )))
}

impl Connector for ThresholdAlerts {
    fn input(&self) -> SignalKind {
        SignalKind::Traces
    }

    fn output(&self) -> SignalKind {
        SignalKind::Logs
    }

    fn consume(&self, request: AnyRequest<'_>) {
        if let AnyRequest::Traces(traces) = request {
            self.record(traces);
        }
    }

    fn interval(&self) -> Duration {
        self.config.window.0
    }

    fn emit(&self) -> Option<Derived> {
        self.judge(now_nanos());
        let mut state = self.lock();
        state.handed_out = state.outbox.len();
        (!state.outbox.is_empty()).then(|| Derived::Logs(Self::outbox_request(&state)))
    }

    fn settled(&self, taken: bool) {
        let mut state = self.lock();
        if taken {
            let handed_out = state.handed_out.min(state.outbox.len());
            state.outbox.drain(..handed_out);
        }
        state.handed_out = 0;
    }
}

#[cfg(test)]
mod tests;
