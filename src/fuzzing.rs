//! Entry points into internals for the fuzz targets (`--cfg fuzzing`). Each
//! is a one-line forward with public types in its signature; the checks the
//! targets make are theirs, in `fuzz/src`.

use alloc::vec::Vec;

use bytes::BytesMut;

use crate::config::Role;
use crate::error::{HandshakeError, ProtocolError};
use crate::frame::{self, MAX_HEADER_LEN, Rules};
use crate::handshake::{self, Accepted, ClientRequest, Limits, Rejection, Request};

/// A decoded frame header (RFC 6455 §5.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// FIN.
    pub fin: bool,
    /// RSV1..RSV3 as `0bRSV1_RSV2_RSV3`.
    pub rsv: u8,
    /// The opcode.
    pub opcode: u8,
    /// The masking key, if the frame is masked.
    pub mask: Option<[u8; 4]>,
    /// The payload length.
    pub len: u64,
}

/// The frame codec's header decoder, for a receiver in `receiver`'s role
/// that allows the RSV bits `rsv_allowed` and payloads up to
/// `max_frame_size`: the header and its length, or `None` for "more bytes".
pub fn decode_header(
    buf: &[u8],
    receiver: Role,
    rsv_allowed: u8,
    max_frame_size: usize,
) -> Result<Option<(FrameHeader, usize)>, ProtocolError> {
    let rules = Rules { receiver, rsv_allowed, max_frame_size };
    Ok(frame::decode_header(buf, &rules)?
        .map(|(h, n)| (FrameHeader { fin: h.fin, rsv: h.rsv, opcode: h.opcode, mask: h.mask, len: h.len }, n)))
}

/// The frame codec's header encoder (minimal length form).
pub fn encode_header(fin: bool, rsv: u8, opcode: u8, mask: Option<[u8; 4]>, len: usize) -> Vec<u8> {
    let mut out = [0u8; MAX_HEADER_LEN];
    let n = frame::encode_header(&mut out, fin, rsv, opcode, mask, len);
    out[..n].to_vec()
}

/// The header length for a payload of `len` bytes.
pub fn header_len(len: usize, masked: bool) -> usize {
    frame::header_len(len, masked)
}

/// XORs `buf` with `key` as if it started `offset` bytes into a payload.
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    crate::mask::apply_mask(buf, key, offset);
}

/// Appends `src` masked with `key` at `offset` to `dst` (masking while
/// copying: the client's send path and fragment assembly).
pub fn extend_masked_at(dst: &mut BytesMut, src: &[u8], key: [u8; 4], offset: usize) {
    crate::mask::extend_masked_at(dst, src, key, offset);
}

/// Appends `src` masked with `key` at `offset` to a vector in one pass (the
/// receiver's fragment assembly).
pub fn extend_unmasked(dst: &mut Vec<u8>, src: &[u8], key: [u8; 4], offset: usize) {
    crate::mask::extend_unmasked(dst, src, key, offset);
}

/// [`extend_unmasked`], telling whether the bytes appended are all ASCII
/// (the receiver's assembly of a text that has been ASCII so far).
pub fn extend_unmasked_is_ascii(dst: &mut Vec<u8>, src: &[u8], key: [u8; 4], offset: usize) -> bool {
    crate::mask::extend_unmasked_is_ascii(dst, src, key, offset)
}

/// Writes `src` masked with `key` at `offset` into `dst`, as long (the
/// client's piece-by-piece masking in `write_to`).
#[cfg(feature = "std")]
pub fn mask_into(dst: &mut [u8], src: &[u8], key: [u8; 4], offset: usize) {
    crate::mask::mask_into(dst, src, key, offset);
}

/// Unmasks `buf` in place with `key` (from payload byte 0) and says whether
/// the result is all ASCII (the short-frame fast path's one pass).
pub fn unmask_is_ascii(buf: &mut [u8], key: [u8; 4]) -> bool {
    crate::mask::unmask_is_ascii(buf, key)
}

/// The incremental UTF-8 validator of text messages (RFC 6455 §8.1), with
/// the SIMD validator the build chose (feature `avx512-utf8` or not).
#[derive(Debug, Default)]
pub struct Utf8Validator(crate::utf8::Utf8Validator);

impl Utf8Validator {
    /// Validates the next chunk; `Err` once the text so far is invalid.
    #[allow(clippy::result_unit_err)]
    pub fn feed(&mut self, data: &[u8]) -> Result<(), ()> {
        self.0.feed(data)
    }

    /// Whether the text fed so far ends on a code point boundary.
    pub fn is_complete(&self) -> bool {
        self.0.is_complete()
    }
}

