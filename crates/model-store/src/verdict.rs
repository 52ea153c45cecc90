//! The rule that promotes a candidate, drops it, confirms a new live model or rolls it back, on what
//! the pools judged of it on labelled live documents.
//!
//! Both models answered the same documents, so the rule compares one model's interval with the other's
//! accuracy on those documents:
//!
//! | shadow | after `min_documents` labelled documents | decision |
//! |---|---|---|
//! | candidate | the lower end of its 95 % interval above live's accuracy | promote |
//! | candidate | the upper end of its 95 % interval below live's accuracy | drop |
//! | the model live replaced | the upper end of live's interval below the replaced model's accuracy | roll back |
//! | the model live replaced | otherwise | confirm: the watch ends |
//!
//! A candidate neither clearly better nor clearly worse waits for more documents, or for an operator.

use serde::{Deserialize, Serialize};
use text_model::judge::{Agreement, ShadowRole};

/// The thresholds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rules {
    /// Labelled documents the two models must both have answered before anything is decided.
    pub min_documents: u64,
}

impl Default for Rules {
    fn default() -> Self {
        Self { min_documents: DEFAULT_MIN_DOCUMENTS }
    }
}

/// Labelled documents judged before a decision, by default: at 80 % accuracy, a 95 % interval of
/// ±1.8 points, so a candidate 2 points better is promoted.
pub const DEFAULT_MIN_DOCUMENTS: u64 = 2_000;

/// The figures a decision was made on: category level, the two models on the same documents.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// Labelled documents both models answered.
    pub documents: u64,
    /// The live model's accuracy on them, and its 95 % interval.
    pub live: Figure,
    /// The shadow model's.
    pub shadow: Figure,
}

/// An accuracy and its 95 % interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    /// Right answers over labelled documents.
    pub accuracy: f64,
    /// Lower end of the 95 % Wilson interval.
    pub low: f64,
    /// Upper end.
    pub high: f64,
}

impl Evidence {
    /// The evidence in `counts` (category level).
    pub fn of(counts: &Agreement) -> Self {
        let figure = |accuracy, (low, high)| Figure { accuracy, low, high };
        Self {
            documents: counts.labelled,
            live: figure(counts.live_accuracy(), counts.live_interval()),
            shadow: figure(counts.shadow_accuracy(), counts.shadow_interval()),
        }
    }
}

impl std::fmt::Display for Evidence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Self { documents, live, shadow } = self;
        write!(
            f,
            "on {documents} labelled documents: live {:.3} [{:.3}, {:.3}], shadow {:.3} [{:.3}, {:.3}]",
            live.accuracy, live.low, live.high, shadow.accuracy, shadow.low, shadow.high
        )
    }
}

/// What the rule decides.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    /// Not enough documents, or no clear difference yet.
    Wait,
    /// The candidate is clearly better: make it live.
    Promote(Evidence),
    /// The candidate is clearly worse: take it away.
    Drop(Evidence),
    /// The new live model is no worse than the one it replaced: end the watch.
    Confirm(Evidence),
    /// The new live model is clearly worse than the one it replaced: put that one back.
    Rollback(Evidence),
}

/// Applies the rule to the category-level counts of the live model against a shadow in `role`.
pub fn verdict(role: ShadowRole, counts: &Agreement, rules: &Rules) -> Verdict {
    if counts.labelled < rules.min_documents.max(1) {
        return Verdict::Wait;
    }
    let evidence = Evidence::of(counts);
    let (live, shadow) = (evidence.live, evidence.shadow);
    match role {
        ShadowRole::Candidate if shadow.low > live.accuracy => Verdict::Promote(evidence),
        ShadowRole::Candidate if shadow.high < live.accuracy => Verdict::Drop(evidence),
        ShadowRole::Candidate => Verdict::Wait,
        ShadowRole::Previous if live.high < shadow.accuracy => Verdict::Rollback(evidence),
        ShadowRole::Previous => Verdict::Confirm(evidence),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(labelled: u64, live: f64, shadow: f64) -> Agreement {
        Agreement {
            documents: labelled,
            same: 0,
            labelled,
            live_right: (live * labelled as f64) as u64,
            shadow_right: (shadow * labelled as f64) as u64,
        }
    }

    #[test]
    fn a_candidate_is_promoted_or_dropped_only_on_clear_evidence() {
        let rules = Rules::default();
        let candidate = |n, live, shadow| verdict(ShadowRole::Candidate, &counts(n, live, shadow), &rules);
        assert_eq!(candidate(1_999, 0.60, 0.80), Verdict::Wait, "too few documents");
        assert!(matches!(candidate(2_000, 0.60, 0.80), Verdict::Promote(_)));
        assert_eq!(candidate(2_000, 0.80, 0.81), Verdict::Wait, "within the interval");
        assert!(matches!(candidate(2_000, 0.80, 0.05), Verdict::Drop(_)));
        // The same one point, on ten times the documents, is clear.
        assert!(matches!(candidate(100_000, 0.80, 0.81), Verdict::Promote(_)));
    }

    #[test]
    fn a_new_live_model_is_confirmed_unless_clearly_worse_than_the_one_it_replaced() {
        let rules = Rules { min_documents: 500 };
        let watch = |live, previous| verdict(ShadowRole::Previous, &counts(500, live, previous), &rules);
        assert!(matches!(watch(0.80, 0.60), Verdict::Confirm(_)));
        assert!(matches!(watch(0.80, 0.81), Verdict::Confirm(_)), "no worse within the interval");
        let Verdict::Rollback(evidence) = watch(0.05, 0.80) else { panic!("a bad model is rolled back") };
        assert_eq!(evidence.documents, 500);
        assert!(evidence.live.high < 0.1 && evidence.to_string().contains("live 0.050"), "{evidence}");
    }
}
