//! The state the driver task and the user-facing handles share.
//!
//! One `std::sync::Mutex` guards the [`Connection`] and the few counters
//! around it. It is never held across an `.await`. The transport ([`Io`])
//! is taken out of the state by the task that reads or writes, and put back
//! before that task's poll returns. The driver reads and writes without the
//! lock. An application task keeps it across its own non-blocking reads and
//! writes (the read `recv` does, the reply `send` writes): one lock round
//! trip instead of two for the common echo, as a `BiLock`ed split stream
//! holds its lock across the I/O. Those polls are given only wakers that
//! never take the lock (the reader's own, or none for a write: what a write
//! leaves is the driver's), so a transport that wakes at once from inside a
//! poll (tokio's cooperative budget does) cannot deadlock.

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::BytesMut;
use tokio::time::Instant;
use wsmachine::{CloseCode, Closed, Connection, Event, Message, Negotiated, Output, ReadyState};

use crate::Error;
use crate::driver::{Io, LINGER, READ_MIN, Shutdown, Transport};

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

/// While the backlog is over the high-water mark (or this default without
/// one), reading stops once the Pongs it made reach this many bytes: a peer
/// that sends Pings and reads nothing cannot grow the queue past it.
const PONG_LIMIT: usize = 64 * 1024;
const DEFAULT_MARK: usize = 16 << 20;

/// What a queued Pong costs beyond its payload, as counted for
/// [`PONG_LIMIT`]: its header and a share of a queue slot.
const PONG_COST: usize = 32;

/// The longest frame header (8-byte length and a masking key): a read of
/// at most a message's length plus this brought nothing behind it.
const MAX_HEADER: usize = 14;

/// How many reads one `recv` may do before it lets other tasks run.
const RECV_READS: usize = 16;

/// A read tells the connection the time only if it moved this much since
/// it last did (see `State::handle_read`).
const STAMP_EVERY: Duration = Duration::from_millis(1);

pub(crate) struct Shared {
    state: Mutex<State>,
    /// Settled by the handshake; never changes.
    pub(crate) negotiated: Negotiated,
}

pub(crate) struct State {
    pub(crate) conn: Connection,
    /// The transport, when no task is using it.
    pub(crate) io: Option<Box<Io>>,
    /// The driver found the transport taken: whoever puts it back wakes it.
    pub(crate) io_wanted: bool,
    /// The driver has finished: a transport put back is dropped.
    pub(crate) driver_gone: bool,
    /// Bytes taken from the connection (into [`Io::tx`]) and not yet
    /// written to the transport.
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
    /// Bytes of automatic Pongs queued since the backlog was last at or
    /// under the mark.
    pub(crate) pong_debt: usize,

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
    /// The driver's timer is set to look at `hold` (or at the reader) within
    /// [`HOLD`].
    pub(crate) hold_timer: bool,
    /// The reader handed out a message since the driver last looked.
    pub(crate) delivered: bool,
    /// Someone awaits the end (`closed()`) rather than the next message.
    pub(crate) end_awaited: bool,
    /// The reader waits in `recv` after a read of its own found nothing:
    /// the transport's readiness wakes it (its own waker is registered with
    /// the transport), and the driver does not read.
    pub(crate) reader_engaged: bool,
    /// How many times `recv` has been polled: the driver takes over the
    /// reading from an engaged reader that has not been polled for a whole
    /// tick of its watch (see `Driver::on_tick`).
    pub(crate) recv_polls: u64,
    /// The reader just handed out a message that ended what it read: a
    /// `send` now is a reply with nothing behind it, written at once by the
    /// sending task.
    pub(crate) reply_slot: bool,

    /// When a read last told the connection the time.
    pub(crate) stamped: Option<std::time::Instant>,
    /// When the latest read happened.
    pub(crate) read_at: Option<Instant>,

    /// How the connection ended, once it has.
    pub(crate) closed: Option<Closed>,
    /// Closed: the driver gives up on the transport at this time.
    pub(crate) linger_until: Option<Instant>,
    /// The transport error that ended it, if one did.
    pub(crate) io_error: Option<(io::ErrorKind, String)>,
    /// The reader has been given the stream's last item.
    pub(crate) final_taken: bool,
    /// Something only the driver does is due (a shutdown, the linger, a
    /// timer): an application task's lock wakes it when released.
    pub(crate) kick: bool,

