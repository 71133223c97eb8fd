//! The Autobahn|Testsuite testee in the server role: echoes every message on
//! 127.0.0.1:9001 (an address argument overrides), with the limits the suite
//! needs (messages up to 16 MiB), and permessage-deflate when built with
//! `--features deflate`. Run by `autobahn/run.sh server`.

use std::io::{self, BufWriter, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::thread;

use wsmachine::handshake::Accept;
use wsmachine::{Config, Connection, Event, Output};

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

fn serve(stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let config = config();
    // A write that moves no byte for keepalive_timeout fails (the timeout is
    // per write call: within twice that): a peer that stops reading is
    // dropped instead of holding this thread and its bytes forever. (The fuzzing client always reads; this loop does not
    // run the connection's deadlines, see echo_server for one that does.)
    stream.set_write_timeout(Some(config.keepalive_timeout))?;
    let mut reader = stream.try_clone()?;
    let mut writer = BufWriter::with_capacity(64 * 1024, stream);
    let mut conn = Connection::server(config);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        while let Some(output) = conn.poll_output() {
            match output {
                Output::Transmit(bytes) => writer.write_all(&bytes).map_err(not_reading)?,
                Output::CloseTransport => {
                    writer.flush().map_err(not_reading)?;
                    let _ = writer.get_ref().shutdown(Shutdown::Write);
                }
                Output::Event(Event::UpgradeRequest(_)) => {
                    let _ = conn.accept(Accept::new());
                }
                Output::Event(Event::HttpRequest(_)) => {
                    let _ = conn.reject(404, &[], b"WebSocket only\n");
                }
                Output::Event(Event::Message(message)) => {
                    let _ = conn.send(message);
                }
                Output::Event(Event::Closed(_)) => return Ok(()),
                _ => {}
            }
        }
        writer.flush().map_err(not_reading)?;
        match reader.read(&mut buf) {
            Ok(0) => conn.handle_eof(),
            Ok(n) => conn.handle_bytes(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => conn.handle_eof(),
        }
    }
}

/// A write that timed out: the peer took nothing for keepalive_timeout.
fn not_reading(e: io::Error) -> io::Error {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            io::Error::new(io::ErrorKind::TimedOut, "the peer is not reading: no byte taken for keepalive_timeout")
        }
        _ => e,
    }
}
