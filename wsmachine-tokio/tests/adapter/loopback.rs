//! Client and server of this crate over loopback TCP, both roles.

use crate::common::{listener, pair, within};
use std::future::Future;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;
use wsmachine_tokio::handshake::{Accept, ClientRequest, Request, UsageError};
use wsmachine_tokio::{CloseCode, Config, Error, Message, Reject, Role};

#[tokio::test]
async fn messages_both_ways_and_close_from_the_client() {
    within(10, async {
        let (mut server, mut client) = pair(Config::default(), Config::default()).await;
        assert_eq!(server.role(), Role::Server);
        assert_eq!(client.role(), Role::Client);
        client.send("hello").await.unwrap();
        client.send(vec![1u8, 2, 3]).await.unwrap();
        client.send(Message::binary(vec![7u8; 100_000])).await.unwrap();
        assert_eq!(server.recv().await.unwrap().unwrap(), Message::text("hello"));
        assert_eq!(server.recv().await.unwrap().unwrap(), Message::binary(vec![1u8, 2, 3]));
        assert_eq!(server.recv().await.unwrap().unwrap().len(), 100_000);
        server.send("back").await.unwrap();
        assert_eq!(client.recv().await.unwrap().unwrap(), Message::text("back"));

        let closed = client.close(4001, "bye").await.unwrap();
        // The code the client reports is the one it received: the echo.
        assert_eq!((closed.code, closed.reason.as_str(), closed.was_clean), (CloseCode::new(4001), "bye", true));
        assert!(server.recv().await.is_none(), "a clean close ends the stream");
        let closed = server.closed().await;
        assert_eq!((closed.code, closed.reason.as_str(), closed.was_clean), (CloseCode::new(4001), "bye", true));
        assert!(matches!(client.send("late").await, Err(Error::Closed)));
    })
    .await;
}

#[tokio::test]
async fn close_from_the_server_and_ping() {
    within(10, async {
        let (server, mut client) = pair(Config::default(), Config::default()).await;
        client.ping(b"are you there").await.unwrap();
        server.ping(b"").await.unwrap();
        server.send("last").await.unwrap();
        let closing = tokio::spawn(async move { server.close(CloseCode::GOING_AWAY, "restart").await.unwrap() });
        assert_eq!(client.recv().await.unwrap().unwrap(), Message::text("last"));
        assert!(client.recv().await.is_none());
        let at_client = client.closed().await;
        assert_eq!(
            (at_client.code, at_client.reason.as_str(), at_client.was_clean),
            (CloseCode::GOING_AWAY, "restart", true)
        );
        let at_server = closing.await.unwrap();
        assert_eq!((at_server.code, at_server.was_clean), (CloseCode::GOING_AWAY, true));
    })
    .await;
}

#[tokio::test]
async fn bad_close_arguments_and_control_payloads_are_errors() {
    within(10, async {
        let (_server, client) = pair(Config::default(), Config::default()).await;
        assert!(matches!(client.close(1005, "").await, Err(Error::Close(_))));
        assert!(matches!(client.close(1000, &"x".repeat(124)).await, Err(Error::Close(_))));
        assert!(matches!(client.ping([0u8; 126]).await, Err(Error::Send(_))));
        client.send("still open").await.unwrap();
    })
    .await;
}

/// Serves `n` connections on `listener` in turn, answering each request
/// with `answer` (`accept_with`), and returns what `then` made of each
/// outcome.
fn serve<A, F, Fut, T>(listener: tokio::net::TcpListener, n: usize, answer: A, mut then: F) -> JoinHandle<Vec<T>>
where
    A: Fn(&Request) -> Result<Accept, Reject> + Send + Sync + 'static,
    F: FnMut(Result<wsmachine_tokio::WebSocket<tokio::net::TcpStream>, Error>) -> Fut + Send + 'static,
    Fut: Future<Output = T> + Send,
    T: Send + 'static,
{
    tokio::spawn(async move {
        let mut outcomes = Vec::new();
        for _ in 0..n {
            let (tcp, _) = listener.accept().await.unwrap();
            outcomes.push(then(wsmachine_tokio::accept_with(tcp, Config::default(), &answer).await).await);
        }
        outcomes
    })
}

