#!/usr/bin/env bash
# Instructions per message and per payload byte, counted by callgrind, and
# allocation calls per message, for one implementation (default: wsmachine)
# on W1, W5s, W3, W4m and W6 (or the workloads named in $WORKLOADS). Only the
# driver run is counted (--toggle-collect), not generating the input. W6's
# messages are handshakes and its payload bytes the requests' bytes.
#
#   bash benches/rivals/callgrind.sh                 # wsmachine
#   bash benches/rivals/callgrind.sh tungstenite     # or any id `table --help` lists
#   WORKLOADS="W2 W4" bash benches/rivals/callgrind.sh
#   WORKLOADS=W6 bash benches/rivals/callgrind.sh tokio-websockets
#
# Needs valgrind (apt-get install valgrind). Under valgrind a `rep movsb`
# counts once per byte, so for large messages Ir/byte is roughly the number
# of times each byte is copied plus the per-byte work (unmask, validate).
set -euo pipefail
cd "$(dirname "$0")/../.."
IMPL="${1:-wsmachine}"
WORKLOADS="${WORKLOADS:-W1 W5s W3 W4m W6}"
cargo build --profile rivals -p wsmachine-rivals --bin table >&2
TARGET=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
BIN="$TARGET/rivals/table"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
printf '| workload | implementation | instructions | per message | per payload byte | allocations per message |\n| --- | --- | ---: | ---: | ---: | ---: |\n'
for W in $WORKLOADS; do
    if ! valgrind --tool=callgrind --toggle-collect='*callgrind_region*' \
        --callgrind-out-file="$TMP/$W.out" "$BIN" --callgrind "$W" --impl "$IMPL" 2>"$TMP/$W.log"; then
        echo "| $W | $IMPL | failed: $(grep -m1 'panicked\|does not run' "$TMP/$W.log" || true) | | | |"
        continue
    fi
    ir=$(callgrind_annotate "$TMP/$W.out" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
    msgs=$(sed -n 's/.*messages=\([0-9]*\).*/\1/p' "$TMP/$W.log")
    bytes=$(sed -n 's/.*payload_bytes=\([0-9]*\).*/\1/p' "$TMP/$W.log")
    allocs=$(sed -n 's/.*allocations=\([0-9]*\).*/\1/p' "$TMP/$W.log")
    awk -v w="$W" -v i="$IMPL" -v ir="$ir" -v m="$msgs" -v b="$bytes" -v a="$allocs" \
        'BEGIN { printf "| %s | %s | %.0f | %.1f | %.3f | %.2f |\n", w, i, ir, ir / m, ir / b, a / m }'
done
