#![no_main]
//! permessage-deflate's inflate path: whole-frame and chunked inflation agree,
//! stay within the message limit and never panic (`wsmachine_fuzz::codec::deflate_inflate`).

libfuzzer_sys::fuzz_target!(|data: &[u8]| wsmachine_fuzz::codec::deflate_inflate(data));
