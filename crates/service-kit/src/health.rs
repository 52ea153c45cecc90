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
    tokio::spawn(serve_capped(listener, app, shutdown));
    tracing::info!(address = %bound, "serving /healthz and /metrics");
    Ok(bound)
}

/// Connections served at once; one more is closed as soon as it is accepted. A scraper and a health
/// check need one or two.
pub const MAX_CONNECTIONS: usize = 64;
/// Connections beyond [`MAX_CONNECTIONS`] kept for loopback peers: the container's own `--healthcheck`
/// still gets in while the cap is held from outside.
const LOOPBACK_RESERVE: usize = 8;
/// How long a connection may take to send its request head: an idle socket holds its slot no longer.
pub const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// The longest a connection lives, keep-alive included.
const CONNECTION_LIFETIME: std::time::Duration = std::time::Duration::from_secs(30);

/// Serves `app` on `listener` until `shutdown`, within the limits above: every HTTP endpoint docclass
/// serves (the services' health and metrics, the dashboard). (Written here rather than with
/// `axum::serve`, which offers neither a connection cap nor a header-read timeout: without them, 1,100
/// idle sockets starved `--healthcheck`, and on ECS a healthy task would be killed; the same made the
/// dashboard unreachable.)
pub async fn serve_capped(listener: tokio::net::TcpListener, app: Router, shutdown: CancellationToken) {
    let open = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let reserve = Arc::new(tokio::sync::Semaphore::new(LOOPBACK_RESERVE));
    // The connections holding the reserve, oldest first: each can be told to make way.
    let reserved: Arc<std::sync::Mutex<std::collections::VecDeque<(u64, CancellationToken)>>> = Arc::default();
    let mut next_id = 0_u64;
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors, say: pause rather than spin.
                tracing::warn!(%error, "HTTP endpoint: accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let (permit, evictable) = match open.clone().try_acquire_owned() {
            Ok(permit) => (permit, None),
            Err(_) if peer.ip().is_loopback() => {
                let Some(permit) = reserve_slot(&reserve, &reserved).await else { continue };
                next_id += 1;
                let token = CancellationToken::new();
                reserved.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push_back((next_id, token.clone()));
                (permit, Some((next_id, token)))
            }
            // Dropped: closed at once.
            Err(_) => continue,
        };
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let (shutdown, reserved) = (shutdown.clone(), reserved.clone());
        tokio::spawn(async move {
            let _permit = permit;
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                // A reserve slot serves one request: it is for the health check, not a client's session.
                .keep_alive(evictable.is_none())
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            let evicted = evictable.as_ref().map(|(_, token)| token.clone()).unwrap_or_default();
            tokio::select! {
                _ = tokio::time::timeout(CONNECTION_LIFETIME, connection) => {}
                () = shutdown.cancelled() => {}
                () = evicted.cancelled() => {}
            }
            if let Some((id, _)) = evictable {
                reserved.lock().unwrap_or_else(std::sync::PoisonError::into_inner).retain(|(other, _)| *other != id);
            }
        });
    }
}

