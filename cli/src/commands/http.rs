//! A plain HTTP client for the operator's own endpoints — a running feed-ingest's `/feeds`, the
//! services' `/metrics` — which live on this host or the operator's network. Not the feed fetcher:
//! that one guards against private addresses and hostile answers, which would only get in the way here.

use std::time::Duration;

/// A client that gives up after `timeout`.
pub fn client(timeout: Duration) -> reqwest::Client {
    // reqwest is built without a crypto provider of its own; this installs the one the process shares.
    ::feeds::install_tls_provider();
    reqwest::Client::builder().timeout(timeout).build().expect("a client with a crypto provider always builds")
}

/// The body of a successful GET of `url`, or one line saying why there is none.
pub async fn get_text(client: &reqwest::Client, url: &str) -> Result<String, String> {
    let response = client.get(url).send().await.map_err(|e| e.without_url().to_string())?;
    if !response.status().is_success() {
        return Err(format!("HTTP {}", response.status()));
    }
    response.text().await.map_err(|e| e.without_url().to_string())
}
