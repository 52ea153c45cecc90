//! `state.json`: the two pointers and the history of their changes, and the rules of a change.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use text_model::HoldoutFigures;

/// The pointers and their history.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// The model the classifiers serve; `None` until one is published.
    pub live: Option<Pointer>,
    /// A model waiting to be judged and promoted.
    pub candidate: Option<Pointer>,
    /// Every change of either pointer, oldest first (the last [`HISTORY_KEPT`]).
    #[serde(default)]
    pub history: Vec<Change>,
}

/// A pointer to one version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pointer {
    /// The model's version (`sha256:…`).
    pub version: String,
    /// Since when it is there.
    pub since: DateTime<Utc>,
    /// The figures it was published with: its trainer's held-out figures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holdout: Option<HoldoutFigures>,
}

/// What a change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// A model published straight to live.
    Publish,
    /// A model published as the candidate.
    PublishCandidate,
    /// The candidate made live.
    Promote,
    /// Live put back to the model it replaced.
    Rollback,
    /// The candidate taken away, judged worse than live.
    Drop,
    /// A new live model judged no worse than the one it replaced: the watch over it ends.
    Confirm,
}

/// One entry of the history: when, what, by whom, why, on which figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// When.
    pub at: DateTime<Utc>,
    /// What.
    pub action: Action,
    /// The version the pointer names after the change.
    pub version: String,
    /// The version the pointer named before, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaced: Option<String>,
    /// Who made it: a command (`docclass model promote`) or a service.
    pub by: String,
    /// Why, in words.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// The figures it was decided on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holdout: Option<HoldoutFigures>,
    /// What the pools judged on live documents, when the change was decided on that.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judged: Option<crate::verdict::Evidence>,
}

/// Entries kept in the history: a change a day for years. Older ones are dropped, so `state.json`, which
/// every pool reads after each change, stays a few hundred KB at most.
pub const HISTORY_KEPT: usize = 1000;

impl State {
    /// Moves the pointer `action` changes to `version`; returns the history entry saying so (not yet
    /// recorded).
    pub(crate) fn set(&mut self, action: Action, version: &str, by: &str, holdout: Option<HoldoutFigures>) -> Change {
        let pointer = Pointer { version: version.to_owned(), since: Utc::now(), holdout: holdout.clone() };
        let replaced = match action {
            Action::PublishCandidate => self.candidate.replace(pointer).map(|old| old.version),
            Action::Promote => {
                self.candidate = None;
                self.live.replace(pointer).map(|old| old.version)
            }
            Action::Publish | Action::Rollback => self.live.replace(pointer).map(|old| old.version),
            // The candidate is gone; the change names it.
            Action::Drop => {
                self.candidate = None;
                None
            }
            // No pointer moves: the watch over the live model ends, and the change names what it replaced.
            Action::Confirm => self.watched_previous(),
        };
        Change {
            at: Utc::now(),
            action,
            version: version.to_owned(),
            replaced,
            by: by.to_owned(),
            reason: String::new(),
            holdout,
            judged: None,
        }
    }

    /// Appends `change` to the history.
    pub(crate) fn record(&mut self, change: Change) {
        self.history.push(change);
        let over = self.history.len().saturating_sub(HISTORY_KEPT);
        self.history.drain(..over);
    }

    /// The figures `version` was last recorded with in the history: what a model put back brings back.
    pub(crate) fn holdout_of(&self, version: &str) -> Option<HoldoutFigures> {
        self.history.iter().rev().find(|change| change.version == version).and_then(|change| change.holdout.clone())
    }

    /// The model the live one replaced, while the change is being watched: from its publication or
    /// promotion until it is confirmed or rolled back. A model made live by a rollback is not watched
    /// (it served before).
    pub fn watched_previous(&self) -> Option<String> {
        let live = self.live.as_ref()?;
        let last = self.history.iter().rev().find(|change| {
            matches!(change.action, Action::Publish | Action::Promote | Action::Rollback | Action::Confirm)
        })?;
        match last.action {
            Action::Publish | Action::Promote if last.version == live.version => last.replaced.clone(),
            _ => None,
        }
    }

