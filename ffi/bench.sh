#!/usr/bin/env bash
# protect/unprotect through librampart's C ABI beside the system libsrtp2, and
# the same loops in Rust directly (the ABI's cost). Release build; not in CI.
#   ffi/bench.sh            (needs libsrtp2-dev and pkg-config)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --release -p rampart-ffi --lib --example bench_direct
out="$CARGO_TARGET_DIR/release/rampart-ffi-bench"
mkdir -p "$out/lib"
cp "$CARGO_TARGET_DIR/release/librampart_ffi.so" "$out/lib/librampart.so.0"
ln -sf librampart.so.0 "$out/lib/librampart.so"
cc -std=c11 -O2 -Wall -Wextra -I ffi/include ffi/bench/bench.c -o "$out/bench" \
   -L "$out/lib" -lrampart $(pkg-config --cflags --libs libsrtp2)
"$CARGO_TARGET_DIR/release/examples/bench_direct" > "$out/direct.txt"  # its stderr: same-process Rust vs C ABI table
echo
LD_LIBRARY_PATH="$out/lib" "$out/bench" "$out/direct.txt"
