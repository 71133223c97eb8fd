//! Extensions (RFC 6455 §9) as the connection sees them: one hook for
//! negotiation and one per direction for the frames.
//!
//! The connection never names an extension. It asks [`negotiate_server`],
//! [`client_offer`], [`client_accept`] or [`agreed_elsewhere`] for an
//! [`Agreed`] set, hands its [`TxExtensions`] to the sender and its
//! [`RxExtensions`] to the receiver, and those ask them whether to compress
//! and how to inflate. permessage-deflate (RFC 7692) is the one extension
//! implemented; without the `deflate` feature every hook is a no-op that
//! agrees to nothing, so nothing about extensions is `#[cfg]` outside this
//! file.

#[cfg(feature = "deflate")]
use alloc::boxed::Box;
use alloc::vec::Vec;
use bytes::BytesMut;

use crate::config::{Config, Role};
use crate::error::ProtocolError;
use crate::handshake::{ClientRequest, ExtensionOffer, HandshakeError, Offers, UsageError};

/// The RSV1 bit (`0bRSV1_RSV2_RSV3`): permessage-deflate's "compressed"
/// flag (RFC 7692 §6).
pub(crate) const RSV1: u8 = 0b100;

/// The extensions both ends agreed on: the response elements that name
/// them (what `Event::Open` reports) and the state that runs them, one part
/// per direction.
#[derive(Debug, Default)]
pub(crate) struct Agreed {
    pub(crate) responses: Vec<ExtensionOffer>,
    pub(crate) tx: TxExtensions,
    pub(crate) rx: RxExtensions,
}

/// The sending side of the agreed extensions.
#[derive(Debug, Default)]
pub(crate) struct TxExtensions {
    #[cfg(feature = "deflate")]
    deflate: Option<Box<crate::deflate::Deflater>>,
}

/// The receiving side of the agreed extensions.
#[derive(Debug, Default)]
pub(crate) struct RxExtensions {
    #[cfg(feature = "deflate")]
    deflate: Option<Box<crate::deflate::Inflater>>,
}

/// One step of [`RxExtensions::inflate_step`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Inflated {
    /// Input bytes consumed.
    pub(crate) consumed: usize,
    /// All input consumed and no output held back.
    pub(crate) finished: bool,
}

#[cfg(feature = "deflate")]
mod imp {
    use super::*;
    use crate::deflate::{self, Deflate, InflateError};

    impl TxExtensions {
        /// Whether a whole message of `len` bytes goes out compressed, with
        /// RSV1 on its first frame (below the threshold it goes plain, RFC
        /// 7692 §6.1).
        pub(crate) fn compresses(&self, len: usize) -> bool {
            self.deflate.as_ref().is_some_and(|d| d.should_compress(len))
        }

        /// Whether messages sent in pieces are compressed (their size is
        /// unknown, so no threshold applies).
        pub(crate) fn compresses_streams(&self) -> bool {
            self.deflate.is_some()
        }

        /// Compresses a whole message (see [`compresses`](Self::compresses)).
        pub(crate) fn compress(&mut self, payload: &[u8], out: &mut BytesMut) {
            if let Some(d) = &mut self.deflate {
                d.compress(payload, out);
            }
        }

        /// Compresses the next piece of a streamed message; with `fin` the
        /// message ends. Output may be held back until a later piece.
        pub(crate) fn compress_chunk(&mut self, chunk: &[u8], fin: bool, out: &mut BytesMut) {
            if let Some(d) = &mut self.deflate {
                d.compress_chunk(chunk, fin, out);
            }
        }
    }

    impl TxExtensions {
        /// Flushes what the compressor holds of a streamed message that
        /// will not be finished (our Close cuts it short), as a non-final
        /// piece.
        pub(crate) fn flush(&mut self, out: &mut BytesMut) {
            if let Some(d) = &mut self.deflate {
                d.flush(out);
            }
        }
    }

