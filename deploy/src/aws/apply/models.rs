//! The model bucket (`[models]`): plan, apply, destroy. The classifiers read the live model's pointer
//! and files under the stack's prefix (render::task_role_policy grants it); operators publish with
//! `docclass model publish --store s3://bucket/prefix`.

use aws_sdk_s3::types::{ObjectIdentifier, PublicAccessBlockConfiguration, Tag, Tagging};

use super::super::{Change, Clients, STACK_TAG, sdk_error};
use crate::stack::Stack;

/// Whether the bucket exists (a stack without `[models]` has none to plan).
pub(super) async fn plan(stack: &Stack, clients: &Clients) -> anyhow::Result<Change> {
    let Some(models) = &stack.models else { return Ok(Change::Unchanged) };
    let (bucket, _) = models.location();
    match clients.s3.head_bucket().bucket(&bucket).send().await {
        Ok(_) => Ok(Change::Unchanged),
        Err(error) if error.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(Change::Create),
        Err(error) => Err(sdk_error(error)),
    }
}

/// Creates the bucket: private (every public access blocked), tagged with the stack.
pub(super) async fn apply(stack: &Stack, clients: &Clients) -> anyhow::Result<()> {
    let Some(models) = &stack.models else { return Ok(()) };
    let (bucket, _) = models.location();
    let mut create = clients.s3.create_bucket().bucket(&bucket);
    // us-east-1 is the one region S3 refuses to be named in a location constraint.
    if stack.region != "us-east-1" {
        create = create.create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(stack.region.as_str().into())
                .build(),
        );
    }
    create.send().await.map_err(sdk_error)?;
    let private = PublicAccessBlockConfiguration::builder()
        .block_public_acls(true)
        .ignore_public_acls(true)
        .block_public_policy(true)
        .restrict_public_buckets(true)
        .build();
    clients
        .s3
        .put_public_access_block()
        .bucket(&bucket)
        .public_access_block_configuration(private)
        .send()
        .await
        .map_err(sdk_error)?;
    let tag = Tag::builder().key(STACK_TAG).value(&stack.name).build().map_err(sdk_error)?;
    let tagging = Tagging::builder().tag_set(tag).build().map_err(sdk_error)?;
    clients.s3.put_bucket_tagging().bucket(&bucket).tagging(tagging).send().await.map_err(sdk_error)?;
    Ok(())
}

/// Empties and removes the bucket if this stack made it (it carries the stack's tag); a bucket of the
/// user's own that the stack only names is left alone.
pub(super) async fn destroy(stack: &Stack, clients: &Clients, removed: &mut Vec<String>) -> anyhow::Result<()> {
    let Some(models) = &stack.models else { return Ok(()) };
    let (bucket, _) = models.location();
    let tags = match clients.s3.get_bucket_tagging().bucket(&bucket).send().await {
        Ok(tags) => tags.tag_set().to_vec(),
        // No bucket, or one with no tags at all: not ours to remove.
        Err(error) if matches!(error.raw_response().map(|r| r.status().as_u16()), Some(404)) => return Ok(()),
        Err(error) => return Err(sdk_error(error)),
    };
    if !tags.iter().any(|tag| tag.key() == STACK_TAG && tag.value() == stack.name) {
        return Ok(());
    }
    let mut pages = clients.s3.list_objects_v2().bucket(&bucket).into_paginator().send();
    while let Some(page) = pages.next().await {
        let keys: Vec<ObjectIdentifier> = page
            .map_err(sdk_error)?
            .contents()
            .iter()
            .filter_map(|object| ObjectIdentifier::builder().set_key(object.key().map(str::to_owned)).build().ok())
            .collect();
        if keys.is_empty() {
            continue;
        }
        let delete = aws_sdk_s3::types::Delete::builder().set_objects(Some(keys)).build().map_err(sdk_error)?;
        clients.s3.delete_objects().bucket(&bucket).delete(delete).send().await.map_err(sdk_error)?;
    }
    clients.s3.delete_bucket().bucket(&bucket).send().await.map_err(sdk_error)?;
    removed.push(format!("model bucket {bucket} and the models in it"));
    Ok(())
}
