//! Split halves from different tasks under load, and cancellation safety.

use std::time::Duration;

use crate::common::{pair, within};
use wsmachine_tokio::{Config, Message, Role};

const N: u32 = 10_000;

fn numbered(i: u32) -> Message {
    Message::text(format!("message {i}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_halves_carry_ten_thousand_messages_each_way_at_once() {
    within(60, async {
        let (server, client) = pair(Config::default(), Config::default()).await;
        let (server_rx, server_tx) = server.split();
        let (client_rx, client_tx) = client.split();

        // Four tasks: each side sends N while it receives N.
        let send = |tx: wsmachine_tokio::Writer| {
            tokio::spawn(async move {
                for i in 0..N {
                    tx.send(numbered(i)).await.unwrap();
                }
                tx
            })
        };
        let receive = |mut rx: wsmachine_tokio::Reader| {
            tokio::spawn(async move {
                for i in 0..N {
                    assert_eq!(rx.recv().await.unwrap().unwrap(), numbered(i));
                }
                rx
            })
        };
        let (a, b) = (send(server_tx), send(client_tx));
        let (c, d) = (receive(server_rx), receive(client_rx));
        let (server_tx, client_tx) = (a.await.unwrap(), b.await.unwrap());
        let (_, mut client_rx) = (c.await.unwrap(), d.await.unwrap());

        let closed = client_tx.close(1000, "done").await.unwrap();
        assert!(closed.was_clean);
        assert!(client_rx.recv().await.is_none());
        assert!(server_tx.closed().await.was_clean);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_recv_loses_no_message() {
    within(60, async {
        let (mut server, client) = pair(Config::default(), Config::default()).await;
        let sender = tokio::spawn(async move {
            for i in 0..N {
                client.send(numbered(i)).await.unwrap();
                if i % 100 == 0 {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
            client
        });
        let (mut next, mut cancelled) = (0, 0u32);
        while next < N {
            // A very short timeout or a select! branch that loses: the recv
            // future is dropped, often while it waits.
            let attempt = tokio::select! {
                biased;
                _ = tokio::task::yield_now(), if next % 3 == 0 => None,
                r = tokio::time::timeout(Duration::from_micros(50), server.recv()) => r.ok(),
            };
            match attempt {
                Some(message) => {
                    assert_eq!(message.unwrap().unwrap(), numbered(next));
                    next += 1;
                }
                None => cancelled += 1,
            }
        }
        assert!(cancelled > 0, "no recv was cancelled: the test proves nothing");
        let client = sender.await.unwrap();
        client.close(1000, "").await.unwrap();
        assert!(server.recv().await.is_none());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_send_is_not_sent_and_accepted_sends_all_arrive() {
    within(60, async {
        // A small mark and small kernel buffers, so that sends wait and
        // time out often.
        let config = Config::default().with_send_water_marks(Some(8 * 1024), 2 * 1024);
        let (server, client) = crate::common::small_buffer_pair().await;
        let server = wsmachine_tokio::from_upgraded(server, Role::Server, config, Default::default()).unwrap();
        let mut client =
            wsmachine_tokio::from_upgraded(client, Role::Client, Config::default(), Default::default()).unwrap();
        let payload = |i: u32| Message::binary([i.to_be_bytes().as_slice(), &[0u8; 3000]].concat());
        let receiver = tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(message) = client.recv().await {
                got.push(u32::from_be_bytes(message.unwrap().as_bytes()[..4].try_into().unwrap()));
                if got.len() % 20 == 0 {
                    // A slow reader now and then.
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
            got
        });
        let (mut accepted, mut cancelled, mut i) = (Vec::new(), 0u32, 0u32);
        while accepted.len() < 3000 {
            match tokio::time::timeout(Duration::from_micros(200), server.send(payload(i))).await {
                Ok(result) => {
                    result.unwrap();
                    accepted.push(i);
                }
                // Not accepted: that number is never sent; move on.
                Err(_) => cancelled += 1,
            }
            i += 1;
        }
        assert!(cancelled > 0, "no send was cancelled: the test proves nothing");
        server.close(1000, "").await.unwrap();
        let got = receiver.await.unwrap();
        assert_eq!(got, accepted, "exactly the accepted messages, in order ({cancelled} cancelled)");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_sides_congested_at_once_still_make_progress() {
    within(60, async {
        // Both write far more than the marks and the kernel buffers hold,
        // while their readers read: no side may stop reading because its
        // own writes are stuck, or the two would wait on each other.
        let config = || {
            Config::default()
                .with_send_water_marks(Some(256 * 1024), 64 * 1024)
                .with_max_message_size(1 << 20)
                .with_max_frame_size(1 << 20)
        };
        let (server, client) = crate::common::small_buffer_pair().await;
        let server = wsmachine_tokio::from_upgraded(server, Role::Server, config(), Default::default()).unwrap();
        let client = wsmachine_tokio::from_upgraded(client, Role::Client, config(), Default::default()).unwrap();
        const COUNT: u32 = 96;
        let blast = |tx: wsmachine_tokio::Writer| {
            tokio::spawn(async move {
                for i in 0..COUNT {
                    tx.send(Message::binary(vec![i as u8; 1 << 20])).await.unwrap();
                }
                tx
            })
        };
        let drain = |mut rx: wsmachine_tokio::Reader| {
            tokio::spawn(async move {
                for i in 0..COUNT {
                    assert_eq!(rx.recv().await.unwrap().unwrap().as_bytes()[0], i as u8);
                }
                rx
            })
        };
        let (server_rx, server_tx) = server.split();
        let (client_rx, client_tx) = client.split();
        let (a, b, c, d) = (blast(server_tx), blast(client_tx), drain(server_rx), drain(client_rx));
        let (_, client_tx) = (a.await.unwrap(), b.await.unwrap());
        let (_, _) = (c.await.unwrap(), d.await.unwrap());
        assert!(client_tx.close(1000, "").await.unwrap().was_clean);
    })
    .await;
}

/// The reader half waits in `recv` (its own waker is registered with the
/// transport), and the writer half closes: the peer's answer must be read at
/// once, although the reader does not read while the connection is closing.
async fn close_while_a_recv_waits() {
    within(20, async {
        let (mut server, client) = pair(Config::default(), Config::default()).await;
        let echo = tokio::spawn(async move {
            while let Some(Ok(message)) = server.recv().await {
                server.send(message).await.unwrap();
            }
            server.closed().await
        });
        let (mut client_rx, client_tx) = client.split();
        client_tx.send(Message::text("one")).await.unwrap();
        let reader = tokio::spawn(async move {
            let first = client_rx.recv().await.unwrap().unwrap();
            (first, client_rx.recv().await.is_none())
        });
        // The reader has its echo and waits in `recv` again.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let started = std::time::Instant::now();
        let closed = client_tx.close(4001, "bye").await.unwrap();
        let took = started.elapsed();
        assert!(closed.was_clean, "{closed:?}");
        assert_eq!(closed.code, 4001);
        assert!(took < Duration::from_millis(500), "the close took {took:?}");
        assert_eq!(reader.await.unwrap(), (Message::text("one"), true));
        let seen = echo.await.unwrap();
        assert!(seen.was_clean && seen.code == 4001 && seen.reason == "bye", "{seen:?}");
    })
    .await;
}

#[tokio::test]
async fn close_from_the_writer_completes_at_once_while_a_recv_waits() {
    close_while_a_recv_waits().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_from_the_writer_completes_at_once_while_a_recv_waits_multi_thread() {
    close_while_a_recv_waits().await;
}
