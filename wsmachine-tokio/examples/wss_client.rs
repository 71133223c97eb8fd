//! A `wss://` client: connects with TLS (rustls on ring, Mozilla's roots),
//! sends each line of stdin as a text message and prints what comes back.
//!
//! ```sh
//! cargo run -p wsmachine-tokio --example wss_client --features rustls,webpki-roots -- wss://echo.example/
//! ```
//!
//! Ctrl-D closes the connection with 1000. Plain `ws://` URLs work too.

use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::main]
async fn main() -> Result<(), wsmachine_tokio::Error> {
    let url = std::env::args().nth(1).unwrap_or_else(|| "wss://127.0.0.1:9443/".to_owned());
    let (ws, negotiated) = wsmachine_tokio::connect(&url).await?;
    println!("connected to {url} (subprotocol {:?})", negotiated.protocol);
    let (mut reader, writer) = ws.split();

    // Print what arrives, in its own task, while this one reads stdin.
    let printer = tokio::spawn(async move {
        while let Some(message) = reader.recv().await {
            match message {
                Ok(message) => println!("< {}", String::from_utf8_lossy(message.as_bytes())),
                Err(e) => println!("connection failed: {e}"),
            }
        }
    });

    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    loop {
        tokio::select! {
            line = lines.next_line() => match line? {
                Some(line) => writer.send(line).await?,
                None => break,
            },
            // The server closed first.
            _ = writer.closed() => break,
        }
    }
    let closed = writer.close(1000, "bye").await?;
    let _ = printer.await;
    println!("closed: code {} reason {:?} clean {}", closed.code, closed.reason, closed.was_clean);
    Ok(())
}
