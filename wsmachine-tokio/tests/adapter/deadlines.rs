//! Time and backpressure: deadlines fire and Pings are answered while the
//! application polls nothing; a peer that stops reading makes `send` wait,
//! holds bounded memory, and is dropped at the deadline.

use std::time::{Duration, Instant};

use crate::common::{client_frame, listener, raw_client, within};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::{Bytes, Message as TtMessage};
use wsmachine::ConnectionError;
use wsmachine_tokio::{CloseCode, Config, Error, Message};

#[tokio::test]
async fn pings_are_answered_while_the_application_polls_nothing() {
    within(10, async {
        let (listener, url) = listener().await;
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut tt = tokio_tungstenite::accept_async(tcp).await.unwrap();
            let mut answered = Vec::new();
            for i in 0..3u8 {
                let sent = Instant::now();
                tt.send(TtMessage::Ping(Bytes::from(vec![i]))).await.unwrap();
                match tt.next().await.unwrap().unwrap() {
                    TtMessage::Pong(p) => assert_eq!(&p[..], &[i]),
                    other => panic!("expected a Pong, got {other:?}"),
                }
                answered.push(sent.elapsed());
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            tt.close(None).await.unwrap();
            answered
        });
        let (ws, _) = wsmachine_tokio::connect(&url).await.unwrap();
        // The application is busy elsewhere: it awaits nothing on `ws`.
        let answered = server.await.unwrap();
        assert!(answered.iter().all(|t| *t < Duration::from_millis(500)), "{answered:?}");
        drop(ws);
    })
    .await;
}

#[tokio::test]
async fn keepalive_pings_go_out_while_the_application_polls_nothing() {
    within(10, async {
        let (listener, url) = listener().await;
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut tt = tokio_tungstenite::accept_async(tcp).await.unwrap();
            let start = Instant::now();
            let mut pings = 0;
            while pings < 2 {
                if let TtMessage::Ping(_) = tt.next().await.unwrap().unwrap() {
                    pings += 1;
                }
            }
            // tungstenite answers the Pings; the client stays alive.
            tt.send(TtMessage::text("still there?")).await.unwrap();
            let reply = tt.next().await.unwrap().unwrap();
            (start.elapsed(), reply)
        });
        let config = Config::default().with_keepalive(Some(Duration::from_millis(200)), Duration::from_secs(5));
        let request = wsmachine_tokio::handshake::ClientRequest::new(&url).unwrap();
        let (mut ws, _) = wsmachine_tokio::connect_with(request, config).await.unwrap();
        // Busy for a while: no await on the socket at all.
        tokio::time::sleep(Duration::from_millis(600)).await;
        let message = ws.recv().await.unwrap().unwrap();
        assert_eq!(message, Message::text("still there?"));
        ws.send("yes").await.unwrap();
        let (elapsed, reply) = server.await.unwrap();
        assert!(elapsed >= Duration::from_millis(350) && elapsed < Duration::from_secs(2), "{elapsed:?}");
        assert_eq!(reply, TtMessage::text("yes"));
    })
    .await;
}

#[tokio::test]
async fn keepalive_ping_follows_the_last_input_of_a_busy_connection() {
    // The driver polls its timer only when it moves or fires; traffic moves
    // the keepalive deadline with every read, so the timer fires early,
    // re-arms, and must still fire once the input stops.
    within(10, async {
        let (listener, url) = listener().await;
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut tt = tokio_tungstenite::accept_async(tcp).await.unwrap();
            for i in 0..12u8 {
                tt.send(TtMessage::binary(vec![i])).await.unwrap();
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let quiet = Instant::now();
            loop {
                match tt.next().await.unwrap().unwrap() {
                    TtMessage::Ping(_) => return quiet.elapsed(),
                    TtMessage::Binary(echo) => assert_eq!(echo.len(), 1),
                    other => panic!("unexpected {other:?}"),
                }
            }
        });
        let config = Config::default().with_keepalive(Some(Duration::from_millis(200)), Duration::from_secs(5));
        let request = wsmachine_tokio::handshake::ClientRequest::new(&url).unwrap();
        let (mut ws, _) = wsmachine_tokio::connect_with(request, config).await.unwrap();
        for i in 0..12u8 {
            let message = ws.recv().await.unwrap().unwrap();
            assert_eq!(message, Message::binary(vec![i]));
            ws.send(message).await.unwrap();
        }
        let quiet = server.await.unwrap();
        assert!(quiet >= Duration::from_millis(100) && quiet < Duration::from_secs(2), "{quiet:?}");
    })
    .await;
}

