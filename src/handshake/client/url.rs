//! The `ws://` / `wss://` URL grammar a client request needs (RFC 6455 §3 on
//! RFC 3986): authority, port and the path-and-query characters. Kept
//! small and here rather than taking the `url` crate, which needs `std`
//! and parses far more (every scheme, IDNA) than a `no_std` WebSocket
//! client uses.

use super::*;

/// Splits `host[:port]` or `[v6][:port]`.
pub(super) fn parse_authority(authority: &str) -> Result<(String, bool, Option<u16>), UsageError> {
    let bad = UsageError::InvalidUrl;
    let (host, ipv6, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (inside, after) = rest.split_once(']').ok_or(bad("unclosed '[' in host"))?;
        if core::net::Ipv6Addr::from_str(inside).is_err() {
            return Err(bad("invalid IPv6 address"));
        }
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':').ok_or(bad("junk after IPv6 address"))?),
        };
        (inside, true, port)
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, false, Some(p)),
            None => (authority, false, None),
        }
    };
    if host.is_empty() {
        return Err(bad("empty host"));
    }
    let reg_name_ok = || host.bytes().all(|b| is_unreserved(b) || is_sub_delim(b) || b == b'%') && pct_ok(host);
    if !ipv6 && !reg_name_ok() {
        return Err(bad("invalid character in host"));
    }
    let port = match port {
        None | Some("") => None,
        Some(p) => Some(parse_port(p).ok_or(bad("invalid port"))?),
    };
    Ok((host.to_ascii_lowercase(), ipv6, port))
}

/// `1*DIGIT` in 1..=65535 (leading zeros allowed, RFC 3986 §3.2.3).
pub(super) fn parse_port(p: &str) -> Option<u16> {
    let mut n: u32 = 0;
    for b in p.bytes() {
        let d = u32::from(b.checked_sub(b'0').filter(|d| *d <= 9)?);
        n = n.checked_mul(10)?.checked_add(d)?;
        if n > 65535 {
            return None;
        }
    }
    u16::try_from(n).ok().filter(|n| *n != 0)
}

pub(super) fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

pub(super) fn is_sub_delim(b: u8) -> bool {
    matches!(b, b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'=')
}

/// `pchar` of RFC 3986 §3.3 (with `%` checked separately by [`pct_ok`]).
pub(super) fn is_pchar(b: u8) -> bool {
    is_unreserved(b) || is_sub_delim(b) || matches!(b, b':' | b'@' | b'%')
}

/// Every `%` starts a `pct-encoded` triplet (RFC 3986 §2.1).
pub(super) fn pct_ok(s: &str) -> bool {
    let b = s.as_bytes();
    b.iter().enumerate().all(|(i, c)| {
        let hex_at = |j: usize| b.get(j).is_some_and(u8::is_ascii_hexdigit);
        *c != b'%' || (hex_at(i.saturating_add(1)) && hex_at(i.saturating_add(2)))
    })
}
