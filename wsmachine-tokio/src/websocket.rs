//! The user-facing handles: [`WebSocket`], [`Reader`], [`Writer`].

use std::fmt;
use std::future::poll_fn;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::Stream;
use futures_sink::Sink;
use tokio::io::{AsyncRead, AsyncWrite};
use wsmachine::{CloseCode, Closed, Connection, Message, Negotiated, Role};

use crate::Error;
use crate::driver::Driver;
use crate::shared::Shared;

/// A WebSocket connection, open, whose transport `S` belongs to a
/// background task (see the [crate docs](crate#design)).
///
/// It is a [`Stream`] of received messages and a [`Sink`] of messages to
/// send, and has the same as plain methods: [`recv`](Self::recv),
/// [`send`](Self::send), [`ping`](Self::ping), [`close`](Self::close).
/// [`split`](Self::split) gives a [`Reader`] and a [`Writer`] to use from
/// different tasks; [`Writer`] is `Clone`.
///
/// Dropping every handle (this, or the reader and all writers) closes the
/// connection with 1001 (Going Away); the task finishes the closing
/// handshake on its own.
pub struct WebSocket<S> {
    reader: Reader,
    writer: Writer,
    _transport: PhantomData<fn() -> S>,
}

/// The receiving half of a [`WebSocket`]: a [`Stream`] of messages.
pub struct Reader {
    shared: Arc<Shared>,
}

/// The sending half of a [`WebSocket`]: a [`Sink`] of messages, with
/// [`send`](Self::send), [`ping`](Self::ping) and [`close`](Self::close).
/// Clone it to send from several tasks; messages from one writer go out in
/// the order they were accepted.
pub struct Writer {
    shared: Arc<Shared>,
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> WebSocket<S> {
    /// Starts the driver task for an open connection over `io`.
    pub(crate) fn spawn(
        io: S,
        conn: Connection,
        high_water: Option<usize>,
        low_water: usize,
        negotiated: Negotiated,
    ) -> Self {
        let shared = Shared::new(conn, high_water, low_water, negotiated, Box::new(io));
        tokio::spawn(Driver::new(Arc::clone(&shared)));
        shared.add_handle();
        Self { reader: Reader { shared: Arc::clone(&shared) }, writer: Writer { shared }, _transport: PhantomData }
    }
}

impl<S> WebSocket<S> {
    /// The next message; `None` once the connection has closed cleanly.
    /// An abnormal end is one last `Some(Err(..))` ([`Error::Failed`] or
    /// [`Error::Io`]) before `None`.
    ///
    /// Cancel-safe: a message is taken only when this returns it.
    pub async fn recv(&mut self) -> Option<Result<Message, Error>> {
        self.reader.recv().await
    }

    /// Queues `message` behind everything sent before it, waiting while the
    /// bytes not yet written to the transport are over
    /// [`Config::send_high_water`](wsmachine::Config::send_high_water)
    /// (until they are back at `send_low_water`).
    ///
    /// Returns once the message is queued, not when it is written (see
    /// [`flush`](Self::flush)). Cancel-safe: if the future is dropped before
    /// it completes, the message was not queued and is dropped with it;
    /// once it returns `Ok`, it will go out. Fails with [`Error::Closed`]
    /// once the closing handshake has started.
    pub async fn send(&self, message: impl Into<Message>) -> Result<(), Error> {
        self.writer.send(message).await
    }

    /// Queues a Ping with up to 125 bytes of payload. The Pong is answered
    /// by the peer; Pongs are not delivered as messages.
    pub async fn ping(&self, payload: impl AsRef<[u8]>) -> Result<(), Error> {
        self.writer.ping(payload).await
    }

    /// Queues an unsolicited Pong (a heartbeat). Pings are answered
    /// automatically, in order with what was sent before them
    /// ([`Config::auto_pong`](wsmachine::Config::auto_pong) is always on
    /// here).
    pub async fn pong(&self, payload: impl AsRef<[u8]>) -> Result<(), Error> {
        self.writer.pong(payload).await
    }

    /// Waits until everything queued has been written to the transport.
    pub async fn flush(&self) -> Result<(), Error> {
        self.writer.flush().await
    }

    /// Starts the closing handshake with `code` and `reason` (at most 123
    /// bytes) after everything already queued, and waits for its end: the
    /// peer's Close, then the transport closed, or the close deadline.
    /// Returns how the connection ended; if it had already ended, how it
    /// did. Messages still arriving meanwhile stay readable, up to
    /// [`MAX_UNREAD`](crate::MAX_UNREAD) bytes of them: past that, while
    /// closing, the rest are dropped so that the peer's Close behind them is
    /// read.
    pub async fn close(&self, code: impl Into<CloseCode>, reason: &str) -> Result<Closed, Error> {
        self.writer.close(code, reason).await
    }

    /// Waits for the connection to end, without closing it, and tells how.
    pub async fn closed(&self) -> Closed {
        self.writer.closed().await
    }

    /// What the opening handshake agreed: the subprotocol and extensions.
    pub fn negotiated(&self) -> &Negotiated {
        &self.writer.shared.negotiated
    }

