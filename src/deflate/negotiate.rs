//! Negotiating `permessage-deflate` (RFC 7692 §5, §7.1): the client's offer
//! and its check of the server's response, the server's choice among the
//! client's offers.

use alloc::format;
use alloc::string::String;

use super::{DeflateConfig, DeflateNegotiationError, EXTENSION_NAME, MAX_WINDOW_BITS};
use crate::handshake::ExtensionOffer;

const SERVER_NO_CONTEXT_TAKEOVER: &str = "server_no_context_takeover";
const CLIENT_NO_CONTEXT_TAKEOVER: &str = "client_no_context_takeover";
const SERVER_MAX_WINDOW_BITS: &str = "server_max_window_bits";
const CLIENT_MAX_WINDOW_BITS: &str = "client_max_window_bits";

/// The "agreed parameters" of RFC 7692 §5 and §7.1: what the server's
/// response says, with absent window sizes as 15 (32 KiB).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Params {
    /// The server compresses each message with an empty window (§7.1.1.1).
    pub(crate) server_no_context_takeover: bool,
    /// The client compresses each message with an empty window (§7.1.1.2).
    pub(crate) client_no_context_takeover: bool,
    /// The largest window the server compresses with, 8..=15 (§7.1.2.1).
    pub(crate) server_max_window_bits: u8,
    /// The largest window the client compresses with, 8..=15 (§7.1.2.2).
    pub(crate) client_max_window_bits: u8,
}

/// The four parameters of one element, after the checks common to offers
/// and responses (§7.1: no unknown, repeated or ill-valued parameter).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Elements {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// `Some(None)`: present without a value (allowed in an offer only).
    client_max_window_bits: Option<Option<u8>>,
}

/// Which side wrote the element: `client_max_window_bits` may be valueless
/// in an offer only (§7.1.2.2).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Offer,
    Response,
}

/// A window size as RFC 7692 §7.1.2 writes it: a decimal integer 8..=15
/// without leading zeroes (`1*DIGIT`; no sign, no spaces).
fn parse_bits(value: &str) -> Option<u8> {
    match value.as_bytes() {
        [d @ b'8'..=b'9'] => Some(d - b'0'),
        [b'1', d @ b'0'..=b'5'] => Some(10 + d - b'0'),
        _ => None,
    }
}

fn is_deflate(e: &ExtensionOffer) -> bool {
    e.name.eq_ignore_ascii_case(EXTENSION_NAME)
}

/// Reads the parameters of a `permessage-deflate` element. Names compare
/// ASCII case-insensitively, as [`ExtensionOffer::get_param`] does.
fn parse(e: &ExtensionOffer, side: Side) -> Result<Elements, DeflateNegotiationError> {
    use DeflateNegotiationError as E;
    let mut out = Elements::default();
    let mut seen = [false; 4];
    for (name, value) in &e.params {
        let (index, key) =
            [SERVER_NO_CONTEXT_TAKEOVER, CLIENT_NO_CONTEXT_TAKEOVER, SERVER_MAX_WINDOW_BITS, CLIENT_MAX_WINDOW_BITS]
                .into_iter()
                .enumerate()
                .find(|(_, k)| name.eq_ignore_ascii_case(k))
                .ok_or_else(|| E::UnknownParameter(name.clone()))?;
        if core::mem::replace(&mut seen[index], true) {
            return Err(E::DuplicateParameter(key));
        }
        let value = value.as_deref();
        match index {
            // §7.1.1.1, §7.1.1.2: "This extension parameter has no value."
            0 | 1 => {
                if value.is_some() {
                    return Err(E::InvalidValue(key));
                }
                if index == 0 {
                    out.server_no_context_takeover = true;
                } else {
                    out.client_no_context_takeover = true;
                }
            }
            // §7.1.2.1: a value is required in offers and responses.
            2 => out.server_max_window_bits = Some(value.and_then(parse_bits).ok_or(E::InvalidValue(key))?),
            // §7.1.2.2: valueless in an offer only.
            _ => {
                out.client_max_window_bits = Some(match value {
                    Some(v) => Some(parse_bits(v).ok_or(E::InvalidValue(key))?),
                    None if side == Side::Offer => None,
                    None => return Err(E::InvalidValue(key)),
                });
            }
        }
    }
    Ok(out)
}

