//! The state the driver task and the user-facing handles share.
//!
//! One `std::sync::Mutex` guards the [`Connection`] and the few counters
//! around it. It is held for a handful of instructions at a time (a command,
//! draining `poll_output`), never across an `.await` and never during a
//! system call: the driver reads and writes the socket with the lock
//! released.

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::time::Instant;
use wsmachine::{CloseCode, Closed, Connection, Event, Message, Negotiated, Output, ReadyState};

use crate::Error;

/// The driver stops reading from the transport while received messages of
/// this many bytes or more (counting 64 bytes more for each) wait for the
/// application, and reads again once they are below half of it: a slow
/// reader holds at most this much, one read and one message.
pub const MAX_UNREAD: usize = 1 << 20;

/// What a queued received message counts for beyond its payload, so that a
/// flood of empty messages is bounded too.
pub(crate) const MESSAGE_COST: usize = 64;

/// How long the input behind a message handed to the application waits for
/// the application to ask for the next one (see [`State::hold`]) before the
/// driver looks at it anyway.
pub(crate) const HOLD: Duration = Duration::from_secs(1);

pub(crate) struct Shared {
    state: Mutex<State>,
    /// Settled by the handshake; never changes.
    pub(crate) negotiated: Negotiated,
}

pub(crate) struct State {
    pub(crate) conn: Connection,
    /// Bytes the driver (or the reader, into `pending`) took from the
    /// connection and has not yet written to the transport.
    pub(crate) unwritten: usize,
    /// The adapter's own marks over `unwritten + conn.queued_bytes()` (the
    /// core's are turned off: its queue is drained at once, so only the
    /// adapter sees the real backlog).
    pub(crate) high_water: Option<usize>,
    pub(crate) low_water: usize,
    /// A writer was refused for lack of room: nobody gets room until the
    /// backlog is back at the low-water mark (no starving a large message
    /// behind a stream of small ones).
    pub(crate) blocked: bool,

    /// Received messages waiting for the application.
    pub(crate) inbox: VecDeque<Message>,
    pub(crate) inbox_bytes: usize,
    /// The driver stopped reading because of `inbox_bytes`.
    pub(crate) read_paused: bool,
    /// Since when the application has a message it has not come back from:
    /// the input behind it is not looked at until the reader asks for the
    /// next one, so that a reply to it goes out before whatever that input
    /// makes the connection send (the Close of a protocol error behind it,
    /// the answer to the peer's Close), as with the core's own drive loop.
    /// The driver gives up waiting after [`HOLD`], or at once when the
    /// connection is closing, the reader is gone or someone awaits the end.
    pub(crate) hold: Option<Instant>,
    /// The driver gave up waiting ([`HOLD`] passed): it reads ahead into
    /// the inbox until the reader comes back.
    pub(crate) hold_lapsed: bool,
    /// The driver's timer is set to look at `hold`.
    pub(crate) hold_timer: bool,
    /// Someone awaits the end (`closed()`) rather than the next message.
    pub(crate) end_awaited: bool,
    /// What the reader took from the connection while looking at the input
    /// behind a message itself (bytes to write, events): the driver handles
    /// these first, in order, before the connection's own output.
    pub(crate) pending: VecDeque<Output>,

    /// How the connection ended, once it has.
    pub(crate) closed: Option<Closed>,
    /// The transport error that ended it, if one did.
    pub(crate) io_error: Option<(io::ErrorKind, String)>,
    /// The reader has been given the stream's last item.
    pub(crate) final_taken: bool,

    /// Handles alive: the reader and every writer. At zero the driver
    /// closes the connection.
    pub(crate) handles: usize,
    pub(crate) reader_alive: bool,
    /// The driver task owns the transport and runs.
    pub(crate) driver: Option<Waker>,
    pub(crate) reader: Option<Waker>,
    /// Writers waiting for room, flushers, closers.
    pub(crate) waiters: Vec<Waker>,
}

/// A guard that wakes the driver when dropped if a command queued output.
pub(crate) struct Locked<'a> {
    pub(crate) st: MutexGuard<'a, State>,
    pub(crate) wake_driver: bool,
}

impl std::ops::Deref for Locked<'_> {
    type Target = State;
    fn deref(&self) -> &State {
        &self.st
    }
}

impl std::ops::DerefMut for Locked<'_> {
    fn deref_mut(&mut self) -> &mut State {
        &mut self.st
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        if self.wake_driver {
            if let Some(w) = self.st.driver.take() {
                w.wake();
            }
        }
    }
}

