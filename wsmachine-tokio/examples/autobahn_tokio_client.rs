//! The Autobahn|Testsuite testee in the client role, on the tokio adapter.
//! Against a fuzzing server (default `ws://127.0.0.1:9001`), it asks
//! `/getCaseCount`, runs `/runCase?case=N&agent=wsmachine-tokio` for every
//! case, echoing each message, then asks
//! `/updateReports?agent=wsmachine-tokio`. Offers permessage-deflate when
//! built with `--features deflate`. The adapter's counterpart of the core's
//! `examples/autobahn_client.rs`; run by `AUTOBAHN_IMPL=tokio autobahn/run.sh client`.
//!
//! ```sh
//! cargo build --release -p wsmachine-tokio --features deflate --example autobahn_tokio_client
//! ```

use wsmachine_tokio::Config;
use wsmachine_tokio::handshake::ClientRequest;
#[cfg(feature = "deflate")]
use wsmachine_tokio::wsmachine::DeflateConfig;

#[path = "../../examples/support/autobahn.rs"]
mod autobahn;
use autobahn::Suite;

const AGENT: &str = "wsmachine-tokio";

type BoxError = Box<dyn std::error::Error>;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    let suite = Suite::from_args(AGENT);
    let count = suite.case_count(run(&suite.case_count_url()).await?.as_deref())?;
    for url in suite.runs(count) {
        run(&url).await?;
    }
    Ok(())
}

fn config() -> Config {
    let config = Config::default().with_max_message_size(16 << 20).with_max_frame_size(16 << 20);
    // Cases 12.* and 13.* exercise permessage-deflate (build with
    // `--features deflate`); offer it as browsers do, with context takeover.
    // Level 1, as the adapter's server testee (see there).
    #[cfg(feature = "deflate")]
    let config = config.with_deflate(Some(
        DeflateConfig::default()
            .with_server_no_context_takeover(false)
            .with_client_no_context_takeover(false)
            .with_compression_level(1),
    ));
    config
}

/// Runs one connection to `url`, echoing every message until it closes;
/// returns the first message's bytes. A connection the suite fails on
/// purpose (a protocol error, which our Close answers) is no error here:
/// the report grades it.
async fn run(url: &str) -> Result<Option<Vec<u8>>, BoxError> {
    let (mut ws, _negotiated) = wsmachine_tokio::connect_with(ClientRequest::new(url)?, config()).await?;
    let mut first = None;
    while let Some(Ok(message)) = ws.recv().await {
        first.get_or_insert_with(|| message.as_bytes().to_vec());
        // Once we are closing there is nothing to echo to.
        let _ = ws.send(message).await;
    }
    // The end of the stream is the end of the connection (`recv` gives
    // `None` or its last `Err` only once the connection has closed).
    ws.closed().await;
    Ok(first)
}
