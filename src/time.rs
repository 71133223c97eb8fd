//! Time as an input: the crate never reads a clock.

use core::time::Duration;

/// A point in time as the driver measures it: a [`Duration`] since an origin
/// the driver chooses (its start, the boot, an epoch). Only differences
/// between timestamps matter, so any monotonic source works, with or without
/// `std`. Under `std`, [`Connection::handle_timeout_at`] and
/// [`Connection::poll_timeout_at`] take and give `std::time::Instant`
/// instead.
///
/// [`Connection::handle_timeout_at`]: crate::Connection::handle_timeout_at
/// [`Connection::poll_timeout_at`]: crate::Connection::poll_timeout_at
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(Duration);

impl Timestamp {
    /// The timestamp `since_origin` after the driver's origin.
    pub const fn from_duration(since_origin: Duration) -> Self {
        Self(since_origin)
    }

    /// The timestamp `millis` milliseconds after the driver's origin.
    pub const fn from_millis(millis: u64) -> Self {
        Self(Duration::from_millis(millis))
    }

    /// The time since the driver's origin.
    pub const fn as_duration(self) -> Duration {
        self.0
    }

    /// `self + d`, saturating at the largest representable time.
    pub fn saturating_add(self, d: Duration) -> Self {
        Self(self.0.saturating_add(d))
    }

    /// `self - earlier`, or zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Self) -> Duration {
        self.0.saturating_sub(earlier.0)
    }
}
