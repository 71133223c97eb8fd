#!/usr/bin/env bash
# A peer that never reads must not hold the echo_server example. Starts the
# release echo_server with 1 s deadlines; a Python client (stdlib only,
# loopback only) completes the WebSocket handshake, sends a 16 MiB message,
# then a small one every 50 ms, and never reads a byte of the echo. Checks that
# the server drops it within keepalive_interval + keepalive_timeout (+ slack):
# the client's next send is reset, the server logs why, its thread and socket
# are gone and its VmRSS falls back near the baseline; then that a fresh client
# still gets its echo. Needs /proc (Linux). Every step is bounded in time.
# Last line: `stuck reader: N passed, N failed`; non-zero exit on failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PORT=${STUCK_READER_PORT:-9013}
export KEEPALIVE=5 KEEPALIVE_TIMEOUT=1 CLOSE_TIMEOUT=1
BIN=./target/release/examples/echo_server
[ -x "$BIN" ] || { echo "$BIN not found: run 'cargo build --release --example echo_server' first"; exit 1; }
(exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && { echo "port $PORT is already in use"; exit 1; }
LOG=$(mktemp)
"$BIN" "127.0.0.1:$PORT" --keepalive "$KEEPALIVE" --keepalive-timeout "$KEEPALIVE_TIMEOUT" \
  --close-timeout "$CLOSE_TIMEOUT" >"$LOG" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true; rm -f "$LOG"' EXIT
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done

rc=0
timeout -k 5 90 python3 - "$PID" "$PORT" "$LOG" <<'PY' || rc=$?
import base64, hashlib, os, socket, struct, sys, time

PID, PORT, LOG = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
INTERVAL, TIMEOUT = float(os.environ["KEEPALIVE"]), float(os.environ["KEEPALIVE_TIMEOUT"])
# The server drops a peer that takes none of its bytes for keepalive_timeout,
# checking every quarter of it; plus slack for a busy machine.
BOUND = TIMEOUT * 1.25 + 0.75
BIG = 16 << 20                    # the example's max_message_size
MiB = 1 << 20
passed = 0

def server_log():
    with open(LOG, encoding="utf-8", errors="replace") as f:
        return f.read()

def fail(why):
    print(f"FAIL: {why}")
    print("--- echo_server log (last 30 lines) ---")
    print("\n".join(server_log().splitlines()[-30:]))
    print(f"stuck reader: {passed} passed, 1 failed")
    sys.exit(1)

def check(ok, what):
    global passed
    if not ok:
        fail(what)
    passed += 1
    print(f"ok: {what}")

def proc_status():
    """VmRSS in bytes, thread count and open descriptors of the server."""
    try:
        fields = dict(line.split(":", 1) for line in open(f"/proc/{PID}/status"))
        fds = len(os.listdir(f"/proc/{PID}/fd"))
    except FileNotFoundError:
        fail("echo_server exited")
    return int(fields["VmRSS"].split()[0]) * 1024, int(fields["Threads"]), fds

def mask(data, key):
    if not data:
        return b""
    n = len(data)
    keys = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(keys, "little")).to_bytes(n, "little")

def frame(opcode, payload):
    n, key = len(payload), os.urandom(4)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 1 << 16:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    return head + key + mask(payload, key)

def connect(rcvbuf=None):
    """A TCP connection through the opening handshake; returns it and any bytes read past the head."""
    s = socket.socket()
    if rcvbuf:
        # Fixed (no autotuning), so the server's writes stall early and the
        # same way on every machine.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(10)
    s.connect(("127.0.0.1", PORT))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{PORT}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            fail("the server closed the connection during the handshake")
        head += chunk
    head, rest = head.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    accept = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
    if not lines[0].startswith("HTTP/1.1 101") or fields.get("sec-websocket-accept") != accept:
        fail(f"bad handshake response: {head!r}")
    return s, rest