fn bits_value(bits: u8) -> String {
    format!("{bits}")
}

/// (Client) The single `permessage-deflate` offer for `cfg` (RFC 7692 §5,
/// §7.1), e.g. `permessage-deflate; server_no_context_takeover;
/// client_no_context_takeover; client_max_window_bits`:
///
/// * `server_no_context_takeover` and `client_no_context_takeover` as
///   configured (§7.1.1);
/// * `server_max_window_bits=N` when the configured server window is below
///   15 (§7.1.2.1);
/// * always `client_max_window_bits` (§7.1.2.2): this endpoint can compress
///   with any window the server picks, 8 included. Valueless when the
///   configured client window is 15, else `=N` as a hint.
pub(crate) fn client_offer(cfg: &DeflateConfig) -> ExtensionOffer {
    let mut offer = ExtensionOffer::new(EXTENSION_NAME);
    if cfg.server_no_context_takeover {
        offer = offer.param(SERVER_NO_CONTEXT_TAKEOVER, None);
    }
    if cfg.client_no_context_takeover {
        offer = offer.param(CLIENT_NO_CONTEXT_TAKEOVER, None);
    }
    if cfg.server_bits() < MAX_WINDOW_BITS {
        offer = offer.param(SERVER_MAX_WINDOW_BITS, Some(&bits_value(cfg.server_bits())));
    }
    let client_bits = cfg.client_bits();
    let hint = (client_bits < MAX_WINDOW_BITS).then(|| bits_value(client_bits));
    offer.param(CLIENT_MAX_WINDOW_BITS, hint.as_deref())
}

/// What a client's offer binds the server's response to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Requested {
    /// `server_no_context_takeover` was offered: the response must have it.
    server_no_context_takeover: bool,
    /// `server_max_window_bits=N` was offered: the response must have it,
    /// at most N.
    server_max_window_bits: Option<u8>,
    /// `client_max_window_bits` was offered: the response may have it.
    client_max_window_bits: bool,
}

/// The requests `client_offer(cfg)` makes.
fn requested(cfg: &DeflateConfig) -> Requested {
    Requested {
        server_no_context_takeover: cfg.server_no_context_takeover,
        server_max_window_bits: (cfg.server_bits() < MAX_WINDOW_BITS).then_some(cfg.server_bits()),
        client_max_window_bits: true,
    }
}

/// (Client) Checks the server's `permessage-deflate` response to
/// [`client_offer`]`(cfg)` and returns the agreed parameters (RFC 7692
/// §7.1). Every rule a client must apply fails with its own error, upon
/// which the client MUST _Fail the WebSocket Connection_:
///
/// * a parameter not defined for a response, or given twice (§7.1);
/// * a value on a `*_no_context_takeover`, or a window size that is missing
///   or not 8..=15 without leading zeroes (§7.1.1, §7.1.2);
/// * `client_max_window_bits` when the offer did not have it (§7.1.2.2);
/// * no `server_no_context_takeover` although the offer requested it
///   (§7.1.1.1), no `server_max_window_bits` although the offer asked for
///   one, or a larger one (§7.1.2.1).
///
/// A `server_no_context_takeover`, `client_no_context_takeover` or
/// `server_max_window_bits` the offer did not ask for is accepted (the
/// server MAY add them); so is any `client_max_window_bits`.
pub(crate) fn client_accept(cfg: &DeflateConfig, response: &ExtensionOffer) -> Result<Params, DeflateNegotiationError> {
    accept_response(requested(cfg), response)
}

/// The agreed parameters a `permessage-deflate` response element states,
/// checked only against the grammar of §7.1 (no unknown, repeated or
/// ill-valued parameter): for a connection whose handshake was done
/// elsewhere (`Connection::new_open`), in either role, given the element
/// the server sent. A client that made the offer itself uses
/// [`client_accept`], which also checks the response against the offer.
pub(crate) fn agreed_params(response: &ExtensionOffer) -> Result<Params, DeflateNegotiationError> {
    let anything =
        Requested { server_no_context_takeover: false, server_max_window_bits: None, client_max_window_bits: true };
    accept_response(anything, response)
}

