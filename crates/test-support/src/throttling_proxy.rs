//! A DynamoDB endpoint that misbehaves the way DynamoDB does under load: an HTTP proxy in front of the
//! emulator that passes every call through, except that some `BatchWriteItem` calls are refused with
//! `ProvisionedThroughputExceededException` and others are only half carried out, the rest answered as
//! `UnprocessedItems`.
//!
//! moto never throttles, and a mock of the SDK would test the mock; this sits on the wire, so the real
//! SDK, its retry layer and our adapter all see the real error shapes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// What the proxy did to `BatchWriteItem` calls so far.
#[derive(Debug, Default)]
pub struct ThrottleCounts {
    /// Calls passed through untouched.
    pub passed: AtomicU64,
    /// Calls refused whole with `ProvisionedThroughputExceededException`.
    pub refused: AtomicU64,
    /// Calls of which only the first half was written; the rest came back as `UnprocessedItems`.
    pub halved: AtomicU64,
}

/// A running proxy; it stops with the test's runtime.
pub struct ThrottlingProxy {
    /// Point the DynamoDB client here.
    pub endpoint: String,
    /// What it has done.
    pub counts: Arc<ThrottleCounts>,
}

struct Upstream {
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
    counts: Arc<ThrottleCounts>,
    calls: AtomicU64,
    behaviour: Behaviour,
}

/// How often the proxy refuses and halves `BatchWriteItem` calls.
#[derive(Debug, Clone, Copy)]
pub struct Behaviour {
    /// The first this many calls are all refused: a cold table, long enough to outlast the SDK's own
    /// retries, so our adapter and runtime must handle the throttling themselves.
    pub refuse_first: u64,
    /// After those, the chance that a call is refused.
    pub refuse: f64,
    /// The chance that a call that is not refused is halved.
    pub halve: f64,
}

impl ThrottlingProxy {
    /// Starts a proxy on 127.0.0.1 in front of `upstream` (an emulator's endpoint).
    ///
    /// # Panics
    /// When no port can be bound.
    pub async fn start(upstream: &str, behaviour: Behaviour) -> ThrottlingProxy {
        let counts = Arc::new(ThrottleCounts::default());
        let state = Arc::new(Upstream {
            base: upstream.trim_end_matches('/').to_owned(),
            client: Client::builder(TokioExecutor::new()).build_http(),
            counts: counts.clone(),
            calls: AtomicU64::new(0),
            behaviour,
        });
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new().fallback(proxy).with_state(state);
        tokio::spawn(async move { axum::serve(listener, app).await });
        ThrottlingProxy { endpoint, counts }
    }
}

async fn proxy(State(upstream): State<Arc<Upstream>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = body.collect().await.map(|collected| collected.to_bytes()).unwrap_or_default();
    let is_batch_write = parts
        .headers
        .get("x-amz-target")
        .and_then(|target| target.to_str().ok())
        .is_some_and(|target| target.ends_with(".BatchWriteItem"));
    if !is_batch_write {
        return forward(&upstream, parts, body).await;
    }
    let behaviour = upstream.behaviour;
    if upstream.calls.fetch_add(1, Ordering::Relaxed) < behaviour.refuse_first || fastrand::f64() < behaviour.refuse {
        upstream.counts.refused.fetch_add(1, Ordering::Relaxed);
        throughput_exceeded()
    } else if fastrand::f64() < behaviour.halve {
        upstream.counts.halved.fetch_add(1, Ordering::Relaxed);
        halve(&upstream, parts, body).await
    } else {
        upstream.counts.passed.fetch_add(1, Ordering::Relaxed);
        forward(&upstream, parts, body).await
    }
}

/// Sends the call on unchanged (moto does not check signatures, so a changed body may go too).
async fn forward(upstream: &Upstream, parts: axum::http::request::Parts, body: Bytes) -> Response {
    let uri = format!("{}{}", upstream.base, parts.uri.path_and_query().map_or("/", |p| p.as_str()));
    let mut request = hyper::Request::builder().method(parts.method).uri(uri);
    for (name, value) in &parts.headers {
        if name != header::HOST && name != header::CONTENT_LENGTH {
            request = request.header(name, value);
        }
    }
    let request = request.body(Full::new(body)).unwrap();
    match upstream.client.request(request).await {
        Ok(response) => {
            let (parts, body) = response.into_parts();
            let body = body.collect().await.map(|collected| collected.to_bytes()).unwrap_or_default();
            Response::from_parts(parts, Body::from(body))
        }
        Err(error) => {
            Response::builder().status(StatusCode::BAD_GATEWAY).body(Body::from(format!("proxy: {error}"))).unwrap()
        }
    }
}

/// Writes the first half of each table's requests and answers the second half as unprocessed, as
/// DynamoDB does when a partition runs out of capacity mid-batch.
async fn halve(upstream: &Upstream, parts: axum::http::request::Parts, body: Bytes) -> Response {
    let mut call: serde_json::Value = serde_json::from_slice(&body).expect("BatchWriteItem takes JSON");
    let mut unprocessed = serde_json::Map::new();
    if let Some(tables) = call["RequestItems"].as_object_mut() {
        for (table, requests) in tables.iter_mut() {
            let requests = requests.as_array_mut().expect("a list of write requests");
            let rest = requests.split_off(requests.len().div_ceil(2));
            if !rest.is_empty() {
                unprocessed.insert(table.clone(), serde_json::Value::Array(rest));
            }
        }
    }
    let response = forward(upstream, parts, Bytes::from(serde_json::to_vec(&call).unwrap())).await;
    if !response.status().is_success() {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let body = body.collect().await.map(|collected| collected.to_bytes()).unwrap_or_default();
    let mut answer: serde_json::Value = serde_json::from_slice(&body).unwrap_or_else(|_| serde_json::json!({}));
    answer["UnprocessedItems"] = serde_json::Value::Object(unprocessed);
    let body = serde_json::to_vec(&answer).unwrap();
    // The body changed: its length and checksum must not describe the old one.
    parts.headers.remove("x-amz-crc32");
    parts.headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    Response::from_parts(parts, Body::from(body))
}

fn throughput_exceeded() -> Response {
    Response::builder()
        .status(StatusCode::BAD_REQUEST)
        .header(header::CONTENT_TYPE, "application/x-amz-json-1.0")
        .header("x-amzn-requestid", "throttling-proxy")
        .body(Body::from(
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"The level of configured provisioned throughput for the table was exceeded."}"#,
        ))
        .unwrap()
}
