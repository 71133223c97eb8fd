//! Time as an input: deadlines and keepalive.

use super::*;

impl Connection {
    /// Tells the connection the time and fires every deadline that is due
    /// (RFC 6455 §7.1.1's close timeout, the opening handshake timeout,
    /// keepalive). Call it once when the connection is created and on every
    /// wake-up, before feeding the bytes that woke you: bytes are stamped with
    /// the latest time given. Time never goes back: an earlier `now` counts
    /// as the latest one. What a deadline does comes out of
    /// [`poll_output`](Self::poll_output), after anything already queued.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        let now = self.now.map_or(now, |prev| prev.max(now));
        self.now = Some(now);
        if self.closed {
            return;
        }
        self.handshake_started.get_or_insert(now);
        self.last_rx.get_or_insert(now);
        if self.close_sent || self.close_received.is_some() {
            self.closing_started.get_or_insert(now);
        }
        // Checked once the input before it is processed (see `pump`).
        self.dirty = true;
        // Idle since the previous wake-up (no input in between) and nothing
        // buffered: give the buffers back, so an idle connection holds
        // little more than itself. A busy connection, whose driver calls
        // this on every wake-up, keeps reusing them.
        if !core::mem::take(&mut self.input_since_tick) {
            if self.rx.is_empty() && self.frame.is_none() {
                self.release_rx();
            }
            if self.out.is_empty() {
                self.tx = BytesMut::new();
                self.out = VecDeque::new();
                // Unused masking keys are just random bytes: drop them.
                self.masks = Vec::new();
                self.masks_used = 0;
            }
        }
    }

    /// The next deadline: call [`handle_timeout`](Self::handle_timeout) at
    /// that time if nothing else happens first. `None` when no timer runs:
    /// before the first `handle_timeout`, with every timeout turned off, and
    /// always once the connection is CLOSED.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        if self.closed {
            return None;
        }
        [self.handshake_deadline(), self.close_deadline(), self.keepalive_deadline()].into_iter().flatten().min()
    }

    /// [`handle_timeout`](Self::handle_timeout) with a `std::time::Instant`.
    /// The first `Instant` given becomes the origin of this connection's
    /// [`Timestamp`]s; do not mix with `handle_timeout`.
    #[cfg(feature = "std")]
    pub fn handle_timeout_at(&mut self, now: std::time::Instant) {
        let origin = *self.std_origin.get_or_insert(now);
        self.handle_timeout(Timestamp::from_duration(now.saturating_duration_since(origin)));
    }

    /// [`poll_timeout`](Self::poll_timeout) as a `std::time::Instant`; `None`
    /// also before the first [`handle_timeout_at`](Self::handle_timeout_at).
    #[cfg(feature = "std")]
    #[must_use]
    pub fn poll_timeout_at(&self) -> Option<std::time::Instant> {
        self.std_origin?.checked_add(self.poll_timeout()?.as_duration())
    }

    pub(super) fn handshake_deadline(&self) -> Option<Timestamp> {
        if matches!(self.phase, Phase::Open) {
            return None;
        }
        Some(self.handshake_started?.saturating_add(self.config.handshake_timeout?))
    }

    pub(super) fn close_deadline(&self) -> Option<Timestamp> {
        Some(self.closing_started?.saturating_add(self.config.close_timeout?))
    }

    pub(super) fn keepalive_deadline(&self) -> Option<Timestamp> {
        if self.ready_state() != ReadyState::Open {
            return None;
        }
        let interval = self.config.keepalive_interval?;
        match self.ping_sent {
            Some(sent) => Some(sent.saturating_add(self.config.keepalive_timeout)),
            None => Some(self.last_rx?.saturating_add(interval)),
        }
    }

    /// Fires the deadlines due at the latest known time.
    pub(super) fn fire_timers(&mut self) {
        let Some(now) = self.now else { return };
        if self.closed {
            return;
        }
        if self.handshake_deadline().is_some_and(|d| now >= d) {
            return self.fail_handshake(HandshakeError::Timeout);
        }
        if self.close_deadline().is_some_and(|d| now >= d) {
            return match (&self.close_received, self.close_sent) {
                // Both Close frames passed; the server did not close TCP.
                (Some(frame), true) => {
                    let (code, reason) = (frame.code, frame.reason.clone());
                    self.finish(code, reason, true, None)
                }
                _ => self.finish(CloseCode::ABNORMAL, String::new(), false, Some(ConnectionError::CloseTimeout)),
            };
        }
        if self.keepalive_deadline().is_some_and(|d| now >= d) {
            if self.ping_sent.is_some() {
                self.finish(CloseCode::ABNORMAL, String::new(), false, Some(ConnectionError::KeepaliveTimeout));
            } else {
                self.queue_control(frame::PING, &[]);
                self.ping_sent = Some(now);
            }
        }
    }
}
