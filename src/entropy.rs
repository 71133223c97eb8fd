//! Randomness for masking keys (RFC 6455 §5.3, §10.3) and the handshake nonce.

/// A source of unpredictable bytes.
///
/// A client masks every frame with a fresh key that an attacker must not be
/// able to predict (§10.3), so production code needs a cryptographically
/// strong source such as [`OsEntropy`]. Tests can inject a fixed pattern to
/// reproduce the byte-exact examples of §5.7.
///
/// A connection asks for keys 256 at a time (1 KiB), so [`OsEntropy`] costs
/// one system call per 256 frames; what remains is the kernel's generator,
/// measured at about 10 ns per key, a fifth of the cost of sending a
/// 16-byte message. A client that sends millions of frames per second can
/// use a userspace CSPRNG seeded from the operating system instead, as
/// `rand`'s `ThreadRng` does (ChaCha12; tungstenite and fastwebsockets mask
/// with it):
///
/// ```
/// use rand_chacha::ChaCha12Rng;
/// use rand_chacha::rand_core::{RngCore, SeedableRng};
/// use wsmachine::{Config, Connection, Entropy, OsEntropy, Role};
///
/// struct ChaChaKeys(ChaCha12Rng);
///
/// impl Entropy for ChaChaKeys {
///     fn fill(&mut self, dest: &mut [u8]) {
///         self.0.fill_bytes(dest);
///     }
/// }
///
/// let mut seed = [0u8; 32];
/// OsEntropy.fill(&mut seed);
/// let keys = ChaChaKeys(ChaCha12Rng::from_seed(seed));
/// let mut client = Connection::new_open(Role::Client, Config::default(), keys);
/// client.send_text("masked with a ChaCha12 key").unwrap();
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
