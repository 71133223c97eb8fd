//! The opening handshake (RFC 6455 §4) as the connection runs it: the
//! constructors that start in CONNECTING, the server's answers, and the
//! steps that parse the peer's HTTP head.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use bytes::Bytes;

use super::{ClientHandshake, Connection, End, Handshake, State};
use crate::config::{Config, Role};
use crate::entropy::Entropy;
use crate::error::ConnectionError;
use crate::event::{Event, Negotiated};
use crate::extension::{self, Agreed};
use crate::handshake::{
    self, Accept, Accepted, ClientRequest, ExtensionOffer, Limits, RequestParse, RequestReader, ResponseParse,
    ResponseReader,
};
use crate::handshake::{HandshakeError, UsageError};

impl Connection {
    /// A client in CONNECTING: the upgrade request for `request` (RFC 6455
    /// §4.1) is queued as the first [`Output::Transmit`](crate::Output::Transmit),
    /// with a `Sec-WebSocket-Key` of 16 bytes from `entropy`. The server's
    /// response then opens the connection ([`Event::Open`]) or fails it
    /// ([`Event::Closed`] with a [`HandshakeError`]).
    ///
    /// Fails, queueing nothing, when the request carries an extra header the
    /// handshake owns or one that is not valid HTTP.
    pub fn client(
        request: ClientRequest,
        config: Config,
        entropy: impl Entropy + Send + 'static,
    ) -> Result<Self, UsageError> {
        request.validate()?;
        let request = extension::client_offer(&config, request);
        let handshake = Handshake::Client(Box::new(ClientHandshake {
            request,
            key: String::new(),
            reader: ResponseReader::default(),
        }));
        let mut conn = Self::with_state(Role::Client, State::Connecting(handshake), config, Some(Box::new(entropy)));
        let mut nonce = [0u8; 16];
        conn.tx.fill_random(&mut nonce);
        let key = handshake::key_from_nonce(nonce);
        let mut head = Vec::new();
        if let State::Connecting(Handshake::Client(hs)) = &mut conn.state {
            handshake::write_request(&hs.request, &key, &mut head);
            hs.key = key;
        }
        conn.tx.append(&head);
        Ok(conn)
    }

    /// A server in CONNECTING, waiting for the client's upgrade request
    /// (RFC 6455 §4.2). A valid request is reported as
    /// [`Event::UpgradeRequest`]; answer it with [`accept`](Self::accept) or
    /// [`reject`](Self::reject). A well-formed HTTP request that is not an
    /// upgrade is reported as [`Event::HttpRequest`]: answer it with
    /// [`reject`](Self::reject) (any status, e.g. 200 with a page). A
    /// malformed request is answered with its error status (400, 405, 426,
    /// 431) and the connection ends.
    pub fn server(config: Config) -> Self {
        Self::with_state(
            Role::Server,
            State::Connecting(Handshake::AwaitRequest(RequestReader::default())),
            config,
            None,
        )
    }

    /// (Server) Accepts the pending upgrade request with `101 Switching
    /// Protocols` (RFC 6455 §4.2.2): CONNECTING → OPEN, and
    /// [`Event::Open`] follows. Frames the client sent right behind its
    /// request are processed now.
    ///
    /// Without a subprotocol in `accept`, the first of
    /// [`Config::protocols`] that the client offered is chosen. Fails,
    /// changing nothing, when no upgrade request is waiting
    /// ([`UsageError::NoPendingRequest`]), when the subprotocol was not
    /// offered, or when an extra header is invalid or owned by the handshake.
    pub fn accept(&mut self, accept: Accept) -> Result<(), UsageError> {
        let State::Connecting(Handshake::AwaitDecision { request: Some(request) }) = &self.state else {
            return Err(UsageError::NoPendingRequest);
        };
        // The same negotiation a server whose HTTP layer answers runs
        // (`Accept::negotiate`), then the agreed elements start the
        // extensions, as for a handshake done elsewhere.
        let accept = accept.negotiate(request, &self.config);
        handshake::validate_accept(request, &accept)?;
        let agreed = extension::agreed_elsewhere(&self.config, Role::Server, accept.extensions())?;
        // Exactly its length, so it goes out as it is, without a copy.
        let head = handshake::write_accept(request, &accept);
        self.tx.append_owned(Bytes::from(head));
        self.open(accept.protocol, agreed);
        Ok(())
    }

