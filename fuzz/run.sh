#!/usr/bin/env bash
# Builds and runs every fuzz target (or the ones named) for SECONDS each.
#
#   fuzz/run.sh SECONDS [TARGET...]
#
# Before running, the committed seeds (fuzz/seeds/<target>/) are copied into
# the working corpus fuzz/corpus/<target>/ (gitignored), which keeps what the
# fuzzer finds between runs. SECONDS = 0 builds and replays each corpus once
# (-runs=0) without fuzzing. Prints the executions per target from
# libFuzzer's final stats; exits non-zero if any target crashes, leaks, times
# out or fails to build. Crash inputs land in fuzz/artifacts/<target>/.
#
# Environment: FUZZ_SANITIZER and FUZZ_FEATURES (see build.sh), FUZZ_ARGS (extra libFuzzer
# options, e.g. "-max_len=65536").
set -euo pipefail
cd "$(dirname "$0")"

if [ $# -lt 1 ] || ! [[ "$1" =~ ^[0-9]+$ ]]; then
    echo "usage: $0 SECONDS [TARGET...]" >&2
    exit 2
fi
secs=$1
shift

./build.sh
features=()
[ -n "${FUZZ_FEATURES:-}" ] && features=(--features "$FUZZ_FEATURES")
: "${FUZZ_SANITIZER:=none}"
[ "$FUZZ_SANITIZER" != none ] && export RUSTC_BOOTSTRAP=1

if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

mkdir -p target/logs
# Targets run FUZZ_JOBS at a time (default: the number of cores): each
# libFuzzer process is single-threaded, so on 2 cores two targets take the
# wall time of one.
: "${FUZZ_JOBS:=$(nproc 2>/dev/null || echo 1)}"

# Runs one target; writes its summary line to target/logs/<t>.result and
# exits with the fuzzer's status.
run_one() {
    local t=$1 log="target/logs/$1.log" rc execs rate
    local -a limit
    mkdir -p "corpus/$t"
    if [ -d "seeds/$t" ]; then
        cp -f seeds/"$t"/* "corpus/$t/"
    fi
    if [ "$secs" -eq 0 ]; then
        limit=(-runs=0)
    else
        limit=(-max_total_time="$secs")
    fi
    echo "== $t: ${limit[*]}"
    set +e
    # shellcheck disable=SC2086 # FUZZ_ARGS is a list of options
    cargo fuzz run --sanitizer "$FUZZ_SANITIZER" "${features[@]}" "$t" "corpus/$t" -- \
        "${limit[@]}" -timeout=10 -print_final_stats=1 ${FUZZ_ARGS:-} >"$log" 2>&1
    rc=$?
    set -e
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n1)
    if [ "$rc" -ne 0 ]; then
        printf '%-14s FAILED (exit %s), log: fuzz/%s\n' "$t" "$rc" "$log" >"target/logs/$t.result"
        {
            echo "-- $t failed; the end of its log:"
            tail -n 40 "$log"
            ls -1 "artifacts/$t" 2>/dev/null | sed 's/^/   artifact: /' || true
        } >&2
    else
        printf '%-14s %12s execs %8s execs/s  corpus %s files\n' \
            "$t" "${execs:-?}" "${rate:-?}" "$(find "corpus/$t" -type f | wc -l)" >"target/logs/$t.result"
    fi
    return "$rc"
}

failed=()
summary=()
for t in "${targets[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$FUZZ_JOBS" ]; do
        wait -n || true
    done
    rm -f "target/logs/$t.result"
    run_one "$t" &
done
wait || true
# A target failed if its run said so or left no result.
for t in "${targets[@]}"; do
    result=$(cat "target/logs/$t.result" 2>/dev/null || echo "$t FAILED (no result)")
    summary+=("$result")
    case "$result" in *FAILED*) failed+=("$t") ;; esac
done

echo
echo "== fuzz summary (${secs}s per target, sanitizer: $FUZZ_SANITIZER)"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
    echo "FAILED: ${failed[*]}"
    exit 1
fi
