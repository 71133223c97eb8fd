//! Shared test helpers: deterministic entropy, output collection, an in-memory pair.
#![allow(dead_code, unreachable_pub)]

use wsmachine::{Bytes, Closed, Config, Connection, Entropy, Event, Output, Role};

/// Entropy that repeats a fixed 4-byte pattern: every mask key is `key`.
#[derive(Clone, Copy, Debug)]
pub struct FixedMask(pub [u8; 4]);

impl Entropy for FixedMask {
    fn fill(&mut self, dest: &mut [u8]) {
        for (i, b) in dest.iter_mut().enumerate() {
            *b = self.0[i % 4];
        }
    }
}

/// The §5.7 masking key.
pub const RFC_KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

pub fn server() -> Connection {
    Connection::new_open(Role::Server, Config::default(), FixedMask(RFC_KEY))
}

pub fn client() -> Connection {
    Connection::new_open(Role::Client, Config::default(), FixedMask(RFC_KEY))
}

pub fn with_config(role: Role, config: Config) -> Connection {
    Connection::new_open(role, config, FixedMask(RFC_KEY))
}

/// What a drain of `poll_output` produced, in order, with transmits joined
/// into one byte string per run.
#[derive(Debug, Clone, PartialEq)]
pub enum Out {
    Wire(Vec<u8>),
    Event(Event),
    CloseTransport,
}

/// Drains every output, merging consecutive transmits.
pub fn drain(conn: &mut Connection) -> Vec<Out> {
    let mut outs = Vec::new();
    while let Some(o) = conn.poll_output() {
        match o {
            Output::Transmit(b) => match outs.last_mut() {
                Some(Out::Wire(w)) => w.extend_from_slice(&b),
                _ => outs.push(Out::Wire(b.to_vec())),
            },
            Output::Event(e) => outs.push(Out::Event(e)),
            Output::CloseTransport => outs.push(Out::CloseTransport),
            other => panic!("unexpected output {other:?}"),
        }
    }
    outs
}

/// All bytes written by a drain.
pub fn wire(outs: &[Out]) -> Vec<u8> {
    outs.iter()
        .filter_map(|o| match o {
            Out::Wire(w) => Some(w.as_slice()),
            _ => None,
        })
        .flatten()
        .copied()
        .collect()
}

/// All events of a drain.
pub fn events(outs: &[Out]) -> Vec<Event> {
    outs.iter()
        .filter_map(|o| match o {
            Out::Event(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

/// The `Closed` event of a drain, if any.
pub fn closed(outs: &[Out]) -> Option<Closed> {
    outs.iter().find_map(|o| match o {
        Out::Event(Event::Closed(c)) => Some(c.clone()),
        _ => None,
    })
}

/// Builds one frame. `mask`: Some(key) to mask the payload.
pub fn frame(fin: bool, rsv: u8, opcode: u8, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![(u8::from(fin) << 7) | (rsv << 4) | opcode];
    let m = if mask.is_some() { 0x80 } else { 0 };
    let len = payload.len();
    if len < 126 {
        v.push(m | len as u8);
    } else if len <= 0xFFFF {
        v.push(m | 126);
        v.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        v.push(m | 127);
        v.extend_from_slice(&(len as u64).to_be_bytes());
    }
    match mask {
        Some(k) => {
            v.extend_from_slice(&k);
            v.extend(payload.iter().enumerate().map(|(i, b)| b ^ k[i % 4]));
        }
        None => v.extend_from_slice(payload),
    }
    v
}

/// A frame as a client sends it (masked with the RFC key).
pub fn cframe(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    frame(fin, 0, opcode, Some(RFC_KEY), payload)
}

/// A frame as a server sends it (unmasked).
pub fn sframe(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    frame(fin, 0, opcode, None, payload)
}

/// A Close frame payload.
pub fn close_body(code: u16, reason: &str) -> Vec<u8> {
    let mut v = code.to_be_bytes().to_vec();
    v.extend_from_slice(reason.as_bytes());
    v
}

/// Two connected endpoints in memory.
pub struct Pair {
    pub client: Connection,
    pub server: Connection,
    pub client_events: Vec<Event>,
    pub server_events: Vec<Event>,
    pub client_transport_closed: bool,
    pub server_transport_closed: bool,
}

impl Pair {
    pub fn new(config: Config) -> Self {
        Self {
            client: Connection::new_open(Role::Client, config.clone(), FixedMask([1, 2, 3, 4])),
            server: Connection::new_open(Role::Server, config, FixedMask([1, 2, 3, 4])),
            client_events: Vec::new(),
            server_events: Vec::new(),
            client_transport_closed: false,
            server_transport_closed: false,
        }
    }

    /// Moves bytes both ways until nothing more happens. A closed transport
    /// delivers EOF to the other side.
    pub fn drive(&mut self) {
        loop {
            let mut moved = false;
            while let Some(o) = self.client.poll_output() {
                moved = true;
                match o {
                    Output::Transmit(b) => self.server.handle_bytes(&b),
                    Output::Event(e) => self.client_events.push(e),
                    Output::CloseTransport => {
                        self.client_transport_closed = true;
                        self.server.handle_eof();
                    }
                    _ => {}
                }
            }
            while let Some(o) = self.server.poll_output() {
                moved = true;
                match o {
                    Output::Transmit(b) => self.client.handle_bytes(&b),
                    Output::Event(e) => self.server_events.push(e),
                    Output::CloseTransport => {
                        self.server_transport_closed = true;
                        self.client.handle_eof();
                    }
                    _ => {}
                }
            }
            if !moved {
                break;
            }
        }
    }
}

pub fn bytes(s: &[u8]) -> Bytes {
    Bytes::copy_from_slice(s)
}