    /// (Server) Answers the pending request with any other HTTP response:
    /// a rejection of an upgrade request (e.g. 403), or the answer to a plain
    /// HTTP request ([`Event::HttpRequest`], e.g. 200 with a page). The
    /// response carries `Content-Length` and `Connection: close`;
    /// `CloseTransport` and `Closed { code: 1006, was_clean: false, error:
    /// Rejected { status } }` follow.
    ///
    /// Fails, changing nothing, when no request is waiting, when `status` is
    /// not a final status (200–999), or when a header is invalid or one the
    /// response writes itself (`Connection`, `Content-Length`,
    /// `Transfer-Encoding`).
    pub fn reject(&mut self, status: u16, headers: &[(&str, &str)], body: &[u8]) -> Result<(), UsageError> {
        if !matches!(self.state, State::Connecting(Handshake::AwaitDecision { .. })) {
            return Err(UsageError::NoPendingRequest);
        }
        let headers: Vec<(String, String)> =
            headers.iter().map(|(n, v)| (String::from(*n), String::from(*v))).collect();
        handshake::validate_reject(status, &headers)?;
        let mut head = Vec::new();
        handshake::write_response(status, &headers, body, &mut head);
        self.tx.append(&head);
        self.end(End::Failed(ConnectionError::Rejected { status }));
        Ok(())
    }

    /// For a connection whose handshake was done elsewhere
    /// ([`new_open`](Self::new_open), [`open_server`](Self::open_server),
    /// [`open_client`](Self::open_client)): runs the extensions that
    /// handshake agreed on, given as the elements of the
    /// `Sec-WebSocket-Extensions` response header
    /// ([`parse_extensions`](crate::handshake::parse_extensions) reads one).
    /// permessage-deflate runs with the agreed parameters and the
    /// compression settings of `Config::deflate` (or the defaults); any
    /// other extension fails with [`UsageError::UnsupportedExtension`],
    /// and a response element with invalid parameters with
    /// [`UsageError::InvalidDeflateParameters`]. Call it before any input.
    pub fn with_extensions(mut self, agreed: &[ExtensionOffer]) -> Result<Self, UsageError> {
        let Agreed { tx, rx, .. } = extension::agreed_elsewhere(&self.config, self.role, agreed)?;
        self.rx.set_extensions(rx);
        self.tx.set_extensions(tx);
        Ok(self)
    }

    fn limits(&self) -> Limits {
        Limits { max_head_size: self.config.max_head_size, max_headers: self.config.max_headers }
    }

    /// Reads the server's response so far; true when it was decided (the
    /// connection opened or failed).
    pub(super) fn client_handshake(&mut self) -> bool {
        let limits = self.limits();
        let State::Connecting(Handshake::Client(hs)) = &mut self.state else { return false };
        match hs.reader.poll(self.rx.buffered(), false, &hs.request, &hs.key, limits) {
            Ok(ResponseParse::Partial) => return false,
            Ok(ResponseParse::Accepted(accepted, head_len)) => {
                self.rx.consume(head_len);
                match extension::client_accept(&self.config, &accepted.extensions) {
                    Ok(agreed) => {
                        let Accepted { protocol, .. } = accepted;
                        self.open(protocol, agreed);
                    }
                    Err(e) => self.fail_handshake(e),
                }
            }
            Ok(ResponseParse::Rejected(rejection, _)) => self.fail_handshake(rejection.into()),
            Err(e) => self.fail_handshake(e),
        }
        true
    }

