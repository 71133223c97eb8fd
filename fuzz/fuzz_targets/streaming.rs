//! Streaming receive against assembled delivery: the same chunks to two
//! connections that differ only in `streaming_receive` (byte 1 bit 5 picks
//! the role: set for a client) give the same outputs once streamed messages are folded; see
//! `wsmachine_fuzz::run_streaming`. The input format is the stream
//! targets' (`wsmachine_fuzz::Input`), the `streaming_receive` bit aside;
//! with mixed feeding both connections get each chunk through the same
//! input method (`handle_bytes`, `handle_bytes_owned` or `read_buffer`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let role = if data.len() > 1 && data[1] & 0x20 != 0 { wsmachine::Role::Client } else { wsmachine::Role::Server };
    wsmachine_fuzz::run_streaming(role, data);
});
