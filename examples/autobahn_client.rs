//! The Autobahn|Testsuite testee in the client role. Against a fuzzing
//! server (default `ws://127.0.0.1:9001`), it asks `/getCaseCount`, runs
//! `/runCase?case=N&agent=wsmachine` for every case, echoing each message,
//! then asks `/updateReports?agent=wsmachine`. Offers permessage-deflate when
//! built with `--features deflate`. Run by `autobahn/run.sh client`.

use std::io::{self, BufWriter, Read, Write};
use std::net::{Shutdown, TcpStream};

use wsmachine::handshake::ClientRequest;
use wsmachine::{ChaChaEntropy, Config, Connection, Event, Output};

#[path = "support/autobahn.rs"]
mod autobahn;
use autobahn::Suite;

const AGENT: &str = "wsmachine";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let suite = Suite::from_args(AGENT);
    let count = suite.case_count(run(&suite.case_count_url())?.as_deref())?;
    for url in suite.runs(count) {
        run(&url)?;
    }
    Ok(())
}

/// Runs one connection to `url`, echoing every message until it closes;
/// returns the first message's bytes.
fn run(url: &str) -> Result<Option<Vec<u8>>, Box<dyn std::error::Error>> {
    let request = ClientRequest::new(url)?;
    let stream = TcpStream::connect((request.host(), request.port()))?;
    stream.set_nodelay(true)?;
    let config = Config::default().with_max_message_size(16 << 20).with_max_frame_size(16 << 20);
    // Cases 12.* and 13.* exercise permessage-deflate (build with
    // `--features deflate`); offer it as browsers do, with context takeover.
    #[cfg(feature = "deflate")]
    let config = config.with_deflate(Some(
        wsmachine::DeflateConfig::default()
            .with_server_no_context_takeover(false)
            .with_client_no_context_takeover(false),
    ));
    // A write that moves no byte for keepalive_timeout fails (the timeout is
    // per write call: within twice that): a peer that stops reading is
    // dropped instead of holding us forever. (The fuzzing
    // server always reads; this loop does not run the connection's
    // deadlines, see echo_server for one that does.)
    stream.set_write_timeout(Some(config.keepalive_timeout))?;
    let mut conn = Connection::client(request, config, ChaChaEntropy::new())?;
    let mut reader = stream.try_clone()?;
    let mut writer = BufWriter::with_capacity(64 * 1024, stream);
    let mut buf = vec![0u8; 64 * 1024];
    let mut first = None;
    loop {
        while let Some(output) = conn.poll_output() {
            match output {
                Output::Transmit(bytes) => writer.write_all(&bytes).map_err(not_reading)?,
                Output::CloseTransport => {
                    writer.flush().map_err(not_reading)?;
                    let _ = writer.get_ref().shutdown(Shutdown::Write);
                }
                Output::Event(Event::Message(message)) => {
                    first.get_or_insert_with(|| message.as_bytes().to_vec());
                    let _ = conn.send(message);
                }
                Output::Event(Event::Closed(_)) => return Ok(first),
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
