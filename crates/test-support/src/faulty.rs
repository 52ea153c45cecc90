//! A queue with faults put in: a real queue wrapped so that a test can crash a worker at a chosen step
//! (a hook that panics in `ack_batch` is a crash between forward and acknowledge) or count its calls,
//! with everything else passed through.

use std::sync::Arc;
use std::time::Duration;

use docclass_types::{BatchResults, MessageSource, QueueError, Receipt, ReceivedMessage};

type Hook = Box<dyn Fn() + Send + Sync>;

/// `inner`, with a hook before each receive and each acknowledgement.
pub struct Faulty<Q> {
    inner: Arc<Q>,
    before_receive: Hook,
    before_ack: Hook,
}

impl<Q: MessageSource> Faulty<Q> {
    /// `inner` with no faults yet.
    pub fn new(inner: Arc<Q>) -> Self {
        Self { inner, before_receive: Box::new(|| {}), before_ack: Box::new(|| {}) }
    }

    /// Calls `hook` before every receive (to count them, say).
    #[must_use]
    pub fn before_receive(self, hook: impl Fn() + Send + Sync + 'static) -> Self {
        Self { before_receive: Box::new(hook), ..self }
    }

    /// Calls `hook` before every acknowledgement; a hook that panics crashes the worker with its batch
    /// forwarded and not yet acknowledged.
    #[must_use]
    pub fn before_ack(self, hook: impl Fn() + Send + Sync + 'static) -> Self {
        Self { before_ack: Box::new(hook), ..self }
    }
}

impl<Q: MessageSource> MessageSource for Faulty<Q> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    async fn receive(
        &self,
        max: usize,
        visibility: Duration,
        wait: Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        (self.before_receive)();
        self.inner.receive(max, visibility, wait).await
    }

    fn receive_is_cancel_safe(&self) -> bool {
        self.inner.receive_is_cancel_safe()
    }

    async fn ack_batch(&self, receipts: &[Receipt]) -> BatchResults {
        (self.before_ack)();
        self.inner.ack_batch(receipts).await
    }

    async fn change_visibility_batch(&self, receipts: &[Receipt], visibility: Duration) -> BatchResults {
        self.inner.change_visibility_batch(receipts, visibility).await
    }
}
