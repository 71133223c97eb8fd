//! What a server settles when it accepts an upgrade, for servers whose HTTP
//! layer answers the request (hyper, axum, RFC 8441's extended CONNECT):
//! the same subprotocol choice and extension negotiation that
//! [`Connection::accept`](crate::Connection::accept) makes, as a public
//! step, so that permessage-deflate works on that path too.
//!
//! One code path serves both HTTP versions: the negotiation reads a
//! client's offers through [`Offers`], which the HTTP/1.1 [`Request`] and
//! the HTTP/2 [`ConnectRequest`] both implement.

use alloc::borrow::Cow;
use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;

use super::h2::ConnectRequest;
use super::{Accept, Accepted, ClientRequest, ExtensionOffer, HandshakeError, Request};
use crate::config::Config;
use crate::extension;

/// A client's opening request as the negotiation sees it: the subprotocols
/// and extensions it offers, in order of preference (RFC 6455 §4.2.1 items
/// 8–9; the same fields in an RFC 8441 §5 extended CONNECT).
///
/// Implemented by the HTTP/1.1 [`Request`] and the HTTP/2
/// [`ConnectRequest`] (and by references and smart pointers to them), so
/// that [`Accept::negotiate`] and the acceptance checks are one code path
/// for both. Sealed: it cannot be implemented outside this crate.
pub trait Offers: Sealed {}

mod sealed {
    use super::*;

    /// The methods of [`Offers`], out of reach of other
    /// crates.
    #[allow(unreachable_pub)] // the sealed-trait pattern: public, in a private module
    pub trait Sealed {
        /// The subprotocols offered, in order of preference.
        fn offered_protocols(&self) -> &[String];
        /// The extensions offered, in order of preference.
        fn offered_extensions(&self) -> Cow<'_, [ExtensionOffer]>;
    }
}

use sealed::Sealed;

impl Sealed for Request {
    fn offered_protocols(&self) -> &[String] {
        self.protocols()
    }

    fn offered_extensions(&self) -> Cow<'_, [ExtensionOffer]> {
        Cow::Owned(self.extensions())
    }
}

impl Offers for Request {}

impl Sealed for ConnectRequest {
    fn offered_protocols(&self) -> &[String] {
        self.protocols()
    }

    fn offered_extensions(&self) -> Cow<'_, [ExtensionOffer]> {
        Cow::Borrowed(self.extensions())
    }
}

impl Offers for ConnectRequest {}

/// Forwards [`Sealed`] to what `$t` points to.
macro_rules! forward {
    ($($t:ty),*) => {$(
        impl<T: Sealed + ?Sized> Sealed for $t {
            fn offered_protocols(&self) -> &[String] {
                (**self).offered_protocols()
            }

            fn offered_extensions(&self) -> Cow<'_, [ExtensionOffer]> {
                (**self).offered_extensions()
            }
        }

        impl<T: Offers + ?Sized> Offers for $t {}
    )*};
}

forward!(&T, Box<T>, Arc<T>);

impl Accept {
    /// Settles what [`Connection::accept`](crate::Connection::accept)
    /// settles on its own: without a subprotocol chosen yet, the first of
    /// [`Config::protocols`] that the client offered; and the extensions
    /// this endpoint runs, answered per `config` (permessage-deflate with
    /// [`Config::deflate`](crate::Config), when the `deflate` feature is
    /// on). `request` is an HTTP/1.1 [`Request`] or an HTTP/2
    /// [`ConnectRequest`] (RFC 8441): the same offers get the same answer.
    /// Build the 101 from the result ([`accept_response`](super::accept_response)
    /// with the `http` feature), or the HTTP/2 200
    /// ([`h2::response_fields`](super::h2::response_fields)), then start the
    /// connection with the same agreement:
    ///
    /// ```
    /// # use wsmachine::handshake::{Accept, Request};
    /// # use wsmachine::{Config, Connection};
    /// # fn upgrade(request: &Request, config: Config) -> Result<Connection, wsmachine::UsageError> {
    /// let accept = Accept::new().negotiate(request, &config);
    /// // … answer the request with the 101 for `accept` …
    /// let conn = Connection::open_server(config).with_extensions(accept.extensions())?;
    /// # Ok(conn) }
    /// ```
    #[must_use]
    pub fn negotiate<R: Offers + ?Sized>(mut self, request: &R, config: &Config) -> Self {
        if self.protocol.is_none() {
            let offered = request.offered_protocols();
            self.protocol = config.protocols.iter().find(|p| offered.contains(p)).cloned();
        }
        self.extensions = extension::negotiate_server(config, request).responses;
        self
    }

    /// The extensions agreed, as the response's `Sec-WebSocket-Extensions`
    /// elements (RFC 6455 §9.1): what
    /// [`Connection::with_extensions`](crate::Connection::with_extensions)
    /// takes.
    pub fn extensions(&self) -> &[ExtensionOffer] {
        &self.extensions
    }
}

impl ClientRequest {
    /// The client's half of [`Accept::negotiate`], for a client whose HTTP
    /// layer sends the request (RFC 8441's extended CONNECT through
    /// [`h2::request_fields`](super::h2::request_fields)): the offers of
    /// the extensions this endpoint runs, per `config`, as
    /// [`Connection::client`](crate::Connection::client) makes them. With
    /// [`Config::deflate`](crate::Config) (and the `deflate` feature) the
    /// configured permessage-deflate offer replaces any in the request;
    /// otherwise the request is unchanged. Check the server's answer with
    /// [`Accepted::check_extensions`] and the same `config`.
    #[must_use]
    pub fn negotiate(self, config: &Config) -> Self {
        extension::client_offer(config, self)
    }
}

impl Accepted {
    /// Checks the extensions the server accepted against what this endpoint
    /// runs, as [`Connection::client`](crate::Connection::client) does on
    /// the wire: each must be one it implements (`UnsupportedExtension`),
    /// accepted once, with parameters the offer allowed (RFC 7692 §7.1:
    /// `InvalidDeflateResponse`). `config` is the one the request was
    /// [negotiated](ClientRequest::negotiate) with. After it,
    /// `Connection::open_client(config, entropy).with_extensions(&accepted.extensions)`
    /// runs them.
    pub fn check_extensions(&self, config: &Config) -> Result<(), HandshakeError> {
        extension::client_accept(config, &self.extensions).map(drop)
    }
}
