//! The de-duplication store in a SQLite file: which documents feed-ingest has enqueued, kept across
//! restarts. See [`docclass_types::SeenDocuments`] for the claim/confirm protocol.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use docclass_types::{SeenDocuments, TableError};
use rusqlite::{Connection, params};

use crate::sqlite::{open_connection, run_blocking};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS seen_documents (
    id              TEXT PRIMARY KEY,
    enqueued        INTEGER NOT NULL,
    -- Unix milliseconds until which a claim holds; meaningless once enqueued.
    lease_until_ms  INTEGER NOT NULL
);
";

/// See the module documentation.
#[derive(Clone)]
pub struct SqliteSeen {
    name: String,
    connection: Arc<Mutex<Connection>>,
}

impl SqliteSeen {
    /// Opens (creating if needed) the store in the SQLite file at `path`; the result table's file will do.
    ///
    /// # Errors
    /// When the file cannot be opened or the schema cannot be created.
    pub fn open(path: &Path) -> Result<Self, TableError> {
        let connection = open_connection(path, SCHEMA)?;
        Ok(Self { name: path.display().to_string(), connection: Arc::new(Mutex::new(connection)) })
    }
}

impl SeenDocuments for SqliteSeen {
    fn name(&self) -> &str {
        &self.name
    }

    async fn claim(&self, ids: &[String], lease: Duration) -> Result<Vec<bool>, TableError> {
        let ids = ids.to_vec();
        let now_ms = Utc::now().timestamp_millis();
        let lease_until_ms = now_ms.saturating_add(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX));
        run_blocking(&self.connection, &self.name, move |connection| {
            let transaction = connection.transaction()?;
            let mut won = Vec::with_capacity(ids.len());
            {
                // The upsert is the conditional write: it changes a row only when the id is new or its
                // claim ran out, and `changes()` says whether it did.
                let mut claim = transaction.prepare_cached(
                    "INSERT INTO seen_documents (id, enqueued, lease_until_ms) VALUES (?1, 0, ?2)
                     ON CONFLICT (id) DO UPDATE SET lease_until_ms = excluded.lease_until_ms
                     WHERE enqueued = 0 AND lease_until_ms <= ?3",
                )?;
                for id in &ids {
                    won.push(claim.execute(params![id, lease_until_ms, now_ms])? == 1);
                }
            }
            transaction.commit()?;
            Ok(won)
        })
        .await
    }

    async fn confirm(&self, ids: &[String]) -> Result<(), TableError> {
        let ids = ids.to_vec();
        run_blocking(&self.connection, &self.name, move |connection| {
            let transaction = connection.transaction()?;
            {
                let mut confirm = transaction.prepare_cached(
                    "INSERT INTO seen_documents (id, enqueued, lease_until_ms) VALUES (?1, 1, 0)
                     ON CONFLICT (id) DO UPDATE SET enqueued = 1",
                )?;
                for id in &ids {
                    confirm.execute([id])?;
                }
            }
            transaction.commit()
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| (*name).to_owned()).collect()
    }

    #[tokio::test]
    async fn claims_once_confirms_for_good_and_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seen.sqlite");
        let seen = SqliteSeen::open(&path).unwrap();
        let lease = Duration::from_secs(60);
        assert_eq!(seen.claim(&ids(&["a", "b"]), lease).await.unwrap(), [true, true]);
        // A second claimant loses while the lease runs.
        assert_eq!(seen.claim(&ids(&["a", "b", "c"]), lease).await.unwrap(), [false, false, true]);
        seen.confirm(&ids(&["a", "b", "c"])).await.unwrap();
        drop(seen);

        let reopened = SqliteSeen::open(&path).unwrap();
        assert_eq!(
            reopened.claim(&ids(&["a", "b", "c", "d"]), Duration::ZERO).await.unwrap(),
            [false, false, false, true]
        );
    }

    #[tokio::test]
    async fn an_expired_claim_can_be_won_again_but_an_enqueued_id_never() {
        let dir = tempfile::tempdir().unwrap();
        let seen = SqliteSeen::open(&dir.path().join("seen.sqlite")).unwrap();
        // A claimant that crashed before enqueueing: its zero-length lease is over at once.
        assert_eq!(seen.claim(&ids(&["lost", "done"]), Duration::ZERO).await.unwrap(), [true, true]);
        seen.confirm(&ids(&["done"])).await.unwrap();
        assert_eq!(seen.claim(&ids(&["lost", "done"]), Duration::from_secs(60)).await.unwrap(), [true, false]);
    }
}
