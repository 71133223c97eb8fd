//! What a connection gives back: [`Output`], [`Event`], [`Message`].

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use bytes::Bytes;
use core::fmt;

use crate::close::CloseCode;
use crate::error::ConnectionError;
use crate::handshake::{ExtensionOffer, Request};

/// One step of work for the driver, from
/// [`Connection::poll_output`](crate::Connection::poll_output), in the order
/// it must be done.
#[must_use]
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Output {
    /// Write these bytes to the transport, after every earlier `Transmit`.
    /// A frame may span several `Transmit`s (header and payload apart, ready
    /// for vectored writes).
    Transmit(Bytes),
    /// Hand this event to the application.
    Event(Event),
    /// Write every earlier `Transmit`, then close the transport. Comes at
    /// most once, always before [`Event::Closed`].
    ///
    /// For TCP, shut down the *write* side (`shutdown(Write)`, a FIN): the
    /// peer still reads our Close frame. Shutting down both sides, or
    /// dropping the socket while unread input is pending, can make the kernel
    /// answer with a reset that destroys the Close frame in flight. Dropping
    /// the socket after [`Event::Closed`] (or after reading to EOF for a
    /// short while) is fine.
    CloseTransport,
}

/// Something the application should know about.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// (Server, CONNECTING) A client asks to upgrade: answer with
    /// [`accept`](crate::Connection::accept) or
    /// [`reject`](crate::Connection::reject). The connection shares the
    /// request until it is answered (`accept` reads it); keep it as long as
    /// you like, or take it with `Arc::unwrap_or_clone`.
    UpgradeRequest(Arc<Request>),
    /// (Server, CONNECTING) A well-formed HTTP request that is not a
    /// WebSocket upgrade (no `Upgrade: websocket`), e.g. a browser asking for
    /// a page: answer it with [`reject`](crate::Connection::reject), which
    /// sends any status, headers and body, then closes.
    HttpRequest(Arc<Request>),
    /// The opening handshake completed: CONNECTING → OPEN.
    Open(Negotiated),
    /// A whole message arrived.
    Message(Message),
    /// ([`Config::streaming_receive`](crate::Config::streaming_receive)) A
    /// message of this kind begins; its data follows as `MessageChunk`s.
    MessageStart(MessageKind),
    /// ([`Config::streaming_receive`](crate::Config::streaming_receive)) The
    /// next piece of the message in progress, as it arrived: a text chunk is
    /// valid UTF-8 on its own (a code point split by the network is held back
    /// until complete), a binary chunk is whatever came. Never empty.
    MessageChunk(Message),
    /// ([`Config::streaming_receive`](crate::Config::streaming_receive)) The
    /// message in progress is complete. A message cut short by a Close or a
    /// failure gets no `MessageEnd`: discard it.
    MessageEnd,
    /// A Ping arrived. If [`Config::auto_pong`](crate::Config::auto_pong) is
    /// on, the Pong is already queued.
    Ping(Bytes),
    /// A Pong arrived, solicited or not.
    Pong(Bytes),
    /// The peer started the closing handshake: OPEN → CLOSING. Our echoing
    /// Close is already queued; no message will be delivered after this.
    Closing(CloseFrame),
    /// After [`SendError::Full`](crate::SendError::Full), the send buffer
    /// fell to [`Config::send_low_water`](crate::Config::send_low_water):
    /// sending can resume.
    Writable,
    /// The connection is closed: the last output, exactly once.
    Closed(Closed),
}

/// What the opening handshake settled on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Negotiated {
    /// The subprotocol in use, if any (`Sec-WebSocket-Protocol`).
    pub protocol: Option<String>,
    /// The extensions in use, in order (`Sec-WebSocket-Extensions`).
    pub extensions: Vec<ExtensionOffer>,
}

/// The type of a message (RFC 6455 §5.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// UTF-8 text (opcode 0x1).
    Text,
    /// Binary data (opcode 0x2).
    Binary,
}

/// A complete message.
#[derive(Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message: valid UTF-8.
    Text(Text),
    /// A binary message.
    Binary(Bytes),
}

impl Message {
    /// A text message.
    pub fn text(text: impl Into<Text>) -> Self {
        Self::Text(text.into())
    }

    /// A binary message.
    pub fn binary(data: impl Into<Bytes>) -> Self {
        Self::Binary(data.into())
    }

