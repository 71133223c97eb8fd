#!/usr/bin/env bash
# Starts the echo_server example, serves its page over plain HTTP, then has the
# client example connect, send two lines, get them echoed and close with 4000.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ADDR=127.0.0.1:9011
LOG=$(mktemp)
./target/release/examples/echo_server "$ADDR" >"$LOG" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true; rm -f "$LOG"' EXIT
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/9011) 2>/dev/null && break; sleep 0.1; done

page=$(timeout 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/9011; printf 'GET / HTTP/1.1\r\nHost: $ADDR\r\n\r\n' >&3; cat <&3")
grep -q '^HTTP/1.1 200 OK' <<<"$page" || { echo "echo_server did not serve its page:"; echo "$page" | head -5; exit 1; }
grep -q 'new WebSocket' <<<"$page" || { echo "the page lacks its WebSocket script"; exit 1; }

out=$(printf 'hello\nκόσμε\n' | timeout 20 ./target/release/examples/client "ws://$ADDR/" 4000 "smoke done")
echo "$out"
expected='open (protocol None)
message: Text("hello")
message: Text("κόσμε")
closed: code 4000 reason "smoke done" was_clean true error None'
[ "$out" = "$expected" ] || { echo "unexpected client output; expected:"; echo "$expected"; exit 1; }
sleep 0.2
grep -q 'closed: code 4000 reason "smoke done" was_clean true' "$LOG" || { echo "server log lacks the Closed event:"; cat "$LOG"; exit 1; }
echo "echo smoke: 1 passed, 0 failed"
