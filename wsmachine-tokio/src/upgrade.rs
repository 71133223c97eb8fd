//! Upgrading a request that hyper 1.x (or axum, or another server on hyper)
//! received: the core checks it and negotiates the subprotocol and
//! permessage-deflate, hyper writes the 101, and the connection runs over
//! hyper's upgraded IO.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http_body_util::Empty;
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use wsmachine::handshake::{Accept, Request, accept_response};
use wsmachine::{Config, HandshakeError, Negotiated, Role};

use crate::{Error, WebSocket};

/// Whether `request` asks for a WebSocket upgrade: a `Connection` header
/// with the `upgrade` token and an `Upgrade` header with the `websocket`
/// token (RFC 6455 §4.2.1, case-insensitive, over any number of header
/// lines). A cheap test to route a request before [`upgrade`], which runs
/// the full checks.
pub fn is_upgrade_request<B>(request: &http::Request<B>) -> bool {
    has_token(request.headers(), http::header::CONNECTION, "upgrade")
        && has_token(request.headers(), http::header::UPGRADE, "websocket")
}

/// Whether a comma-separated list header holds `token`.
fn has_token(headers: &http::HeaderMap, name: HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|item| item.trim().eq_ignore_ascii_case(token))
}

/// Upgrades a request that hyper received, with `config`: checks it as an
/// opening handshake (RFC 6455 §4.2.1), chooses the first subprotocol of
/// [`Config::protocols`] that the client offers, answers
/// permessage-deflate per [`Config::deflate`](wsmachine::Config) (feature
/// `deflate`), and returns the 101 Switching Protocols response for the
/// service to return, and the future of the [`WebSocket`] that resolves once
/// hyper has written that response and handed over the connection.
///
/// The future needs the connection to be served with upgrades on (hyper's
/// `serve_connection(..).with_upgrades()`; `axum::serve` does it), and
/// resolves only after the response has been returned, so spawn it rather
/// than await it in the service. It must run within a tokio runtime.
///
/// A request that is no valid upgrade is [`Error::Handshake`], whose
/// [`HandshakeError::status`] is the answer it deserves;
/// [`error_response`] builds it. Only HTTP/1.0 and HTTP/1.1 requests are
/// upgrades: an HTTP/2 request (RFC 8441's extended CONNECT) is
/// [`HandshakeError::HttpVersion`], answered 400.
pub fn upgrade<B>(
    request: &mut http::Request<B>,
    config: Config,
) -> Result<(http::Response<Empty<Bytes>>, UpgradeFut), Error> {
    upgrade_with(request, config, |_| Accept::new())
}

/// [`upgrade`], letting `choose` look at the checked request first: the
/// [`Accept`] it returns may choose the subprotocol (else the first of
/// [`Config::protocols`] the client offers is chosen) and add headers such
/// as `Set-Cookie`. Extensions are negotiated per `config` whatever it
/// returns. A subprotocol the client did not offer is
/// [`HandshakeError::UnofferedProtocol`].
///
/// To refuse a request (authentication, an unknown path), answer it before
/// calling this: the request is the HTTP layer's until then.
pub fn upgrade_with<B, F>(
    request: &mut http::Request<B>,
    config: Config,
    choose: F,
) -> Result<(http::Response<Empty<Bytes>>, UpgradeFut), Error>
where
    F: FnOnce(&Request) -> Accept,
{
    let checked = Request::from_http(request)?;
    let accept = choose(&checked).negotiate(&checked, &config);
    let response = accept_response(&checked, &accept)?.map(|()| Empty::new());
    let negotiated =
        Negotiated { protocol: accept.selected_protocol().map(String::from), extensions: accept.extensions().to_vec() };
    let on_upgrade = hyper::upgrade::on(request);
    Ok((response, UpgradeFut { on_upgrade, opening: Some((config, negotiated)) }))
}

/// The answer to a request that [`upgrade`] refused, with the status its
/// error deserves: a [`HandshakeError`] with a
/// [status](HandshakeError::status) (400, 405 with `Allow: GET`, 426 with
/// `Upgrade: websocket` and `Sec-WebSocket-Version: 13`, 431),
/// [`Error::NotUpgraded`]'s status, else 500. The body is empty: request
/// data is never echoed.
pub fn error_response(error: &Error) -> http::Response<Empty<Bytes>> {
    let status = match error {
        Error::Handshake(e) => e.status().unwrap_or(500),
        Error::NotUpgraded(status) => *status,
        _ => 500,
    };
    let mut response = http::Response::new(Empty::new());
    *response.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    match status {
        405 => {
            headers.insert(http::header::ALLOW, HeaderValue::from_static("GET"));
        }
        426 => {
            headers.insert(http::header::UPGRADE, HeaderValue::from_static("websocket"));
            headers.insert(http::header::SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
            headers.insert(http::header::CONNECTION, HeaderValue::from_static("upgrade"));
        }
        _ => {}
    }
    response
}

/// The [`WebSocket`] of an [`upgrade`]: resolves once hyper has written the
/// 101 and handed over the connection, to the connection running over it
/// with what the handshake agreed ([`WebSocket::negotiated`]). Fails with
/// [`Error::Io`] when hyper could not upgrade (the client went away, the
/// connection was served without upgrades).
#[must_use = "futures do nothing unless polled; spawn it and return the response"]
pub struct UpgradeFut {
    on_upgrade: OnUpgrade,
    /// Taken when the connection starts.
    opening: Option<(Config, Negotiated)>,
}

impl fmt::Debug for UpgradeFut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpgradeFut").field("negotiated", &self.opening.as_ref().map(|(_, n)| n)).finish_non_exhaustive()
    }
}

impl Future for UpgradeFut {
    type Output = Result<WebSocket<TokioIo<Upgraded>>, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let upgraded = match Pin::new(&mut self.on_upgrade).poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(result) => result.map_err(|e| Error::Io(std::io::Error::other(e)))?,
        };
        let Some((config, negotiated)) = self.opening.take() else {
            return Poll::Ready(Err(Error::Handshake(HandshakeError::Truncated)));
        };
        Poll::Ready(crate::from_upgraded(TokioIo::new(upgraded), Role::Server, config, negotiated))
    }
}
