//! RFC 8441's extended CONNECT on its own (`h2_connect`):
//! `wsmachine::handshake::h2::ConnectRequest::from_fields` and
//! `h2::validate_response` on arbitrary HTTP/2 header lists, through the
//! public API only.
//!
//! Input:
//!
//! ```text
//! byte 0   bit 0  the RFC 8441 §5.1 request's pseudo-header fields come first
//!          bit 1  then its regular fields (after the pseudo-header ones)
//!          bit 2  the client (for validate_response) offers chat, superchat
//!                 and permessage-deflate; else nothing
//!          bit 3  the server runs permessage-deflate (and chooses `chat`)
//! bytes 1-2  the response status for validate_response (big-endian)
//! rest     the fields, one a line (`\n`): `name: value` split at the first
//!          ": " (a line without one is a name with an empty value); names
//!          are read as UTF-8, lossily, values are bytes
//! ```
//!
//! Checked: no panic; the same list gives the same answer twice; a refusal
//! has a status of 400, 405 or 501, `sec-websocket-version: 13` exactly for
//! a version refusal, and a message; an accepted request satisfies RFC 8441
//! §4–5 (scheme `http`/`https`, origin-form path, an authority, version 13,
//! lower-case names, no connection-specific field), its negotiated `200`
//! builds and a client that made the same offers accepts it with the same
//! agreement; `validate_response` succeeds only for a 2xx, refuses every
//! other status as `Rejected` with that status (unless a value is not
//! UTF-8), and what it accepts was offered.

use wsmachine::handshake::h2::{self, ConnectRejection, ConnectRequest};
use wsmachine::handshake::{Accept, ClientRequest, ExtensionOffer};
use wsmachine::{Config, HandshakeError};

/// RFC 8441 §5.1's request: pseudo-header fields, then regular ones.
const EXAMPLE: [(&str, &[u8]); 9] = [
    (":method", b"CONNECT"),
    (":protocol", b"websocket"),
    (":scheme", b"https"),
    (":path", b"/chat"),
    (":authority", b"server.example.com"),
    ("sec-websocket-protocol", b"chat, superchat"),
    ("sec-websocket-extensions", b"permessage-deflate"),
    ("sec-websocket-version", b"13"),
    ("origin", b"http://www.example.com"),
];

/// The input's fields: names (owned, lossy UTF-8) and values.
fn parse_lines(rest: &[u8]) -> Vec<(String, &[u8])> {
    if rest.is_empty() {
        return Vec::new();
    }
    rest.split(|b| *b == b'\n')
        .map(|line| match line.windows(2).position(|w| w == b": ") {
            Some(at) => (String::from_utf8_lossy(&line[..at]).into_owned(), &line[at + 2..]),
            None => (String::from_utf8_lossy(line).into_owned(), &line[line.len()..]),
        })
        .collect()
}

fn config(deflate: bool) -> Config {
    let config = Config::default().with_protocol("chat");
    if deflate { config.with_deflate(Some(wsmachine::DeflateConfig::default())) } else { config }
}

