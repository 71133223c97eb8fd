//! The base framing protocol (RFC 6455 §5.2): incremental header decoding and
//! minimal header encoding.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-------+-+-------------+-------------------------------+
//! |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
//! |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
//! |N|V|V|V|       |S|             |   (if payload len==126/127)   |
//! | |1|2|3|       |K|             |                               |
//! +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
//! |     Extended payload length continued, if payload len == 127  |
//! + - - - - - - - - - - - - - - - +-------------------------------+
//! |                               |Masking-key, if MASK set to 1  |
//! +-------------------------------+-------------------------------+
//! ```

use crate::config::Role;
use crate::error::ProtocolError;

/// Opcode 0x0: continuation frame.
pub(crate) const CONTINUATION: u8 = 0x0;
/// Opcode 0x1: text frame.
pub(crate) const TEXT: u8 = 0x1;
/// Opcode 0x2: binary frame.
pub(crate) const BINARY: u8 = 0x2;
/// Opcode 0x8: connection close.
pub(crate) const CLOSE: u8 = 0x8;
/// Opcode 0x9: ping.
pub(crate) const PING: u8 = 0x9;
/// Opcode 0xA: pong.
pub(crate) const PONG: u8 = 0xA;

/// The longest header: 2 + 8 bytes of length + 4 bytes of mask.
pub(crate) const MAX_HEADER_LEN: usize = 14;
/// The longest control frame payload (§5.5).
pub(crate) const MAX_CONTROL_PAYLOAD: usize = 125;

/// Is this opcode a control frame (§5.5)?
#[inline]
pub(crate) const fn is_control(opcode: u8) -> bool {
    opcode & 0x8 != 0
}

/// A decoded frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) fin: bool,
    /// RSV1..RSV3 as the low three bits (`0bRSV1_RSV2_RSV3`).
    pub(crate) rsv: u8,
    pub(crate) opcode: u8,
    pub(crate) mask: Option<[u8; 4]>,
    pub(crate) len: u64,
}

/// What the receiving endpoint accepts.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rules {
    /// The role of the endpoint that *receives* the frames.
    pub(crate) receiver: Role,
    /// RSV bits a negotiated extension defines (`0bRSV1_RSV2_RSV3`).
    pub(crate) rsv_allowed: u8,
    /// The largest payload accepted ([`Config::max_frame_size`](crate::Config)).
    pub(crate) max_frame_size: usize,
}

/// Decodes the header at the front of `buf`.
///
/// `Ok(None)` means more bytes are needed, which is not an error. Every rule
/// that can be checked from the bytes seen so far is checked at once, so a
/// hostile header fails before its length bytes arrive where possible.
#[inline]
pub(crate) fn decode_header(buf: &[u8], rules: &Rules) -> Result<Option<(Header, usize)>, ProtocolError> {
    let Some(&b0) = buf.first() else {
        return Ok(None);
    };
    let fin = b0 & 0x80 != 0;
    let rsv = (b0 >> 4) & 0x7;
    let opcode = b0 & 0xF;
    if !matches!(opcode, CONTINUATION | TEXT | BINARY | CLOSE | PING | PONG) {
        return Err(ProtocolError::ReservedOpcode(opcode));
    }
    if rsv & !rules.rsv_allowed != 0 {
        return Err(ProtocolError::ReservedBits(rsv));
    }
    if is_control(opcode) && !fin {
        return Err(ProtocolError::FragmentedControlFrame);
    }
    let Some(&b1) = buf.get(1) else {
        return Ok(None);
    };
    let masked = b1 & 0x80 != 0;
    match (rules.receiver, masked) {
        (Role::Server, false) => return Err(ProtocolError::UnmaskedClientFrame),
        (Role::Client, true) => return Err(ProtocolError::MaskedServerFrame),
        _ => {}
    }
    let len7 = b1 & 0x7F;
    if is_control(opcode) && len7 > 125 {
        // The true length is at least 126: fail without waiting for it.
        return Err(ProtocolError::ControlFrameTooLong(u64::from(len7)));
    }
    let (len, mut pos) = match len7 {
        126 => {
            let Some(b) = buf.get(2..4) else {
                return Ok(None);
            };
            let len = u64::from(u16::from_be_bytes([b[0], b[1]]));
            if len < 126 {
                return Err(ProtocolError::NonMinimalLength(len));
            }
            (len, 4)
        }
        127 => {
            let Some(b) = buf.get(2..10) else {
                return Ok(None);
            };
            let len = u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
            if len >> 63 != 0 {
                return Err(ProtocolError::InvalidLength);
            }
            if len <= 0xFFFF {
                return Err(ProtocolError::NonMinimalLength(len));
            }
            (len, 10)
        }
        n => (u64::from(n), 2),
    };
    // Control frames are bounded by 125 above, whatever the limit.
    if !is_control(opcode) && len > rules.max_frame_size as u64 {
        return Err(ProtocolError::FrameTooLarge { size: len, max: rules.max_frame_size });
    }
    let mask = if masked {
        let Some(b) = buf.get(pos..pos + 4) else {
            return Ok(None);
        };
        pos += 4;
        Some([b[0], b[1], b[2], b[3]])
    } else {
        None
    };
    Ok(Some((Header { fin, rsv, opcode, mask, len }, pos)))
}

