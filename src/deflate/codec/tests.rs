use alloc::vec;
use alloc::vec::Vec;

use super::super::testutil::{Rng, TextData, params, puff, zero_bomb};
use super::*;

const CLIENT: bool = true;
const SERVER: bool = false;

/// Context takeover both ways, 32 KiB windows, level 6, state kept.
fn takeover() -> Params {
    params(false, false, 15, 15)
}

fn cfg() -> DeflateConfig {
    DeflateConfig::default().with_server_no_context_takeover(false).with_client_no_context_takeover(false)
}

fn compress(d: &mut Deflate, msg: &[u8]) -> Vec<u8> {
    let mut out = BytesMut::new();
    d.compress(msg, &mut out);
    out.to_vec()
}

fn inflate(d: &mut Deflate, payload: &[u8]) -> Result<Vec<u8>, InflateError> {
    let mut out = BytesMut::new();
    d.rx.decompress(payload, true, &mut out, usize::MAX)?;
    Ok(out.to_vec())
}

const HELLO_BLOCK: [u8; 7] = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];

// ----------------------------------------------------------------------
// RFC 7692 §7.2.3: the examples, byte for byte
// ----------------------------------------------------------------------

/// §7.2.3.1: "Hello" in one compressed block with the tail removed; the
/// same payload fragmented as 3 + 4 octets inflates to "Hello".
#[test]
fn rfc_7_2_3_1_one_block_and_fragments() {
    for role in [CLIENT, SERVER] {
        for level in 1..=9 {
            let mut d = Deflate::new(role, &takeover(), &cfg().with_compression_level(level));
            assert_eq!(compress(&mut d, b"Hello"), HELLO_BLOCK, "level {level}");
        }
        let mut d = Deflate::new(role, &takeover(), &cfg());
        let mut out = BytesMut::new();
        d.rx.decompress(&[0xf2, 0x48, 0xcd], false, &mut out, usize::MAX).unwrap();
        d.rx.decompress(&[0xc9, 0xc9, 0x07, 0x00], true, &mut out, usize::MAX).unwrap();
        assert_eq!(&out[..], b"Hello");
        // Any split, and empty frames in between, give the same.
        for cut in 0..=HELLO_BLOCK.len() {
            let mut d = Deflate::new(role, &takeover(), &cfg());
            let mut out = BytesMut::new();
            d.rx.decompress(&HELLO_BLOCK[..cut], false, &mut out, usize::MAX).unwrap();
            d.rx.decompress(&[], false, &mut out, usize::MAX).unwrap();
            d.rx.decompress(&HELLO_BLOCK[cut..], true, &mut out, usize::MAX).unwrap();
            assert_eq!(&out[..], b"Hello", "cut {cut}");
        }
    }
}

/// §7.2.3.2: with context takeover the second "Hello" refers back to the
/// first (`f2 00 11 00 00`); without it, both are the same bytes.
#[test]
fn rfc_7_2_3_2_sharing_the_window() {
    for role in [CLIENT, SERVER] {
        let mut tx = Deflate::new(role, &takeover(), &cfg());
        let mut rx = Deflate::new(!role, &takeover(), &cfg());
        let first = compress(&mut tx, b"Hello");
        let second = compress(&mut tx, b"Hello");
        assert_eq!(first, HELLO_BLOCK);
        assert_eq!(second, [0xf2, 0x00, 0x11, 0x00, 0x00]);
        assert_eq!(inflate(&mut rx, &first).unwrap(), b"Hello");
        assert_eq!(inflate(&mut rx, &second).unwrap(), b"Hello");

        // No context takeover for the sender's side (§7.1.1).
        let p = params(true, true, 15, 15);
        for release_idle in [true, false] {
            let c = cfg().with_release_idle(release_idle);
            let mut tx = Deflate::new(role, &p, &c);
            let mut rx = Deflate::new(!role, &p, &c);
            for _ in 0..3 {
                let m = compress(&mut tx, b"Hello");
                assert_eq!(m, HELLO_BLOCK);
                assert_eq!(inflate(&mut rx, &m).unwrap(), b"Hello");
            }
        }
    }
    // Only the sender's own flag matters for what it sends.
    let p = params(true, false, 15, 15);
    let mut server = Deflate::new(SERVER, &p, &cfg());
    let mut client = Deflate::new(CLIENT, &p, &cfg());
    assert_eq!(compress(&mut server, b"Hello"), HELLO_BLOCK);
    assert_eq!(compress(&mut server, b"Hello"), HELLO_BLOCK);
    assert_eq!(compress(&mut client, b"Hello"), HELLO_BLOCK);
    assert_eq!(compress(&mut client, b"Hello"), [0xf2, 0x00, 0x11, 0x00, 0x00]);
}

