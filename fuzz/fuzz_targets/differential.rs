//! wsmachine against tungstenite on the same received bytes; see
//! `wsmachine_fuzz::differential` for the input format and the known,
//! justified differences.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    wsmachine_fuzz::differential::run(data);
});
