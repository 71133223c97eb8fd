//! Arbitrary interleavings of commands, inputs, timeouts and partial polls
//! on one connection of either role (structured input via `arbitrary`); see
//! `wsmachine_fuzz::api` for the operations and the checks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsmachine_fuzz::api::{ApiInput, run};

fuzz_target!(|input: ApiInput| {
    run(input);
});
