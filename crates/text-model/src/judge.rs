//! Judging a second model beside the one serving: how often each agrees with the labels documents
//! carry (an arXiv feed's categories, a labelled corpus), counted on the same documents.
//!
//! The counts are plain sums, so the tallies of many workers and many processes add up to the pool's
//! ([`Judged::merge`]), and the decision rule reads intervals from them ([`wilson`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The `/metrics` family a classifier stage exposes its judging under ([`Judged::members`]).
pub const METRIC: &str = "docclass_shadow_judged";

/// What [`METRIC`] counts.
pub const METRIC_HELP: &str = "Documents the live and the shadow model both answered in this process, by level, topic and \
                               count: documents, same (answered alike), labelled, live_right, shadow_right";

/// The z of a two-sided 95 % interval.
const Z95: f64 = 1.959_963_984_540_054;

/// The 95 % Wilson score interval of a proportion `successes / trials`: `(0, 1)` with no trials.
///
/// Why Wilson and not the normal approximation `p ± z√(p(1−p)/n)`: near 0 or 1, or on a few hundred
/// documents, the normal interval leaves [0, 1] and is too narrow; Wilson's stays inside and keeps
/// close to its nominal coverage (Brown, Cai & DasGupta, "Interval Estimation for a Binomial
/// Proportion", 2001).
pub fn wilson(successes: u64, trials: u64) -> (f64, f64) {
    if trials == 0 {
        return (0.0, 1.0);
    }
    let n = trials as f64;
    let p = successes.min(trials) as f64 / n;
    let z2 = Z95 * Z95;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = Z95 / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// What a second model is there for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ShadowRole {
    /// A candidate waiting to be promoted (or dropped); a canary share may be answered by it.
    Candidate,
    /// The model the live one replaced, kept beside it until the change is confirmed (or rolled back).
    Previous,
}

impl ShadowRole {
    /// Its name in metrics and JSON: `candidate`, `previous`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Candidate => "candidate",
            Self::Previous => "previous",
        }
    }
}

/// One level's counts for one group of documents (a topic), live and shadow on the same documents.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agreement {
    /// Documents both models answered.
    pub documents: u64,
    /// Of those, the ones both answered alike: how much a change would change, labels or not.
    pub same: u64,
    /// Of those, the ones carrying a label at this level.
    pub labelled: u64,
    /// Labelled documents the live model answered right.
    pub live_right: u64,
    /// Labelled documents the shadow model answered right.
    pub shadow_right: u64,
}

impl Agreement {
    fn add(&mut self, other: &Self) {
        self.documents += other.documents;
        self.same += other.same;
        self.labelled += other.labelled;
        self.live_right += other.live_right;
        self.shadow_right += other.shadow_right;
    }

    /// The live model's accuracy on the labelled documents (0 without any).
    pub fn live_accuracy(&self) -> f64 {
        ratio(self.live_right, self.labelled)
    }

    /// The shadow model's accuracy on the labelled documents (0 without any).
    pub fn shadow_accuracy(&self) -> f64 {
        ratio(self.shadow_right, self.labelled)
    }

    /// The 95 % interval of the live model's accuracy.
    pub fn live_interval(&self) -> (f64, f64) {
        wilson(self.live_right, self.labelled)
    }

    /// The 95 % interval of the shadow model's accuracy.
    pub fn shadow_interval(&self) -> (f64, f64) {
        wilson(self.shadow_right, self.labelled)
    }
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 / whole as f64 }
}

/// The level a document was judged at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// The topic (the topic pool's answer).
    Topic,
    /// The category: the subtopic, end to end (a wrong topic makes a wrong category).
    Category,
}

/// How a live model and a shadow model fared on the same documents, per topic (the label's topic, or
/// `-` for documents without one) and level.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Judged {
    /// The live model's version.
    pub live: String,
    /// The shadow model's version.
    pub shadow: String,
    /// Topic level, per topic.
    #[serde(default)]
    pub topic: BTreeMap<String, Agreement>,
    /// Category level, per topic.
    #[serde(default)]
    pub category: BTreeMap<String, Agreement>,
    /// The share (%) of documents the shadow answered (a candidate's canary); the largest of the
    /// processes' when merged.
    #[serde(default)]
    pub canary_percent: f64,
}

/// What one document's two answers were, at one level.
#[derive(Debug, Clone, Copy)]
pub struct Answers<'a> {
    /// The label the document carries at this level, if any.
    pub label: Option<&'a str>,
    /// The label's topic (or the document's, at topic level), to group by.
    pub group: Option<&'a str>,
    /// The live model's answer.
    pub live: &'a str,
    /// The shadow model's answer.
    pub shadow: &'a str,
}

impl Judged {
    /// An empty tally for `live` against `shadow`.
    pub fn new(live: &str, shadow: &str) -> Self {
        Self { live: live.to_owned(), shadow: shadow.to_owned(), ..Self::default() }
    }

    /// Counts one document at `level`.
    pub fn record(&mut self, level: Level, answers: Answers<'_>) {
        let groups = match level {
            Level::Topic => &mut self.topic,
            Level::Category => &mut self.category,
        };
        let group = answers.group.unwrap_or("-");
        let counts = match groups.get_mut(group) {
            Some(counts) => counts,
            None => groups.entry(group.to_owned()).or_default(),
        };
        counts.documents += 1;
        counts.same += u64::from(answers.live == answers.shadow);
        if let Some(label) = answers.label {
            counts.labelled += 1;
            counts.live_right += u64::from(answers.live == label);
            counts.shadow_right += u64::from(answers.shadow == label);
        }
    }

