//! The README's drive loop over a blocking `TcpStream`, as the Autobahn
//! testees run it: `read_from`, every event through `poll_event_ref` (so
//! messages are lent where they were read: the receive path a server that
//! handles each message in place takes), `write_to`. Shared by
//! `examples/autobahn_server.rs` and `examples/autobahn_client.rs`, so the
//! conformance suite checks the fast path the README recommends in both
//! roles (wsmachine-tokio's testees check the byte-slice surface).

use std::io::{self, ErrorKind};
use std::net::{Shutdown, TcpStream};

use wsmachine::{Connection, Event, Flushed};

/// Runs `conn` over `stream` until its `Closed` event, handing every event
/// to `on_event` (owned: an echo needs the message past the connection's
/// next call). A write that moves no byte within the stream's write
/// timeout fails: a peer that stops reading is dropped instead of holding
/// the thread. These loops do not run the connection's deadlines (the
/// suite's peer always reads; see echo_server for one that does).
pub(crate) fn drive(
    conn: &mut Connection,
    stream: &mut TcpStream,
    mut on_event: impl FnMut(&mut Connection, Event),
) -> io::Result<()> {
    loop {
        while let Some(event) = conn.poll_event_ref() {
            let event = event.into_owned();
            let closed = matches!(event, Event::Closed(_));
            on_event(conn, event);
            if closed {
                return Ok(());
            }
        }
        match conn.write_to(stream) {
            Ok(Flushed::CloseTransport) => {
                let _ = stream.shutdown(Shutdown::Write);
                continue;
            }
            Ok(_) => {}
            Err(e) => return Err(not_reading(e)),
        }
        if conn.read_from(stream).is_err() {
            // A reset: the transport is gone (the connection reports 1006).
            conn.handle_eof();
        }
    }
}

/// A write that timed out: the peer took nothing for the write timeout.
fn not_reading(e: io::Error) -> io::Error {
    match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => {
            io::Error::new(ErrorKind::TimedOut, "the peer is not reading: no byte taken for keepalive_timeout")
        }
        _ => e,
    }
}
