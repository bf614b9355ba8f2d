//! The HTTP admin listener: `/livez` (the process answers), `/readyz` (logs are
//! recovered and requests are served) and Prometheus `/metrics`.
//!
//! It serves from before log recovery starts: meanwhile `/livez` answers 200 (a
//! long recovery is not a hung process), `/readyz` and `/metrics` 503.

use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::broker::Broker;

/// What the endpoints answer from: no broker until the logs are recovered.
#[derive(Default)]
pub struct AdminState {
    broker: OnceLock<Arc<Broker>>,
}

impl AdminState {
    /// The logs are recovered: answer from `broker` from now on.
    pub fn set_broker(&self, broker: Arc<Broker>) {
        if self.broker.set(broker).is_err() {
            tracing::warn!("the admin listener was given a broker twice; keeping the first");
        }
    }
}

/// Serves the admin endpoints until `shutdown` fires.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AdminState>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/livez", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}

async fn readyz(State(state): State<Arc<AdminState>>) -> impl IntoResponse {
    match state.broker.get() {
        Some(broker) => match broker.not_ready_because() {
            None => (StatusCode::OK, "ready\n".to_owned()),
            Some(reason) => (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("not ready: {reason}\n"),
            ),
        },
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: recovering logs\n".to_owned(),
        ),
    }
}

async fn metrics(State(state): State<Arc<AdminState>>) -> axum::response::Response {
    let Some(broker) = state.broker.get() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "recovering logs\n").into_response();
    };
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        broker.render_metrics(),
    )
        .into_response()
}
