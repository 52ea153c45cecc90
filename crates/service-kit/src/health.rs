//! `GET /healthz` and `GET /metrics` for a running service: what ECS health checks and Prometheus read.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;

/// What the endpoints read.
#[derive(Clone)]
struct Service {
    registry: Arc<Registry>,
    /// Cancelled when the service starts shutting down: from then on it reports unhealthy, so a load
    /// balancer or orchestrator stops counting on it.
    shutdown: CancellationToken,
}

/// Serves the endpoints on `address` until `shutdown` is cancelled; answers the bound address (useful
/// with port 0).
///
/// # Errors
/// When the address cannot be bound.
pub async fn serve_health(
    address: SocketAddr,
    registry: Registry,
    shutdown: CancellationToken,
) -> anyhow::Result<SocketAddr> {
    serve_health_with(address, registry, Router::new(), shutdown).await
}

/// [`serve_health`] with more endpoints beside the two, such as feed-ingest's `/feeds`.
///
/// # Errors
/// When the address cannot be bound.
pub async fn serve_health_with(
    address: SocketAddr,
    registry: Registry,
    routes: Router,
    shutdown: CancellationToken,
) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("binding the health/metrics endpoint to {address}"))?;
    let bound = listener.local_addr()?;
    let service = Service { registry: Arc::new(registry), shutdown: shutdown.clone() };
    let app =
        Router::new().route("/healthz", get(healthz)).route("/metrics", get(metrics)).with_state(service).merge(routes);
    tokio::spawn(async move {
        let server = axum::serve(listener, app).with_graceful_shutdown(async move { shutdown.cancelled().await });
        if let Err(error) = server.await {
            tracing::error!(%error, "health/metrics endpoint failed");
        }
    });
    tracing::info!(address = %bound, "serving /healthz and /metrics");
    Ok(bound)
}

async fn healthz(State(service): State<Service>) -> impl IntoResponse {
    if service.shutdown.is_cancelled() {
        (StatusCode::SERVICE_UNAVAILABLE, "stopping\n")
    } else {
        (StatusCode::OK, "ok\n")
    }
}

async fn metrics(State(service): State<Service>) -> impl IntoResponse {
    let mut body = String::new();
    match prometheus_client::encoding::text::encode(&mut body, &service.registry) {
        Ok(()) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
            body,
        ),
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, [(header::CONTENT_TYPE, "text/plain")], error.to_string()),
    }
}
