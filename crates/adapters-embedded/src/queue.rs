//! An in-process queue with SQS's delivery semantics.
//!
//! A received message stays in the queue, hidden, until it is acknowledged; if its visibility timeout
//! runs out first it becomes visible again with a higher receive count. Past `max_receive_count`
//! deliveries it is moved to the dead-letter queue, as an SQS redrive policy would.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use docclass_types::{
    BatchResults, DeadLetterReason, MessageSink, MessageSource, OutgoingMessage, QueueError, Receipt, ReceivedMessage,
    attributes,
};
use tokio::sync::Notify;
use tokio::time::Instant;

/// How an [`EmbeddedQueue`] behaves.
#[derive(Debug, Clone)]
pub struct QueueConfig {
    /// Most messages held (visible and in flight); a send beyond it fails with [`QueueError::Full`], which
    /// is how the embedded pipeline applies backpressure to its producers.
    pub capacity: usize,
    /// Deliveries after which a message moves to the dead-letter queue, if there is one.
    pub max_receive_count: u32,
    /// Largest message accepted, body and attributes, in bytes.
    pub max_message_bytes: usize,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self { capacity: 10_000, max_receive_count: 5, max_message_bytes: docclass_types::MAX_MESSAGE_BYTES }
    }
}

/// How many messages a queue holds, by state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueDepth {
    /// Waiting to be received.
    pub visible: usize,
    /// Received and not yet acknowledged.
    pub in_flight: usize,
}

/// See the module documentation.
pub struct EmbeddedQueue {
    name: String,
    config: QueueConfig,
    state: Mutex<State>,
    /// Wakes receivers waiting in a long poll when a message becomes visible.
    message_arrived: Notify,
    /// Where messages go after `max_receive_count` deliveries; `None` keeps them forever.
    dead_letters: Option<Arc<EmbeddedQueue>>,
}

#[derive(Default)]
struct State {
    next_message_id: u64,
    messages: HashMap<u64, Stored>,
    /// Visible message ids, oldest first.
    visible: VecDeque<u64>,
    /// (hidden until, message id, delivery) for every delivery handed out; entries whose delivery is no
    /// longer current are skipped when popped, which is cheaper than removing them on every ack.
    hidden: BinaryHeap<Reverse<(Instant, u64, u64)>>,
}

struct Stored {
    body: String,
    attributes: BTreeMap<String, String>,
    receive_count: u32,
    /// Counts deliveries; a receipt names one, so a stale receipt cannot touch a newer delivery.
    delivery: u64,
    /// `Some` while in flight.
    hidden_until: Option<Instant>,
    /// When it was sent: the age of the oldest message is a queue's "is anything stuck?" figure.
    sent: Instant,
}

impl EmbeddedQueue {
    /// A queue with no dead-letter queue.
    pub fn new(name: impl Into<String>, config: QueueConfig) -> Self {
        Self {
            name: name.into(),
            config,
            state: Mutex::new(State::default()),
            message_arrived: Notify::new(),
            dead_letters: None,
        }
    }

    /// A queue whose messages move to `dead_letters` after `config.max_receive_count` deliveries.
    pub fn with_dead_letters(name: impl Into<String>, config: QueueConfig, dead_letters: Arc<EmbeddedQueue>) -> Self {
        Self { dead_letters: Some(dead_letters), ..Self::new(name, config) }
    }

    /// Messages held, by state.
    pub fn depth(&self) -> QueueDepth {
        let mut state = self.lock();
        state.return_expired(Instant::now(), &self.message_arrived);
        QueueDepth { visible: state.visible.len(), in_flight: state.messages.len() - state.visible.len() }
    }

    /// How long the oldest message held (visible or in flight) has been in the queue, as SQS's
    /// `ApproximateAgeOfOldestMessage`; `None` when it is empty. Looks at every message: for a status
    /// page, not for a hot path.
    pub fn oldest_age(&self) -> Option<std::time::Duration> {
        let state = self.lock();
        state.messages.values().map(|message| message.sent).min().map(|sent| sent.elapsed())
    }

