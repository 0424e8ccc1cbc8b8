//! The one non-cryptographic hash of the project: 64-bit FNV-1a, stable across versions and
//! platforms (it names aggregates in stored state, event fingerprints and DynamoDB buckets, so
//! it must never change).
//!
//! FNV-1a is not collision-resistant against an adversary; nothing here relies on that: a
//! producer that crafts two colliding events of its own user only changes its own counts.

/// FNV-1a offset basis.
const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
/// FNV-1a prime.
const PRIME: u64 = 0x0100_0000_01b3;

/// 64-bit FNV-1a of `bytes`.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h = Fnv64::new();
    h.write(bytes);
    h.finish()
}

/// An incremental 64-bit FNV-1a hasher. Fields written one after another should be separated
/// with [`Fnv64::field`] so that `("ab", "c")` and `("a", "bc")` hash differently.
#[derive(Debug, Clone, Copy)]
pub struct Fnv64(u64);

impl Default for Fnv64 {
    fn default() -> Self {
        Fnv64::new()
    }
}

impl Fnv64 {
    /// A fresh hasher.
    pub fn new() -> Self {
        Fnv64(OFFSET)
    }

    /// Adds bytes.
    pub fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(PRIME);
        }
    }

    /// Adds one length-prefixed field (unambiguous concatenation).
    pub fn field(&mut self, bytes: &[u8]) {
        self.write(&(bytes.len() as u64).to_le_bytes());
        self.write(bytes);
    }

    /// The hash so far.
    pub fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        // Reference values of 64-bit FNV-1a.
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn fields_are_unambiguous() {
        let mut a = Fnv64::new();
        a.field(b"ab");
        a.field(b"c");
        let mut b = Fnv64::new();
        b.field(b"a");
        b.field(b"bc");
        assert_ne!(a.finish(), b.finish());
    }
}
