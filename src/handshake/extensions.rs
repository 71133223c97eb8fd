//! The `Sec-WebSocket-Extensions` header (RFC 6455 §9.1, §11.3.2).

use alloc::string::String;
use alloc::vec::Vec;

use super::{HandshakeError, is_tchar, is_token};

/// One element of a `Sec-WebSocket-Extensions` header (RFC 6455 §9.1
/// grammar): an extension name and its parameters, in order.
///
/// ```text
/// extension       = extension-token *( ";" extension-param )
/// extension-param = token [ "=" (token | quoted-string) ]
/// ```
///
/// Parameter values are kept unquoted. A valid offer (see
/// [`is_valid`](Self::is_valid)) has token names and token values, since a
/// quoted value MUST also be a token once unescaped (§9.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtensionOffer {
    /// The extension token, e.g. `permessage-deflate` (RFC 6455 §9.1,
    /// registered per §11.4).
    pub name: String,
    /// The parameters in order: a name and, for `name=value`, the value
    /// (RFC 6455 §9.1 `extension-param`).
    pub params: Vec<(String, Option<String>)>,
}

impl ExtensionOffer {
    /// An offer of the extension `name` with no parameters (RFC 6455 §9.1).
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into(), params: Vec::new() }
    }

    /// Adds a parameter, `name` alone or `name=value` (RFC 6455 §9.1
    /// `extension-param`).
    #[must_use]
    pub fn param(mut self, name: impl Into<String>, value: Option<&str>) -> Self {
        self.params.push((name.into(), value.map(String::from)));
        self
    }

    /// The value of the first parameter called `name` (ASCII
    /// case-insensitive): `None` if absent, `Some(None)` if it has no value
    /// (RFC 6455 §9.1).
    pub fn get_param(&self, name: &str) -> Option<Option<&str>> {
        self.params.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_deref())
    }

    /// Whether the offer can be written as the §9.1 grammar requires: the
    /// name, every parameter name and every value are tokens (RFC 6455
    /// §9.1).
    pub fn is_valid(&self) -> bool {
        is_token(&self.name) && self.params.iter().all(|(n, v)| is_token(n) && v.as_deref().is_none_or(is_token))
    }

    /// The offer as one element of a header value (RFC 6455 §9.1), e.g.
    /// `permessage-deflate; client_max_window_bits`. Values are written as
    /// tokens; a value that is not a token is written as a quoted-string
    /// (which a peer will reject, §9.1). Only a [valid](Self::is_valid)
    /// offer is guaranteed to produce a well-formed header value.
    pub fn to_header_value(&self) -> String {
        let mut s = self.name.clone();
        for (name, value) in &self.params {
            s.push_str("; ");
            s.push_str(name);
            if let Some(v) = value {
                s.push('=');
                if is_token(v) {
                    s.push_str(v);
                } else {
                    s.push('"');
                    for c in v.chars() {
                        if c == '"' || c == '\\' {
                            s.push('\\');
                        }
                        s.push(c);
                    }
                    s.push('"');
                }
            }
        }
        s
    }
}

/// Joins several offers into one header value: `a; x=1, b`
/// (RFC 6455 §9.1 `extension-list`).
pub(super) fn join_extensions<'a>(offers: impl Iterator<Item = &'a ExtensionOffer>) -> String {
    let mut s = String::new();
    for (i, e) in offers.enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(&e.to_header_value());
    }
    s
}

/// Parses one `Sec-WebSocket-Extensions` header value (RFC 6455 §9.1):
/// comma-separated extensions, each with `;`-separated parameters whose
/// values are tokens or quoted-strings (returned unquoted; a quoted value
/// must be a token once unescaped). Optional whitespace is allowed around
/// every separator (the "implied *LWS rule"); empty list elements are
/// ignored (RFC 7230 §7), but at least one extension is required
/// (`1#extension`).
///
/// Any violation is [`HandshakeError::InvalidExtensionHeader`]: the
/// recipient MUST fail the connection (§9.1).
pub fn parse_extensions(value: &str) -> Result<Vec<ExtensionOffer>, HandshakeError> {
    let mut out: Vec<ExtensionOffer> = Vec::new();
    walk(value, |item| match item {
        Item::Extension(name) => out.push(ExtensionOffer::new(name)),
        Item::Param(name, value) => {
            if let Some(ext) = out.last_mut() {
                ext.params.push((String::from(name), value.map(unquote)));
            }
        }
    })?;
    Ok(out)
}