    /// True when the queue holds nothing, visible or in flight.
    pub fn is_empty(&self) -> bool {
        self.lock().messages.is_empty()
    }

    /// Removes and returns every visible message, bodies with their attributes: for inspecting a
    /// dead-letter queue.
    pub fn drain_visible(&self) -> Vec<(String, BTreeMap<String, String>)> {
        let mut state = self.lock();
        state.return_expired(Instant::now(), &self.message_arrived);
        let ids: Vec<u64> = state.visible.drain(..).collect();
        ids.into_iter()
            .filter_map(|id| state.messages.remove(&id))
            .map(|stored| (stored.body, stored.attributes))
            .collect()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock would leave the queue in an unknown state; propagating the
        // poison is the honest answer.
        self.state.lock().expect("embedded queue lock poisoned")
    }

    fn push(&self, state: &mut State, body: String, attributes: BTreeMap<String, String>) {
        let id = state.next_message_id;
        state.next_message_id += 1;
        state.messages.insert(
            id,
            Stored { body, attributes, receive_count: 0, delivery: 0, hidden_until: None, sent: Instant::now() },
        );
        state.visible.push_back(id);
        self.message_arrived.notify_waiters();
    }

    /// Takes up to `max` visible messages, moving over-delivered ones to the dead-letter queue.
    fn take_visible(&self, max: usize, visibility: Duration) -> Vec<ReceivedMessage> {
        let now = Instant::now();
        let mut dead = Vec::new();
        let mut batch = Vec::new();
        {
            let mut state = self.lock();
            state.return_expired(now, &self.message_arrived);
            while batch.len() < max {
                let Some(id) = state.visible.pop_front() else {
                    break;
                };
                let redrive = self.dead_letters.is_some();
                // Present: every id in `visible` is a key of `messages`.
                let stored = state.messages.get_mut(&id).expect("visible message is stored");
                if redrive && stored.receive_count >= self.config.max_receive_count {
                    let stored = state.messages.remove(&id).expect("visible message is stored");
                    dead.push((stored.body, stored.attributes, stored.receive_count));
                    continue;
                }
                stored.receive_count += 1;
                stored.delivery += 1;
                let hidden_until = now + visibility;
                stored.hidden_until = Some(hidden_until);
                batch.push(ReceivedMessage {
                    message_id: id.to_string(),
                    receipt: Receipt(format!("{id}:{}", stored.delivery)),
                    body: stored.body.clone(),
                    receive_count: stored.receive_count,
                    attributes: stored.attributes.clone(),
                });
                let delivery = stored.delivery;
                state.hidden.push(Reverse((hidden_until, id, delivery)));
            }
        }
        if let Some(dead_letters) = &self.dead_letters {
            let mut dlq = dead_letters.lock();
            for (body, mut attrs, receive_count) in dead {
                tracing::warn!(queue = %self.name, receive_count, "message exceeded its receive count; moved to the dead-letter queue");
                attrs
                    .entry(attributes::DEAD_LETTER_REASON.into())
                    .or_insert_with(|| DeadLetterReason::MaxReceiveCountExceeded.as_str().into());
                attrs
                    .entry(attributes::DEAD_LETTER_DETAIL.into())
                    .or_insert_with(|| format!("delivered {receive_count} times without being acknowledged"));
                attrs.entry(attributes::DEAD_LETTER_SOURCE_QUEUE.into()).or_insert_with(|| self.name.clone());
                dead_letters.push(&mut dlq, body, attrs);
            }
        }
        batch
    }

    /// Looks up the delivery a receipt names, if it is still in flight.
    fn in_flight<'a>(
        &self,
        state: &'a mut State,
        receipt: &Receipt,
        now: Instant,
    ) -> Result<(u64, &'a mut Stored), QueueError> {
        let invalid = || QueueError::InvalidReceipt { queue: self.name.clone() };
        let (id, delivery) = receipt.0.split_once(':').ok_or_else(invalid)?;
        let (id, delivery): (u64, u64) = (id.parse().map_err(|_| invalid())?, delivery.parse().map_err(|_| invalid())?);
        match state.messages.get_mut(&id) {
            Some(stored) if stored.delivery == delivery && stored.hidden_until.is_some_and(|until| until > now) => {
                Ok((id, stored))
            }
            _ => Err(invalid()),
        }
    }
}

