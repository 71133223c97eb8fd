//! The Autobahn|Testsuite testee in the server role: echoes every message on
//! 127.0.0.1:9001 (an address argument overrides), with the limits the suite
//! needs (messages up to 16 MiB), and permessage-deflate when built with
//! `--features deflate`. Run by `autobahn/run.sh server`. Driven as the
//! README's loop drives a connection: `read_from`, `poll_event_ref`,
//! `write_to` (see `support/echo_loop.rs`).

use std::io;
use std::net::{TcpListener, TcpStream};
use std::thread;

use wsmachine::handshake::Accept;
use wsmachine::{Config, Connection, Event};

#[path = "support/echo_loop.rs"]
mod echo_loop;

fn main() -> io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:9001".to_owned());
    let listener = TcpListener::bind(&addr)?;
    eprintln!("autobahn_server listening on ws://{}", listener.local_addr()?);
    for stream in listener.incoming().flatten() {
        thread::spawn(move || {
            if let Err(e) = serve(stream) {
                eprintln!("transport error: {e}");
            }
        });
    }
    Ok(())
}

fn config() -> Config {
    let config = Config::default().with_max_message_size(16 << 20).with_max_frame_size(16 << 20);
    // Cases 12.* and 13.* exercise permessage-deflate (build with
    // `--features deflate`).
    #[cfg(feature = "deflate")]
    let config = config.with_deflate(Some(wsmachine::DeflateConfig::default()));
    config
}

fn serve(mut stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let config = config();
    // A write that moves no byte for keepalive_timeout fails (the timeout is
    // per write call: within twice that).
    stream.set_write_timeout(Some(config.keepalive_timeout))?;
    let mut conn = Connection::server(config);
    echo_loop::drive(&mut conn, &mut stream, |conn, event| match event {
        Event::UpgradeRequest(_) => {
            let _ = conn.accept(Accept::new());
        }
        Event::HttpRequest(_) => {
            let _ = conn.reject(404, &[], b"WebSocket only\n");
        }
        Event::Message(message) => {
            let _ = conn.send(message);
        }
        _ => {}
    })
}
