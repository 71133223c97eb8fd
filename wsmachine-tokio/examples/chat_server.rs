//! A broadcast chat: every message a client sends goes to every client.
//! Ctrl-C closes every connection with 1001 (Going Away) and waits for the
//! closing handshakes before exiting.
//!
//! ```sh
//! cargo run -p wsmachine-tokio --example chat_server            # 127.0.0.1:9004
//! ```

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio::task::JoinSet;
use wsmachine_tokio::{CloseCode, Message};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:9004".to_owned());
    let listener = TcpListener::bind(&addr).await?;
    println!("chat server: ws://{}/", listener.local_addr()?);
    let (room, _) = broadcast::channel::<Arc<Message>>(1024);
    let (shutdown, _) = broadcast::channel::<()>(1);
    let mut clients = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (tcp, peer) = accepted?;
                tcp.set_nodelay(true)?;
                let (room, mut feed, mut stop) = (room.clone(), room.subscribe(), shutdown.subscribe());
                clients.spawn(async move {
                    let Ok(ws) = wsmachine_tokio::accept(tcp).await else { return };
                    let (mut reader, writer) = ws.split();
                    let fanout = writer.clone();
                    // Everything said in the room goes out to this client.
                    tokio::spawn(async move {
                        loop {
                            match feed.recv().await {
                                Ok(message) if fanout.send((*message).clone()).await.is_ok() => {}
                                // Too slow to keep up: skip what it missed.
                                Err(broadcast::error::RecvError::Lagged(_)) => {}
                                _ => break,
                            }
                        }
                    });
                    loop {
                        tokio::select! {
                            message = reader.recv() => match message {
                                Some(Ok(message)) => { let _ = room.send(Arc::new(message)); }
                                _ => break,
                            },
                            _ = stop.recv() => {
                                let _ = writer.close(CloseCode::GOING_AWAY, "server shutting down").await;
                                break;
                            }
                        }
                    }
                    println!("[{peer}] left: {:?}", reader.closed().await.code);
                });
            }
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    println!("shutting down {} connections", clients.len());
    let _ = shutdown.send(());
    while clients.join_next().await.is_some() {}
    Ok(())
}
