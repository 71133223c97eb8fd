//! The connection's ready state, as the browser reports it.

/// The four states of WHATWG's `WebSocket.readyState`.
///
/// ```text
///  CONNECTING ──handshake done──▶ OPEN ──close() / peer's Close──▶ CLOSING ──Closed polled──▶ CLOSED
///       │                                                            ▲
///       └──── handshake failed / close() / EOF / protocol error ─────┘
/// ```
///
/// The state only moves forward. [`Connection::ready_state`](crate::Connection::ready_state)
/// reports it as of the input processed so far; input is processed as
/// outputs are polled. A connection that ends (cleanly or not) is CLOSING
/// until [`Event::Closed`](crate::Event::Closed) has been polled: WHATWG's
/// "fail the WebSocket connection" sets CLOSING, and the state is CLOSED
/// when the close event fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ReadyState {
    /// 0: the opening handshake has not completed.
    Connecting = 0,
    /// 1: the connection is established; messages flow both ways.
    Open = 1,
    /// 2: a Close frame was sent or received; the closing handshake runs.
    Closing = 2,
    /// 3: the connection is closed; [`Event::Closed`](crate::Event::Closed) was polled.
    Closed = 3,
}

impl ReadyState {
    /// The number the browser API uses: 0 to 3.
    pub const fn as_u16(self) -> u16 {
        self as u16
    }
}