impl Shared {
    pub(crate) fn new(
        conn: Connection,
        high_water: Option<usize>,
        low_water: usize,
        negotiated: Negotiated,
    ) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State {
                conn,
                unwritten: 0,
                high_water,
                low_water,
                blocked: false,
                inbox: VecDeque::new(),
                inbox_bytes: 0,
                read_paused: false,
                hold: None,
                hold_lapsed: false,
                hold_timer: false,
                end_awaited: false,
                pending: VecDeque::new(),
                closed: None,
                io_error: None,
                final_taken: false,
                handles: 1,
                reader_alive: true,
                driver: None,
                reader: None,
                waiters: Vec::new(),
            }),
            negotiated,
        })
    }

    /// Locks the state. A panic while it was held (a bug) poisons nothing
    /// here: the state is plain data, consistent between calls.
    pub(crate) fn lock(&self) -> Locked<'_> {
        let st = match self.state.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        Locked { st, wake_driver: false }
    }

    /// Queues `message` if there is room; otherwise parks the caller.
    pub(crate) fn poll_send(&self, cx: &mut Context<'_>, message: &mut Option<Message>) -> Poll<Result<(), Error>> {
        let mut st = self.lock();
        let len = message.as_ref().map_or(0, Message::len);
        if let Some(e) = st.not_open() {
            return Poll::Ready(Err(e));
        }
        if !st.has_room(len) {
            st.park_waiter(cx);
            return Poll::Pending;
        }
        let Some(message) = message.take() else { return Poll::Ready(Ok(())) };
        let result = st.conn.send(message).map_err(Error::from);
        st.wake_driver = true;
        Poll::Ready(result)
    }

    /// `Sink::poll_ready`: room for at least one more message.
    pub(crate) fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let mut st = self.lock();
        if let Some(e) = st.not_open() {
            return Poll::Ready(Err(e));
        }
        if !st.has_room(0) {
            st.park_waiter(cx);
            return Poll::Pending;
        }
        Poll::Ready(Ok(()))
    }

    /// `Sink::start_send`, after `poll_ready`: queues without a room check
    /// (a sink may overshoot the mark by one message).
    pub(crate) fn start_send(&self, message: Message) -> Result<(), Error> {
        let mut st = self.lock();
        if let Some(e) = st.not_open() {
            return Err(e);
        }
        let result = st.conn.send(message).map_err(Error::from);
        st.wake_driver = true;
        result
    }

    /// Queues a Ping (`pong == false`) or a Pong if there is room.
    pub(crate) fn poll_control(&self, cx: &mut Context<'_>, payload: &[u8], pong: bool) -> Poll<Result<(), Error>> {
        let mut st = self.lock();
        if let Some(e) = st.not_open() {
            return Poll::Ready(Err(e));
        }
        if payload.len() <= 125 && !st.has_room(payload.len()) {
            st.park_waiter(cx);
            return Poll::Pending;
        }
        let payload = bytes_of(payload);
        let result = if pong { st.conn.pong(payload) } else { st.conn.ping(payload) };
        st.wake_driver = true;
        Poll::Ready(result.map_err(Error::from))
    }

    /// Starts the closing handshake (does nothing once it has started).
    pub(crate) fn start_close(&self, code: CloseCode, reason: &str) -> Result<(), Error> {
        let mut st = self.lock();
        if st.closed.is_some() {
            return Ok(());
        }
        // The close deadline counts from the connection's latest time: give
        // it the current one first.
        st.conn.handle_timeout_at(crate::now());
        st.conn.close(Some(code), reason)?;
        st.wake_driver = true;
        // Senders waiting for room fail now rather than at the next write.
        st.wake_waiters();
        Ok(())
    }

    /// Ready with the `Closed` report once the connection has ended.
    pub(crate) fn poll_closed(&self, cx: &mut Context<'_>) -> Poll<Closed> {
        let mut st = self.lock();
        match &st.closed {
            Some(c) => Poll::Ready(c.clone()),
            None => {
                // Nobody answers what is held any more: the input behind it
                // (the peer's Close, maybe) must be looked at.
                if !st.end_awaited {
                    st.end_awaited = true;
                    st.wake_driver = true;
                }
                st.park_waiter(cx);
                Poll::Pending
            }
        }
    }

    /// Ready once everything queued has been written to the transport (or
    /// the connection has ended).
    pub(crate) fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let mut st = self.lock();
        if st.closed.is_some() {
            return Poll::Ready(if st.unwritten == 0 { Ok(()) } else { Err(st.final_error()) });
        }
        if st.backlog() == 0 {
            return Poll::Ready(Ok(()));
        }
        st.park_waiter(cx);
        Poll::Pending
    }

    /// The next received message; at the end, `None` after a clean close or
    /// the error that ended the connection.
    pub(crate) fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Option<Result<Message, Error>>> {
        let mut st = self.lock();
        if let Some(message) = st.inbox.pop_front() {
            st.inbox_bytes -= message.len() + MESSAGE_COST;
            if st.read_paused && st.inbox_bytes < MAX_UNREAD / 2 {
                st.read_paused = false;
                st.wake_driver = true;
            }
            return Poll::Ready(Some(Ok(message)));
        }
        if st.closed.is_none() && (st.hold.is_some() || st.hold_lapsed) {
            // Back for more: the input behind what was handed out is the
            // reader's to look at, here and now (no round trip through the
            // driver), up to the next message.
            let message = st.pull();
            // The driver reads again, writes what the reader took, or sets
            // its timer for the new hold.
            if message.is_none() || !st.pending.is_empty() || !st.hold_timer {
                st.wake_driver = true;
            }
            if let Some(message) = message {
                return Poll::Ready(Some(Ok(message)));
            }
        }
        let Some(closed) = &st.closed else {
            if !st.reader.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                st.reader = Some(cx.waker().clone());
            }
            return Poll::Pending;
        };
        // After a clean closing handshake, a transport error does not matter.
        if st.final_taken || closed.was_clean {
            return Poll::Ready(None);
        }
        st.final_taken = true;
        Poll::Ready(Some(Err(st.final_error())))
    }

    /// A new writer handle.
    pub(crate) fn add_handle(&self) {
        self.lock().handles += 1;
    }

    /// A handle is gone; the last one closes the connection.
    pub(crate) fn drop_handle(&self, reader: bool) {
        let mut st = self.lock();
        st.handles -= 1;
        if reader {
            st.reader_alive = false;
            st.inbox.clear();
            st.inbox_bytes = 0;
            st.read_paused = false;
        }
        st.wake_driver = true;
    }
}

