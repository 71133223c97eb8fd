//! Opening a connection: the client's `connect`, the server's `accept`,
//! and `from_upgraded` for a handshake done elsewhere.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use wsmachine::handshake::{Accept, ClientRequest, ExtensionOffer, Request};
use wsmachine::{ChaChaEntropy, Config, Connection, Event, Negotiated, Output, Role};

use crate::error::handshake_failure;
use crate::{Error, MaybeTlsStream, WebSocket};

/// How a server answers a request instead of upgrading it: any final HTTP
/// status with headers and a body (a 403 for a refused upgrade, a 200 with
/// a page for a browser's plain request). `Content-Length` and
/// `Connection: close` are added.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reject {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reject {
    /// An answer with this status (200–999), no headers and no body.
    pub fn new(status: u16) -> Self {
        Self { status, headers: Vec::new(), body: Vec::new() }
    }

    /// Adds a header.
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body.
    #[must_use]
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// The status.
    pub fn status(&self) -> u16 {
        self.status
    }
}

/// Whether `request` asks for a WebSocket upgrade. An `accept_with`
/// callback also sees plain HTTP requests (a browser asking for a page);
/// for those this is false, and only a [`Reject`] (e.g. a 200 with the page)
/// makes sense: accepting one answers 426 Upgrade Required.
pub fn is_upgrade(request: &Request) -> bool {
    // The core leaves the key empty only in a plain request.
    !request.key().is_empty()
}

/// Connects to a `ws://` or `wss://` URL with the default [`Config`]:
/// resolves the host, opens TCP (with `TCP_NODELAY`), runs TLS for `wss://`
/// (feature `rustls`) and the opening handshake. Returns the open
/// connection and what the handshake agreed.
pub async fn connect(url: &str) -> Result<(WebSocket<MaybeTlsStream>, Negotiated), Error> {
    connect_with(ClientRequest::new(url)?, Config::default()).await
}

/// [`connect`] with a request built by hand (subprotocols, `Origin`, extra
/// headers) and settings. [`Config::handshake_timeout`] bounds the whole:
/// resolving, TCP, TLS and the opening handshake.
pub async fn connect_with(
    request: ClientRequest,
    config: Config,
) -> Result<(WebSocket<MaybeTlsStream>, Negotiated), Error> {
    within_handshake_timeout(&config.clone(), async move {
        let tcp = tcp_connect(&request).await?;
        let io = if request.is_secure() {
            crate::tls::wrap_default(tcp, request.host()).await?
        } else {
            MaybeTlsStream::Plain(tcp)
        };
        client(io, request, config).await
    })
    .await
}

/// TCP to the request's host and port, with `TCP_NODELAY`.
pub(crate) async fn tcp_connect(request: &ClientRequest) -> Result<TcpStream, Error> {
    let tcp = TcpStream::connect((request.host(), request.port())).await?;
    tcp.set_nodelay(true)?;
    Ok(tcp)
}

/// Runs `connecting` within [`Config::handshake_timeout`], if set.
pub(crate) async fn within_handshake_timeout<T>(
    config: &Config,
    connecting: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    match config.handshake_timeout {
        Some(limit) => match tokio::time::timeout(limit, connecting).await {
            Ok(result) => result,
            Err(_) => Err(Error::Handshake(wsmachine::HandshakeError::Timeout)),
        },
        None => connecting.await,
    }
}

/// Runs the client's opening handshake over a transport already connected
/// (a proxy tunnel, a custom TLS setup, a Unix socket), then starts the
/// connection.
pub async fn client<S>(mut io: S, request: ClientRequest, config: Config) -> Result<(WebSocket<S>, Negotiated), Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (config, high, low) = adapt(config);
    let mut conn = Connection::client(request, config, ChaChaEntropy::new())?;
    let negotiated = open(&mut io, &mut conn, |_, _| {}).await?;
    Ok((WebSocket::spawn(io, conn, high, low, negotiated.clone()), negotiated))
}

/// Accepts a WebSocket connection on `io` with the default [`Config`]: any
/// upgrade request is accepted (the first subprotocol of
/// [`Config::protocols`] the client offers, none by default); a plain HTTP
/// request is answered 426 and fails with [`Error::NotUpgraded`].
///
/// `io` is any stream: a `TcpStream` (set `TCP_NODELAY` on it first, or
/// small messages wait for Nagle's algorithm), a TLS stream, a Unix socket.
pub async fn accept<S>(io: S) -> Result<WebSocket<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    accept_with(io, Config::default(), |_| Ok(Accept::new())).await
}

