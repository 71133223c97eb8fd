//! The transport, shared by whoever does I/O, and the driver: the task that
//! keeps the connection's time and does the I/O nobody else is doing.

use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::time::{Instant, Sleep};
use wsmachine::{CloseCode, Closed};

use crate::shared::{HOLD, Shared, State};

/// The least room lent for each read.
pub(crate) const READ_MIN: usize = 16 * 1024;

/// At most this many pieces per vectored write (`IOV_MAX` is 1024 on
/// Linux; a few dozen already amortise the system call).
const MAX_SLICES: usize = 64;
/// A smaller array for the usual few pieces (a header and a payload or
/// two): cheaper to set up.
const FEW_SLICES: usize = 4;

/// Without vectored writes, pieces are gathered into one buffer of up to
/// this many bytes; larger pieces are written on their own.
const GATHER_MAX: usize = 64 * 1024;

/// After the connection is closed, how long the driver keeps trying to
/// write what is left (the Close frame, a TLS close_notify) before it drops
/// the transport anyway.
pub(crate) const LINGER: Duration = Duration::from_secs(1);

/// How many rounds of reading and writing one poll may do before it yields
/// to other tasks.
const ROUNDS: usize = 16;

/// How many reads one round may do: after a read, the next one either
/// finds more input or registers for the transport's readiness.
pub(crate) const READS: usize = 4;

/// The transport, whatever its type: the handles are not generic over it.
pub(crate) trait Transport: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Transport for T {}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shutdown {
    /// Not asked for.
    No,
    /// `CloseTransport` came: shut the write side down once `tx` is out.
    Asked,
    Done,
}

/// The transport and what goes with it: the bytes taken from the connection
/// and not yet written, the read buffer lent for the next read. It lives in
/// the shared state and is taken out by whichever task does I/O (the
/// driver, or an application task writing what it sent or reading what it
/// waits for), so the system calls happen without the lock held, and put
/// back before that task's poll returns.
pub(crate) struct Io {
    transport: Box<dyn Transport>,
    vectored: bool,
    /// Bytes taken from the connection, in order, not yet written.
    pub(crate) tx: std::collections::VecDeque<Bytes>,
    gather: BytesMut,
    /// A write happened since the last flush.
    pub(crate) dirty: bool,
    pub(crate) shutdown: Shutdown,
    /// The buffer lent by `Connection::read_buffer` for the next read.
    pub(crate) lent: Option<BytesMut>,
    pub(crate) eof: bool,
}

impl Io {
    pub(crate) fn new(transport: Box<dyn Transport>) -> Self {
        let vectored = transport.is_write_vectored();
        Self {
            transport,
            vectored,
            tx: std::collections::VecDeque::new(),
            gather: BytesMut::new(),
            dirty: false,
            shutdown: Shutdown::No,
            lent: None,
            eof: false,
        }
    }

    /// Whether anything is left to write (or flush).
    pub(crate) fn unflushed(&self) -> bool {
        !self.tx.is_empty() || self.dirty
    }

    /// Writes `tx` until it is empty or the transport would block.
    pub(crate) fn poll_write_tx(&mut self, cx: &mut Context<'_>) -> io::Result<usize> {
        let mut written = 0;
        while !self.tx.is_empty() {
            let result = if self.tx.len() == 1 {
                // One piece (a small message is one): a plain write.
                Pin::new(&mut self.transport).poll_write(cx, &self.tx[0])
            } else if self.vectored && self.tx.len() <= FEW_SLICES {
                self.poll_write_vectored::<FEW_SLICES>(cx)
            } else if self.vectored {
                self.poll_write_vectored::<MAX_SLICES>(cx)
            } else {
                self.gather_front();
                Pin::new(&mut self.transport).poll_write(cx, &self.tx[0])
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
            match Pin::new(&mut self.transport).poll_flush(cx) {
                Poll::Ready(Ok(())) => self.dirty = false,
                Poll::Ready(Err(e)) => return Err(e),
                Poll::Pending => {}
            }
        }
        Ok(written)
    }

    /// One vectored write of the first `N` pieces at most.
    fn poll_write_vectored<const N: usize>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let mut slices = [IoSlice::new(&[]); N];
        let n = self.tx.len().min(N);
        for (slot, piece) in slices.iter_mut().zip(&self.tx) {
            *slot = IoSlice::new(piece);
        }
        Pin::new(&mut self.transport).poll_write_vectored(cx, &slices[..n])
    }

