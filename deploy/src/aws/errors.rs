//! An SDK error as one line, with a hint where the stack file is the likely cause; and "not there" told
//! apart from "could not ask".

use super::Clients;

/// A queue's visible and in-flight messages (SQS's approximate counts).
///
/// # Errors
/// When SQS cannot be asked.
pub async fn queue_depth(clients: &Clients, queue_url: &str) -> anyhow::Result<(u64, u64)> {
    adapters_aws::sqs::queue_depth(&clients.sqs, queue_url).await.map_err(|message| match hint(&message) {
        Some(hint) => anyhow::anyhow!("{message}: {hint}"),
        None => anyhow::anyhow!(message),
    })
}

/// An SDK error as one line: the service's code and message, or why no answer came
/// ([`adapters_aws::sdk_error_message`]); with a hint where the stack file is the likely cause.
pub(crate) fn sdk_error(error: impl OneLine) -> anyhow::Error {
    let message = error.one_line();
    match hint(&message) {
        Some(hint) => anyhow::anyhow!("{message}: {hint}"),
        None => anyhow::anyhow!(message),
    }
}

/// What the stack file says about a refusal that names one of its settings.
fn hint(message: &str) -> Option<&'static str> {
    let lower = message.to_ascii_lowercase();
    if lower.contains("subnet") {
        Some("check [network] subnets in the stack file")
    } else if lower.contains("security group") || lower.contains("securitygroup") {
        Some("check [network] security_groups in the stack file")
    } else if lower.contains("dispatch failure") || lower.contains("connection refused") {
        Some("the AWS endpoint did not answer: check AWS_ENDPOINT_URL, the region and the network")
    } else {
        None
    }
}

/// An error `deploy` reports in one line.
pub(crate) trait OneLine {
    /// The line.
    fn one_line(&self) -> String;
}

impl<E> OneLine for aws_sdk_ecs::error::SdkError<E, aws_sdk_ecs::config::http::HttpResponse>
where
    E: aws_sdk_ecs::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    fn one_line(&self) -> String {
        adapters_aws::sdk_error_message(self)
    }
}

impl OneLine for aws_smithy_types::error::operation::BuildError {
    fn one_line(&self) -> String {
        format!("invalid request: {self}")
    }
}

/// `Ok(None)` when the call failed because the thing asked for is not there (`missing` says which
/// errors mean that), the error for any other failure: an unreachable endpoint or a denied call is
/// reported, never taken for "already gone".
pub(crate) fn unless_missing<T, E>(
    result: Result<T, aws_sdk_ecs::error::SdkError<E, aws_sdk_ecs::config::http::HttpResponse>>,
    missing: impl FnOnce(&E) -> bool,
) -> anyhow::Result<Option<T>>
where
    E: aws_sdk_ecs::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    match result {
        Ok(found) => Ok(Some(found)),
        Err(error) if error.as_service_error().is_some_and(missing) => Ok(None),
        Err(error) => Err(sdk_error(error)),
    }
}
