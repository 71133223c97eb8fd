//! The driver: the task that owns the transport and runs the connection.

use std::collections::VecDeque;
use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::time::{Instant, Sleep};
use wsmachine::{CloseCode, Closed, Event, Output};

use crate::shared::{HOLD, MAX_UNREAD, MESSAGE_COST, Shared, State};

/// The least room lent for each read.
const READ_MIN: usize = 16 * 1024;

/// At most this many pieces per vectored write (`IOV_MAX` is 1024 on
/// Linux; a few dozen already amortise the system call).
const MAX_SLICES: usize = 64;

/// Without vectored writes, pieces are gathered into one buffer of up to
/// this many bytes; larger pieces are written on their own.
const GATHER_MAX: usize = 64 * 1024;

/// After the connection is closed, how long the driver keeps trying to
/// write what is left (the Close frame, a TLS close_notify) before it drops
/// the transport anyway.
const LINGER: Duration = Duration::from_secs(1);

/// How many rounds of reading and writing one poll may do before it yields
/// to other tasks.
const ROUNDS: usize = 16;

/// How many reads one round may do: after a read, the next one either
/// finds more input or registers the task for the transport's readiness.
const READS: usize = 4;

/// While the backlog is over the high-water mark (or this default without
/// one), reading stops once the Pongs it made reach this many bytes: a peer
/// that sends Pings and reads nothing cannot grow the queue past it.
const PONG_LIMIT: usize = 64 * 1024;
const DEFAULT_MARK: usize = 16 << 20;

/// What a queued Pong costs beyond its payload, as counted for
/// [`PONG_LIMIT`]: its header and a share of a queue slot.
const PONG_COST: usize = 32;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Shutdown {
    /// Not asked for.
    No,
    /// `CloseTransport` came: shut the write side down once `tx` is out.
    Asked,
    Done,
}