    /// Reads into `buf` (at most its spare capacity).
    pub(crate) fn poll_read_into(&mut self, buf: &mut BytesMut, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let mut read = std::pin::pin!(self.transport.read_buf(buf));
        read.as_mut().poll(cx)
    }

    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.transport).poll_shutdown(cx)
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
}

/// Keeps one connection's time and does the I/O nobody else does: writes
/// what was sent and not written, reads while the application is not
/// waiting in `recv` (Pings are answered, the peer's Close is seen),
/// closes the transport at the end. Spawned as its own task, so that
/// deadlines and automatic Pongs happen whatever the application is doing.
pub(crate) struct Driver {
    shared: Arc<Shared>,
    sleep: Pin<Box<Sleep>>,
    armed: Option<Instant>,
    /// The timer has the driver's current waker and its current deadline:
    /// until it fires (`is_elapsed`), polling it again would change nothing.
    timer_polled: bool,
    /// The timer fired: tell the connection the time.
    tick: bool,
    /// The application dropped every handle and the Close was started.
    abandoned: bool,
    /// At the previous tick, the reader was engaged and `recv` had been
    /// polled this many times.
    seen_polls: Option<u64>,
}

impl Driver {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            sleep: Box::pin(tokio::time::sleep_until(Instant::now())),
            armed: None,
            timer_polled: false,
            tick: false,
            abandoned: false,
            seen_polls: None,
        }
    }

    /// One round: state, writes, reads, time. True if something happened
    /// that another round has to act on.
    fn round(&mut self, cx: &mut Context<'_>, io: &mut Io) -> Poll<bool> {
        let shared = Arc::clone(&self.shared);
        let mut progress = false;

        // ---- under the lock: commands' output in, the next moves decided.
        let (want_read, mut deadline, closed, linger_until) = {
            let mut st = shared.lock_quiet();
            if !st.driver.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                st.driver = Some(cx.waker().clone());
                // The timer must learn the new waker too.
                self.timer_polled = false;
            }
            if std::mem::take(&mut self.tick) {
                self.on_tick(&mut st);
            }
            if st.handles == 0 && !self.abandoned {
                // Every handle is gone: close, as a browser does when the
                // page goes away.
                self.abandoned = true;
                st.conn.handle_timeout_at(crate::now());
                let _ = st.conn.close(Some(CloseCode::GOING_AWAY), "");
            }
            st.drain(io, false);
            let want_read = st.driver_reads(io);
            (want_read, deadline(&mut st), st.closed.is_some(), st.linger_until)
        };

        // ---- writes, without the lock. A write that empties the queue
        // needs no further round: whatever is sent next wakes the task.
        let mut failed = None;
        if io.unflushed() {
            match io.poll_write_tx(cx) {
                Ok(0) => {}
                Ok(n) => {
                    // Reading may have waited for the backlog to fall.
                    progress |= !want_read;
                    shared.lock_quiet().wrote(n);
                }
                Err(e) => failed = Some(e),
            }
        }
        if failed.is_none() && !io.unflushed() && io.shutdown == Shutdown::Asked {
            match io.poll_shutdown(cx) {
                // A failed shutdown leaves nothing more to do either.
                Poll::Ready(_) => {
                    io.shutdown = Shutdown::Done;
                    progress = true;
                }
                Poll::Pending => {}
            }
        }
        if let Some(e) = failed {
            shared.lock_quiet().fail(io, &e);
            return Poll::Ready(true);
        }

        // ---- the end: everything written (or given up on).
        if closed {
            let flushed = !io.unflushed() && io.shutdown != Shutdown::Asked;
            if flushed || linger_until.is_some_and(|t| Instant::now() >= t) {
                return Poll::Ready(false);
            }
        }

        // ---- reads, without the lock; what arrives is handed to the
        // connection and its messages to the reader at once, and the next
        // read follows until the transport would block (which registers
        // for its readiness).
        if want_read {
            progress |= self.read_some(cx, io, &mut deadline);
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

    /// The timer fired: the connection's deadlines, the hold's lapse, a
    /// reader that does not come.
    fn on_tick(&mut self, st: &mut State) {
        let now = crate::now();
        st.conn.handle_timeout_at(now);
        st.hold_timer = false;
        // The connection's deadlines fire as the input is processed: one
        // that is due ends the hold (else the timer would spin).
        let due = st.conn.poll_timeout_at().is_some_and(|t| t <= now);
        if st.hold.is_some_and(|since| due || Instant::from_std(now) >= since + HOLD) {
            // The application is busy elsewhere: read ahead (and answer
            // Pings) as if nothing were held, until it is back.
            st.hold = None;
            st.hold_lapsed = true;
        }
        // The reader has waited in `recv` since the previous tick without
        // being polled: it is idle, or busy elsewhere with a `recv` pending
        // (a future kept but not polled), and readiness that wakes it would
        // wait. The driver reads (and registers for the readiness) until
        // the reader reads for itself again.
        if st.reader_engaged {
            if self.seen_polls == Some(st.recv_polls) || due {
                st.reader_engaged = false;
                self.seen_polls = None;
            } else {
                self.seen_polls = Some(st.recv_polls);
            }
        } else {
            self.seen_polls = None;
        }
    }

    /// Reads until the transport would block (at most [`READS`] times),
    /// updating `deadline` (input moves the keepalive deadline; a Pong can
    /// bring the next Ping's deadline before the Pong's). True if another
    /// round is needed: bytes to write, the end of the input, a change
    /// that stopped the reading, or more reads to do.
    fn read_some(&mut self, cx: &mut Context<'_>, io: &mut Io, deadline: &mut Option<Instant>) -> bool {
        let shared = &*self.shared;
        for _ in 0..READS {
            let Some(mut buf) = io.lent.take() else { return true };
            let polled = io.poll_read_into(&mut buf, cx);
            let Poll::Ready(result) = polled else {
                io.lent = Some(buf);
                return false;
            };
            let mut st = shared.lock_quiet();
            if st.handle_read(io, buf, result).is_none() {
                return true;
            }
            st.drain(io, false);
            *deadline = self::deadline(&mut st);
            if io.unflushed() || io.shutdown == Shutdown::Asked || st.closed.is_some() {
                return true;
            }
            if !st.driver_reads(io) {
                return true;
            }
        }
        true
    }
}

