//! Randomness for masking keys (RFC 6455 §5.3, §10.3) and the handshake nonce.

/// A source of unpredictable bytes.
///
/// A client masks every frame with a fresh key that an attacker must not be
/// able to predict (§10.3), so production code needs a cryptographically
/// strong source such as [`OsEntropy`]. Tests can inject a fixed pattern to
/// reproduce the byte-exact examples of §5.7.
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
