//! The ECS agent's task scale-in protection endpoint, as [`worker_runtime::ProtectionPort`]:
//! `PUT $ECS_AGENT_URI/task-protection/v1/state` with `{"ProtectionEnabled": …, "ExpiresInMinutes": …}`.
//! The agent answers `{"protection": {…}}` when it is set, `{"failure": {"Arn", "Reason", "Detail"}}`
//! when ECS refused it for the task, `{"error": {"Arn", "Code", "Message"}}` (with a 4xx or 5xx status)
//! when the call failed. Plain HTTP to the agent inside the task: hyper's client, no TLS.

use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use worker_runtime::{ProtectionPort, SetFuture};

/// How long one call to the agent may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// The agent's endpoint.
pub struct EcsAgentProtection {
    client: Client<HttpConnector, Full<Bytes>>,
    url: String,
}

impl EcsAgentProtection {
    /// The endpoint under `agent_uri` (what the agent sets as `ECS_AGENT_URI`).
    pub fn new(agent_uri: &str) -> Self {
        let client = Client::builder(TokioExecutor::new()).build_http();
        Self { client, url: format!("{}/task-protection/v1/state", agent_uri.trim_end_matches('/')) }
    }

    /// The endpoint of the task this process runs in, if it runs in one.
    pub fn from_env() -> Option<Self> {
        let uri = std::env::var(docclass_types::topology::env::ECS_AGENT_URI).ok()?;
        (!uri.trim().is_empty()).then(|| Self::new(uri.trim()))
    }

    async fn put(&self, enabled: bool, expires_in_minutes: u32) -> Result<(), String> {
        let body = if enabled {
            json!({ "ProtectionEnabled": true, "ExpiresInMinutes": expires_in_minutes })
        } else {
            json!({ "ProtectionEnabled": false })
        };
        let request = hyper::Request::put(&self.url)
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .map_err(|error| format!("{}: {error}", self.url))?;
        let call = async {
            let response = self.client.request(request).await.map_err(|error| format!("{}: {error}", self.url))?;
            let status = response.status();
            let body = response.into_body().collect().await.map_err(|error| format!("{}: {error}", self.url))?;
            Ok::<_, String>((status, body.to_bytes()))
        };
        let (status, body) = tokio::time::timeout(CALL_TIMEOUT, call)
            .await
            .map_err(|_| format!("{}: no answer within {} s", self.url, CALL_TIMEOUT.as_secs()))??;
        answer(status, &body)
    }
}

impl ProtectionPort for EcsAgentProtection {
    fn set(&self, enabled: bool, expires_in_minutes: u32) -> SetFuture<'_> {
        Box::pin(self.put(enabled, expires_in_minutes))
    }
}

/// What the agent's answer means.
fn answer(status: hyper::StatusCode, body: &[u8]) -> Result<(), String> {
    let text = |value: &Value, key: &str| value.get(key).and_then(Value::as_str).unwrap_or("").to_owned();
    let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    if let Some(failure) = parsed.get("failure").filter(|f| !f.is_null()) {
        let detail = text(failure, "Detail");
        return Err(format!(
            "ECS refused: {}{}",
            text(failure, "Reason"),
            if detail.is_empty() { String::new() } else { format!(" ({detail})") }
        ));
    }
    if let Some(error) = parsed.get("error").filter(|e| !e.is_null()) {
        return Err(format!("the ECS agent answered {status}: {}: {}", text(error, "Code"), text(error, "Message")));
    }
    if status.is_success() && parsed.get("protection").is_some_and(Value::is_object) {
        return Ok(());
    }
    let shown: String =
        String::from_utf8_lossy(body).chars().take(200).map(|c| if c.is_control() { ' ' } else { c }).collect();
    Err(format!("the ECS agent answered {status} without a protection: {shown}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_answer_of_the_agent_says_what_it_means_in_one_line() {
        let ok =
            br#"{"protection":{"ExpirationDate":"2026-12-03T20:00:00Z","ProtectionEnabled":true,"TaskArn":"arn"}}"#;
        assert_eq!(answer(hyper::StatusCode::OK, ok), Ok(()));
        let failure = br#"{"failure":{"Arn":"arn","Detail":null,"Reason":"TASK_NOT_VALID"}}"#;
        assert_eq!(answer(hyper::StatusCode::OK, failure), Err("ECS refused: TASK_NOT_VALID".into()));
        let error = br#"{"error":{"Arn":"arn","Code":"AccessDeniedException","Message":"not allowed"}}"#;
        let said = answer(hyper::StatusCode::BAD_REQUEST, error).unwrap_err();
        assert!(said.contains("400") && said.contains("AccessDeniedException: not allowed"), "{said}");
        let odd = answer(hyper::StatusCode::INTERNAL_SERVER_ERROR, b"<html>\nbroken\n</html>").unwrap_err();
        assert!(odd.contains("500") && odd.contains("without a protection") && !odd.contains('\n'), "{odd}");
    }
}
