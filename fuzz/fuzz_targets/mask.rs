//! XOR masking: applied whole or split at any point and at any payload
//! offset gives the same bytes, and masking twice restores the input; the
//! same for masking while copying (`extend_masked_at`, into a `BytesMut`)
//! and while appending to a vector (`extend_unmasked`, the receiver's
//! fragment assembly, and `extend_unmasked_is_ascii`, which also tells
//! whether a text fragment is ASCII) and into a slice (`mask_into`, a client's pieces in
//! `write_to`), and the short-frame pass (`unmask_is_ascii`) agrees on the
//! bytes and on whether they are ASCII.
//!
//! Input: 4 bytes of key, 2 bytes of offset (big-endian), 2 bytes of split
//! point (big-endian), then the payload.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut head = [0u8; 8];
    let n = data.len().min(8);
    head[..n].copy_from_slice(&data[..n]);
    let key = [head[0], head[1], head[2], head[3]];
    let offset = usize::from(u16::from_be_bytes([head[4], head[5]]));
    let split = usize::from(u16::from_be_bytes([head[6], head[7]]));
    wsmachine_fuzz::codec::mask_split(&data[n..], key, offset, split);
});
