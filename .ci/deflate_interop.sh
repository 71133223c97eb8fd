#!/usr/bin/env bash
# permessage-deflate interop against Python's `websockets` (tests/interop_deflate.rs
# with tests/peers/ws_deflate_peer.py). Creates a throwaway venv with
# `websockets` if it is missing (about 7 s with PyPI reachable), then runs the
# tests with WSMACHINE_PY_PEER pointing at its Python. Prints a final
# `N passed, N failed` line.
#
#   bash .ci/deflate_interop.sh            # venv in ~/.cache/wsmachine-deflate-peer
#   WSMACHINE_DEFLATE_VENV=/tmp/v bash .ci/deflate_interop.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
VENV=${WSMACHINE_DEFLATE_VENV:-$HOME/.cache/wsmachine-deflate-peer}
PY=$VENV/bin/python
start=$SECONDS

if ! "$PY" -c 'import websockets' 2>/dev/null; then
  echo "=== creating $VENV with websockets"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check websockets==17.4
  echo "=== venv ready in $((SECONDS - start)) s"
fi
echo "=== websockets $("$PY" -c 'import websockets; print(websockets.__version__)')"

log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
WSMACHINE_PY_PEER=$PY cargo test --features deflate --test interop_deflate -- --nocapture 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
passed=$(grep -Eo '[0-9]+ passed' "$log" | awk '{s += $1} END {print s + 0}')
failed=$(grep -Eo '[0-9]+ failed' "$log" | awk '{s += $1} END {print s + 0}')
if grep -q '^skipped:' "$log"; then
  echo "interop tests were skipped: the peer's Python was not found" >&2
  status=1
fi
echo "=== $((SECONDS - start)) s in all"
echo "deflate interop: $passed passed, $failed failed"
exit "$status"
