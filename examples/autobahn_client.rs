//! The Autobahn|Testsuite testee in the client role. Against a fuzzing
//! server (default `ws://127.0.0.1:9001`), it asks `/getCaseCount`, runs
//! `/runCase?case=N&agent=wsmachine` for every case, echoing each message,
//! then asks `/updateReports?agent=wsmachine`. Offers permessage-deflate when
//! built with `--features deflate`. Run by `autobahn/run.sh client`. Driven
//! as the README's loop drives a connection: `read_from`, `poll_event_ref`,
//! `write_to` (see `support/echo_loop.rs`).

use std::net::TcpStream;

use wsmachine::handshake::ClientRequest;
use wsmachine::{ChaChaEntropy, Config, Connection, Event};

#[path = "support/autobahn.rs"]
mod autobahn;
use autobahn::Suite;
#[path = "support/echo_loop.rs"]
mod echo_loop;

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
    let mut stream = TcpStream::connect((request.host(), request.port()))?;
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
    // per write call: within twice that).
    stream.set_write_timeout(Some(config.keepalive_timeout))?;
    let mut conn = Connection::client(request, config, ChaChaEntropy::new())?;
    let mut first = None;
    echo_loop::drive(&mut conn, &mut stream, |conn, event| {
        if let Event::Message(message) = event {
            first.get_or_insert_with(|| message.as_bytes().to_vec());
            let _ = conn.send(message);
        }
    })?;
    Ok(first)
}
