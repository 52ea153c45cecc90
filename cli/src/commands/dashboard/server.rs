//! The page and `/api/status`, served until the caller's shutdown.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use super::Sources;

/// The page, with its style and script inline.
const PAGE: &str = include_str!("page.html");

/// The dashboard's listener on `addr`.
///
/// # Errors
/// When the address cannot be bound.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding the dashboard to {addr}"))
}

/// Serves the dashboard of `sources` on `listener` until `shutdown` completes: what `docclass
/// dashboard` runs, and `docclass run --dashboard` beside its run.
///
/// # Errors
/// When serving fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    sources: Sources,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let app =
        axum::Router::new().route("/", get(page)).route("/api/status", get(api_status)).with_state(Arc::new(sources));
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await?;
    Ok(())
}

async fn page(State(sources): State<Arc<Sources>>) -> impl IntoResponse {
    let html = PAGE.replace("{{REFRESH_MS}}", &(u64::from(sources.refresh_secs) * 1000).to_string());
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-store")], html)
}

async fn api_status(State(sources): State<Arc<Sources>>) -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "no-store")], Json(sources.status().await))
}
