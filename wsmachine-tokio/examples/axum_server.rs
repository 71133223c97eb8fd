//! An echo server on axum 0.8: the echo page at `/` for a browser, and a
//! WebSocket upgrade of a request to `/` that asks for one, each message
//! sent back. With `--features deflate` it also answers permessage-deflate.
//!
//! ```sh
//! cargo run -p wsmachine-tokio --features hyper --example axum_server   # 127.0.0.1:9005
//! ```
//!
//! axum serves with hyper underneath, so the handler takes the whole
//! request (`axum::extract::Request`) and upgrades it with
//! `wsmachine_tokio::upgrade`, as a hyper service does.

use axum::Router;
use axum::extract::Request;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use wsmachine_tokio::{Config, WebSocket};

const PAGE: &str = include_str!("../../examples/echo_page.html");

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:9005".to_owned());
    let listener = TcpListener::bind(&addr).await?;
    let local = listener.local_addr()?;
    println!("wsmachine-tokio axum server: ws://{local}/  (open http://{local}/ in a browser)");
    let app = Router::new().route("/", get(root));
    axum::serve(listener, app).await
}

/// The page for a browser, a WebSocket for an upgrade request.
async fn root(mut request: Request) -> Response {
    if !wsmachine_tokio::is_upgrade_request(&request) {
        return Html(PAGE).into_response();
    }
    let config = Config::default().with_max_message_size(16 << 20).with_max_frame_size(16 << 20);
    #[cfg(feature = "deflate")]
    let config = config.with_deflate(Some(Default::default()));
    match wsmachine_tokio::upgrade(&mut request, config) {
        Ok((response, websocket)) => {
            tokio::spawn(async move {
                match websocket.await {
                    Ok(ws) => echo(ws).await,
                    Err(e) => println!("upgrade failed: {e}"),
                }
            });
            response.into_response()
        }
        Err(e) => {
            println!("refused: {e}");
            wsmachine_tokio::error_response(&e).into_response()
        }
    }
}

async fn echo<S>(mut ws: WebSocket<S>) {
    println!("open: {:?}", ws.negotiated());
    while let Some(Ok(message)) = ws.recv().await {
        // Once we are closing there is nothing to echo to.
        let _ = ws.send(message).await;
    }
    let closed = ws.closed().await;
    println!("closed: code {} reason {:?} was_clean {}", closed.code, closed.reason, closed.was_clean);
}
