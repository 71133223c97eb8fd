//! The adapter's tests, one binary (one link of tokio, rustls and
//! tokio-tungstenite instead of one per file: CI builds it once).

mod common;
mod concurrency;
mod deadlines;
#[cfg(feature = "http2")]
mod http2;
#[cfg(feature = "hyper")]
mod hyper_upgrade;
mod interop;
mod loopback;
mod replies;
mod tls;
mod writes;