    impl RxExtensions {
        /// The RSV bits the agreed extensions define.
        pub(crate) fn rsv_allowed(&self) -> u8 {
            if self.deflate.is_some() { RSV1 } else { 0 }
        }

        /// Inflates one whole frame of a compressed message into `out`; the
        /// message so far never exceeds `max` bytes.
        pub(crate) fn inflate(
            &mut self,
            payload: &[u8],
            fin: bool,
            out: &mut BytesMut,
            max: usize,
        ) -> Result<(), ProtocolError> {
            let Some(d) = &mut self.deflate else {
                return Err(ProtocolError::ReservedBits(RSV1));
            };
            d.decompress(payload, fin, out, max).map_err(|e| inflate_error(e, max))
        }

        /// Inflates at most `limit` bytes of a compressed frame's payload
        /// into `out` (streaming receive).
        pub(crate) fn inflate_step(
            &mut self,
            input: &[u8],
            fin: bool,
            out: &mut BytesMut,
            limit: usize,
            max: usize,
        ) -> Result<Inflated, ProtocolError> {
            let Some(d) = &mut self.deflate else {
                return Err(ProtocolError::ReservedBits(RSV1));
            };
            let step = d.decompress_into(input, fin, out, limit, max).map_err(|e| inflate_error(e, max))?;
            Ok(Inflated { consumed: step.consumed, finished: step.finished })
        }
    }

    /// The protocol error an inflate failure fails the connection with.
    fn inflate_error(e: InflateError, max: usize) -> ProtocolError {
        match e {
            InflateError::TooLarge => ProtocolError::MessageTooLarge { size: (max as u64).saturating_add(1), max },
            InflateError::Corrupt => ProtocolError::InvalidCompressedData,
        }
    }

    impl Agreed {
        fn deflate(response: ExtensionOffer, codec: Deflate) -> Self {
            let (tx, rx) = codec.split();
            Self {
                responses: alloc::vec![response],
                tx: TxExtensions { deflate: Some(Box::new(tx)) },
                rx: RxExtensions { deflate: Some(Box::new(rx)) },
            }
        }
    }

    /// The request a client sends: with `Config::deflate`, the configured
    /// permessage-deflate offer replaces any in the request, so the answer
    /// is judged against what was actually offered.
    pub(crate) fn client_offer(config: &Config, request: ClientRequest) -> ClientRequest {
        match &config.deflate {
            Some(cfg) => request.without_extension(deflate::EXTENSION_NAME).extension(deflate::client_offer(cfg)),
            None => request,
        }
    }

    /// The extension hook, client side (RFC 6455 §9.1): every extension the
    /// server accepted must be one this endpoint offered and runs, accepted
    /// with parameters it allows (RFC 7692 §7.1).
    pub(crate) fn client_accept(config: &Config, accepted: &[ExtensionOffer]) -> Result<Agreed, HandshakeError> {
        let mut agreed = Agreed::default();
        for e in accepted {
            match &config.deflate {
                Some(cfg) if e.name.eq_ignore_ascii_case(deflate::EXTENSION_NAME) => {
                    if !agreed.responses.is_empty() {
                        return Err(HandshakeError::InvalidDeflateResponse(deflate::DeflateNegotiationError::Repeated));
                    }
                    let params = deflate::client_accept(cfg, e).map_err(HandshakeError::InvalidDeflateResponse)?;
                    agreed = Agreed::deflate(e.clone(), Deflate::new(true, &params, cfg));
                }
                _ => return Err(HandshakeError::UnsupportedExtension(e.name.clone())),
            }
        }
        Ok(agreed)
    }

    /// The extension hook, server side: the answers to the client's offers
    /// for the extensions this endpoint runs (RFC 6455 §9.1); offers it
    /// cannot honour are declined by omission. The same for an HTTP/1.1
    /// upgrade and an RFC 8441 extended CONNECT (any [`Offers`]).
    pub(crate) fn negotiate_server<R: Offers + ?Sized>(config: &Config, request: &R) -> Agreed {
        let Some(cfg) = &config.deflate else { return Agreed::default() };
        match deflate::server_negotiate(cfg, &request.offered_extensions()) {
            Some((response, params)) => Agreed::deflate(response, Deflate::new(false, &params, cfg)),
            None => Agreed::default(),
        }
    }

