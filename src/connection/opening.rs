//! The opening handshake (RFC 6455 §4) as the connection runs it.

use super::*;

impl Connection {
    /// (Server) Accepts the pending upgrade request with `101 Switching
    /// Protocols` (RFC 6455 §4.2.2): CONNECTING → OPEN, and
    /// [`Event::Open`] follows. Frames the client sent right behind its
    /// request are processed now.
    ///
    /// Without a subprotocol in `accept`, the first of
    /// [`Config::protocols`] that the client offered is chosen. Fails,
    /// changing nothing, when no upgrade request is waiting
    /// ([`HandshakeError::NoPendingRequest`]), when the subprotocol was not
    /// offered, or when an extra header is invalid or owned by the handshake.
    pub fn accept(&mut self, mut accept: Accept) -> Result<(), HandshakeError> {
        let Phase::AwaitDecision { request, upgrade: true } = &self.phase else {
            return Err(HandshakeError::NoPendingRequest);
        };
        if self.closed {
            return Err(HandshakeError::NoPendingRequest);
        }
        if accept.selected_protocol().is_none() {
            if let Some(p) = self.config.protocols.iter().find(|p| request.protocols().contains(p)) {
                accept = accept.protocol(p.clone());
            }
        }
        let agreed = self.negotiate_server_extensions(request.extensions());
        let extensions: Vec<ExtensionOffer> = agreed.iter().map(|a| a.response.clone()).collect();
        accept.set_extensions(extensions.clone());
        handshake::validate_accept(request, &accept)?;
        let mut head = Vec::new();
        handshake::write_accept(request, &accept, &mut head);
        self.append_tx(&head, 0);
        for a in agreed {
            self.run_extension(a);
        }
        let protocol = accept.selected_protocol().map(String::from);
        self.open(Negotiated { protocol, extensions });
        Ok(())
    }

    /// (Server) Answers the pending request with any other HTTP response:
    /// a rejection of an upgrade request (e.g. 403), or the answer to a plain
    /// HTTP request ([`Event::HttpRequest`], e.g. 200 with a page). The
    /// response carries `Content-Length` and `Connection: close`;
    /// `CloseTransport` and `Closed { code: 1006, was_clean: false }` follow.
    ///
    /// Fails, changing nothing, when no request is waiting, when `status` is
    /// not a final status (200–999), or when a header is invalid or one the
    /// response writes itself (`Connection`, `Content-Length`,
    /// `Transfer-Encoding`).
    pub fn reject(&mut self, status: u16, headers: &[(&str, &str)], body: &[u8]) -> Result<(), HandshakeError> {
        if self.closed || !matches!(self.phase, Phase::AwaitDecision { .. }) {
            return Err(HandshakeError::NoPendingRequest);
        }
        let headers: Vec<(String, String)> =
            headers.iter().map(|(n, v)| (String::from(*n), String::from(*v))).collect();
        handshake::validate_reject(status, &headers)?;
        let mut head = Vec::new();
        handshake::write_response(status, &headers, body, &mut head);
        self.append_tx(&head, 0);
        self.finish(CloseCode::ABNORMAL, String::new(), false, None);
        Ok(())
    }

    pub(super) fn limits(&self) -> Limits {
        Limits { max_head_size: self.config.max_head_size, max_headers: self.config.max_headers }
    }

    /// Parses the server's response; true when the connection opened.
    pub(super) fn client_handshake(&mut self) -> bool {
        let Phase::ClientHandshake(hs) = &self.phase else { return false };
        match handshake::parse_response(&self.rx, false, &hs.request, &hs.key, self.limits()) {
            Ok(ResponseParse::Partial) => return false,
            Ok(ResponseParse::Accepted(accepted, head_len)) => {
                self.rx.advance(head_len);
                match self.accept_client_extensions(&accepted) {
                    Ok(()) => {
                        let Accepted { protocol, extensions, .. } = accepted;
                        self.open(Negotiated { protocol, extensions });
                    }
                    Err(e) => self.fail_handshake(e),
                }
            }
            Ok(ResponseParse::Rejected(rejection, _)) => self.fail_handshake(rejection.into()),
            Err(e) => self.fail_handshake(e),
        }
        true
    }

    /// Parses the client's request; true when it was reported or answered.
    pub(super) fn server_handshake(&mut self) -> bool {
        match handshake::parse_request(&self.rx, self.limits()) {
            Ok(RequestParse::Partial) => return false,
            Ok(RequestParse::Complete(request, head_len)) => {
                self.rx.advance(head_len);
                let request = Box::new(request);
                self.phase = Phase::AwaitDecision { request: request.clone(), upgrade: true };
                self.push(Pending::Event(Event::UpgradeRequest(request)));
            }
            Err(HandshakeError::NotUpgrade(request)) => {
                // Nothing after a plain request is read: it is answered and
                // the connection closes.
                self.rx = BytesMut::new();
                self.phase = Phase::AwaitDecision { request: request.clone(), upgrade: false };
                self.push(Pending::Event(Event::HttpRequest(request)));
            }
            Err(e) => {
                let mut response = Vec::new();
                handshake::write_error_response(&e, &mut response);
                self.append_tx(&response, 0);
                self.fail_handshake(e);
            }
        }
        true
    }

