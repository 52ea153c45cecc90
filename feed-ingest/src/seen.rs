//! Which de-duplication store a running feed-ingest uses, chosen at start-up.

use std::time::Duration;

use adapters_aws::DynamoSeen;
use adapters_embedded::SqliteSeen;
use docclass_types::{SeenDocuments, TableError};

/// The stores feed-ingest can remember in; see [`docclass_types::SeenDocuments`].
pub enum SeenStore {
    /// A SQLite file: one machine, the embedded pipeline.
    Sqlite(SqliteSeen),
    /// A DynamoDB table (`infra up` makes `<prefix>-seen`): any number of replicas, on AWS.
    Dynamo(DynamoSeen),
    /// Remembers nothing: every entry of every read is enqueued. For `--once` runs without a store,
    /// where a second run is the user's choice.
    Nothing,
}

impl SeenDocuments for SeenStore {
    fn name(&self) -> &str {
        match self {
            SeenStore::Sqlite(store) => store.name(),
            SeenStore::Dynamo(store) => store.name(),
            SeenStore::Nothing => "nothing",
        }
    }

    async fn claim(&self, ids: &[String], lease: Duration) -> Result<Vec<bool>, TableError> {
        match self {
            SeenStore::Sqlite(store) => store.claim(ids, lease).await,
            SeenStore::Dynamo(store) => store.claim(ids, lease).await,
            SeenStore::Nothing => Ok(vec![true; ids.len()]),
        }
    }

    async fn confirm(&self, ids: &[String]) -> Result<(), TableError> {
        match self {
            SeenStore::Sqlite(store) => store.confirm(ids).await,
            SeenStore::Dynamo(store) => store.confirm(ids).await,
            SeenStore::Nothing => Ok(()),
        }
    }
}
