//! The opening handshake's head parsers on their own (`handshake_request`,
//! `handshake_response`), through `crate::codec::{parse_request,
//! parse_response}`: the functions the connection calls on everything
//! received so far.
//!
//! Input: byte 0 picks the limits and options, the rest is the head:
//!
//! ```text
//! byte 0   bits 0-1  max_head_size [8192, 64, 256, 1024]
//!          bits 2-3  max_headers   [64, 1, 4, 16]
//!          bit  4    (response) the request offered `chat, superchat` and `x-ext`
//!          bit  5    the peer has closed (eof)
//! rest     the bytes received
//! ```
//!
//! Checked: no panic; a complete parse used at most the bytes given (and no
//! more than `max_head_size` for the head); every shorter prefix is
//! `Partial`; the complete part alone, or followed by anything, parses the
//! same (the parser never looks past what it consumed); an error stays the
//! same error when more bytes arrive (the connection acts on it at once);
//! fed in reads of 1, 7 or 100 bytes, as a connection feeds it, the parser
//! decides the same as on the whole input, with and without EOF; with EOF
//! nothing is `Partial`, and what was decided without EOF stays;
//! what a complete parse returns satisfies RFC 6455 §4.1 / §4.2.1.

use crate::codec::{parse_request, parse_request_stepwise, parse_response, parse_response_stepwise};
use wsmachine::fuzzing::{RequestHead, ResponseHead};
use wsmachine::handshake::ClientRequest;

/// The §1.2 sample key, so the §1.3 accept value `s3pPLMBiTxaQ9kYGzzhZRbK+xOo=` is valid.
pub const RFC_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

fn limits(b: u8) -> (usize, usize) {
    ([8192, 64, 256, 1024][usize::from(b & 3)], [64, 1, 4, 16][usize::from((b >> 2) & 3)])
}

/// The prefix lengths to check below `n`: all of them up to 1 KiB, else
/// the first and last 256 and every 61st.
fn prefixes(n: usize) -> impl Iterator<Item = usize> {
    (0..n).filter(move |&i| n <= 1024 || i < 256 || i + 256 >= n || i % 61 == 0)
}

/// The read sizes the stepwise checks feed.
const STEPS: [usize; 3] = [1, 7, 100];

/// Bytes that would complete almost any head: anything after a finished
/// parse must not matter, and an error must stay.
const MORE: &[u8] = b"\r\n\r\n\x81\x80\0\0\0\0GET / HTTP/1.1\r\n\r\n";

pub fn request(data: &[u8]) {
    let Some((&b0, buf)) = data.split_first() else { return };
    let (max_head, max_headers) = limits(b0);
    let parse = |b: &[u8]| parse_request(b, false, max_head, max_headers);
    let result = parse(buf);
    let eof = b0 & 0x20 != 0;
    let at_eof = parse_request(buf, true, max_head, max_headers);
    assert_ne!(at_eof, Ok(RequestHead::Partial), "Partial at EOF");
    if result != Ok(RequestHead::Partial) {
        assert_eq!(at_eof, result, "EOF changed a decided request");
    }
    for step in STEPS {
        let whole = if eof { &at_eof } else { &result };
        let stepwise = parse_request_stepwise(buf, eof, step, max_head, max_headers);
        assert_eq!(&stepwise, whole, "fed in reads of {step} bytes (eof: {eof})");
    }
    let mut more = buf.to_vec();
    more.extend_from_slice(MORE);
    match &result {
        Ok(RequestHead::Complete(req, n)) => {
            let n = *n;
            assert!(n <= buf.len() && n <= max_head, "consumed {n} of {} (limit {max_head})", buf.len());
            for i in prefixes(n) {
                assert_eq!(parse(&buf[..i]), Ok(RequestHead::Partial), "prefix {i} of a head of {n}");
            }
            assert_eq!(parse(&buf[..n]), result, "the head alone");
            assert_eq!(parse(&more), result, "the head followed by more bytes");
            // §4.2.1: a GET, HTTP/1.1 or later, a Host, a 16-byte key.
            assert_eq!(req.method(), "GET");
            assert!(req.version() >= 1);
            assert!(!req.host().is_empty());
            assert_eq!(req.key().len(), 24, "{:?}", req.key());
            assert!(req.protocols().iter().all(|p| !p.is_empty() && !p.contains([',', ' '])));
            assert!(req.headers().len() <= max_headers);
        }
        Ok(RequestHead::NotUpgrade(req, n)) => {
            // A complete head, just not an upgrade: a plain HTTP request.
            assert!(!req.method().is_empty());
            assert!(*n <= buf.len() && *n <= max_head);
        }
        Ok(RequestHead::Partial) => {
            assert!(buf.len() < max_head, "Partial at {} bytes with a limit of {max_head}", buf.len());
            for i in prefixes(buf.len()).step_by(7) {
                assert_eq!(parse(&buf[..i]), Ok(RequestHead::Partial), "prefix {i} of a partial head");
            }
        }
        Err(e) => {
            let _ = e.to_string();
            // A server answers every error in a request with a status.
            let status = e.status().expect("a request error has a status");
            assert!(matches!(status, 400 | 405 | 426 | 431), "{e:?}: {status}");
            assert_eq!(parse(&more), result, "an error changed with more bytes");
        }
    }
}

