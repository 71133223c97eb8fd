//! Helpers shared by the adapter's tests.
#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use wsmachine_tokio::{Config, MaybeTlsStream, WebSocket};

/// A listener on loopback and its `ws://` URL.
pub(crate) async fn listener() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    (listener, url)
}

/// A connected pair over loopback: (server, client), each with its config.
pub(crate) async fn pair(server: Config, client: Config) -> (WebSocket<TcpStream>, WebSocket<MaybeTlsStream>) {
    let (listener, url) = listener().await;
    let server_task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        wsmachine_tokio::accept_with(tcp, server, |_| Ok(Default::default())).await.unwrap()
    });
    let request = wsmachine_tokio::handshake::ClientRequest::new(&url).unwrap();
    let (client, _) = wsmachine_tokio::connect_with(request, client).await.unwrap();
    (server_task.await.unwrap(), client)
}

/// Fails the test if `f` takes longer than `secs` seconds.
pub(crate) async fn within<T>(secs: u64, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), f).await.expect("timed out")
}
