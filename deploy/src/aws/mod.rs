//! The stack on AWS, through the official SDK: `plan` compares what the stack file renders with what
//! exists, `apply` makes them agree, `status` reports, `destroy` removes what `apply` made.
//!
//! What `apply` creates it tags `docclass:stack = <name>`, and `destroy` removes only what carries that
//! tag (plus the queues and tables `infra up` names, unless `--keep-data`): a role, log group or cluster
//! someone else made under the same name is left alone. Task definitions carry the SHA-256 of their
//! rendered JSON as a tag, so "changed?" is one comparison and a second `apply` registers nothing.

//!
//! Rooms: `clients` (the SDK clients), `plan` (what a plan is: resources, changes, steps), `errors`
//! (an SDK error as one line), `apply/` (one module per resource), `scale`, `status`.

mod apply;
mod clients;
mod errors;
mod plan;
mod scale;
mod status;

pub use apply::{apply, destroy, plan, policy_document, wait_until_steady};
pub use clients::Clients;
pub use errors::queue_depth;
pub(crate) use errors::{sdk_error, unless_missing};
pub use plan::{Change, Plan, Resource, Step};
pub use scale::{EcsPools, Pools, ScaleTarget, scale_once};
pub use status::{ServiceStatus, service_counts, status};

pub use crate::stack::STACK_TAG;
/// The tag on task definitions: the SHA-256 of the rendered JSON they were registered from.
pub const RENDER_TAG: &str = "docclass:render-sha256";
/// The inline policy name on each role.
pub const POLICY_NAME: &str = "docclass";
