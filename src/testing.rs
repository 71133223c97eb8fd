//! Helpers for the unit tests only.

/// The one deterministic generator of the unit tests: xorshift64 (the
/// integration tests use `tests/common`'s, proptest or flate2 instead).
/// The seed must not be 0.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    /// A generator from any seed (0 included), scrambled so that close
    /// seeds give unrelated streams.
    // The deflate tests' (the others start from a fixed state).
    #[cfg_attr(not(feature = "deflate"), allow(dead_code))]
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// `len` random bytes.
    #[cfg_attr(not(feature = "deflate"), allow(dead_code))]
    pub(crate) fn bytes(&mut self, len: usize) -> alloc::vec::Vec<u8> {
        (0..len).map(|_| (self.next() >> 24) as u8).collect()
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// In `0..n` (`0` when `n` is 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % (n as u64).max(1)) as usize
    }
}

/// The client handshake of RFC 6455 §1.2, in its order: one copy, shared
/// with the integration tests (`tests/common/rfc_request.in`).
pub(crate) const RFC_REQUEST: &str = include!("../tests/common/rfc_request.in");
