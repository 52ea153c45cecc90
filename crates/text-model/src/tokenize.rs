//! Tokenizer: lower-cased runs of letters and digits, at least two characters long (the same token rule
//! as scikit-learn's default `\b\w\w+\b`), each reported as a 64-bit hash so no token is ever allocated.

use std::hash::Hasher;

use rustc_hash::FxHasher;

/// Calls `emit` with the hash of every token of `text`, in order.
pub fn for_each_token(text: &str, mut emit: impl FnMut(u64)) {
    let mut hasher = FxHasher::default();
    let mut length = 0usize;
    let mut finish = |hasher: &mut FxHasher, length: &mut usize| {
        if *length >= 2 {
            emit(hasher.finish());
        }
        *hasher = FxHasher::default();
        *length = 0;
    };
    for c in text.chars() {
        if c.is_ascii() {
            if c.is_ascii_alphanumeric() || c == '_' {
                hasher.write_u8(c.to_ascii_lowercase() as u8);
                length += 1;
            } else if length > 0 {
                finish(&mut hasher, &mut length);
            }
        } else if c.is_alphanumeric() {
            for lower in c.to_lowercase() {
                hasher.write_u32(lower as u32);
            }
            length += 1;
        } else if length > 0 {
            finish(&mut hasher, &mut length);
        }
    }
    finish(&mut hasher, &mut length);
}

/// The feature id of the bigram `first second`: distinct from both unigrams and from `second first`.
pub(crate) fn bigram(first: u64, second: u64) -> u64 {
    let mut hasher = FxHasher::default();
    hasher.write_u64(first);
    hasher.write_u64(second.rotate_left(29) ^ 0x9e37_79b9_7f4a_7c15);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hashes(text: &str) -> Vec<u64> {
        let mut out = Vec::new();
        for_each_token(text, |hash| out.push(hash));
        out
    }

    #[test]
    fn splits_lowercases_and_drops_single_characters() {
        assert_eq!(hashes("Hello, WORLD! a b"), hashes("hello world"));
        assert_eq!(hashes("x").len(), 0);
        assert_eq!(hashes("Größe café").len(), 2);
        assert_eq!(hashes("GRÖSSE"), hashes("grösse"));
        assert_ne!(hashes("abc"), hashes("abd"));
    }

    #[test]
    fn bigrams_are_ordered() {
        assert_ne!(bigram(1, 2), bigram(2, 1));
    }
}
