//! WebSockets over HTTP/2 (RFC 8441): one WebSocket per HTTP/2 stream,
//! opened by an *extended CONNECT* (`:method CONNECT`, `:protocol
//! websocket`) that the server answers 200, on a connection whose server
//! has announced `SETTINGS_ENABLE_CONNECT_PROTOCOL = 1`. Many WebSockets, and
//! ordinary requests, then share one TCP (or TLS) connection.
//!
//! The checks and the negotiation are the core's
//! ([`wsmachine::handshake::h2`]); hyper 1.x runs HTTP/2 and hands over the
//! stream (`hyper::upgrade::on`), and the connection runs over it as over
//! a TCP stream (RFC 8441 §5: "as if it were the TCP connection").
//!
//! - **Server**: serve HTTP/2 with hyper's builder and
//!   `enable_connect_protocol()` (hyper's `server::conn::http2::Builder`,
//!   or hyper-util's `server::conn::auto::Builder` through `.http2()` for
//!   HTTP/1.1 and HTTP/2 on one port); in the service,
//!   [`is_connect_request`] routes, [`accept`] (or [`accept_with`])
//!   answers, and the [`AcceptFut`] it returns becomes the [`WebSocket`].
//! - **Client**: [`Http2Connection`] is one HTTP/2 connection (h2c with
//!   prior knowledge for `ws://`, TLS with ALPN `h2` for `wss://`);
//!   [`Http2Connection::websocket`] opens a WebSocket on a new stream of
//!   it, as many times as the server's stream limit allows.
//!
//! # Closing the stream
//!
//! RFC 8441 §5 maps an orderly TCP close to `END_STREAM` and an abort to
//! `RST_STREAM(CANCEL)`. hyper gives no handle on an upgraded stream but
//! its reads, writes and shutdown, so this is what goes on the wire, frame
//! by frame as the adapter's tests capture it with a raw `h2` peer (hyper
//! 1.13, h2 0.4):
//!
//! - **Clean close.** The connection's transport-close output
//!   (`CloseTransport`, a shutdown of the transport) is an `END_STREAM`:
//!   hyper ends the send side on `poll_shutdown` (an empty DATA frame with
//!   the flag). Dropped after that while the peer's side is still open,
//!   hyper's stream would be reset at once (`RST_STREAM(NO_ERROR)` from a
//!   server, as RFC 9113 §8.1 has a server that does not read a request to
//!   the end). So [`H2Stream`] keeps the stream until the peer's
//!   `END_STREAM` too (at most [`LINGER`]), as TCP's FIN goes both ways: a
//!   clean close is the Close frames, then `END_STREAM` both ways (RFC 6455
//!   §7.1.1: the server's first), and nothing else.
//! - **Abort.** A stream dropped without a shutdown (the transport failed;
//!   the close deadline passed with bytes unwritten) is dropped as it is,
//!   and hyper resets it: a client sends `RST_STREAM(CANCEL)` alone, as
//!   RFC 8441 §5 has it; a server sends `END_STREAM` and then
//!   `RST_STREAM(NO_ERROR)` (hyper's server path offers no way to send the
//!   `CANCEL`).
//! - **Received.** An `END_STREAM` is the end of the input. hyper reads an
//!   `RST_STREAM(CANCEL)` or `NO_ERROR` as the end of the input too, and
//!   any other reset as an error. Either way a stream that ends before the
//!   closing handshake closes the connection with 1006, `was_clean` false.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Empty;
use hyper::client::conn::http2::SendRequest;
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use wsmachine::handshake::h2::{self as core_h2, ConnectRejection, ConnectRequest};
use wsmachine::handshake::{Accept, ClientRequest, UsageError};
use wsmachine::{Config, Negotiated, Role};

use crate::{Error, WebSocket};

/// How long an [`H2Stream`] whose send side has ended waits, once dropped,
/// for the peer to end its side before hyper resets the stream.
pub const LINGER: Duration = Duration::from_secs(2);