/// One direction's permessage-deflate decompressor (RFC 7692 §7.2.2), with
/// context takeover or not, 15-bit windows.
#[cfg(feature = "deflate")]
#[derive(Debug)]
pub struct Inflater(crate::deflate::Inflater);

#[cfg(feature = "deflate")]
impl Inflater {
    /// A codec for the receiving side of `role`; `no_context_takeover` for
    /// both directions; `release_idle` as [`DeflateConfig::release_idle`](crate::DeflateConfig).
    pub fn new(role: Role, no_context_takeover: bool, release_idle: bool) -> Self {
        let params = crate::deflate::Params {
            server_no_context_takeover: no_context_takeover,
            client_no_context_takeover: no_context_takeover,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        };
        let cfg = crate::DeflateConfig::default().with_release_idle(release_idle);
        Self(crate::deflate::Deflate::new(role == Role::Client, &params, &cfg).split().1)
    }

    /// Inflates one frame's payload whole, the message up to `max` bytes.
    pub fn decompress(&mut self, input: &[u8], fin: bool, out: &mut BytesMut, max: usize) -> Result<(), &'static str> {
        self.0.decompress(input, fin, out, max).map_err(inflate_error)
    }

    /// Inflates at most `out_limit` bytes of one frame's payload: the bytes
    /// of `input` consumed, and whether the frame is finished.
    pub fn decompress_into(
        &mut self,
        input: &[u8],
        fin: bool,
        out: &mut BytesMut,
        out_limit: usize,
        max: usize,
    ) -> Result<(usize, bool), &'static str> {
        let step = self.0.decompress_into(input, fin, out, out_limit, max).map_err(inflate_error)?;
        Ok((step.consumed, step.finished))
    }
}

#[cfg(feature = "deflate")]
fn inflate_error(e: crate::deflate::InflateError) -> &'static str {
    match e {
        crate::deflate::InflateError::TooLarge => "too large",
        crate::deflate::InflateError::Corrupt => "corrupt",
    }
}

/// What a head reader found in the bytes received so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestHead {
    /// More bytes are needed.
    Partial,
    /// A valid upgrade request and the length of its head.
    Complete(Request, usize),
    /// A plain HTTP request (not an upgrade) and the length of its head.
    NotUpgrade(alloc::boxed::Box<Request>, usize),
}

/// The server's incremental head reader (RFC 6455 §4.2.1), as a connection
/// runs it.
#[derive(Debug, Default)]
pub struct RequestReader(handshake::RequestReader);

impl RequestReader {
    /// What the reader decides having received `buf` (everything so far),
    /// and, with `eof`, at the end of the input.
    pub fn poll(
        &mut self,
        buf: &[u8],
        eof: bool,
        max_head_size: usize,
        max_headers: usize,
    ) -> Result<RequestHead, HandshakeError> {
        Ok(match self.0.poll(buf, eof, Limits { max_head_size, max_headers })? {
            handshake::RequestParse::Partial => RequestHead::Partial,
            handshake::RequestParse::Complete(r, n) => RequestHead::Complete(r, n),
            handshake::RequestParse::NotUpgrade(r, n) => RequestHead::NotUpgrade(r, n),
        })
    }
}

/// What a response reader found in the bytes received so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResponseHead {
    /// More bytes are needed.
    Partial,
    /// A valid 101 and the length of its head (and of any interim 1xx
    /// heads before it).
    Accepted(Accepted, usize),
    /// A complete non-101 response and the length of head and body.
    Rejected(Rejection, usize),
}

/// The client's incremental response reader (RFC 6455 §4.1), as a
/// connection runs it.
#[derive(Debug, Default)]
pub struct ResponseReader(handshake::ResponseReader);

impl ResponseReader {
    /// What the reader decides for the request `req` sent with `key`,
    /// having received `buf` (everything so far), and, with `eof`, at the
    /// end of the input.
    pub fn poll(
        &mut self,
        buf: &[u8],
        eof: bool,
        req: &ClientRequest,
        key: &str,
        max_head_size: usize,
        max_headers: usize,
    ) -> Result<ResponseHead, HandshakeError> {
        Ok(match self.0.poll(buf, eof, req, key, Limits { max_head_size, max_headers })? {
            handshake::ResponseParse::Partial => ResponseHead::Partial,
            handshake::ResponseParse::Accepted(a, n) => ResponseHead::Accepted(a, n),
            handshake::ResponseParse::Rejected(r, n) => ResponseHead::Rejected(r, n),
        })
    }
}