/// Accepts a WebSocket connection on `io`, letting `callback` look at the
/// request first: `Ok(Accept)` upgrades (choosing a subprotocol, adding
/// headers such as `Set-Cookie`), `Err(Reject)` answers with any other
/// response and fails with [`Error::NotUpgraded`]. The callback also sees a
/// plain HTTP request ([`is_upgrade`] false), which it can answer with a
/// page. A malformed request is answered with its error status (400, 405,
/// 426, 431) without calling it. An answer the core refuses (a subprotocol
/// the client did not offer, a header the handshake writes itself, a
/// status that is not final) is answered 500 and fails with
/// [`Error::Usage`]. [`Config::handshake_timeout`] bounds the whole
/// exchange.
pub async fn accept_with<S, F>(mut io: S, config: Config, callback: F) -> Result<WebSocket<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    F: FnOnce(&Request) -> Result<Accept, Reject>,
{
    let (config, high, low) = adapt(config);
    let mut conn = Connection::server(config);
    let mut callback = Some(callback);
    let mut refused = None;
    let mut misuse = None;
    let result = open(&mut io, &mut conn, |conn, request| {
        let decision = match callback.take() {
            Some(f) => f(request),
            None => Err(Reject::new(500)),
        };
        let upgrade = is_upgrade(request);
        match decision {
            Ok(accept) if upgrade => {
                if let Err(e) = conn.accept(accept) {
                    misuse = Some(e);
                    let _ = conn.reject(500, &[], b"");
                }
            }
            Ok(_) => {
                refused = Some(426);
                let _ = conn.reject(426, &[("Upgrade", "websocket")], b"");
            }
            Err(r) => {
                let headers: Vec<(&str, &str)> = r.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
                refused = Some(r.status);
                if let Err(e) = conn.reject(r.status, &headers, &r.body) {
                    misuse = Some(e);
                    let _ = conn.reject(500, &[], b"");
                }
            }
        }
    })
    .await;
    match (result, misuse, refused) {
        (Ok(negotiated), ..) => Ok(WebSocket::spawn(io, conn, high, low, negotiated)),
        // The callback's answer was invalid (500 went out instead).
        (Err(_), Some(e), _) => Err(Error::Usage(e)),
        (Err(_), None, Some(status)) => Err(Error::NotUpgraded(status)),
        (Err(e), None, None) => Err(e),
    }
}

/// Starts a connection whose opening handshake was done elsewhere (a hyper
/// or axum upgrade, HTTP/2 extended CONNECT): `io` carries frames from the
/// first byte. `negotiated` is what that handshake agreed; its extensions
/// are run (permessage-deflate with the `deflate` feature; any other fails
/// with [`HandshakeError::UnsupportedExtension`](wsmachine::HandshakeError)).
///
/// Must be called within a tokio runtime: it spawns the connection's task.
pub fn from_upgraded<S>(io: S, role: Role, config: Config, negotiated: Negotiated) -> Result<WebSocket<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (config, high, low) = adapt(config);
    let extensions: &[ExtensionOffer] = &negotiated.extensions;
    let mut conn = Connection::new_open(role, config, ChaChaEntropy::new()).with_extensions(extensions)?;
    conn.handle_timeout_at(crate::now());
    Ok(WebSocket::spawn(io, conn, high, low, negotiated))
}

/// The settings the core runs with under the adapter, and the send marks
/// the adapter applies itself: the driver drains the core's queue at once,
/// so the backlog that matters is the adapter's (see `State::backlog`).
/// Messages are delivered whole (`streaming_receive` off), and Pings are
/// always answered by the connection (`auto_pong` on): the adapter does not
/// deliver Pings to the application, so it could not answer them.
fn adapt(mut config: Config) -> (Config, Option<usize>, usize) {
    let (high, low) = (config.send_high_water.take(), config.send_low_water);
    config.streaming_receive = false;
    config.auto_pong = true;
    (config, high, low)
}

/// Runs the opening handshake on `conn` over `io` until OPEN, handing each
/// request (server) to `decide`, which must answer it. Whatever arrived
/// behind the handshake stays in `conn` for the driver.
async fn open<S>(
    io: &mut S,
    conn: &mut Connection,
    mut decide: impl FnMut(&mut Connection, &Request),
) -> Result<Negotiated, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    conn.handle_timeout_at(crate::now());
    let mut out = Vec::new();
    loop {
        let mut opened = None;
        let mut failed = None;
        while let Some(output) = conn.poll_output() {
            match output {
                Output::Transmit(bytes) => out.extend_from_slice(&bytes),
                Output::Event(Event::UpgradeRequest(request) | Event::HttpRequest(request)) => decide(conn, &request),
                Output::Event(Event::Open(negotiated)) => {
                    // Stop here: anything behind it is the driver's.
                    opened = Some(negotiated);
                    break;
                }
                Output::CloseTransport => {}
                Output::Event(Event::Closed(closed)) => failed = Some(closed),
                _ => {}
            }
        }
        if !out.is_empty() {
            // A rejection or error response is written before giving up.
            io.write_all(&out).await?;
            io.flush().await?;
            out.clear();
        }
        if let Some(closed) = failed {
            let _ = io.shutdown().await;
            return Err(handshake_failure(closed));
        }
        if let Some(negotiated) = opened {
            return Ok(negotiated);
        }
        let deadline = conn.poll_timeout_at().map(tokio::time::Instant::from_std);
        let mut buf = conn.read_buffer(4096);
        let read = io.read_buf(&mut buf);
        let result = match deadline {
            Some(d) => tokio::time::timeout_at(d, read).await.ok(),
            None => Some(read.await),
        };
        conn.handle_timeout_at(crate::now());
        match result {
            None => {}
            Some(Ok(0)) => conn.handle_eof(),
            Some(Ok(_)) => conn.handle_bytes_owned(buf),
            Some(Err(e)) => return Err(e.into()),
        }
    }
}