/// How long [`Http2Connection`] waits for the server's `SETTINGS` to enable
/// extended CONNECT.
pub const SETTINGS_WAIT: Duration = Duration::from_secs(10);

/// The `:protocol` of a WebSocket (RFC 8441 §5).
const WEBSOCKET: &str = "websocket";

// ---------------------------------------------------------------- server

/// Whether `request` is an HTTP/2 extended CONNECT for a WebSocket: method
/// `CONNECT` with `:protocol websocket` (which hyper hands over as the
/// request extension [`hyper::ext::Protocol`]). A cheap test to route a
/// request before [`accept`], which runs the full checks. hyper accepts a
/// `:protocol` only when the server's builder has
/// `enable_connect_protocol()`.
pub fn is_connect_request<B>(request: &http::Request<B>) -> bool {
    request.method() == http::Method::CONNECT
        && request.extensions().get::<hyper::ext::Protocol>().is_some_and(|p| p.as_str() == WEBSOCKET)
}

/// Accepts a WebSocket that an HTTP/2 extended CONNECT asks for, with
/// `config`: checks the request (RFC 8441 §4–5: `:protocol websocket`,
/// `:scheme`, `:path`, `sec-websocket-version: 13`, no `connection` or
/// `upgrade`), chooses the first subprotocol of [`Config::protocols`] that
/// the client offers, answers permessage-deflate per the config (feature
/// `deflate`), and returns the 200 response for the service to return and
/// the future of the [`WebSocket`], which resolves once hyper has sent the
/// response and handed over the stream. Spawn it rather than await it in
/// the service. It must run within a tokio runtime.
///
/// A request that is no valid extended CONNECT is a [`Refusal`] whose
/// [`response`](Refusal::response) is the answer it deserves (400, 405,
/// 501, with the headers the core asks for).
pub fn accept<B>(
    request: &mut http::Request<B>,
    config: Config,
) -> Result<(http::Response<Empty<Bytes>>, AcceptFut), Refusal> {
    accept_with(request, config, |_| Accept::new())
}

/// [`accept`], letting `choose` look at the checked request first: the
/// [`Accept`] it returns may choose the subprotocol (else the first of
/// [`Config::protocols`] the client offers) and add headers such as
/// `set-cookie`. A subprotocol the client did not offer, or a header the
/// handshake writes itself, is a [`Refusal`] answered 500.
///
/// To refuse a request (authentication, an unknown path), answer it before
/// calling this: the request is the HTTP layer's until then.
pub fn accept_with<B, F>(
    request: &mut http::Request<B>,
    config: Config,
    choose: F,
) -> Result<(http::Response<Empty<Bytes>>, AcceptFut), Refusal>
where
    F: FnOnce(&ConnectRequest) -> Accept,
{
    let protocol = request.extensions().get::<hyper::ext::Protocol>().map(|p| p.as_str().to_owned());
    let checked = ConnectRequest::from_http(request, protocol.as_deref()).map_err(Refusal::request)?;
    let accept = choose(&checked).negotiate(&checked, &config);
    let response = core_h2::accept_response(&checked, &accept).map_err(Refusal::usage)?.map(|()| Empty::new());
    let negotiated =
        Negotiated { protocol: accept.selected_protocol().map(String::from), extensions: accept.extensions().to_vec() };
    let on_upgrade = hyper::upgrade::on(request);
    Ok((response, AcceptFut { on_upgrade, opening: Some((config, negotiated)) }))
}

/// Why [`accept`] did not accept an extended CONNECT, and the response it
/// deserves.
#[derive(Debug)]
pub struct Refusal {
    status: http::StatusCode,
    /// Boxed: a `HeaderMap` is large, and this is an `Err` (usually empty).
    headers: Box<http::HeaderMap>,
    why: String,
}

impl Refusal {
    fn request(rejection: ConnectRejection) -> Self {
        let (parts, ()) = rejection.to_http().into_parts();
        Self { status: parts.status, headers: Box::new(parts.headers), why: rejection.to_string() }
    }

