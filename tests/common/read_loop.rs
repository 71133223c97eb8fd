//! The README's reading loop over bytes in memory, for
//! `tests/memory_properties.rs` and the `memory` fuzz target (through
//! `#[path]`): one copy, so the two drive `read_from` alike.

use wsmachine::{Connection, EventRef};

/// What [`read_all`] hands its caller, in order.
pub enum Turn<'a> {
    /// An event, taken with `poll_event_ref` (messages lent).
    Event(EventRef<'a>),
    /// The events of one read are taken: the driver's turn to write (and
    /// to take what `poll_event_ref` leaves, behind `CloseTransport`).
    Read(&'a mut Connection),
}

/// Feeds `bytes` to `conn` as the README's loop does: `read_from` (as many
/// calls as it takes), after each call every event through
/// `poll_event_ref`, then [`Turn::Read`].
pub fn read_all(conn: &mut Connection, mut bytes: &[u8], mut on: impl FnMut(Turn<'_>)) {
    while !bytes.is_empty() {
        conn.read_from(&mut bytes).expect("a slice reads");
        while let Some(event) = conn.poll_event_ref() {
            on(Turn::Event(event));
        }
        on(Turn::Read(conn));
    }
}
