//! The SDK clients `deploy` uses, made once from the AWS settings.

use adapters_aws::AwsSettings;

/// The SDK clients `deploy` uses.
#[derive(Clone)]
pub struct Clients {
    /// Amazon ECS.
    pub ecs: aws_sdk_ecs::Client,
    /// IAM.
    pub iam: aws_sdk_iam::Client,
    /// Application Auto Scaling.
    pub autoscaling: aws_sdk_applicationautoscaling::Client,
    /// CloudWatch Logs.
    pub logs: aws_sdk_cloudwatchlogs::Client,
    /// CloudWatch: the dashboard and alarms.
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    /// SQS.
    pub sqs: aws_sdk_sqs::Client,
    /// DynamoDB.
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// S3: the model bucket.
    pub s3: aws_sdk_s3::Client,
}

impl Clients {
    /// Clients for `settings` (the stack's region; an emulator's endpoint if given).
    pub async fn new(settings: &AwsSettings) -> Self {
        let config = adapters_aws::load_sdk_config(settings).await;
        Self {
            ecs: aws_sdk_ecs::Client::new(&config),
            iam: aws_sdk_iam::Client::new(&config),
            autoscaling: aws_sdk_applicationautoscaling::Client::new(&config),
            logs: aws_sdk_cloudwatchlogs::Client::new(&config),
            cloudwatch: aws_sdk_cloudwatch::Client::new(&config),
            sqs: aws_sdk_sqs::Client::new(&config),
            dynamodb: aws_sdk_dynamodb::Client::new(&config),
            // Emulators serve buckets by path, not by host name.
            s3: aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::config::Builder::from(&config).force_path_style(config.endpoint_url().is_some()).build(),
            ),
        }
    }
}
