//! `deploy`: the docclass pipeline on Amazon ECS, from one stack file.
//!
//! - [`stack`]: the stack file (TOML) and the names and ARNs that follow from it;
//! - [`render`]: task definitions, IAM policies, scaling policies, the CloudWatch dashboard and alarms
//!   as the AWS APIs' JSON, one file per kind of resource as `aws/apply/` has one per step;
//! - [`scaling`]: desired tasks from a queue's backlog — the one algorithm behind both scalers;
//! - [`aws`]: plan, apply, status, destroy and the watch-mode scaler, through the official SDK;
//! - [`compose`]: the scaler's pools on the local compose stack, through the Docker Engine API;
//! - [`cli`]: the command line of `deploy` and `docclass deploy`.
#![warn(missing_docs)]

pub mod aws;
pub mod cli;
pub mod compose;
pub mod render;
pub mod scaling;
pub mod stack;

pub use stack::{SERVICES, Service, Stack};
