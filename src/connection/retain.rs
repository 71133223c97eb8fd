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
    /// Slices again, until the next check after one was handed out says
    /// whether they were kept (`sampled`: a message payload was sliced
    /// since the probe began). Control frame payloads are copied while
    /// probing: an application that keeps messages and drops Pings would
    /// otherwise be taken for one that keeps nothing.
    Probe { sampled: bool },
}

impl Default for Retention {
    fn default() -> Self {
        Self { mode: Mode::Share, interval: FIRST_PROBE }
    }
}

impl Retention {
    /// Whether every payload is handed out as a slice of the input buffer
    /// (no buffer was found held): the common case, one comparison.
    #[inline(always)]
    pub(super) fn shares(&self) -> bool {
        self.mode == Mode::Share
    }

    /// Whether a payload of `len` bytes (a control frame's when `control`)
    /// is copied out of an input buffer of `alloc` bytes rather than
    /// sliced, when not [`shares`](Self::shares): copying, those under half
    /// the buffer (a larger one pins at most twice itself); probing, only
    /// control payloads, and a message payload sliced is the probe's sample.
    pub(super) fn copies(&mut self, len: usize, alloc: usize, control: bool) -> bool {
        match &mut self.mode {
            Mode::Share => false,
            Mode::Copy { .. } => len < alloc / 2,
            Mode::Probe { .. } if control => true,
            Mode::Probe { sampled } => {
                *sampled = true;
                false
            }
        }
    }

    /// The input buffer's allocation was checked for reuse before a read:
    /// `held` when payloads handed out of it are still alive.
    pub(super) fn checked(&mut self, held: bool) {
        self.mode = match self.mode {
            Mode::Share if held => Mode::Copy { left: self.interval },
            Mode::Share => Mode::Share,
            Mode::Copy { left } if left <= 1 => Mode::Probe { sampled: false },
            Mode::Copy { left } => Mode::Copy { left: left - 1 },
            Mode::Probe { .. } if held => {
                self.interval = self.interval.saturating_mul(2).min(MAX_PROBE);
                Mode::Copy { left: self.interval }
            }
            // Nothing sliced yet: nothing learnt.
            Mode::Probe { sampled: false } => Mode::Probe { sampled: false },
            Mode::Probe { sampled: true } => {
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
        assert!(r.shares() && !r.copies(10, 1000, false));
        r.checked(true);
        assert!(!r.shares());
        // Copying: payloads under half the buffer, control or not.
        assert!(r.copies(499, 1000, false) && r.copies(10, 1000, true) && !r.copies(500, 1000, false));
        // Probes after 64, then 128, 256 reads while the buffer stays held.
        for interval in [64, 128, 256] {
            for _ in 0..interval {
                assert!(r.copies(10, 1000, false));
                r.checked(false);
            }
            assert_eq!(r.mode, Mode::Probe { sampled: false });
            assert!(!r.copies(10, 1000, false));
            r.checked(true);
        }
        // A probe that finds the buffer free goes back to slices, and the
        // interval starts over.
        for _ in 0..512 {
            r.checked(false);
        }
        assert_eq!(r.mode, Mode::Probe { sampled: false });
        r.checked(false);
        assert_eq!(r.mode, Mode::Probe { sampled: false }, "nothing sliced: nothing learnt");
        assert!(!r.copies(10, 1000, false));
        r.checked(false);
        assert!(r.shares());
        r.checked(true);
        assert_eq!(r.mode, Mode::Copy { left: FIRST_PROBE });
    }

    /// Found by `memory_properties` (seed 599152620): an application that
    /// keeps its messages and drops the Pings between them. Probes that
    /// saw only Pings sliced (and dropped) found the buffer free, went back
    /// to slices and started over at 64 reads, so every kept message
    /// pinned a buffer of its own instead of one per probe.
    #[test]
    fn a_probe_copies_control_payloads_and_learns_only_from_a_message() {
        let mut r = Retention { mode: Mode::Probe { sampled: false }, interval: 128 };
        for _ in 0..10 {
            assert!(r.copies(86, 8192, true), "a Ping's payload is copied");
            r.checked(false);
        }
        assert_eq!(r.mode, Mode::Probe { sampled: false });
        assert!(!r.copies(1, 8192, false), "a message is sliced");
        r.checked(true);
        assert_eq!(r.mode, Mode::Copy { left: 256 });
    }
}
