#!/usr/bin/env bash
# Real-browser end-to-end test of WebSockets over HTTP/2 (RFC 8441): the
# wsmachine-tokio example h2_server in Debian's Chromium driven by
# playwright-core (browser/h2_test.mjs). From a clean clone: installs Chromium
# if missing, `npm ci` in browser/, builds the release h2_server, runs the
# test, each step bounded (.ci/browser_lib.sh).
# Last line of output: `browser-h2: N passed, N failed`; non-zero exit on failure.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/browser_lib.sh"
browser_e2e browser-h2 h2_test.mjs 1800 build --release -p wsmachine-tokio --features http2,rustls,deflate --example h2_server
