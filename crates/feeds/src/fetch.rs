//! Fetching a feed over HTTP, defensively: only http and https, bounded redirects, connect and overall
//! timeouts, a cap on the body (checked against `Content-Length` and again while streaming, since the
//! header can lie or be absent, and counted after decompression, so a gzip bomb is refused), answers
//! compressed with gzip or brotli when the server can, conditional GET so an unchanged feed costs one
//! short answer, and no connection to a private address (see [`PrivateAddresses`]) — through a proxy
//! either.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Once};
use std::time::Duration;

use reqwest::header::{ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED};
use reqwest::{StatusCode, Url, redirect};

pub use crate::addresses::PrivateAddresses;

/// A refused address, as the error a connection attempt fails with.
#[derive(Debug, thiserror::Error)]
#[error(
    "{host} is a private address ({ip}), not fetched: --allow-private-network {ip}/32 (or a wider network) allows it"
)]
struct PrivateAddress {
    host: String,
    ip: IpAddr,
}

/// DNS through the system resolver, answering only addresses the policy allows: the check happens on
/// what the connection will use, so a name that resolves to a private address is refused too. The
/// proxies the environment names are the operator's and resolve unchecked.
struct CheckedResolver {
    policy: PrivateAddresses,
    proxies: Arc<HashSet<String>>,
}

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let (policy, proxies) = (self.policy.clone(), self.proxies.clone());
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if proxies.contains(&host) {
                return Ok(Box::new(found.into_iter()) as reqwest::dns::Addrs);
            }
            checked(&host, found, &policy)
                .map(|allowed| Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
                .map_err(|refused| Box::new(refused) as _)
        })
    }
}

/// The addresses of `found` the policy allows; an error naming the first refused one when none is.
fn checked(host: &str, found: Vec<SocketAddr>, policy: &PrivateAddresses) -> Result<Vec<SocketAddr>, PrivateAddress> {
    let allowed: Vec<SocketAddr> = found.iter().copied().filter(|a| policy.allows(a.ip())).collect();
    match (allowed.is_empty(), found.first()) {
        (true, Some(refused)) => Err(PrivateAddress { host: host.to_owned(), ip: refused.ip() }),
        _ => Ok(allowed),
    }
}

/// The variables reqwest takes its proxies from (and curl, and most tools).
const PROXY_VARIABLES: [&str; 6] = ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"];

/// The hosts of the proxies the environment names: a request through one is resolved by the proxy, not
/// here, so the fetcher checks each URL's name itself first (see [`Fetcher::fetch`]).
fn environment_proxies() -> HashSet<String> {
    PROXY_VARIABLES
        .iter()
        .filter_map(|name| std::env::var(name).ok())
        .filter(|value| !value.trim().is_empty())
        .filter_map(|value| {
            // `host:port` without a scheme is how many set it; reqwest reads it as http.
            let value = if value.contains("://") { value } else { format!("http://{value}") };
            Url::parse(&value).ok()?.host_str().map(|host| host.trim_matches(['[', ']']).to_owned())
        })
        .collect()
}

/// A URL whose host is an address literal the policy refuses (names are checked when resolved).
fn refused_literal(url: &Url, policy: &PrivateAddresses) -> Option<PrivateAddress> {
    let ip = match url.host()? {
        url::Host::Ipv4(v4) => IpAddr::V4(v4),
        url::Host::Ipv6(v6) => IpAddr::V6(v6),
        url::Host::Domain(_) => return None,
    };
    (!policy.allows(ip)).then(|| PrivateAddress { host: url.host_str().unwrap_or_default().to_owned(), ip })
}

/// Limits of one fetch.
#[derive(Debug, Clone)]
pub struct FetcherConfig {
    /// To establish the connection.
    pub connect_timeout: Duration,
    /// For the whole request, body included: a feed that trickles is cut off.
    pub timeout: Duration,
    /// The largest body accepted.
    pub max_bytes: usize,
    /// Redirects followed before giving up.
    pub max_redirects: usize,
    /// Which addresses may be connected to.
    pub private_addresses: PrivateAddresses,
}

impl Default for FetcherConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(30),
            // arXiv's busiest listing feeds are about 1 MiB.
            max_bytes: 4 * 1024 * 1024,
            max_redirects: 5,
            private_addresses: PrivateAddresses::refuse(),
        }
    }
}

/// `url` parsed, or the one line saying why it cannot be fetched: a link-local address with a zone id
/// (`http://[fe80::1%25eth0]/`), which the URL standard does not take, is named as the private address it
/// is.
fn parse_url(url: &str) -> Result<Url, FetchError> {
    Url::parse(url).map_err(|_| {
        let host = url.split_once("://").map_or("", |(_, rest)| rest);
        if host.starts_with('[') && host.split(']').next().is_some_and(|literal| literal.contains('%')) {
            let detail = "an IPv6 address with a zone id is link-local, a private address: not fetched".to_owned();
            FetchError::Refused { url: url.to_owned(), detail }
        } else {
            FetchError::Scheme { url: url.to_owned() }
        }
    })
}

