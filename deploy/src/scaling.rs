//! How many tasks a classifier pool should run, from its queue's backlog: one algorithm for the
//! `deploy scale --watch` scaler (ECS or docker compose) and for the target that Application Auto
//! Scaling tracks.
//!
//! Desired tasks = ⌈backlog ÷ target backlog per task⌉ within [min, max], where backlog is what is
//! visible plus what is in flight — AWS's "backlog per instance" guidance. Around that formula, the
//! complaints users of KEDA and ECS autoscaling make are answered one by one:
//!
//! - **Flapping**: scale *up* at once, scale *down* only to the highest recommendation of the last
//!   stabilisation window (as Kubernetes' HPA does), so a sawtooth holds its peak instead of following it.
//! - **Scale to zero with a message in flight**: in-flight messages always count, and a pool with any
//!   in flight keeps at least one task; a pool reaches zero only after a whole window of nothing.
//! - **SQS's approximate counts**: an idle queue can report one or two visible messages that are not
//!   there. A backlog that small, with nothing in flight, is believed only once it has persisted for
//!   `noise_persistence` — a real message stays visible until someone takes it; a phantom flickers.
//! - **Busy tasks killed on scale-in**: not this function's job — a stopped task's worker finishes the
//!   messages it holds on SIGTERM, within the stop timeout (see the README).

use std::collections::VecDeque;
use std::time::Duration;

/// The knobs of one pool.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScalingPolicy {
    /// Never fewer tasks.
    pub min_tasks: u32,
    /// Never more tasks.
    pub max_tasks: u32,
    /// Messages one task should have waiting: its acceptable latency ÷ its seconds per message.
    pub target_backlog_per_task: u32,
    /// How long a lower recommendation must hold before the pool shrinks to it.
    pub scale_in_window: Duration,
    /// Backlogs up to this, with nothing in flight, may be phantoms of SQS's approximate counts…
    pub noise_backlog: u64,
    /// …and are believed once they have persisted this long.
    pub noise_persistence: Duration,
}

impl ScalingPolicy {
    /// The target backlog per task that keeps a message's wait under `target_latency` when a task takes
    /// `seconds_per_message` for each (AWS: acceptable backlog per instance = acceptable latency ÷
    /// average processing time); at least 1.
    pub fn target_from_latency(target_latency: Duration, seconds_per_message: f64) -> u32 {
        let target = (target_latency.as_secs_f64() / seconds_per_message.max(1e-9)).floor();
        (target as u32).max(1)
    }
}

/// One reading of the queue and the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Observation {
    /// `ApproximateNumberOfMessagesVisible`.
    pub visible: u64,
    /// `ApproximateNumberOfMessagesNotVisible`: received, not yet deleted.
    pub in_flight: u64,
    /// Tasks the pool is set to run now.
    pub current: u32,
}

/// What to do, and why (for logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Tasks the pool should run.
    pub desired: u32,
    /// A short reason.
    pub reason: &'static str,
}

/// The scaler's memory between observations; feed it observations in time order.
#[derive(Debug, Clone)]
pub struct Scaler {
    policy: ScalingPolicy,
    /// Recommendations within the last window, oldest first, as (time, tasks).
    recent: VecDeque<(Duration, u32)>,
    /// Since when a small backlog with nothing in flight has been seen without a break.
    small_backlog_since: Option<Duration>,
}

impl Scaler {
    /// A scaler for `policy`; `min_tasks ≤ max_tasks` and `target_backlog_per_task ≥ 1` are assumed
    /// (the stack file is checked for both).
    pub fn new(policy: ScalingPolicy) -> Self {
        Self { policy, recent: VecDeque::new(), small_backlog_since: None }
    }

    /// The policy.
    pub fn policy(&self) -> &ScalingPolicy {
        &self.policy
    }