    /// Handles alive: the reader and every writer. At zero the driver
    /// closes the connection.
    pub(crate) handles: usize,
    pub(crate) reader_alive: bool,
    /// The driver task runs.
    pub(crate) driver: Option<Waker>,
    pub(crate) reader: Option<Waker>,
    /// Writers waiting for room, flushers, closers.
    pub(crate) waiters: Vec<Waker>,
}

/// A guard that wakes the driver when dropped if a command queued output
/// or something else needs it (`State::kick`). The driver's own guards
/// (`quiet`) wake nobody.
pub(crate) struct Locked<'a> {
    pub(crate) st: MutexGuard<'a, State>,
    pub(crate) wake_driver: bool,
    quiet: bool,
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
        let kick = std::mem::take(&mut self.st.kick);
        if (self.wake_driver || kick) && !self.quiet {
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
        transport: Box<dyn Transport>,
    ) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State {
                conn,
                io: Some(Box::new(Io::new(transport))),
                io_wanted: false,
                driver_gone: false,
                unwritten: 0,
                high_water,
                low_water,
                blocked: false,
                pong_debt: 0,
                inbox: VecDeque::new(),
                inbox_bytes: 0,
                read_paused: false,
                hold: None,
                hold_lapsed: false,
                hold_timer: false,
                delivered: false,
                end_awaited: false,
                reader_engaged: false,
                recv_polls: 0,
                reply_slot: false,
                stamped: None,
                read_at: None,
                closed: None,
                linger_until: None,
                io_error: None,
                final_taken: false,
                kick: false,
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
        Locked { st, wake_driver: false, quiet: false }
    }

    /// Locks the state for the driver (or a waker): dropping it wakes
    /// nobody.
    pub(crate) fn lock_quiet(&self) -> Locked<'_> {
        let mut locked = self.lock();
        locked.quiet = true;
        locked
    }

    /// The transport for the driver's poll; `None` (and a wake-up once it
    /// is back) while an application task has it.
    pub(crate) fn take_io_for_driver(&self, cx: &mut Context<'_>) -> Option<Box<Io>> {
        let mut st = self.lock_quiet();
        let io = st.io.take();
        if io.is_none() && !st.driver_gone {
            st.io_wanted = true;
            if !st.driver.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                st.driver = Some(cx.waker().clone());
            }
        }
        io
    }

    /// Queues `message` if there is room; otherwise parks the caller. A
    /// reply to the message the reader just handed out is written at once,
    /// from this task, when the transport is free.
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
        if result.is_ok() && std::mem::take(&mut st.reply_slot) && st.holding() {
            drop(self.write_now(st));
        } else {
            st.wake_driver = true;
        }
        Poll::Ready(result)
    }

    /// Takes what commands queued and writes it from the calling task, if
    /// the transport is free; else (or if it does not all go) the driver
    /// does.
    fn write_now<'a>(&'a self, mut st: Locked<'a>) -> Locked<'a> {
        let Some(mut io) = st.io.take() else {
            st.wake_driver = true;
            return st;
        };
        st.drain(&mut io, false);
        st.write_out(&mut io);
        st.put_io(io);
        st
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
        // The reader reads for itself only while the connection is open:
        // from now on the driver reads (the peer's answer), at once.
        st.reader_engaged = false;
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
    /// the connection has ended). Writes from the calling task when the
    /// transport is free.
    pub(crate) fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let mut st = self.lock();
        if st.closed.is_none() && st.backlog() > 0 && st.io.is_some() {
            st = self.write_now(st);
        }
        if st.closed.is_some() {
            return Poll::Ready(if st.unwritten == 0 { Ok(()) } else { Err(st.final_error()) });
        }
        if st.backlog() == 0 {
            return Poll::Ready(Ok(()));
        }
        st.wake_driver = true;
        st.park_waiter(cx);
        Poll::Pending
    }

    /// The next received message; at the end, `None` after a clean close or
    /// the error that ended the connection.
    ///
    /// With the inbox empty and the transport free, the reader does the
    /// I/O itself: it writes what is queued, reads, and takes the input up
    /// to the next message, with no round trip through the driver. When
    /// the transport has nothing, the reader stays engaged: the transport's
    /// readiness wakes it, not the driver.
    pub(crate) fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Option<Result<Message, Error>>> {
        let mut st = self.lock();
        st.reader_engaged = false;
        st.recv_polls = st.recv_polls.wrapping_add(1);
        st.reply_slot = false;
        if let Some(message) = st.inbox.pop_front() {
            st.inbox_bytes -= message.len() + MESSAGE_COST;
            if st.read_paused && st.inbox_bytes < MAX_UNREAD / 2 {
                st.read_paused = false;
                st.wake_driver = true;
            }
            return Poll::Ready(Some(Ok(message)));
        }
        if st.closed.is_none() {
            // Back for more: the input behind what was handed out is the
            // reader's to look at.
            st.hold = None;
            st.hold_lapsed = false;
            if st.conn.ready_state() == ReadyState::Open && st.io.is_some() {
                let (locked, message) = self.read_for_reader(st, cx);
                st = locked;
                if let Some(message) = message {
                    return Poll::Ready(Some(Ok(message)));
                }
            } else {
                // Closing, or another task has the transport: the driver
                // looks at the input and fills the inbox (the transport may
                // have woken this task, registered by an earlier read).
                st.wake_driver = true;
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

    /// The reader's own I/O (see [`poll_recv`](Self::poll_recv)): the next
    /// message, or `None` with the reader engaged (or the end reached, or
    /// the driver asked to carry on).
    fn read_for_reader<'a>(&'a self, mut st: Locked<'a>, cx: &mut Context<'_>) -> (Locked<'a>, Option<Message>) {
        let Some(mut io) = st.io.take() else { return (st, None) };
        // Bytes of the read whose input is being looked at.
        let mut fresh: Option<usize> = None;
        let mut message = None;
        let mut reads = 0;
        loop {
            if let Some(m) = st.drain(&mut io, true) {
                st.reply_slot = fresh.is_some_and(|n| n <= m.len() + MAX_HEADER);
                // The hold counts from the read that brought the message if
                // this call made it, else from now.
                let since = if fresh.is_some() { st.read_at } else { None };
                st.start_hold_at(since);
                st.delivered = true;
                if !st.hold_timer {
                    // The driver's timer must be set to look at the hold.
                    st.wake_driver = true;
                }
                message = Some(m);
                break;
            }
            if st.closed.is_some() {
                break;
            }
            // What is queued goes out before the next read.
            if io.unflushed() && !st.write_out(&mut io) {
                continue;
            }
            if !st.may_read(&io) {
                // Reading waits for the driver (Pongs stuck behind a peer
                // that does not read).
                st.wake_driver = true;
                break;
            }
            if reads == RECV_READS {
                // Plenty read: let other tasks run, then carry on.
                cx.waker().wake_by_ref();
                break;
            }
            reads += 1;
            let mut buf = match io.lent.take() {
                Some(buf) => buf,
                None => st.conn.read_buffer(READ_MIN),
            };
            // The read registers the reader's own waker with the
            // transport: its readiness wakes this task, not the driver.
            let polled = io.poll_read_into(&mut buf, cx);
            match polled {
                Poll::Pending => {
                    io.lent = Some(buf);
                    st.reader_engaged = true;
                    if !st.reader.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                        st.reader = Some(cx.waker().clone());
                    }
                    if !st.hold_timer {
                        // The driver's watch must run to take over from a
                        // reader that stops coming.
                        st.wake_driver = true;
                    }
                    break;
                }
                Poll::Ready(result) => {
                    st.reader_engaged = false;
                    fresh = st.handle_read(&mut io, buf, result);
                }
            }
        }
        if io.shutdown == Shutdown::Asked || st.closed.is_some() {
            st.wake_driver = true;
        }
        st.put_io(io);
        (st, message)
    }

    /// A `recv` future was dropped before it completed: if the reader was
    /// engaged, nobody waits for the transport's readiness any more, and
    /// the connection's task reads again.
    pub(crate) fn recv_dropped(&self) {
        let mut st = self.lock();
        if st.reader_engaged {
            st.reader_engaged = false;
            st.wake_driver = true;
        }
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
            st.reader_engaged = false;
            st.inbox.clear();
            st.inbox_bytes = 0;
            st.read_paused = false;
        }
        st.wake_driver = true;
    }
}