/// When the timer must wake the driver next.
fn deadline(st: &mut State) -> Option<Instant> {
    let mut deadline = match st.linger_until {
        Some(t) => Some(t),
        None => st.conn.poll_timeout_at().map(Instant::from_std),
    };
    let watch = if let Some(since) = st.hold.filter(|_| st.holding()) {
        // The hold lapses then (see `HOLD`).
        Some(since + HOLD)
    } else if std::mem::take(&mut st.delivered) || st.reader_engaged {
        // The application reads for itself: look again in a while, in
        // case it holds the next message or stops coming.
        Some(Instant::now() + HOLD)
    } else {
        None
    };
    if let Some(watch) = watch {
        deadline = Some(deadline.map_or(watch, |d| d.min(watch)));
        st.hold_timer = true;
    }
    deadline
}

impl Future for Driver {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let Some(mut io) = self.shared.take_io_for_driver(cx) else {
            // An application task is writing or reading: it wakes the
            // driver when it puts the transport back.
            return Poll::Pending;
        };
        for _ in 0..ROUNDS {
            match self.round(cx, &mut io) {
                // Finished: the transport is dropped.
                Poll::Ready(false) => {
                    self.shared.lock_quiet().driver_gone = true;
                    drop(io);
                    return Poll::Ready(());
                }
                Poll::Ready(true) => continue,
                Poll::Pending => {
                    self.shared.lock_quiet().put_io(io);
                    return Poll::Pending;
                }
            }
        }
        self.shared.lock_quiet().put_io(io);
        // Busy: let other tasks run, then carry on.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // Also reached if the runtime shuts down with the task: nobody may
        // wait forever for a report that will not come.
        let io = {
            let mut st = self.shared.lock_quiet();
            if st.closed.is_none() {
                st.io_error = Some((io::ErrorKind::BrokenPipe, "the connection's driver task stopped".into()));
                st.closed =
                    Some(Closed { code: CloseCode::ABNORMAL, reason: String::new(), was_clean: false, error: None });
            }
            st.driver = None;
            st.driver_gone = true;
            st.wake_reader();
            st.wake_waiters();
            st.io.take()
        };
        drop(io);
    }
}