#[tokio::test]
async fn close_is_written_at_once_and_times_out_without_the_application() {
    within(10, async {
        let (listener, url) = listener().await;
        let config = Config::default().with_close_timeout(Some(Duration::from_secs(1)));
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let ws = wsmachine_tokio::accept_with(tcp, config, |_| Ok(Default::default())).await.unwrap();
            let (_reader, writer) = ws.split();
            // Another task starts the close and is dropped at once.
            let closer = writer.clone();
            let start = tokio::spawn(async move {
                let _ = tokio::time::timeout(Duration::from_millis(1), closer.close(1000, "now")).await;
            });
            start.await.unwrap();
            // Nobody polls anything any more; the report is there later.
            tokio::time::sleep(Duration::from_millis(1500)).await;
            writer.closed().await
        });
        let mut raw = raw_client(&url).await;
        let started = Instant::now();
        let mut close = [0u8; 7];
        raw.read_exact(&mut close).await.unwrap();
        assert_eq!(close, [0x88, 5, 0x03, 0xe8, b'n', b'o', b'w']);
        // Written at once, not at the next timer (the close deadline, 1 s).
        assert!(started.elapsed() < Duration::from_millis(500), "the Close took {:?}", started.elapsed());
        // The raw client never answers: the server gives up at its deadline.
        let mut rest = Vec::new();
        raw.read_to_end(&mut rest).await.unwrap();
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(900) && waited < Duration::from_secs(3), "{waited:?}");
        let closed = server.await.unwrap();
        assert_eq!((closed.code, closed.was_clean), (CloseCode::ABNORMAL, false));
        assert_eq!(closed.error, Some(ConnectionError::CloseTimeout));
    })
    .await;
}

#[tokio::test]
async fn a_peer_that_never_reads_makes_send_wait_and_is_dropped_at_the_deadline() {
    within(20, async {
        const HIGH: usize = 256 * 1024;
        const MESSAGE: usize = 16 * 1024;
        let (listener, url) = listener().await;
        let config = Config::default()
            .with_send_water_marks(Some(HIGH), 64 * 1024)
            .with_keepalive(Some(Duration::from_millis(300)), Duration::from_millis(300));
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let ws = wsmachine_tokio::accept_with(tcp, config, |_| Ok(Default::default())).await.unwrap();
            let started = Instant::now();
            let (mut sent, mut max_backlog, mut longest_wait) = (0usize, 0usize, Duration::ZERO);
            let error = loop {
                let before = Instant::now();
                let result = ws.send(vec![0u8; MESSAGE]).await;
                longest_wait = longest_wait.max(before.elapsed());
                match result {
                    Ok(()) => sent += MESSAGE,
                    Err(e) => break e,
                }
                max_backlog = max_backlog.max(ws.backlog());
            };
            (error, started.elapsed(), sent, max_backlog, longest_wait, ws.closed().await)
        });
        let mut raw = raw_client(&url).await;
        // Never reads; sends a message (bytes in) only at the start.
        raw.write_all(&client_frame(0x1, b"hi")).await.unwrap();
        let (error, elapsed, sent, max_backlog, longest_wait, closed) = server.await.unwrap();
        assert!(matches!(error, Error::Closed), "{error:?}");
        // Memory stayed bounded by the mark (plus one message).
        assert!(max_backlog <= HIGH + MESSAGE + 1024, "backlog reached {max_backlog}");
        assert!(longest_wait > Duration::from_millis(200), "send never waited ({longest_wait:?})");
        // Keepalive: a Ping after 300 ms of silence, failure 300 ms later.
        assert!(elapsed >= Duration::from_millis(500) && elapsed < Duration::from_secs(3), "{elapsed:?}");
        assert_eq!((closed.code, closed.was_clean), (CloseCode::ABNORMAL, false));
        assert_eq!(closed.error, Some(ConnectionError::KeepaliveTimeout));
        // What was accepted is what the kernel buffers took plus the mark.
        assert!(sent < 64 << 20, "{sent} bytes accepted");
        drop(raw);
    })
    .await;
}

