//! The one thing a service writes: what to do to an envelope.

use docclass_types::{DeadLetterReason, Envelope, Stage};

/// A pipeline step: takes a validated envelope and returns it with this stage's result added.
///
/// It is synchronous on purpose: classification is CPU-bound, so the runtime runs handlers on tokio's
/// blocking pool, where they cannot stall the receive loops. A panic fails only the message it was
/// handling.
pub trait Handler: Send + Sync + 'static {
    /// Which fields must be present before [`Handler::handle`] is called.
    fn stage(&self) -> Stage;

    /// Adds this stage's result.
    ///
    /// # Errors
    /// [`HandlerError::Retriable`] to try the message again later, [`HandlerError::Permanent`] to send it
    /// to the dead-letter queue at once.
    fn handle(&self, envelope: Envelope) -> Result<Envelope, HandlerError>;

    /// Adds the handler's own figures to the pool's `/metrics` (a classifier's shadow model's
    /// tallies); none by default.
    fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        let _ = registry;
    }
}

/// Why a handler could not finish a message.
#[derive(Debug, Clone, thiserror::Error)]
pub enum HandlerError {
    /// May succeed on another delivery.
    #[error("{0}")]
    Retriable(String),
    /// Will never succeed; dead-letter with this reason.
    #[error("{detail}")]
    Permanent {
        /// Machine-readable reason.
        reason: DeadLetterReason,
        /// Human-readable detail.
        detail: String,
    },
}