pub fn connect(data: &[u8]) {
    let [flags, s0, s1, rest @ ..] = data else { return };
    let status = u16::from_be_bytes([*s0, *s1]);
    let lines = parse_lines(rest);
    let mut fields: Vec<(&str, &[u8])> = Vec::new();
    if flags & 1 != 0 {
        fields.extend_from_slice(&EXAMPLE[..5]);
    }
    if flags & 2 != 0 {
        fields.extend_from_slice(&EXAMPLE[5..]);
    }
    fields.extend(lines.iter().map(|(n, v)| (n.as_str(), *v)));

    let result = ConnectRequest::from_fields(fields.iter().copied());
    assert_eq!(ConnectRequest::from_fields(fields.iter().copied()), result, "not deterministic");
    match &result {
        Ok(req) => check_accepted(req, flags & 8 != 0),
        Err(e) => check_refusal(e),
    }

    let client = if flags & 4 != 0 {
        ClientRequest::new("wss://server.example.com/chat")
            .expect("valid URL")
            .protocol("chat")
            .protocol("superchat")
            .extension(ExtensionOffer::new("permessage-deflate"))
    } else {
        ClientRequest::new("wss://server.example.com/chat").expect("valid URL")
    };
    let utf8 = fields.iter().all(|(_, v)| std::str::from_utf8(v).is_ok());
    match h2::validate_response(&client, status, fields.iter().copied()) {
        Ok(accepted) => {
            assert!((200..300).contains(&status), "accepted a {status}");
            if let Some(p) = &accepted.protocol {
                assert!(client.protocols().contains(p), "unoffered {p}");
            }
            for e in &accepted.extensions {
                assert!(
                    client.extensions().iter().any(|o| o.name.eq_ignore_ascii_case(&e.name)),
                    "unoffered {}",
                    e.name
                );
            }
        }
        Err(HandshakeError::Rejected(r)) => {
            assert!(!(200..300).contains(&status), "refused a {status}");
            assert_eq!(r.status, status);
            assert!(r.body.is_empty());
        }
        Err(e) => {
            let _ = e.to_string();
            assert!((200..300).contains(&status) || !utf8, "{status}: {e:?}");
        }
    }
}

fn check_refusal(e: &ConnectRejection) {
    assert!(matches!(e.status(), 400 | 405 | 501), "{e:?}");
    assert!(!e.to_string().is_empty());
    let version = matches!(e, ConnectRejection::UnsupportedVersion(_));
    assert_eq!(e.headers().contains(&("sec-websocket-version", "13")), version, "{e:?}");
    let fields = e.response_fields();
    assert_eq!(fields[0], (":status".to_string(), e.status().to_string()));
}

fn check_accepted(req: &ConnectRequest, deflate: bool) {
    assert!(req.scheme() == "https" || req.scheme() == "http");
    assert!(req.path().starts_with('/') && !req.path().contains('#'));
    assert!(!req.authority().is_empty() && !req.authority().contains('@'));
    assert_eq!(req.header("sec-websocket-version"), Some("13"));
    for (name, _) in req.headers() {
        assert!(!name.starts_with(':') && !name.bytes().any(|b| b.is_ascii_uppercase()), "{name}");
        assert!(!["connection", "upgrade", "keep-alive", "proxy-connection", "transfer-encoding"].contains(&name));
    }
    assert!(req.protocols().iter().all(|p| !p.is_empty() && !p.contains([',', ' '])));

    // Negotiate, answer, and let a client that made the same offers check
    // the answer: it gets the same agreement.
    let config = config(deflate);
    let accept = Accept::new().negotiate(req, &config);
    let answer = h2::response_fields(req, &accept).expect("a negotiated answer builds");
    assert_eq!(answer[0], (":status".to_string(), "200".to_string()));
    let url = format!("{}://{}{}", if req.is_secure() { "wss" } else { "ws" }, req.authority(), req.path());
    // ClientRequest::new is stricter about hosts and paths than a server.
    let Ok(client) = ClientRequest::new(&url) else { return };
    let mut seen: Vec<&String> = Vec::new();
    let mut client = client;
    for p in req.protocols() {
        if !seen.contains(&p) {
            seen.push(p);
            client = client.protocol(p.clone());
        }
    }
    let client = req.extensions().iter().cloned().fold(client, ClientRequest::extension);
    let fields = answer.iter().map(|(n, v)| (n.as_str(), v.as_bytes()));
    let accepted = h2::validate_response(&client, 200, fields).expect("the client accepts the negotiated answer");
    assert_eq!(accepted.protocol.as_deref(), accept.selected_protocol());
    assert_eq!(accepted.extensions, accept.extensions());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_fields_parse() {
        let mut input = vec![0b1011, 0, 200];
        input.extend_from_slice(b"cookie: a=b\nx-empty");
        connect(&input);
        let lines = parse_lines(b"a: b: c\nd\n: e");
        assert_eq!(lines, [("a".to_string(), &b"b: c"[..]), ("d".to_string(), &b""[..]), ("".to_string(), &b"e"[..])]);
        let req = ConnectRequest::from_fields(EXAMPLE).unwrap();
        check_accepted(&req, true);
        check_accepted(&req, false);
    }
}