    /// The payload bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Text(t) => t.as_bytes(),
            Self::Binary(b) => b,
        }
    }

    /// The payload length in bytes.
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Is it a text message?
    pub fn is_text(&self) -> bool {
        matches!(self, Self::Text(_))
    }

    /// Text or binary.
    pub fn kind(&self) -> MessageKind {
        match self {
            Self::Text(_) => MessageKind::Text,
            Self::Binary(_) => MessageKind::Binary,
        }
    }

    /// The payload, whatever the type.
    pub fn into_bytes(self) -> Bytes {
        match self {
            Self::Text(t) => t.into_bytes(),
            Self::Binary(b) => b,
        }
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Text(t) => f.debug_tuple("Text").field(&t.as_str()).finish(),
            Self::Binary(b) => f.debug_tuple("Binary").field(b).finish(),
        }
    }
}

impl From<Text> for Message {
    fn from(t: Text) -> Self {
        Self::Text(t)
    }
}
impl From<String> for Message {
    fn from(s: String) -> Self {
        Self::Text(s.into())
    }
}
impl From<&'static str> for Message {
    fn from(s: &'static str) -> Self {
        Self::Text(s.into())
    }
}
impl From<Bytes> for Message {
    fn from(b: Bytes) -> Self {
        Self::Binary(b)
    }
}
impl From<Vec<u8>> for Message {
    fn from(b: Vec<u8>) -> Self {
        Self::Binary(b.into())
    }
}
impl From<&'static [u8]> for Message {
    fn from(b: &'static [u8]) -> Self {
        Self::Binary(Bytes::from_static(b))
    }
}

/// UTF-8 text held in [`Bytes`], so a received text message shares the
/// input buffer instead of being copied.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Text(Bytes);

impl Text {
    /// Checks that `bytes` is UTF-8.
    pub fn from_utf8(bytes: Bytes) -> Result<Self, core::str::Utf8Error> {
        core::str::from_utf8(&bytes)?;
        Ok(Self(bytes))
    }

    /// Wraps bytes this crate has already validated. Checked again in
    /// debug builds and under the fuzzers: `as_str` relies on it with
    /// feature `unchecked-utf8`.
    pub(crate) fn from_validated(bytes: Bytes) -> Self {
        #[cfg(any(debug_assertions, fuzzing))]
        assert!(core::str::from_utf8(&bytes).is_ok(), "Text::from_validated: not UTF-8");
        Self(bytes)
    }

    /// The text. The crate forbids `unsafe` by default, so this checks the
    /// UTF-8 again (with `simdutf8`, at memory speed) rather than trusting
    /// it blindly: linear in the length. With feature `unchecked-utf8` it
    /// is free.
    pub fn as_str(&self) -> &str {
        validated_str(&self.0)
    }

    /// The UTF-8 bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The UTF-8 bytes, without copying.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }

    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the text is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Text {
    fn from(s: String) -> Self {
        Self(Bytes::from(s))
    }
}
impl From<&'static str> for Text {
    fn from(s: &'static str) -> Self {
        Self(Bytes::from_static(s.as_bytes()))
    }
}
impl From<Text> for Bytes {
    fn from(t: Text) -> Self {
        t.0
    }
}
impl TryFrom<Bytes> for Text {
    type Error = core::str::Utf8Error;
    fn try_from(b: Bytes) -> Result<Self, Self::Error> {
        Self::from_utf8(b)
    }
}
impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        self.0 == other.as_bytes()
    }
}
impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        self.0 == other.as_bytes()
    }
}
impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}
impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text of bytes this crate validated as UTF-8: a [`Text`]'s or a
/// [`TextRef`]'s. Checked again (with `simdutf8`, at memory speed) unless
/// feature `unchecked-utf8` trusts the check.
#[cfg(not(feature = "unchecked-utf8"))]
#[inline]
fn validated_str(bytes: &[u8]) -> &str {
    match crate::utf8::simd::basic::from_utf8(bytes) {
        Ok(s) => s,
        // Invariant: every constructor of `Text` and `TextRef` validated
        // these exact bytes, and neither lets them change.
        Err(_) => unreachable!("Text and TextRef hold validated UTF-8"),
    }
}

