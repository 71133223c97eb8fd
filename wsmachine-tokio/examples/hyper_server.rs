//! An echo server on hyper 1.x: the echo page at `/` for a browser, and a
//! WebSocket upgrade of any request that asks for one, each message sent
//! back. With `--features deflate` it also answers permessage-deflate.
//!
//! ```sh
//! cargo run -p wsmachine-tokio --features hyper --example hyper_server   # 127.0.0.1:9004
//! ```
//!
//! Open `http://127.0.0.1:9004/` in a browser: the page opens a WebSocket
//! here, sends messages, closes with a code and reason of your choice and
//! shows the `CloseEvent`.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use wsmachine_tokio::{Config, Error, WebSocket};

const PAGE: &str = include_str!("../../examples/echo_page.html");

type Body = BoxBody<Bytes, Infallible>;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:9004".to_owned());
    let listener = TcpListener::bind(&addr).await?;
    let local = listener.local_addr()?;
    println!("wsmachine-tokio hyper server: ws://{local}/  (open http://{local}/ in a browser)");
    loop {
        let (tcp, peer) = listener.accept().await?;
        tcp.set_nodelay(true)?;
        tokio::spawn(async move {
            let service = service_fn(move |request| serve(request, peer));
            // `with_upgrades` lets hyper hand the connection over after the 101.
            if let Err(e) = http1::Builder::new().serve_connection(TokioIo::new(tcp), service).with_upgrades().await {
                println!("[{peer}] http: {e}");
            }
        });
    }
}

async fn serve(mut request: Request<Incoming>, peer: SocketAddr) -> Result<Response<Body>, Infallible> {
    if !wsmachine_tokio::is_upgrade_request(&request) {
        // A browser asking for the page.
        let (status, content_type, body) = match request.uri().path() {
            "/" | "/index.html" => (StatusCode::OK, "text/html; charset=utf-8", PAGE),
            _ => (StatusCode::NOT_FOUND, "text/plain; charset=utf-8", "not found\n"),
        };
        println!("[{peer}] http {} -> {status}", request.uri().path());
        let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())).boxed());
        *response.status_mut() = status;
        response.headers_mut().insert(hyper::header::CONTENT_TYPE, content_type.parse().expect("a valid value"));
        return Ok(response);
    }
    let config = Config::default().with_max_message_size(16 << 20).with_max_frame_size(16 << 20);
    #[cfg(feature = "deflate")]
    let config = config.with_deflate(Some(Default::default()));
    match wsmachine_tokio::upgrade(&mut request, config) {
        Ok((response, websocket)) => {
            println!("[{peer}] upgrade {}", request.uri().path());
            tokio::spawn(async move {
                match websocket.await {
                    Ok(ws) => echo(ws, peer).await,
                    Err(e) => println!("[{peer}] upgrade failed: {e}"),
                }
            });
            Ok(response.map(|body| body.boxed()))
        }
        Err(e) => {
            println!("[{peer}] refused: {e}");
            Ok(wsmachine_tokio::error_response(&e).map(|body| body.boxed()))
        }
    }
}

async fn echo<S>(mut ws: WebSocket<S>, peer: SocketAddr) {
    println!("[{peer}] open: {:?}", ws.negotiated());
    while let Some(message) = ws.recv().await {
        let message = match message {
            Ok(message) => message,
            Err(Error::Failed(closed)) => {
                println!("[{peer}] failed: {closed:?}");
                return;
            }
            Err(e) => {
                println!("[{peer}] {e}");
                return;
            }
        };
        // Once we are closing there is nothing to echo to.
        let _ = ws.send(message).await;
    }
    let closed = ws.closed().await;
    println!("[{peer}] closed: code {} reason {:?} was_clean {}", closed.code, closed.reason, closed.was_clean);
}