/// A `Retry-After` value: delay seconds, or an HTTP date (RFC 9110 §10.2.3); a date in the past is no
/// wait at all.
fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    Some((at.to_utc() - chrono::Utc::now()).to_std().unwrap_or_default())
}

/// What a server told us to send next time, to get `304 Not Modified` if nothing changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    /// The `ETag` header.
    pub etag: Option<String>,
    /// The `Last-Modified` header.
    pub last_modified: Option<String>,
}

/// The outcome of a successful fetch.
#[derive(Debug)]
pub enum Fetched {
    /// The server answered 304: nothing changed since the validators were issued.
    NotModified,
    /// A new body, and the validators that came with it.
    Body {
        /// The feed document.
        bytes: Vec<u8>,
        /// For the next conditional GET.
        validators: Validators,
        /// The `charset` of the answer's `Content-Type`, if it gave one: it overrides the feed's own
        /// declaration (RFC 7303).
        charset: Option<String>,
    },
}

/// Why a fetch failed; [`FetchError::kind`] names it for metrics.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Not an absolute http(s) URL.
    #[error("{url}: only http and https URLs are fetched")]
    Scheme {
        /// The URL given.
        url: String,
    },
    /// The server answered with an error status.
    #[error("{url}: HTTP {status}")]
    Status {
        /// The URL fetched.
        url: String,
        /// The status.
        status: StatusCode,
        /// How long the server asked us to wait (`Retry-After`, in seconds or as an HTTP date), if it did.
        retry_after: Option<Duration>,
    },
    /// The body is larger than the configured cap.
    #[error("{url}: response larger than {limit} bytes")]
    TooLarge {
        /// The URL fetched.
        url: String,
        /// The cap.
        limit: usize,
    },
    /// Connecting or reading took too long.
    #[error("{url}: timed out")]
    Timeout {
        /// The URL fetched.
        url: String,
    },
    /// The feed, or a redirect, leads to an address the policy refuses; nothing was sent there.
    #[error("{url}: {detail}")]
    Refused {
        /// The URL fetched.
        url: String,
        /// Which address, and how to allow it.
        detail: String,
    },
    /// Any other transport failure (refused connection, TLS, too many redirects…).
    #[error("{url}: {detail}")]
    Transport {
        /// The URL fetched.
        url: String,
        /// What went wrong.
        detail: String,
    },
}

impl FetchError {
    /// A short, stable name of the failure.
    pub fn kind(&self) -> &'static str {
        match self {
            FetchError::Scheme { .. } => "scheme",
            FetchError::Status { .. } => "status",
            FetchError::TooLarge { .. } => "too_large",
            FetchError::Timeout { .. } => "timeout",
            FetchError::Refused { .. } => "refused",
            FetchError::Transport { .. } => "transport",
        }
    }

    /// What went wrong without the URL, for a line that names the feed already (a poll's log line,
    /// `feed-ingest --once`): the URL once per line, not three times.
    pub fn reason(&self) -> String {
        match self {
            FetchError::Scheme { .. } => "only http and https URLs are fetched".to_owned(),
            FetchError::Status { status, .. } => format!("HTTP {status}"),
            FetchError::TooLarge { limit, .. } => format!("response larger than {limit} bytes"),
            FetchError::Timeout { .. } => "timed out".to_owned(),
            FetchError::Refused { detail, .. } | FetchError::Transport { detail, .. } => detail.clone(),
        }
    }
}

/// An HTTP client for feeds; cheap to clone, one per process.
#[derive(Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    config: FetcherConfig,
    /// Whether the environment names a proxy: then every URL's name is resolved and checked here.
    proxied: bool,
}

/// Makes reqwest's TLS usable; call before building any `reqwest::Client` (building one panics
/// without). reqwest is built without a crypto provider of its own: this installs aws-lc-rs, which the
/// AWS SDK already links, rather than compiling a second one. Idempotent.
pub fn install_tls_provider() {
    static PROVIDER: Once = Once::new();
    PROVIDER.call_once(|| {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    });
}

