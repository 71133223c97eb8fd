//! A blocking writer that never waits on a peer longer than the deadlines
//! allow, shared by the blocking examples (`echo_server`, `client`):
//! included with `#[path = "support/unsent.rs"] mod unsent;`.
//!
//! The connection's output is queued here and written with write timeouts,
//! so a peer that stops reading cannot hold the driver in `write_all`: the
//! driver goes on servicing deadlines and drops a peer that has taken none
//! of the bytes for `stall` (see the README, "a peer that stops reading").

use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use wsmachine::{Bytes, Connection};

/// What [`Unsent::drive`] did.
pub(crate) enum Drive {
    /// The peer took nothing for `stall`: the connection was ended.
    Stalled,
    /// Some bytes were written (or the write failed and the connection was
    /// ended); loop again.
    Wrote,
    /// Nothing is left to write: wait for the peer (or other input).
    Idle,
}

/// The bytes the connection gave us to send, in order, written as fast as
/// the peer takes them.
pub(crate) struct Unsent {
    queue: VecDeque<Bytes>,
    /// When the peer last took some of them, or they started to wait.
    since: Instant,
    /// How long the peer may take none of them.
    stall: Duration,
}

impl Unsent {
    pub(crate) fn new(stall: Duration) -> Self {
        Self { queue: VecDeque::new(), since: Instant::now(), stall }
    }

    pub(crate) fn push(&mut self, bytes: Bytes) {
        if self.queue.is_empty() {
            self.since = Instant::now();
        }
        if !bytes.is_empty() {
            self.queue.push_back(bytes);
        }
    }

    /// Forgets what is still queued (the connection is being dropped).
    pub(crate) fn clear(&mut self) {
        self.queue.clear();
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.queue.iter().map(Bytes::len).sum()
    }

    /// The peer has taken none of the bytes for `stall`: it is not reading.
    pub(crate) fn stalled(&self) -> bool {
        !self.queue.is_empty() && Instant::now() >= self.since + self.stall
    }

    /// Writes until everything is sent, `until` passes or the peer stalls,
    /// whichever comes first.
    pub(crate) fn write_until(&mut self, stream: &mut TcpStream, until: Option<Instant>) -> io::Result<()> {
        while !self.queue.is_empty() {
            let give_up = self.since + self.stall;
            let end = until.map_or(give_up, |until| until.min(give_up));
            // A write that waits for room returns what it wrote only when
            // its timeout passes: a quarter of `stall` at most keeps `since`
            // that close to the truth.
            let wait = end.saturating_duration_since(Instant::now()).min(self.stall / 4);
            stream.set_write_timeout(Some(wait.max(Duration::from_millis(1))))?;
            let mut slices = [IoSlice::new(&[]); 64];
            for (slice, bytes) in slices.iter_mut().zip(&self.queue) {
                *slice = IoSlice::new(bytes);
            }
            match stream.write_vectored(&slices[..self.queue.len().min(64)]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(mut n) => {
                    self.since = Instant::now();
                    while let Some(front) = self.queue.front_mut() {
                        if n < front.len() {
                            *front = front.slice(n..);
                            break;
                        }
                        n -= front.len();
                        self.queue.pop_front();
                    }
                }
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
            if Instant::now() >= end {
                break;
            }
        }
        Ok(())
    }

    /// One turn of a blocking driver's writing: if the peer has taken none
    /// of the bytes for `stall`, the connection ends as if the peer had
    /// gone (`Closed`, code 1006, comes next; waiting longer would only
    /// keep the thread and the bytes for it); else what is queued is written
    /// until `deadline` at most (a failed write ends the connection the same
    /// way); else a pending `shutdown` of the write side is done. `who`
    /// names the peer in the log.
    pub(crate) fn drive(
        &mut self,
        conn: &mut Connection,
        stream: &mut TcpStream,
        deadline: Option<Instant>,
        shutdown: &mut bool,
        who: &str,
    ) -> Drive {
        if self.stalled() {
            println!("{who} is not reading: it took none of {} bytes in {:?}; dropping it", self.len(), self.stall);
            self.clear();
            conn.handle_eof();
            return Drive::Stalled;
        }
        if !self.is_empty() {
            if let Err(e) = self.write_until(stream, deadline) {
                println!("{who}: write failed: {e}");
                self.clear();
                conn.handle_eof();
            }
            return Drive::Wrote;
        }
        if std::mem::take(shutdown) {
            let _ = stream.shutdown(Shutdown::Write);
            return Drive::Wrote;
        }
        Drive::Idle
    }
}
