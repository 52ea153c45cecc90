//! An embedded run's SQLite file, read (and, for a test's own dead letter, written) through
//! adapters-embedded as the dashboard reads it: the schema has one home, and the tests keep to it.

use std::path::Path;

use adapters_embedded::{DeadLetterRecord, SqliteTable};
use docclass_types::ResultRow;

/// Runs `work` to its end from a test with or without a runtime of its own (on a thread of its own:
/// a runtime cannot be started inside another).
fn block_on<T: Send>(work: impl Future<Output = T> + Send) -> T {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime").block_on(work)
            })
            .join()
            .expect("the reader thread")
    })
}

/// Every row of the file.
///
/// # Panics
/// When the file cannot be read.
pub fn rows(db: &Path) -> Vec<ResultRow> {
    let table = SqliteTable::open_read_only(db).unwrap();
    block_on(table.fold_rows(Vec::new(), |rows, row| rows.push(row))).unwrap()
}

/// How many rows the file holds; 0 while it does not exist yet.
pub fn row_count(db: &Path) -> usize {
    let Ok(table) = SqliteTable::open_read_only(db) else { return 0 };
    block_on(table.fold_rows(0, |count, _| *count += 1)).unwrap_or(0)
}

/// Every dead letter the file kept, newest first.
///
/// # Panics
/// When the file cannot be read.
pub fn dead_letters(db: &Path) -> Vec<DeadLetterRecord> {
    let table = SqliteTable::open_read_only(db).unwrap();
    block_on(table.latest_dead_letters(usize::MAX)).unwrap()
}

/// Adds a dead letter to the file, as a run that refused a message would.
///
/// # Panics
/// When the file cannot be written.
pub fn add_dead_letter(db: &Path, letter: DeadLetterRecord) {
    let table = SqliteTable::open(db).unwrap();
    block_on(table.store_dead_letters(vec![letter])).unwrap();
}