fn accept_response(req: Requested, response: &ExtensionOffer) -> Result<Params, DeflateNegotiationError> {
    use DeflateNegotiationError as E;
    if !is_deflate(response) {
        return Err(E::NotDeflate(response.name.clone()));
    }
    let p = parse(response, Side::Response)?;
    if p.client_max_window_bits.is_some() && !req.client_max_window_bits {
        return Err(E::UnofferedClientMaxWindowBits);
    }
    if req.server_no_context_takeover && !p.server_no_context_takeover {
        return Err(E::MissingRequested(SERVER_NO_CONTEXT_TAKEOVER));
    }
    if let Some(asked) = req.server_max_window_bits {
        match p.server_max_window_bits {
            None => return Err(E::MissingRequested(SERVER_MAX_WINDOW_BITS)),
            Some(got) if got > asked => return Err(E::ServerWindowTooLarge { asked, got }),
            Some(_) => {}
        }
    }
    Ok(Params {
        server_no_context_takeover: p.server_no_context_takeover,
        client_no_context_takeover: p.client_no_context_takeover,
        server_max_window_bits: p.server_max_window_bits.unwrap_or(MAX_WINDOW_BITS),
        // A response value is always present (checked by `parse`).
        client_max_window_bits: p.client_max_window_bits.flatten().unwrap_or(MAX_WINDOW_BITS),
    })
}

/// (Server) Picks the first acceptable `permessage-deflate` offer, in the
/// client's order of preference (RFC 7692 §5: several elements are
/// alternatives), and returns the response element and the agreed
/// parameters; `None` declines them all (the response then names no
/// `permessage-deflate`, §5).
///
/// An offer is declined when it has an unknown or repeated parameter, or an
/// invalid value (§7.1). Everything valid is supported, window size 8
/// included. The response:
///
/// * `server_no_context_takeover` when offered or configured (§7.1.1.1);
/// * `client_no_context_takeover` when configured, or offered as a hint,
///   which lets this server drop its inflater between messages
///   (§7.1.1.2);
/// * `server_max_window_bits=min(offered, configured)` when offered or when
///   the configured value is below 15 (§7.1.2.1);
/// * `client_max_window_bits=min(offered hint, configured)` when the offer
///   has the parameter and that is below 15 (§7.1.2.2; never without it in
///   the offer).
pub(crate) fn server_negotiate(cfg: &DeflateConfig, offers: &[ExtensionOffer]) -> Option<(ExtensionOffer, Params)> {
    offers.iter().filter(|o| is_deflate(o)).find_map(|o| parse(o, Side::Offer).ok()).map(|offer| answer(cfg, offer))
}