    fn usage(error: UsageError) -> Self {
        Self { status: http::StatusCode::INTERNAL_SERVER_ERROR, headers: Box::default(), why: error.to_string() }
    }

    /// The status the request deserves: 400 (malformed, or a
    /// `sec-websocket-version` other than 13, with `sec-websocket-version:
    /// 13`), 405, 501, or 500 when the application's [`Accept`] was invalid.
    pub fn status(&self) -> u16 {
        self.status.as_u16()
    }

    /// The response to send: the status and the headers the core asks for,
    /// with an empty body (request data is never echoed).
    pub fn response(&self) -> http::Response<Empty<Bytes>> {
        let mut response = http::Response::new(Empty::new());
        *response.status_mut() = self.status;
        *response.version_mut() = http::Version::HTTP_2;
        *response.headers_mut() = (*self.headers).clone();
        response
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "extended CONNECT refused with {}: {}", self.status.as_u16(), self.why)
    }
}

impl std::error::Error for Refusal {}

/// The [`WebSocket`] of an [`accept`]: resolves once hyper has sent the 200
/// and handed over the stream, to the connection running over it with what
/// the handshake agreed. Fails with [`Error::Io`] when hyper could not hand
/// it over (the client reset the stream, the connection went away).
#[must_use = "futures do nothing unless polled; spawn it and return the response"]
pub struct AcceptFut {
    on_upgrade: OnUpgrade,
    /// Taken when the connection starts.
    opening: Option<(Config, Negotiated)>,
}

impl fmt::Debug for AcceptFut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AcceptFut").field("negotiated", &self.opening.as_ref().map(|(_, n)| n)).finish_non_exhaustive()
    }
}

impl Future for AcceptFut {
    type Output = Result<WebSocket<H2Stream>, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let upgraded = match Pin::new(&mut self.on_upgrade).poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(result) => result.map_err(|e| Error::Io(io::Error::other(e)))?,
        };
        let Some((config, negotiated)) = self.opening.take() else {
            return Poll::Ready(Err(Error::Io(io::Error::other("AcceptFut polled after it completed"))));
        };
        Poll::Ready(crate::from_upgraded(H2Stream::new(upgraded), Role::Server, config, negotiated))
    }
}

// ---------------------------------------------------------------- the stream

/// One HTTP/2 stream that carries a WebSocket: hyper's upgraded stream,
/// which ends its send side (`END_STREAM`) on shutdown, and which this
/// keeps, once dropped after that shutdown, until the peer has ended its
/// side too or [`LINGER`] has passed (see the [module docs](self)).
#[derive(Debug)]
pub struct H2Stream {
    io: Option<TokioIo<Upgraded>>,
    /// Our `END_STREAM` is out.
    ended: bool,
    /// The peer's `END_STREAM` (or reset) was read.
    eof: bool,
}

impl H2Stream {
    fn new(upgraded: Upgraded) -> Self {
        Self { io: Some(TokioIo::new(upgraded)), ended: false, eof: false }
    }

    fn io(&mut self) -> Pin<&mut TokioIo<Upgraded>> {
        Pin::new(self.io.as_mut().expect("the stream is taken only on drop"))
    }
}

impl AsyncRead for H2Stream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = std::task::ready!(self.io().poll_read(cx, buf));
        if matches!(result, Ok(()) if buf.filled().len() == before && buf.remaining() > 0) || result.is_err() {
            self.eof = true;
        }
        Poll::Ready(result)
    }
}

impl AsyncWrite for H2Stream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.io().poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io().poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = std::task::ready!(self.io().poll_shutdown(cx));
        self.ended = result.is_ok();
        Poll::Ready(result)
    }
}