/// The header length for a payload of `len` bytes.
#[inline]
pub(crate) const fn header_len(len: usize, masked: bool) -> usize {
    let base = if len < 126 {
        2
    } else if len <= 0xFFFF {
        4
    } else {
        10
    };
    if masked { base + 4 } else { base }
}

/// Writes a header with the minimal length form into `out`, returning the
/// number of bytes written (at most [`MAX_HEADER_LEN`]).
#[inline]
pub(crate) fn encode_header(
    out: &mut [u8; MAX_HEADER_LEN],
    fin: bool,
    rsv: u8,
    opcode: u8,
    mask: Option<[u8; 4]>,
    len: usize,
) -> usize {
    out[0] = (u8::from(fin) << 7) | ((rsv & 0x7) << 4) | (opcode & 0xF);
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    let mut pos = if len < 126 {
        out[1] = mask_bit | len as u8;
        2
    } else if len <= 0xFFFF {
        out[1] = mask_bit | 126;
        out[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        4
    } else {
        out[1] = mask_bit | 127;
        out[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        10
    };
    if let Some(key) = mask {
        out[pos..pos + 4].copy_from_slice(&key);
        pos += 4;
    }
    pos
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVER: Rules = Rules { receiver: Role::Server, rsv_allowed: 0, max_frame_size: usize::MAX };
    const CLIENT: Rules = Rules { receiver: Role::Client, rsv_allowed: 0, max_frame_size: usize::MAX };

    #[test]
    fn partial_headers_need_more_bytes() {
        let full = [0x82, 0xFF, 0, 0, 0, 0, 0, 1, 0, 0, 1, 2, 3, 4];
        for cut in 0..full.len() {
            assert_eq!(decode_header(&full[..cut], &SERVER), Ok(None), "cut {cut}");
        }
        let (h, n) = decode_header(&full, &SERVER).unwrap().unwrap();
        assert_eq!(n, 14);
        assert_eq!(h.len, 65536);
        assert_eq!(h.mask, Some([1, 2, 3, 4]));
    }

    #[test]
    fn encode_decode_round_trip_at_length_boundaries() {
        for len in [0usize, 1, 125, 126, 127, 65535, 65536, 1 << 32] {
            for mask in [None, Some([9, 8, 7, 6])] {
                let mut buf = [0; MAX_HEADER_LEN];
                let n = encode_header(&mut buf, true, 0, BINARY, mask, len);
                assert_eq!(n, header_len(len, mask.is_some()));
                let rules = if mask.is_some() { SERVER } else { CLIENT };
                let (h, m) = decode_header(&buf[..n], &rules).unwrap().unwrap();
                assert_eq!((h.len, h.mask, m), (len as u64, mask, n));
            }
        }
    }

    #[test]
    fn rejects_non_minimal_and_msb_lengths() {
        assert_eq!(decode_header(&[0x82, 126, 0, 125], &CLIENT), Err(ProtocolError::NonMinimalLength(125)));
        assert_eq!(
            decode_header(&[0x82, 127, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF], &CLIENT),
            Err(ProtocolError::NonMinimalLength(65535))
        );
        assert_eq!(decode_header(&[0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0], &CLIENT), Err(ProtocolError::InvalidLength));
    }
}