/// Runs one connection: reads into it, writes what it gives out, keeps its
/// time. Spawned as its own task, so that deadlines and automatic Pongs
/// happen whatever the application is doing.
pub(crate) struct Driver<S> {
    io: S,
    shared: Arc<Shared>,
    vectored: bool,
    /// Bytes taken from the connection, in order, not yet written.
    tx: VecDeque<Bytes>,
    gather: BytesMut,
    /// A write happened since the last flush.
    dirty: bool,
    shutdown: Shutdown,
    /// The buffer lent by `Connection::read_buffer` for the read in progress.
    lent: Option<BytesMut>,
    eof: bool,
    sleep: Pin<Box<Sleep>>,
    armed: Option<Instant>,
    /// The timer has the driver's current waker and its current deadline:
    /// until it fires (`is_elapsed`), polling it again would change nothing.
    timer_polled: bool,
    /// The timer fired: tell the connection the time.
    tick: bool,
    /// Closed: give up on the transport at this time.
    linger_until: Option<Instant>,
    /// The application dropped every handle and the Close was started.
    abandoned: bool,
    /// Bytes of automatic Pongs queued since the backlog was last at or
    /// under the mark.
    pong_debt: usize,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Driver<S> {
    pub(crate) fn new(io: S, shared: Arc<Shared>) -> Self {
        let vectored = io.is_write_vectored();
        Self {
            io,
            shared,
            vectored,
            tx: VecDeque::new(),
            gather: BytesMut::new(),
            dirty: false,
            shutdown: Shutdown::No,
            lent: None,
            eof: false,
            sleep: Box::pin(tokio::time::sleep_until(Instant::now())),
            armed: None,
            timer_polled: false,
            tick: false,
            linger_until: None,
            abandoned: false,
            pong_debt: 0,
        }
    }

    /// Takes everything the connection has to give: bytes to `tx`, messages
    /// to the inbox, the end of the connection to `closed`.
    ///
    /// While a message is held (`State::hold`), only what commands queued
    /// is taken: the input behind the message is left for the reader.
    fn drain(&mut self, st: &mut State) {
        loop {
            // What the reader took comes first: it left the connection
            // before anything still in it.
            let (output, counted) = match st.pending.pop_front() {
                Some(output) => (output, true),
                // Nothing queued by a command: the next output would be the
                // input's.
                None if st.holding() && st.conn.queued_bytes() == 0 => break,
                None => match st.conn.poll_output() {
                    Some(output) => (output, false),
                    None => break,
                },
            };
            match output {
                Output::Transmit(bytes) => {
                    if !counted {
                        st.unwritten += bytes.len();
                    }
                    self.tx.push_back(bytes);
                }
                Output::CloseTransport if self.shutdown == Shutdown::No => self.shutdown = Shutdown::Asked,
                // While closing, a full inbox drops what still arrives
                // rather than stopping the reading: the peer's Close is
                // behind it.
                Output::Event(Event::Message(message))
                    if st.reader_alive && !(st.inbox_bytes >= MAX_UNREAD && closing(st)) =>
                {
                    st.inbox_bytes += message.len() + MESSAGE_COST;
                    st.inbox.push_back(message);
                    st.start_hold();
                    st.wake_reader();
                }
                Output::Event(Event::Closed(closed)) => self.on_closed(st, closed),
                // The connection queued the Pong already.
                Output::Event(Event::Ping(payload)) => self.pong_debt += payload.len() + PONG_COST,
                // Pongs, Closing and Writable need nothing from the driver.
                _ => {}
            }
        }
    }

    fn on_closed(&mut self, st: &mut State, closed: Closed) {
        st.closed = Some(closed);
        self.linger_until = Some(Instant::now() + LINGER);
        st.wake_reader();
        st.wake_waiters();
    }

    /// The transport failed: the connection ends (1006).
    fn fail(&mut self, st: &mut State, e: &io::Error) {
        if st.io_error.is_none() && st.closed.is_none() {
            st.io_error = Some((e.kind(), e.to_string()));
        }
        st.conn.handle_eof();
        self.eof = true;
        self.tx.clear();
        st.pending.retain(|output| !matches!(output, Output::Transmit(_)));
        self.shutdown = Shutdown::Done;
        st.unwritten = 0;
        self.drain(st);
    }

    /// Writes `tx` until it is empty or the transport would block.
    fn poll_write_tx(&mut self, cx: &mut Context<'_>) -> io::Result<usize> {
        let mut written = 0;
        while !self.tx.is_empty() {
            let result = if self.vectored {
                let mut slices = [IoSlice::new(&[]); MAX_SLICES];
                let n = self.tx.len().min(MAX_SLICES);
                for (slot, piece) in slices.iter_mut().zip(&self.tx) {
                    *slot = IoSlice::new(piece);
                }
                Pin::new(&mut self.io).poll_write_vectored(cx, &slices[..n])
            } else {
                self.gather_front();
                Pin::new(&mut self.io).poll_write(cx, &self.tx[0])
            };
            match result {
                Poll::Pending => break,
                Poll::Ready(Ok(0)) => return Err(io::ErrorKind::WriteZero.into()),
                Poll::Ready(Ok(n)) => {
                    self.consume(n);
                    written += n;
                    self.dirty = true;
                }
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Poll::Ready(Err(e)) => return Err(e),
            }
        }
        if self.tx.is_empty() && self.dirty {
            match Pin::new(&mut self.io).poll_flush(cx) {
                Poll::Ready(Ok(())) => self.dirty = false,
                Poll::Ready(Err(e)) => return Err(e),
                Poll::Pending => {}
            }
        }
        Ok(written)
    }

    /// Without vectored writes: joins the small pieces at the front of `tx`
    /// into one, so that many small frames go out in one write.
    fn gather_front(&mut self) {
        if self.tx.len() < 2 || self.tx[0].len() + self.tx[1].len() > GATHER_MAX {
            return;
        }
        self.gather.reserve(GATHER_MAX);
        while let Some(piece) = self.tx.front() {
            if self.gather.len() + piece.len() > GATHER_MAX {
                break;
            }
            self.gather.extend_from_slice(piece);
            self.tx.pop_front();
        }
        self.tx.push_front(self.gather.split().freeze());
    }

    fn consume(&mut self, mut n: usize) {
        while n > 0 {
            let Some(front) = self.tx.front_mut() else { return };
            if front.len() <= n {
                n -= front.len();
                self.tx.pop_front();
            } else {
                front.advance(n);
                n = 0;
            }
        }
    }

    /// Decides whether to read, and lends the read buffer if so.
    fn prepare_read(&mut self, st: &mut State) -> bool {
        if st.backlog() <= st.high_water.unwrap_or(DEFAULT_MARK) {
            self.pong_debt = 0;
        }
        st.read_paused = st.inbox_bytes >= MAX_UNREAD && !closing(st);
        // Reading goes on while our own writes are stuck (stopping it
        // then would let two congested ends wait on each other), except
        // for a peer that sends Pings and reads nothing: its Pongs are
        // capped at PONG_LIMIT past the mark.
        // Nor while a message is held: the next read would wait behind it,
        // and an EOF must not end the connection before the application
        // could answer it.
        let want_read = !self.eof
            && st.closed.is_none()
            && !st.read_paused
            && !st.holding()
            && self.pong_debt <= PONG_LIMIT
            && st.conn.wants_read();
        if want_read && self.lent.is_none() {
            self.lent = Some(st.conn.read_buffer(READ_MIN));
        }
        want_read
    }

    /// One round: state, writes, reads, time. True if something happened
    /// that another round has to act on.
    fn round(&mut self, cx: &mut Context<'_>) -> Poll<bool> {
        let shared = Arc::clone(&self.shared);
        let mut progress = false;

        // ---- under the lock: commands' output in, the next moves decided.
        let (want_read, mut deadline, closed) = {
            let mut st = shared.lock();
            if !st.driver.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                st.driver = Some(cx.waker().clone());
                // The timer must learn the new waker too.
                self.timer_polled = false;
            }
            if std::mem::take(&mut self.tick) {
                let now = crate::now();
                st.conn.handle_timeout_at(now);
                st.hold_timer = false;
                // The connection's deadlines fire as the input is processed:
                // one that is due ends the hold (else the timer would spin).
                let due = st.conn.poll_timeout_at().is_some_and(|t| t <= now);
                if st.hold.is_some_and(|since| due || Instant::from_std(now) >= since + HOLD) {
                    // The application is busy elsewhere: read ahead (and
                    // answer Pings) as if nothing were held, until it is
                    // back.
                    st.hold = None;
                    st.hold_lapsed = true;
                }
            }
            if st.handles == 0 && !self.abandoned {
                // Every handle is gone: close, as a browser does when the
                // page goes away.
                self.abandoned = true;
                st.conn.handle_timeout_at(crate::now());
                let _ = st.conn.close(Some(CloseCode::GOING_AWAY), "");
            }
            self.drain(&mut st);
            let want_read = self.prepare_read(&mut st);
            (want_read, self.deadline(&mut st), st.closed.is_some())
        };

        // ---- writes, without the lock. A write that empties the queue
        // needs no further round: whatever is sent next wakes the task.
        let mut failed = None;
        if !self.tx.is_empty() || self.dirty {
            match self.poll_write_tx(cx) {
                Ok(0) => {}
                Ok(n) => {
                    // Reading may have waited for the backlog to fall.
                    progress |= !want_read;
                    let mut st = shared.lock();
                    st.unwritten -= n;
                    let backlog = st.backlog();
                    if st.blocked && backlog <= st.low_water {
                        st.blocked = false;
                    }
                    if !st.waiters.is_empty() && (!st.blocked || backlog == 0) {
                        st.wake_waiters();
                    }
                }
                Err(e) => failed = Some(e),
            }
        }
        if failed.is_none() && self.tx.is_empty() && !self.dirty && self.shutdown == Shutdown::Asked {
            match Pin::new(&mut self.io).poll_shutdown(cx) {
                // A failed shutdown leaves nothing more to do either.
                Poll::Ready(_) => {
                    self.shutdown = Shutdown::Done;
                    progress = true;
                }
                Poll::Pending => {}
            }
        }
        if let Some(e) = failed {
            self.fail(&mut shared.lock(), &e);
            return Poll::Ready(true);
        }

        // ---- the end: everything written (or given up on).
        if closed {
            let flushed = self.tx.is_empty() && !self.dirty && self.shutdown != Shutdown::Asked;
            if flushed || self.linger_until.is_some_and(|t| Instant::now() >= t) {
                return Poll::Ready(false);
            }
        }

        // ---- reads, without the lock; what arrives is handed to the
        // connection and its messages to the reader at once, and the next
        // read follows until the transport would block (which registers
        // the task for its readiness).
        if want_read {
            progress |= self.read_some(cx, &shared, &mut deadline);
        }

        // ---- time. The timer is moved only to an earlier deadline: the
        // keepalive deadline moves with every read, and a timer that fires
        // early costs one look at the connection, which re-arms it.
        if let Some(deadline) = deadline {
            if self.armed.is_none_or(|armed| deadline < armed) {
                self.sleep.as_mut().reset(deadline);
                self.armed = Some(deadline);
                self.timer_polled = false;
            }
        }
        if self.armed.is_some() && (!self.timer_polled || self.sleep.is_elapsed()) {
            if self.sleep.as_mut().poll(cx).is_ready() {
                self.armed = None;
                self.tick = true;
                progress = true;
            } else {
                self.timer_polled = true;
            }
        }
        if progress { Poll::Ready(true) } else { Poll::Pending }
    }

