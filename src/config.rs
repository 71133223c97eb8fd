//! Connection settings and the endpoint role.

use alloc::string::String;
use alloc::vec::Vec;

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
    /// Answer each Ping with a Pong automatically (§5.5.2). Default: true.
    /// When false, the application must call
    /// [`pong`](crate::Connection::pong) itself.
    pub auto_pong: bool,
    /// Split outgoing messages larger than this into frames of at most this
    /// many payload bytes (§5.4). `None` (the default) sends each message as
    /// one frame.
    pub fragment_size: Option<usize>,
    /// The largest HTTP head (request or response line plus headers) accepted
    /// during the opening handshake. Default: 8 KiB.
    pub max_head_size: usize,
    /// The most header fields accepted in an HTTP head. Default: 64.
    pub max_headers: usize,
    /// Subprotocols a server supports, in order of preference. When the
    /// application accepts an upgrade without naming a subprotocol, the first
    /// of these that the client offered is chosen. Default: none.
    pub protocols: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_frame_size: 1 << 20,
            max_message_size: 1 << 20,
            auto_pong: true,
            fragment_size: None,
            max_head_size: 8 * 1024,
            max_headers: 64,
            protocols: Vec::new(),
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

    /// Sets [`auto_pong`](Self::auto_pong).
    pub fn with_auto_pong(mut self, on: bool) -> Self {
        self.auto_pong = on;
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

    /// Adds a subprotocol the server supports (see [`protocols`](Self::protocols)).
    pub fn with_protocol(mut self, name: impl Into<String>) -> Self {
        self.protocols.push(name.into());
        self
    }
}
