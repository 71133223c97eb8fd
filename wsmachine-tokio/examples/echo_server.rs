//! The echo server on the tokio adapter: each connection a task, each
//! message sent back. Serves the same page as the core's `echo_server`.
//!
//! ```sh
//! cargo run -p wsmachine-tokio --example echo_server            # 127.0.0.1:9003
//! ```
//!
//! Open `http://127.0.0.1:9003/` in a browser: the page opens a WebSocket
//! here, sends messages, closes with a code and reason of your choice and
//! shows the `CloseEvent`.

use tokio::net::{TcpListener, TcpStream};
use wsmachine_tokio::handshake::Accept;
use wsmachine_tokio::{Config, Reject, is_upgrade};

const PAGE: &str = include_str!("../../examples/echo_page.html");

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:9003".to_owned());
    let listener = TcpListener::bind(&addr).await?;
    let local = listener.local_addr()?;
    println!("wsmachine-tokio echo server: ws://{local}/  (open http://{local}/ in a browser)");
    loop {
        let (tcp, peer) = listener.accept().await?;
        tokio::spawn(async move {
            match serve(tcp).await {
                Ok(()) => {}
                Err(wsmachine_tokio::Error::NotUpgraded(status)) => println!("[{peer}] http -> {status}"),
                Err(e) => println!("[{peer}] {e}"),
            }
        });
    }
}

async fn serve(tcp: TcpStream) -> Result<(), wsmachine_tokio::Error> {
    tcp.set_nodelay(true)?;
    let peer = tcp.peer_addr()?;
    let config = Config::default().with_max_message_size(16 << 20).with_max_frame_size(16 << 20);
    let mut ws = wsmachine_tokio::accept_with(tcp, config, |request| {
        if is_upgrade(request) {
            println!("[{peer}] upgrade {}", request.path());
            return Ok(Accept::new());
        }
        // A browser asking for the page.
        match request.path() {
            "/" | "/index.html" => Err(Reject::new(200).header("Content-Type", "text/html; charset=utf-8").body(PAGE)),
            _ => Err(Reject::new(404).body("not found\n")),
        }
    })
    .await?;
    while let Some(message) = ws.recv().await {
        // Once we are closing there is nothing to echo to.
        let _ = ws.send(message?).await;
    }
    let closed = ws.closed().await;
    println!("[{peer}] closed: code {} reason {:?} was_clean {}", closed.code, closed.reason, closed.was_clean);
    Ok(())
}
