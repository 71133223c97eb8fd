//! An echo server that takes WebSockets over HTTP/2 (RFC 8441, extended
//! CONNECT) and over HTTP/1.1 (upgrade) on one port, with the echo page at
//! `/` for a browser. HTTPS with ALPN `h2` and `http/1.1` (a self-signed
//! certificate for `localhost` and `127.0.0.1` made at start, or your own),
//! and cleartext HTTP/1.1 and h2c (prior knowledge) on the same port: the
//! first byte tells TLS from cleartext.
//!
//! ```sh
//! cargo run -p wsmachine-tokio --features http2,rustls --example h2_server   # 127.0.0.1:9005
//! cargo run -p wsmachine-tokio --features http2,rustls --example h2_server -- 0.0.0.0:8443 cert.pem key.pem
//! ```
//!
//! Open `https://127.0.0.1:9005/` in a browser (accept the certificate):
//! the page comes over HTTP/2, and the browser opens its `wss://` WebSocket
//! as a stream of that connection. Each WebSocket is printed with the HTTP
//! version it came over: `websocket 3 over HTTP/2 (extended CONNECT)`.
//! Every message is sent back, except a text message `/close CODE REASON`,
//! to which the server answers by closing with that code and reason. With
//! `--features deflate` it also answers permessage-deflate, on both HTTP
//! versions (`.ci/browser_h2.sh` builds it so).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use wsmachine_tokio::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, pem::PemObject};
use wsmachine_tokio::tokio_rustls::TlsAcceptor;
use wsmachine_tokio::{CloseCode, Config, Error, Message, WebSocket};

const PAGE: &str = include_str!("../../examples/echo_page.html");

type Body = BoxBody<Bytes, Infallible>;

/// Numbers the WebSockets, which share a peer address on HTTP/2.
static SOCKETS: AtomicU64 = AtomicU64::new(1);

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let addr = args.first().cloned().unwrap_or_else(|| "127.0.0.1:9005".to_owned());
    let (chain, key) = match (args.get(1), args.get(2)) {
        (Some(cert), Some(key)) => {
            (CertificateDer::pem_file_iter(cert)?.collect::<Result<Vec<_>, _>>()?, PrivateKeyDer::from_pem_file(key)?)
        }
        _ => {
            let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
            let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(made.key_pair.serialize_der()));
            (vec![made.cert.der().clone()], key)
        }
    };
    let mut tls = (*wsmachine_tokio::server_config(chain, key)?).clone();
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = TlsAcceptor::from(Arc::new(tls));

    // HTTP/1.1 and HTTP/2 on one connection type; extended CONNECT on.
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http2().enable_connect_protocol();
    let builder = Arc::new(builder);

    let listener = TcpListener::bind(&addr).await?;
    let local = listener.local_addr()?;
    println!("wsmachine-tokio h2 server: https://{local}/ (HTTP/2 and HTTP/1.1; cleartext and h2c too)");
    loop {
        let (tcp, peer) = listener.accept().await?;
        tcp.set_nodelay(true)?;
        let (acceptor, builder) = (acceptor.clone(), Arc::clone(&builder));
        tokio::spawn(async move {
            let mut first = [0u8; 1];
            // A TLS connection starts with a handshake record (0x16).
            let tls = matches!(tcp.peek(&mut first).await, Ok(1) if first[0] == 0x16);
            if tls {
                match tokio::time::timeout(std::time::Duration::from_secs(10), acceptor.accept(tcp)).await {
                    Ok(Ok(stream)) => serve(&builder, stream, peer, "https").await,
                    Ok(Err(e)) => println!("[{peer}] tls: {e}"),
                    Err(_) => println!("[{peer}] tls: timed out"),
                }
            } else {
                serve(&builder, tcp, peer, "http").await;
            }
        });
    }
}

/// Serves one connection, HTTP/1.1 or HTTP/2, whichever it speaks.
async fn serve<S>(builder: &auto::Builder<TokioExecutor>, io: S, peer: SocketAddr, scheme: &'static str)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |request| handle(request, peer, scheme));
    // `with_upgrades` for HTTP/1.1's 101; HTTP/2's CONNECT needs nothing more.
    if let Err(e) = builder.serve_connection_with_upgrades(TokioIo::new(io), service).await {
        println!("[{peer}] http: {e}");
    }
}