pub fn response(data: &[u8]) {
    let Some((&b0, buf)) = data.split_first() else { return };
    let (max_head, max_headers) = limits(b0);
    let req = ClientRequest::new("ws://server.example.com/chat").expect("valid URL");
    let req = if b0 & 0x10 != 0 {
        req.protocol("chat").protocol("superchat").extension(wsmachine::handshake::ExtensionOffer::new("x-ext"))
    } else {
        req
    };
    let eof = b0 & 0x20 != 0;
    let parse = |b: &[u8], eof: bool| parse_response(b, eof, &req, RFC_KEY, max_head, max_headers);
    let result = parse(buf, eof);
    for step in STEPS {
        let stepwise = parse_response_stepwise(buf, eof, step, &req, RFC_KEY, max_head, max_headers);
        assert_eq!(stepwise, result, "fed in reads of {step} bytes (eof: {eof})");
    }
    let mut more = buf.to_vec();
    more.extend_from_slice(MORE);
    let used = match &result {
        Ok(ResponseHead::Accepted(a, n)) => {
            if let Some(p) = &a.protocol {
                assert!(req.protocols().contains(p), "unoffered protocol {p}");
            }
            for e in &a.extensions {
                // Extension names are tokens, compared case-insensitively.
                assert!(
                    req.extensions().iter().any(|o| o.name.eq_ignore_ascii_case(&e.name)),
                    "unoffered extension {}",
                    e.name
                );
            }
            Some(*n)
        }
        Ok(ResponseHead::Rejected(r, n)) => {
            assert!(r.status != 101 && !(100..200).contains(&r.status), "rejected with {}", r.status);
            assert!(r.body.len() <= max_head, "a body of {} over the limit {max_head}", r.body.len());
            Some(*n)
        }
        Ok(ResponseHead::Partial) => {
            assert!(!eof, "Partial after the peer closed");
            // Interim heads, the final head and a body are each bounded by
            // max_head_size: the bytes held waiting are bounded too.
            assert!(buf.len() <= 4 * max_head, "Partial at {} bytes (limit {max_head})", buf.len());
            None
        }
        Err(e) => {
            let _ = e.to_string();
            if !eof {
                assert_eq!(parse(&more, false), result, "an error changed with more bytes");
            }
            None
        }
    };
    if let Some(n) = used {
        assert!(n <= buf.len(), "consumed {n} of {}", buf.len());
        for i in prefixes(n) {
            assert_eq!(parse(&buf[..i], false), Ok(ResponseHead::Partial), "prefix {i} of a response of {n}");
        }
        assert_eq!(parse(&buf[..n], eof), result, "the response alone");
        if !eof {
            assert_eq!(parse(&more, false), result, "the response followed by more bytes");
            // A complete response stays complete when the peer closes.
            assert_eq!(parse(buf, true), result, "EOF changed a complete response");
        }
    }
}
