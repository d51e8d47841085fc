//! The admin endpoint: `/healthz` (alive), `/readyz` (receivers bound),
//! `/metrics` (Prometheus text), `/api/status`, `/api/history`, `/api/redaction`,
//! `/api/ledger` and the status page at `/` (`page.html`, which reads those
//! three). Readiness never depends on a destination: a sidecar's readiness
//! gates the whole pod.

use super::history::History;
use crate::exporters::health::Healths;
use crate::exporters::ledger::Ledgers;
use crate::metrics::Registry;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// What the admin endpoint reads.
pub struct AdminState {
    pub metrics: Arc<Registry>,
    /// Set once every receiver is listening.
    pub ready: AtomicBool,
    /// Delivery ledgers by `exporter/signal`.
    pub ledgers: Ledgers,
    /// Every exporter's health, by `exporter/signal`.
    pub healths: Healths,
    /// What the status page charts.
    pub history: History,
}

impl AdminState {
    pub fn new(metrics: Arc<Registry>) -> Self {
        AdminState {
            metrics,
            ready: AtomicBool::new(false),
            ledgers: Mutex::new(Vec::new()),
            healths: Mutex::new(Vec::new()),
            history: History::new(),
        }
    }
}

pub fn router(state: Arc<AdminState>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/ledger", get(ledger))
        .route("/api/status", get(status_json))
        .route("/api/history", get(history))
        .route("/api/redaction", get(redaction))
        .route("/", get(status_page))
        .with_state(state)
}

async fn readyz(State(state): State<Arc<AdminState>>) -> impl IntoResponse {
    if state.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "starting\n")
    }
}

async fn metrics(State(state): State<Arc<AdminState>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}

#[derive(serde::Deserialize)]
struct LedgerQuery {
    limit: Option<usize>,
}

/// The newest ledger entries of every exporter that keeps one, as JSON:
/// `{"ignis/traces": [{"id": .., "outcome": "confirmed", ..}, ..]}`.
async fn ledger(
    State(state): State<Arc<AdminState>>,
    Query(q): Query<LedgerQuery>,
) -> impl IntoResponse {
    let limit = q.limit.unwrap_or(100);
    let ledgers = state.ledgers.lock().unwrap_or_else(|p| p.into_inner());
    let body: serde_json::Map<String, serde_json::Value> = ledgers
        .iter()
        .map(|(name, ledger)| {
            (
                name.clone(),
                serde_json::to_value(ledger.recent(limit)).unwrap_or_default(),
            )
        })
        .collect();
    axum::Json(body)
}

/// What the redaction processors found, by detector, location and key
/// (audit mode and `action: report`), and what they redacted, by rule.
async fn redaction(State(state): State<Arc<AdminState>>) -> impl IntoResponse {
    axum::Json(crate::processors::redaction::findings_json(&state.metrics))
}

/// The figures of `/metrics` as JSON: `{"metrics": [{"name", "labels", "value"}]}`.
async fn status_json(State(state): State<Arc<AdminState>>) -> impl IntoResponse {
    let metrics: Vec<serde_json::Value> = state
        .metrics
        .snapshot()
        .into_iter()
        .map(|(name, labels, value)| {
            let labels: serde_json::Map<String, serde_json::Value> = labels
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.into()))
                .collect();
            serde_json::json!({ "name": name, "labels": labels, "value": value })
        })
        .collect();
    let exporters: Vec<_> = state
        .healths
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .map(|(health, queue)| health.report(&**queue))
        .collect();
    axum::Json(serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "ready": state.ready.load(Ordering::Relaxed),
        "exporters": exporters,
        "metrics": metrics,
    }))
}

async fn history(State(state): State<Arc<AdminState>>) -> impl IntoResponse {
    axum::Json(state.history.to_json())
}

/// The status page: self-contained (no CDN), live from the three APIs.
async fn status_page() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            // Nothing but this agent: a page that can only talk to where it came from.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
                 connect-src 'self'; img-src data:",
            ),
        ],
        include_str!("page.html"),
    )
}
