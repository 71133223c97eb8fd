//! The Autobahn|Testsuite testee in the server role, on the tokio adapter:
//! echoes every message on 127.0.0.1:9001 (an address argument overrides),
//! with the limits the suite needs (messages up to 16 MiB), and
//! permessage-deflate when built with `--features deflate`. The adapter's
//! counterpart of the core's `examples/autobahn_server.rs`; run by
//! `AUTOBAHN_IMPL=tokio autobahn/run.sh server`.
//!
//! ```sh
//! cargo build --release -p wsmachine-tokio --features deflate --example autobahn_tokio_server
//! ```

use tokio::net::{TcpListener, TcpStream};
use wsmachine_tokio::handshake::Accept;
#[cfg(feature = "deflate")]
use wsmachine_tokio::wsmachine::DeflateConfig;
use wsmachine_tokio::{Config, Reject, is_upgrade};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:9001".to_owned());
    let listener = TcpListener::bind(&addr).await?;
    eprintln!("autobahn_tokio_server listening on ws://{}", listener.local_addr()?);
    loop {
        let (tcp, peer) = listener.accept().await?;
        tokio::spawn(async move {
            if let Err(e) = serve(tcp).await {
                eprintln!("[{peer}] {e}");
            }
        });
    }
}

fn config() -> Config {
    let config = Config::default().with_max_message_size(16 << 20).with_max_frame_size(16 << 20);
    // Cases 12.* and 13.* exercise permessage-deflate (build with
    // `--features deflate`). Level 1: the codec is the core's, which its
    // own testees run at the default level; this one is about the adapter,
    // and CI runs four suites at once on two cores, where compressing is
    // most of a testee's time.
    #[cfg(feature = "deflate")]
    let config = config.with_deflate(Some(DeflateConfig::default().with_compression_level(1)));
    config
}

async fn serve(tcp: TcpStream) -> Result<(), wsmachine_tokio::Error> {
    tcp.set_nodelay(true)?;
    let mut ws = wsmachine_tokio::accept_with(tcp, config(), |request| {
        if is_upgrade(request) { Ok(Accept::new()) } else { Err(Reject::new(404).body("WebSocket only\n")) }
    })
    .await?;
    // Each message goes back as it came, text as text, binary as binary.
    // The connection answers Pings and the peer's Close by itself; a
    // protocol error ends the stream with one `Err`, after the connection
    // has sent its Close (1002, 1007, ...).
    while let Some(message) = ws.recv().await {
        // Once we are closing there is nothing to echo to.
        let _ = ws.send(message?).await;
    }
    Ok(())
}
