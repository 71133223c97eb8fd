//! Randomness for masking keys (RFC 6455 §5.3, §10.3) and the handshake nonce.

/// A source of unpredictable bytes.
///
/// A client masks every frame with a fresh key that an attacker must not be
/// able to predict (§10.3), so production code needs a cryptographically
/// strong source such as [`OsEntropy`]. Tests can inject a fixed pattern to
/// reproduce the byte-exact examples of §5.7.
///
/// A connection asks for keys 256 at a time (1 KiB). [`ChaChaEntropy`], what
/// the documentation's examples use, draws them from a ChaCha12 keystream
/// seeded (and every 64 KiB reseeded) from the operating system: the
/// construction of `rand`'s `ThreadRng`, with which tungstenite and
/// fastwebsockets mask. [`OsEntropy`] asks the operating system for every
/// batch: one system call per 256 frames, about 10 ns per key on Linux.
///
/// Any other source plugs in the same way:
///
/// ```
/// use wsmachine::{Config, Connection, Entropy, Role};
///
/// /// A fixed pattern: reproducible bytes on the wire, for tests only
/// /// (§10.3 needs keys an attacker cannot predict).
/// struct Fixed(u8);
///
/// impl Entropy for Fixed {
///     fn fill(&mut self, dest: &mut [u8]) {
///         for b in dest {
///             *b = self.0;
///             self.0 = self.0.wrapping_add(1);
///         }
///     }
/// }
///
/// let mut client = Connection::new_open(Role::Client, Config::default(), Fixed(0));
/// client.send_text("masked with a predictable key").unwrap();
/// ```
pub trait Entropy {
    /// Fills `dest` entirely with random bytes.
    fn fill(&mut self, dest: &mut [u8]);
}

impl<E: Entropy + ?Sized> Entropy for alloc::boxed::Box<E> {
    fn fill(&mut self, dest: &mut [u8]) {
        (**self).fill(dest);
    }
}

/// The operating system's random generator, through the `getrandom` crate.
///
/// # Panics
/// If the operating system cannot supply randomness, which on supported
/// platforms does not happen once the system has booted; a weak fallback
/// would silently break §10.3, so there is none.
#[cfg(feature = "getrandom")]
#[derive(Clone, Copy, Debug, Default)]
pub struct OsEntropy;

#[cfg(feature = "getrandom")]
impl Entropy for OsEntropy {
    fn fill(&mut self, dest: &mut [u8]) {
        if let Err(e) = getrandom::fill(dest) {
            panic!("operating system randomness unavailable: {e}");
        }
    }
}

/// How many bytes [`ChaChaEntropy`] draws between reseeds (as `rand`'s
/// `ThreadRng`).
#[cfg(feature = "getrandom")]
const RESEED_AFTER: usize = 64 * 1024;

/// Masking keys from a ChaCha12 keystream seeded from the operating system
/// (through [`OsEntropy`]) and reseeded every 64 KiB drawn: a
/// cryptographically secure generator (RFC 6455 §10.3) that costs no system
/// call per batch of keys. The choice for clients:
///
/// ```
/// use wsmachine::{ChaChaEntropy, Config, Connection, Role};
///
/// let mut client = Connection::new_open(Role::Client, Config::default(), ChaChaEntropy::new());
/// client.send_text("masked").unwrap();
/// ```
///
/// # Panics
/// As [`OsEntropy`], if the operating system cannot supply the seed.
#[cfg(feature = "getrandom")]
pub struct ChaChaEntropy {
    rng: rand_chacha::ChaCha12Rng,
    /// Bytes drawn since the last seed.
    drawn: usize,
}

#[cfg(feature = "getrandom")]
impl ChaChaEntropy {
    /// A generator seeded from the operating system.
    pub fn new() -> Self {
        Self { rng: Self::seeded(), drawn: 0 }
    }

    fn seeded() -> rand_chacha::ChaCha12Rng {
        use rand_chacha::rand_core::SeedableRng;
        let mut seed = [0u8; 32];
        OsEntropy.fill(&mut seed);
        rand_chacha::ChaCha12Rng::from_seed(seed)
    }
}

#[cfg(feature = "getrandom")]
impl Default for ChaChaEntropy {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(feature = "getrandom")]
impl core::fmt::Debug for ChaChaEntropy {
    /// Shows nothing of the generator's state.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ChaChaEntropy").finish_non_exhaustive()
    }
}

#[cfg(feature = "getrandom")]
impl Entropy for ChaChaEntropy {
    fn fill(&mut self, dest: &mut [u8]) {
        use rand_chacha::rand_core::RngCore;
        if self.drawn >= RESEED_AFTER {
            self.rng = Self::seeded();
            self.drawn = 0;
        }
        self.rng.fill_bytes(dest);
        self.drawn = self.drawn.saturating_add(dest.len());
    }
}

#[cfg(all(test, feature = "getrandom"))]
mod tests {
    use super::*;

    #[test]
    fn chacha_keys_differ_between_generators_and_draws() {
        let (mut a, mut b) = (ChaChaEntropy::new(), ChaChaEntropy::new());
        let (mut x, mut y, mut z) = ([0u8; 64], [0u8; 64], [0u8; 64]);
        a.fill(&mut x);
        a.fill(&mut y);
        b.fill(&mut z);
        assert_ne!(x, y, "one generator repeated itself");
        assert_ne!(x, z, "two generators gave the same keys");
        assert_ne!(x, [0u8; 64]);
    }

    #[test]
    fn chacha_reseeds_after_64_kib() {
        let mut e = ChaChaEntropy::new();
        let mut buf = [0u8; 1024];
        for _ in 0..64 {
            e.fill(&mut buf);
        }
        assert_eq!(e.drawn, RESEED_AFTER);
        let before = e.rng.get_seed();
        e.fill(&mut buf);
        assert_eq!(e.drawn, 1024, "the count starts again at the reseed");
        assert_ne!(e.rng.get_seed(), before, "a new seed");
    }

    #[test]
    fn debug_hides_the_state() {
        assert_eq!(alloc::format!("{:?}", ChaChaEntropy::new()), "ChaChaEntropy { .. }");
    }
}