impl State {
    /// Makes every delivery whose visibility timeout has passed visible again.
    fn return_expired(&mut self, now: Instant, message_arrived: &Notify) {
        let mut returned = false;
        while let Some(Reverse((until, id, delivery))) = self.hidden.peek().copied() {
            if until > now {
                break;
            }
            self.hidden.pop();
            if let Some(stored) = self.messages.get_mut(&id)
                && stored.delivery == delivery
                && stored.hidden_until == Some(until)
            {
                stored.hidden_until = None;
                self.visible.push_back(id);
                returned = true;
            }
        }
        if returned {
            message_arrived.notify_waiters();
        }
    }

    /// When the next in-flight delivery times out, if any does.
    fn next_expiry(&self) -> Option<Instant> {
        self.hidden.peek().map(|Reverse((until, _, _))| *until)
    }
}

impl MessageSource for EmbeddedQueue {
    fn name(&self) -> &str {
        &self.name
    }

    async fn receive(
        &self,
        max_messages: usize,
        visibility: Duration,
        wait: Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        let deadline = Instant::now() + wait;
        loop {
            // Register for wake-ups before looking, so a message sent in between is not missed.
            let arrived = self.message_arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();

            let batch = self.take_visible(max_messages, visibility);
            let now = Instant::now();
            if !batch.is_empty() || now >= deadline {
                return Ok(batch);
            }
            let wake_at = self.lock().next_expiry().map_or(deadline, |expiry| expiry.min(deadline));
            tokio::select! {
                () = &mut arrived => {}
                () = tokio::time::sleep_until(wake_at) => {}
            }
        }
    }

    async fn ack_batch(&self, receipts: &[Receipt]) -> BatchResults {
        let now = Instant::now();
        let mut state = self.lock();
        state.return_expired(now, &self.message_arrived);
        receipts
            .iter()
            .map(|receipt| {
                let (id, _) = self.in_flight(&mut state, receipt, now)?;
                state.messages.remove(&id);
                Ok(())
            })
            .collect()
    }

    async fn change_visibility_batch(&self, receipts: &[Receipt], visibility: Duration) -> BatchResults {
        let now = Instant::now();
        let mut state = self.lock();
        state.return_expired(now, &self.message_arrived);
        let results = receipts
            .iter()
            .map(|receipt| {
                let (id, stored) = self.in_flight(&mut state, receipt, now)?;
                let until = now + visibility;
                stored.hidden_until = Some(until);
                let delivery = stored.delivery;
                state.hidden.push(Reverse((until, id, delivery)));
                Ok(())
            })
            .collect();
        // A zero timeout means "give it back now", not at the next wake-up.
        state.return_expired(now, &self.message_arrived);
        results
    }
}

impl MessageSink for EmbeddedQueue {
    fn name(&self) -> &str {
        &self.name
    }

