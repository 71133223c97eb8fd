//! Frame header decoding in both roles: re-encoding round-trips and every
//! prefix of a valid header asks for more bytes (see
//! `wsmachine_fuzz::codec::frame_decode`, built only with `--cfg fuzzing`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    wsmachine_fuzz::codec::frame_decode(data);
});