    /// Bytes sent and not yet written to the transport (message payload,
    /// framing and control frames): what the high-water mark bounds.
    pub fn backlog(&self) -> usize {
        self.writer.backlog()
    }

    /// Client or server.
    pub fn role(&self) -> Role {
        self.writer.shared.lock().conn.role()
    }

    /// A new writer for this connection, to send from another task while
    /// this one keeps receiving.
    pub fn writer(&self) -> Writer {
        self.writer.clone()
    }

    /// Splits into a receiving and a sending half, to use from different
    /// tasks at the same time.
    pub fn split(self) -> (Reader, Writer) {
        (self.reader, self.writer)
    }
}

impl Reader {
    /// The next message: see [`WebSocket::recv`]. Cancel-safe.
    pub async fn recv(&mut self) -> Option<Result<Message, Error>> {
        // Dropped while waiting (a `select!` branch that lost): the reading
        // goes back to the connection's task at once.
        let mut waiting = Waiting { shared: &self.shared, done: false };
        let result = poll_fn(|cx| waiting.shared.poll_recv(cx)).await;
        waiting.done = true;
        result
    }

    /// Waits for the connection to end and tells how.
    pub async fn closed(&self) -> Closed {
        poll_fn(|cx| self.shared.poll_closed(cx)).await
    }

    /// Puts the halves back together. Panics if they belong to different
    /// connections.
    pub fn unsplit<S>(self, writer: Writer) -> WebSocket<S> {
        assert!(Arc::ptr_eq(&self.shared, &writer.shared), "halves of different connections");
        WebSocket { reader: self, writer, _transport: PhantomData }
    }
}

impl Writer {
    /// Queues a message: see [`WebSocket::send`]. Cancel-safe.
    pub async fn send(&self, message: impl Into<Message>) -> Result<(), Error> {
        let mut message = Some(message.into());
        poll_fn(|cx| self.shared.poll_send(cx, &mut message)).await
    }

    /// Queues a Ping: see [`WebSocket::ping`].
    pub async fn ping(&self, payload: impl AsRef<[u8]>) -> Result<(), Error> {
        poll_fn(|cx| self.shared.poll_control(cx, payload.as_ref(), false)).await
    }

    /// Queues a Pong: see [`WebSocket::pong`].
    pub async fn pong(&self, payload: impl AsRef<[u8]>) -> Result<(), Error> {
        poll_fn(|cx| self.shared.poll_control(cx, payload.as_ref(), true)).await
    }

    /// Waits until everything queued has been written to the transport.
    pub async fn flush(&self) -> Result<(), Error> {
        poll_fn(|cx| self.shared.poll_flush(cx)).await
    }

    /// Closes: see [`WebSocket::close`]. Any task may call it; the Close
    /// frame is written as soon as what was queued before it is.
    pub async fn close(&self, code: impl Into<CloseCode>, reason: &str) -> Result<Closed, Error> {
        self.shared.start_close(code.into(), reason)?;
        Ok(self.closed().await)
    }

    /// Waits for the connection to end and tells how.
    pub async fn closed(&self) -> Closed {
        poll_fn(|cx| self.shared.poll_closed(cx)).await
    }

    /// Bytes sent and not yet written: see [`WebSocket::backlog`].
    pub fn backlog(&self) -> usize {
        self.shared.lock().backlog()
    }
}

/// A `recv` in progress; see [`Shared::recv_dropped`].
struct Waiting<'a> {
    shared: &'a Shared,
    done: bool,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.shared.recv_dropped();
        }
    }
}

impl Clone for Writer {
    fn clone(&self) -> Self {
        self.shared.add_handle();
        Self { shared: Arc::clone(&self.shared) }
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        self.shared.drop_handle(true);
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.shared.drop_handle(false);
    }
}

impl Stream for Reader {
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.shared.poll_recv(cx)
    }
}

impl Sink<Message> for Writer {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.shared.poll_ready(cx)
    }

    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), Error> {
        self.shared.start_send(item)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.shared.poll_flush(cx)
    }

    /// Closes with 1000 (Normal Closure) and waits for the end of the
    /// closing handshake.
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.shared.start_close(CloseCode::NORMAL, "")?;
        self.shared.poll_closed(cx).map(|_| Ok(()))
    }
}

impl<S> Stream for WebSocket<S> {
    type Item = Result<Message, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.reader).poll_next(cx)
    }
}

impl<S> Sink<Message> for WebSocket<S> {
    type Error = Error;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Pin::new(&mut self.writer).poll_ready(cx)
    }

    fn start_send(mut self: Pin<&mut Self>, item: Message) -> Result<(), Error> {
        Pin::new(&mut self.writer).start_send(item)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Pin::new(&mut self.writer).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Pin::new(&mut self.writer).poll_close(cx)
    }
}

impl<S> fmt::Debug for WebSocket<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocket").field("connection", &self.writer.shared.lock().conn).finish_non_exhaustive()
    }
}

impl fmt::Debug for Reader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reader").finish_non_exhaustive()
    }
}

impl fmt::Debug for Writer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Writer").field("backlog", &self.backlog()).finish_non_exhaustive()
    }
}