fn answer(cfg: &DeflateConfig, offer: Elements) -> (ExtensionOffer, Params) {
    let params = Params {
        server_no_context_takeover: offer.server_no_context_takeover || cfg.server_no_context_takeover,
        client_no_context_takeover: offer.client_no_context_takeover || cfg.client_no_context_takeover,
        server_max_window_bits: offer.server_max_window_bits.unwrap_or(MAX_WINDOW_BITS).min(cfg.server_bits()),
        client_max_window_bits: match offer.client_max_window_bits {
            Some(hint) => hint.unwrap_or(MAX_WINDOW_BITS).min(cfg.client_bits()),
            // Without the parameter the client may use 32 KiB (§7.1.2.2).
            None => MAX_WINDOW_BITS,
        },
    };
    let mut response = ExtensionOffer::new(EXTENSION_NAME);
    if params.server_no_context_takeover {
        response = response.param(SERVER_NO_CONTEXT_TAKEOVER, None);
    }
    if params.client_no_context_takeover {
        response = response.param(CLIENT_NO_CONTEXT_TAKEOVER, None);
    }
    if offer.server_max_window_bits.is_some() || params.server_max_window_bits < MAX_WINDOW_BITS {
        response = response.param(SERVER_MAX_WINDOW_BITS, Some(&bits_value(params.server_max_window_bits)));
    }
    if offer.client_max_window_bits.is_some() && params.client_max_window_bits < MAX_WINDOW_BITS {
        response = response.param(CLIENT_MAX_WINDOW_BITS, Some(&bits_value(params.client_max_window_bits)));
    }
    (response, params)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::params;
    use super::*;
    use crate::handshake::parse_extensions;
    use DeflateNegotiationError as E;
    use alloc::vec::Vec;

    /// Both no_context_takeover flags off, 32 KiB windows: offers
    /// `permessage-deflate; client_max_window_bits`, answers offers as they
    /// come.
    fn plain() -> DeflateConfig {
        DeflateConfig::default().with_server_no_context_takeover(false).with_client_no_context_takeover(false)
    }

    fn one(header: &str) -> ExtensionOffer {
        let mut v = parse_extensions(header).expect("test header parses");
        assert_eq!(v.len(), 1, "{header}");
        v.remove(0)
    }

    #[test]
    fn window_bits_values() {
        for (v, want) in [
            ("8", Some(8)),
            ("9", Some(9)),
            ("10", Some(10)),
            ("15", Some(15)),
            ("7", None),
            ("16", None),
            ("0", None),
            ("08", None),
            ("010", None),
            ("+9", None),
            ("1", None),
            ("", None),
            ("9a", None),
            ("١٠", None),
        ] {
            assert_eq!(parse_bits(v), want, "{v:?}");
        }
    }

    #[test]
    fn client_offers() {
        let table: [(DeflateConfig, &str); 6] = [
            (plain(), "permessage-deflate; client_max_window_bits"),
            (
                DeflateConfig::default(),
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits",
            ),
            (
                plain().with_server_max_window_bits(10),
                "permessage-deflate; server_max_window_bits=10; client_max_window_bits",
            ),
            (plain().with_client_max_window_bits(9), "permessage-deflate; client_max_window_bits=9"),
            (
                plain().with_server_max_window_bits(15).with_client_max_window_bits(15),
                "permessage-deflate; client_max_window_bits",
            ),
            (
                DeflateConfig::default().with_server_max_window_bits(8).with_client_max_window_bits(8),
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=8; client_max_window_bits=8",
            ),
        ];
        for (cfg, want) in table {
            let offer = client_offer(&cfg);
            assert_eq!(offer.to_header_value(), want);
            assert!(offer.is_valid());
            // The offer is one a server accepts, and says what `requested` says.
            let p = parse(&offer, Side::Offer).expect("own offer is valid");
            let r = requested(&cfg);
            assert_eq!(p.server_no_context_takeover, r.server_no_context_takeover);
            assert_eq!(p.server_max_window_bits, r.server_max_window_bits);
            assert_eq!(p.client_max_window_bits.is_some(), r.client_max_window_bits);
        }
        // Out-of-range public fields are clamped, never written as such.
        let mut cfg = plain();
        cfg.server_max_window_bits = 3;
        cfg.client_max_window_bits = 200;
        assert_eq!(
            client_offer(&cfg).to_header_value(),
            "permessage-deflate; server_max_window_bits=8; client_max_window_bits"
        );
    }

    /// Offers (one header value) → the server's response, or a decline.
    #[test]
    fn server_table() {
        let s10 = plain().with_server_max_window_bits(10);
        let c10 = plain().with_client_max_window_bits(10);
        /// A configuration, the offers, the expected response and parameters.
        type Row = (DeflateConfig, &'static str, Option<(&'static str, Params)>);
        let table: Vec<Row> = alloc::vec![
            // The simplest offer and answer (§7.1.3).
            (plain(), "permessage-deflate", Some(("permessage-deflate", params(false, false, 15, 15)))),
            // Valueless client_max_window_bits: support only; 15 needs no answer.
            (
                plain(),
                "permessage-deflate; client_max_window_bits",
                Some(("permessage-deflate", params(false, false, 15, 15)))
            ),
            // A hint is echoed, binding the client to what it meant to do.
            (
                plain(),
                "permessage-deflate; client_max_window_bits=10",
                Some(("permessage-deflate; client_max_window_bits=10", params(false, false, 15, 10))),
            ),
            (
                plain(),
                "permessage-deflate; client_max_window_bits=15",
                Some(("permessage-deflate", params(false, false, 15, 15))),
            ),
            // server_max_window_bits is a request: answered with it (§7.1.2.1).
            (
                plain(),
                "permessage-deflate; server_max_window_bits=10",
                Some(("permessage-deflate; server_max_window_bits=10", params(false, false, 10, 15))),
            ),
            (
                plain(),
                "permessage-deflate; server_max_window_bits=15",
                Some(("permessage-deflate; server_max_window_bits=15", params(false, false, 15, 15))),
            ),
            // Window 8 is accepted (compressed with zlib's 9-bit window, max distance 250).
            (
                plain(),
                "permessage-deflate; server_max_window_bits=8",
                Some(("permessage-deflate; server_max_window_bits=8", params(false, false, 8, 15))),
            ),
            (
                plain(),
                "permessage-deflate; server_no_context_takeover",
                Some(("permessage-deflate; server_no_context_takeover", params(true, false, 15, 15))),
            ),
            // The client's hint is taken up (§7.1.1.2).
            (
                plain(),
                "permessage-deflate; client_no_context_takeover",
                Some(("permessage-deflate; client_no_context_takeover", params(false, true, 15, 15))),
            ),
            (
                plain(),
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=8",
                Some((
                    "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=8",
                    params(true, true, 9, 8),
                )),
            ),
            // Parameter order does not matter; a quoted value is a value.
            (
                plain(),
                "permessage-deflate; client_max_window_bits=\"12\"; server_max_window_bits=\"11\"; client_no_context_takeover",
                Some((
                    "permessage-deflate; client_no_context_takeover; server_max_window_bits=11; client_max_window_bits=12",
                    params(false, true, 11, 12),
                )),
            ),
            // Names compare case-insensitively.
            (
                plain(),
                "PerMessage-Deflate; Server_Max_Window_Bits=12",
                Some(("permessage-deflate; server_max_window_bits=12", params(false, false, 12, 15))),
            ),
            // ---- declined (§7.1) ----
            (plain(), "permessage-deflate; x=1", None),
            (plain(), "permessage-deflate; mux", None),
            (plain(), "permessage-deflate; server_no_context_takeover; server_no_context_takeover", None),
            (plain(), "permessage-deflate; client_no_context_takeover; CLIENT_no_context_takeover", None),
            (plain(), "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10", None),
            (plain(), "permessage-deflate; client_max_window_bits; client_max_window_bits=10", None),
            (plain(), "permessage-deflate; server_no_context_takeover=1", None),
            (plain(), "permessage-deflate; client_no_context_takeover=true", None),
            (plain(), "permessage-deflate; server_max_window_bits", None),
            (plain(), "permessage-deflate; server_max_window_bits=7", None),
            (plain(), "permessage-deflate; server_max_window_bits=16", None),
            (plain(), "permessage-deflate; server_max_window_bits=08", None),
            (plain(), "permessage-deflate; server_max_window_bits=0", None),
            (plain(), "permessage-deflate; server_max_window_bits=\"1a\"", None),
            (plain(), "permessage-deflate; client_max_window_bits=7", None),
            (plain(), "permessage-deflate; client_max_window_bits=16", None),
            (plain(), "permessage-deflate; client_max_window_bits=010", None),
            (plain(), "x-webkit-deflate-frame", None),
            (plain(), "permessage-bar; server_max_window_bits=10", None),
            // ---- several offers: alternatives, in order of preference (§5) ----
            (plain(), "x-foo, permessage-deflate", Some(("permessage-deflate", params(false, false, 15, 15)))),
            (
                plain(),
                "permessage-deflate; x, permessage-deflate; server_max_window_bits=12",
                Some(("permessage-deflate; server_max_window_bits=12", params(false, false, 12, 15))),
            ),
            // §7.1.3's example with a fallback: the first is taken.
            (
                plain(),
                "permessage-deflate; client_max_window_bits; server_max_window_bits=10, permessage-deflate; client_max_window_bits",
                Some(("permessage-deflate; server_max_window_bits=10", params(false, false, 10, 15))),
            ),
            (
                plain(),
                "permessage-deflate; server_max_window_bits=16, permessage-deflate; foo, permessage-deflate; client_no_context_takeover",
                Some(("permessage-deflate; client_no_context_takeover", params(false, true, 15, 15))),
            ),
            (
                plain(),
                "permessage-deflate; server_max_window_bits=10, permessage-deflate",
                Some(("permessage-deflate; server_max_window_bits=10", params(false, false, 10, 15))),
            ),
            (plain(), "permessage-deflate; a, permessage-deflate; b", None),
            // ---- configuration ----
            (
                DeflateConfig::default(),
                "permessage-deflate",
                Some((
                    "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
                    params(true, true, 15, 15),
                )),
            ),
            (
                s10.clone(),
                "permessage-deflate",
                Some(("permessage-deflate; server_max_window_bits=10", params(false, false, 10, 15)))
            ),
            (
                s10.clone(),
                "permessage-deflate; server_max_window_bits=12",
                Some(("permessage-deflate; server_max_window_bits=10", params(false, false, 10, 15))),
            ),
            (
                s10,
                "permessage-deflate; server_max_window_bits=9",
                Some(("permessage-deflate; server_max_window_bits=9", params(false, false, 9, 15))),
            ),
            // The client's window can only be limited when it offered the parameter.
            (c10.clone(), "permessage-deflate", Some(("permessage-deflate", params(false, false, 15, 15)))),
            (
                c10.clone(),
                "permessage-deflate; client_max_window_bits",
                Some(("permessage-deflate; client_max_window_bits=10", params(false, false, 15, 10))),
            ),
            (
                c10.clone(),
                "permessage-deflate; client_max_window_bits=12",
                Some(("permessage-deflate; client_max_window_bits=10", params(false, false, 15, 10))),
            ),
            (
                c10,
                "permessage-deflate; client_max_window_bits=9",
                Some(("permessage-deflate; client_max_window_bits=9", params(false, false, 15, 9))),
            ),
        ];
        for (cfg, header, want) in table {
            let offers = parse_extensions(header).expect("test header parses");
            let got = server_negotiate(&cfg, &offers);
            let got = got.map(|(r, p)| (r.to_header_value(), p));
            let want = want.map(|(r, p)| (String::from(r), p));
            assert_eq!(got, want, "offer {header:?}");
        }
        assert_eq!(server_negotiate(&plain(), &[]), None);
    }

    /// Responses → what the client makes of them.
    #[test]
    fn client_table() {
        // Offers `permessage-deflate; client_max_window_bits`.
        let p = plain();
        // Offers `…; server_no_context_takeover; server_max_window_bits=10; client_max_window_bits`.
        let strict = plain().with_server_no_context_takeover(true).with_server_max_window_bits(10);
        let table: Vec<(&DeflateConfig, &str, Result<Params, DeflateNegotiationError>)> = alloc::vec![
            (&p, "permessage-deflate", Ok(params(false, false, 15, 15))),
            // What the server may add unasked.
            (&p, "permessage-deflate; server_no_context_takeover", Ok(params(true, false, 15, 15))),
            (&p, "permessage-deflate; client_no_context_takeover", Ok(params(false, true, 15, 15))),
            (&p, "permessage-deflate; server_max_window_bits=10", Ok(params(false, false, 10, 15))),
            (&p, "permessage-deflate; server_max_window_bits=8", Ok(params(false, false, 8, 15))),
            (&p, "permessage-deflate; client_max_window_bits=8", Ok(params(false, false, 15, 8))),
            (&p, "permessage-deflate; client_max_window_bits=15", Ok(params(false, false, 15, 15))),
            (
                &p,
                "permessage-deflate; client_max_window_bits=9; server_max_window_bits=11; client_no_context_takeover; server_no_context_takeover",
                Ok(params(true, true, 11, 9)),
            ),
            (&p, "Permessage-Deflate; CLIENT_NO_CONTEXT_TAKEOVER", Ok(params(false, true, 15, 15))),
            // Invalid values.
            (&p, "permessage-deflate; client_max_window_bits", Err(E::InvalidValue(CLIENT_MAX_WINDOW_BITS))),
            (&p, "permessage-deflate; server_max_window_bits", Err(E::InvalidValue(SERVER_MAX_WINDOW_BITS))),
            (&p, "permessage-deflate; server_max_window_bits=7", Err(E::InvalidValue(SERVER_MAX_WINDOW_BITS))),
            (&p, "permessage-deflate; server_max_window_bits=16", Err(E::InvalidValue(SERVER_MAX_WINDOW_BITS))),
            (&p, "permessage-deflate; client_max_window_bits=09", Err(E::InvalidValue(CLIENT_MAX_WINDOW_BITS))),
            (&p, "permessage-deflate; client_max_window_bits=16", Err(E::InvalidValue(CLIENT_MAX_WINDOW_BITS))),
            (&p, "permessage-deflate; server_no_context_takeover=1", Err(E::InvalidValue(SERVER_NO_CONTEXT_TAKEOVER))),
            (&p, "permessage-deflate; client_no_context_takeover=x", Err(E::InvalidValue(CLIENT_NO_CONTEXT_TAKEOVER))),
            // Unknown and repeated parameters.
            (&p, "permessage-deflate; x=1", Err(E::UnknownParameter("x".into()))),
            (
                &p,
                "permessage-deflate; server_max_window_bit=10",
                Err(E::UnknownParameter("server_max_window_bit".into()))
            ),
            (
                &p,
                "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
                Err(E::DuplicateParameter(SERVER_NO_CONTEXT_TAKEOVER)),
            ),
            (
                &p,
                "permessage-deflate; client_max_window_bits=10; Client_Max_Window_Bits=10",
                Err(E::DuplicateParameter(CLIENT_MAX_WINDOW_BITS)),
            ),
            (&p, "x-other", Err(E::NotDeflate("x-other".into()))),
            // What the offer requested must be granted.
            (
                &strict,
                "permessage-deflate; server_no_context_takeover; server_max_window_bits=10",
                Ok(params(true, false, 10, 15))
            ),
            (
                &strict,
                "permessage-deflate; server_no_context_takeover; server_max_window_bits=8",
                Ok(params(true, false, 8, 15))
            ),
            (
                &strict,
                "permessage-deflate; server_no_context_takeover; server_max_window_bits=11",
                Err(E::ServerWindowTooLarge { asked: 10, got: 11 }),
            ),
            (
                &strict,
                "permessage-deflate; server_no_context_takeover",
                Err(E::MissingRequested(SERVER_MAX_WINDOW_BITS))
            ),
            (
                &strict,
                "permessage-deflate; server_max_window_bits=10",
                Err(E::MissingRequested(SERVER_NO_CONTEXT_TAKEOVER))
            ),
        ];
        for (cfg, header, want) in table {
            assert_eq!(client_accept(cfg, &one(header)), want, "response {header:?}");
        }
        // A response with client_max_window_bits to an offer without it (§7.1.2.2).
        let unoffered = Requested {
            server_no_context_takeover: false,
            server_max_window_bits: None,
            client_max_window_bits: false,
        };
        assert_eq!(
            accept_response(unoffered, &one("permessage-deflate; client_max_window_bits=10")),
            Err(E::UnofferedClientMaxWindowBits)
        );
        assert_eq!(accept_response(unoffered, &one("permessage-deflate")), Ok(params(false, false, 15, 15)));
        // Without an offer to check against, only the grammar counts.
        assert_eq!(
            agreed_params(&one("permessage-deflate; server_no_context_takeover; server_max_window_bits=9")),
            Ok(params(true, false, 9, 15))
        );
        assert_eq!(agreed_params(&one("permessage-deflate; x")), Err(E::UnknownParameter("x".into())));
    }

    /// Every client configuration against every server configuration: the
    /// server accepts the client's offer, and the client accepts the answer
    /// with the same parameters, which honour both sides' settings.
    #[test]
    fn offer_answer_accept_agree() {
        let mut cfgs = Vec::new();
        for snct in [false, true] {
            for cnct in [false, true] {
                for sbits in [8, 9, 12, 15] {
                    for cbits in [8, 11, 15] {
                        cfgs.push(
                            DeflateConfig::default()
                                .with_server_no_context_takeover(snct)
                                .with_client_no_context_takeover(cnct)
                                .with_server_max_window_bits(sbits)
                                .with_client_max_window_bits(cbits),
                        );
                    }
                }
            }
        }
        for client in &cfgs {
            let offer = client_offer(client);
            for server in &cfgs {
                let (response, agreed) = server_negotiate(server, core::slice::from_ref(&offer)).expect("accepted");
                let reparsed = one(&response.to_header_value());
                assert_eq!(client_accept(client, &reparsed), Ok(agreed), "{offer:?} / {response:?}");
                assert_eq!(agreed_params(&reparsed), Ok(agreed));
                assert_eq!(
                    agreed.server_no_context_takeover,
                    client.server_no_context_takeover || server.server_no_context_takeover
                );
                assert_eq!(
                    agreed.client_no_context_takeover,
                    client.client_no_context_takeover || server.client_no_context_takeover
                );
                assert_eq!(agreed.server_max_window_bits, client.server_bits().min(server.server_bits()));
                assert_eq!(agreed.client_max_window_bits, client.client_bits().min(server.client_bits()));
            }
        }
    }
}