impl State {
    /// Takes everything the connection has to give: bytes to `io.tx`,
    /// messages to the inbox (or, with `pull`, the first one to the caller),
    /// the end of the connection to `closed`.
    ///
    /// While a message is held (`hold`), only what commands queued is
    /// taken: the input behind the message is left for the reader.
    #[inline]
    pub(crate) fn drain(&mut self, io: &mut Io, pull: bool) -> Option<Message> {
        // Nothing queued and all input processed (what `wants_read` says):
        // `poll_output` has nothing. The common case on the way to a read,
        // checked here without the call.
        if self.conn.wants_read() {
            return None;
        }
        self.drain_some(io, pull)
    }

    /// [`drain`](Self::drain) when the connection may have output.
    #[inline(never)]
    fn drain_some(&mut self, io: &mut Io, pull: bool) -> Option<Message> {
        loop {
            // Nothing queued by a command: the next output would be the
            // input's.
            if self.holding() && self.conn.queued_bytes() == 0 {
                return None;
            }
            match self.conn.poll_output()? {
                Output::Transmit(bytes) => {
                    self.unwritten += bytes.len();
                    io.tx.push_back(bytes);
                }
                Output::Event(Event::Message(message)) if pull => return Some(message),
                other => self.take_other(io, other),
            }
        }
    }