/// §7.2.3.3: a stored (uncompressed) block, which level 0 produces.
#[test]
fn rfc_7_2_3_3_stored_block() {
    // The frame is `c1 0b` + these 11 octets (the RFC's text says "Payload
    // length=7"; the header's 0x0b, 11, is right).
    let payload = [0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00];
    for role in [CLIENT, SERVER] {
        let mut rx = Deflate::new(role, &takeover(), &cfg());
        assert_eq!(inflate(&mut rx, &payload).unwrap(), b"Hello");
        let mut tx = Deflate::new(role, &takeover(), &cfg().with_compression_level(0));
        assert_eq!(compress(&mut tx, b"Hello"), payload);
    }
}

/// §7.2.3.4: a block with BFINAL set, padded, then the `00` octet that
/// starts the empty stored block the tail completes.
#[test]
fn rfc_7_2_3_4_bfinal_block() {
    let payload = [0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00];
    for p in [takeover(), params(true, true, 15, 15)] {
        let mut rx = Deflate::new(SERVER, &p, &cfg());
        for _ in 0..3 {
            assert_eq!(inflate(&mut rx, &payload).unwrap(), b"Hello");
            // Ordinary messages still inflate after it.
            assert_eq!(inflate(&mut rx, &HELLO_BLOCK).unwrap(), b"Hello");
        }
        // Fragmented anywhere.
        for cut in 0..=payload.len() {
            let mut out = BytesMut::new();
            rx.rx.decompress(&payload[..cut], false, &mut out, usize::MAX).unwrap();
            rx.rx.decompress(&payload[cut..], true, &mut out, usize::MAX).unwrap();
            assert_eq!(&out[..], b"Hello", "cut {cut}");
        }
    }
    // After a BFINAL block the window starts empty (zlib cannot carry it
    // over): a later reference across it is reported, not mis-decoded.
    let mut rx = Deflate::new(SERVER, &takeover(), &cfg());
    assert_eq!(inflate(&mut rx, &payload).unwrap(), b"Hello");
    assert_eq!(inflate(&mut rx, &[0xf2, 0x00, 0x11, 0x00, 0x00]), Err(InflateError::Corrupt));
}

/// §7.2.3.5: two blocks, the first flushed with an empty stored block.
#[test]
fn rfc_7_2_3_5_two_blocks() {
    let payload = [0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00];
    for role in [CLIENT, SERVER] {
        let mut rx = Deflate::new(role, &takeover(), &cfg());
        assert_eq!(inflate(&mut rx, &payload).unwrap(), b"Hello");
        // What compress_chunk makes of "He" + "llo" inflates the same way.
        let mut tx = Deflate::new(!role, &takeover(), &cfg());
        let mut out = BytesMut::new();
        tx.compress_chunk(b"He", false, &mut out);
        tx.compress_chunk(b"llo", true, &mut out);
        assert_eq!(inflate(&mut rx, &out).unwrap(), b"Hello");
    }
}