impl State {
    /// The reader came back with the inbox empty: ends the hold and takes
    /// the connection's output up to the next message, which it returns
    /// (holding again); everything else goes to `pending` for the driver.
    fn pull(&mut self) -> Option<Message> {
        self.hold = None;
        self.hold_lapsed = false;
        if self.conn.ready_state() != ReadyState::Open {
            return None;
        }
        while let Some(output) = self.conn.poll_output() {
            match output {
                Output::Event(Event::Message(message)) => {
                    self.start_hold();
                    return Some(message);
                }
                other => {
                    if let Output::Transmit(bytes) = &other {
                        self.unwritten += bytes.len();
                    }
                    self.pending.push_back(other);
                }
            }
        }
        None
    }

    /// A message goes to the application: the input behind it waits (see
    /// [`hold`](Self::hold)), unless nobody will answer it.
    pub(crate) fn start_hold(&mut self) {
        if self.reader_alive && !self.end_awaited && !self.hold_lapsed && self.conn.ready_state() == ReadyState::Open {
            self.hold = Some(Instant::now());
        }
    }

    /// Whether the driver leaves the input alone: a message is held and
    /// someone may still answer it.
    pub(crate) fn holding(&self) -> bool {
        self.hold.is_some() && self.reader_alive && !self.end_awaited && self.conn.ready_state() == ReadyState::Open
    }

    /// The bytes sent and not yet written to the transport.
    pub(crate) fn backlog(&self) -> usize {
        self.unwritten + self.conn.queued_bytes()
    }

    /// Whether `len` more bytes may be queued.
    fn has_room(&mut self, len: usize) -> bool {
        let Some(high) = self.high_water else { return true };
        let backlog = self.backlog();
        let room = !self.blocked && (backlog == 0 || backlog.saturating_add(len) <= high);
        if !room {
            self.blocked = true;
        }
        room
    }

    /// Why nothing can be sent, if nothing can.
    fn not_open(&self) -> Option<Error> {
        if self.closed.is_some() || self.conn.ready_state() != ReadyState::Open { Some(Error::Closed) } else { None }
    }

    pub(crate) fn park_waiter(&mut self, cx: &mut Context<'_>) {
        if !self.waiters.iter().any(|w| w.will_wake(cx.waker())) {
            self.waiters.push(cx.waker().clone());
        }
    }

    pub(crate) fn wake_waiters(&mut self) {
        for w in self.waiters.drain(..) {
            w.wake();
        }
    }

    pub(crate) fn wake_reader(&mut self) {
        if let Some(w) = self.reader.take() {
            w.wake();
        }
    }

    /// The error that ended the connection (for the stream's last item and
    /// for flushes that could not complete).
    pub(crate) fn final_error(&self) -> Error {
        match (&self.io_error, &self.closed) {
            (Some((kind, msg)), _) => Error::Io(io::Error::new(*kind, msg.clone())),
            (None, Some(c)) if !c.was_clean => Error::Failed(Box::new(c.clone())),
            _ => Error::Closed,
        }
    }
}

fn bytes_of(payload: &[u8]) -> wsmachine::Bytes {
    wsmachine::Bytes::copy_from_slice(payload)
}