/// The text of bytes this crate validated as UTF-8, free: feature
/// `unchecked-utf8` trusts the check every [`Text`] and [`TextRef`] passed
/// when it was made.
#[cfg(feature = "unchecked-utf8")]
#[allow(unsafe_code)]
#[inline]
fn validated_str(bytes: &[u8]) -> &str {
    // SAFETY: called only with the bytes of a `Text` or a `TextRef`, and
    // every way to make one checks that its bytes are UTF-8. `Text`:
    // `from_utf8` and `TryFrom<Bytes>` with `str::from_utf8`, `From<String>`
    // and `From<&str>` by their types, `Default` is empty, and
    // `from_validated` (the receive path) is called only on bytes the
    // connection's UTF-8 validator accepted whole (asserted in debug builds
    // and under the fuzzers). `TextRef`: only `from_validated`, likewise,
    // and `From<&str>`. The bytes cannot change afterwards: `Bytes` is
    // immutable, a `TextRef` holds a shared borrow, and both fields are
    // private.
    unsafe { core::str::from_utf8_unchecked(bytes) }
}

/// What [`Connection::poll_event_ref`](crate::Connection::poll_event_ref)
/// hands out: a received message *lent* by the connection (valid until the
/// connection is used again; nothing to free, no reference count), or any
/// other event, owned.
///
/// Take what you need from a lent message before using the connection
/// again (the borrow checker sees to it): parse it, copy it
/// ([`into_owned`](Self::into_owned), `to_vec`), or answer from what it
/// computed.
#[must_use]
#[derive(Debug, Clone, PartialEq)]
pub enum EventRef<'a> {
    /// A whole text message arrived ([`Event::Message`] with
    /// [`Message::Text`]).
    Text(TextRef<'a>),
    /// A whole binary message arrived ([`Event::Message`] with
    /// [`Message::Binary`]).
    Binary(&'a [u8]),
    /// Any other event, exactly as
    /// [`poll_event`](crate::Connection::poll_event) hands it out; never an
    /// [`Event::Message`].
    Other(Event),
}

impl EventRef<'_> {
    /// The event as [`poll_event`](crate::Connection::poll_event) would have
    /// handed it out: a lent message is copied (one allocation).
    pub fn into_owned(self) -> Event {
        match self {
            Self::Text(text) => Event::Message(Message::Text(text.to_text())),
            Self::Binary(bytes) => Event::Message(Message::Binary(Bytes::copy_from_slice(bytes))),
            Self::Other(event) => event,
        }
    }
}

/// Received UTF-8 text lent by the connection ([`EventRef::Text`]): the
/// borrowed counterpart of [`Text`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TextRef<'a>(&'a [u8]);

impl<'a> TextRef<'a> {
    /// Wraps bytes this crate has already validated (as
    /// `Text::from_validated`).
    pub(crate) fn from_validated(bytes: &'a [u8]) -> Self {
        #[cfg(any(debug_assertions, fuzzing))]
        assert!(core::str::from_utf8(bytes).is_ok(), "TextRef::from_validated: not UTF-8");
        Self(bytes)
    }

    /// The text: as [`Text::as_str`], checked again (at memory speed)
    /// unless feature `unchecked-utf8` makes it free. Where only the bytes
    /// matter, [`as_bytes`](Self::as_bytes) is free either way.
    pub fn as_str(&self) -> &'a str {
        validated_str(self.0)
    }

    /// The UTF-8 bytes.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.0
    }

    /// A copy that owns its bytes (one allocation).
    pub fn to_text(&self) -> Text {
        Text(Bytes::copy_from_slice(self.0))
    }

    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the text is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'a> From<&'a str> for TextRef<'a> {
    fn from(s: &'a str) -> Self {
        Self(s.as_bytes())
    }
}
impl PartialEq<str> for TextRef<'_> {
    fn eq(&self, other: &str) -> bool {
        self.0 == other.as_bytes()
    }
}
impl PartialEq<&str> for TextRef<'_> {
    fn eq(&self, other: &&str) -> bool {
        self.0 == other.as_bytes()
    }
}
impl fmt::Debug for TextRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}
impl fmt::Display for TextRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The contents of a received Close frame (§5.5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    /// The status code; [`CloseCode::NO_STATUS_RCVD`] (1005) when the frame
    /// had none (§7.1.5).
    pub code: CloseCode,
    /// The reason, possibly empty.
    pub reason: String,
}

/// How the connection ended: WHATWG's `CloseEvent`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closed {
    /// The code of the Close frame *received* (§7.1.5): 1005 if it carried no
    /// code, 1006 if none was received before the connection ended.
    pub code: CloseCode,
    /// The reason of the Close frame received, or empty.
    pub reason: String,
    /// True when both Close frames passed before the transport ended
    /// (§7.1.4), false when the connection was failed or cut.
    pub was_clean: bool,
    /// Why the connection was failed, when it was (§7.1.7).
    pub error: Option<ConnectionError>,
}
