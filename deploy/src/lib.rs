//! `deploy`: the docclass pipeline on Amazon ECS, from one stack file.
//!
//! - [`stack`]: the stack file (TOML) and the names and ARNs that follow from it;
//! - [`render`]: task definitions, IAM policies and scaling policies as the AWS APIs' JSON;
//! - [`monitoring`]: the CloudWatch dashboard and alarms that follow from the stack file;
//! - [`scaling`]: desired tasks from a queue's backlog — the one algorithm behind both scalers;
//! - [`aws`]: plan, apply, status, destroy and the watch-mode scaler, through the official SDK;
//! - [`compose`]: the scaler's pools on the local compose stack, through the Docker Engine API;
//! - [`cli`]: the command line of `deploy` and `docclass deploy`.
#![warn(missing_docs)]

pub mod aws;
pub mod cli;
pub mod compose;
pub mod monitoring;
pub mod render;
pub mod scaling;
pub mod stack;

pub use stack::{SERVICES, Service, Stack};
