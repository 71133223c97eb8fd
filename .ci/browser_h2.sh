#!/usr/bin/env bash
# Real-browser end-to-end test of WebSockets over HTTP/2 (RFC 8441): the
# wsmachine-tokio example h2_server in Debian's Chromium driven by
# playwright-core (browser/h2_test.mjs). Works from a clean clone on a fresh
# machine: installs Chromium from Debian if it is missing, `npm ci` in
# browser/ (Playwright never downloads a browser), builds the release
# h2_server, runs the test. Every step is bounded by a timeout.
# Last line of output: `browser-h2: N passed, N failed`; non-zero exit on failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 CARGO_TERM_COLOR=never
export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
t0=$SECONDS
lap() { printf '[browser_h2.sh %4ss] %s\n' "$((SECONDS - t0))" "$*"; }

SUDO=()
[ "$(id -u)" -eq 0 ] || SUDO=(sudo -n)

if [ ! -x "$CHROMIUM" ]; then
  lap "no $CHROMIUM: installing Debian's chromium"
  s=$SECONDS
  timeout 600 "${SUDO[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive timeout 900 "${SUDO[@]}" apt-get install -y -qq --no-install-recommends chromium >/tmp/browser-h2-apt.log 2>&1 ||
    { tail -30 /tmp/browser-h2-apt.log; echo "apt-get install chromium failed"; exit 1; }
  lap "chromium installed in $((SECONDS - s)) s"
fi
"$CHROMIUM" --version 2>/dev/null | head -1 || true

lap "npm ci in browser/"
s=$SECONDS
(cd browser && timeout 600 npm ci --no-audit --no-fund --loglevel=error)
lap "npm ci took $((SECONDS - s)) s"

lap "cargo build --release -p wsmachine-tokio --features http2,rustls,deflate --example h2_server"
s=$SECONDS
timeout 1800 cargo build --release -p wsmachine-tokio --features http2,rustls,deflate --example h2_server
lap "build took $((SECONDS - s)) s"

lap "node browser/h2_test.mjs (it prints its own time; its summary is the last line)"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
set +e
timeout -k 10 300 node browser/h2_test.mjs 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
set -e
if ! tail -n 1 "$out" | grep -q '^browser-h2: [0-9]* passed, [0-9]* failed$'; then
  # Killed (timeout(1), its SIGKILL after -k) before it printed its summary.
  echo "browser_h2.sh: node browser/h2_test.mjs ended with status $rc and no summary"
  echo "browser-h2: 0 passed, 1 failed"
  [ "$rc" -ne 0 ] || rc=1
fi
exit "$rc"