/// §7.2.3.6: an empty message is the single octet `00`, also right after
/// another message with context takeover (where zlib emits nothing).
#[test]
fn rfc_7_2_3_6_empty_message() {
    for p in [takeover(), params(true, true, 15, 15)] {
        let mut tx = Deflate::new(CLIENT, &p, &cfg());
        let mut rx = Deflate::new(SERVER, &p, &cfg());
        for msg in [&b""[..], b"", b"Hello", b"", b"", b"Hello", b""] {
            let payload = compress(&mut tx, msg);
            if msg.is_empty() {
                assert_eq!(payload, [0x00]);
            }
            assert_eq!(inflate(&mut rx, &payload).unwrap(), msg);
        }
        // A compressed message with no payload at all is empty too, and
        // leaves the inflater ready for the next one.
        let mut out = BytesMut::new();
        rx.rx.decompress(&[], false, &mut out, usize::MAX).unwrap();
        rx.rx.decompress(&[], true, &mut out, usize::MAX).unwrap();
        assert_eq!(inflate(&mut rx, &[]).unwrap(), b"");
        assert!(out.is_empty());
        let payload = compress(&mut tx, b"Hello");
        assert_eq!(inflate(&mut rx, &payload).unwrap(), b"Hello");
        // Streamed: no data at all, then the end.
        let mut out = BytesMut::new();
        tx.compress_chunk(b"", false, &mut out);
        tx.compress_chunk(b"", true, &mut out);
        assert_eq!(&out[..], [0x00]);
        assert_eq!(inflate(&mut rx, &out).unwrap(), b"");
    }
}

// ----------------------------------------------------------------------
// Round trips
// ----------------------------------------------------------------------

/// Every window size on both sides and every level, with and without
/// context takeover, random and repetitive data, many messages in a row.
/// An independent decoder checks each payload: it decodes to the message,
/// no match reaches back further than the agreed window (§7.2.1; 256 bytes
/// for 8 bits, honoured with zlib's 9-bit window), and without context
/// takeover no match reaches into an earlier message.
#[test]
fn round_trip_every_window_and_level() {
    let mut rng = Rng::new(7);
    for bits in 8..=15u8 {
        for level in 0..=9u32 {
            for nct in [false, true] {
                for sender in [CLIENT, SERVER] {
                    let p = if sender == CLIENT { params(false, nct, 15, bits) } else { params(nct, false, bits, 15) };
                    let c = cfg().with_compression_level(level).with_release_idle(level % 2 == 0);
                    let mut tx = Deflate::new(sender, &p, &c);
                    let mut rx = Deflate::new(!sender, &p, &c);
                    let mut reference = puff::Inflater::new();
                    for i in 0..4 {
                        let len = [0, 1, 300, 3000, 9000][rng.below(5)];
                        let msg = if i % 2 == 0 { rng.text(len) } else { rng.bytes(len) };
                        let payload = compress(&mut tx, &msg);
                        assert_eq!(inflate(&mut rx, &payload).unwrap(), msg, "bits {bits} level {level}");
                        assert_eq!(reference.message(&payload, !nct).unwrap().data, msg, "bits {bits} level {level}");
                    }
                    // A large repetitive message reaches for long matches.
                    let msg = rng.text((3usize << bits).clamp(4000, 40_000));
                    let payload = compress(&mut tx, &msg);
                    assert_eq!(inflate(&mut rx, &payload).unwrap(), msg);
                    assert_eq!(reference.message(&payload, !nct).unwrap().data, msg);
                    let window = if bits == 8 { 256 } else { 1usize << bits };
                    assert!(
                        reference.max_distance() <= window,
                        "bits {bits} level {level}: distance {} > {window}",
                        reference.max_distance()
                    );
                    if bits == 8 && level > 0 {
                        // zlib's 9-bit window: never past 512 - 262.
                        assert!(reference.max_distance() <= 250 && reference.max_distance() > 100);
                    }
                }
            }
        }
    }
}