    /// The extensions a handshake done elsewhere agreed on, given as the
    /// response's elements. permessage-deflate runs with the agreed
    /// parameters and the compression settings of `Config::deflate` (or the
    /// defaults); any other extension is unsupported.
    pub(crate) fn agreed_elsewhere(
        config: &Config,
        role: Role,
        elements: &[ExtensionOffer],
    ) -> Result<Agreed, UsageError> {
        let mut agreed = Agreed::default();
        for e in elements {
            if !e.name.eq_ignore_ascii_case(deflate::EXTENSION_NAME) || !agreed.responses.is_empty() {
                return Err(UsageError::UnsupportedExtension(e.name.clone()));
            }
            let params = deflate::agreed_params(e).map_err(UsageError::InvalidDeflateParameters)?;
            let cfg = config.deflate.clone().unwrap_or_default();
            agreed = Agreed::deflate(e.clone(), Deflate::new(role == Role::Client, &params, &cfg));
        }
        Ok(agreed)
    }
}

#[cfg(not(feature = "deflate"))]
mod imp {
    use super::*;

    impl TxExtensions {
        /// No extension compresses.
        pub(crate) fn compresses(&self, _len: usize) -> bool {
            false
        }

        /// No extension compresses.
        pub(crate) fn compresses_streams(&self) -> bool {
            false
        }

        /// Not reached: nothing compresses.
        pub(crate) fn compress(&mut self, _payload: &[u8], _out: &mut BytesMut) {}

        /// Not reached: nothing compresses.
        pub(crate) fn compress_chunk(&mut self, _chunk: &[u8], _fin: bool, _out: &mut BytesMut) {}

        /// Nothing is held.
        pub(crate) fn flush(&mut self, _out: &mut BytesMut) {}
    }

    impl RxExtensions {
        /// No RSV bit is defined.
        pub(crate) fn rsv_allowed(&self) -> u8 {
            0
        }

        /// Not reached: RSV1 is refused at the frame header.
        pub(crate) fn inflate(
            &mut self,
            _payload: &[u8],
            _fin: bool,
            _out: &mut BytesMut,
            _max: usize,
        ) -> Result<(), ProtocolError> {
            Err(ProtocolError::ReservedBits(RSV1))
        }

        /// Not reached: RSV1 is refused at the frame header.
        pub(crate) fn inflate_step(
            &mut self,
            _input: &[u8],
            _fin: bool,
            _out: &mut BytesMut,
            _limit: usize,
            _max: usize,
        ) -> Result<Inflated, ProtocolError> {
            Err(ProtocolError::ReservedBits(RSV1))
        }
    }

    /// The request as the application built it.
    pub(crate) fn client_offer(_config: &Config, request: ClientRequest) -> ClientRequest {
        request
    }

    /// Every extension the server accepted is one this endpoint cannot run.
    pub(crate) fn client_accept(_config: &Config, accepted: &[ExtensionOffer]) -> Result<Agreed, HandshakeError> {
        match accepted.first() {
            Some(e) => Err(HandshakeError::UnsupportedExtension(e.name.clone())),
            None => Ok(Agreed::default()),
        }
    }

    /// Every offer is declined.
    pub(crate) fn negotiate_server<R: Offers + ?Sized>(_config: &Config, _request: &R) -> Agreed {
        Agreed::default()
    }

    /// Every extension is unsupported.
    pub(crate) fn agreed_elsewhere(
        _config: &Config,
        _role: Role,
        elements: &[ExtensionOffer],
    ) -> Result<Agreed, UsageError> {
        match elements.first() {
            Some(e) => Err(UsageError::UnsupportedExtension(e.name.clone())),
            None => Ok(Agreed::default()),
        }
    }
}

pub(crate) use imp::{agreed_elsewhere, client_accept, client_offer, negotiate_server};