#[tokio::test]
async fn an_application_that_does_not_read_stops_the_reading() {
    within(30, async {
        const MESSAGE: usize = 64 * 1024;
        const COUNT: usize = 512; // 32 MiB: more than the kernel buffers hold
        let (mut server, client) =
            crate::common::pair(Config::default(), Config::default().with_send_water_marks(None, 0)).await;
        for i in 0..COUNT {
            client.send(vec![i as u8; MESSAGE]).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        // The server holds at most MAX_UNREAD and a read: the rest waits in
        // the client and in the kernel.
        let stuck = client.backlog();
        assert!(stuck > 8 << 20, "only {stuck} bytes left unwritten: the server kept reading");
        for i in 0..COUNT {
            assert_eq!(server.recv().await.unwrap().unwrap(), Message::binary(vec![i as u8; MESSAGE]));
        }
        client.flush().await.unwrap();
        assert_eq!(client.backlog(), 0);
    })
    .await;
}

#[tokio::test]
async fn a_silent_client_fails_accept_at_the_handshake_deadline() {
    within(10, async {
        let (listener, url) = listener().await;
        let addr = url.trim_start_matches("ws://").trim_end_matches('/').to_owned();
        let silent = tokio::spawn(async move {
            let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            let mut rest = Vec::new();
            // The server gives up and closes: EOF here.
            tcp.read_to_end(&mut rest).await.unwrap();
            rest
        });
        let (tcp, _) = listener.accept().await.unwrap();
        let config = Config::default().with_handshake_timeout(Some(Duration::from_millis(200)));
        let started = Instant::now();
        let result = wsmachine_tokio::accept_with(tcp, config, |_| Ok(Default::default())).await;
        assert!(matches!(result, Err(Error::Handshake(wsmachine::HandshakeError::Timeout))), "{result:?}");
        assert!(started.elapsed() >= Duration::from_millis(150), "{:?}", started.elapsed());
        assert!(silent.await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn a_peer_that_pings_and_never_reads_gets_bounded_pongs() {
    within(20, async {
        const HIGH: usize = 64 * 1024;
        let (server, mut raw) = crate::common::small_buffer_pair().await;
        let config = Config::default().with_send_water_marks(Some(HIGH), 16 * 1024);
        let accepting = tokio::spawn(wsmachine_tokio::accept_with(server, config, |_| Ok(Default::default())));
        crate::common::raw_handshake(&mut raw).await;
        let ws = accepting.await.unwrap().unwrap();
        let watcher = tokio::spawn(async move {
            let mut max = 0;
            for _ in 0..200 {
                max = max.max(ws.backlog());
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            (max, ws)
        });
        // Pings with 125-byte payloads until the server stops reading them.
        let ping = client_frame(0x9, &[b'p'; 125]);
        let burst: Vec<u8> = ping.iter().copied().cycle().take(ping.len() * 1000).collect();
        let mut sent = 0usize;
        while let Ok(result) = tokio::time::timeout(Duration::from_millis(300), raw.write_all(&burst)).await {
            result.unwrap();
            sent += burst.len();
            assert!(sent < 256 << 20, "the server never stopped reading");
        }
        let (max, _ws) = watcher.await.unwrap();
        assert!(max > HIGH, "the test never congested the server ({max})");
        assert!(max < HIGH + 64 * 1024 + 32 * 1024, "Pongs grew the backlog to {max} ({sent} bytes of Pings sent)");
    })
    .await;
}

#[tokio::test]
async fn close_completes_while_the_peer_floods_and_nobody_reads() {
    within(20, async {
        let (server, client) = crate::common::pair(Config::default(), Config::default()).await;
        let flood = tokio::spawn(async move {
            let mut sent = 0usize;
            while server.send(vec![1u8; 64 * 1024]).await.is_ok() {
                sent += 1;
            }
            (sent, server.closed().await)
        });
        // Let the unread messages pile up past what the client holds.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let started = Instant::now();
        let closed = client.close(1000, "enough").await.unwrap();
        assert!(closed.was_clean, "{closed:?}");
        assert!(started.elapsed() < Duration::from_secs(3), "close took {:?}", started.elapsed());
        let (sent, at_server) = flood.await.unwrap();
        assert!(sent > 64, "the flood was too small to fill anything ({sent} messages)");
        assert_eq!(
            (at_server.code, at_server.reason.as_str(), at_server.was_clean),
            (CloseCode::NORMAL, "enough", true)
        );
    })
    .await;
}

/// A server whose application does `server_side` with its `WebSocket`
/// (saying `go` once its `recv` waits), and a raw client that then sends a
/// Ping and a text message in one write: how long the Pong took, and the
/// message the application got.
async fn ping_behind_a_recv<F, Fut>(server_side: F) -> (Duration, Message)
where
    F: FnOnce(wsmachine_tokio::WebSocket<tokio::net::TcpStream>, tokio::sync::oneshot::Sender<()>) -> Fut
        + Send
        + 'static,
    Fut: Future<Output = Message> + Send + 'static,
{
    let (listener, url) = listener().await;
    let (go, went) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let ws = wsmachine_tokio::accept(tcp).await.unwrap();
        server_side(ws, go).await
    });
    let mut raw = raw_client(&url).await;
    went.await.unwrap();
    let sent = Instant::now();
    let mut wire = client_frame(0x9, b"there?");
    wire.extend(client_frame(0x1, b"after the ping"));
    raw.write_all(&wire).await.unwrap();
    let mut pong = [0u8; 8];
    raw.read_exact(&mut pong).await.unwrap();
    assert_eq!(&pong, b"\x8a\x06there?");
    let waited = sent.elapsed();
    // The client stays open until the application has the message.
    let message = server.await.unwrap();
    drop(raw);
    (waited, message)
}

#[tokio::test]
async fn pings_are_answered_while_a_recv_waits_unpolled() {
    // The reader reads for itself while it waits in `recv`, and the
    // transport's readiness wakes it rather than the driver. A `recv`
    // future that is kept but not polled (the task awaits something else)
    // must not leave the Pings unanswered: the driver takes over.
    within(20, async {
        let (waited, message) = ping_behind_a_recv(|mut ws, go| async move {
            let mut next = Box::pin(ws.recv());
            // Polled once: it waits for the transport.
            assert!(tokio::time::timeout(Duration::from_millis(50), &mut next).await.is_err());
            go.send(()).unwrap();
            // Busy elsewhere for a while, the future kept.
            tokio::time::sleep(Duration::from_secs(4)).await;
            next.await.unwrap().unwrap()
        })
        .await;
        // Two ticks of the driver's watch (a second each) at most.
        assert!(waited >= Duration::from_millis(500) && waited < Duration::from_millis(3500), "{waited:?}");
        // Nothing was lost: the kept future gets the message.
        assert_eq!(message, Message::text("after the ping"));
    })
    .await;
}

#[tokio::test]
async fn pings_are_answered_at_once_after_a_recv_is_dropped() {
    // A `recv` that loses a `select!` (here a time-out) is dropped while it
    // waits for the transport: the connection's task reads again at once.
    within(20, async {
        let (waited, message) = ping_behind_a_recv(|mut ws, go| async move {
            assert!(tokio::time::timeout(Duration::from_millis(50), ws.recv()).await.is_err());
            go.send(()).unwrap();
            tokio::time::sleep(Duration::from_secs(2)).await;
            ws.recv().await.unwrap().unwrap()
        })
        .await;
        assert!(waited < Duration::from_millis(500), "{waited:?}");
        assert_eq!(message, Message::text("after the ping"));
    })
    .await;
}
