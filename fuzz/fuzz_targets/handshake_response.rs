//! The client's response parser (`wsmachine::fuzzing::parse_response`) on
//! arbitrary bytes: see `wsmachine_fuzz::heads` for the input format and the
//! checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    wsmachine_fuzz::heads::response(data);
});
