//! Classification metrics: accuracy, per-class precision / recall / F1, macro-F1.
//!
//! Computed from our own confusion counts rather than linfa's `ConfusionMatrix`: for several classes
//! linfa's `f1_score` is the F1 of macro-averaged precision and recall, not the mean of per-class F1
//! ("macro-F1") that scikit-learn and the literature report. The tests check our figures against
//! linfa's one-vs-all matrices.

use std::collections::BTreeMap;

use serde::Serialize;

/// Precision, recall and F1 of one class.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassReport {
    /// The class label.
    pub label: String,
    /// Of the documents predicted as this class, the share that are.
    pub precision: f64,
    /// Of the documents of this class, the share predicted so.
    pub recall: f64,
    /// Harmonic mean of precision and recall (0 when both are 0).
    pub f1: f64,
    /// Documents of this class.
    pub support: u64,
}

/// Metrics of one labelling.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassMetrics {
    /// Documents scored.
    pub documents: u64,
    /// Share of documents labelled correctly.
    pub accuracy: f64,
    /// Unweighted mean of per-class F1 over every class seen in truth or predictions.
    pub macro_f1: f64,
    /// One report per class, by label.
    pub per_class: Vec<ClassReport>,
}

/// Scores `(truth, predicted)` pairs.
pub fn score<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> ClassMetrics {
    #[derive(Default)]
    struct Counts {
        true_positive: u64,
        predicted: u64,
        actual: u64,
    }
    let mut counts: BTreeMap<&str, Counts> = BTreeMap::new();
    let mut documents = 0;
    let mut correct = 0;
    for (truth, predicted) in pairs {
        documents += 1;
        counts.entry(truth).or_default().actual += 1;
        counts.entry(predicted).or_default().predicted += 1;
        if truth == predicted {
            correct += 1;
            counts.entry(truth).or_default().true_positive += 1;
        }
    }
    let ratio = |num: u64, den: u64| if den == 0 { 0.0 } else { num as f64 / den as f64 };
    let per_class: Vec<ClassReport> = counts
        .into_iter()
        .map(|(label, c)| {
            let precision = ratio(c.true_positive, c.predicted);
            let recall = ratio(c.true_positive, c.actual);
            let f1 = if precision + recall == 0.0 { 0.0 } else { 2.0 * precision * recall / (precision + recall) };
            ClassReport { label: label.to_owned(), precision, recall, f1, support: c.actual }
        })
        .collect();
    let macro_f1 =
        if per_class.is_empty() { 0.0 } else { per_class.iter().map(|c| c.f1).sum::<f64>() / per_class.len() as f64 };
    ClassMetrics { documents, accuracy: ratio(correct, documents), macro_f1, per_class }
}

/// Expected calibration error: predictions are put in `bins` equal-width bins by confidence, and the
/// gap between each bin's mean confidence and its accuracy is averaged, weighted by the bin's size. 0
/// means that a score of 0.8 is right 80 % of the time.
pub fn expected_calibration_error(predictions: impl IntoIterator<Item = (f32, bool)>, bins: usize) -> f64 {
    let bins = bins.max(1);
    let mut confidence = vec![0f64; bins];
    let mut correct = vec![0f64; bins];
    let mut count = vec![0u64; bins];
    for (score, right) in predictions {
        let bin = ((f64::from(score.clamp(0.0, 1.0)) * bins as f64) as usize).min(bins - 1);
        confidence[bin] += f64::from(score);
        correct[bin] += f64::from(u8::from(right));
        count[bin] += 1;
    }
    let total: u64 = count.iter().sum();
    if total == 0 {
        return 0.0;
    }
    (0..bins).map(|bin| (confidence[bin] - correct[bin]).abs()).sum::<f64>() / total as f64
}

/// What a confidence threshold does: the share of predictions at or above it, and their accuracy.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Selective {
    /// The threshold.
    pub min_score: f32,
    /// Share of predictions kept (the rest would be routed to `unknown`).
    pub coverage: f64,
    /// Accuracy of the kept predictions.
    pub accuracy: f64,
}

/// Applies a confidence threshold to `(score, correct)` predictions.
pub fn selective(predictions: impl IntoIterator<Item = (f32, bool)>, min_score: f32) -> Selective {
    let (mut total, mut kept, mut right) = (0u64, 0u64, 0u64);
    for (score, correct) in predictions {
        total += 1;
        if score >= min_score {
            kept += 1;
            right += u64::from(correct);
        }
    }
    let ratio = |num: u64, den: u64| if den == 0 { 0.0 } else { num as f64 / den as f64 };
    Selective { min_score, coverage: ratio(kept, total), accuracy: ratio(right, kept) }
}

#[cfg(test)]
mod tests {
    use linfa::prelude::ToConfusionMatrix;
    use ndarray::Array1;

    use super::*;

    #[test]
    fn agrees_with_linfa_one_vs_all() {
        let truth = ["a", "a", "a", "b", "b", "c", "c", "c", "c", "d"];
        let predicted = ["a", "b", "a", "b", "c", "c", "c", "a", "c", "c"];
        let ours = score(truth.iter().copied().zip(predicted.iter().copied()));

        let linfa_matrix = Array1::from(predicted.to_vec()).confusion_matrix(Array1::from(truth.to_vec())).unwrap();
        assert!((ours.accuracy - f64::from(linfa_matrix.accuracy())).abs() < 1e-6);
        let linfa_f1: Vec<f64> = linfa_matrix
            .split_one_vs_all()
            .iter()
            .map(|m| f64::from(m.f1_score()))
            .map(|f1| if f1.is_nan() { 0.0 } else { f1 })
            .collect();
        let linfa_macro_f1 = linfa_f1.iter().sum::<f64>() / linfa_f1.len() as f64;
        assert!((ours.macro_f1 - linfa_macro_f1).abs() < 1e-6, "{} vs {linfa_macro_f1}", ours.macro_f1);
        assert_eq!(ours.per_class.len(), 4);
        let a = &ours.per_class[0];
        assert_eq!((a.precision, a.recall), (2.0 / 3.0, 2.0 / 3.0));
        assert_eq!(ours.per_class[3].f1, 0.0, "class d never predicted");
    }

    #[test]
    fn calibration_error_is_zero_when_confidence_matches_accuracy() {
        // Ten predictions at 0.8 confidence, eight of them right: perfectly calibrated.
        let calibrated = (0..10).map(|i| (0.8, i < 8));
        assert!(expected_calibration_error(calibrated, 10) < 1e-6);
        // Always 0.99 sure, right half the time: off by 0.49.
        let overconfident = (0..10).map(|i| (0.99, i % 2 == 0));
        assert!((expected_calibration_error(overconfident, 10) - 0.49).abs() < 1e-6);
    }

    #[test]
    fn a_threshold_trades_coverage_for_accuracy() {
        let predictions = [(0.9, true), (0.8, true), (0.4, false), (0.3, true)];
        let kept = selective(predictions, 0.5);
        assert_eq!((kept.coverage, kept.accuracy), (0.5, 1.0));
    }
}
