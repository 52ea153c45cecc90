//! Fetching a feed over HTTP, defensively: only http and https, bounded redirects, connect and overall
//! timeouts, a cap on the body (checked against `Content-Length` and again while streaming, since the
//! header can lie or be absent), and conditional GET so an unchanged feed costs one short answer.

use std::sync::Once;
use std::time::Duration;

use reqwest::header::{ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED};
use reqwest::{StatusCode, Url, redirect};

/// Limits of one fetch.
#[derive(Debug, Clone, Copy)]
pub struct FetcherConfig {
    /// To establish the connection.
    pub connect_timeout: Duration,
    /// For the whole request, body included: a feed that trickles is cut off.
    pub timeout: Duration,
    /// The largest body accepted.
    pub max_bytes: usize,
    /// Redirects followed before giving up.
    pub max_redirects: usize,
}

impl Default for FetcherConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(30),
            // arXiv's busiest listing feeds are about 1 MiB.
            max_bytes: 4 * 1024 * 1024,
            max_redirects: 5,
        }
    }
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
            FetchError::Transport { .. } => "transport",
        }
    }
}

/// An HTTP client for feeds; cheap to clone, one per process.
#[derive(Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    config: FetcherConfig,
}

impl Fetcher {
    /// A client with `config`'s limits.
    ///
    /// # Errors
    /// When the TLS stack cannot be set up.
    pub fn new(config: FetcherConfig) -> anyhow::Result<Self> {
        // reqwest is built without a crypto provider of its own: use aws-lc-rs, which the AWS SDK already
        // links, rather than compiling a second one.
        static PROVIDER: Once = Once::new();
        PROVIDER.call_once(|| {
            let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        });
        let max_redirects = config.max_redirects;
        let client = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.timeout)
            .user_agent(concat!("docclass-feed-ingest/", env!("CARGO_PKG_VERSION")))
            .redirect(redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() >= max_redirects {
                    attempt.error(format!("more than {max_redirects} redirects"))
                } else if !matches!(attempt.url().scheme(), "http" | "https") {
                    attempt.error("redirected to a URL that is not http or https")
                } else {
                    attempt.follow()
                }
            }))
            .build()?;
        Ok(Self { client, config })
    }

    /// Fetches `url`, sending `validators` so an unchanged feed answers 304.
    ///
    /// # Errors
    /// See [`FetchError`].
    pub async fn fetch(&self, url: &str, validators: &Validators) -> Result<Fetched, FetchError> {
        let parsed = Url::parse(url).map_err(|_| FetchError::Scheme { url: url.to_owned() })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(FetchError::Scheme { url: url.to_owned() });
        }
        let failed = |error: reqwest::Error| {
            if error.is_timeout() {
                FetchError::Timeout { url: url.to_owned() }
            } else {
                // The source chain says why (refused, DNS, TLS, redirects), the top level only "error".
                let mut detail = error.to_string();
                let mut source = std::error::Error::source(&error);
                while let Some(cause) = source {
                    detail = format!("{detail}: {cause}");
                    source = cause.source();
                }
                FetchError::Transport { url: url.to_owned(), detail }
            }
        };
        let mut request = self.client.get(parsed);
        if let Some(etag) = &validators.etag {
            request = request.header(IF_NONE_MATCH, etag);
        }
        if let Some(last_modified) = &validators.last_modified {
            request = request.header(IF_MODIFIED_SINCE, last_modified);
        }
        let mut response = request.send().await.map_err(failed)?;
        let status = response.status();
        if status == StatusCode::NOT_MODIFIED {
            return Ok(Fetched::NotModified);
        }
        if status.is_redirection() {
            // reqwest hands back, unfollowed, a redirect to a scheme it cannot fetch (file:, ftp:…).
            let location = response.headers().get(reqwest::header::LOCATION).and_then(|v| v.to_str().ok());
            let detail = format!("redirect to {} not followed: only http and https", location.unwrap_or("nowhere"));
            return Err(FetchError::Transport { url: url.to_owned(), detail });
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
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(failed)? {
            if bytes.len() + chunk.len() > limit {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Fetched::Body { bytes, validators })
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