def echo_check(label, payload, pause=0.0):
    """A client that reads (after `pause` s between reads of at most 2 MiB, if
    given): a message, its echo, a clean close."""
    s, buf = connect()
    buf = bytearray(buf)
    started = time.monotonic()
    def read_frame():
        def need(k):
            while len(buf) < k:
                if pause:
                    time.sleep(pause)
                chunk = s.recv(2 * MiB)
                if not chunk:
                    fail(f"{label}: EOF before a whole frame")
                buf.extend(chunk)
        need(2)
        opcode, n, at = buf[0] & 0x0F, buf[1] & 0x7F, 2
        if n == 126:
            need(4); n, at = struct.unpack("!H", buf[2:4])[0], 4
        elif n == 127:
            need(10); n, at = struct.unpack("!Q", buf[2:10])[0], 10
        need(at + n)
        frame_payload = bytes(buf[at:at + n])
        del buf[:at + n]
        if opcode == 0x9:  # a keepalive Ping: answer it
            s.sendall(frame(0xA, frame_payload))
            return read_frame()
        return opcode, frame_payload
    opcode = 0x1 if isinstance(payload, str) else 0x2
    data = payload.encode() if isinstance(payload, str) else payload
    s.sendall(frame(opcode, data))
    got, echo = read_frame()
    what = f"{len(data) / MiB:.0f} MiB message" if len(data) >= MiB else "message"
    how = f" in {time.monotonic() - started:.1f} s, to a client pausing {pause} s between reads" if pause else ""
    check((got, echo) == (opcode, data), f"{label}: the server echoes a {what}{how}")
    s.sendall(frame(0x8, struct.pack("!H", 1000) + b"bye"))
    got, echo = read_frame()
    check(got == 0x8 and echo[:2] == struct.pack("!H", 1000), f"{label}: the server answers Close 1000")
    s.settimeout(5)
    check(s.recv(1) == b"", f"{label}: the server closes the TCP connection")
    s.close()

# 1. A normal client first, then the baseline.
echo_check("warm-up client", "hello")
time.sleep(0.3)
rss0, threads0, fds0 = proc_status()

# 2. The stuck reader: 16 MiB in, then small messages, never a read.
s, _ = connect(rcvbuf=64 * 1024)
payload = os.urandom(BIG)
big = frame(0x2, payload)
del payload
s.settimeout(30)
t = time.monotonic()
try:
    s.sendall(big)
except OSError as e:
    fail(f"sending the 16 MiB message failed: {e!r} (the server should read all of it)")
sent = time.monotonic()
del big
print(f"sent a 16 MiB message in {sent - t:.2f} s; now a small message every 50 ms, reading nothing")
peak, dropped = rss0, None
s.settimeout(1)
while time.monotonic() < sent + BOUND + 5:
    peak = max(peak, proc_status()[0])
    try:
        s.sendall(frame(0x1, b"still here"))
    except (ConnectionResetError, BrokenPipeError):
        dropped = time.monotonic() - sent
        break
    except socket.timeout:
        fail("a 16-byte send blocked for 1 s: the server stopped reading but did not drop the connection")
    time.sleep(0.05)
s.close()
rss1, threads1, fds1 = proc_status()
if dropped is None:
    fail(f"the server still holds the stuck connection {BOUND + 5:.1f} s after the 16 MiB message "
         f"(RSS {rss1 / MiB:.1f} MiB, baseline {rss0 / MiB:.1f} MiB, {threads1} threads)")
print(f"dropped {dropped:.2f} s after the 16 MiB message was sent (bound {BOUND:.1f} s)")
check(dropped <= BOUND, f"the stuck reader is dropped within 1.25 keepalive_timeout + 0.75 s")
check(peak >= rss0 + 12 * MiB, f"the server held the message meanwhile (RSS peak {peak / MiB:.1f} MiB, "
      f"baseline {rss0 / MiB:.1f} MiB)")

# 3. Everything the connection held is given back.
deadline = time.monotonic() + 3
while True:
    rss1, threads1, fds1 = proc_status()
    if (rss1 <= rss0 + 4 * MiB and threads1 <= threads0 and fds1 <= fds0) or time.monotonic() > deadline:
        break
    time.sleep(0.05)
print(f"server after the drop: RSS {rss1 / MiB:.1f} MiB (baseline {rss0 / MiB:.1f}, peak {peak / MiB:.1f}), "
      f"threads {threads1} (baseline {threads0}), descriptors {fds1} (baseline {fds0})")
check(rss1 <= rss0 + 4 * MiB, "the server's RSS falls back within 4 MiB of the baseline")
check(threads1 <= threads0, "the connection's thread has ended")
check(fds1 <= fds0, "the connection's socket is closed")
log = server_log()
check("not reading" in log, "the server logs why it dropped the connection")
print("\n".join(line for line in log.splitlines() if "not reading" in line or "code 1006" in line))
check("closed: code 1006" in log, "the application saw the connection's Closed event (1006)")

# 4. The server still serves.
echo_check("fresh client", "hello")
echo_check("slow reader", os.urandom(8 * MiB), pause=TIMEOUT / 2)
print(f"stuck reader: {passed} passed, 0 failed")
PY
kill -0 "$PID" 2>/dev/null || { echo "echo_server died"; cat "$LOG"; exit 1; }
exit $rc