/// A message sent in pieces inflates to the message, at every level, as
/// the whole message compressed at once does. (The bytes may differ: zlib's
/// block decisions depend on how the input arrives.) The independent
/// decoder checks each payload too.
#[test]
fn compress_chunk_matches_compress() {
    let mut rng = Rng::new(11);
    for level in 0..=9u32 {
        for nct in [false, true] {
            let p = params(nct, nct, 15, 15);
            let c = cfg().with_compression_level(level);
            let mut whole = Deflate::new(SERVER, &p, &c);
            let mut pieces = Deflate::new(SERVER, &p, &c);
            let mut rx = Deflate::new(CLIENT, &p, &c);
            let mut rx_whole = Deflate::new(CLIENT, &p, &c);
            let mut reference = puff::Inflater::new();
            for i in 0..4 {
                let msg = if i == 1 {
                    let n = rng.below(20_000);
                    rng.bytes(n)
                } else {
                    let n = rng.below(60_000);
                    rng.text(n)
                };
                let mut out = BytesMut::new();
                let mut rest = &msg[..];
                while !rest.is_empty() {
                    let n = rng.below(rest.len().min(9000)) + 1;
                    pieces.compress_chunk(&rest[..n], false, &mut out);
                    rest = &rest[n..];
                }
                pieces.compress_chunk(b"", true, &mut out);
                assert_eq!(inflate(&mut rx, &out).unwrap(), msg, "level {level}");
                assert_eq!(reference.message(&out, !nct).unwrap().data, msg, "level {level}");
                // The same message in one piece inflates the same way.
                let one = compress(&mut whole, &msg);
                assert_eq!(inflate(&mut rx_whole, &one).unwrap(), msg, "level {level}");
            }
        }
    }
}

/// Every memory level, at several window sizes, with and without context
/// takeover, whole and in pieces: each payload inflates to the message, in
/// the codec and in the independent decoder, and stays within the window.
/// The level reaches zlib: a long message is split into more blocks, so
/// compresses worse, at level 1 than at 9 (level 1 holds 128 symbols per
/// block, level 9 32,768).
#[test]
fn round_trip_every_memory_level() {
    let mut rng = Rng::new(13);
    let long = rng.text(40_000);
    for bits in [8u8, 9, 12, 15] {
        let mut sizes = Vec::new();
        for mem in 1..=9u8 {
            for nct in [false, true] {
                let p = params(nct, nct, bits, 15);
                let c = cfg().with_memory_level(mem).with_release_idle(mem % 2 == 0);
                let mut tx = Deflate::new(SERVER, &p, &c);
                assert_eq!(tx.tx.memory_level, mem);
                let mut rx = Deflate::new(CLIENT, &p, &c);
                let mut reference = puff::Inflater::new();
                for i in 0..4 {
                    let msg = match i {
                        0 => long.clone(),
                        1 => rng.bytes(5000),
                        _ => {
                            let n = rng.below(20_000);
                            rng.text(n)
                        }
                    };
                    let payload = if i == 3 {
                        let mut out = BytesMut::new();
                        for piece in msg.chunks(700) {
                            tx.compress_chunk(piece, false, &mut out);
                        }
                        tx.compress_chunk(b"", true, &mut out);
                        out.to_vec()
                    } else {
                        compress(&mut tx, &msg)
                    };
                    if i == 0 && nct {
                        sizes.push(payload.len());
                    }
                    assert_eq!(inflate(&mut rx, &payload).unwrap(), msg, "bits {bits} memory level {mem}");
                    assert_eq!(reference.message(&payload, !nct).unwrap().data, msg, "bits {bits} memory level {mem}");
                }
                let window = if bits == 8 { 256 } else { 1usize << bits };
                assert!(reference.max_distance() <= window, "bits {bits} memory level {mem}");
            }
        }
        assert!(sizes[0] > sizes[8], "bits {bits}: {sizes:?}");
    }
}

/// `with_memory_level` clamps to zlib's 1..=9, and so does the codec when
/// the public field is assigned out of range.
#[test]
fn memory_level_is_clamped() {
    assert_eq!(DeflateConfig::default().memory_level, 6);
    assert_eq!(DeflateConfig::default().with_memory_level(0).memory_level, 1);
    assert_eq!(DeflateConfig::default().with_memory_level(12).memory_level, 9);
    assert_eq!(DeflateConfig::default().with_memory_level(u8::MAX).memory_level, 9);
    for m in 1..=9 {
        assert_eq!(DeflateConfig::default().with_memory_level(m).memory_level, m);
    }
    for (field, used) in [(0, 1), (1, 1), (7, 7), (9, 9), (10, 9), (u8::MAX, 9)] {
        let mut c = cfg();
        c.memory_level = field;
        assert_eq!(c.mem_level(), used);
        let mut d = Deflate::new(CLIENT, &takeover(), &c);
        assert_eq!(d.tx.memory_level, used);
        // And zlib accepts it.
        let payload = compress(&mut d, b"Hello");
        assert_eq!(payload, HELLO_BLOCK);
    }
}

