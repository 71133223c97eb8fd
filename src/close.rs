//! Close status codes (RFC 6455 §7.4) and the rules for who may use which.

use core::fmt;

/// A WebSocket close status code (RFC 6455 §7.4).
///
/// The code space is open: any `u16` is representable, so an unknown code
/// from a peer can still be inspected and reported. Three predicates classify
/// a code:
///
/// | codes | [`is_valid_received`](Self::is_valid_received) | [`is_sendable`](Self::is_sendable) | [`is_browser_allowed`](Self::is_browser_allowed) |
/// |---|---|---|---|
/// | 0–999 | no | no | no |
/// | 1000 | yes | yes | yes |
/// | 1001–1003 | yes | yes | no |
/// | 1004 (reserved), 1005, 1006 | no | no | no |
/// | 1007–1014 | yes | yes | no |
/// | 1015 | no | no | no |
/// | 1016–2999 | no | no | no |
/// | 3000–4999 | yes | yes | yes |
/// | 5000–65535 | no | no | no |
///
/// 1005 ([`NO_STATUS_RCVD`](Self::NO_STATUS_RCVD)), 1006
/// ([`ABNORMAL`](Self::ABNORMAL)) and 1015 ([`TLS_HANDSHAKE`](Self::TLS_HANDSHAKE))
/// are reported to the application but never put on the wire (§7.4.1).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CloseCode(u16);

impl CloseCode {
    /// 1000: the purpose of the connection has been fulfilled.
    pub const NORMAL: Self = Self(1000);
    /// 1001: an endpoint is going away (server shutdown, page navigation).
    pub const GOING_AWAY: Self = Self(1001);
    /// 1002: the peer broke the protocol.
    pub const PROTOCOL_ERROR: Self = Self(1002);
    /// 1003: a data type the endpoint cannot accept (e.g. binary for a text-only endpoint).
    pub const UNSUPPORTED_DATA: Self = Self(1003);
    /// 1004: reserved; its meaning might be defined in the future. Never sent.
    pub const RESERVED: Self = Self(1004);
    /// 1005: reported when a Close frame carried no status code. Never sent.
    pub const NO_STATUS_RCVD: Self = Self(1005);
    /// 1006: reported when the connection closed without a Close frame. Never sent.
    pub const ABNORMAL: Self = Self(1006);
    /// 1007: data inconsistent with its message type (e.g. invalid UTF-8 in text).
    pub const INVALID_PAYLOAD: Self = Self(1007);
    /// 1008: a message violated the endpoint's policy.
    pub const POLICY_VIOLATION: Self = Self(1008);
    /// 1009: a message too big to process.
    pub const MESSAGE_TOO_BIG: Self = Self(1009);
    /// 1010: (client) the server did not negotiate a required extension.
    pub const MANDATORY_EXTENSION: Self = Self(1010);
    /// 1011: (server) an unexpected condition prevented fulfilling the request.
    pub const INTERNAL_ERROR: Self = Self(1011);
    /// 1012: (IANA registry) the service is restarting.
    pub const SERVICE_RESTART: Self = Self(1012);
    /// 1013: (IANA registry) try again later, e.g. the server is overloaded.
    pub const TRY_AGAIN_LATER: Self = Self(1013);
    /// 1014: (IANA registry) a gateway received an invalid response upstream.
    pub const BAD_GATEWAY: Self = Self(1014);
    /// 1015: reported when the TLS handshake failed. Never sent.
    pub const TLS_HANDSHAKE: Self = Self(1015);

    /// Wraps any `u16`; use the predicates to classify it.
    pub const fn new(code: u16) -> Self {
        Self(code)
    }

    /// The numeric value.
    pub const fn as_u16(self) -> u16 {
        self.0
    }

    /// May a peer send this code? Codes outside this set in a received Close
    /// frame fail the connection with 1002 (§7.4): 1000–1003, 1007–1014 and
    /// 3000–4999.
    pub const fn is_valid_received(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }

    /// May this endpoint put the code in a Close frame? The same set as
    /// [`is_valid_received`](Self::is_valid_received): never 0–999, 1004,
    /// 1005, 1006, 1015, 1016–2999 or 5000 and above.
    pub const fn is_sendable(self) -> bool {
        self.is_valid_received()
    }

    /// Does the browser's `WebSocket.close(code)` accept this code? Only 1000
    /// and 3000–4999; any other code throws `InvalidAccessError` (WHATWG
    /// WebSockets, the close() method steps).
    pub const fn is_browser_allowed(self) -> bool {
        matches!(self.0, 1000 | 3000..=4999)
    }

    /// The registered name of a code in 1000–1015, if it has one.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            1000 => "Normal Closure",
            1001 => "Going Away",
            1002 => "Protocol Error",
            1003 => "Unsupported Data",
            1004 => "Reserved",
            1005 => "No Status Received",
            1006 => "Abnormal Closure",
            1007 => "Invalid Frame Payload Data",
            1008 => "Policy Violation",
            1009 => "Message Too Big",
            1010 => "Mandatory Extension",
            1011 => "Internal Error",
            1012 => "Service Restart",
            1013 => "Try Again Later",
            1014 => "Bad Gateway",
            1015 => "TLS Handshake",
            _ => return None,
        })
    }
}

impl From<u16> for CloseCode {
    fn from(code: u16) -> Self {
        Self(code)
    }
}

impl From<CloseCode> for u16 {
    fn from(code: CloseCode) -> Self {
        code.0
    }
}

impl PartialEq<u16> for CloseCode {
    fn eq(&self, other: &u16) -> bool {
        self.0 == *other
    }
}

impl fmt::Debug for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "CloseCode({} {name})", self.0),
            None => write!(f, "CloseCode({})", self.0),
        }
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// The longest close reason, in UTF-8 bytes: a control frame carries at most
/// 125 bytes, two of which are the code (§5.5).
pub const MAX_REASON_LEN: usize = 123;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sendable_equals_valid_received_and_excludes_reserved() {
        for c in [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535] {
            assert!(!CloseCode(c).is_sendable(), "{c}");
        }
        for c in [1000, 1001, 1002, 1003, 1007, 1011, 1014, 3000, 4999] {
            assert!(CloseCode(c).is_sendable(), "{c}");
        }
    }
}
