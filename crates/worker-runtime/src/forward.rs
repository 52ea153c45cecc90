//! Where a stage's results go: the next queue, or the result table.

use std::future::Future;

use chrono::Utc;
use docclass_types::{
    Envelope, MessageSink, OutgoingMessage, QueueError, Rejection, ResultRow, ResultTable, TableError,
};

/// A destination for handled envelopes.
pub trait Forward: Send + Sync + 'static {
    /// The destination's name, for logs.
    fn destination(&self) -> &str;

    /// Forwards a batch; each entry succeeds or fails on its own, in order.
    fn forward_batch(&self, envelopes: &[Envelope]) -> impl Future<Output = Vec<Result<(), ForwardError>>> + Send;
}

/// Why a result could not be forwarded.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ForwardError {
    /// The next queue refused it.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// The table refused it.
    #[error(transparent)]
    Table(#[from] TableError),
    /// The envelope cannot be stored.
    #[error(transparent)]
    Rejected(#[from] Rejection),
}

impl ForwardError {
    /// Whether forwarding the same envelope may succeed later.
    pub fn is_retriable(&self) -> bool {
        match self {
            ForwardError::Queue(error) => error.is_retriable(),
            ForwardError::Table(error) => error.is_retriable(),
            ForwardError::Rejected(_) => false,
        }
    }

    /// Whether the destination asked us to slow down.
    pub fn is_throttled(&self) -> bool {
        matches!(
            self,
            ForwardError::Queue(QueueError::Throttled { .. }) | ForwardError::Table(TableError::Throttled { .. })
        )
    }

    /// Whether the destination cannot take more for now — it throttles, or (a bounded embedded queue) it is
    /// full. That says nothing about the envelope, so it does not count as one of its attempts.
    pub fn is_backpressure(&self) -> bool {
        self.is_throttled() || matches!(self, ForwardError::Queue(QueueError::Full { .. }))
    }
}

/// Forwards envelopes to the next queue as JSON messages.
pub struct ToQueue<S>(pub S);

impl<S: MessageSink> Forward for ToQueue<S> {
    fn destination(&self) -> &str {
        self.0.name()
    }

    async fn forward_batch(&self, envelopes: &[Envelope]) -> Vec<Result<(), ForwardError>> {
        let mut results = Vec::with_capacity(envelopes.len());
        for chunk in envelopes.chunks(docclass_types::MAX_BATCH) {
            // Batch entry ids must be unique within a call; the position is, a document id need not be.
            let messages: Vec<_> = chunk
                .iter()
                .enumerate()
                .map(|(index, envelope)| OutgoingMessage::new(index.to_string(), envelope.encode()))
                .collect();
            results.extend(self.0.send_batch(&messages).await.into_iter().map(|r| r.map_err(ForwardError::from)));
        }
        results
    }
}

/// Forwards envelopes to the result table, one row per document id.
pub struct ToTable<T>(pub T);

impl<T: ResultTable> Forward for ToTable<T> {
    fn destination(&self) -> &str {
        self.0.name()
    }

    async fn forward_batch(&self, envelopes: &[Envelope]) -> Vec<Result<(), ForwardError>> {
        let written_at = Utc::now();
        let rows: Vec<Result<ResultRow, Rejection>> =
            envelopes.iter().map(|envelope| ResultRow::from_envelope(envelope, written_at)).collect();
        let storable: Vec<ResultRow> = rows.iter().filter_map(|row| row.as_ref().ok().cloned()).collect();
        let mut written = self.0.put_batch(&storable).await.into_iter();
        rows.into_iter()
            .map(|row| match row {
                Ok(_) => written
                    .next()
                    .unwrap_or_else(|| {
                        Err(TableError::Storage {
                            table: self.0.name().to_owned(),
                            detail: "the table answered fewer results than rows sent".into(),
                            retriable: true,
                        })
                    })
                    .map_err(ForwardError::from),
                Err(rejection) => Err(rejection.into()),
            })
            .collect()
    }
}