/// Frames inflated one by one, with output taken in bounded chunks.
#[test]
fn decompress_into_bounded_chunks() {
    let mut rng = Rng::new(3);
    for out_limit in [1usize, 7, 100, 4096, 100_000] {
        for nct in [false, true] {
            let p = params(nct, nct, 15, 15);
            let mut tx = Deflate::new(CLIENT, &p, &cfg());
            let mut rx = Deflate::new(SERVER, &p, &cfg());
            for _ in 0..3 {
                let len = if out_limit == 1 { 3000 } else { 50_000 };
                let msg = rng.text(len);
                let payload = compress(&mut tx, &msg);
                // Split the payload into frames.
                let mut frames = Vec::new();
                let mut rest = &payload[..];
                while !rest.is_empty() {
                    let n = (rng.below(rest.len()) + 1).min(rest.len());
                    frames.push(&rest[..n]);
                    rest = &rest[n..];
                }
                let mut got = Vec::new();
                let nframes = frames.len();
                for (i, frame) in frames.into_iter().enumerate() {
                    let fin = i + 1 == nframes;
                    let mut input = frame;
                    loop {
                        let mut out = BytesMut::new();
                        let step = rx.rx.decompress_into(input, fin, &mut out, out_limit, usize::MAX).unwrap();
                        assert!(out.len() <= out_limit);
                        got.extend_from_slice(&out);
                        input = &input[step.consumed..];
                        if step.finished {
                            assert!(input.is_empty());
                            break;
                        }
                    }
                }
                assert_eq!(got, msg, "out_limit {out_limit}");
            }
        }
    }
}

// ----------------------------------------------------------------------
// Limits and bad input
// ----------------------------------------------------------------------

