//! An AWS endpoint that goes away: an HTTP proxy in front of the emulator that passes every call through
//! and counts it, until told to make the emulator unreachable — by refusing connections (the listening
//! socket closed, the open connections reset: a load balancer gone) or by stalling them (every request
//! held unanswered until the outage ends, then its connection dropped: a network black hole).
//!
//! It sits on the wire, so the services under test see what they would see from SQS and DynamoDB: the
//! SDK's connect errors, its timeouts and its retries, not a mock's idea of them. The counts are what
//! the benchmark reports per document: requests by operation, and every item `BatchWriteItem` wrote
//! (the writes, not the rows: a row written twice is counted twice).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode, header};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::sync::watch;

/// What the proxy does with a connection right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Passes every call through.
    Pass,
    /// Refuses connections and resets the open ones.
    Refuse,
    /// Accepts connections and holds every request unanswered; each is dropped when the outage ends.
    Stall,
    /// Passes every call through, but sends only the first half of any answer over 64 KB (with the whole
    /// length in its header) and then drops the connection: a download that breaks off midway.
    CutBodies,
}

/// Answers at least this large are cut in [`Mode::CutBodies`].
const CUT_ABOVE: usize = 64 * 1024;

/// An answer's body: whole, or cut off midway.
type Body = http_body_util::combinators::BoxBody<Bytes, Dropped>;

/// What went through the proxy so far.
#[derive(Debug, Default, Clone)]
pub struct Traffic {
    /// Requests by operation, as the `X-Amz-Target` header names it (`AmazonSQS.ReceiveMessage`).
    pub requests: BTreeMap<String, u64>,
    /// DynamoDB write capacity units the successful `BatchWriteItem` calls consumed (one per started KB
    /// of each item written, as DynamoDB bills them).
    pub write_units: u64,
    /// Successful writes per item id (`id` attribute), unprocessed items excluded.
    pub writes: HashMap<String, u32>,
    /// Requests that met an outage (refused connections are not seen, so are not counted).
    pub stalled: u64,
}

impl Traffic {
    /// Requests to one service: `AmazonSQS` or `DynamoDB_20120810`.
    pub fn requests_to(&self, service: &str) -> u64 {
        self.requests.iter().filter(|(operation, _)| operation.starts_with(service)).map(|(_, n)| n).sum()
    }
}

/// A running proxy; it stops with the runtime it was started on.
pub struct ChaosProxy {
    /// Point the services here (`AWS_ENDPOINT_URL`).
    pub endpoint: String,
    shared: Arc<Shared>,
}

struct Shared {
    upstream: String,
    client: Client<HttpConnector, Full<Bytes>>,
    mode: watch::Sender<Mode>,
    traffic: Mutex<Traffic>,
}

impl ChaosProxy {
    /// Starts a proxy on 127.0.0.1 in front of `upstream` (an emulator's endpoint).
    ///
    /// # Panics
    /// When no port can be bound.
    pub async fn start(upstream: &str) -> ChaosProxy {
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_owned(),
            client: Client::builder(TokioExecutor::new()).build_http(),
            mode: watch::channel(Mode::Pass).0,
            traffic: Mutex::new(Traffic::default()),
        });
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(serve(shared.clone(), listener, address));
        ChaosProxy { endpoint: format!("http://{address}"), shared }
    }

    /// Switches what the proxy does.
    pub fn set(&self, mode: Mode) {
        self.shared.mode.send_replace(mode);
    }

    /// What went through so far.
    pub fn traffic(&self) -> Traffic {
        self.shared.traffic.lock().unwrap().clone()
    }

    /// How many of `ids` have been written at least once: progress, without copying every count.
    pub fn written_among<'a>(&self, ids: impl Iterator<Item = &'a str>) -> usize {
        let traffic = self.shared.traffic.lock().unwrap();
        ids.filter(|id| traffic.writes.contains_key(*id)).count()
    }
}

/// Accepts until an outage refuses connections: then the listening socket is closed and every open
/// connection dropped, and the same port is bound again when the outage ends.
async fn serve(shared: Arc<Shared>, mut listener: tokio::net::TcpListener, address: SocketAddr) {
    let mut mode = shared.mode.subscribe();
    loop {
        let mut connections = tokio::task::JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    let _ = stream.set_nodelay(true);
                    let shared = shared.clone();
                    connections.spawn(async move {
                        let service = hyper::service::service_fn(move |request| handle(shared.clone(), request));
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
                changed = mode.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    if *mode.borrow_and_update() == Mode::Refuse {
                        break;
                    }
                }
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        drop(listener);
        connections.abort_all();
        while *mode.borrow_and_update() == Mode::Refuse {
            if mode.changed().await.is_err() {
                return;
            }
        }
        // The port was ours a moment ago; a listener may bind it again at once (SO_REUSEADDR).
        listener = loop {
            match tokio::net::TcpListener::bind(address).await {
                Ok(listener) => break listener,
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
            }
        };
    }
}

/// Waits out a stall; true if there was one.
async fn stalled(shared: &Shared) -> bool {
    let mut mode = shared.mode.subscribe();
    let mut was = false;
    while *mode.borrow_and_update() == Mode::Stall {
        was = true;
        if mode.changed().await.is_err() {
            break;
        }
    }
    was
}

#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("dropped by the outage")
    }
}

