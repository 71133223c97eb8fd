//! The checks of the codec-level targets (`frame_decode`, `mask`,
//! `deflate_inflate`, `utf8`) and the head readers fed as a connection feeds them
//! (`heads`, the stream targets), over the thin entry points of
//! `wsmachine::fuzzing`.

use wsmachine::fuzzing::{
    FrameHeader, Inflater, RequestHead, RequestReader, ResponseHead, ResponseReader, Utf8Validator, apply_mask,
    decode_header, encode_header, extend_masked_at, extend_unmasked, extend_unmasked_is_ascii, header_len, mask_into,
    unmask_is_ascii,
};
use wsmachine::handshake::ClientRequest;
use wsmachine::{BytesMut, HandshakeError, Role};

/// Decodes a frame header from `data` in both roles and checks the codec's
/// invariants: a decoded header re-encodes to the same bytes (lengths are
/// minimal), and every prefix of a valid header asks for more bytes rather
/// than failing differently.
pub fn frame_decode(data: &[u8]) {
    for receiver in [Role::Server, Role::Client] {
        let decode = |bytes: &[u8]| decode_header(bytes, receiver, 0b100, 1 << 20);
        if let Ok(Some((h, n))) = decode(data) {
            let FrameHeader { fin, rsv, opcode, mask, len } = h;
            let len = usize::try_from(len).expect("checked against max_frame_size");
            assert_eq!(n, header_len(len, mask.is_some()));
            assert_eq!(encode_header(fin, rsv, opcode, mask, len), &data[..n], "re-encoding differs");
            for cut in 0..n {
                assert_eq!(decode(&data[..cut]), Ok(None), "prefix {cut}");
            }
        }
    }
}

/// Inflates fuzzed permessage-deflate messages two ways — whole frames
/// (`decompress`) and in bounded chunks (`decompress_into`) — and checks
/// they agree, never exceed the message limit, and never panic.
///
/// Byte 0: flags (bit 0 role, bit 1 the peer's no_context_takeover, bit 2
/// release_idle); byte 1 picks the limit, byte 2 the chunk size; then
/// messages of frames, each a length byte (top bit: the final frame) and
/// that many payload bytes.
pub fn deflate_inflate(data: &[u8]) {
    let [flags, limit, chunk, rest @ ..] = data else { return };
    let max = [0usize, 1, 255, 4096, 65536, 1 << 20][usize::from(*limit) % 6];
    let out_limit = [1usize, 2, 7, 64, 4096][usize::from(*chunk) % 5];
    let role = if flags & 1 != 0 { Role::Client } else { Role::Server };
    let new = || Inflater::new(role, flags & 2 != 0, flags & 4 != 0);
    let (mut whole, mut chunked) = (new(), new());
    let mut rest = rest;
    while let [len, tail @ ..] = rest {
        let fin = len & 0x80 != 0;
        let n = usize::from(len & 0x7f).min(tail.len());
        let (payload, after) = tail.split_at(n);
        rest = after;
        let mut a = BytesMut::new();
        let ra = whole.decompress(payload, fin, &mut a, max);
        let mut b = BytesMut::new();
        let mut input = payload;
        let rb = loop {
            let before = b.len();
            match chunked.decompress_into(input, fin, &mut b, out_limit, max) {
                Ok((consumed, finished)) => {
                    assert!(b.len() - before <= out_limit, "chunk over its limit");
                    input = &input[consumed..];
                    if finished {
                        break Ok(());
                    }
                }
                Err(e) => break Err(e),
            }
        };
        assert!(a.len() <= max && b.len() <= max, "inflated past the limit");
        assert_eq!(ra.is_ok(), rb.is_ok(), "the two forms disagree: {ra:?} {rb:?}");
        if ra.is_err() {
            return;
        }
        assert_eq!(a, b, "the two forms inflate differently");
    }
}

/// Applies the mask at `offset` in one go and split at `split`, and checks
/// both agree, that masking while copying (whole and split) agrees, and
/// that masking twice restores the input.
pub fn mask_split(data: &[u8], key: [u8; 4], offset: usize, split: usize) {
    let mut whole = data.to_vec();
    apply_mask(&mut whole, key, offset);
    let mut parts = data.to_vec();
    let split = split.min(parts.len());
    let (a, b) = parts.split_at_mut(split);
    apply_mask(a, key, offset);
    apply_mask(b, key, offset + split);
    assert_eq!(whole, parts);
    // Masking while copying, whole and in two pieces at their offsets.
    let mut copied = BytesMut::new();
    extend_masked_at(&mut copied, data, key, offset);
    assert_eq!(&copied[..], &whole[..]);
    let mut copied = BytesMut::new();
    extend_masked_at(&mut copied, &data[..split], key, offset);
    extend_masked_at(&mut copied, &data[split..], key, offset + split);
    assert_eq!(&copied[..], &whole[..]);
    // Unmasking into a vector that already holds bytes, whole and in two
    // pieces: what was there stays, the rest is the masked input.
    let mut grown = data[..split].to_vec();
    extend_unmasked(&mut grown, data, key, offset);
    assert_eq!(&grown[..split], &data[..split]);
    assert_eq!(&grown[split..], &whole[..]);
    let mut grown = Vec::new();
    extend_unmasked(&mut grown, &data[..split], key, offset);
    extend_unmasked(&mut grown, &data[split..], key, offset + split);
    assert_eq!(grown, whole);
    // The same appending that also tells whether the bytes are ASCII (a
    // fragment of text): the same bytes, and the flag of each piece.
    let mut texts = Vec::new();
    let first = extend_unmasked_is_ascii(&mut texts, &data[..split], key, offset);
    let second = extend_unmasked_is_ascii(&mut texts, &data[split..], key, offset + split);
    assert_eq!(texts, whole);
    assert_eq!((first, second), (whole[..split].is_ascii(), whole[split..].is_ascii()));
    // The short-frame pass: the same bytes (from offset 0), and ASCII
    // exactly when no byte has its high bit set.
    let mut short = data.to_vec();
    let ascii = unmask_is_ascii(&mut short, key);
    let mut expected = data.to_vec();
    apply_mask(&mut expected, key, 0);
    assert_eq!(short, expected);
    assert_eq!(ascii, expected.is_ascii());
    // Masking into a slice as long (a client's pieces in `write_to`),
    // whole and in two pieces at their offsets.
    let mut into = vec![0u8; data.len()];
    mask_into(&mut into, data, key, offset);
    assert_eq!(into, whole);
    let (a, b) = into.split_at_mut(split);
    mask_into(a, &data[..split], key, offset);
    mask_into(b, &data[split..], key, offset + split);
    assert_eq!(into, whole);
    apply_mask(&mut whole, key, offset);
    assert_eq!(whole, data);
}

