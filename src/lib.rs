//! wsmachine: a sans-IO WebSocket (RFC 6455) protocol engine.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(missing_debug_implementations)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod close;
mod config;
mod connection;
mod entropy;
mod error;
mod event;
mod frame;
pub mod handshake;
mod mask;
mod state;
mod utf8;

pub use bytes::{Bytes, BytesMut};
pub use close::{CloseCode, MAX_REASON_LEN};
pub use config::{Config, Role};
pub use connection::Connection;
pub use entropy::Entropy;
#[cfg(feature = "getrandom")]
pub use entropy::OsEntropy;
pub use error::{BrowserCloseError, CloseError, ConnectionError, HandshakeError, ProtocolError, SendError};
pub use event::{CloseFrame, Closed, Event, Message, Negotiated, Output, Text};
pub use state::ReadyState;

/// Internals exposed for the fuzz targets only (`--cfg fuzzing`); not a
/// stable API.
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing {
    use crate::config::Role;
    use crate::frame::{MAX_HEADER_LEN, Rules, decode_header, encode_header, header_len};

    /// Decodes a frame header from `data` in both roles and checks the
    /// codec's invariants: a decoded header re-encodes to the same bytes
    /// (lengths are minimal), and every prefix of a valid header asks for
    /// more bytes rather than failing differently.
    pub fn frame_decode(data: &[u8]) {
        for receiver in [Role::Server, Role::Client] {
            let rules = Rules { receiver, rsv_allowed: 0b100, max_frame_size: 1 << 20 };
            if let Ok(Some((h, n))) = decode_header(data, &rules) {
                let len = usize::try_from(h.len).expect("checked against max_frame_size");
                assert_eq!(n, header_len(len, h.mask.is_some()));
                let mut buf = [0u8; MAX_HEADER_LEN];
                let m = encode_header(&mut buf, h.fin, h.rsv, h.opcode, h.mask, len);
                assert_eq!(&buf[..m], &data[..n], "re-encoding differs");
                for cut in 0..n {
                    assert_eq!(decode_header(&data[..cut], &rules), Ok(None), "prefix {cut}");
                }
            }
        }
    }

    /// Applies the mask at `offset` in one go and split at `split`, and
    /// checks both agree and that masking twice restores the input.
    pub fn mask_split(data: &[u8], key: [u8; 4], offset: usize, split: usize) {
        let mut whole = data.to_vec();
        crate::mask::apply_mask(&mut whole, key, offset);
        let mut parts = data.to_vec();
        let split = split.min(parts.len());
        let (a, b) = parts.split_at_mut(split);
        crate::mask::apply_mask(a, key, offset);
        crate::mask::apply_mask(b, key, offset + split);
        assert_eq!(whole, parts);
        crate::mask::apply_mask(&mut whole, key, offset);
        assert_eq!(whole, data);
    }
}