impl std::error::Error for Dropped {}

async fn handle(shared: Arc<Shared>, request: Request<Incoming>) -> Result<Response<Body>, Dropped> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await.map(|collected| collected.to_bytes()).unwrap_or_default();
    // A black hole: the request is never answered; its connection dies when the outage ends.
    if stalled(&shared).await {
        shared.traffic.lock().unwrap().stalled += 1;
        return Err(Dropped);
    }
    let operation = parts.headers.get("x-amz-target").and_then(|t| t.to_str().ok()).unwrap_or("other").to_owned();
    let uri = format!("{}{}", shared.upstream, parts.uri.path_and_query().map_or("/", |p| p.as_str()));
    let mut upstream = Request::builder().method(parts.method).uri(uri);
    for (name, value) in &parts.headers {
        if name != header::HOST && name != header::CONTENT_LENGTH {
            upstream = upstream.header(name, value);
        }
    }
    let answer = shared.client.request(upstream.body(Full::new(body.clone())).unwrap()).await;
    let (status, response) = match answer {
        Ok(response) => {
            let (parts, answer) = response.into_parts();
            let answer = answer.collect().await.map(|collected| collected.to_bytes()).unwrap_or_default();
            (parts.status, Response::from_parts(parts, answer))
        }
        Err(error) => {
            let answer = Bytes::from(format!("proxy: {error}"));
            (StatusCode::BAD_GATEWAY, Response::builder().status(StatusCode::BAD_GATEWAY).body(answer).unwrap())
        }
    };
    // An answer that comes back during a stall is lost with it, as a black hole would lose it.
    if stalled(&shared).await {
        shared.traffic.lock().unwrap().stalled += 1;
        return Err(Dropped);
    }
    let mut traffic = shared.traffic.lock().unwrap();
    *traffic.requests.entry(operation.clone()).or_default() += 1;
    if operation.ends_with(".BatchWriteItem") && status.is_success() {
        count_writes(&mut traffic, &body, response.body());
    }
    drop(traffic);
    if *shared.mode.borrow() == Mode::CutBodies && response.body().len() > CUT_ABOVE {
        return Ok(response.map(|whole| {
            let half = whole.slice(..whole.len() / 2);
            let frames = [Ok(hyper::body::Frame::data(half)), Err(Dropped)];
            http_body_util::StreamBody::new(futures_util::stream::iter(frames)).boxed()
        }));
    }
    Ok(response.map(|whole| Full::new(whole).map_err(|never| match never {}).boxed()))
}

/// Adds the items a successful `BatchWriteItem` wrote: those asked for, less those answered unprocessed.
fn count_writes(traffic: &mut Traffic, request: &[u8], response: &[u8]) {
    let Ok(call) = serde_json::from_slice::<serde_json::Value>(request) else { return };
    let answer: serde_json::Value = serde_json::from_slice(response).unwrap_or_default();
    let mut unprocessed: Vec<&str> = answer["UnprocessedItems"]
        .as_object()
        .into_iter()
        .flat_map(|tables| tables.values())
        .filter_map(|requests| requests.as_array())
        .flatten()
        .filter_map(|request| request["PutRequest"]["Item"]["id"]["S"].as_str())
        .collect();
    let Some(tables) = call["RequestItems"].as_object() else { return };
    for request in tables.values().filter_map(|r| r.as_array()).flatten() {
        let item = &request["PutRequest"]["Item"];
        let Some(id) = item["id"]["S"].as_str() else { continue };
        if let Some(at) = unprocessed.iter().position(|skipped| *skipped == id) {
            unprocessed.swap_remove(at);
            continue;
        }
        *traffic.writes.entry(id.to_owned()).or_default() += 1;
        traffic.write_units += item_size(item).div_ceil(1024).max(1);
    }
}

/// An item's size as DynamoDB counts it: each attribute's name plus its value (strings and binaries by
/// their length, numbers about one byte per two digits, lists and maps 3 bytes plus their elements).
fn item_size(item: &serde_json::Value) -> u64 {
    item.as_object()
        .map_or(0, |attributes| attributes.iter().map(|(name, value)| name.len() as u64 + value_size(value)).sum())
}

fn value_size(value: &serde_json::Value) -> u64 {
    let Some((kind, inner)) = value.as_object().and_then(|v| v.iter().next()) else { return 0 };
    match kind.as_str() {
        "S" | "B" => inner.as_str().map_or(0, |s| s.len() as u64),
        "N" => inner.as_str().map_or(0, |n| (n.len() as u64).div_ceil(2) + 1),
        "BOOL" | "NULL" => 1,
        "L" => 3 + inner.as_array().map_or(0, |values| values.iter().map(|v| 1 + value_size(v)).sum()),
        "M" => 3 + item_size(inner) + inner.as_object().map_or(0, |m| m.len() as u64),
        _ => inner.to_string().len() as u64,
    }
}
