#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/seeds/<target>/ (committed).

The seeds are RFC 6455 frames, starting with the byte-exact examples of
section 5.7, wrapped in each target's input format:

- frame_decode: raw bytes (a frame header, maybe with payload);
- mask:         4 bytes key, 2 bytes offset, 2 bytes split (big-endian), payload;
- server_stream / client_stream: flags, chunking byte, chunk lengths, then the
  peer's byte stream (see `Input` in fuzz/src/lib.rs).

Run it from anywhere: python3 fuzz/make_seeds.py
"""

import os
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
SEEDS = os.path.join(HERE, "seeds")
RFC_KEY = bytes([0x37, 0xFA, 0x21, 0x3D])

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def frame(opcode, payload=b"", fin=True, mask=None, rsv=0, declared=None):
    """One frame; `declared` overrides the length field (for header-only seeds)."""
    n = len(payload) if declared is None else declared
    out = bytearray([(0x80 if fin else 0) | (rsv << 4) | opcode])
    m = 0x80 if mask is not None else 0
    if n < 126:
        out.append(m | n)
    elif n <= 0xFFFF:
        out.append(m | 126)
        out += struct.pack(">H", n)
    else:
        out.append(m | 127)
        out += struct.pack(">Q", n)
    if mask is not None:
        out += mask
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes(out + payload)


def close_body(code, reason=""):
    return struct.pack(">H", code) + reason.encode()


def stream_input(stream, flags=0, chunks=(), mid=0, streaming=False):
    """The stream targets' input: header, chunk lengths, stream."""
    assert len(chunks) <= 7 and all(0 <= c <= 255 for c in chunks)
    b1 = (0x20 if streaming else 0) | (mid << 3) | len(chunks)
    return bytes([flags, b1]) + bytes(chunks) + stream


def write(target, name, data):
    d = os.path.join(SEEDS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def stream_seeds(mask):
    """Seeds for a connection receiving frames masked with `mask` (None: from a server)."""
    f = lambda *a, **k: frame(*a, mask=mask, **k)
    bye = f(CLOSE, close_body(1000, "bye"))
    kosme = "κόσμε".encode()
    return {
        # §5.7: a single-frame text message.
        "hello": stream_input(f(TEXT, b"Hello")),
        "hello-bytewise": stream_input(f(TEXT, b"Hello"), chunks=[1]),
        # §5.7: a fragmented text message, with a Ping in between.
        "fragmented-text": stream_input(
            f(TEXT, b"Hel", fin=False) + f(PING, b"Hello") + f(CONT, b"lo"), chunks=[3, 5, 0]
        ),
        # Text cut inside a UTF-8 sequence, across frames and chunks.
        "utf8-split": stream_input(f(TEXT, kosme[:3], fin=False) + f(CONT, kosme[3:]) + bye, chunks=[4, 1]),
        "utf8-invalid": stream_input(f(TEXT, b"\xce\xba\xf4\x90\x80\x80")),
        "ping-pong-close": stream_input(f(PING, b"Hello") + f(PONG, b"Hello") + bye, chunks=[2, 9]),
        # §5.7: 256 bytes of binary data (16-bit length).
        "binary-256": stream_input(f(BINARY, bytes(range(256))), chunks=[100, 200]),
        # §5.7: 64 KiB of binary data (64-bit length), header and a little of the payload.
        "binary-64k-truncated": stream_input(f(BINARY, bytes(100), declared=65536)[: 14 + 100]),
        "binary-64k-over-limit": stream_input(f(BINARY, b"", declared=65536), flags=0x03),
        "close-1000": stream_input(bye),
        "close-empty": stream_input(f(CLOSE)),
        "close-4000-reason": stream_input(f(CLOSE, close_body(4000, "done ✓"))),
        "close-first-then-echo": stream_input(f(TEXT, b"late") + bye, flags=0x20),
        "send-first-auto-pong-off": stream_input(f(PING, b"x") + bye, flags=0x90, mid=2),
        "mid-close": stream_input(f(BINARY, b"ab", fin=False) + f(CONT, b"cd") + bye, chunks=[3], mid=1),
        "streamed-utf8-split": stream_input(
            f(TEXT, kosme[:3], fin=False) + f(PING, b"p") + f(CONT, kosme[3:]) + bye, chunks=[3, 1, 2], streaming=True
        ),
        "streamed-binary-cut-by-close": stream_input(f(BINARY, b"abc", fin=False) + bye, chunks=[4], streaming=True),
        "message-limit": stream_input(
            f(BINARY, bytes(10), fin=False) + f(CONT, bytes(10)), flags=0x04 | 0x40, chunks=[5, 7]
        ),
    }


def main():
    shutil.rmtree(SEEDS, ignore_errors=True)

    hello_masked = bytes([0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58])
    hello = bytes([0x81, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F])
    assert frame(TEXT, b"Hello", mask=RFC_KEY) == hello_masked
    assert frame(TEXT, b"Hello") == hello

    decode = {
        "hello-masked": hello_masked,
        "hello-unmasked": hello,
        "fragment-1": frame(TEXT, b"Hel", fin=False),
        "fragment-2": frame(CONT, b"lo"),
        "ping": frame(PING, b"Hello"),
        "pong-masked": frame(PONG, b"Hello", mask=RFC_KEY),
        "binary-256-header": bytes([0x82, 0x7E, 0x01, 0x00]),
        "binary-64k-header": bytes([0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00]),
        "binary-64k-header-masked": bytes([0x82, 0xFF, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00]) + RFC_KEY,
        "close-1000": frame(CLOSE, close_body(1000)),
        "close-1000-masked": frame(CLOSE, close_body(1000), mask=RFC_KEY),
        "rsv1": frame(TEXT, b"x", rsv=4),
    }
    for name, data in decode.items():
        write("frame_decode", name, data)

    mask = {
        "rfc-hello": RFC_KEY + struct.pack(">HH", 0, 2) + b"Hello",
        "offset-3": bytes([1, 2, 3, 4]) + struct.pack(">HH", 3, 0) + bytes(range(40)),
        "split-33": bytes([0xFF, 0, 0x80, 1]) + struct.pack(">HH", 1, 33) + bytes(range(100)),
    }
    for name, data in mask.items():
        write("mask", name, data)

    for name, data in stream_seeds(RFC_KEY).items():
        write("server_stream", name, data)
    for name, data in stream_seeds(None).items():
        write("client_stream", name, data)


if __name__ == "__main__":
    main()
