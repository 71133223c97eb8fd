//! Writes: many small messages go out in few writes (vectored or
//! gathered), a reply is written by the task that sends it, `flush` writes
//! from its caller, and partial writes never corrupt the stream.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use crate::common::within;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use wsmachine_tokio::{Config, Message, Role, WebSocket};

/// A transport that counts write calls, claims vectored writes or not, and
/// takes at most `max` bytes per write.
struct Counting<S> {
    inner: S,
    writes: Arc<AtomicUsize>,
    vectored: bool,
    max: usize,
}

impl<S: AsyncRead + Unpin> AsyncRead for Counting<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counting<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        let n = buf.len().min(self.max);
        Pin::new(&mut self.inner).poll_write(cx, &buf[..n])
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        if self.max == usize::MAX {
            return Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        }
        // At most `max` bytes, possibly across pieces.
        let mut joined = Vec::new();
        for b in bufs {
            joined.extend_from_slice(&b[..b.len().min(self.max - joined.len())]);
            if joined.len() == self.max {
                break;
            }
        }
        Pin::new(&mut self.inner).poll_write(cx, &joined)
    }

    fn is_write_vectored(&self) -> bool {
        self.vectored
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A server over a counting transport and a plain client, over TCP.
async fn counted_pair(
    vectored: bool,
    max: usize,
) -> (WebSocket<Counting<TcpStream>>, WebSocket<TcpStream>, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
    let (server, _) = listener.accept().await.unwrap();
    let writes = Arc::new(AtomicUsize::new(0));
    let server = Counting { inner: server, writes: Arc::clone(&writes), vectored, max };
    let config = Config::default().with_max_message_size(16 << 20).with_max_frame_size(16 << 20);
    let server = wsmachine_tokio::from_upgraded(server, Role::Server, config.clone(), Default::default()).unwrap();
    let client = wsmachine_tokio::from_upgraded(client, Role::Client, config, Default::default()).unwrap();
    (server, client, writes)
}

async fn burst_then_check(vectored: bool, max: usize, count: usize, size: usize) -> usize {
    let (server, mut client, writes) = counted_pair(vectored, max).await;
    let message = |i: usize| Message::binary(vec![i as u8; size]);
    // A burst: each send returns at once (there is room), so the driver
    // finds them all queued when it runs.
    for i in 0..count {
        server.send(message(i)).await.unwrap();
    }
    for i in 0..count {
        assert_eq!(client.recv().await.unwrap().unwrap(), message(i));
    }
    writes.load(Ordering::Relaxed)
}

#[tokio::test]
async fn small_messages_go_out_in_a_few_writes() {
    within(20, async {
        let writes = burst_then_check(true, usize::MAX, 1000, 10).await;
        assert!(writes <= 3, "{writes} writes for 1000 small messages");
        let writes = burst_then_check(false, usize::MAX, 1000, 10).await;
        assert!(writes <= 3, "{writes} writes for 1000 small messages, not vectored");
    })
    .await;
}

#[tokio::test]
async fn larger_messages_are_written_vectored_or_gathered() {
    within(20, async {
        // 2 KiB payloads go out uncopied, header and payload apart: 400
        // pieces in vectored writes of up to 64.
        let writes = burst_then_check(true, usize::MAX, 200, 2048).await;
        assert!(writes <= 12, "{writes} vectored writes for 200 messages of 2 KiB");
        // Without vectored writes they are gathered into 64 KiB buffers.
        let writes = burst_then_check(false, usize::MAX, 200, 2048).await;
        assert!(writes <= 12, "{writes} gathered writes for 200 messages of 2 KiB");
    })
    .await;
}

#[tokio::test]
async fn partial_writes_keep_the_stream_intact() {
    within(60, async {
        for vectored in [true, false] {
            burst_then_check(vectored, 7, 300, 1500).await;
            burst_then_check(vectored, 1000, 50, 100_000).await;
        }
    })
    .await;
}

#[tokio::test]
async fn a_reply_is_written_by_the_task_that_sends_it() {
    within(20, async {
        // One thread: the driver task cannot run between two lines without
        // an await that yields.
        let (mut server, client, writes) = counted_pair(true, usize::MAX).await;
        for i in 0..20u8 {
            client.send(Message::binary(vec![i; 100])).await.unwrap();
            let message = server.recv().await.unwrap().unwrap();
            let before = writes.load(Ordering::Relaxed);
            server.send(message).await.unwrap();
            // Written before `send` returned: no hop through the driver.
            assert_eq!(writes.load(Ordering::Relaxed), before + 1, "reply {i}");
            assert_eq!(server.backlog(), 0);
        }
        // Messages that reply to nothing are queued for the driver, which
        // writes them together once this task yields.
        let before = writes.load(Ordering::Relaxed);
        for i in 0..10u8 {
            server.send(Message::binary(vec![i; 10])).await.unwrap();
        }
        assert_eq!(writes.load(Ordering::Relaxed), before, "a send that is no reply wrote");
        let mut client = client;
        for i in 0..20u8 {
            assert_eq!(client.recv().await.unwrap().unwrap(), Message::binary(vec![i; 100]));
        }
        for i in 0..10u8 {
            assert_eq!(client.recv().await.unwrap().unwrap(), Message::binary(vec![i; 10]));
        }
        assert_eq!(writes.load(Ordering::Relaxed), before + 1);
    })
    .await;
}

#[tokio::test]
async fn flush_writes_from_the_task_that_calls_it() {
    within(20, async {
        let (server, mut client, writes) = counted_pair(false, usize::MAX).await;
        let before = writes.load(Ordering::Relaxed);
        server.send("one").await.unwrap();
        server.send("two").await.unwrap();
        assert!(server.backlog() > 0);
        server.flush().await.unwrap();
        // Both in one (gathered) write, before `flush` returned.
        assert_eq!((writes.load(Ordering::Relaxed), server.backlog()), (before + 1, 0));
        assert_eq!(client.recv().await.unwrap().unwrap(), Message::text("one"));
        assert_eq!(client.recv().await.unwrap().unwrap(), Message::text("two"));
    })
    .await;
}

#[tokio::test]
async fn large_replies_written_in_pieces_stay_intact() {
    within(60, async {
        for vectored in [true, false] {
            // At most 1000 bytes per write: each reply starts in the replying
            // task and the driver writes the rest.
            let (mut server, mut client, writes) = counted_pair(vectored, 1000).await;
            let echo = tokio::spawn(async move {
                while let Some(Ok(message)) = server.recv().await {
                    server.send(message).await.unwrap();
                }
            });
            for i in 0..20usize {
                let message = Message::binary((0..50_000 + i).map(|b| (b * 7 + i) as u8).collect::<Vec<u8>>());
                client.send(message.clone()).await.unwrap();
                assert_eq!(client.recv().await.unwrap().unwrap(), message, "echo {i}, vectored {vectored}");
            }
            assert!(writes.load(Ordering::Relaxed) >= 20 * 50, "{} writes", writes.load(Ordering::Relaxed));
            client.close(1000, "").await.unwrap();
            echo.await.unwrap();
        }
    })
    .await;
}
