//! What a server settles when it accepts an upgrade, for servers whose HTTP
//! layer answers the request (hyper, axum, RFC 8441's extended CONNECT):
//! the same subprotocol choice and extension negotiation that
//! [`Connection::accept`](crate::Connection::accept) makes, as a public
//! step, so that permessage-deflate works on that path too.

use super::{Accept, ExtensionOffer, Request};
use crate::config::Config;
use crate::extension;

impl Accept {
    /// Settles what [`Connection::accept`](crate::Connection::accept)
    /// settles on its own: without a subprotocol chosen yet, the first of
    /// [`Config::protocols`] that the client offered; and the extensions
    /// this endpoint runs, answered per `config` (permessage-deflate with
    /// [`Config::deflate`](crate::Config), when the `deflate` feature is
    /// on). Build the 101 from the result
    /// ([`accept_response`](super::accept_response) with the `http`
    /// feature), then start the connection with the same agreement:
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
    pub fn negotiate(mut self, request: &Request, config: &Config) -> Self {
        if self.protocol.is_none() {
            self.protocol = config.protocols.iter().find(|p| request.protocols().contains(p)).cloned();
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
