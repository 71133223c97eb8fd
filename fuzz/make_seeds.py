#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/seeds/<target>/ (committed).

The seeds are RFC 6455 frames, starting with the byte-exact examples of
section 5.7, wrapped in each target's input format:

- frame_decode: raw bytes (a frame header, maybe with payload);
- mask:         4 bytes key, 2 bytes offset, 2 bytes split (big-endian), payload;
- server_stream / client_stream / streaming: flags, chunking byte, chunk
  lengths, then the peer's byte stream (see `Input` in fuzz/src/lib.rs); in
  handshake mode (byte 1 bit 6) the stream starts with the §1.2 request or a
  101 for the harness's key; with mixed feeding (byte 0 bit 6) feed
  selectors follow the stream, one per chunk length (`Feed` in lib.rs);
- handshake_request / handshake_response: a limits byte, then a head (the
  §1.2 handshake, valid and invalid variants);
- api_sequence: `arbitrary`'s encoding of `ApiInput` (fuzz/src/api.rs),
  written by the small encoder `Arb` below: sessions of sends, pings,
  closes, peer frames, EOF and timeouts, and operations on buffers lent by
  `read_buffer` (`lends`, after the operations);
- differential: a settings byte, then the peer's byte stream;
- h2_connect:   a flags byte, a status (2 bytes), then HTTP/2 fields one a
  line, `name: value` (RFC 8441 §5.1's request and variants);
- memory:       `arbitrary`'s encoding of `MemoryInput` (fuzz/src/memory.rs),
  written by `memory_input` below: messages, reads and hostile frames.

Run it from anywhere: python3 fuzz/make_seeds.py
"""

import base64
import glob
import hashlib
import os
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


def stream_input(stream, flags=0, chunks=(), mid=0, streaming=False, handshake=False, alt=False, feeds=None):
    """The stream targets' input: header, chunk lengths, stream, and with
    `feeds` (mixed feeding, byte 0 bit 6) one feed selector per chunk length
    (at least one)."""
    assert len(chunks) <= 7 and all(0 <= c <= 255 for c in chunks)
    b1 = (0x80 if alt else 0) | (0x40 if handshake else 0) | (0x20 if streaming else 0) | (mid << 3) | len(chunks)
    if feeds is None:
        assert not flags & 0x40, "mixed feeding takes feed selectors"
        feeds = b""
    else:
        assert len(feeds) == max(len(chunks), 1)
        flags |= 0x40
    return bytes([flags, b1]) + bytes(chunks) + stream + bytes(feeds)


# Feed selectors (`Feed::from_selector` in lib.rs): kind in bits 0-2, the
# `min` entry in bits 3-5, the split entry in bits 6-7.
SLICE, OWNED, LENT, READS, TWO_DRAINED, TWO, LEND_DROP, HALVES = range(8)
MIN_0, MIN_1, MIN_HALF, MIN_LEN, MIN_LEN1, MIN_1000, MIN_64K, MIN_256K = range(8)
SPLIT_0, SPLIT_THIRD, SPLIT_HALF, SPLIT_LEN = range(4)


def feed(kind, min_=MIN_0, split=SPLIT_0):
    return kind | (min_ << 3) | (split << 6)


GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def accept_key(key):
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


# RFC 6455 §1.2 / §1.3: the sample handshake.
RFC_REQUEST = (
    b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://example.com\r\n"
    b"Sec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Version: 13\r\n\r\n"
)
assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
RFC_101 = (
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\n\r\n"
)
# The key of a client built with the harness's CountingEntropy (a counter
# stepping by 97 from 0) and the 101 that accepts it.
COUNTING_KEY = base64.b64encode(bytes((i * 97) % 256 for i in range(16))).decode()
COUNTING_101 = (
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    f"Sec-WebSocket-Accept: {accept_key(COUNTING_KEY)}\r\n\r\n"
).encode()


class Arb:
    """Writes what `arbitrary` 1.x reads: integers little-endian, bools as
    a byte's low bit, Option as a bool then the value, a Vec as a `true`
    before each element and a `false` after the last, an enum variant as
    a u32 `x` with `(x * variants) >> 32 == index`."""

    def __init__(self):
        self.out = bytearray()

    def u8(self, x):
        self.out.append(x & 0xFF)
        return self

    def u16(self, x):
        self.out += struct.pack("<H", x)
        return self

    def bool(self, b):
        return self.u8(1 if b else 0)

    def variant(self, i, n):
        x = -(-(i << 32) // n)
        assert (x * n) >> 32 == i and x < 1 << 32
        self.out += struct.pack("<I", x)
        return self

    def opt_u16(self, x):
        self.bool(x is not None)
        return self.u16(x) if x is not None else self

    def opt_u8(self, x):
        self.bool(x is not None)
        return self.u8(x) if x is not None else self

    def bytes(self, data):
        for b in data:
            self.bool(True).u8(b)
        return self.bool(False)


LEND_OPS = ["Lend", "Queue", "Read", "Write", "Return", "Drop", "Split", "Flush"]
OPS = ["SendText", "SendBinary", "SendLarge", "Ping", "Pong", "Close", "BrowserClose", "Begin", "Chunk",
       "Finish", "Peer", "PeerBytes", "PeerOwned", "PeerHandshake", "Eof", "Timeout", "Poll", "Drain", "WriteTo"]
PEER_KINDS = ["Text", "Binary", "Continuation", "Close", "Ping", "Pong", "Reserved"]


def peer_frame(a, args):
    """A `PeerFrame`: (kind, fin, payload[, code[, _, rsv, wrong_mask]])."""
    kind, fin, payload = args[:3]
    code = args[3] if len(args) > 3 else None
    rsv, wrong_mask = (args[4], args[5]) if len(args) > 5 else (False, False)
    a.variant(PEER_KINDS.index(kind), len(PEER_KINDS))
    if kind == "Reserved":
        a.u8(3)
    a.bool(fin).bool(rsv).bool(wrong_mask).opt_u16(code).bytes(payload)


def lend_op(a, skip, op):
    """A `Lend`: run after `skip` more operations. Slots are 0 and 1."""
    name, *args = op if isinstance(op, tuple) else (op,)
    a.u8(skip).variant(LEND_OPS.index(name), len(LEND_OPS))
    if name == "Lend":
        a.bool(args[0]).u16(args[1])
    elif name == "Queue":
        peer_frame(a, args[0])
        a.u16(args[1] if len(args) > 1 else 0)
    elif name == "Read":
        a.bool(args[0]).u16(args[1]).bool(args[2] if len(args) > 2 else False)
    elif name == "Write":
        a.bool(args[0]).bytes(args[1])
    elif name in ("Return", "Drop"):
        a.bool(args[0])
    elif name == "Split":
        a.bool(args[0]).u16(args[1])


def api_input(ops, client=False, connecting=False, fragment=None, high_water=None, low_water=0,
              close_timeout=5000, handshake_timeout=10000, keepalive=None, keepalive_timeout=1000,
              streaming=False, manual_pong=False, max_frame=0, max_message=0, lends=()):
    a = Arb().bool(client).bool(connecting)
    # ConfigInput, field by field.
    a.opt_u8(fragment).opt_u16(high_water).u16(low_water).u16(max_frame).u16(max_message)
    a.bool(manual_pong).bool(streaming).opt_u16(close_timeout).opt_u16(handshake_timeout)
    a.opt_u16(keepalive).u16(keepalive_timeout)
    for op in ops:
        a.bool(True)
        name, *args = op if isinstance(op, tuple) else (op,)
        a.variant(OPS.index(name), len(OPS))
        if name in ("SendText", "SendBinary", "Ping", "Pong", "Chunk", "Finish", "PeerBytes", "PeerOwned"):
            a.bytes(args[0])
        elif name == "SendLarge":
            a.u16(args[0]).bool(args[1])
        elif name in ("Close", "BrowserClose"):
            a.opt_u16(args[0])
            if name == "Close":
                a.bytes(args[1])
            else:
                a.bool(args[1] is not None)
                if args[1] is not None:
                    a.bytes(args[1])
        elif name == "Begin":
            a.bool(args[0])
        elif name == "Peer":
            peer_frame(a, args)
        elif name == "Timeout":
            a.u16(args[0]).bool(args[1] if len(args) > 1 else False)
        elif name == "Poll":
            a.u8(args[0])
        elif name == "WriteTo":
            a.u16(args[0]).u16(args[1])
    a.bool(False)
    # `lends`, the last field: nothing for inputs without (as before it existed).
    if lends:
        for skip, op in lends:
            a.bool(True)
            lend_op(a, skip, op)
        a.bool(False)
    return bytes(a.out)


def api_seeds():
    hello = ("Peer", "Text", True, b"Hello")
    close = ("Peer", "Close", True, b"bye", 1000)
    return {
        "send-ping-close-echo": api_input(
            [("SendText", b"Hello"), ("Ping", b"p"), "Drain", ("Close", 1000, b"bye"), ("Poll", 1), close, "Drain"]),
        "client-send-close-timeout": api_input(
            [("Timeout", 0), ("SendBinary", bytes(range(20))), ("Close", 4000, b""), "Drain", ("Timeout", 6000)],
            client=True),
        "peer-closes-first": api_input([hello, ("Peer", "Ping", True, b"x"), close, "Drain", ("SendText", b"late")]),
        "server-handshake": api_input(
            [("Timeout", 0), "PeerHandshake", "Drain", ("SendText", b"Hi"), hello, "Drain", ("Timeout", 20000)],
            connecting=True),
        "client-handshake-timeout": api_input([("Timeout", 1), ("SendText", b"x"), ("Timeout", 11000)],
                                              client=True, connecting=True),
        "client-handshake": api_input(
            ["PeerHandshake", ("Poll", 2), ("Peer", "Text", False, b"He"), ("Peer", "Continuation", True, b"llo"),
             ("BrowserClose", 3000, b"done"), "Drain", ("Peer", "Close", True, b"", 3000), "Eof"],
            client=True, connecting=True),
        # A client writing with write_to: large payloads masked as written,
        # writes cut short, a poll between.
        "client-write-to": api_input(
            [("WriteTo", 0, 0), ("SendLarge", 38000, False), ("SendText", b"x"), ("WriteTo", 1000, 5000),
             ("Ping", b"p"), ("WriteTo", 0, 7001), ("SendLarge", 20000, True), ("Poll", 1), ("WriteTo", 0, 0),
             ("Close", 1000, b""), ("WriteTo", 3, 0), "Drain"], client=True),
        # Events polled past the bytes queued, messages lent (poll_event_ref).
        "poll-event-ref": api_input(
            [hello, ("Peer", "Binary", True, bytes(300)), ("Peer", "Ping", True, b"p"), ("Poll", 0xC8),
             ("SendText", b"x"), ("Peer", "Text", True, "κόσμε".encode() * 400), ("Poll", 0x88), ("Poll", 0xC8),
             close, ("Poll", 0xC8), ("WriteTo", 0, 0), ("Poll", 0xC8), "Drain"]),
        "streamed-send": api_input(
            [("Begin", True), ("Chunk", "κό".encode()[:3]), ("Poll", 1), ("Ping", b""),
             ("Chunk", "κό".encode()[3:]), ("Finish", b"!"), "Drain"], fragment=2),
        "backpressure": api_input(
            [("SendBinary", bytes(30)), ("SendBinary", bytes(30)), ("Poll", 1), ("SendLarge", 100, False),
             "Drain", ("SendLarge", 5, True), ("Poll", 1), "Drain"], high_water=40, low_water=10),
        "keepalive": api_input(
            [("Timeout", 0), ("Timeout", 1500), "Drain", ("Timeout", 1000), ("Peer", "Pong", True, b""),
             ("Timeout", 400), ("Timeout", 3000)], keepalive=1000, keepalive_timeout=500),
        "invalid-close-codes": api_input(
            [("Close", 1005, b""), ("Close", 999, b""), ("BrowserClose", 1001, None), ("Close", 1000, b"x" * 124),
             ("Peer", "Close", True, b"", 1004)]),
        "protocol-errors": api_input(
            [("Peer", "Reserved", True, b"", None, False, False), ("PeerBytes", b"\x81\x80"), "Eof"], client=True),
        "streaming-receive": api_input(
            [("Peer", "Text", False, "κόσμε".encode()[:3]), ("Peer", "Continuation", True, "κόσμε".encode()[3:]),
             ("PeerOwned", frame(PING, b"o", mask=RFC_KEY)), "Drain"], streaming=True),
        # Buffers lent by read_buffer: read into within capacity and handed back.
        "lend-read-return": api_input(
            [("SendText", b"Hi"), "Drain", close, "Drain"],
            lends=[(0, ("Lend", 0, 64)), (0, ("Queue", ("Text", True, b"Hello"))), (0, ("Read", 0, 0)),
                   (0, ("Return", 0)), (1, ("Queue", ("Ping", True, b"p"))), (0, ("Read", 1, 0)),
                   (0, ("Return", 1))]),
        # A 3000-byte frame read 100 bytes of room at a time, drained in between.
        "lend-large-frame": api_input(
            ["Drain"] * 8 + [close, "Drain"],
            lends=[(0, ("Queue", ("Binary", True, b"x"), 3000))]
            + [(0, ("Lend", 0, 100)), (0, ("Read", 0, 0)), (0, ("Return", 0)), (1, ("Drop", 1))] * 8
            + [(0, "Flush")]),
        # Two held at once, across commands, handed back in reverse order.
        "lend-two-reversed": api_input(
            [("SendText", b"a"), ("Ping", b"b"), "Drain", "Drain"],
            lends=[(0, ("Lend", 0, 16)), (0, ("Lend", 1, 16)), (0, ("Queue", ("Text", True, b"Hello"))),
                   (0, ("Read", 0, 5)), (0, ("Read", 1, 0)), (1, ("Return", 1)), (1, ("Return", 0))]),
        # Filled past its capacity, cut in two, halves handed back around a send.
        "lend-split-grow": api_input(
            [("SendBinary", b"zz"), "Drain", ("Close", 1000, b""), "Drain"],
            lends=[(0, ("Lend", 0, 8)), (0, ("Queue", ("Text", True, b"Hel"), 40)), (0, ("Read", 0, 0, True)),
                   (0, ("Split", 0, 10)), (0, ("Return", 0)), (1, ("Return", 1))]),
        # Lent and dropped; a caller's own buffer; one still held at EOF.
        "lend-drop-own-buffer": api_input(
            [("Ping", b""), "Drain", "Drain"],
            lends=[(0, ("Lend", 0, 1000)), (0, ("Drop", 0)),
                   (0, ("Write", 1, frame(TEXT, b"mine", mask=RFC_KEY))), (0, ("Return", 1)),
                   (1, ("Lend", 0, 0)), (0, ("Write", 1, b"")), (0, ("Return", 1))]),
        # A client after its handshake, streaming receive, through lent buffers.
        "lend-client-streaming": api_input(
            ["PeerHandshake", "Drain", ("Peer", "Text", False, b"He"), "Drain", "Drain", ("Close", 1000, b""), "Drain"],
            client=True, connecting=True, streaming=True,
            lends=[(3, ("Queue", ("Continuation", True, b"llo"), 300)), (0, ("Lend", 1, 50)), (0, ("Read", 1, 0)),
                   (0, ("Return", 1)), (1, ("Read", 0, 0)), (0, ("Return", 0))]),
    }


def heads():
    bad_version = RFC_REQUEST.replace(b"Version: 13", b"Version: 8")
    no_key = RFC_REQUEST.replace(b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", b"")
    ext = RFC_REQUEST.replace(
        b"Version: 13\r\n", b"Version: 13\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, x\r\n")
    plain = b"GET /index.html HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n"
    post = RFC_REQUEST.replace(b"GET ", b"POST ")
    requests = {
        "rfc-1.2": bytes([0]) + RFC_REQUEST,
        "rfc-1.2-limit-256": bytes([2]) + RFC_REQUEST,
        "rfc-1.2-4-headers": bytes([8]) + RFC_REQUEST,
        "rfc-1.2-with-frame": bytes([3]) + RFC_REQUEST + frame(TEXT, b"Hello", mask=RFC_KEY),
        "bad-version": bytes([0]) + bad_version,
        "no-key": bytes([0]) + no_key,
        "extensions": bytes([0]) + ext,
        "plain-http": bytes([0]) + plain,
        "post": bytes([0]) + post,
        "http-1.0": bytes([0]) + RFC_REQUEST.replace(b"HTTP/1.1", b"HTTP/1.0"),
        "partial": bytes([0]) + RFC_REQUEST[:60],
    }
    responses = {
        "rfc-1.3-101": bytes([0x10]) + RFC_101,
        "rfc-1.3-101-no-offer": bytes([0x00]) + RFC_101,
        "101-and-frame": bytes([0x10]) + RFC_101 + frame(TEXT, b"Hello"),
        "100-then-101": bytes([0x10]) + b"HTTP/1.1 100 Continue\r\n\r\n" + RFC_101,
        "403-length": bytes([0]) + b"HTTP/1.1 403 Forbidden\r\nContent-Length: 3\r\n\r\nabc",
        "400-chunked": bytes([0]) + b"HTTP/1.1 400 Bad\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        "500-until-close-eof": bytes([0x20]) + b"HTTP/1.1 500 Oops\r\nServer: x\r\n\r\nbody",
        "302-redirect": bytes([0]) + b"HTTP/1.1 302 Found\r\nLocation: ws://other/\r\nContent-Length: 0\r\n\r\n",
        "101-extension": bytes([0x10]) + RFC_101.replace(b"Protocol: chat", b"Protocol: chat\r\nSec-WebSocket-Extensions: x-ext; a=1"),
        "101-wrong-accept": bytes([0x10]) + RFC_101.replace(b"s3pP", b"AAAA"),
    }
    return requests, responses


def h2_seeds():
    """RFC 8441 §5.1's request and response, and variants (see fuzz/src/h2.rs)."""
    example = [
        b":method: CONNECT", b":protocol: websocket", b":scheme: https", b":path: /chat",
        b":authority: server.example.com", b"sec-websocket-protocol: chat, superchat",
        b"sec-websocket-extensions: permessage-deflate", b"sec-websocket-version: 13",
        b"origin: http://www.example.com",
    ]

    def seed(flags, status, lines):
        return bytes([flags]) + struct.pack(">H", status) + b"\n".join(lines)

    return {
        "rfc-8441-5.1": seed(0, 200, example),
        "rfc-8441-5.1-deflate": seed(0x0C, 200, example),
        "rfc-8441-5.1-response": seed(0x04, 200, [b":status: 200", b"sec-websocket-protocol: chat"]),
        "example-flags": seed(0x0F, 200, [b"cookie: a=b"]),
        "deflate-params": seed(0x0F, 200, [
            b"sec-websocket-extensions: permessage-deflate; client_max_window_bits; server_max_window_bits=10"]),
        "403": seed(0x03, 403, [b"www-authenticate: Basic"]),
        "version-8": seed(0x01, 200, [b"sec-websocket-version: 8"]),
        "upgrade": seed(0x03, 200, [b"upgrade: websocket", b"connection: Upgrade"]),
        "uppercase": seed(0x03, 200, [b"Cookie: a"]),
        "other-protocol": seed(0, 200, [b":method: CONNECT", b":protocol: connect-udp", b":scheme: https",
                                        b":path: /", b":authority: h", b"sec-websocket-version: 13"]),
        "get": seed(0, 200, [b":method: GET", b":scheme: http", b":path: /", b":authority: h"]),
    }


def handshake_stream_seeds(role):
    if role == "server":
        m = lambda *a, **k: frame(*a, mask=RFC_KEY, **k)
        head = RFC_REQUEST
    else:
        m = frame
        head = COUNTING_101
    hello = m(TEXT, b"Hello")
    bye = m(CLOSE, close_body(1000, "bye"))
    seeds = {
        "handshake-hello": stream_input(head + hello + bye, handshake=True, chunks=[40, 200]),
        "handshake-bytewise": stream_input(head + hello, handshake=True, chunks=[1]),
        "handshake-mid-close": stream_input(head + m(PING, b"p") + bye, handshake=True, chunks=[30], mid=1),
        "handshake-open-send-close": stream_input(head + hello + bye, flags=0xA0, handshake=True),
        "handshake-alt": stream_input(head + hello, handshake=True, alt=True),
        "handshake-truncated": stream_input(head[:50], handshake=True),
        "handshake-lent": stream_input(head + hello + bye, handshake=True, chunks=[60, 90],
                                       feeds=[feed(READS, MIN_1000), feed(TWO, MIN_1, SPLIT_HALF)]),
    }
    if role == "server":
        seeds["handshake-plain-http"] = stream_input(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n" + hello, handshake=True)
        seeds["handshake-bad-version"] = stream_input(RFC_REQUEST.replace(b"Version: 13", b"Version: 8"), handshake=True)
    else:
        seeds["handshake-403"] = stream_input(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno", handshake=True)
        seeds["handshake-chat"] = stream_input(
            COUNTING_101.replace(b"\r\n\r\n", b"\r\nSec-WebSocket-Protocol: chat\r\n\r\n") + hello,
            handshake=True, alt=True)
        seeds["handshake-100-continue"] = stream_input(b"HTTP/1.1 100 Continue\r\n\r\n" + head + hello, handshake=True)
    return seeds


def differential_seeds():
    f = lambda *a, **k: frame(*a, mask=RFC_KEY, **k)
    kosme = "κόσμε".encode()
    server = {
        "hello": f(TEXT, b"Hello"),
        "fragmented-ping": f(TEXT, b"Hel", fin=False) + f(PING, b"Hello") + f(CONT, b"lo") + f(CLOSE, close_body(1000)),
        "binary-256": f(BINARY, bytes(range(256))),
        "utf8-split": f(TEXT, kosme[:3], fin=False) + f(CONT, kosme[3:]),
        "utf8-invalid": f(TEXT, b"\xce\xba\xf4\x90\x80\x80"),
        "close-1014": f(CLOSE, close_body(1014)),
        "close-1004": f(CLOSE, close_body(1004)),
        "close-empty": f(CLOSE),
        "non-minimal-16": bytes([0x81, 0xFE, 0, 5]) + RFC_KEY + bytes(b ^ RFC_KEY[i % 4] for i, b in enumerate(b"Hello")),
        "rsv1": f(TEXT, b"x", rsv=4),
        "unmasked": frame(TEXT, b"x"),
        "too-big": f(BINARY, bytes(400)),
    }
    out = {}
    for name, s in server.items():
        out["server-" + name] = bytes([0x00]) + s
    out["server-limits-300"] = bytes([0x06 | 0x18]) + f(BINARY, bytes(200), fin=False) + f(CONT, bytes(200))
    out["client-hello-close"] = bytes([0x01]) + frame(TEXT, b"Hello") + frame(CLOSE, close_body(4000, "x"))
    out["client-masked"] = bytes([0x01]) + f(TEXT, b"Hello")
    return out


# The `memory` target's input (`MemoryInput` in fuzz/src/memory.rs), in
# `arbitrary`'s encoding.
DEFLATE_MODES = ["Off", "NoTakeover", "Takeover"]
CONTENTS = ["Prose", "Repeats", "Random"]
HOWS = ["Slice", "Owned", "Lent", "LentFull", "LentShort", "LentGrow"]
RAW_PAYLOADS = ["Bytes", "Filler", "Compressed", "Declared"]


def memory_input(messages, reads, client=False, deflate="Off", threshold=0, fragment=None, keep=False,
                 hostile=()):
    """messages: (len, text, content, seed, repeat, hand) with hand None or
    (pieces, empty_last), pieces [(len, ping or None)]; reads: (size, big,
    how[, n]); hostile: (fin, rsv, opcode, wrong_mask, payload, repeat) with
    payload ("Bytes", b"..") / ("Filler", n, byte) / ("Compressed", n,
    content) / ("Declared", n)."""
    a = Arb().bool(client).variant(DEFLATE_MODES.index(deflate), 3).u16(threshold).opt_u16(fragment).bool(keep)
    for length, text, content, seed, repeat, hand in messages:
        assert length < 1 << 16
        a.bool(True).u16(length).bool(length >= 4096).bool(text).variant(CONTENTS.index(content), 3)
        a.u8(seed).u8(repeat)
        a.bool(hand is not None)
        if hand is not None:
            pieces, empty_last = hand
            for n, ping in pieces:
                a.bool(True).u16(n).opt_u8(ping)
            a.bool(False).bool(empty_last)
    a.bool(False)
    for size, big, how, *n in reads:
        a.bool(True).u16(size).bool(big).variant(HOWS.index(how), len(HOWS))
        if how in ("LentShort", "LentGrow"):
            a.u16(n[0])
    a.bool(False)
    for fin, rsv, opcode, wrong_mask, payload, repeat in hostile:
        a.bool(True).bool(fin).u8(rsv).u8(opcode).bool(wrong_mask)
        kind, *args = payload
        a.variant(RAW_PAYLOADS.index(kind), len(RAW_PAYLOADS))
        if kind == "Bytes":
            a.bytes(args[0])
        elif kind == "Filler":
            a.u16(args[0]).u8(args[1])
        elif kind == "Compressed":
            a.u16(args[0]).variant(CONTENTS.index(args[1]), 3)
        else:
            a.out += struct.pack("<I", args[0])
        a.u8(repeat)
    a.bool(False)
    return bytes(a.out)


def memory_seeds():
    prose_64k = (65535, True, "Prose", 1, 0, None)
    mixed = [(1000, True, "Prose", 1, 0, None), (5000, False, "Random", 2, 0, None), (0, False, "Repeats", 3, 0, None)]
    hand = ([(0, 7), (1, None), (100, 125), (0, None), (3000, None)], True)
    one_byte = (1, False, "Random", 4, 255, None)
    return {
        "plain-fragments": memory_input(mixed, [(4096, False, "Slice")], fragment=100),
        "plain-whole-lent": memory_input(mixed, [(65535, False, "Lent"), (7, False, "LentFull")], client=True),
        "deflate-7-byte-frames": memory_input([prose_64k, prose_64k], [(4096, False, "Lent")], client=True,
                                              deflate="NoTakeover", fragment=7),
        "deflate-takeover-hand": memory_input(
            [(20000, False, "Prose", 5, 1, hand), (300, True, "Random", 6, 0, hand)],
            [(1, False, "Slice"), (3000, False, "LentShort", 100), (100, False, "Owned")], deflate="Takeover"),
        "deflate-one-frame": memory_input([(65535, False, "Random", 7, 0, None)], [(1, False, "Slice")],
                                          deflate="NoTakeover"),
        "keep-small": memory_input([one_byte, one_byte, (16, True, "Prose", 8, 255, None)],
                                   [(65535, False, "LentFull")], keep=True),
        "keep-between-pings": memory_input([(1, False, "Random", 9, 200, ([(1, 125)], False))],
                                           [(16384, True, "LentFull")], keep=True),
        "keep-deflate-short": memory_input([(1000, False, "Random", 10, 100, None)],
                                           [(65535, False, "LentShort", 10)], keep=True, deflate="NoTakeover"),
        # The two retention failures (fuzz/src/memory.rs, STRICT_RETENTION):
        # 7-byte reads into read_buffer(4096) that always end inside a frame
        # header (the first frame is 10 bytes, the others 7: a read ends 4
        # bytes into one), and retained 5,000-byte compressed messages.
        "keep-short-reads": memory_input(
            [(4, False, "Random", 14, 0, None)] + [(1, False, "Random", 15, 255, None)] * 7,
            [(4096, False, "LentShort", 6)], keep=True),
        "keep-deflate-5000": memory_input([(5000, False, "Random", 16, 24, None)], [(4096, False, "Slice")],
                                          keep=True, deflate="NoTakeover"),
        "grow-reads": memory_input(mixed, [(10, False, "LentGrow", 5000), (1, False, "Lent")], client=True),
        # Found by the fuzzer: a 327,419-byte read written past a lent buffer's
        # room is copied into the input buffer, which grows for it while the
        # read is still alive (the bound counts such a read a third time).
        "grown-read-copied": memory_input(
            [(20000, False, "Prose", 5, 1, ([(0, 1), (1, None), (0, 125)], False))],
            [(1, False, "LentGrow", 65533), (65535, True, "LentGrow", 65279), (254, False, "Slice")]),
        "hostile-inflate-bomb": memory_input(
            [(10, True, "Prose", 11, 0, None)], [(4096, False, "Slice")], deflate="Takeover",
            hostile=[(False, 4, 2, False, ("Compressed", 65535, "Repeats"), 0),
                     (False, 0, 0, False, ("Compressed", 65535, "Repeats"), 10)]),
        "hostile-declared": memory_input([(100, False, "Prose", 12, 0, None)], [(1000, False, "LentFull")],
                                         hostile=[(True, 0, 2, False, ("Declared", 200000), 0),
                                                  (True, 0, 9, False, ("Filler", 20000, 0x41), 0)]),
        "hostile-empty-fragments": memory_input(
            [(100, False, "Prose", 13, 0, None)], [(7, False, "Slice")], client=True,
            hostile=[(False, 0, 1, False, ("Bytes", b"a"), 0), (False, 0, 0, False, ("Bytes", b""), 255),
                     (True, 0, 9, False, ("Bytes", b"p"), 3), (True, 0, 0, True, ("Filler", 300, 0), 0)]),
    }


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
            f(BINARY, bytes(10), fin=False) + f(CONT, bytes(10)), flags=0x04, chunks=[5, 7],
            feeds=[feed(SLICE), feed(OWNED)]
        ),
        # Mixed feeding: chunks through buffers lent by read_buffer.
        "lent-hello": stream_input(f(TEXT, b"Hello") + bye, feeds=[feed(LENT, MIN_LEN)]),
        "lent-binary-256": stream_input(
            f(BINARY, bytes(range(256))) + bye, chunks=[7, 100, 200],
            feeds=[feed(LENT, MIN_1), feed(READS, MIN_0), feed(TWO_DRAINED, MIN_HALF, SPLIT_HALF)]
        ),
        "lent-3000-reads": stream_input(
            f(BINARY, bytes(i % 251 for i in range(3000))) + f(TEXT, b"after") + bye, chunks=[200, 255],
            feeds=[feed(READS, MIN_1), feed(HALVES, MIN_1000, SPLIT_THIRD)]
        ),
        "lent-fragmented-two": stream_input(
            f(TEXT, b"Hel", fin=False) + f(PING, b"Hello") + f(CONT, b"lo") + bye, chunks=[3, 5, 0],
            feeds=[feed(TWO, MIN_LEN1, SPLIT_THIRD), feed(LEND_DROP, MIN_64K), feed(OWNED)]
        ),
        "lent-streamed-utf8": stream_input(
            f(TEXT, kosme[:3], fin=False) + f(CONT, kosme[3:]) + bye, chunks=[4, 1], streaming=True,
            feeds=[feed(HALVES, MIN_0, SPLIT_HALF), feed(LENT, MIN_256K)]
        ),
        "lent-mid-close": stream_input(
            f(BINARY, b"ab", fin=False) + f(CONT, b"cd") + bye, chunks=[3], mid=1, feeds=[feed(READS, MIN_LEN)]
        ),
    }


def main():
    # Everything this script writes is written again; seeds added by hand
    # (crash regressions, inputs made elsewhere) are named seed-* and kept.
    for path in glob.glob(os.path.join(SEEDS, "*", "*")):
        if not os.path.basename(path).startswith("seed-"):
            os.remove(path)

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
        write("streaming", name, data)
    for name, data in handshake_stream_seeds("server").items():
        write("server_stream", name, data)
    for name, data in stream_seeds(None).items():
        write("client_stream", name, data)
        # The streaming target picks the client role with byte 1 bit 5.
        write("streaming", "client-" + name, data[:1] + bytes([data[1] | 0x20]) + data[2:])
    for name, data in handshake_stream_seeds("client").items():
        write("client_stream", name, data)

    requests, responses = heads()
    for name, data in requests.items():
        write("handshake_request", name, data)
    for name, data in responses.items():
        write("handshake_response", name, data)
    for name, data in h2_seeds().items():
        write("h2_connect", name, data)
    for name, data in api_seeds().items():
        write("api_sequence", name, data)
    for name, data in differential_seeds().items():
        write("differential", name, data)
    for name, data in memory_seeds().items():
        write("memory", name, data)


if __name__ == "__main__":
    main()