impl Fetcher {
    /// A client with `config`'s limits.
    ///
    /// # Errors
    /// When the TLS stack cannot be set up.
    pub fn new(config: FetcherConfig) -> anyhow::Result<Self> {
        install_tls_provider();
        let proxies = Arc::new(environment_proxies());
        let client = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.timeout)
            .user_agent(concat!("docclass-feed-ingest/", env!("CARGO_PKG_VERSION")))
            // Names resolve through the check; address literals are checked in `fetch`.
            .dns_resolver(Arc::new(CheckedResolver {
                policy: config.private_addresses.clone(),
                proxies: proxies.clone(),
            }))
            // Followed by `fetch`, which checks every hop before it is requested: reqwest's redirect
            // policy cannot resolve a name, and through a proxy nothing else would check it.
            .redirect(redirect::Policy::none())
            .build()?;
        Ok(Self { client, config, proxied: !proxies.is_empty() })
    }

    /// Refuses `url` unless it is http(s) to an address the policy allows: a literal is checked as it
    /// is; a name is resolved and checked here when a proxy would otherwise resolve it unchecked.
    async fn check(&self, url: &Url, shown: &str) -> Result<(), FetchError> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(FetchError::Scheme { url: shown.to_owned() });
        }
        let policy = &self.config.private_addresses;
        let refused =
            |refused: PrivateAddress| FetchError::Refused { url: shown.to_owned(), detail: refused.to_string() };
        if let Some(literal) = refused_literal(url, policy) {
            return Err(refused(literal));
        }
        if let (true, Some(url::Host::Domain(host))) = (self.proxied, url.host()) {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host, 0))
                .await
                .map_err(|error| FetchError::Transport { url: shown.to_owned(), detail: format!("{host}: {error}") })?
                .collect();
            checked(host, found, policy).map_err(refused)?;
        }
        Ok(())
    }

    /// Fetches `url`, sending `validators` so an unchanged feed answers 304.
    ///
    /// # Errors
    /// See [`FetchError`].
    pub async fn fetch(&self, url: &str, validators: &Validators) -> Result<Fetched, FetchError> {
        let mut parsed = parse_url(url)?;
        self.check(&parsed, url).await?;
        let failed = |error: reqwest::Error| {
            // The URL is the error's own field; reqwest's text would repeat it ("… for url (…)").
            let error = error.without_url();
            // A refused address anywhere in the chain (the resolver's) says so by kind.
            let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&error);
            while let Some(current) = cause {
                if let Some(refused) = current.downcast_ref::<PrivateAddress>() {
                    return FetchError::Refused { url: url.to_owned(), detail: refused.to_string() };
                }
                cause = current.source();
            }
            if error.is_timeout() {
                FetchError::Timeout { url: url.to_owned() }
            } else {
                // The source chain says why (refused, DNS, TLS), the top level only "error".
                let mut detail = error.to_string();
                let mut source = std::error::Error::source(&error);
                while let Some(cause) = source {
                    detail = format!("{detail}: {cause}");
                    source = cause.source();
                }
                FetchError::Transport { url: url.to_owned(), detail }
            }
        };
        let mut redirects = 0;
        let mut response = loop {
            let mut request = self.client.get(parsed.clone());
            if let Some(etag) = &validators.etag {
                request = request.header(IF_NONE_MATCH, etag);
            }
            if let Some(last_modified) = &validators.last_modified {
                request = request.header(IF_MODIFIED_SINCE, last_modified);
            }
            let response = request.send().await.map_err(failed)?;
            if !response.status().is_redirection() || response.status() == StatusCode::NOT_MODIFIED {
                break response;
            }
            let location = response.headers().get(reqwest::header::LOCATION).and_then(|v| v.to_str().ok());
            let Some(next) = location.and_then(|location| parsed.join(location).ok()) else {
                let detail = format!("redirect to {} not followed", location.unwrap_or("nowhere"));
                return Err(FetchError::Transport { url: url.to_owned(), detail });
            };
            if !matches!(next.scheme(), "http" | "https") {
                let detail = format!("redirect to {next} not followed: only http and https");
                return Err(FetchError::Transport { url: url.to_owned(), detail });
            }
            redirects += 1;
            if redirects > self.config.max_redirects {
                let detail = format!("more than {} redirects", self.config.max_redirects);
                return Err(FetchError::Transport { url: url.to_owned(), detail });
            }
            // The same rules for every hop as for the feed's own URL.
            self.check(&next, url).await?;
            parsed = next;
        };
        let status = response.status();
        if status == StatusCode::NOT_MODIFIED {
            return Ok(Fetched::NotModified);
        }
        if !status.is_success() {
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|value| value.to_str().ok())
                .and_then(parse_retry_after);
            return Err(FetchError::Status { url: url.to_owned(), status, retry_after });
        }
        let limit = self.config.max_bytes;
        let too_large = || FetchError::TooLarge { url: url.to_owned(), limit };
        if response.content_length().is_some_and(|length| length > limit as u64) {
            return Err(too_large());
        }
        let header = |name| {
            response.headers().get(name).and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok()).map(str::to_owned)
        };
        let validators = Validators { etag: header(ETAG), last_modified: header(LAST_MODIFIED) };
        let charset = header(reqwest::header::CONTENT_TYPE).and_then(|content_type| {
            content_type.split(';').skip(1).find_map(|parameter| {
                let (name, value) = parameter.split_once('=')?;
                name.trim().eq_ignore_ascii_case("charset").then(|| value.trim().trim_matches('"').to_owned())
            })
        });
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(failed)? {
            if bytes.len() + chunk.len() > limit {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Fetched::Body { bytes, validators, charset })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_retry_after_in_seconds_or_as_a_date() {
        assert_eq!(parse_retry_after(" 120 "), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), Some(Duration::ZERO));
        let later = (chrono::Utc::now() + chrono::Duration::seconds(90)).to_rfc2822();
        let wait = parse_retry_after(&later).unwrap();
        assert!(wait > Duration::from_secs(80) && wait <= Duration::from_secs(90), "{wait:?}");
        assert_eq!(parse_retry_after("soon"), None);
    }
}
