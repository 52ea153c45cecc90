//! A scenario run once and judged by many named tests: for a stack too costly to start per test (four
//! services on an emulator, a deploy, a cluster of containers), zero2prod's `spawn_app` becomes a run of
//! steps whose outcomes are kept. Each `#[test]` checks one step, so the first failure no longer hides
//! the rest: a step that panics is recorded and the steps after it still run, unless they needed what it
//! would have made.

use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;

/// The outcomes of a scenario's steps, in the order they ran.
#[derive(Default)]
pub struct Scenario {
    outcomes: Vec<(&'static str, Result<(), String>)>,
}

impl Scenario {
    /// Runs step `name`; answers what it made, or `None` when it panicked (its message is kept for
    /// [`Scenario::check`]).
    pub async fn step<T>(&mut self, name: &'static str, work: impl Future<Output = T>) -> Option<T> {
        match AssertUnwindSafe(work).catch_unwind().await {
            Ok(made) => {
                self.outcomes.push((name, Ok(())));
                Some(made)
            }
            Err(panic) => {
                let message = panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("a panic without a message");
                self.outcomes.push((name, Err(message.to_owned())));
                None
            }
        }
    }

    /// Passes when step `name` ran and passed; otherwise fails with why.
    ///
    /// # Panics
    /// When the step failed, or did not run because a step it needed failed.
    pub fn check(&self, name: &str) {
        match self.outcomes.iter().find(|(step, _)| *step == name) {
            Some((_, Ok(()))) => {}
            Some((_, Err(message))) => panic!("step {name:?} failed: {message}"),
            None => match self.outcomes.iter().find(|(_, outcome)| outcome.is_err()) {
                Some((first, _)) => panic!("step {name:?} did not run: step {first:?} failed before it"),
                None => panic!("no step {name:?} in this scenario"),
            },
        }
    }

    /// Runs `scenario` once on its own runtime (two worker threads, as the services' tests had), holding
    /// [`crate::serial`] while it runs.
    ///
    /// # Panics
    /// When no runtime can be built.
    pub fn run<F: Future<Output = Scenario>>(scenario: impl FnOnce() -> F) -> Scenario {
        let _serial = crate::serial();
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime");
        runtime.block_on(scenario())
    }
}
