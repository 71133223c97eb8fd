//! A client-side `Connection` fed arbitrary server bytes in arbitrary
//! chunks, then EOF; see `wsmachine_fuzz::Input` for the input format and
//! `wsmachine_fuzz::run_stream` for what is checked.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    wsmachine_fuzz::run_stream(wsmachine::Role::Client, data);
});