/// 100 MiB of zeros compressed to about 100 KB: inflating it with a limit
/// stops at the limit after reading a sliver of the input.
#[test]
fn decompression_bomb_stops_at_the_limit() {
    // The bomb inflates to what it claims (checked on a small one).
    let small = zero_bomb(1000);
    let mut rx = Deflate::new(SERVER, &takeover(), &cfg());
    assert_eq!(inflate(&mut rx, &small).unwrap(), vec![0u8; 1 + 258 * 1000]);
    assert_eq!(puff::Inflater::new().message(&small, false).unwrap().data, vec![0u8; 1 + 258 * 1000]);

    let bomb = zero_bomb(((100 << 20) - 1) / 258);
    assert!(bomb.len() < 110_000, "bomb of {} bytes", bomb.len());
    // And one zlib made, over many blocks (4 MiB at level 9: 4 KB).
    let mut zlib_bomb = BytesMut::new();
    let mut tx = Deflate::new(CLIENT, &takeover(), &cfg().with_compression_level(9));
    tx.compress(&vec![0u8; 4 << 20], &mut zlib_bomb);
    assert!(zlib_bomb.len() < 8_000, "zlib bomb of {} bytes", zlib_bomb.len());
    for max_total in [0usize, 100_000] {
        let mut rx = Deflate::new(SERVER, &takeover(), &cfg());
        let mut out = BytesMut::new();
        assert_eq!(rx.rx.decompress(&zlib_bomb, true, &mut out, max_total), Err(InflateError::TooLarge));
        assert_eq!(out.len(), max_total);
    }

    for max_total in [0usize, 1, 1000, 1 << 20] {
        // Whole-message form: the output never passes the limit.
        let mut rx = Deflate::new(SERVER, &takeover(), &cfg());
        let mut out = BytesMut::new();
        assert_eq!(rx.rx.decompress(&bomb, true, &mut out, max_total), Err(InflateError::TooLarge));
        assert_eq!(out.len(), max_total);
        assert!(out.capacity() <= 2 * (max_total + STEP), "capacity {}", out.capacity());

        // Streaming form, frame by frame and chunk by chunk: the total
        // handed out never passes the limit, each chunk stays bounded, and
        // the input read is a sliver of the bomb.
        let mut rx = Deflate::new(SERVER, &takeover(), &cfg());
        let mut total = 0;
        let mut read = 0;
        let mut error = None;
        'frames: for (i, frame) in bomb.chunks(4096).enumerate() {
            let fin = (i + 1) * 4096 >= bomb.len();
            let mut input = frame;
            loop {
                let mut out = BytesMut::new();
                match rx.rx.decompress_into(input, fin, &mut out, 8192, max_total) {
                    Ok(step) => {
                        assert!(out.len() <= 8192);
                        total += out.len();
                        read += step.consumed;
                        input = &input[step.consumed..];
                        if step.finished {
                            break;
                        }
                    }
                    Err(e) => {
                        total += out.len();
                        error = Some(e);
                        break 'frames;
                    }
                }
            }
        }
        assert_eq!(error, Some(InflateError::TooLarge));
        assert!(total <= max_total);
        assert!(read <= max_total / 100 + 8192, "read {read} of {} for {max_total}", bomb.len());
    }

    // The limit is for the whole message: frames count together, and an
    // exact fit passes.
    let msg = vec![b'a'; 10_000];
    let payload = compress(&mut Deflate::new(CLIENT, &takeover(), &cfg()), &msg);
    let (a, b) = payload.split_at(payload.len() / 2);
    for (limit, ok) in [(10_000, true), (9_999, false)] {
        let mut rx = Deflate::new(SERVER, &takeover(), &cfg());
        let mut out = BytesMut::new();
        let r = rx.rx.decompress(a, false, &mut out, limit).and_then(|()| rx.rx.decompress(b, true, &mut out, limit));
        assert_eq!(r.is_ok(), ok, "limit {limit}");
        assert!(out.len() <= limit);
        if ok {
            // The count starts again with the next message.
            assert_eq!(inflate(&mut rx, &compress(&mut Deflate::new(CLIENT, &takeover(), &cfg()), &msg)).unwrap(), msg);
        }
    }
}