    /// [`drain`](Self::drain)'s less common outputs.
    #[inline(never)]
    fn take_other(&mut self, io: &mut Io, output: Output) {
        match output {
            Output::CloseTransport => {
                if io.shutdown == Shutdown::No {
                    io.shutdown = Shutdown::Asked;
                }
                self.kick = true;
            }
            // While closing, a full inbox drops what still arrives rather
            // than stopping the reading: the peer's Close is behind it.
            Output::Event(Event::Message(message))
                if self.reader_alive && !(self.inbox_bytes >= MAX_UNREAD && closing(self)) =>
            {
                self.inbox_bytes += message.len() + MESSAGE_COST;
                self.inbox.push_back(message);
                self.start_hold();
                self.wake_reader();
            }
            Output::Event(Event::Closed(closed)) => self.on_closed(closed),
            // The connection queued the Pong already.
            Output::Event(Event::Ping(payload)) => self.pong_debt += payload.len() + PONG_COST,
            // Pongs, Closing and Writable need nothing from the driver.
            _ => {}
        }
    }

    fn on_closed(&mut self, closed: Closed) {
        self.closed = Some(closed);
        self.linger_until = Some(Instant::now() + LINGER);
        self.kick = true;
        self.wake_reader();
        self.wake_waiters();
    }

    /// The transport failed: the connection ends (1006).
    pub(crate) fn fail(&mut self, io: &mut Io, e: &io::Error) {
        if self.io_error.is_none() && self.closed.is_none() {
            self.io_error = Some((e.kind(), e.to_string()));
        }
        self.conn.handle_eof();
        io.eof = true;
        io.tx.clear();
        io.shutdown = Shutdown::Done;
        io.dirty = false;
        self.unwritten = 0;
        self.drain(io, false);
    }