    async fn send_batch(&self, messages: &[OutgoingMessage]) -> BatchResults {
        let mut state = self.lock();
        messages
            .iter()
            .map(|message| {
                // Counted as SQS counts it, attributes included.
                if message.size_bytes() > self.config.max_message_bytes {
                    return Err(QueueError::TooLarge {
                        queue: self.name.clone(),
                        entry_id: message.entry_id.clone(),
                        bytes: message.size_bytes(),
                        limit: self.config.max_message_bytes,
                    });
                }
                if state.messages.len() >= self.config.capacity {
                    return Err(QueueError::Full { queue: self.name.clone() });
                }
                self.push(&mut state, message.body.clone(), message.attributes.clone());
                Ok(())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VISIBILITY: Duration = Duration::from_secs(30);

    fn queue_with_dlq(max_receive_count: u32) -> (EmbeddedQueue, Arc<EmbeddedQueue>) {
        let dlq = Arc::new(EmbeddedQueue::new("dlq", QueueConfig::default()));
        let config = QueueConfig { max_receive_count, ..QueueConfig::default() };
        (EmbeddedQueue::with_dead_letters("main", config, dlq.clone()), dlq)
    }

    async fn send(queue: &EmbeddedQueue, bodies: &[&str]) {
        let batch: Vec<_> = bodies.iter().map(|b| OutgoingMessage::new(*b, *b)).collect();
        assert!(queue.send_batch(&batch).await.iter().all(Result::is_ok));
    }

    #[tokio::test(start_paused = true)]
    async fn unacknowledged_message_returns_after_its_visibility_timeout() {
        let (queue, _) = queue_with_dlq(5);
        send(&queue, &["a"]).await;
        let first = queue.receive(10, VISIBILITY, Duration::ZERO).await.unwrap();
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].receive_count, 1);
        assert!(queue.receive(10, VISIBILITY, Duration::ZERO).await.unwrap().is_empty(), "hidden while in flight");

        tokio::time::advance(VISIBILITY + Duration::from_millis(1)).await;
        let again = queue.receive(10, VISIBILITY, Duration::ZERO).await.unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].receive_count, 2);
        assert_eq!(again[0].message_id, first[0].message_id);
        assert!(queue.ack_batch(&[first[0].receipt.clone()]).await[0].is_err(), "stale receipt must not delete");
        assert!(queue.ack_batch(&[again[0].receipt.clone()]).await[0].is_ok());
        assert!(queue.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn long_poll_wakes_when_a_message_is_sent() {
        let (queue, _) = queue_with_dlq(5);
        let queue = Arc::new(queue);
        let receiver = tokio::spawn({
            let queue = queue.clone();
            async move { queue.receive(10, VISIBILITY, Duration::from_secs(20)).await.unwrap() }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        send(&queue, &["late"]).await;
        let received = receiver.await.unwrap();
        assert_eq!(received.len(), 1);
        assert_eq!(received[0].body, "late");
    }

    #[tokio::test(start_paused = true)]
    async fn moves_to_dead_letters_after_max_receive_count() {
        let (queue, dlq) = queue_with_dlq(2);
        send(&queue, &["poison"]).await;
        for _ in 0..2 {
            assert_eq!(queue.receive(1, VISIBILITY, Duration::ZERO).await.unwrap().len(), 1);
            tokio::time::advance(VISIBILITY + Duration::from_millis(1)).await;
        }
        assert!(queue.receive(1, VISIBILITY, Duration::ZERO).await.unwrap().is_empty());
        assert!(queue.is_empty());
        let dead = dlq.drain_visible();
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].0, "poison");
        assert_eq!(dead[0].1[attributes::DEAD_LETTER_REASON], "max_receive_count_exceeded");
        assert_eq!(dead[0].1[attributes::DEAD_LETTER_SOURCE_QUEUE], "main");
    }

    #[tokio::test(start_paused = true)]
    async fn zero_visibility_returns_a_message_at_once() {
        let (queue, _) = queue_with_dlq(5);
        send(&queue, &["a"]).await;
        let got = queue.receive(1, VISIBILITY, Duration::ZERO).await.unwrap();
        assert!(queue.change_visibility_batch(&[got[0].receipt.clone()], Duration::ZERO).await[0].is_ok());
        assert_eq!(queue.depth(), QueueDepth { visible: 1, in_flight: 0 });
        assert!(queue.oldest_age().is_some_and(|age| age < Duration::from_secs(60)));
    }

    #[tokio::test]
    async fn refuses_sends_beyond_capacity_and_size() {
        let queue =
            EmbeddedQueue::new("small", QueueConfig { capacity: 2, max_message_bytes: 8, ..QueueConfig::default() });
        let results = queue
            .send_batch(&[
                OutgoingMessage::new("1", "a"),
                OutgoingMessage::new("2", "far too large"),
                OutgoingMessage::new("3", "b"),
                OutgoingMessage::new("4", "c"),
            ])
            .await;
        assert!(results[0].is_ok());
        assert!(matches!(results[1], Err(QueueError::TooLarge { .. })));
        assert!(results[2].is_ok());
        assert!(matches!(&results[3], Err(error @ QueueError::Full { .. }) if error.is_retriable()));
    }
}