async fn handle(mut request: Request<Incoming>, peer: SocketAddr, scheme: &str) -> Result<Response<Body>, Infallible> {
    let version = request.version();
    let config = Config::default().with_max_message_size(16 << 20).with_max_frame_size(16 << 20);
    #[cfg(feature = "deflate")]
    let config = config.with_deflate(Some(Default::default()));

    if wsmachine_tokio::http2::is_connect_request(&request) {
        let id = SOCKETS.fetch_add(1, Ordering::Relaxed);
        return Ok(match wsmachine_tokio::http2::accept(&mut request, config) {
            Ok((response, websocket)) => {
                println!("[{peer}] websocket {id} over HTTP/2 (extended CONNECT) {scheme} {}", request.uri().path());
                spawn_echo(websocket, id);
                response.map(|body| body.boxed())
            }
            Err(refusal) => {
                println!("[{peer}] {refusal}");
                refusal.response().map(|body| body.boxed())
            }
        });
    }
    if wsmachine_tokio::is_upgrade_request(&request) {
        let id = SOCKETS.fetch_add(1, Ordering::Relaxed);
        return Ok(match wsmachine_tokio::upgrade(&mut request, config) {
            Ok((response, websocket)) => {
                println!("[{peer}] websocket {id} over {version:?} (upgrade) {scheme} {}", request.uri().path());
                spawn_echo(websocket, id);
                response.map(|body| body.boxed())
            }
            Err(e) => {
                println!("[{peer}] refused: {e}");
                wsmachine_tokio::error_response(&e).map(|body| body.boxed())
            }
        });
    }
    // A browser asking for the page.
    let (status, content_type, body) = match request.uri().path() {
        "/" | "/index.html" => (StatusCode::OK, "text/html; charset=utf-8", PAGE),
        _ => (StatusCode::NOT_FOUND, "text/plain; charset=utf-8", "not found\n"),
    };
    println!("[{peer}] {version:?} {} {} -> {}", request.method(), request.uri().path(), status.as_u16());
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())).boxed());
    *response.status_mut() = status;
    response.headers_mut().insert(hyper::header::CONTENT_TYPE, content_type.parse().expect("a valid value"));
    Ok(response)
}

/// Echoes on the WebSocket once the handshake's future gives it.
fn spawn_echo<S, E>(websocket: impl Future<Output = Result<WebSocket<S>, E>> + Send + 'static, id: u64)
where
    S: Send + 'static,
    E: std::fmt::Display + Send,
{
    tokio::spawn(async move {
        match websocket.await {
            Ok(ws) => echo(ws, id).await,
            Err(e) => println!("[ws {id}] not opened: {e}"),
        }
    });
}

/// Echoes every message; `/close CODE REASON` closes from this side.
async fn echo<S>(mut ws: WebSocket<S>, id: u64) {
    println!("[ws {id}] open: {:?}", ws.negotiated());
    while let Some(message) = ws.recv().await {
        let message = match message {
            Ok(message) => message,
            Err(Error::Failed(closed)) => {
                println!("[ws {id}] failed: {closed:?}");
                break;
            }
            Err(e) => {
                println!("[ws {id}] {e}");
                break;
            }
        };
        if let Some((code, reason)) = close_command(&message) {
            println!("[ws {id}] closing: code {code} reason {reason:?}");
            if let Err(e) = ws.close(code, &reason).await {
                println!("[ws {id}] close: {e}");
            }
            break;
        }
        // Once we are closing there is nothing to echo to.
        let _ = ws.send(message).await;
    }
    let closed = ws.closed().await;
    println!("[ws {id}] closed: code {} reason {:?} was_clean {}", closed.code, closed.reason, closed.was_clean);
}

/// `/close CODE REASON` as a text message.
fn close_command(message: &Message) -> Option<(CloseCode, String)> {
    let text = std::str::from_utf8(message.as_bytes()).ok().filter(|_| message.is_text())?;
    let rest = text.strip_prefix("/close ")?;
    let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
    Some((CloseCode::new(code.parse().ok()?), reason.to_owned()))
}
