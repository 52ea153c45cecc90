//! Building the SDK configuration once per process.

use std::time::Duration;

use aws_config::stalled_stream_protection::StalledStreamProtectionConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};

/// Where and how to reach AWS. Binaries fill it from their flags and environment; libraries never
/// read the environment themselves.
#[derive(Debug, Clone, Default)]
pub struct AwsSettings {
    /// An AWS-compatible endpoint (LocalStack, moto server); `None` for AWS itself. The SDK also honours
    /// `AWS_ENDPOINT_URL` when this is `None`.
    pub endpoint_url: Option<String>,
    /// The region; `None` uses the SDK's default chain (`AWS_REGION`, profile, IMDS).
    pub region: Option<String>,
    /// Static credentials `(access key id, secret)`, for emulators; `None` uses the SDK's default chain
    /// (environment, ECS task role, IMDS).
    pub static_credentials: Option<(String, String)>,
}

/// An operation may take this long: above SQS's longest long poll (20 s), so a long poll is never cut.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(30);

/// Loads the SDK configuration for `settings`.
pub async fn load_sdk_config(settings: &AwsSettings) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_attempt_timeout(OPERATION_TIMEOUT)
                .operation_timeout(OPERATION_TIMEOUT * 2)
                .build(),
        )
        // Stalled-stream protection watches every body's throughput with a timer of its own; the
        // attempt timeout above already ends a call whose answer stops coming, and our bodies are small.
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled());
    if let Some(endpoint) = &settings.endpoint_url {
        loader = loader.endpoint_url(endpoint);
    }
    if let Some(region) = &settings.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some((key, secret)) = &settings.static_credentials {
        loader = loader.credentials_provider(aws_sdk_sqs::config::Credentials::new(
            key.clone(),
            secret.clone(),
            None,
            None,
            "docclass-static",
        ));
    }
    loader.load().await
}
