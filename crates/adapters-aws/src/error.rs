//! Turning SDK errors into the ports' errors: a readable cause chain and whether to retry.

use aws_sdk_sqs::config::http::HttpResponse;
use aws_sdk_sqs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

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
    let detail = DisplayErrorContext(error).to_string();
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