/// Checks one `Sec-WebSocket-Extensions` header value as
/// [`parse_extensions`] does, without building the offers.
pub(super) fn check_extensions(value: &str) -> Result<(), HandshakeError> {
    walk(value, |_| {})
}

/// A parameter value as written: a token, or the inside of a
/// quoted-string whose escapes all escape token characters.
#[derive(Clone, Copy)]
enum Value<'a> {
    Token(&'a str),
    Quoted(&'a str),
}

/// A value without its quoting: a valid quoted value's backslashes are all
/// escapes (a backslash is no token character, so none is escaped).
fn unquote(value: Value<'_>) -> String {
    match value {
        Value::Token(t) => String::from(t),
        Value::Quoted(q) => q.chars().filter(|c| *c != '\\').collect(),
    }
}

/// What [`walk`] finds, in order.
enum Item<'a> {
    /// An extension's name.
    Extension(&'a str),
    /// A parameter of the extension before it.
    Param(&'a str, Option<Value<'a>>),
}

/// Reads one header value (the grammar of [`parse_extensions`]), handing
/// each extension and parameter to `found`; at least one extension is
/// required.
fn walk<'a>(value: &'a str, mut found: impl FnMut(Item<'a>)) -> Result<(), HandshakeError> {
    let mut p = Parser { s: value, i: 0 };
    let mut extensions = 0;
    loop {
        p.skip_ows();
        match p.peek() {
            None => break,
            Some(b',') => {
                p.i += 1;
                continue;
            }
            Some(_) => {}
        }
        found(Item::Extension(p.token()?));
        extensions += 1;
        loop {
            p.skip_ows();
            match p.peek() {
                None => break,
                Some(b',') => {
                    p.i += 1;
                    break;
                }
                Some(b';') => {
                    p.i += 1;
                    p.skip_ows();
                    let name = p.token()?;
                    p.skip_ows();
                    let val = if p.peek() == Some(b'=') {
                        p.i += 1;
                        p.skip_ows();
                        Some(if p.peek() == Some(b'"') { Value::Quoted(p.quoted()?) } else { Value::Token(p.token()?) })
                    } else {
                        None
                    };
                    found(Item::Param(name, val));
                }
                Some(_) => return Err(HandshakeError::InvalidExtensionHeader),
            }
        }
    }
    if extensions == 0 {
        return Err(HandshakeError::InvalidExtensionHeader);
    }
    Ok(())
}

struct Parser<'a> {
    s: &'a str,
    i: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.i).copied()
    }

    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }

    /// A token (RFC 7230 §3.2.6): one or more `tchar`s.
    fn token(&mut self) -> Result<&'a str, HandshakeError> {
        let start = self.i;
        while self.peek().is_some_and(is_tchar) {
            self.i += 1;
        }
        match self.s.get(start..self.i) {
            Some(tok) if !tok.is_empty() => Ok(tok),
            _ => Err(HandshakeError::InvalidExtensionHeader),
        }
    }

    /// A quoted-string (RFC 7230 §3.2.6), the opening quote at `self.i`,
    /// whose unescaped content must be a token (§9.1); returns the content
    /// between the quotes as written.
    fn quoted(&mut self) -> Result<&'a str, HandshakeError> {
        self.i += 1; // the opening quote
        let start = self.i;
        let mut chars = 0;
        loop {
            let b = self.peek().ok_or(HandshakeError::InvalidExtensionHeader)?;
            self.i += 1;
            let c = match b {
                b'"' => break,
                b'\\' => {
                    let e = self.peek().ok_or(HandshakeError::InvalidExtensionHeader)?;
                    self.i += 1;
                    e
                }
                _ => b,
            };
            if !is_tchar(c) {
                return Err(HandshakeError::InvalidExtensionHeader);
            }
            chars += 1;
        }
        match self.s.get(start..self.i - 1) {
            Some(q) if chars > 0 => Ok(q),
            _ => Err(HandshakeError::InvalidExtensionHeader),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn ext(name: &str, params: &[(&str, Option<&str>)]) -> ExtensionOffer {
        params.iter().fold(ExtensionOffer::new(name), |e, (n, v)| e.param(*n, *v))
    }

    #[test]
    fn grammar_table_ok() {
        let table: Vec<(&str, Vec<ExtensionOffer>)> = vec![
            ("foo", vec![ext("foo", &[])]),
            ("deflate-stream", vec![ext("deflate-stream", &[])]),
            (
                "mux; max-channels=4; flow-control, deflate-stream",
                vec![ext("mux", &[("max-channels", Some("4")), ("flow-control", None)]), ext("deflate-stream", &[])],
            ),
            (
                "permessage-deflate; client_max_window_bits",
                vec![ext("permessage-deflate", &[("client_max_window_bits", None)])],
            ),
            (
                "permessage-deflate; client_max_window_bits=\"10\"",
                vec![ext("permessage-deflate", &[("client_max_window_bits", Some("10"))])],
            ),
            // Escaped characters inside the quotes.
            ("a; b=\"\\x\\y\"", vec![ext("a", &[("b", Some("xy"))])]),
            ("  a ;b = 1 ;\tc\t,  d  ", vec![ext("a", &[("b", Some("1")), ("c", None)]), ext("d", &[])]),
            ("a,,b,", vec![ext("a", &[]), ext("b", &[])]),
            (", a", vec![ext("a", &[])]),
            ("x; y=\"z\", x", vec![ext("x", &[("y", Some("z"))]), ext("x", &[])]),
        ];
        for (input, want) in table {
            assert_eq!(parse_extensions(input), Ok(want), "input {input:?}");
        }
    }

    #[test]
    fn grammar_table_err() {
        for input in [
            "",
            "   ",
            ",",
            " , , ",
            "a;",
            "a; ",
            "a;=1",
            "a; b=",
            "a; b=\"\"",
            "a; b=\"1 2\"",
            "a; b=\"unterminated",
            "a; b=\"x\\",
            "a; b=1 2",
            "a b",
            "a; b c",
            "a; b=\"x\"y",
            "\"a\"",
            "a; b=(c)",
            "ä",
            "a; b=\"ä\"",
            "a;; b",
            ";a",
            "a=1",
        ] {
            assert_eq!(parse_extensions(input), Err(HandshakeError::InvalidExtensionHeader), "input {input:?}");
        }
    }

    #[test]
    fn writing() {
        let e = ExtensionOffer::new("permessage-deflate")
            .param("client_max_window_bits", None)
            .param("server_max_window_bits", Some("10"));
        assert_eq!(e.to_header_value(), "permessage-deflate; client_max_window_bits; server_max_window_bits=10");
        assert!(e.is_valid());
        assert_eq!(parse_extensions(&e.to_header_value()), Ok(vec![e.clone()]));
        assert_eq!(e.get_param("SERVER_max_window_bits"), Some(Some("10")));
        assert_eq!(e.get_param("client_max_window_bits"), Some(None));
        assert_eq!(e.get_param("nope"), None);
        let bad = ExtensionOffer::new("x").param("y", Some("a \"b\\"));
        assert!(!bad.is_valid());
        assert_eq!(bad.to_header_value(), "x; y=\"a \\\"b\\\\\"");
        assert!(!ExtensionOffer::new("a b").is_valid());
        assert!(!ExtensionOffer::new("a").param("", None).is_valid());
        assert_eq!(join_extensions([ext("a", &[]), ext("b", &[("c", None)])].iter()), "a, b; c");
    }
}