#[tokio::test]
async fn accept_with_picks_a_subprotocol_and_rejects() {
    within(10, async {
        let (listener, url) = listener().await;
        let answer = |request: &Request| {
            if !wsmachine_tokio::is_upgrade(request) {
                return Err(Reject::new(200).header("Content-Type", "text/plain").body("a page\n"));
            }
            match request.path() {
                "/chat" => Ok(Accept::new().protocol("chat.v2").header("Set-Cookie", "a=b")),
                _ => Err(Reject::new(403).body("go away")),
            }
        };
        let server = serve(listener, 3, answer, |result| async move {
            match result {
                Ok(mut ws) => {
                    ws.send("hi").await.unwrap();
                    assert!(ws.recv().await.is_none());
                    0
                }
                Err(Error::NotUpgraded(status)) => status,
                Err(e) => panic!("{e}"),
            }
        });

        let request = ClientRequest::new(&format!("{url}chat")).unwrap().protocol("chat.v1").protocol("chat.v2");
        let (mut ws, negotiated) = wsmachine_tokio::connect_with(request, Config::default()).await.unwrap();
        assert_eq!(negotiated.protocol.as_deref(), Some("chat.v2"));
        assert_eq!(ws.negotiated().protocol.as_deref(), Some("chat.v2"));
        assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text("hi"));
        ws.close(1000, "").await.unwrap();

        match wsmachine_tokio::connect(&format!("{url}other")).await {
            Err(Error::Handshake(wsmachine::HandshakeError::Rejected(r))) => {
                assert_eq!((r.status, r.body.as_slice()), (403, &b"go away"[..]));
            }
            other => panic!("expected a 403, got {other:?}"),
        }

        let addr = url.trim_start_matches("ws://").trim_end_matches('/');
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let mut page = Vec::new();
        tcp.read_to_end(&mut page).await.unwrap();
        let page = String::from_utf8(page).unwrap();
        assert!(page.starts_with("HTTP/1.1 200") && page.ends_with("a page\n"), "{page}");

        assert_eq!(server.await.unwrap(), vec![0, 403, 200]);
    })
    .await;
}

#[tokio::test]
async fn an_answer_the_core_refuses_is_a_500_and_a_usage_error() {
    within(10, async {
        let (listener, url) = listener().await;
        let answer = |request: &Request| match request.path() {
            // A subprotocol the client did not offer.
            "/a" => Ok(Accept::new().protocol("mqtt")),
            // A header the 101 writes itself.
            "/b" => Ok(Accept::new().header("Sec-WebSocket-Accept", "x")),
            // A status that does not end the exchange.
            _ => Err(Reject::new(101)),
        };
        let server = serve(listener, 3, answer, |result| async move {
            match result {
                Err(Error::Usage(e)) => e,
                other => panic!("expected a usage error, got {other:?}"),
            }
        });
        for path in ["a", "b", "c"] {
            match wsmachine_tokio::connect(&format!("{url}{path}")).await {
                Err(Error::Handshake(wsmachine::HandshakeError::Rejected(r))) => assert_eq!(r.status, 500, "{path}"),
                other => panic!("expected a 500, got {other:?}"),
            }
        }
        assert_eq!(
            server.await.unwrap(),
            vec![
                UsageError::UnofferedProtocol("mqtt".into()),
                UsageError::ReservedHeader("Sec-WebSocket-Accept".into()),
                UsageError::InvalidStatus(101),
            ]
        );
    })
    .await;
}

#[tokio::test]
async fn from_upgraded_runs_over_any_stream() {
    within(10, async {
        let (a, b) = tokio::io::duplex(64 * 1024);
        let negotiated = wsmachine::Negotiated::default();
        let mut server =
            wsmachine_tokio::from_upgraded(a, Role::Server, Config::default(), negotiated.clone()).unwrap();
        let mut client = wsmachine_tokio::from_upgraded(b, Role::Client, Config::default(), negotiated).unwrap();
        client.send("over a duplex").await.unwrap();
        assert_eq!(server.recv().await.unwrap().unwrap(), Message::text("over a duplex"));
        server.send("and back").await.unwrap();
        assert_eq!(client.recv().await.unwrap().unwrap(), Message::text("and back"));
        let closed = server.close(1000, "").await.unwrap();
        assert!(closed.was_clean);
        assert!(client.recv().await.is_none());
    })
    .await;
}

