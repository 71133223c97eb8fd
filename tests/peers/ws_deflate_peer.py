#!/usr/bin/env python3
"""A permessage-deflate (RFC 7692) peer for tests/interop_deflate.rs, built on
the `websockets` package (sync API, websockets >= 13).

Modes:

  server [PARAMS]
      Listens on 127.0.0.1 on a free port and prints `LISTENING <port>`. It
      serves one connection: prints `OPEN <Sec-WebSocket-Extensions of its
      response>` (`OPEN -` without one), echoes every message (same type, same
      bytes) except the text `close-me`, on which it closes with 4001
      "server bye". When the connection ends it prints
      `CLOSED <code> <reason>` (the code and reason it received, or sent if it
      closed first, as websockets reports them) and exits 0.

  client URL [PARAMS]
      Connects, prints `OPEN <Sec-WebSocket-Extensions of the response>`,
      sends messages of several sizes (empty to 1 MiB, text and binary,
      compressible and not), checks each echo, closes with 4000 "bye",
      prints `CLOSED <code> <reason>` as received and `OK <n> messages`, and
      exits 0; on any mismatch it prints `FAIL ...` and exits 1.

PARAMS, optional: a comma-separated list of permessage-deflate settings for
websockets' extension factory, e.g.
`server_no_context_takeover,client_max_window_bits=9`; without it
websockets' defaults apply (compression="deflate").
"""

import os
import random
import sys
import threading

from websockets.exceptions import ConnectionClosed
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)
from websockets.sync.client import connect
from websockets.sync.server import serve

MAX_SIZE = 16 * 1024 * 1024


def log(*args):
    print(*args, flush=True)


def factory_kwargs(params):
    kwargs = {}
    for item in filter(None, (p.strip() for p in params.split(","))):
        name, _, value = item.partition("=")
        kwargs[name] = int(value) if value else True
    return kwargs


def extension_header(headers):
    return headers.get("Sec-WebSocket-Extensions") or "-"


def run_server(params):
    kwargs = {"max_size": MAX_SIZE}
    if params is not None:
        kwargs["compression"] = None
        kwargs["extensions"] = [ServerPerMessageDeflateFactory(**factory_kwargs(params))]
    done = threading.Event()

    def handler(ws):
        log("OPEN", extension_header(ws.response.headers))
        try:
            for message in ws:
                if message == "close-me":
                    ws.close(4001, "server bye")
                    break
                ws.send(message)
        except ConnectionClosed:
            pass
        code, reason = ws.close_code, ws.close_reason
        log("CLOSED", code, reason)
        done.set()

    with serve(handler, "127.0.0.1", 0, **kwargs) as server:
        port = server.socket.getsockname()[1]
        log("LISTENING", port)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        if not done.wait(120):
            log("FAIL no connection ended within 120 s")
            server.shutdown()
            return 1
        server.shutdown()
    return 0


def messages():
    rng = random.Random(7692)
    words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9))) for _ in range(300)]
    words += ["κόσμε", "日本語", "🎉", "naïve"]

    def text(n):
        out, size = [], 0
        while size < n:
            w = rng.choice(words) + " "
            out.append(w)
            size += len(w.encode())
        s = "".join(out).encode()[:n]
        # Cut on a character boundary.
        return s.decode("utf-8", errors="ignore")

    msgs = []
    for n in [0, 1, 5, 100, 127, 128, 1000, 16 * 1024, 64 * 1024 + 3, 300 * 1024, 1024 * 1024]:
        msgs.append(text(n))
        msgs.append(bytes(rng.getrandbits(8) for _ in range(min(n, 4096))) * (n // 4096 + 1))
        msgs[-1] = msgs[-1][:n]
    msgs.append("x" * (1024 * 1024))
    msgs.append(os.urandom(1024 * 1024))
    msgs.append(bytes(1024 * 1024))
    # The same message twice: with context takeover the second is cheap.
    msgs.append(text(5000))
    msgs.append(msgs[-1])
    return msgs


def run_client(url, params):
    kwargs = {"max_size": MAX_SIZE}
    if params is not None:
        kwargs["compression"] = None
        kwargs["extensions"] = [ClientPerMessageDeflateFactory(**factory_kwargs(params))]
    msgs = messages()
    with connect(url, **kwargs) as ws:
        log("OPEN", extension_header(ws.response.headers))
        for i, m in enumerate(msgs):
            ws.send(m)
            echo = ws.recv()
            if type(echo) is not type(m) or echo != m:
                log("FAIL message", i, "of", len(m), type(m).__name__, "came back as", len(echo), type(echo).__name__)
                return 1
        ws.close(4000, "bye")
        log("CLOSED", ws.close_code, ws.close_reason)
    log("OK", len(msgs), "messages")
    return 0


def main(argv):
    if len(argv) >= 2 and argv[1] == "server":
        return run_server(argv[2] if len(argv) > 2 else None)
    if len(argv) >= 3 and argv[1] == "client":
        return run_client(argv[2], argv[3] if len(argv) > 3 else None)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
