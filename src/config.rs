//! Connection settings and the endpoint role.

use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;

/// Which end of the connection this endpoint is (RFC 6455 §5.1): a client
/// masks what it sends and expects unmasked frames, a server the reverse.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// The endpoint that opened the connection.
    Client,
    /// The endpoint that accepted it.
    Server,
}

/// Settings for a [`Connection`](crate::Connection).
///
/// Build one from [`Config::default`] and the `with_*` setters, or assign the
/// public fields. The defaults suit an internet-facing server: they bound the
/// memory a peer can make one connection hold (RFC 6455 §10.4).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Config {
    /// The largest frame payload accepted, in bytes. A frame declared longer
    /// fails the connection with 1009 as soon as its header arrives, before
    /// any payload is buffered. Default: 1 MiB.
    pub max_frame_size: usize,
    /// The largest message accepted, in bytes, counted across its fragments.
    /// A message that would exceed it fails the connection with 1009 at the
    /// header of the frame that crosses the limit. Default: 1 MiB, as Python's
    /// `websockets` chooses; raise it for bulk transfers.
    pub max_message_size: usize,
    /// The most frames one message may arrive in, its first frame
    /// included. A message fragmented further fails the connection with
    /// 1008 (`ProtocolError::TooManyFragments`) at the header of the frame
    /// that crosses the limit. Every frame is legal on its own, even an
    /// empty one, so without a cap a peer can keep one message going
    /// forever at 2 bytes a frame. Default: 131,072, as Node's `ws`: a
    /// message of the default 1 MiB may still come in 8-byte fragments.
    pub max_fragments: usize,
    /// Answer each Ping with a Pong automatically (§5.5.2). Default: true.
    /// When false, the application must call
    /// [`pong`](crate::Connection::pong) itself.
    pub auto_pong: bool,
    /// Deliver received messages as they arrive, as
    /// [`Event::MessageStart`](crate::Event::MessageStart), any number of
    /// [`Event::MessageChunk`](crate::Event::MessageChunk)s and
    /// [`Event::MessageEnd`](crate::Event::MessageEnd), instead of one
    /// [`Event::Message`](crate::Event::Message) per message. The connection
    /// then holds no more than the input fed and not yet delivered (plus at
    /// most 3 bytes of a split code point), whatever the message size;
    /// [`max_message_size`](Self::max_message_size) still bounds the running
    /// total. Default: false.
    pub streaming_receive: bool,
    /// Split outgoing messages larger than this into frames of at most this
    /// many payload bytes (§5.4). `None` (the default) sends each message as
    /// one frame.
    pub fragment_size: Option<usize>,
    /// The largest HTTP head (request or response line plus headers) accepted
    /// during the opening handshake. Default: 8 KiB.
    ///
    /// A head is read in time linear in its length, however it is split into
    /// reads: the search for its end resumes where it stopped, and it is
    /// parsed whole once complete. A syntax error before the end is found
    /// when the head's length reaches the next power of two past the bad
    /// byte (a TLS ClientHello on a plain port is refused at its first
    /// byte), or at the end, the limit or EOF, whichever comes first.
    pub max_head_size: usize,
    /// The most header fields accepted in an HTTP head. Default: 64.
    pub max_headers: usize,
    /// permessage-deflate (RFC 7692): offered by a client, accepted by a
    /// server, with these settings. Default: `None`, no compression —
    /// compressing secrets together with attacker-chosen data leaks them
    /// (RFC 7692 §8, CRIME), so an application opts in knowingly.
    #[cfg(feature = "deflate")]
    pub deflate: Option<crate::DeflateConfig>,
    /// Subprotocols a server supports, in order of preference. When the
    /// application accepts an upgrade without naming a subprotocol, the first
    /// of these that the client offered is chosen. Default: none.
    pub protocols: Vec<String>,

    /// How long the opening handshake may take, from the first time the
    /// connection is told the time. A server then closes the transport
    /// (a slow or silent client must not hold it); a client fails with
    /// [`HandshakeError::Timeout`](crate::HandshakeError::Timeout).
    /// Default: 10 s. `None` turns it off.
    pub handshake_timeout: Option<Duration>,
    /// How long the closing handshake may take, from the moment it starts
    /// (our Close queued, or the peer's received). If the peer's Close has not
    /// come by then, the transport is closed and the connection reports
    /// `Closed { code: 1006, was_clean: false }`; if both Close frames passed
    /// and a client is only waiting for the server to close TCP (§7.1.1), it
    /// closes the transport itself and `was_clean` stays true.
    /// Default: 5 s. `None` turns it off.
    pub close_timeout: Option<Duration>,
    /// Send a Ping after this long without receiving anything while OPEN.
    /// Default: 30 s. `None` turns keepalive off.
    pub keepalive_interval: Option<Duration>,
    /// After a keepalive Ping, how long to wait for *any* incoming bytes (a
    /// Pong, a message, anything: a peer busy sending a large message is
    /// alive even if its Pong is queued behind it). If nothing comes, the
    /// connection fails: `Closed { code: 1006, was_clean: false }` with
    /// [`ConnectionError::KeepaliveTimeout`](crate::ConnectionError::KeepaliveTimeout).
    /// Default: 30 s.
    pub keepalive_timeout: Duration,

    /// Backpressure on sending: when the output queue's cost
    /// ([`queued_bytes`]: the payload bytes of [`buffered_amount`] plus
    /// frame headers, control frames and a fixed cost per queued piece) plus
    /// a new message's (or Ping's or Pong's) length would exceed this many
    /// bytes, the command fails with [`SendError::Full`](crate::SendError::Full)
    /// and queues nothing. Counting the framing means that empty messages
    /// and control frames are bounded too, not just payload bytes. A
    /// message larger than the mark is still accepted when nothing is
    /// queued, so every message can be sent. The Close frame and automatic
    /// Pongs are never refused. Default: 16 MiB. `None`: no limit.
    ///
    /// [`buffered_amount`]: crate::Connection::buffered_amount
    /// [`queued_bytes`]: crate::Connection::queued_bytes
    pub send_high_water: Option<usize>,
    /// Once `send` has failed with `Full`, [`Event::Writable`](crate::Event::Writable)
    /// is queued when [`queued_bytes`](crate::Connection::queued_bytes)
    /// falls to this many bytes or fewer. Default: 4 MiB.
    pub send_low_water: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_frame_size: 1 << 20,
            max_message_size: 1 << 20,
            max_fragments: 128 * 1024,
            auto_pong: true,
            streaming_receive: false,
            fragment_size: None,
            max_head_size: 8 * 1024,
            max_headers: 64,
            #[cfg(feature = "deflate")]
            deflate: None,
            protocols: Vec::new(),
            handshake_timeout: Some(Duration::from_secs(10)),
            close_timeout: Some(Duration::from_secs(5)),
            keepalive_interval: Some(Duration::from_secs(30)),
            keepalive_timeout: Duration::from_secs(30),
            send_high_water: Some(16 << 20),
            send_low_water: 4 << 20,
        }
    }
}

