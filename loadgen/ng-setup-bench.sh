#!/usr/bin/env bash
# Call-setup benchmark over UDP ng (issue 4): the same client
# (engine/examples/ng_setup_bench.rs) measures offer+answer+delete against an
# in-process Rampart node and then against rtpengine 10.5 (userspace, one
# thread), in one run, and prints both tables. Bounded; loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
CALLS=${CALLS:-10000}
NG_PORT=${NG_PORT:-22230}
TARGET_DIR=${CARGO_TARGET_DIR:-target}
command -v rtpengine >/dev/null 2>&1 || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rtpengine-daemon >/dev/null
}
cargo build -q --release -p rampart --example ng_setup_bench
BENCH="$TARGET_DIR/release/examples/ng_setup_bench"
echo "### Rampart (in-process node, 2 workers)"
timeout 300 "$BENCH" "$CALLS" savp
rtpengine --config-file=none --foreground --table=-1 --interface=127.0.0.1 \
  --listen-ng=127.0.0.1:$NG_PORT --port-min=40000 --port-max=59999 \
  --num-threads=1 --delete-delay=0 --log-level=3 --log-stderr 2>/dev/null &
RTPE=$!
trap 'kill $RTPE 2>/dev/null || true' EXIT
sleep 1
echo "### rtpengine 10.5 (userspace, 1 thread)"
timeout 300 "$BENCH" "$CALLS" savp "127.0.0.1:$NG_PORT"
