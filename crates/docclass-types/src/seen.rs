//! The de-duplication port: which documents an ingestor has already put on the queue, remembered across
//! polls and restarts, so that a feed read again enqueues only what is new.
//!
//! There is no transaction spanning a queue and a store, so "exactly once into the queue" is built from
//! two steps with a lease between them:
//!
//! 1. [`SeenDocuments::claim`] marks each id *claimed* unless it is already *enqueued* or claimed by
//!    someone whose lease has not run out (a conditional write: two ingestors polling the same feed
//!    cannot both win an id);
//! 2. after the queue accepted the documents, [`SeenDocuments::confirm`] marks them *enqueued* for good.
//!
//! An ingestor that crashes between the steps leaves claims that expire after the lease; the next poll
//! claims them again and enqueues them, so nothing is lost. The one remaining window — a crash after the
//! queue accepted a batch and before it was confirmed — enqueues that batch a second time, which the
//! pipeline absorbs: results are written by document id, idempotently.

use std::future::Future;
use std::time::Duration;

use crate::TableError;

/// See the module documentation.
pub trait SeenDocuments: Send + Sync + 'static {
    /// The store's name, for logs.
    fn name(&self) -> &str;

    /// Claims each id for `lease`; answers, in order, whether the caller won it (and so must enqueue the
    /// document). Ids already enqueued, or claimed by another holder whose lease is still running, are
    /// not won.
    fn claim(&self, ids: &[String], lease: Duration) -> impl Future<Output = Result<Vec<bool>, TableError>> + Send;

    /// Records that the documents behind `ids` are on the queue: they will never be claimed again.
    fn confirm(&self, ids: &[String]) -> impl Future<Output = Result<(), TableError>> + Send;
}

impl<T: SeenDocuments> SeenDocuments for std::sync::Arc<T> {
    fn name(&self) -> &str {
        (**self).name()
    }

    fn claim(&self, ids: &[String], lease: Duration) -> impl Future<Output = Result<Vec<bool>, TableError>> + Send {
        (**self).claim(ids, lease)
    }

    fn confirm(&self, ids: &[String]) -> impl Future<Output = Result<(), TableError>> + Send {
        (**self).confirm(ids)
    }
}