/// A slot of the loopback reserve. When every one is held, the oldest holder is told to make way: a
/// local client that reconnects in a loop (or holds idle sockets) cannot keep the container's own health
/// check out, since each new loopback connection displaces the oldest rather than being turned away.
async fn reserve_slot(
    reserve: &Arc<tokio::sync::Semaphore>,
    reserved: &std::sync::Mutex<std::collections::VecDeque<(u64, CancellationToken)>>,
) -> Option<tokio::sync::OwnedSemaphorePermit> {
    if let Ok(permit) = reserve.clone().try_acquire_owned() {
        return Some(permit);
    }
    let oldest = reserved.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pop_front();
    oldest?.1.cancel();
    // The displaced connection gives its slot back as soon as its task sees the cancellation.
    tokio::time::timeout(std::time::Duration::from_millis(200), reserve.clone().acquire_owned()).await.ok()?.ok()
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

/// Whether the service whose endpoint is bound to `address` answers `GET /healthz` with 200 — what
/// `<service> --healthcheck` runs for Docker's `HEALTHCHECK` and ECS's container `healthCheck`: the
/// images are FROM scratch, with no shell or curl to do it. A wildcard address is asked on loopback.
pub fn is_healthy(address: SocketAddr) -> bool {
    use std::io::{Read, Write};
    let address = if address.ip().is_unspecified() {
        SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, address.port()))
    } else {
        address
    };
    let timeout = std::time::Duration::from_secs(3);
    let Ok(mut stream) = std::net::TcpStream::connect_timeout(&address, timeout) else { return false };
    let _ = stream.set_read_timeout(Some(timeout));
    let _ = stream.set_write_timeout(Some(timeout));
    if stream.write_all(b"GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n").is_err() {
        return false;
    }
    let mut response = Vec::new();
    let _ = stream.take(4096).read_to_end(&mut response);
    let status_line = response.split(|byte| *byte == b'\n').next().unwrap_or_default();
    status_line.starts_with(b"HTTP/1.") && status_line.get(8..13) == Some(b" 200 ")
}

/// For `--healthcheck`: exits 0 if the service at `address` is healthy, else 1; returns only when
/// `requested` is false.
pub(crate) fn exit_if_healthcheck(requested: bool, address: SocketAddr) {
    if requested {
        std::process::exit(if is_healthy(address) { 0 } else { 1 });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_healthcheck_sees_a_running_service_and_a_stopping_one() {
        let shutdown = CancellationToken::new();
        let address =
            serve_health(SocketAddr::from(([127, 0, 0, 1], 0)), Registry::default(), shutdown.clone()).await.unwrap();
        assert!(tokio::task::spawn_blocking(move || is_healthy(address)).await.unwrap());
        // Once shutdown begins the endpoint answers 503 (and soon nothing at all).
        shutdown.cancel();
        assert!(!tokio::task::spawn_blocking(move || is_healthy(address)).await.unwrap());
        let nothing_there = SocketAddr::from(([127, 0, 0, 1], 9));
        assert!(!tokio::task::spawn_blocking(move || is_healthy(nothing_there)).await.unwrap());
    }

    /// Idle sockets, more than the cap and the loopback reserve, held open, and more opened in a loop: the
    /// health check still gets its answer at once, and the idle ones are closed once the header timeout
    /// runs out.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn idle_connections_cannot_starve_the_health_check() {
        use tokio::io::AsyncReadExt;
        let shutdown = CancellationToken::new();
        let address =
            serve_health(SocketAddr::from(([127, 0, 0, 1], 0)), Registry::default(), shutdown.clone()).await.unwrap();
        let mut idle = Vec::new();
        for _ in 0..MAX_CONNECTIONS + LOOPBACK_RESERVE + 100 {
            idle.push(tokio::net::TcpStream::connect(address).await.unwrap());
        }
        // Past the cap and the reserve: the check gets in at once, displacing the oldest idle loopback
        // socket of the reserve (it used to wait for the idle ones' header timeout).
        assert!(
            tokio::task::spawn_blocking(move || is_healthy(address)).await.unwrap(),
            "the health check did not get through while {} idle sockets were held",
            idle.len()
        );
        // A local client reconnecting in a loop, each connection idle: the check still gets in.
        for _ in 0..3 * LOOPBACK_RESERVE {
            idle.push(tokio::net::TcpStream::connect(address).await.unwrap());
        }
        assert!(tokio::task::spawn_blocking(move || is_healthy(address)).await.unwrap());
        // The first idle socket was closed by the server: reading it ends.
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(HEADER_READ_TIMEOUT * 2, idle[0].read(&mut byte)).await;
        assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "an idle connection stays open: {read:?}");
        shutdown.cancel();
    }
}
