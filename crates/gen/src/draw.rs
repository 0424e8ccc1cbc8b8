//! The generator's only source of randomness: a ChaCha8 keystream and the fixed ways this
//! crate turns it into integers, fractions, coin flips, choices, shuffles and IDs.
//!
//! Why not `rand`'s `StdRng` and `Rng` methods: `rand` does not promise that `StdRng` keeps its
//! algorithm, and its value distributions (`random_range`, `random_bool`, `shuffle`, …) may
//! change between `rand` versions, either of which would silently change the committed
//! fixtures. Here the generator is ChaCha8 (`rand_chacha::ChaCha8Rng`: a fixed cipher, output
//! documented as portable and tested against reference vectors), keyed directly with
//! [`ChaCha8Rng::from_seed`] (no seed-expansion function in between) and put on one of its
//! 2^64 independent streams per purpose ([`Stream`]); every mapping from the raw 64-bit words
//! to values is written out below and pinned by tests.

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The independent ChaCha stream a [`Draw`] reads, one per purpose, so that e.g. drawing
/// more events never changes the users.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stream {
    /// Users and their attributes.
    Users = 0,
    /// Events (and the campaigns and journeys they name).
    Events = 1,
    /// Partition keys, sequence-number steps and arrival jitter of a Kinesis envelope.
    Kinesis = 2,
}

/// A reproducible source of random values.
pub(crate) struct Draw {
    rng: ChaCha8Rng,
}

impl Draw {
    /// A draw keyed by `key` (its first 32 bytes, zero-padded) on `stream`.
    pub(crate) fn new(key: &[u8], stream: Stream) -> Self {
        let mut seed = [0u8; 32];
        for (slot, byte) in seed.iter_mut().zip(key) {
            *slot = *byte;
        }
        let mut rng = ChaCha8Rng::from_seed(seed);
        rng.set_stream(stream as u64);
        Draw { rng }
    }

    /// A draw keyed by a `u64` seed (little-endian bytes) on `stream`.
    pub(crate) fn from_seed(seed: u64, stream: Stream) -> Self {
        Self::new(&seed.to_le_bytes(), stream)
    }

    /// Uniform in `0..n` (`0` when `n` is 0): Lemire's multiply-and-reject, unbiased.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        let threshold = n.wrapping_neg() % n;
        loop {
            let product = u128::from(self.rng.next_u64()) * u128::from(n);
            if (product as u64) >= threshold {
                return (product >> 64) as u64;
            }
        }
    }

    /// Uniform in `lo..=hi`; `lo` when `hi < lo`.
    pub(crate) fn int(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        let span = hi.abs_diff(lo);
        match span.checked_add(1) {
            Some(n) => lo.wrapping_add_unsigned(self.below(n)),
            None => lo.wrapping_add_unsigned(self.rng.next_u64()),
        }
    }

    /// Uniform in `lo..end` (end excluded); `lo` when `end <= lo + 1`.
    pub(crate) fn range(&mut self, lo: i64, end: i64) -> i64 {
        self.int(lo, end.saturating_sub(1))
    }

    /// A uniform index into a collection of `len` items (`0` when `len` is 0).
    pub(crate) fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }

    /// One of `items`, uniformly. `items` must not be empty (the generator's tables are fixed
    /// and non-empty).
    pub(crate) fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.index(items.len())]
    }

    /// Uniform in `[0, 1)`: the top 53 bits of one word, times 2^-53.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// True with probability `p`.
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// A uniform signed 32-bit integer (the low half of one word).
    pub(crate) fn i32(&mut self) -> i32 {
        self.rng.next_u64() as u32 as i32
    }

    /// Fisher–Yates from the back: position `i` swaps with a uniform `j` in `0..=i`.
    pub(crate) fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.index(i + 1);
            items.swap(i, j);
        }
    }

    /// `len` lowercase hex digits.
    pub(crate) fn hex(&mut self, len: usize) -> String {
        (0..len)
            .map(|_| char::from(b"0123456789abcdef"[self.index(16)]))
            .collect()
    }

    /// A random version-4 UUID in its usual text form.
    pub(crate) fn uuid(&mut self) -> String {
        let h = self.hex(32);
        let variant = char::from(b"89ab"[self.index(4)]);
        format!(
            "{}-{}-4{}-{}{}-{}",
            &h[0..8],
            &h[8..12],
            &h[13..16],
            variant,
            &h[17..20],
            &h[20..32]
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The raw stream is the ChaCha8 cipher's keystream: with the all-zero key and nonce it
    /// starts `3e 00 ef 2f 89 5f 40 d6 …`, the published 8-round test vector (“Test Vectors for
    /// the Stream Cipher ChaCha”, TC1, 256-bit key), read as little-endian words. Other streams
    /// of the same key differ.
    #[test]
    fn raw_stream_is_the_chacha8_keystream() {
        let mut draw = Draw::new(&[], Stream::Users);
        assert_eq!(draw.rng.next_u64(), 0xd640_5f89_2fef_003e);
        assert_eq!(draw.rng.next_u64(), 0xa1a5_091f_e8b8_5b7f);
        let mut other_stream = Draw::new(&[], Stream::Events);
        assert_ne!(other_stream.rng.next_u64(), 0xd640_5f89_2fef_003e);
    }

    /// The mappings from words to values are this crate's and must never change silently:
    /// these are the first values for seed 7 on the users stream.
    #[test]
    fn values_for_seed_7_are_pinned() {
        let mut d = Draw::from_seed(7, Stream::Users);
        let values = (
            d.below(1000),
            d.int(-5, 5),
            d.unit(),
            d.chance(0.5),
            d.i32(),
            d.hex(8),
            d.uuid(),
        );
        let mut order: Vec<u32> = (0..10).collect();
        d.shuffle(&mut order);
        assert_eq!(
            format!("{values:?} {order:?}"),
            "(764, 0, 0.005674514325306634, true, -665641085, \"5539f9a6\", \
             \"3f9402b4-223b-4077-b5d3-63c32c3012ea\") [3, 6, 9, 7, 0, 1, 2, 8, 4, 5]"
        );
    }

    #[test]
    fn ranges_are_respected_and_covered() {
        let mut d = Draw::from_seed(1, Stream::Events);
        let mut seen = [false; 7];
        for _ in 0..2_000 {
            let x = d.int(-3, 3);
            assert!((-3..=3).contains(&x));
            seen[(x + 3) as usize] = true;
            let u = d.unit();
            assert!((0.0..1.0).contains(&u));
        }
        assert!(seen.iter().all(|s| *s));
        assert_eq!(d.int(5, 5), 5);
        assert_eq!(d.int(5, 4), 5);
        assert_eq!(d.below(0), 0);
        let full = d.int(i64::MIN, i64::MAX);
        assert!((i64::MIN..=i64::MAX).contains(&full));
    }

    #[test]
    fn shuffle_is_a_permutation_and_uuid_is_v4() {
        let mut d = Draw::from_seed(3, Stream::Kinesis);
        let mut xs: Vec<usize> = (0..50).collect();
        d.shuffle(&mut xs);
        assert_ne!(xs, (0..50).collect::<Vec<_>>());
        xs.sort_unstable();
        assert_eq!(xs, (0..50).collect::<Vec<_>>());
        let id = d.uuid();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!("89ab".contains(&id[19..20]));
    }
}