    /// The second model the pools should hold beside the live one, and why: the model a new live one
    /// replaced while the change is watched, else the candidate. One at a time, the watch first: a
    /// change is confirmed before the next is judged.
    pub fn shadow(&self) -> Option<(String, text_model::judge::ShadowRole)> {
        use text_model::judge::ShadowRole;
        let live = self.live.as_ref().map(|pointer| pointer.version.as_str());
        if let Some(previous) = self.watched_previous().filter(|previous| Some(previous.as_str()) != live) {
            return Some((previous, ShadowRole::Previous));
        }
        let candidate = self.candidate.as_ref()?;
        (Some(candidate.version.as_str()) != live).then(|| (candidate.version.clone(), ShadowRole::Candidate))
    }

    /// The version a rollback puts back: the one the live model replaced when it was published or
    /// promoted. A model that is live through a rollback is looked up where it first became live, so
    /// rolling back again walks one further back instead of undoing the rollback.
    pub(crate) fn rollback_target(&self) -> Result<String, String> {
        let live = self.live.as_ref().ok_or("no live model to roll back")?;
        let arrival = self
            .history
            .iter()
            .rev()
            .find(|change| change.version == live.version && matches!(change.action, Action::Publish | Action::Promote))
            .ok_or_else(|| format!("the history does not say what {} replaced", live.version))?;
        arrival
            .replaced
            .clone()
            .ok_or_else(|| format!("{} was the first live model: nothing to roll back to", live.version))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rolling_back_walks_back_through_what_each_live_model_replaced() {
        let mut state = State::default();
        for version in ["a", "b", "c"] {
            let change = state.set(Action::Publish, version, "test", None);
            state.record(change);
        }
        let mut rolled = Vec::new();
        while let Ok(target) = state.rollback_target() {
            let change = state.set(Action::Rollback, &target, "test", None);
            state.record(change);
            rolled.push(target);
        }
        assert_eq!(rolled, ["b", "a"]);
        assert!(state.rollback_target().unwrap_err().contains("first live model"));

        let change = state.set(Action::PublishCandidate, "d", "test", None);
        state.record(change);
        let change = state.set(Action::Promote, "d", "test", None);
        assert_eq!(change.replaced.as_deref(), Some("a"));
        state.record(change);
        assert_eq!(state.rollback_target().unwrap(), "a");
    }

    #[test]
    fn a_new_live_model_is_watched_against_the_one_it_replaced_until_confirmed() {
        use text_model::judge::ShadowRole;
        let mut state = State::default();
        let mut apply = |action, version: &str| {
            let change = state.set(action, version, "test", None);
            state.record(change);
            state.shadow()
        };
        assert_eq!(apply(Action::Publish, "a"), None, "the first model has nothing to be judged against");
        assert_eq!(apply(Action::PublishCandidate, "b"), Some(("b".into(), ShadowRole::Candidate)));
        assert_eq!(apply(Action::Publish, "c"), Some(("a".into(), ShadowRole::Previous)), "the watch first");
        assert_eq!(apply(Action::Confirm, "c"), Some(("b".into(), ShadowRole::Candidate)));
        let promoted = apply(Action::Promote, "b");
        assert_eq!(promoted, Some(("c".into(), ShadowRole::Previous)));
        assert_eq!(apply(Action::Rollback, "c"), None, "a model put back is not watched");
    }

    #[test]
    fn the_history_keeps_its_newest_entries() {
        let mut state = State::default();
        for i in 0..HISTORY_KEPT + 5 {
            let change = state.set(Action::Publish, &i.to_string(), "test", None);
            state.record(change);
        }
        assert_eq!(state.history.len(), HISTORY_KEPT);
        assert_eq!(state.history[0].version, "5");
    }
}