/// Invalid DEFLATE data is `Corrupt`; nothing panics, whatever the bytes.
#[test]
fn corrupt_input() {
    let table: [&[u8]; 6] = [
        // BTYPE 11 is reserved (RFC 1951 §3.2.3).
        &[0x07],
        &[0xff, 0xff, 0xff],
        // A stored block whose NLEN is not the complement of LEN.
        &[0x00, 0x05, 0x00, 0x00, 0x00, b'H'],
        // A reference to a window that is empty (the second "Hello" alone).
        &[0xf2, 0x00, 0x11, 0x00, 0x00],
        // Dynamic block with an impossible code-lengths code.
        &[0x04, 0xff, 0xff, 0xff, 0xff],
        &[0xfc, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
    ];
    for bad in table {
        let mut rx = Deflate::new(SERVER, &takeover(), &cfg());
        assert_eq!(inflate(&mut rx, bad), Err(InflateError::Corrupt), "{bad:02x?}");
        // The codec can be used again (the connection fails anyway).
        assert_eq!(inflate(&mut rx, &HELLO_BLOCK).unwrap(), b"Hello");
    }

    // Random bytes, mutated and truncated valid payloads: any result but a
    // panic, and output within the limit.
    let mut rng = Rng::new(99);
    let mut tx = Deflate::new(CLIENT, &takeover(), &cfg());
    let valid = compress(&mut tx, &rng.text(5000));
    for i in 0..3000 {
        let input = match i % 3 {
            0 => {
                let n = rng.below(300);
                rng.bytes(n)
            }
            1 => {
                let mut v = valid.clone();
                for _ in 0..1 + rng.below(4) {
                    let at = rng.below(v.len());
                    v[at] ^= 1 << rng.below(8);
                }
                v
            }
            _ => valid[..rng.below(valid.len())].to_vec(),
        };
        let mut rx = Deflate::new(SERVER, &takeover(), &cfg());
        let mut out = BytesMut::new();
        let _ = rx.rx.decompress(&input, true, &mut out, 20_000);
        assert!(out.len() <= 20_000);
        let mut rx = Deflate::new(SERVER, &takeover(), &cfg());
        let mut input = &input[..];
        for _ in 0..100_000 {
            let mut out = BytesMut::new();
            match rx.rx.decompress_into(input, true, &mut out, 64, 20_000) {
                Ok(step) if step.finished => break,
                Ok(step) => input = &input[step.consumed..],
                Err(_) => break,
            }
        }
    }
}

// ----------------------------------------------------------------------
// Parameters and state
// ----------------------------------------------------------------------

/// Without context takeover and with `release_idle`, no zlib state is held
/// between messages; with context takeover it is kept; nothing is
/// allocated before the first compressed message.
#[test]
fn state_is_released_between_messages() {
    let mut d = Deflate::new(SERVER, &params(true, true, 15, 15), &DeflateConfig::default());
    assert_eq!(d.holds_state(), (false, false));
    let payload = compress(&mut d, b"Hello, Hello, Hello");
    assert_eq!(d.holds_state(), (false, false));
    let mut out = BytesMut::new();
    d.rx.decompress(&payload[..3], false, &mut out, usize::MAX).unwrap();
    assert_eq!(d.holds_state(), (false, true));
    d.rx.decompress(&payload[3..], true, &mut out, usize::MAX).unwrap();
    assert_eq!(d.holds_state(), (false, false));
    let mut out = BytesMut::new();
    d.compress_chunk(b"Hello", false, &mut out);
    assert_eq!(d.holds_state(), (true, false));
    d.compress_chunk(b"", true, &mut out);
    assert_eq!(d.holds_state(), (false, false));

    // Kept (reset instead) without release_idle.
    let mut d = Deflate::new(SERVER, &params(true, true, 15, 15), &DeflateConfig::default().with_release_idle(false));
    let payload = compress(&mut d, b"Hello");
    inflate(&mut d, &payload).unwrap();
    assert_eq!(d.holds_state(), (true, true));

    // Kept with context takeover: the server keeps its compressor, and its
    // inflater since the client takes over.
    let mut d = Deflate::new(SERVER, &takeover(), &cfg());
    let payload = compress(&mut d, b"Hello");
    assert_eq!(d.holds_state(), (true, false));
    inflate(&mut d, &payload).unwrap();
    assert_eq!(d.holds_state(), (true, true));
}

/// The codec compresses with the smaller of the agreed and configured
/// window and without context takeover if either says so.
#[test]
fn effective_parameters() {
    // A client configured for 10 bits and no takeover, though the server
    // agreed to more.
    let c = cfg().with_client_max_window_bits(10).with_client_no_context_takeover(true);
    let d = Deflate::new(CLIENT, &takeover(), &c);
    assert_eq!((d.tx.tx_window_bits, d.tx.tx_no_context_takeover, d.rx.rx_no_context_takeover), (10, true, false));
    // The server's parameters for a server.
    let d = Deflate::new(SERVER, &params(true, false, 8, 12), &cfg());
    assert_eq!((d.tx.tx_window_bits, d.tx.tx_no_context_takeover, d.rx.rx_no_context_takeover), (9, true, false));
    let d = Deflate::new(CLIENT, &params(true, false, 8, 12), &cfg());
    assert_eq!((d.tx.tx_window_bits, d.tx.tx_no_context_takeover, d.rx.rx_no_context_takeover), (12, false, true));
    // Threshold.
    let d = Deflate::new(CLIENT, &takeover(), &cfg().with_threshold(10));
    assert!(!d.should_compress(9) && d.should_compress(10));
    assert!(Deflate::new(CLIENT, &takeover(), &cfg().with_threshold(0)).should_compress(0));
}