    /// The transport's read side ended while the head (or a rejection's
    /// body) was still incomplete: what was received is read whole. A
    /// rejection whose body runs to the close is complete; an error the
    /// received bytes hold (one a checkpoint had not reached yet, see
    /// `handshake::scan`) fails the connection as it would have once more
    /// bytes came, a server answering it; anything else is `Truncated`.
    pub(super) fn handshake_eof(&mut self) {
        let limits = self.limits();
        match &mut self.state {
            State::Connecting(Handshake::Client(hs)) => {
                let error = match hs.reader.poll(self.rx.buffered(), true, &hs.request, &hs.key, limits) {
                    Ok(ResponseParse::Rejected(rejection, _)) => HandshakeError::from(rejection),
                    Err(e) => e,
                    Ok(_) => HandshakeError::Truncated,
                };
                self.fail_handshake(error);
            }
            State::Connecting(Handshake::AwaitRequest(reader)) => match reader.poll(self.rx.buffered(), true, limits) {
                Err(e) => self.refuse_request(e),
                Ok(_) => self.fail_handshake(HandshakeError::Truncated),
            },
            _ => {}
        }
    }

    /// Reads the client's request so far; true when it was reported or
    /// answered.
    pub(super) fn server_handshake(&mut self) -> bool {
        let limits = self.limits();
        let State::Connecting(Handshake::AwaitRequest(reader)) = &mut self.state else { return false };
        match reader.poll(self.rx.buffered(), false, limits) {
            Ok(RequestParse::Partial) => return false,
            Ok(RequestParse::Complete(request, head_len)) => {
                self.rx.consume(head_len);
                self.requested(request);
            }
            Ok(RequestParse::NotUpgrade(request, _)) => {
                // Nothing after a plain request is read: it is answered and
                // the connection closes.
                self.rx.stop();
                self.state = State::Connecting(Handshake::AwaitDecision { request: None });
                self.tx.push_event(Event::HttpRequest(Arc::new(*request)));
            }
            Err(e) => self.refuse_request(e),
        }
        true
    }

    /// The upgrade request is whole: it waits for `accept` or `reject`.
    fn requested(&mut self, request: handshake::Request) {
        // One request, shared: `accept` reads the connection's share, the
        // application the event's.
        let request = Arc::new(request);
        self.state = State::Connecting(Handshake::AwaitDecision { request: Some(Arc::clone(&request)) });
        self.tx.push_event(Event::UpgradeRequest(request));
    }

    /// (Server) `input`, read while the request is awaited with nothing
    /// buffered, parsed where it was read: a whole upgrade request is taken
    /// from it (its head copied once, into the request, not into the input
    /// buffer first). Returns what it did not take, for the general path:
    /// what follows the head, or all of it (a head not whole yet, anything
    /// but an upgrade request, an error, which that path parses again).
    #[cfg(feature = "std")]
    pub(super) fn request_in_place<'a>(&mut self, input: &'a [u8]) -> &'a [u8] {
        let limits = self.limits();
        let State::Connecting(Handshake::AwaitRequest(reader)) = &mut self.state else { return input };
        match reader.poll(input, false, limits) {
            Ok(RequestParse::Complete(request, head_len)) => {
                self.requested(request);
                input.get(head_len..).unwrap_or_default()
            }
            _ => input,
        }
    }

    /// Answers a bad request with its error status (none for an error
    /// without one) and fails the connection.
    fn refuse_request(&mut self, error: HandshakeError) {
        let mut response = Vec::new();
        handshake::write_error_response(&error, &mut response);
        if !response.is_empty() {
            self.tx.append(&response);
        }
        self.fail_handshake(error);
    }

    /// While a request awaits its answer, frames pipelined behind it wait
    /// too; they are bounded as one message's worth.
    pub(super) fn bound_pipelined(&mut self) {
        let bound = self.config.max_head_size.saturating_add(self.config.max_message_size);
        if self.rx.buffered().len() > bound {
            self.fail_handshake(HandshakeError::HeadTooLarge);
        }
    }

    /// CONNECTING → OPEN; input that came with the handshake is processed.
    fn open(&mut self, protocol: Option<String>, agreed: Agreed) {
        let Agreed { responses: extensions, tx, rx } = agreed;
        self.rx.set_extensions(rx);
        self.tx.set_extensions(tx);
        self.state = State::Open;
        self.tx.open();
        self.timers.opened();
        self.tx.push_event(Event::Open(Negotiated { protocol, extensions }));
        self.dirty = true;
    }

    /// The opening handshake failed: close the transport, report 1006.
    pub(super) fn fail_handshake(&mut self, error: HandshakeError) {
        self.end(End::Failed(ConnectionError::Handshake(error)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Output;
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
