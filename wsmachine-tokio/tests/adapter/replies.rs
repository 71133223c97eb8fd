//! A reply to a message goes out before whatever the input behind that
//! message makes the connection send: the Close of a protocol error, the
//! answer to the peer's Close. (Autobahn 3.2–3.4, 4.1.3–4.2.4 and 5.15 send
//! a message and a bad frame in one go, and grade an echo loop that does
//! not echo the message NON-STRICT.) A busy application still gets its
//! Pings answered, and `closed()` still sees the end.

use std::time::{Duration, Instant};

use crate::common::{client_frame, listener, raw_handshake, within};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wsmachine_tokio::Config;

/// An echo server on the adapter, as an application writes one, for one
/// connection.
async fn echo_once(listener: tokio::net::TcpListener) {
    let (tcp, _) = listener.accept().await.unwrap();
    tcp.set_nodelay(true).unwrap();
    let mut ws = wsmachine_tokio::accept_with(tcp, Config::default(), |_| Ok(Default::default())).await.unwrap();
    while let Some(Ok(message)) = ws.recv().await {
        let _ = ws.send(message).await;
    }
}

/// A raw client: handshake done, `wire` written in one write.
async fn raw_client_sending(url: &str, wire: &[u8]) -> TcpStream {
    let addr = url.trim_start_matches("ws://").trim_end_matches('/');
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    raw_handshake(&mut tcp).await;
    tcp.write_all(wire).await.unwrap();
    tcp
}

/// Reads one unmasked server frame: (first byte, payload).
async fn read_frame(tcp: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut head = [0u8; 2];
    tcp.read_exact(&mut head).await.unwrap();
    assert_eq!(head[1] & 0x80, 0, "a server frame is not masked");
    let len = match head[1] & 0x7f {
        126 => u64::from(tcp.read_u16().await.unwrap()),
        127 => tcp.read_u64().await.unwrap(),
        n => u64::from(n),
    };
    let mut payload = vec![0u8; usize::try_from(len).unwrap()];
    tcp.read_exact(&mut payload).await.unwrap();
    (head[0], payload)
}

/// A frame with RSV1 set and no extension agreed: fails the connection
/// with 1002.
fn bad_frame() -> Vec<u8> {
    let mut frame = client_frame(0x1, b"bad");
    frame[0] |= 0x40;
    frame
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_echo_of_a_message_precedes_the_close_of_a_bad_frame_behind_it() {
    within(20, async {
        // The driver runs on another worker than the application: without
        // the hold it would look at the bad frame before the echo is sent.
        for round in 0..20 {
            let (listener, url) = listener().await;
            let server = tokio::spawn(echo_once(listener));
            let mut wire = client_frame(0x1, b"Hello, world!");
            wire.extend(bad_frame());
            wire.extend(client_frame(0x9, b""));
            let mut tcp = raw_client_sending(&url, &wire).await;
            assert_eq!(read_frame(&mut tcp).await, (0x81, b"Hello, world!".to_vec()), "round {round}");
            // Then the Close with 1002, and no Pong: the Ping came after the
            // bad frame.
            let (first, payload) = read_frame(&mut tcp).await;
            assert_eq!((first, &payload[..2]), (0x88, &1002u16.to_be_bytes()[..]), "round {round}");
            tcp.write_all(&client_frame(0x8, &1002u16.to_be_bytes())).await.unwrap();
            let mut rest = Vec::new();
            tcp.read_to_end(&mut rest).await.unwrap();
            assert!(rest.is_empty(), "round {round}: {rest:?}");
            server.await.unwrap();
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_echo_of_a_message_precedes_the_answer_to_the_close_behind_it() {
    within(20, async {
        for round in 0..20 {
            let (listener, url) = listener().await;
            let server = tokio::spawn(echo_once(listener));
            let mut wire = client_frame(0x2, &[1, 2, 3]);
            wire.extend(client_frame(0x8, &1000u16.to_be_bytes()));
            let mut tcp = raw_client_sending(&url, &wire).await;
            assert_eq!(read_frame(&mut tcp).await, (0x82, vec![1, 2, 3]), "round {round}");
            assert_eq!(read_frame(&mut tcp).await, (0x88, 1000u16.to_be_bytes().to_vec()), "round {round}");
            let mut rest = Vec::new();
            tcp.read_to_end(&mut rest).await.unwrap();
            assert!(rest.is_empty(), "round {round}: {rest:?}");
            server.await.unwrap();
        }
    })
    .await;
}

#[tokio::test]
async fn a_busy_application_still_gets_the_pings_behind_a_message_answered() {
    within(10, async {
        let (listener, url) = listener().await;
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let ws = wsmachine_tokio::accept(tcp).await.unwrap();
            // Busy elsewhere: it never asks for the message.
            tokio::time::sleep(Duration::from_secs(5)).await;
            drop(ws);
        });
        let mut wire = client_frame(0x1, b"unread");
        wire.extend(client_frame(0x9, b"still there?"));
        let sent = Instant::now();
        let mut tcp = raw_client_sending(&url, &wire).await;
        assert_eq!(read_frame(&mut tcp).await, (0x8a, b"still there?".to_vec()));
        // Held for at most the hold's second (plus scheduling), not until
        // the application is back.
        let waited = sent.elapsed();
        assert!(waited < Duration::from_secs(3), "{waited:?}");
        server.abort();
    })
    .await;
}

#[tokio::test]
async fn closed_sees_the_peers_close_behind_a_message_nobody_reads() {
    within(10, async {
        let (listener, url) = listener().await;
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let ws = wsmachine_tokio::accept(tcp).await.unwrap();
            let start = Instant::now();
            let closed = ws.closed().await;
            (closed, start.elapsed())
        });
        let mut wire = client_frame(0x1, b"unread");
        wire.extend(client_frame(0x8, &1000u16.to_be_bytes()));
        let mut tcp = raw_client_sending(&url, &wire).await;
        assert_eq!(read_frame(&mut tcp).await, (0x88, 1000u16.to_be_bytes().to_vec()));
        let (closed, waited) = server.await.unwrap();
        assert!(closed.was_clean, "{closed:?}");
        // Not held: whoever awaits the end answers no message.
        assert!(waited < Duration::from_millis(500), "{waited:?}");
    })
    .await;
}
