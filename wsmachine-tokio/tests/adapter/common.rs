//! Helpers shared by the adapter's tests.
#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Bytes as TtBytes, Error as TtError, Message as TtMessage};
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

/// A raw TCP client that has done the opening handshake with the server at
/// `url` by hand and then does only what the test tells it.
pub(crate) async fn raw_client(url: &str) -> TcpStream {
    let addr = url.trim_start_matches("ws://").trim_end_matches('/');
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    raw_handshake(&mut tcp).await;
    tcp
}

/// The client's opening handshake, by hand, on a connected stream.
pub(crate) async fn raw_handshake(tcp: &mut TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    tcp.write_all(
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await
    .unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8];
        tcp.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"));
}

/// A listener and a client socket with small kernel buffers (32 KiB), so
/// that a test's marks, not the kernel, hold a backlog.
pub(crate) async fn small_buffer_pair() -> (TcpStream, TcpStream) {
    let listener = tokio::net::TcpSocket::new_v4().unwrap();
    listener.set_recv_buffer_size(32 * 1024).unwrap();
    listener.set_send_buffer_size(32 * 1024).unwrap();
    listener.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = listener.listen(8).unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(32 * 1024).unwrap();
    socket.set_send_buffer_size(32 * 1024).unwrap();
    let client = socket.connect(listener.local_addr().unwrap()).await.unwrap();
    let (server, _) = listener.accept().await.unwrap();
    (server, client)
}

/// A masked client frame.
pub(crate) fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x80 | opcode];
    match payload.len() {
        n @ 0..=125 => frame.push(0x80 | n as u8),
        n @ 126..=65535 => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&[0, 0, 0, 0]);
    frame.extend_from_slice(payload);
    frame
}

/// Reads `n` messages from a tokio-tungstenite stream, one of them the Pong
/// to a Ping of "p1" (it may come before the echoes of what was sent before
/// the Ping: the Ping was read before the application sent them), and
/// returns the others in order.
pub(crate) async fn tt_recv_around_pong(
    tt: &mut (impl Stream<Item = Result<TtMessage, TtError>> + Unpin),
    n: usize,
) -> Vec<TtMessage> {
    let mut got = Vec::new();
    while got.len() < n {
        got.push(tt.next().await.unwrap().unwrap());
    }
    assert!(got.contains(&TtMessage::Pong(TtBytes::from_static(b"p1"))), "{got:?}");
    got.retain(|m| !m.is_pong());
    got
}

/// A tokio-tungstenite side closes with `code` and `reason` and reads the
/// echo of that Close, then the end of the stream.
pub(crate) async fn tt_close_and_expect_the_echo<S>(tt: &mut WebSocketStream<S>, code: u16, reason: &str)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    tt.close(Some(CloseFrame { code: code.into(), reason: reason.into() })).await.unwrap();
    tt_expect_close(tt, code, reason).await;
}

/// Reads from a tokio-tungstenite stream the Close `code` with `reason`,
/// then the end of the stream.
pub(crate) async fn tt_expect_close(
    tt: &mut (impl Stream<Item = Result<TtMessage, TtError>> + Unpin),
    code: u16,
    reason: &str,
) {
    match tt.next().await {
        Some(Ok(TtMessage::Close(Some(frame)))) => {
            assert_eq!((u16::from(frame.code), frame.reason.as_str()), (code, reason));
        }
        other => panic!("expected the Close ({code}, {reason:?}), got {other:?}"),
    }
    assert!(tt.next().await.is_none());
}