    /// When the timer must wake the driver next.
    fn deadline(&self, st: &mut State) -> Option<Instant> {
        let mut deadline = match self.linger_until {
            Some(t) => Some(t),
            None => st.conn.poll_timeout_at().map(Instant::from_std),
        };
        if let Some(since) = st.hold.filter(|_| st.holding()) {
            // The hold lapses then (see `HOLD`).
            let lapse = since + HOLD;
            deadline = Some(deadline.map_or(lapse, |d| d.min(lapse)));
            st.hold_timer = true;
        }
        deadline
    }

    /// Reads until the transport would block (at most [`READS`] times),
    /// updating `deadline` (input moves the keepalive deadline; a Pong can
    /// bring the next Ping's deadline before the Pong's). True if another
    /// round is needed: bytes to write, the end of the input, a change
    /// that stopped the reading, or more reads to do.
    fn read_some(&mut self, cx: &mut Context<'_>, shared: &Shared, deadline: &mut Option<Instant>) -> bool {
        for _ in 0..READS {
            let Some(buf) = self.lent.as_mut() else { return true };
            let mut read = std::pin::pin!(self.io.read_buf(buf));
            let Poll::Ready(result) = read.as_mut().poll(cx) else { return false };
            let mut st = shared.lock();
            st.conn.handle_timeout_at(crate::now());
            match result {
                Ok(0) => {
                    self.lent = None;
                    self.eof = true;
                    st.conn.handle_eof();
                    return true;
                }
                // A TLS peer that closes TCP without close_notify
                // (rustls says UnexpectedEof): an EOF all the same;
                // the Close frames say whether the end was clean.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    self.lent = None;
                    self.eof = true;
                    st.conn.handle_eof();
                    return true;
                }
                Ok(_) => {
                    if let Some(buf) = self.lent.take() {
                        st.conn.handle_bytes_owned(buf);
                    }
                    self.drain(&mut st);
                    *deadline = self.deadline(&mut st);
                    if !self.tx.is_empty() || self.shutdown == Shutdown::Asked || st.closed.is_some() {
                        return true;
                    }
                    if !self.prepare_read(&mut st) {
                        return true;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.lent = None;
                    self.fail(&mut st, &e);
                    return true;
                }
            }
        }
        true
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Future for Driver<S> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        for _ in 0..ROUNDS {
            match self.round(cx) {
                // Finished: the transport is dropped with the driver.
                Poll::Ready(false) => return Poll::Ready(()),
                Poll::Ready(true) => continue,
                Poll::Pending => return Poll::Pending,
            }
        }
        // Busy: let other tasks run, then carry on.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl<S> Drop for Driver<S> {
    fn drop(&mut self) {
        // Also reached if the runtime shuts down with the task: nobody may
        // wait forever for a report that will not come.
        let mut st = self.shared.lock();
        if st.closed.is_none() {
            st.io_error = Some((io::ErrorKind::BrokenPipe, "the connection's driver task stopped".into()));
            st.closed =
                Some(Closed { code: CloseCode::ABNORMAL, reason: String::new(), was_clean: false, error: None });
        }
        st.driver = None;
        st.wake_reader();
        st.wake_waiters();
    }
}

/// The closing handshake is under way.
fn closing(st: &State) -> bool {
    st.conn.ready_state() == wsmachine::ReadyState::Closing
}
