//! Time as an input: the deadlines of the opening and closing handshakes
//! and keepalive.
//!
//! [`Timers`] owns every timestamp the connection keeps; the timeouts are
//! the [`Config`]'s. It answers two questions for the phase the connection
//! is in (which [`Connection`](super::Connection) tells it): when is the
//! next deadline, and which one is due now. What a due deadline does is the
//! connection's decision.

use crate::config::Config;
use crate::time::Timestamp;

/// The phases whose deadlines differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    /// The opening handshake: its timeout runs.
    Connecting,
    /// Open: keepalive runs.
    Open,
    /// The closing handshake: its timeout runs.
    Closing,
    /// Over: nothing runs.
    Ended,
}

/// A deadline that is due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Due {
    /// The opening handshake took too long.
    Handshake,
    /// The closing handshake took too long.
    Close,
    /// Nothing arrived for a keepalive interval: send a Ping.
    KeepalivePing,
    /// Nothing arrived within the keepalive timeout of that Ping.
    KeepaliveFailed,
}

/// The connection's clock readings and timeouts.
#[derive(Debug)]
pub(super) struct Timers {
    /// The latest time the driver gave.
    now: Option<Timestamp>,
    /// When the opening handshake started (the first known time).
    handshake_started: Option<Timestamp>,
    /// When the closing handshake started.
    closing_started: Option<Timestamp>,
    /// When bytes last arrived.
    last_rx: Option<Timestamp>,
    /// When the unanswered keepalive Ping went out.
    ping_sent: Option<Timestamp>,
    /// Bytes arrived since the previous tick: not idle.
    input_since_tick: bool,
    /// The origin of `handle_timeout_at`/`poll_timeout_at`.
    #[cfg(feature = "std")]
    std_origin: Option<std::time::Instant>,
}

impl Timers {
    pub(super) fn new() -> Self {
        Self {
            now: None,
            handshake_started: None,
            closing_started: None,
            last_rx: None,
            ping_sent: None,
            input_since_tick: false,
            #[cfg(feature = "std")]
            std_origin: None,
        }
    }

    /// The time is `now` (never earlier than before). Returns true when no
    /// input came since the previous tick: the connection is idle.
    pub(super) fn tick(&mut self, now: Timestamp, phase: Phase) -> bool {
        let now = self.now.map_or(now, |prev| prev.max(now));
        self.now = Some(now);
        self.handshake_started.get_or_insert(now);
        self.last_rx.get_or_insert(now);
        if phase == Phase::Closing {
            self.closing_started.get_or_insert(now);
        }
        !core::mem::take(&mut self.input_since_tick)
    }

    /// The `Instant` of `handle_timeout_at`, as a [`Timestamp`] from the
    /// first one given.
    #[cfg(feature = "std")]
    pub(super) fn timestamp(&mut self, now: std::time::Instant) -> Timestamp {
        let origin = *self.std_origin.get_or_insert(now);
        Timestamp::from_duration(now.saturating_duration_since(origin))
    }

    /// A [`Timestamp`] as an `Instant` (after the first `handle_timeout_at`).
    #[cfg(feature = "std")]
    pub(super) fn instant(&self, at: Timestamp) -> Option<std::time::Instant> {
        self.std_origin?.checked_add(at.as_duration())
    }

    /// Bytes arrived: the peer is alive.
    pub(super) fn input(&mut self) {
        self.input_since_tick = true;
        if self.now.is_some() {
            self.last_rx = self.now;
        }
        self.ping_sent = None;
    }

    /// The connection opened: keepalive counts idleness from now, not from
    /// the request (the application may have taken its time).
    pub(super) fn opened(&mut self) {
        if self.now.is_some() {
            self.last_rx = self.now;
        }
    }

    /// The closing handshake started (our Close queued or the peer's
    /// received).
    pub(super) fn closing(&mut self) {
        if self.closing_started.is_none() {
            self.closing_started = self.now;
        }
    }

    /// The keepalive Ping went out.
    pub(super) fn pinged(&mut self) {
        self.ping_sent = self.now;
    }

    fn handshake_deadline(&self, phase: Phase, config: &Config) -> Option<Timestamp> {
        if phase != Phase::Connecting {
            return None;
        }
        Some(self.handshake_started?.saturating_add(config.handshake_timeout?))
    }

    fn close_deadline(&self, phase: Phase, config: &Config) -> Option<Timestamp> {
        if phase == Phase::Ended {
            return None;
        }
        Some(self.closing_started?.saturating_add(config.close_timeout?))
    }

    fn keepalive_deadline(&self, phase: Phase, config: &Config) -> Option<Timestamp> {
        if phase != Phase::Open {
            return None;
        }
        let interval = config.keepalive_interval?;
        match self.ping_sent {
            Some(sent) => Some(sent.saturating_add(config.keepalive_timeout)),
            None => Some(self.last_rx?.saturating_add(interval)),
        }
    }

    /// The next deadline in `phase`, if any runs.
    pub(super) fn next_deadline(&self, phase: Phase, config: &Config) -> Option<Timestamp> {
        [
            self.handshake_deadline(phase, config),
            self.close_deadline(phase, config),
            self.keepalive_deadline(phase, config),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The deadline due at the latest known time, the most pressing first.
    pub(super) fn due(&self, phase: Phase, config: &Config) -> Option<Due> {
        let now = self.now?;
        if self.handshake_deadline(phase, config).is_some_and(|d| now >= d) {
            return Some(Due::Handshake);
        }
        if self.close_deadline(phase, config).is_some_and(|d| now >= d) {
            return Some(Due::Close);
        }
        if self.keepalive_deadline(phase, config).is_some_and(|d| now >= d) {
            return Some(if self.ping_sent.is_some() { Due::KeepaliveFailed } else { Due::KeepalivePing });
        }
        None
    }
}
