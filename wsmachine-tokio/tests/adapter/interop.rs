//! Interop with tokio-tungstenite over loopback, both ways: messages, Ping
//! and Pong, close codes and reasons as each side observes them.

use crate::common::{listener, tt_close_and_expect_the_echo, tt_recv_around_pong, within};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as TtCode;
use tokio_tungstenite::tungstenite::{Bytes, Message as TtMessage};
use wsmachine_tokio::{CloseCode, Message};

#[tokio::test]
async fn tungstenite_client_against_our_server() {
    within(10, async {
        let (listener, url) = listener().await;
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut ws = wsmachine_tokio::accept(tcp).await.unwrap();
            let mut seen = Vec::new();
            while let Some(message) = ws.recv().await {
                let message = message.unwrap();
                ws.send(message.clone()).await.unwrap();
                seen.push(message);
            }
            (seen, ws.closed().await)
        });

        let tcp = tokio::net::TcpStream::connect(url.trim_start_matches("ws://").trim_end_matches('/')).await.unwrap();
        let (mut tt, _) = tokio_tungstenite::client_async(url.as_str(), tcp).await.unwrap();
        tt.send(TtMessage::text("héllo")).await.unwrap();
        tt.send(TtMessage::binary(vec![0u8, 1, 2, 255])).await.unwrap();
        tt.send(TtMessage::Ping(Bytes::from_static(b"p1"))).await.unwrap();
        tt.send(TtMessage::binary(vec![9u8; 300_000])).await.unwrap();
        // The echoes keep their order.
        let got = tt_recv_around_pong(&mut tt, 4).await;
        assert_eq!(got[0], TtMessage::text("héllo"));
        assert_eq!(got[1], TtMessage::binary(vec![0u8, 1, 2, 255]));
        assert_eq!(got[2].len(), 300_000);

        tt_close_and_expect_the_echo(&mut tt, 4000, "tt done").await;

        let (seen, closed) = server.await.unwrap();
        assert_eq!(seen.len(), 3);
        assert_eq!(seen[0], Message::text("héllo"));
        assert_eq!((closed.code, closed.reason.as_str(), closed.was_clean), (CloseCode::new(4000), "tt done", true));
    })
    .await;
}

#[tokio::test]
async fn our_client_against_a_tungstenite_server() {
    within(10, async {
        let (listener, url) = listener().await;
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut tt = tokio_tungstenite::accept_async(tcp).await.unwrap();
            let mut seen = Vec::new();
            while let Some(message) = tt.next().await {
                let message = message.unwrap();
                match &message {
                    TtMessage::Text(t) if t.as_str() == "close please" => {
                        seen.push(message.clone());
                        tt.close(Some(CloseFrame { code: TtCode::Away, reason: "server going".into() })).await.unwrap();
                    }
                    TtMessage::Text(_) | TtMessage::Binary(_) => {
                        tt.send(message.clone()).await.unwrap();
                        seen.push(message);
                    }
                    _ => seen.push(message),
                }
            }
            seen
        });

        let (mut ws, _) = wsmachine_tokio::connect(&url).await.unwrap();
        ws.send("one").await.unwrap();
        ws.ping(b"from wsmachine").await.unwrap();
        ws.send(vec![5u8; 70_000]).await.unwrap();
        assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text("one"));
        assert_eq!(ws.recv().await.unwrap().unwrap(), Message::binary(vec![5u8; 70_000]));
        ws.send("close please").await.unwrap();
        assert!(ws.recv().await.is_none(), "the server's Close ends the stream cleanly");
        let closed = ws.closed().await;
        assert_eq!(
            (closed.code, closed.reason.as_str(), closed.was_clean),
            (CloseCode::GOING_AWAY, "server going", true)
        );

        let seen = server.await.unwrap();
        assert_eq!(seen[0], TtMessage::text("one"));
        assert_eq!(seen[1], TtMessage::Ping(Bytes::from_static(b"from wsmachine")));
        assert_eq!(seen[2].len(), 70_000);
        assert_eq!(seen[3], TtMessage::text("close please"));
        // tungstenite reports our echo of its Close.
        match &seen[4] {
            TtMessage::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 1001),
            other => panic!("expected our Close echo, got {other:?}"),
        }
    })
    .await;
}

#[tokio::test]
async fn an_automatic_pong_never_overtakes_what_was_already_sent() {
    within(10, async {
        let (listener, url) = listener().await;
        let (sent_tx, sent_rx) = tokio::sync::oneshot::channel();
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut ws = wsmachine_tokio::accept(tcp).await.unwrap();
            for i in 0..3u8 {
                ws.send(vec![i; 1 << 20]).await.unwrap();
            }
            // Accepted: the Ping comes only now.
            sent_tx.send(()).unwrap();
            assert!(ws.recv().await.is_none());
        });
        let tcp = tokio::net::TcpStream::connect(url.trim_start_matches("ws://").trim_end_matches('/')).await.unwrap();
        let config =
            tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default().max_message_size(Some(4 << 20));
        let (mut tt, _) = tokio_tungstenite::client_async_with_config(url.as_str(), tcp, Some(config)).await.unwrap();
        sent_rx.await.unwrap();
        tt.send(TtMessage::Ping(Bytes::from_static(b"after"))).await.unwrap();
        for i in 0..3u8 {
            assert_eq!(tt.next().await.unwrap().unwrap(), TtMessage::binary(vec![i; 1 << 20]));
        }
        assert_eq!(tt.next().await.unwrap().unwrap(), TtMessage::Pong(Bytes::from_static(b"after")));
        tt.close(None).await.unwrap();
        server.await.unwrap();
    })
    .await;
}
