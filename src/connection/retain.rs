//! Received payloads that the application keeps: slices of the input
//! buffer, or copies of it.
//!
//! A message taken off the input is a `Bytes` slice of the buffer it was
//! read into: no copy. A slice keeps its whole buffer alive, though, so an
//! application that keeps small messages (a chat history, a queue) would pay
//! a whole read buffer (64 KiB with `read_buffer(64 * 1024)`) for each
//! 1-byte message it keeps. [`Retention`] watches for that: when the input
//! buffer's allocation is found still held at the moment it would be reused,
//! small payloads are copied out from then on (one allocation each, of
//! their own size), and the buffer is reused. Now and then (at exponentially
//! spaced reads) it hands out slices again for one buffer's worth, to learn
//! whether the application still keeps them.
//!
//! The bound: N retained payloads of s bytes hold at most about
//! N × 2s bytes, plus one read buffer per probe, of which there are
//! log2(N / [`FIRST_PROBE`]) at most. An application that drops its
//! messages never sees a copy.

/// Reads in copy mode before the first probe.
const FIRST_PROBE: u32 = 64;

/// The longest wait between probes, in reads.
const MAX_PROBE: u32 = 1 << 20;

/// Whether received payloads are sliced or copied out.
#[derive(Clone, Copy, Debug)]
pub(super) struct Retention {
    mode: Mode,
    /// Reads between probes; doubles after each probe that found the
    /// buffer held.
    interval: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Slices: no buffer was found held.
    Share,
    /// Small payloads are copied; a probe after `left` more reads.
    Copy { left: u32 },
    /// Slices again, until the next check says whether they were kept.
    Probe,
}

impl Default for Retention {
    fn default() -> Self {
        Self { mode: Mode::Share, interval: FIRST_PROBE }
    }
}

impl Retention {
    /// Whether payloads are copied out of the input buffer (those under
    /// half its size; a larger one pins at most twice itself).
    #[inline(always)]
    pub(super) fn copies(&self) -> bool {
        matches!(self.mode, Mode::Copy { .. })
    }

    /// The input buffer's allocation was checked for reuse before a read:
    /// `held` when payloads handed out of it are still alive.
    pub(super) fn checked(&mut self, held: bool) {
        self.mode = match self.mode {
            Mode::Share if held => Mode::Copy { left: self.interval },
            Mode::Share => Mode::Share,
            Mode::Copy { left } if left <= 1 => Mode::Probe,
            Mode::Copy { left } => Mode::Copy { left: left - 1 },
            Mode::Probe if held => {
                self.interval = self.interval.saturating_mul(2).min(MAX_PROBE);
                Mode::Copy { left: self.interval }
            }
            Mode::Probe => {
                self.interval = FIRST_PROBE;
                Mode::Share
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_once_held_and_probes_at_doubling_intervals() {
        let mut r = Retention::default();
        r.checked(false);
        assert!(!r.copies());
        r.checked(true);
        assert!(r.copies());
        // Probes after 64, then 128, 256 reads while the buffer stays held.
        for interval in [64, 128, 256] {
            for _ in 0..interval {
                assert!(r.copies());
                r.checked(false);
            }
            assert_eq!(r.mode, Mode::Probe);
            r.checked(true);
        }
        // A probe that finds the buffer free goes back to slices, and the
        // interval starts over.
        for _ in 0..512 {
            r.checked(false);
        }
        assert_eq!(r.mode, Mode::Probe);
        r.checked(false);
        assert_eq!(r.mode, Mode::Share);
        r.checked(true);
        assert_eq!(r.mode, Mode::Copy { left: FIRST_PROBE });
    }
}