/// The server's head reader with these limits: what the connection decides
/// having received `buf` (in any pieces), and, with `eof`, at the end.
pub fn parse_request(
    buf: &[u8],
    eof: bool,
    max_head_size: usize,
    max_headers: usize,
) -> Result<RequestHead, HandshakeError> {
    parse_request_stepwise(buf, eof, usize::MAX, max_head_size, max_headers)
}

/// [`parse_request`] fed as a connection is, in reads of `step` bytes (at
/// least 1) until it decides, then EOF if `eof`.
pub fn parse_request_stepwise(
    buf: &[u8],
    eof: bool,
    step: usize,
    max_head_size: usize,
    max_headers: usize,
) -> Result<RequestHead, HandshakeError> {
    let mut reader = RequestReader::default();
    stepwise(buf, eof, step, RequestHead::Partial, |bytes, eof| reader.poll(bytes, eof, max_head_size, max_headers))
}

/// The client's response reader for the request `req` sent with `key`:
/// what the connection decides having received `buf` (in any pieces), and,
/// with `eof`, at the end.
pub fn parse_response(
    buf: &[u8],
    eof: bool,
    req: &ClientRequest,
    key: &str,
    max_head_size: usize,
    max_headers: usize,
) -> Result<ResponseHead, HandshakeError> {
    parse_response_stepwise(buf, eof, usize::MAX, req, key, max_head_size, max_headers)
}

/// [`parse_response`] fed as a connection is, in reads of `step` bytes (at
/// least 1) until it decides, then EOF if `eof`.
pub fn parse_response_stepwise(
    buf: &[u8],
    eof: bool,
    step: usize,
    req: &ClientRequest,
    key: &str,
    max_head_size: usize,
    max_headers: usize,
) -> Result<ResponseHead, HandshakeError> {
    let mut reader = ResponseReader::default();
    stepwise(buf, eof, step, ResponseHead::Partial, |bytes, eof| {
        reader.poll(bytes, eof, req, key, max_head_size, max_headers)
    })
}

/// Feeds `poll` growing prefixes of `buf`, `step` more bytes each time,
/// until it decides (anything but `partial`), then the whole with EOF if
/// `eof` and still undecided.
fn stepwise<T: PartialEq + Clone>(
    buf: &[u8],
    eof: bool,
    step: usize,
    partial: T,
    mut poll: impl FnMut(&[u8], bool) -> Result<T, HandshakeError>,
) -> Result<T, HandshakeError> {
    let undecided = |r: &Result<T, HandshakeError>| matches!(r, Ok(t) if *t == partial);
    let mut result = Ok(partial.clone());
    let mut end = 0;
    while end < buf.len() && undecided(&result) {
        end = end.saturating_add(step.max(1)).min(buf.len());
        result = poll(&buf[..end], false);
    }
    if eof && undecided(&result) {
        result = poll(buf, true);
    }
    result
}

/// The `utf8` target: the text after the cuts (see the target's input
/// format) fed to the validator chunk by chunk, each verdict checked against
/// `str::from_utf8` of the text so far, and completeness at the end.
pub fn utf8_cut_anywhere(data: &[u8]) {
    let Some((&n, rest)) = data.split_first() else { return };
    let n = usize::from(n % 8).min(rest.len() / 2);
    let (cuts, text) = rest.split_at(2 * n);
    let mut at: Vec<usize> =
        cuts.chunks_exact(2).map(|c| usize::from(u16::from_be_bytes([c[0], c[1]])) % (text.len() + 1)).collect();
    at.push(0);
    at.push(text.len());
    at.sort_unstable();
    let mut v = Utf8Validator::default();
    for w in at.windows(2) {
        let so_far = &text[..w[1]];
        // Invalid so far: an error that is not just the end cut short.
        let invalid = match std::str::from_utf8(so_far) {
            Ok(_) => false,
            Err(e) => e.error_len().is_some(),
        };
        let verdict = v.feed(&text[w[0]..w[1]]);
        assert_eq!(verdict.is_err(), invalid, "after {} of {} bytes", w[1], text.len());
        if invalid {
            return;
        }
    }
    assert_eq!(v.is_complete(), std::str::from_utf8(text).is_ok());
}
