#!/usr/bin/env bash
# Builds every fuzz target on the stable toolchain, installing cargo-fuzz
# first if it is missing. For CI: `bash fuzz/build.sh`.
#
# Environment:
#   FUZZ_SANITIZER      none (default) or address, leak, ...: address needs
#                       nightly-only rustc flags, so it sets RUSTC_BOOTSTRAP=1
#   CARGO_FUZZ_VERSION  the cargo-fuzz to install when missing (default 0.13.2)
#   FUZZ_FEATURES       features of the fuzz crate to build with (e.g.
#                       avx512-utf8); none by default
set -euo pipefail
cd "$(dirname "$0")"

: "${FUZZ_SANITIZER:=none}"
: "${CARGO_FUZZ_VERSION:=0.13.2}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz $CARGO_FUZZ_VERSION"
    cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
fi

if [ "$FUZZ_SANITIZER" != none ]; then
    # -Zsanitizer is nightly-only: let the stable compiler accept it.
    export RUSTC_BOOTSTRAP=1
fi
# Cargo caches the compiler's answers about the target in this file without
# regard to RUSTC_BOOTSTRAP, so a probe that failed without it keeps failing.
rm -f target/.rustc_info.json

echo "== $(rustc --version), $(cargo fuzz --version), sanitizer: $FUZZ_SANITIZER"
features=()
[ -n "${FUZZ_FEATURES:-}" ] && features=(--features "$FUZZ_FEATURES")
echo "== features: ${FUZZ_FEATURES:-(none)}"
cargo fuzz build --sanitizer "$FUZZ_SANITIZER" "${features[@]}"