    /// What a read brought (`buf`, filled) or how it failed: handed to the
    /// connection. The bytes read, if any.
    pub(crate) fn handle_read(&mut self, io: &mut Io, buf: BytesMut, result: io::Result<usize>) -> Option<usize> {
        // The bytes are stamped with the connection's latest time: a
        // millisecond old at most is close enough, and saves the timers'
        // work on every read of a busy connection.
        let now = crate::now();
        if self.stamped.is_none_or(|t| now >= t + STAMP_EVERY) {
            self.conn.handle_timeout_at(now);
            self.stamped = Some(now);
        }
        self.read_at = Some(Instant::from_std(now));
        match result {
            // A TLS peer that closes TCP without close_notify (rustls says
            // UnexpectedEof): an EOF all the same; the Close frames say
            // whether the end was clean.
            Ok(0) => {
                io.eof = true;
                self.conn.handle_eof();
                None
            }
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                io.eof = true;
                self.conn.handle_eof();
                None
            }
            Ok(n) => {
                self.conn.handle_bytes_owned(buf);
                Some(n)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                io.lent = Some(buf);
                None
            }
            Err(e) => {
                self.fail(io, &e);
                None
            }
        }
    }

    /// Writes `io.tx` from an application task, with the lock held (see
    /// the module's docs): the write gets no waker, and whatever it leaves
    /// (the transport is full, or would wake at once) is the driver's,
    /// which registers for the transport's readiness. False if the
    /// transport failed.
    pub(crate) fn write_out(&mut self, io: &mut Io) -> bool {
        let result = io.poll_write_tx(&mut Context::from_waker(Waker::noop()));
        let ok = match result {
            Ok(n) => {
                self.wrote(n);
                true
            }
            Err(e) => {
                self.fail(io, &e);
                false
            }
        };
        if io.unflushed() {
            self.kick = true;
        }
        ok
    }

    /// `n` bytes of `io.tx` were written: room for the writers waiting.
    pub(crate) fn wrote(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        self.unwritten -= n;
        let backlog = self.backlog();
        if self.blocked && backlog <= self.low_water {
            self.blocked = false;
        }
        if !self.waiters.is_empty() && (!self.blocked || backlog == 0) {
            self.wake_waiters();
        }
    }

    /// Puts the transport back; the driver is woken if it wanted it.
    #[inline]
    pub(crate) fn put_io(&mut self, io: Box<Io>) {
        if self.driver_gone {
            return;
        }
        self.io = Some(io);
        if std::mem::take(&mut self.io_wanted) {
            self.kick = true;
        }
    }

    /// Whether input may be read (by whoever reads): not after the end,
    /// and not while a peer that reads nothing gets Pongs past the mark.
    pub(crate) fn may_read(&mut self, io: &Io) -> bool {
        if self.backlog() <= self.high_water.unwrap_or(DEFAULT_MARK) {
            self.pong_debt = 0;
        }
        // Reading goes on while our own writes are stuck (stopping it then
        // would let two congested ends wait on each other), except for a
        // peer that sends Pings and reads nothing: its Pongs are capped at
        // PONG_LIMIT past the mark.
        !io.eof && self.closed.is_none() && self.pong_debt <= PONG_LIMIT && self.conn.wants_read()
    }

    /// Whether the driver reads, and lends the read buffer if so: not while
    /// the reader reads for itself, nor while the inbox is full, nor while
    /// a message is held (the next read would wait behind it, and an EOF
    /// must not end the connection before the application could answer it).
    pub(crate) fn driver_reads(&mut self, io: &mut Io) -> bool {
        self.read_paused = self.inbox_bytes >= MAX_UNREAD && !closing(self);
        let want_read = self.may_read(io) && !self.read_paused && !self.holding() && !self.reader_engaged;
        if want_read && io.lent.is_none() {
            io.lent = Some(self.conn.read_buffer(READ_MIN));
        }
        want_read
    }

    /// A message goes to the application: the input behind it waits (see
    /// [`hold`](Self::hold)), unless nobody will answer it.
    pub(crate) fn start_hold(&mut self) {
        self.start_hold_at(None);
    }

    /// [`start_hold`](Self::start_hold) counting from `since` (now if
    /// `None`).
    fn start_hold_at(&mut self, since: Option<Instant>) {
        if self.reader_alive && !self.end_awaited && !self.hold_lapsed && self.conn.ready_state() == ReadyState::Open {
            self.hold = Some(since.unwrap_or_else(Instant::now));
        }
    }

    /// Whether the input is left alone: a message is held and someone may
    /// still answer it.
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

/// The closing handshake is under way.
fn closing(st: &State) -> bool {
    st.conn.ready_state() == ReadyState::Closing
}

fn bytes_of(payload: &[u8]) -> wsmachine::Bytes {
    wsmachine::Bytes::copy_from_slice(payload)
}
