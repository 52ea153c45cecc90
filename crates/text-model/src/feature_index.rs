//! The n-gram → feature-index table, built once at training and read for every n-gram of every document.
//!
//! Written here rather than taken from a hash-map crate because the lookup is the hottest loop of
//! classification and a general map pays for what we do not need: hashbrown keeps a control byte array
//! beside 16-byte entries, so a lookup touches two random cache lines, and loading a model rebuilds the
//! map entry by entry. Here a slot is one `u64` — the upper 24 bits of the n-gram's hash as a fingerprint,
//! the feature's IDF in 16-bit fixed point and a 24-bit feature index — in a linear-probing array: one
//! cache line per lookup answers both "which feature" and "what weight", and a model file loads the array
//! as it is.

use serde::{Deserialize, Serialize};

/// Bits of a slot that hold the feature index (plus one, so that an empty slot is zero).
const INDEX_BITS: u32 = 24;
/// Bits above the index that hold the IDF.
const IDF_BITS: u32 = 16;
/// IDF fixed-point scale: IDF values up to 32 with a resolution of 1/2048.
const IDF_SCALE: f32 = 2048.0;
/// The most features a table can hold.
pub const MAX_FEATURES: usize = (1 << INDEX_BITS) - 2;

/// See the module documentation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FeatureIndex {
    slots: Vec<u64>,
}

impl FeatureIndex {
    /// A table mapping each of `hashes` to its position and its IDF.
    ///
    /// # Panics
    /// With more than [`MAX_FEATURES`] hashes, or fewer IDF values than hashes.
    pub fn new(hashes: &[u64], idf: &[f32]) -> Self {
        assert!(hashes.len() <= MAX_FEATURES, "at most {MAX_FEATURES} features");
        assert_eq!(hashes.len(), idf.len(), "one IDF per feature");
        // At most ~0.78 full: short probe runs, and a probe run stays within a cache line or two.
        let capacity = (hashes.len() * 9 / 7 + 1).next_power_of_two().max(8);
        let mut table = Self { slots: vec![0; capacity] };
        let mask = capacity - 1;
        for (index, &hash) in hashes.iter().enumerate() {
            let mut position = Self::position(hash) & mask;
            while table.slots[position] != 0 {
                position = (position + 1) & mask;
            }
            let idf = (idf[index] * IDF_SCALE).round().clamp(0.0, f32::from(u16::MAX)) as u64;
            table.slots[position] = Self::fingerprint(hash) | idf << INDEX_BITS | (index as u64 + 1);
        }
        table
    }

    /// Whether a decoded table can be probed without a panic or an endless probe: a power-of-two size,
    /// at least one empty slot, and every entry's feature within `features`.
    pub(crate) fn check(&self, features: usize) -> Result<(), String> {
        if !self.slots.len().is_power_of_two() {
            return Err(format!("a feature table of {} slots, not a power of two", self.slots.len()));
        }
        if !self.slots.contains(&0) {
            return Err("a feature table with no empty slot".into());
        }
        let out_of_range = self
            .slots
            .iter()
            .filter(|&&slot| slot != 0)
            .map(|slot| slot & Self::INDEX_MASK)
            .find(|&index| index == 0 || index > features as u64);
        match out_of_range {
            Some(index) => Err(format!("a feature table naming feature {index} of {features}")),
            None => Ok(()),
        }
    }

    /// Bytes held on the heap.
    pub fn heap_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<u64>()
    }

    /// The feature index and fixed-point IDF (see [`idf_from_fixed`]) of `hash`, if it is in the table.
    #[inline]
    pub fn get(&self, hash: u64) -> Option<(u32, u16)> {
        let mask = self.slots.len() - 1;
        let fingerprint = Self::fingerprint(hash);
        let mut position = Self::position(hash) & mask;
        loop {
            let slot = self.slots[position];
            if slot == 0 {
                return None;
            }
            if slot & Self::FINGERPRINT_MASK == fingerprint {
                let idf = ((slot >> INDEX_BITS) & 0xffff) as u16;
                return Some(((slot & Self::INDEX_MASK) as u32 - 1, idf));
            }
            position = (position + 1) & mask;
        }
    }

    /// Starts loading the slot where `hash` would be, for a [`FeatureIndex::get`] a little later.
    #[inline]
    pub fn prefetch(&self, hash: u64) {
        let position = Self::position(hash) & (self.slots.len() - 1);
        prefetch(&self.slots[position]);
    }

    const INDEX_MASK: u64 = (1 << INDEX_BITS) - 1;
    const FINGERPRINT_MASK: u64 = !((1 << (INDEX_BITS + IDF_BITS)) - 1);

    fn fingerprint(hash: u64) -> u64 {
        hash & Self::FINGERPRINT_MASK
    }

    /// Position bits: the hash (less bit 0, which callers use as a marker) remixed by a multiplication,
    /// so that slots spread evenly even where the n-gram hash's low bits are weak.
    fn position(hash: u64) -> usize {
        ((hash >> 1).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as usize
    }
}

/// Asks the processor to start loading the cache line of `item`, for a read a little later.
#[cfg(target_arch = "x86_64")]
#[inline]
#[allow(unsafe_code, reason = "the prefetch intrinsic is unsafe; std has no safe prefetch")]
pub(crate) fn prefetch<T>(item: &T) {
    use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
    // SAFETY: a prefetch is only a hint: it reads nothing and cannot fault, and the pointer comes from a
    // live reference.
    unsafe { _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(item).cast()) }
}

/// Asks the processor to start loading the cache line of `item` (a no-op on this architecture).
#[cfg(not(target_arch = "x86_64"))]
#[inline]
pub(crate) fn prefetch<T>(_item: &T) {}

/// The IDF that [`FeatureIndex::get`] returns in fixed point.
pub fn idf_from_fixed(fixed: u16) -> f32 {
    f32::from(fixed) / IDF_SCALE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_what_it_holds_and_nothing_else() {
        let hashes: Vec<u64> = (0..10_000u64).map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1).collect();
        let idf: Vec<f32> = (0..hashes.len()).map(|i| 1.0 + (i % 9) as f32).collect();
        let table = FeatureIndex::new(&hashes, &idf);
        for (index, &hash) in hashes.iter().enumerate() {
            let (found, found_idf) = table.get(hash).unwrap();
            assert_eq!(found, index as u32);
            assert!((idf_from_fixed(found_idf) - idf[index]).abs() < 1e-3);
        }
        let misses = (10_000..20_000u64).filter(|i| table.get(i.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1).is_some());
        assert_eq!(misses.count(), 0);
    }
}