    /// Adds `other`'s counts (the same two models, judged elsewhere) to these.
    pub fn merge(&mut self, other: &Self) {
        self.canary_percent = self.canary_percent.max(other.canary_percent);
        for (mine, theirs) in [(&mut self.topic, &other.topic), (&mut self.category, &other.category)] {
            for (group, counts) in theirs {
                mine.entry(group.clone()).or_default().add(counts);
            }
        }
    }

    /// Every topic's counts at `level`, summed.
    pub fn total(&self, level: Level) -> Agreement {
        let groups = match level {
            Level::Topic => &self.topic,
            Level::Category => &self.category,
        };
        groups.values().fold(Agreement::default(), |mut sum, counts| {
            sum.add(counts);
            sum
        })
    }

    /// The counts at `level` as gauge members for `/metrics`: one per topic and count (`documents`,
    /// `same`, `labelled`, `live_right`, `shadow_right`), labelled with both versions and the shadow's
    /// role.
    pub fn members(&self, level: Level, role: ShadowRole) -> Vec<(Vec<(String, String)>, f64)> {
        let (groups, level) = match level {
            Level::Topic => (&self.topic, "topic"),
            Level::Category => (&self.category, "category"),
        };
        let role = role.name();
        let mut members = Vec::new();
        for (topic, counts) in groups {
            for (count, value) in [
                ("documents", counts.documents),
                ("same", counts.same),
                ("labelled", counts.labelled),
                ("live_right", counts.live_right),
                ("shadow_right", counts.shadow_right),
            ] {
                let labels = [
                    ("level", level),
                    ("topic", topic.as_str()),
                    ("count", count),
                    ("live", self.live.as_str()),
                    ("shadow", self.shadow.as_str()),
                    ("role", role),
                ];
                members.push((labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(), value as f64));
            }
        }
        members
    }

    /// Whether nothing was counted yet.
    pub fn is_empty(&self) -> bool {
        self.topic.is_empty() && self.category.is_empty()
    }
}

/// Whether the document with id `id` is in a canary of `percent` %: the same answer for the same id in
/// every process and every release (the first 8 bytes of the id's SHA-256, against `percent` of 2⁶⁴),
/// so a document's two stages agree on which model answers it.
pub fn in_canary(id: &str, percent: f64) -> bool {
    use sha2::Digest;
    if percent <= 0.0 {
        return false;
    }
    if percent >= 100.0 {
        return true;
    }
    let digest = sha2::Sha256::digest(id.as_bytes());
    let head = u64::from_be_bytes(digest[..8].try_into().expect("a SHA-256 has 32 bytes"));
    (head as f64) < percent / 100.0 * u64::MAX as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_intervals_match_the_textbook_and_stay_within_0_and_1() {
        // Brown, Cai & DasGupta's and R's `prop.test(correct = FALSE)` figures.
        let (low, high) = wilson(81, 263);
        assert!((low - 0.2553).abs() < 5e-4 && (high - 0.3662).abs() < 5e-4, "{low} {high}");
        let (low, high) = wilson(0, 10);
        assert!(low.abs() < 1e-12 && (high - 0.2775).abs() < 5e-4, "{low} {high}");
        let (low, high) = wilson(10, 10);
        assert!((low - 0.7225).abs() < 5e-4 && (high - 1.0).abs() < 1e-12, "{low} {high}");
        assert_eq!(wilson(0, 0), (0.0, 1.0));
        // Narrower with more documents, always around the proportion.
        let mut width = 1.0;
        for n in [100u64, 1_000, 10_000, 100_000] {
            let (low, high) = wilson(n * 8 / 10, n);
            assert!(low < 0.8 && 0.8 < high && high - low < width);
            width = high - low;
        }
        assert!(width < 0.006, "{width}");
    }

    #[test]
    fn tallies_count_per_topic_and_add_up() {
        let mut one = Judged::new("a", "b");
        let answers = |label, live, shadow| Answers { label, group: Some("cs"), live, shadow };
        one.record(Level::Category, answers(Some("cs.LG"), "cs.LG", "cs.LG"));
        one.record(Level::Category, answers(Some("cs.LG"), "cs.AI", "cs.LG"));
        one.record(Level::Category, answers(None, "cs.AI", "cs.CV"));
        one.record(Level::Topic, Answers { label: Some("math"), group: Some("math"), live: "math", shadow: "cs" });
        let mut two = one.clone();
        two.merge(&one);
        let total = two.total(Level::Category);
        assert_eq!(total, Agreement { documents: 6, same: 2, labelled: 4, live_right: 2, shadow_right: 4 }, "{two:?}");
        assert_eq!(total.live_accuracy(), 0.5);
        assert_eq!(two.topic["math"].live_right, 2);
        assert_eq!(two.total(Level::Topic).shadow_right, 0);
    }

    #[test]
    fn the_canary_split_is_stable_and_close_to_its_share() {
        for percent in [1.0, 10.0, 37.5] {
            let n = 100_000;
            let chosen = (0..n).filter(|i| in_canary(&format!("arXiv:2601.{i:05}"), percent)).count();
            let share = 100.0 * chosen as f64 / n as f64;
            assert!((share - percent).abs() < 1.0, "{percent} % asked, {share} % chosen");
        }
        assert!((0..1000).all(|i| in_canary(&i.to_string(), 20.0) == in_canary(&i.to_string(), 20.0)));
        assert!(!in_canary("x", 0.0) && in_canary("x", 100.0));
        // A document in a smaller canary stays in a larger one: raising the share only adds documents.
        assert!((0..1000).all(|i| !in_canary(&i.to_string(), 5.0) || in_canary(&i.to_string(), 15.0)));
        // Pinned: a change of the hash would move documents between models mid-rollout.
        assert!(in_canary("arXiv:2601.00001", 50.0) == in_canary("arXiv:2601.00001", 50.0));
    }
}