    /// The decision for `observation`, read at `now` (any monotonic clock; only differences matter).
    pub fn decide(&mut self, now: Duration, observation: Observation) -> Decision {
        let policy = self.policy;
        let backlog = observation.visible + observation.in_flight;

        let looks_like_noise = observation.in_flight == 0 && backlog > 0 && backlog <= policy.noise_backlog;
        let since = if looks_like_noise { *self.small_backlog_since.get_or_insert(now) } else { now };
        if !looks_like_noise {
            self.small_backlog_since = None;
        }
        let believed_backlog =
            if looks_like_noise && now.saturating_sub(since) < policy.noise_persistence { 0 } else { backlog };

        let per_task = u64::from(policy.target_backlog_per_task.max(1));
        let mut wanted = u32::try_from(believed_backlog.div_ceil(per_task)).unwrap_or(u32::MAX);
        if observation.in_flight > 0 {
            wanted = wanted.max(1);
        }
        let wanted = wanted.clamp(policy.min_tasks, policy.max_tasks);

        // A scaler that has just started knows nothing of the window before it: it takes the pool's
        // size as what was wanted then, so a restarted scaler cannot drop capacity at once.
        if self.recent.is_empty() {
            self.recent.push_back((now, observation.current.clamp(policy.min_tasks, policy.max_tasks)));
        }
        self.recent.push_back((now, wanted));
        while self.recent.front().is_some_and(|(at, _)| now.saturating_sub(*at) > policy.scale_in_window) {
            self.recent.pop_front();
        }
        let highest_in_window = self.recent.iter().map(|(_, tasks)| *tasks).max().unwrap_or(wanted);

        let current = observation.current;
        if wanted > current {
            Decision { desired: wanted, reason: "backlog above target: scaling out at once" }
        } else if highest_in_window < current {
            let reason =
                if looks_like_noise { "small backlog not yet believed" } else { "backlog low for a whole window" };
            Decision { desired: highest_in_window.max(policy.min_tasks), reason }
        } else if wanted < current {
            Decision { desired: current, reason: "backlog lower, waiting out the window before scaling in" }
        } else {
            Decision { desired: current, reason: "on target" }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> ScalingPolicy {
        ScalingPolicy {
            min_tasks: 0,
            max_tasks: 10,
            target_backlog_per_task: 100,
            scale_in_window: Duration::from_secs(300),
            noise_backlog: 2,
            noise_persistence: Duration::from_secs(60),
        }
    }

    /// A queue fed by `arrivals(t)` messages per second and drained by the pool at `per_task` messages
    /// per second per task, observed every 10 s for `seconds`; answers (time, backlog, tasks) per step.
    fn simulate(
        policy: ScalingPolicy,
        seconds: u64,
        per_task: u64,
        mut arrivals: impl FnMut(u64) -> u64,
        mut noise: impl FnMut(u64) -> u64,
    ) -> Vec<(u64, u64, u32)> {
        let mut scaler = Scaler::new(policy);
        let (mut queued, mut tasks) = (0u64, policy.min_tasks);
        let mut trace = Vec::new();
        for t in (0..seconds).step_by(10) {
            for second in t..t + 10 {
                queued += arrivals(second);
                queued = queued.saturating_sub(per_task * u64::from(tasks));
            }
            // Busy tasks hold up to 10 messages each, in flight.
            let in_flight = queued.min(10 * u64::from(tasks));
            let observation = Observation { visible: queued - in_flight + noise(t), in_flight, current: tasks };
            tasks = scaler.decide(Duration::from_secs(t), observation).desired;
            assert!((policy.min_tasks..=policy.max_tasks).contains(&tasks), "t={t}: {tasks} outside the bounds");
            trace.push((t, queued, tasks));
        }
        trace
    }

    fn changes_of_direction(trace: &[(u64, u64, u32)]) -> usize {
        let steps: Vec<i64> = trace
            .windows(2)
            .map(|pair| i64::from(pair[1].2) - i64::from(pair[0].2))
            .filter(|step| *step != 0)
            .map(i64::signum)
            .collect();
        steps.windows(2).filter(|pair| pair[0] != pair[1]).count()
    }

    #[test]
    fn a_step_is_met_on_the_next_observation_and_held() {
        // Quiet, then 60 messages a second from t = 100 s on; a task clears 10 a second.
        let trace = simulate(policy(), 1800, 10, |t| if t >= 100 { 60 } else { 0 }, |_| 0);
        let first_busy = trace.iter().find(|(_, backlog, _)| *backlog > 0).unwrap();
        assert!(first_busy.2 >= 1, "scaled out on the very observation that saw the backlog: {first_busy:?}");
        let late: Vec<u32> = trace.iter().filter(|(t, _, _)| *t > 600).map(|(_, _, tasks)| *tasks).collect();
        assert!(late.iter().all(|&tasks| tasks >= 6), "enough tasks to keep up with 60/s: {late:?}");
        assert!(changes_of_direction(&trace) <= 1, "no oscillation under a steady load: {trace:?}");
    }

    #[test]
    fn a_burst_scales_out_at_once_and_in_only_after_the_window() {
        // 5,000 messages at t = 60 s, nothing else.
        let trace = simulate(policy(), 1800, 10, |t| if t == 60 { 5000 } else { 0 }, |_| 0);
        let at_burst = trace.iter().find(|(t, _, _)| *t == 60).unwrap();
        assert_eq!(at_burst.2, 10, "max tasks on the first observation of the burst: {at_burst:?}");
        let drained = trace.iter().find(|(t, backlog, _)| *t > 60 && *backlog == 0).unwrap().0;
        let scaled_to_zero = trace.iter().find(|(t, _, tasks)| *t > 60 && *tasks == 0).unwrap().0;
        assert!(
            scaled_to_zero >= drained + 300,
            "scale-in waited the window: drained {drained}, zero at {scaled_to_zero}"
        );
        assert!(changes_of_direction(&trace) <= 1, "up once, then down: {trace:?}");
    }

    #[test]
    fn a_sawtooth_holds_its_peak_instead_of_following_it() {
        // 2,000 messages every 120 s: load comes and goes faster than the 300 s window.
        let trace = simulate(policy(), 3600, 10, |t| if t % 120 == 0 { 2000 } else { 0 }, |_| 0);
        let after_warmup: Vec<u32> = trace.iter().filter(|(t, _, _)| *t >= 300).map(|(_, _, tasks)| *tasks).collect();
        let (low, high) = (after_warmup.iter().min().unwrap(), after_warmup.iter().max().unwrap());
        assert_eq!(low, high, "steady task count under a fast sawtooth: {after_warmup:?}");
        assert!(changes_of_direction(&trace) == 0, "{trace:?}");
    }

    #[test]
    fn a_slow_drain_shrinks_step_by_step_and_never_below_one_while_in_flight() {
        // 3,000 messages at once, drained by tasks at only 1 message a second each.
        let policy = ScalingPolicy { scale_in_window: Duration::from_secs(60), ..policy() };
        let mut scaler = Scaler::new(policy);
        let (mut queued, mut tasks) = (3000u64, 0u32);
        for t in (0..20_000u64).step_by(10) {
            queued = queued.saturating_sub(10 * u64::from(tasks));
            let in_flight = queued.min(u64::from(tasks) * 10);
            let decision = scaler
                .decide(Duration::from_secs(t), Observation { visible: queued - in_flight, in_flight, current: tasks });
            if in_flight > 0 {
                assert!(decision.desired >= 1, "t={t}: scaled to zero with {in_flight} in flight");
            }
            tasks = decision.desired;
        }
        assert_eq!((queued, tasks), (0, 0), "drained, then scaled to zero");
    }

    #[test]
    fn phantom_messages_on_an_idle_queue_start_nothing_but_a_real_one_does() {
        // Approximate counts blip 1 or 2 at random on an empty queue.
        let mut rng = fastrand::Rng::with_seed(7);
        let trace = simulate(policy(), 7200, 10, |_| 0, |_| if rng.u8(..10) < 3 { rng.u64(1..=2) } else { 0 });
        assert!(trace.iter().all(|(_, _, tasks)| *tasks == 0), "noise started a task: {trace:?}");

        // One real message stays visible until taken: believed after the persistence, then served.
        let mut scaler = Scaler::new(policy());
        let lone = Observation { visible: 1, in_flight: 0, current: 0 };
        assert_eq!(scaler.decide(Duration::from_secs(0), lone).desired, 0);
        assert_eq!(scaler.decide(Duration::from_secs(30), lone).desired, 0);
        assert_eq!(scaler.decide(Duration::from_secs(60), lone).desired, 1);
        // With min 1 the same blips never raise the pool above it.
        let steady = simulate(ScalingPolicy { min_tasks: 1, ..policy() }, 3600, 10, |_| 0, |t| t % 20 / 10 + 1);
        assert!(steady.iter().all(|(_, _, tasks)| *tasks == 1), "{steady:?}");
    }

    #[test]
    fn a_restarted_scaler_keeps_the_pool_for_a_window_before_scaling_in() {
        let mut scaler = Scaler::new(policy());
        let idle_pool_of_five = Observation { visible: 0, in_flight: 0, current: 5 };
        assert_eq!(scaler.decide(Duration::ZERO, idle_pool_of_five).desired, 5);
        assert_eq!(scaler.decide(Duration::from_secs(290), idle_pool_of_five).desired, 5);
        assert_eq!(scaler.decide(Duration::from_secs(310), idle_pool_of_five).desired, 0);
    }

    #[test]
    fn bounds_hold_and_latency_targets_turn_into_backlog_targets() {
        let mut scaler = Scaler::new(ScalingPolicy { min_tasks: 2, max_tasks: 4, ..policy() });
        let flood = Observation { visible: 1_000_000, in_flight: 40, current: 2 };
        assert_eq!(scaler.decide(Duration::ZERO, flood).desired, 4);
        let mut scaler = Scaler::new(ScalingPolicy { min_tasks: 2, max_tasks: 4, ..policy() });
        assert_eq!(scaler.decide(Duration::ZERO, Observation::default()).desired, 2);
        // 30 s of acceptable latency at 0.1 s a message: 300 messages per task.
        assert_eq!(ScalingPolicy::target_from_latency(Duration::from_secs(30), 0.1), 300);
        assert_eq!(ScalingPolicy::target_from_latency(Duration::from_secs(1), 5.0), 1);
    }
}
