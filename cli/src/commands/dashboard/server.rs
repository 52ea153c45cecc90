//! The page and `/api/status`, served until the caller's shutdown — within limits: the services' capped
//! accept loop (connections, header-read timeout, lifetime), a `Host` check against DNS rebinding, and
//! headers that keep the page from being framed, sniffed or given other scripts.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio_util::sync::CancellationToken;

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

/// Serves the dashboard of `sources` on `listener` until `shutdown` is cancelled: what `docclass
/// dashboard` runs, and `docclass run --dashboard` beside its run. Requests whose `Host` is neither an
/// IP address, `localhost`, nor one of `allowed_hosts` are refused (403).
pub async fn serve(
    listener: tokio::net::TcpListener,
    sources: Sources,
    allowed_hosts: Vec<String>,
    shutdown: CancellationToken,
) {
    let app = axum::Router::new()
        .route("/", get(page))
        .route("/api/status", get(api_status))
        .with_state(Arc::new(sources))
        .layer(axum::middleware::from_fn_with_state(Arc::new(allowed_hosts), guard));
    service_kit::serve_capped(listener, app, shutdown).await;
}

/// The page's policy: its own script and style (inline), data from its own origin, never framed.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
     connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// Refuses a request for another host — a page elsewhere that rebinds its name to this address must not
/// read the titles and dead letters shown here — and adds the security headers to every answer.
async fn guard(State(allowed): State<Arc<Vec<String>>>, request: Request, next: Next) -> Response {
    if !host_allowed(request.headers(), &allowed) {
        let said = "this dashboard answers requests for its own address; start it with --allow-host NAME to be reached by NAME";
        return (StatusCode::FORBIDDEN, said).into_response();
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

/// Whether `Host` names this dashboard: an IP address (no page can make a browser send another site's
/// request with an address for its host), `localhost`, or a name given with `--allow-host`.
fn host_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|value| value.to_str().ok()) else { return false };
    let name = match host.strip_prefix('[') {
        // [v6]:port
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, _port)| name),
    };
    name.parse::<std::net::IpAddr>().is_ok()
        || name.eq_ignore_ascii_case("localhost")
        || allowed.iter().any(|allowed| allowed.eq_ignore_ascii_case(name))
}

async fn page(State(sources): State<Arc<Sources>>) -> impl IntoResponse {
    let html = PAGE.replace("{{REFRESH_MS}}", &(u64::from(sources.refresh_secs) * 1000).to_string());
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-store")], html)
}

async fn api_status(State(sources): State<Arc<Sources>>) -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "no-store")], Json(sources.status_json().await))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_addresses_localhost_and_allowed_names_are_served() {
        let with_host = |host: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::HOST, HeaderValue::from_str(host).unwrap());
            headers
        };
        let allowed = vec!["dash.internal".to_owned()];
        for host in ["127.0.0.1:9200", "[::1]:9200", "10.0.0.5", "localhost:9200", "dash.internal:80", "DASH.internal"]
        {
            assert!(host_allowed(&with_host(host), &allowed), "{host}");
        }
        for host in ["evil.example:9200", "127.0.0.1.evil.example", "dash.internal.evil.example"] {
            assert!(!host_allowed(&with_host(host), &allowed), "{host}");
        }
        assert!(!host_allowed(&HeaderMap::new(), &allowed), "no Host at all");
    }
}