impl Drop for H2Stream {
    fn drop(&mut self) {
        if !self.ended || self.eof {
            return;
        }
        let (Some(mut io), Ok(runtime)) = (self.io.take(), tokio::runtime::Handle::try_current()) else { return };
        // Our END_STREAM is out and the peer's is still to come: wait for
        // it (reading and dropping whatever precedes it) before the stream
        // goes, or hyper would reset it.
        runtime.spawn(async move {
            let _ = tokio::time::timeout(LINGER, async {
                let mut sink = [0u8; 4096];
                while let Ok(1..) = io.read(&mut sink).await {}
            })
            .await;
        });
    }
}

// ---------------------------------------------------------------- client

/// A client's HTTP/2 connection to one server, on which WebSockets are
/// opened as extended CONNECT streams ([`websocket`](Self::websocket)),
/// any number at once (up to the server's `SETTINGS_MAX_CONCURRENT_STREAMS`).
/// Cheap to clone: the clones share the connection, which hyper runs in a
/// task of its own until the last clone and the last stream are gone.
#[derive(Clone)]
pub struct Http2Connection {
    send: SendRequest<Empty<Bytes>>,
}

impl fmt::Debug for Http2Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Http2Connection").field("closed", &self.send.is_closed()).finish()
    }
}

impl Http2Connection {
    /// Opens an HTTP/2 connection to the server of a `ws://` or `wss://`
    /// URL (only its host and port are used): TCP with `TCP_NODELAY`, then
    /// for `ws://` HTTP/2 over cleartext with prior knowledge (h2c), for
    /// `wss://` TLS with ALPN `h2` (feature `rustls`; the roots of
    /// [`client_config`](crate::client_config)). Returns once the server's
    /// `SETTINGS` have enabled extended CONNECT; a server that has not
    /// enabled it within [`SETTINGS_WAIT`] fails with
    /// [`ErrorKind::Unsupported`](io::ErrorKind::Unsupported). Resolving,
    /// TCP and TLS are not bounded here: wrap the call in
    /// `tokio::time::timeout` for that.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        let request = ClientRequest::new(url)?;
        let tcp = crate::opening::tcp_connect(&request).await?;
        if request.is_secure() {
            #[cfg(feature = "rustls")]
            return Self::over_tls(tcp, &request, crate::client_config()?).await;
            #[cfg(not(feature = "rustls"))]
            return Err(Error::TlsUnavailable);
        }
        Self::handshake(tcp).await
    }

    /// [`connect`](Self::connect) with these TLS client settings for
    /// `wss://` (a private CA, client certificates). ALPN is set to `h2`
    /// whatever the settings say.
    #[cfg(feature = "rustls")]
    pub async fn connect_with_tls(
        url: &str,
        tls: std::sync::Arc<tokio_rustls::rustls::ClientConfig>,
    ) -> Result<Self, Error> {
        let request = ClientRequest::new(url)?;
        let tcp = crate::opening::tcp_connect(&request).await?;
        if request.is_secure() { Self::over_tls(tcp, &request, tls).await } else { Self::handshake(tcp).await }
    }

    #[cfg(feature = "rustls")]
    async fn over_tls(
        tcp: tokio::net::TcpStream,
        request: &ClientRequest,
        tls: std::sync::Arc<tokio_rustls::rustls::ClientConfig>,
    ) -> Result<Self, Error> {
        let mut tls = (*tls).clone();
        tls.alpn_protocols = vec![b"h2".to_vec()];
        let stream = match crate::tls::wrap(tcp, request.host(), std::sync::Arc::new(tls)).await? {
            crate::MaybeTlsStream::Rustls(stream) => stream,
            crate::MaybeTlsStream::Plain(_) => unreachable!("wrap runs TLS"),
        };
        if stream.get_ref().1.alpn_protocol() != Some(b"h2") {
            return Err(Error::Io(io::Error::new(
                io::ErrorKind::Unsupported,
                "the server did not choose HTTP/2 (ALPN h2) for this TLS connection",
            )));
        }
        Self::handshake(stream).await
    }

    /// Runs HTTP/2 (as a client, with prior knowledge) over a transport
    /// already connected: a TCP stream, a TLS stream whose ALPN chose `h2`,
    /// a Unix socket. Returns once the server's `SETTINGS` have enabled
    /// extended CONNECT (see [`connect`](Self::connect)).
    pub async fn handshake<S>(io: S) -> Result<Self, Error>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (send, mut connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(io)).await.map_err(hyper_error)?;
        // hyper runs the HTTP/2 connection in a task of its own, and tells
        // no one when the server's SETTINGS have come: look at the flag
        // they set, at growing intervals, while the connection lives.
        let start = tokio::time::Instant::now();
        let mut pause = Duration::from_millis(1);
        while !connection.is_extended_connect_protocol_enabled() {
            if start.elapsed() >= SETTINGS_WAIT {
                return Err(Error::Io(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "the HTTP/2 server did not enable extended CONNECT (SETTINGS_ENABLE_CONNECT_PROTOCOL, RFC 8441)",
                )));
            }
            let mut sleep = std::pin::pin!(tokio::time::sleep(pause));
            let ended = std::future::poll_fn(|cx| match Pin::new(&mut connection).poll(cx) {
                Poll::Ready(result) => Poll::Ready(Some(result)),
                Poll::Pending => sleep.as_mut().poll(cx).map(|()| None),
            })
            .await;
            match ended {
                None => {}
                Some(Ok(())) => return Err(Error::Io(io::ErrorKind::UnexpectedEof.into())),
                Some(Err(e)) => return Err(hyper_error(e)),
            }
            pause = (pause * 2).min(Duration::from_millis(20));
        }
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Self { send })
    }

    /// Opens a WebSocket on a new stream of this connection: sends the
    /// extended CONNECT for `request` (its path, subprotocols, `origin`,
    /// headers; the scheme and authority of its URL), checks the answer
    /// (RFC 8441 §5: 200, a subprotocol and extensions among those
    /// offered) and starts the connection over the stream.
    /// [`Config::handshake_timeout`] bounds the exchange.
    ///
    /// A refusal (any status but 2xx) is [`Error::Handshake`] with
    /// [`HandshakeError::Rejected`](wsmachine::HandshakeError::Rejected),
    /// which carries the status and the headers; an invalid `request` (a
    /// header HTTP/2 forbids) is [`Error::Usage`] and nothing is sent.
    /// Permessage-deflate is offered and run per
    /// [`Config::deflate`](wsmachine::Config) (feature `deflate`).
    pub async fn websocket(
        &self,
        request: ClientRequest,
        config: Config,
    ) -> Result<(WebSocket<H2Stream>, Negotiated), Error> {
        let mut send = self.send.clone();
        // The extensions this endpoint runs (permessage-deflate per the
        // config) are offered as on HTTP/1.1.
        let request = request.negotiate(&config);
        core_h2::check_request(&request)?;
        crate::opening::within_handshake_timeout(&config.clone(), async move {
            let mut connect = core_h2::client_request(&request).map(|()| Empty::<Bytes>::new());
            connect.extensions_mut().insert(hyper::ext::Protocol::from_static(WEBSOCKET));
            send.ready().await.map_err(hyper_error)?;
            let mut response = send.send_request(connect).await.map_err(hyper_error)?;
            let accepted = core_h2::validate_http_response(&request, &response)?;
            accepted.check_extensions(&config)?;
            let upgraded = hyper::upgrade::on(&mut response).await.map_err(hyper_error)?;
            let negotiated = Negotiated { protocol: accepted.protocol, extensions: accepted.extensions };
            let ws = crate::from_upgraded(H2Stream::new(upgraded), Role::Client, config, negotiated.clone())?;
            Ok((ws, negotiated))
        })
        .await
    }

    /// Whether the connection has ended: no more WebSockets can be opened
    /// on it.
    pub fn is_closed(&self) -> bool {
        self.send.is_closed()
    }
}

fn hyper_error(e: hyper::Error) -> Error {
    Error::Io(io::Error::other(e))
}
