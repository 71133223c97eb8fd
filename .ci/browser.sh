#!/usr/bin/env bash
# Real-browser end-to-end test of the echo_server example and its page, in
# Debian's Chromium driven by playwright-core (browser/test.mjs). From a clean
# clone: installs Chromium if missing, `npm ci` in browser/, builds the
# release echo_server, runs the test, each step bounded (.ci/browser_lib.sh).
# Last line of output: `browser: N passed, N failed`; non-zero exit on failure.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/browser_lib.sh"
browser_e2e browser test.mjs 1200 build --release --example echo_server
