//! ECS task scale-in protection while a task holds messages, so that when a pool shrinks ECS stops idle
//! tasks rather than busy ones.
//!
//! The pool's receive loops share one [`Protection`]: the first batch in hand turns protection on (for
//! [`timeouts::TASK_PROTECTION`](docclass_types::topology::timeouts::TASK_PROTECTION), renewed at half
//! of it while work goes on), and a receive that finds the queue empty while no loop holds anything
//! turns it off. So a task under steady load makes one call per five minutes, not one per batch. Where
//! the protection cannot be set (no agent, a refusal, a timeout) the work goes on unprotected and the
//! log says so once; the SIGTERM drain remains the backstop for a busy task that is stopped anyway.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// What [`ProtectionPort::set`] returns: `Err` says why, in one line.
pub type SetFuture<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

/// Where protection is set: the ECS agent's endpoint inside a task (`service_kit::EcsAgentProtection`).
pub trait ProtectionPort: Send + Sync + 'static {
    /// Turns protection on for `expires_in_minutes`, or off.
    fn set(&self, enabled: bool, expires_in_minutes: u32) -> SetFuture<'_>;
}

/// A pool's protection; see the module documentation.
pub struct Protection {
    port: Option<Arc<dyn ProtectionPort>>,
    lasts: Duration,
    /// Batches the pool's loops hold now.
    holding: AtomicUsize,
    state: tokio::sync::Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Until when the last successful "on" holds; `None` while off.
    protected_until: Option<Instant>,
    /// After a failure, no new attempt before this: a broken endpoint is not asked per batch.
    quiet_until: Option<Instant>,
    /// Whether a failure was logged as a warning already (later ones are debug).
    warned: bool,
}

/// How long a failed setting keeps the pool from trying again.
const AFTER_FAILURE: Duration = Duration::from_secs(30);

impl Protection {
    /// No protection: outside ECS.
    pub fn none() -> Self {
        Self { port: None, lasts: Duration::ZERO, holding: AtomicUsize::new(0), state: Default::default() }
    }

    /// Protection through `port`, each setting lasting `lasts` (whole minutes, 1 to 2,880 as the agent
    /// takes them).
    pub fn new(port: Arc<dyn ProtectionPort>, lasts: Duration) -> Self {
        let minutes = lasts.as_secs().div_ceil(60).clamp(1, 2_880);
        Self {
            port: Some(port),
            lasts: Duration::from_secs(minutes * 60),
            holding: AtomicUsize::new(0),
            state: Default::default(),
        }
    }

    /// A batch is in hand: protected until the returned guard is dropped (and the pool goes idle).
    pub(crate) async fn hold(&self) -> Holding<'_> {
        self.holding.fetch_add(1, Ordering::SeqCst);
        let held = Holding(self);
        if let Some(port) = &self.port {
            let mut state = self.state.lock().await;
            let now = Instant::now();
            let fresh =
                state.protected_until.is_some_and(|until| until.saturating_duration_since(now) > self.lasts / 2);
            if !fresh && state.quiet_until.is_none_or(|quiet| now >= quiet) {
                let minutes = (self.lasts.as_secs() / 60) as u32;
                match port.set(true, minutes).await {
                    Ok(()) => {
                        state.protected_until = Some(now + self.lasts);
                        state.quiet_until = None;
                    }
                    Err(why) => fail(&mut state, "on", &why),
                }
            }
        }
        held
    }

    /// A receive found nothing: if no loop holds a batch, protection goes off.
    pub(crate) async fn idle(&self) {
        let Some(port) = &self.port else { return };
        if self.holding.load(Ordering::SeqCst) > 0 {
            return;
        }
        let mut state = self.state.lock().await;
        let now = Instant::now();
        if state.protected_until.is_none() || state.quiet_until.is_some_and(|quiet| now < quiet) {
            return;
        }
        match port.set(false, 0).await {
            Ok(()) => {
                state.protected_until = None;
                state.quiet_until = None;
            }
            Err(why) => fail(&mut state, "off", &why),
        }
    }
}

fn fail(state: &mut State, turning: &str, why: &str) {
    state.quiet_until = Some(Instant::now() + AFTER_FAILURE);
    if state.warned {
        tracing::debug!(turning, error = why, "task scale-in protection not set");
    } else {
        state.warned = true;
        tracing::warn!(
            turning,
            error = why,
            "task scale-in protection could not be set; ECS may stop this task while it holds messages \
             (the SIGTERM drain still finishes them). Said once; retried every 30 s"
        );
    }
}

/// A batch held; dropping it releases the hold.
pub(crate) struct Holding<'a>(&'a Protection);

impl Drop for Holding<'_> {
    fn drop(&mut self) {
        self.0.holding.fetch_sub(1, Ordering::SeqCst);
    }
}
