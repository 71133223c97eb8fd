//! The byte-exact examples of RFC 6455 §5.7.
mod common;
use common::*;
use wsmachine::{Event, Message};

#[test]
fn single_frame_unmasked_text_from_server() {
    let mut c = client();
    c.handle_bytes(&[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    assert_eq!(events(&drain(&mut c)), vec![Event::Message(Message::text("Hello"))]);
}

#[test]
fn single_frame_masked_text_from_client() {
    let mut s = server();
    s.handle_bytes(&[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
    assert_eq!(events(&drain(&mut s)), vec![Event::Message(Message::text("Hello"))]);
}

#[test]
fn client_send_produces_masked_vector() {
    let mut c = client();
    c.send_text("Hello").unwrap();
    assert_eq!(wire(&drain(&mut c)), [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
}

#[test]
fn server_send_produces_unmasked_vector() {
    let mut s = server();
    s.send_text("Hello").unwrap();
    assert_eq!(wire(&drain(&mut s)), [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
}

#[test]
fn fragmented_unmasked_text() {
    let mut c = client();
    c.handle_bytes(&[0x01, 0x03, 0x48, 0x65, 0x6c]);
    assert!(drain(&mut c).is_empty());
    c.handle_bytes(&[0x80, 0x02, 0x6c, 0x6f]);
    assert_eq!(events(&drain(&mut c)), vec![Event::Message(Message::text("Hello"))]);
}

#[test]
fn unmasked_ping_gets_masked_pong() {
    let mut c = client();
    c.handle_bytes(&[0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    let outs = drain(&mut c);
    // The Pong echoes "Hello", masked with the injected key (§5.7's masked Pong).
    assert_eq!(wire(&outs), [0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
    assert_eq!(events(&outs), vec![Event::Ping(bytes(b"Hello"))]);
}

#[test]
fn masked_pong_reaches_the_server_application() {
    let mut s = server();
    s.handle_bytes(&[0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
    assert_eq!(events(&drain(&mut s)), vec![Event::Pong(bytes(b"Hello"))]);
}

#[test]
fn binary_256_bytes_uses_16_bit_length() {
    let payload = vec![0xAB; 256];
    let mut s = server();
    s.send_binary(payload.clone()).unwrap();
    let w = wire(&drain(&mut s));
    assert_eq!(&w[..4], &[0x82, 0x7E, 0x01, 0x00]);
    assert_eq!(&w[4..], &payload[..]);
    let mut c = client();
    c.handle_bytes(&w);
    assert_eq!(events(&drain(&mut c)), vec![Event::Message(Message::binary(payload))]);
}

#[test]
fn binary_64_kib_uses_64_bit_length() {
    let payload = vec![0xCD; 65536];
    let mut s = server();
    s.send_binary(payload.clone()).unwrap();
    let w = wire(&drain(&mut s));
    assert_eq!(&w[..10], &[0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00]);
    assert_eq!(w.len(), 10 + 65536);
}