impl Config {
    /// The default settings.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`max_frame_size`](Self::max_frame_size).
    pub fn with_max_frame_size(mut self, bytes: usize) -> Self {
        self.max_frame_size = bytes;
        self
    }

    /// Sets [`max_message_size`](Self::max_message_size).
    pub fn with_max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// Sets [`max_fragments`](Self::max_fragments); zero is treated as one.
    pub fn with_max_fragments(mut self, frames: usize) -> Self {
        self.max_fragments = frames.max(1);
        self
    }

    /// Sets [`auto_pong`](Self::auto_pong).
    pub fn with_auto_pong(mut self, on: bool) -> Self {
        self.auto_pong = on;
        self
    }

    /// Sets [`streaming_receive`](Self::streaming_receive).
    pub fn with_streaming_receive(mut self, on: bool) -> Self {
        self.streaming_receive = on;
        self
    }

    /// Sets [`fragment_size`](Self::fragment_size); zero is treated as one.
    pub fn with_fragment_size(mut self, bytes: Option<usize>) -> Self {
        self.fragment_size = bytes.map(|b| b.max(1));
        self
    }

    /// Sets [`max_head_size`](Self::max_head_size).
    pub fn with_max_head_size(mut self, bytes: usize) -> Self {
        self.max_head_size = bytes;
        self
    }

    /// Sets [`max_headers`](Self::max_headers).
    pub fn with_max_headers(mut self, count: usize) -> Self {
        self.max_headers = count;
        self
    }

    /// Sets [`handshake_timeout`](Self::handshake_timeout).
    pub fn with_handshake_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Sets [`close_timeout`](Self::close_timeout).
    pub fn with_close_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.close_timeout = timeout;
        self
    }

    /// Sets [`keepalive_interval`](Self::keepalive_interval) and
    /// [`keepalive_timeout`](Self::keepalive_timeout); `None` turns keepalive off.
    pub fn with_keepalive(mut self, interval: Option<Duration>, timeout: Duration) -> Self {
        self.keepalive_interval = interval;
        self.keepalive_timeout = timeout;
        self
    }

    /// Sets [`send_high_water`](Self::send_high_water) and
    /// [`send_low_water`](Self::send_low_water).
    pub fn with_send_water_marks(mut self, high: Option<usize>, low: usize) -> Self {
        self.send_high_water = high;
        self.send_low_water = low;
        self
    }

    /// Sets [`deflate`](Self::deflate).
    #[cfg(feature = "deflate")]
    pub fn with_deflate(mut self, deflate: Option<crate::DeflateConfig>) -> Self {
        self.deflate = deflate;
        self
    }

    /// Adds a subprotocol the server supports (see [`protocols`](Self::protocols)).
    pub fn with_protocol(mut self, name: impl Into<String>) -> Self {
        self.protocols.push(name.into());
        self
    }
}
