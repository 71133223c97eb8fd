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

    /// Reads the server's response so far; true when it was decided (the
    /// connection opened or failed).
    pub(super) fn client_handshake(&mut self) -> bool {
        let limits = self.limits();
        let Phase::ClientHandshake(hs) = &mut self.phase else { return false };
        match hs.reader.poll(&self.rx, false, &hs.request, &hs.key, limits) {
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

    /// Reads the client's request so far; true when it was reported or
    /// answered.
    pub(super) fn server_handshake(&mut self) -> bool {
        let limits = self.limits();
        let Phase::AwaitRequest(reader) = &mut self.phase else { return false };
        match reader.poll(&self.rx, false, limits) {
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
            Err(e) => self.refuse_request(e),
        }
        true
    }

    /// Answers a bad request with its error status (none for an error
    /// without one) and fails the connection.
    fn refuse_request(&mut self, error: HandshakeError) {
        let mut response = Vec::new();
        handshake::write_error_response(&error, &mut response);
        if !response.is_empty() {
            self.append_tx(&response, 0);
        }
        self.fail_handshake(error);
    }

    /// The transport's read side ended while the head (or a rejection's
    /// body) was still incomplete: what was received is read whole. A
    /// rejection whose body runs to the close is complete; an error the
    /// received bytes hold (one a checkpoint had not reached yet, see
    /// `handshake::scan`) fails the connection as it would have once more
    /// bytes came, a server answering it; anything else is `Truncated`.
    pub(super) fn handshake_eof(&mut self) {
        let limits = self.limits();
        match &mut self.phase {
            Phase::ClientHandshake(hs) => {
                let error = match hs.reader.poll(&self.rx, true, &hs.request, &hs.key, limits) {
                    Ok(ResponseParse::Rejected(rejection, _)) => HandshakeError::from(rejection),
                    Err(e) => e,
                    Ok(_) => HandshakeError::Truncated,
                };
                self.fail_handshake(error);
            }
            Phase::AwaitRequest(reader) => match reader.poll(&self.rx, true, limits) {
                Err(e) if !matches!(e, HandshakeError::NotUpgrade(_)) => self.refuse_request(e),
                _ => self.fail_handshake(HandshakeError::Truncated),
            },
            _ => {}
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::{scan_tests, scan_work};

    /// The nonce whose key is `dGhlIHNhbXBsZSBub25jZQ==` (RFC 6455 §1.3).
    struct SampleNonce;

    impl Entropy for SampleNonce {
        fn fill(&mut self, dest: &mut [u8]) {
            for (d, s) in dest.iter_mut().zip(b"the sample nonce".iter().cycle()) {
                *d = *s;
            }
        }
    }

    /// Feeds `input` a byte at a time, draining after each; returns the
    /// outputs other than transmits and the bytes looked at while reading
    /// the head (see `handshake::scan`).
    fn bytewise(conn: &mut Connection, input: &[u8]) -> (Vec<Output>, usize) {
        let before = scan_work();
        let mut outs = Vec::new();
        for b in input {
            conn.handle_bytes(core::slice::from_ref(b));
            outs.extend(core::iter::from_fn(|| conn.poll_output()).filter(|o| !matches!(o, Output::Transmit(_))));
        }
        (outs, scan_work() - before)
    }

    /// A 64 KiB head fed a byte at a time costs a few times its length, not
    /// its length squared: the connection keeps the reader's state between
    /// reads. Re-parsing from the start on each read (the old code) looked
    /// at about 2^31 bytes here.
    #[test]
    fn a_head_fed_a_byte_at_a_time_is_read_in_linear_time() {
        const LEN: usize = 64 * 1024;
        let config = Config::default().with_max_head_size(LEN).with_max_headers(LEN / 32);

        let mut server = Connection::server(config.clone());
        let (outs, work) = bytewise(&mut server, &scan_tests::big_request(LEN));
        assert!(matches!(outs.as_slice(), [Output::Event(Event::UpgradeRequest(_))]), "{outs:?}");
        assert!(work <= 4 * LEN, "server: {work} bytes looked at for a head of {LEN}");

        for (response, accepted) in [(scan_tests::big_response(LEN), true), (scan_tests::big_rejection(LEN), false)] {
            let request = ClientRequest::new("ws://h/").unwrap();
            let mut client = Connection::client(request, config.clone(), SampleNonce).unwrap();
            while client.poll_output().is_some() {}
            let (outs, work) = bytewise(&mut client, &response);
            match outs.as_slice() {
                [Output::Event(Event::Open(_))] if accepted => {}
                [Output::CloseTransport, Output::Event(Event::Closed(c))] if !accepted => {
                    assert!(matches!(&c.error, Some(ConnectionError::Handshake(HandshakeError::Rejected(_)))));
                }
                other => panic!("{other:?}"),
            }
            assert!(work <= 4 * response.len(), "client: {work} bytes looked at for {}", response.len());
        }
    }
}
