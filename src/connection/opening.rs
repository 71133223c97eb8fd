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
        let extensions = negotiate_server_extensions(request.extensions());
        accept.set_extensions(extensions.clone());
        handshake::validate_accept(request, &accept)?;
        let mut head = Vec::new();
        handshake::write_accept(request, &accept, &mut head);
        self.append_tx(&head, 0);
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
                let _ = self.rx.split_to(head_len);
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
                let _ = self.rx.split_to(head_len);
                self.phase = Phase::AwaitDecision { request: Box::new(request.clone()), upgrade: true };
                self.push(Pending::Event(Event::UpgradeRequest(request)));
            }
            Err(HandshakeError::NotUpgrade(request)) => {
                // Nothing after a plain request is read: it is answered and
                // the connection closes.
                self.rx = BytesMut::new();
                self.phase = Phase::AwaitDecision { request: request.clone(), upgrade: false };
                self.push(Pending::Event(Event::HttpRequest(*request)));
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

    /// The extension hook, client side: every extension the server accepted
    /// must be one this endpoint runs (RFC 6455 §9.1).
    pub(super) fn accept_client_extensions(&mut self, accepted: &Accepted) -> Result<(), HandshakeError> {
        match accepted.extensions.first() {
            Some(e) => Err(HandshakeError::UnsupportedExtension(e.name.clone())),
            None => Ok(()),
        }
    }
}

/// The extension hook, server side: the responses to the client's offers for
/// the extensions this endpoint runs (none yet; permessage-deflate plugs in
/// here and sets `rsv_allowed`). Unknown offers are declined by omission
/// (RFC 6455 §9.1).
fn negotiate_server_extensions(_offers: &[ExtensionOffer]) -> Vec<ExtensionOffer> {
    Vec::new()
}