#[tokio::test]
async fn dropping_every_handle_closes_with_going_away() {
    within(10, async {
        let (server, mut client) = pair(Config::default(), Config::default()).await;
        let (reader, writer) = server.split();
        let extra = writer.clone();
        drop(reader);
        drop(writer);
        extra.send("from the last writer").await.unwrap();
        drop(extra);
        assert_eq!(client.recv().await.unwrap().unwrap(), Message::text("from the last writer"));
        assert!(client.recv().await.is_none());
        let closed = client.closed().await;
        assert_eq!((closed.code, closed.was_clean), (CloseCode::GOING_AWAY, true));
    })
    .await;
}

#[tokio::test]
async fn a_peer_that_vanishes_ends_the_stream_with_an_error() {
    within(10, async {
        let (listener, url) = listener().await;
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut ws = wsmachine_tokio::accept(tcp).await.unwrap();
            match ws.recv().await {
                Some(Err(Error::Failed(closed))) => {
                    assert_eq!((closed.code, closed.was_clean), (CloseCode::ABNORMAL, false))
                }
                other => panic!("expected a failure, got {other:?}"),
            }
            assert!(ws.recv().await.is_none());
        });
        // A raw client: the handshake by hand, then a plain TCP close.
        let addr = url.trim_start_matches("ws://").trim_end_matches('/');
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        tcp.write_all(
            b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
        .await
        .unwrap();
        let mut head = [0u8; 129];
        tcp.read_exact(&mut head).await.unwrap();
        assert!(head.starts_with(b"HTTP/1.1 101"));
        drop(tcp);
        server.await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn stream_and_sink_through_futures_util() {
    use futures_util::{SinkExt, StreamExt};
    within(10, async {
        let (server, client) = pair(Config::default(), Config::default()).await;
        let (server_rx, mut server_tx) = server.split();
        let mut client = client;
        // Sink: feed, send_all, flush.
        client.feed(Message::text("a")).await.unwrap();
        let mut more = futures_util::stream::iter((0..100).map(|i| Ok(Message::binary(vec![i as u8; i]))));
        client.send_all(&mut more).await.unwrap();
        client.flush().await.unwrap();
        assert_eq!(client.backlog(), 0);
        // Stream: next, take, collect.
        let got: Vec<Message> = server_rx.take(101).map(Result::unwrap).collect().await;
        assert_eq!(got[0], Message::text("a"));
        assert!(got[1..].iter().enumerate().all(|(i, m)| m.as_bytes() == vec![i as u8; i]));
        // Sink::close sends a 1000 and waits for the closing handshake.
        SinkExt::<Message>::close(&mut server_tx).await.unwrap();
        assert!(client.next().await.is_none());
        assert_eq!(client.closed().await.code, CloseCode::NORMAL);
    })
    .await;
}

#[tokio::test]
async fn halves_put_back_together() {
    within(10, async {
        let (server, client) = pair(Config::default(), Config::default()).await;
        let (reader, writer) = server.split();
        let mut server: wsmachine_tokio::WebSocket<tokio::net::TcpStream> = reader.unsplit(writer);
        client.send("x").await.unwrap();
        assert_eq!(server.recv().await.unwrap().unwrap(), Message::text("x"));
    })
    .await;
}

#[cfg(feature = "deflate")]
#[tokio::test]
async fn permessage_deflate_through_the_adapter() {
    within(10, async {
        let config = || Config::default().with_deflate(Some(wsmachine::DeflateConfig::default()));
        let (mut server, mut client) = pair(config(), config()).await;
        assert_eq!(client.negotiated().extensions[0].name, "permessage-deflate");
        let text = "compressible ".repeat(10_000);
        client.send(text.clone()).await.unwrap();
        assert_eq!(server.recv().await.unwrap().unwrap(), Message::text(text.clone()));
        server.send(text.clone()).await.unwrap();
        assert_eq!(client.recv().await.unwrap().unwrap(), Message::text(text));
        client.close(1000, "").await.unwrap();
    })
    .await;
}

#[test]
fn handles_and_their_futures_are_send_and_sync() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: &T) {}
    fn check(ws: &mut wsmachine_tokio::WebSocket<tokio::net::TcpStream>, w: &wsmachine_tokio::Writer) {
        send_sync(ws);
        send_sync(w);
        send(&w.send("x"));
        send(&w.close(1000, ""));
        send(&ws.recv());
    }
    let _ = check;
}
