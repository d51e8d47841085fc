//! The admin endpoint: `/healthz` (alive), `/readyz` (receivers bound) and
//! `/metrics` (Prometheus text). Readiness never depends on a destination: a
//! sidecar's readiness gates the whole pod.

use super::metrics::Registry;
use crate::exporters::ledger::Ledger;
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
    pub ledgers: Mutex<Vec<(String, Arc<Ledger>)>>,
}

impl AdminState {
    pub fn new(metrics: Arc<Registry>) -> Self {
        AdminState {
            metrics,
            ready: AtomicBool::new(false),
            ledgers: Mutex::new(Vec::new()),
        }
    }
}

pub fn router(state: Arc<AdminState>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/ledger", get(ledger))
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
