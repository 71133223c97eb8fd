#!/usr/bin/env bash
# Run Autobahn|Testsuite against wsmachine's examples, then check the results.
#   autobahn/run.sh server|client [case-pattern...]
# Env: AUTOBAHN_IMPL     which testees: core (default: examples/autobahn_ROLE.rs, agent
#                        wsmachine, reports/ROLE) or tokio (the adapter's
#                        wsmachine-tokio/examples/autobahn_tokio_ROLE.rs, agent
#                        wsmachine-tokio, reports/tokio-ROLE)
#      AUTOBAHN_TESTEE   testee command (default: the role's release example binary)
#      AUTOBAHN_AGENT    agent name (default: the IMPL's; a client testee must use the same)
#      AUTOBAHN_OUT      report folder (default: the IMPL's), so that runs do not collide
#      AUTOBAHN_CASES    case patterns, space-separated (arguments win)
#      AUTOBAHN_TIMEOUT  seconds for the whole suite run (default 1800)
#      AUTOBAHN_PORT     the port of the run (default 9001), so both roles can run at once
#      AUTOBAHN_CHECK=0  skip check.py at the end
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
ROLE=${1:-}; shift || true
case "$ROLE" in server|client) ;; *) echo "usage: $0 server|client [case-pattern...]" >&2; exit 2 ;; esac

case "${AUTOBAHN_IMPL:=core}" in
  core) EXAMPLE=autobahn_$ROLE; AGENT=wsmachine; OUT="$HERE/reports/$ROLE"
    BUILD="cargo build --release --features deflate --example $EXAMPLE" ;;
  tokio) EXAMPLE=autobahn_tokio_$ROLE; AGENT=wsmachine-tokio; OUT="$HERE/reports/tokio-$ROLE"
    BUILD="cargo build --release -p wsmachine-tokio --features deflate --example $EXAMPLE" ;;
  *) echo "AUTOBAHN_IMPL must be core or tokio, not '$AUTOBAHN_IMPL'" >&2; exit 2 ;;
esac
AGENT=${AUTOBAHN_AGENT:-$AGENT}; OUT=${AUTOBAHN_OUT:-$OUT}
PORT=${AUTOBAHN_PORT:-9001}; URL=ws://127.0.0.1:$PORT
DEFAULT_CASES="1.* 2.* 3.* 4.* 5.* 6.* 7.* 9.* 10.* 12.* 13.*"  # 12.*, 13.*: permessage-deflate (build with --features deflate)
read -ra CASES <<< "${*:-${AUTOBAHN_CASES:-$DEFAULT_CASES}}"
BIN="$ROOT/target/release/examples/$EXAMPLE"
TESTEE=${AUTOBAHN_TESTEE:-$(printf %q "$BIN")}
TIMEOUT=${AUTOBAHN_TIMEOUT:-1800}

log() { echo "[autobahn/run] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

"$HERE/install.sh"
WSTEST="${AUTOBAHN_VENV:-${AUTOBAHN_CACHE:-$HOME/.cache/wsmachine-autobahn}/venv}/bin/wstest"
[ "${AUTOBAHN_TESTEE+set}" ] || [ -x "$BIN" ] ||
  die "$BIN not found: run '$BUILD' first"
(exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && die "port $PORT is already in use"

BG= FG=  # process groups of the background (testee or fuzzing server) and foreground steps
stop() {  # stop PGID: TERM, then KILL after 5 s
  kill -TERM -- "-$1" 2>/dev/null || return 0
  for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 -- "-$1" 2>/dev/null || return 0; sleep 0.5; done
  kill -KILL -- "-$1" 2>/dev/null || true
}
cleanup() { [ -z "$FG" ] || stop "$FG"; [ -z "$BG" ] || stop "$BG"; FG= BG=; }
trap cleanup EXIT
trap 'exit 130' INT TERM

start_bg() {  # start_bg LOGFILE CMD...: own process group, so cleanup kills all of it
  setsid "${@:2}" >"$1" 2>&1 & BG=$!
  for _ in $(seq 100); do  # up to 20 s for the port
    (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && return 0
    kill -0 "$BG" 2>/dev/null || { cat "$1" >&2; die "'${*:2}' exited before listening on $PORT"; }
    sleep 0.2
  done
  cat "$1" >&2; die "nothing listens on $PORT after 20 s"
}

run_fg() {  # run_fg LOGFILE CMD...: bounded by TIMEOUT; `wait` lets a signal stop it at once
  timeout -k 5 "$TIMEOUT" "${@:2}" >"$1" 2>&1 & FG=$!  # timeout leads its own process group
  local rc=0; wait "$FG" || rc=$?
  FG=; return "$rc"
}

# A folder of an earlier run (it has a spec.json) is replaced; nothing else is removed.
[ ! -d "$OUT" ] || [ -f "$OUT/spec.json" ] || [ -z "$(ls -A "$OUT")" ] ||
  die "$OUT exists and is not an Autobahn report folder"
rm -rf "$OUT"; mkdir -p "$OUT"
cases_json=$(printf '"%s",' "${CASES[@]}"); cases_json="[${cases_json%,}]"
log "role=$ROLE agent=$AGENT cases=$cases_json testee=$TESTEE port=$PORT timeout=${TIMEOUT}s"
t0=$SECONDS
if [ "$ROLE" = server ]; then
  cat > "$OUT/spec.json" <<JSON
{"outdir": "$OUT", "servers": [{"agent": "$AGENT", "url": "$URL"}],
 "cases": $cases_json, "exclude-cases": [], "exclude-agent-cases": {}}
JSON
  start_bg "$OUT/testee.log" bash -c "exec $TESTEE \"\$@\"" testee "127.0.0.1:$PORT"
  log "testee up (pid $BG); running wstest -m fuzzingclient"
  run_fg "$OUT/wstest.log" "$WSTEST" -m fuzzingclient -s "$OUT/spec.json" ||
    { rc=$?; tail -20 "$OUT/wstest.log" >&2; die "wstest fuzzingclient failed (rc=$rc; 124 = timeout)"; }
  kill -0 "$BG" 2>/dev/null || { tail -20 "$OUT/testee.log" >&2; die "testee died during the run (crash?)"; }
else
  cat > "$OUT/spec.json" <<JSON
{"url": "$URL", "outdir": "$OUT", "cases": $cases_json, "exclude-cases": [], "exclude-agent-cases": {}}
JSON
  # -u 0: no embedded web page (it would otherwise listen on port 8080).
  start_bg "$OUT/wstest.log" "$WSTEST" -m fuzzingserver -s "$OUT/spec.json" -u 0
  log "fuzzing server up (pid $BG); running the testee client"
  run_fg "$OUT/testee.log" bash -c "exec $TESTEE \"\$@\"" testee "$URL" ||
    { rc=$?; tail -20 "$OUT/testee.log" >&2; die "testee client failed (rc=$rc; 124 = timeout)"; }
  kill -0 "$BG" 2>/dev/null || { tail -20 "$OUT/wstest.log" >&2; die "the fuzzing server died during the run"; }
fi
log "suite done in $((SECONDS - t0)) s; reports in $OUT"
[ -s "$OUT/index.json" ] || die "no $OUT/index.json was written"
cleanup
[ "${AUTOBAHN_CHECK:-1}" = 0 ] || python3 "$HERE/check.py" "$ROLE" --agent "$AGENT" --report "$OUT/index.json"
