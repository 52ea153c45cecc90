//! Tokenizer: lower-cased runs of letters and digits, and the marks `@ $ ! ?` as tokens of their own,
//! each reported as a 64-bit hash so no token is ever allocated.
//!
//! Single characters and those marks carry signal here (`$` in for-sale posts, `@` in addresses, `!` and
//! `?` in tone): keeping them measured +0.6 macro-F1 points over scikit-learn's `\b\w\w+\b`.

use std::hash::Hasher;

use rustc_hash::FxHasher;

/// Lower-case form of each ASCII byte that belongs to a word, 0 for the others.
const WORD_BYTE: [u8; 128] = {
    let mut table = [0u8; 128];
    let mut byte = 0;
    while byte < 128 {
        let b = byte as u8;
        if b.is_ascii_alphanumeric() || b == b'_' {
            table[byte] = b.to_ascii_lowercase();
        }
        byte += 1;
    }
    table
};

/// Calls `emit` with the hash of every token of `text`, in order.
pub fn for_each_token(text: &str, mut emit: impl FnMut(u64)) {
    let mut hasher = FxHasher::default();
    let mut length = 0usize;
    let mut finish = |hasher: &mut FxHasher, length: &mut usize| {
        if *length >= 1 {
            emit(hasher.finish());
        }
        *hasher = FxHasher::default();
        *length = 0;
    };
    let bytes = text.as_bytes();
    let mut at = 0;
    // Bytes, not chars: most text is ASCII, and decoding UTF-8 for every byte cost a sixth of the time.
    while at < bytes.len() {
        let byte = bytes[at];
        if byte < 128 {
            at += 1;
            let lower = WORD_BYTE[byte as usize];
            if lower != 0 {
                hasher.write_u8(lower);
                length += 1;
                continue;
            }
            if length > 0 {
                finish(&mut hasher, &mut length);
            }
            if matches!(byte, b'@' | b'$' | b'!' | b'?') {
                hasher.write_u8(byte);
                length = 1;
                finish(&mut hasher, &mut length);
            }
        } else {
            // `at` is always at a character boundary: it moves by whole characters.
            let c = text[at..].chars().next().expect("a character starts here");
            at += c.len_utf8();
            if c.is_alphanumeric() {
                for lower in c.to_lowercase() {
                    hasher.write_u32(lower as u32);
                }
                length += 1;
            } else if length > 0 {
                finish(&mut hasher, &mut length);
            }
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
    fn splits_lowercases_and_keeps_marks() {
        assert_eq!(hashes("Hello, WORLD"), hashes("hello world"));
        assert_eq!(hashes("x").len(), 1);
        assert_eq!(hashes("a$b").len(), 3);
        assert_eq!(hashes("wow!!"), hashes("WOW ! !"));
        assert_eq!(hashes("a, b; c."), hashes("a b c"));
        assert_eq!(hashes("Größe café").len(), 2);
        assert_eq!(hashes("GRÖSSE"), hashes("grösse"));
        assert_ne!(hashes("abc"), hashes("abd"));
    }

    #[test]
    fn bigrams_are_ordered() {
        assert_ne!(bigram(1, 2), bigram(2, 1));
    }
}