    /// CONNECTING → OPEN; input that came with the handshake is processed.
    pub(super) fn open(&mut self, negotiated: Negotiated) {
        self.phase = Phase::Open;
        // Keepalive counts idleness from the moment the connection opens,
        // not from the request (the application may have taken its time).
        if self.now.is_some() {
            self.last_rx = self.now;
        }
        self.push(Pending::Event(Event::Open(negotiated)));
        self.dirty = true;
    }

    /// The opening handshake failed: close the transport, report 1006.
    pub(super) fn fail_handshake(&mut self, error: HandshakeError) {
        self.finish(CloseCode::ABNORMAL, String::new(), false, Some(ConnectionError::Handshake(error)));
    }

    /// The extension hook, client side (RFC 6455 §9.1): every extension the
    /// server accepted must be one this endpoint offered and runs, accepted
    /// with parameters it allows (RFC 7692 §7.1 for permessage-deflate).
    #[cfg_attr(not(feature = "deflate"), allow(clippy::never_loop))]
    pub(super) fn accept_client_extensions(&mut self, accepted: &Accepted) -> Result<(), HandshakeError> {
        #[cfg_attr(not(feature = "deflate"), allow(unused_mut))]
        let mut agreed = Vec::new();
        for e in &accepted.extensions {
            #[cfg(feature = "deflate")]
            if let Some(cfg) = &self.config.deflate {
                if e.name.eq_ignore_ascii_case(deflate::EXTENSION_NAME) {
                    if !agreed.is_empty() {
                        return Err(HandshakeError::InvalidDeflateResponse("accepted twice".into()));
                    }
                    let params = deflate::client_accept(cfg, e)
                        .map_err(|err| HandshakeError::InvalidDeflateResponse(alloc::format!("{err:?}")))?;
                    agreed.push(Agreed { response: e.clone(), codec: deflate::Deflate::new(true, &params, cfg) });
                    continue;
                }
            }
            return Err(HandshakeError::UnsupportedExtension(e.name.clone()));
        }
        for a in agreed {
            self.run_extension(a);
        }
        Ok(())
    }

    /// The extension hook, server side: the responses to the client's offers
    /// for the extensions this endpoint runs (RFC 6455 §9.1); offers it
    /// cannot honour are declined by omission.
    pub(super) fn negotiate_server_extensions(&self, offers: &[ExtensionOffer]) -> Vec<Agreed> {
        #[cfg_attr(not(feature = "deflate"), allow(unused_mut))]
        let mut agreed = Vec::new();
        #[cfg(feature = "deflate")]
        if let Some(cfg) = &self.config.deflate {
            if let Some((response, params)) = deflate::server_negotiate(cfg, offers) {
                agreed.push(Agreed { response, codec: deflate::Deflate::new(false, &params, cfg) });
            }
        }
        #[cfg(not(feature = "deflate"))]
        let _ = offers;
        agreed
    }

    /// For a connection whose handshake was done elsewhere
    /// ([`new_open`](Self::new_open)): runs the extensions that handshake
    /// agreed on, given as the elements of the `Sec-WebSocket-Extensions`
    /// response header ([`parse_extensions`](crate::handshake::parse_extensions)
    /// reads one). permessage-deflate runs with the agreed parameters and the
    /// compression settings of [`Config::deflate`] (or the defaults); any other
    /// extension fails with [`HandshakeError::UnsupportedExtension`], and a
    /// response element with invalid parameters with
    /// [`HandshakeError::InvalidDeflateResponse`]. Call it before any input.
    #[cfg_attr(not(feature = "deflate"), allow(unused_mut, clippy::never_loop))]
    pub fn with_extensions(mut self, agreed: &[ExtensionOffer]) -> Result<Self, HandshakeError> {
        for e in agreed {
            #[cfg(feature = "deflate")]
            if e.name.eq_ignore_ascii_case(deflate::EXTENSION_NAME) && self.deflate.is_none() {
                let params = deflate::agreed_params(e)
                    .map_err(|err| HandshakeError::InvalidDeflateResponse(alloc::format!("{err:?}")))?;
                let cfg = self.config.deflate.clone().unwrap_or_default();
                let codec = deflate::Deflate::new(self.role == Role::Client, &params, &cfg);
                self.run_extension(Agreed { response: e.clone(), codec });
                continue;
            }
            return Err(HandshakeError::UnsupportedExtension(e.name.clone()));
        }
        Ok(self)
    }

    /// Puts a negotiated extension to work on the frames.
    pub(super) fn run_extension(&mut self, agreed: Agreed) {
        #[cfg(feature = "deflate")]
        {
            self.deflate = Some(agreed.codec);
            self.rsv_allowed |= RSV1;
        }
        #[cfg(not(feature = "deflate"))]
        let _ = agreed;
    }
}

/// An extension both ends agreed on: the response element naming it and the
/// state that runs it.
pub(super) struct Agreed {
    pub(super) response: ExtensionOffer,
    #[cfg(feature = "deflate")]
    pub(super) codec: deflate::Deflate,
}
