//! Blocking loopback TCP for the interop tests' drivers.

use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use wsmachine::ReadyState;

/// `stream` with read and write timeouts of `timeout` and no Nagle delay:
/// a stuck peer fails the test instead of hanging the suite.
pub fn with_timeouts(stream: TcpStream, timeout: Duration) -> TcpStream {
    stream.set_read_timeout(Some(timeout)).unwrap();
    stream.set_write_timeout(Some(timeout)).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

/// Appends `now` to `states`, the ready states seen after each input or
/// command, when it changed; panics if it went back: they only move forward.
#[track_caller]
pub fn note_state(states: &mut Vec<ReadyState>, now: ReadyState) {
    let last = *states.last().unwrap();
    assert!(now >= last, "ready_state went back from {last:?} to {now:?}");
    if now != last {
        states.push(now);
    }
}

/// Does a `CloseTransport` on `stream`: panics if `*closed` (a second one),
/// sets it, flushes and shuts the socket down `how`.
pub fn close_transport(stream: &mut TcpStream, closed: &mut bool, how: Shutdown) {
    assert!(!*closed, "second CloseTransport");
    *closed = true;
    stream.flush().unwrap();
    // NotConnected if the peer is gone already.
    let _ = stream.shutdown(how);
}

/// Writes a `Transmit` to `stream`; panics if the transport was closed
/// already, or, with `context()`, if the write fails.
pub fn write_transmit(stream: &mut TcpStream, transport_closed: bool, bytes: &[u8], context: impl Fn() -> String) {
    assert!(!transport_closed, "Transmit after CloseTransport");
    stream.write_all(bytes).unwrap_or_else(|e| panic!("write failed: {e}; {}", context()));
}
