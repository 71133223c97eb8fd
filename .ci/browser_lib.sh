# Sourced by .ci/browser.sh and .ci/browser_h2.sh: the steps their real-browser
# end-to-end tests share. Works from a clean clone on a fresh machine: installs
# Chromium from Debian if it is missing, `npm ci` in browser/ (Playwright never
# downloads a browser), builds the release example, runs the test. Every step
# is bounded by a timeout.
#
#   browser_e2e LABEL TEST BUILD_TIMEOUT CARGO_ARGS...
#
# LABEL is the test's summary label: the last line of output is
# `LABEL: N passed, N failed` (this function prints `LABEL: 0 passed, 1 failed`
# when the test was killed before it printed its own); TEST the node script
# under browser/; CARGO_ARGS build the server it runs. Exits with the test's
# status, non-zero on failure.

browser_e2e() {
  local label=$1 test=$2 build_timeout=$3
  shift 3
  local script out rc s
  script=$(basename "$0")
  cd "$(dirname "${BASH_SOURCE[0]}")/.."
  export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 CARGO_TERM_COLOR=never
  export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
  local t0=$SECONDS
  lap() { printf '[%s %4ss] %s\n' "$script" "$((SECONDS - t0))" "$*"; }

  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo -n)

  if [ ! -x "$CHROMIUM" ]; then
    lap "no $CHROMIUM: installing Debian's chromium"
    s=$SECONDS
    local apt_log="/tmp/$label-apt.log"
    timeout 600 "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive timeout 900 "${sudo[@]}" apt-get install -y -qq --no-install-recommends chromium >"$apt_log" 2>&1 ||
      { tail -30 "$apt_log"; echo "apt-get install chromium failed"; exit 1; }
    lap "chromium installed in $((SECONDS - s)) s"
  fi
  "$CHROMIUM" --version 2>/dev/null | head -1 || true

  lap "npm ci in browser/"
  s=$SECONDS
  (cd browser && timeout 600 npm ci --no-audit --no-fund --loglevel=error)
  lap "npm ci took $((SECONDS - s)) s"

  lap "cargo $*"
  s=$SECONDS
  timeout "$build_timeout" cargo "$@"
  lap "build took $((SECONDS - s)) s"

  lap "node browser/$test (it prints its own time; its summary is the last line)"
  out=$(mktemp)
  # shellcheck disable=SC2064 # $out is expanded now, on purpose
  trap "rm -f '$out'" EXIT
  set +e
  timeout -k 10 300 node "browser/$test" 2>&1 | tee "$out"
  rc=${PIPESTATUS[0]}
  set -e
  if ! tail -n 1 "$out" | grep -q "^$label: [0-9]* passed, [0-9]* failed\$"; then
    # Killed (timeout(1), its SIGKILL after -k) before it printed its summary.
    echo "$script: node browser/$test ended with status $rc and no summary"
    echo "$label: 0 passed, 1 failed"
    [ "$rc" -ne 0 ] || rc=1
  fi
  exit "$rc"
}
