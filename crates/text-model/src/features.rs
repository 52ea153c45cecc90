//! Sparse TF-IDF features over a pruned vocabulary of unigrams and bigrams.

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::tokenize::{bigram, for_each_token};

/// A document as feature weights: sorted, distinct indices and their values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SparseVector {
    /// Feature indices, ascending.
    pub indices: Vec<u32>,
    /// Weights, one per index.
    pub values: Vec<f32>,
}

impl SparseVector {
    /// Empties the vector, keeping its capacity.
    pub fn clear(&mut self) {
        self.indices.clear();
        self.values.clear();
    }
}

/// Maps n-gram hashes to feature indices and holds the training IDF.
///
/// The IDF comes from training and is kept here, so a document vectorised alone is weighted exactly as
/// it would have been in training.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Vocabulary {
    /// n-gram hash → feature index.
    index: FxHashMap<u64, u32>,
    /// Inverse document frequency of each feature.
    idf: Vec<f32>,
}

impl Vocabulary {
    /// Builds the vocabulary from training documents: keeps n-grams in at least `min_df` documents, at most
    /// `max_features` of them (the most frequent), with smoothed IDF `ln((1 + n) / (1 + df)) + 1`.
    /// Each document is given as its parts (title, body); n-grams do not span parts.
    pub fn fit<'a, P: AsRef<[&'a str]>>(
        documents: impl IntoIterator<Item = P>,
        min_df: u32,
        max_features: usize,
    ) -> Self {
        let mut document_frequency: FxHashMap<u64, u32> = FxHashMap::default();
        let mut seen = Vec::new();
        let mut documents_seen = 0u32;
        for parts in documents {
            documents_seen += 1;
            seen.clear();
            for_each_ngram(parts.as_ref(), |hash| seen.push(hash));
            seen.sort_unstable();
            seen.dedup();
            for hash in &seen {
                *document_frequency.entry(*hash).or_default() += 1;
            }
        }
        let mut kept: Vec<(u64, u32)> = document_frequency.into_iter().filter(|&(_, df)| df >= min_df).collect();
        // Most frequent first; the hash breaks ties so the result does not depend on hash-map order.
        kept.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        kept.truncate(max_features);
        let n = documents_seen as f32;
        let idf = kept.iter().map(|&(_, df)| ((1.0 + n) / (1.0 + df as f32)).ln() + 1.0).collect();
        let index = kept.iter().enumerate().map(|(i, &(hash, _))| (hash, i as u32)).collect();
        Self { index, idf }
    }

    /// Number of features.
    pub fn len(&self) -> usize {
        self.idf.len()
    }

    /// True when no n-gram was kept.
    pub fn is_empty(&self) -> bool {
        self.idf.is_empty()
    }

    /// Writes the L2-normalised, sublinear-TF × IDF vector of a document, given as its parts (title,
    /// body), into `out`.
    pub fn vectorize(&self, parts: &[&str], out: &mut SparseVector) {
        out.clear();
        for_each_ngram(parts, |hash| {
            if let Some(&index) = self.index.get(&hash) {
                out.indices.push(index);
            }
        });
        out.indices.sort_unstable();
        // Run-length encode the sorted indices into (index, count), in place.
        let mut write = 0;
        let mut read = 0;
        while read < out.indices.len() {
            let index = out.indices[read];
            let mut count = 0;
            while read < out.indices.len() && out.indices[read] == index {
                read += 1;
                count += 1;
            }
            out.indices[write] = index;
            out.values.push((1.0 + (count as f32).ln()) * self.idf[index as usize]);
            write += 1;
        }
        out.indices.truncate(write);
        let norm = out.values.iter().map(|v| v * v).sum::<f32>().sqrt();
        if norm > 0.0 {
            out.values.iter_mut().for_each(|v| *v /= norm);
        }
    }
}

/// Calls `emit` with every unigram and bigram hash of each part.
fn for_each_ngram(parts: &[&str], mut emit: impl FnMut(u64)) {
    for text in parts {
        let mut previous: Option<u64> = None;
        for_each_token(text, |hash| {
            emit(hash);
            if let Some(previous) = previous {
                emit(bigram(previous, hash));
            }
            previous = Some(hash);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_training_idf_for_a_lone_document() {
        let vocabulary = Vocabulary::fit([["apple banana"], ["apple cherry"], ["apple banana cherry"]], 2, 100);
        // apple, banana, cherry and the bigram "apple banana" appear in two or more documents.
        assert_eq!(vocabulary.len(), 4);
        let mut alone = SparseVector::default();
        vocabulary.vectorize(&["banana apple apple"], &mut alone);
        assert_eq!(alone.indices.len(), 2, "only known n-grams count");
        let apple = alone.indices.iter().position(|&i| vocabulary.idf[i as usize] == 1.0).unwrap();
        let banana = 1 - apple;
        // apple: tf 2 → 1 + ln 2, idf 1; banana: tf 1, idf ln(4/3) + 1.
        let ratio = alone.values[apple] / alone.values[banana];
        assert!((ratio - (1.0 + 2f32.ln()) / ((4.0f32 / 3.0).ln() + 1.0)).abs() < 1e-5);
        let norm: f32 = alone.values.iter().map(|v| v * v).sum();
        assert!((norm - 1.0).abs() < 1e-5);
    }
}
