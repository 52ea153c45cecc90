//! Turning SDK errors into the ports' errors: a readable cause chain and whether to retry.

use aws_sdk_sqs::config::http::HttpResponse;
use std::error::Error;

use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};

/// Error codes that mean "slow down" rather than "wrong request".
const THROTTLING_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "RequestThrottled",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "KMS.ThrottlingException",
];

/// How an SDK call failed.
pub(crate) struct Failure {
    /// The error with its causes.
    pub detail: String,
    /// Whether the same call may succeed later.
    pub retriable: bool,
    /// Whether the service asked us to slow down.
    pub throttled: bool,
}

pub(crate) fn classify<E>(error: &SdkError<E, HttpResponse>) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let detail = message(error);
    match error {
        // Never sent: the request itself is wrong.
        SdkError::ConstructionFailure(_) => Failure { detail, retriable: false, throttled: false },
        // Lost on the way, or an answer we could not read: the service may be fine next time.
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            Failure { detail, retriable: true, throttled: false }
        }
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or_default();
            let throttled = THROTTLING_CODES.contains(&code);
            let server_side = service.raw().status().is_server_error();
            Failure { detail, retriable: throttled || server_side, throttled }
        }
        _ => Failure { detail, retriable: true, throttled: false },
    }
}

/// One line a user can act on: the service's error code and message (`InvalidParameterException: subnet
/// subnet-0a1b… does not exist`), or for a call that never got an answer, the chain of causes
/// (`dispatch failure: io error: … Connection refused`).
///
/// Not the SDK's `DisplayErrorContext`, which ends with the error's whole `Debug` form — the raw
/// response, its headers and extensions, about 2 KB — which is for a bug report, not for an operator.
pub fn message<E>(error: &SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + Error + 'static,
{
    let text = match error {
        SdkError::ServiceError(service) => {
            let err = service.err();
            let code = err.code().unwrap_or("error");
            match err.message() {
                Some(message) if !message.is_empty() => format!("{code}: {message}"),
                _ => format!("{code} (HTTP {})", service.raw().status().as_u16()),
            }
        }
        _ => {
            let mut text = error.to_string();
            let mut source = error.source();
            while let Some(cause) = source {
                let cause_text = cause.to_string();
                // Layers often repeat the message of the layer below.
                if !text.ends_with(&cause_text) {
                    text.push_str(": ");
                    text.push_str(&cause_text);
                }
                source = cause.source();
            }
            text
        }
    };
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
