//! The server's head parser (`wsmachine::fuzzing::parse_request`) on
//! arbitrary bytes: see `wsmachine_fuzz::heads` for the input format and the
//! checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    wsmachine_fuzz::heads::request(data);
});
