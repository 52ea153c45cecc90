//! A store under an S3 prefix, through the official SDK. Conditional requests do the work: a watcher's
//! `GetObject` carries `If-None-Match` (an unchanged `state.json` costs a `304` and no body), and a change
//! of `state.json` is a `PutObject` with `If-Match` (or `If-None-Match: *` for the first), which S3
//! refuses with `412` when another writer came first.

use adapters_aws::AwsSettings;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use chrono::{DateTime, Utc};

use crate::backend::{BackendError, Condition, Got};

pub(crate) struct Bucket {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
}

/// The largest object a store reads: a model file's own limit (a compressed file is smaller still).
const MAX_OBJECT_BYTES: i64 = text_model::MAX_MODEL_BYTES as i64;

impl Bucket {
    pub(crate) async fn new(aws: &AwsSettings, bucket: String, prefix: String) -> Self {
        let config = adapters_aws::load_sdk_config(aws).await;
        // Emulators (moto, ministack, LocalStack) serve buckets by path, not by host name.
        let path_style = config.endpoint_url().is_some();
        let client = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&config).force_path_style(path_style).build(),
        );
        Self { client, bucket, prefix }
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    fn failure<E: ProvideErrorMetadata + std::error::Error + 'static>(
        &self,
        error: &SdkError<E, HttpResponse>,
    ) -> BackendError {
        let detail = adapters_aws::sdk_error_message(error);
        match (status(error), error.as_service_error().and_then(ProvideErrorMetadata::code)) {
            (_, Some("NoSuchBucket")) => BackendError::Refused(format!("bucket {} does not exist", self.bucket)),
            (Some(401 | 403), _) => BackendError::Refused(detail),
            (Some(status), _) if (400..500).contains(&status) && status != 408 && status != 429 => {
                BackendError::Refused(detail)
            }
            _ => BackendError::Unreachable(detail),
        }
    }

    pub(crate) async fn get(&self, key: &str, known: Option<&str>) -> Result<Got, BackendError> {
        let answer = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.key(key))
            .set_if_none_match(known.map(str::to_owned))
            .send()
            .await;
        let output = match answer {
            Ok(output) => output,
            Err(error) => {
                return match status(&error) {
                    // The SDK reports S3's 304 as an error (awslabs/aws-sdk-rust#534).
                    Some(304) => Ok(Got::Unchanged),
                    _ if error.as_service_error().is_some_and(|e| e.is_no_such_key()) => Ok(Got::Missing),
                    Some(404)
                        if error.as_service_error().and_then(ProvideErrorMetadata::code) != Some("NoSuchBucket") =>
                    {
                        Ok(Got::Missing)
                    }
                    _ => Err(self.failure(&error)),
                };
            }
        };
        if output.content_length().unwrap_or(0) > MAX_OBJECT_BYTES {
            return Err(BackendError::Refused(format!("{key} is larger than a model may be")));
        }
        let tag = output.e_tag().unwrap_or_default().to_owned();
        let bytes = output
            .body
            .collect()
            .await
            .map_err(|error| BackendError::Unreachable(format!("the download of {key} broke off: {error}")))?;
        Ok(Got::Object { bytes: bytes.into_bytes().to_vec(), tag })
    }

    pub(crate) async fn put(&self, key: &str, bytes: Vec<u8>, condition: Condition) -> Result<bool, BackendError> {
        let request = self.client.put_object().bucket(&self.bucket).key(self.key(key)).body(ByteStream::from(bytes));
        let request = match condition {
            Condition::Absent => request.if_none_match("*"),
            Condition::Matches(tag) => request.if_match(tag),
            Condition::Any => request,
        };
        match request.send().await {
            Ok(_) => Ok(true),
            // 412: the condition failed; 409: another conditional write was in flight (S3 says: retry).
            Err(error) if matches!(status(&error), Some(409 | 412)) => Ok(false),
            Err(error) => Err(self.failure(&error)),
        }
    }

    pub(crate) async fn exists(&self, key: &str) -> Result<bool, BackendError> {
        match self.client.head_object().bucket(&self.bucket).key(self.key(key)).send().await {
            Ok(_) => Ok(true),
            Err(error) if error.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(false),
            Err(error) if status(&error) == Some(404) => Ok(false),
            Err(error) => Err(self.failure(&error)),
        }
    }

    pub(crate) async fn list(&self, prefix: &str) -> Result<Vec<(String, u64, Option<DateTime<Utc>>)>, BackendError> {
        let mut pages =
            self.client.list_objects_v2().bucket(&self.bucket).prefix(self.key(prefix)).into_paginator().send();
        let mut found = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|error| self.failure(&error))?;
            for object in page.contents() {
                let Some(key) = object.key().and_then(|key| key.strip_prefix(&self.prefix)) else { continue };
                let modified = object
                    .last_modified()
                    .and_then(|time| DateTime::<Utc>::from_timestamp(time.secs(), time.subsec_nanos()));
                found.push((key.to_owned(), object.size().unwrap_or(0).max(0) as u64, modified));
            }
        }
        Ok(found)
    }
}

/// The HTTP status S3 answered with, if it answered.
fn status<E>(error: &SdkError<E, HttpResponse>) -> Option<u16> {
    error.raw_response().map(|response| response.status().as_u16())
}
