//! RFC 8441's extended CONNECT (`wsmachine::handshake::h2`):
//! `ConnectRequest::from_fields` and `validate_response` on arbitrary
//! HTTP/2 header lists; see `wsmachine_fuzz::h2` for the input format and
//! the checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    wsmachine_fuzz::h2::connect(data);
});
