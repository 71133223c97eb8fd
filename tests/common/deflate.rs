//! A connection opened with permessage-deflate as a handshake done
//! elsewhere agreed, shared by the test files (through `tests/common`) and
//! the fuzz crate (through `#[path]`).

use wsmachine::handshake::parse_extensions;
use wsmachine::{Config, Connection, DeflateConfig, Entropy, Role};

/// `role`, OPEN, running permessage-deflate with the settings of `cfg`;
/// `takeover` keeps the LZ77 window between messages in both directions
/// (else both `*_no_context_takeover` were agreed).
pub fn open_deflate(
    role: Role,
    takeover: bool,
    cfg: DeflateConfig,
    base: Config,
    entropy: impl Entropy + Send + 'static,
) -> Connection {
    let cfg = cfg.with_server_no_context_takeover(!takeover).with_client_no_context_takeover(!takeover);
    let agreed = if takeover {
        "permessage-deflate"
    } else {
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
    };
    Connection::new_open(role, base.with_deflate(Some(cfg)), entropy)
        .with_extensions(&parse_extensions(agreed).expect("valid"))
        .expect("agreed")
}
