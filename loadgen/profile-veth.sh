#!/usr/bin/env bash
# Where a relayed packet's CPU goes (issue #11): runs loadgen/bench-veth.sh
# for one backend at one call count, samples the relay process with
# `perf record -g` in the middle of the run, and prints the share of its
# samples in each bucket (inclusive, by kernel entry point or user-space
# function), and the same as CPU-µs per relayed packet.
#
#   loadgen/profile-veth.sh [BACKEND] [CALLS]     (default: xdp 1000)
#
# Buckets: user space by self time (release builds have no frame
# pointers, so user-space call chains are not reliable): all of it, the
# SRTP crypto, the relay decisions, the AF_XDP loop and frame code; kernel
# entry points inclusive (a sample can sit in several: the phones' receive
# runs inside the XSK send):
#   kernel: the XSK send (xsk_sendmsg: generic xmit, veth_xmit), the phones'
#   receive that veth runs in the sender's context (process_backlog: IP,
#   UDP, socket queueing in the phones' namespace), epoll/io_uring waits,
#   the batching tick's sleep, socket receive/send calls.
#
# Environment: DUR (12 s), PERF_SECS (5), RAMPART_BATCH_TICK_US (passed to
# the relay), plus bench-veth.sh's (SKIP_BUILD, CARGO_TARGET_DIR, ...).
# Needs root and linux-perf (installed if missing unless NO_INSTALL=1).
set -euo pipefail
cd "$(dirname "$0")/.."

BACKEND=${1:-xdp}
CALLS=${2:-1000}
DUR=${DUR:-12}
PERF_SECS=${PERF_SECS:-5}
OUT=${OUT:-target/relay-profile-veth}
mkdir -p "$OUT"

if ! command -v perf >/dev/null 2>&1; then
    [ "${NO_INSTALL:-0}" = 1 ] && { echo "profile-veth: perf not installed" >&2; exit 1; }
    timeout 300 apt-get install -y -qq linux-perf >/dev/null
fi

BACKENDS=$BACKEND CALLS=$CALLS DUR=$DUR STEP=0 RTPE=0 \
    RESULTS="$OUT/results" OUT="$OUT/bench" \
    timeout $((DUR + 300)) loadgen/bench-veth.sh >"$OUT/bench.log" 2>&1 &
BENCH=$!
trap 'kill $BENCH 2>/dev/null || true' EXIT

# Wait (bounded) for the load to start, then a little more.
pid=
for _ in $(seq 1 300); do
    if grep -q "$CALLS calls, $DUR s" "$OUT/bench.log" 2>/dev/null; then
        pid=$(pgrep -x rampart | head -n 1 || true)
        [ -n "$pid" ] && break
    fi
    sleep 0.2
done
[ -n "$pid" ] || { echo "profile-veth: the run did not start (see $OUT/bench.log)" >&2; exit 1; }
sleep 3
perf record -q -F 1999 -g -p "$pid" -o "$OUT/perf.data" -- sleep "$PERF_SECS" 2>/dev/null
wait $BENCH || true
trap - EXIT

# CPU-µs per packet of the whole run, from the bench table.
cpu=$(grep -E "^\| Rampart .*\| $CALLS \|" "$OUT/results/README.md" | head -n 1 | awk -F'|' '{print $(NF-3)}' | tr -d ' ')
echo "### Profile: Rampart $BACKEND, $CALLS calls, even pacing, relay process CPU-µs/packet ${cpu:-?}"
echo
echo "| bucket | share of the relay's samples | ≈ CPU-µs/packet |"
echo "|---|---:|---:|"
perf report -i "$OUT/perf.data" --children --sort symbol --stdio 2>/dev/null \
    | grep -E '^ +[0-9.]+% +[0-9.]+%' >"$OUT/children.txt" || true
perf report -i "$OUT/perf.data" --no-children --sort symbol --stdio 2>/dev/null \
    | grep -E '^ +[0-9.]+% ' >"$OUT/self.txt" || true
self_row() { # self_row LABEL PATTERN: the summed self % of the symbols matching PATTERN
    local s
    s=$(awk -v pat="$2" '$0 ~ pat {gsub("%","",$1); t += $1} END {printf "%.1f", t + 0}' "$OUT/self.txt")
    awk -v l="$1" -v s="$s" -v c="${cpu:-0}" 'BEGIN {printf "| %s | %s %% | %.2f |\n", l, s, s * c / 100}'
}
share() { # share PATTERN: the largest inclusive % of a symbol matching PATTERN
    awk -v pat="$1" '$0 ~ pat {gsub("%","",$1); if ($1 + 0 > m) m = $1 + 0} END {printf "%.1f", m + 0}' "$OUT/children.txt"
}
row() { # row LABEL PATTERN
    local s
    s=$(share "$2")
    awk -v l="$1" -v s="$s" -v c="${cpu:-0}" 'BEGIN {printf "| %s | %s %% | %.2f |\n", l, s, s * c / 100}'
}
self_row "user space, all (self time: Rampart and libc)" '\\[\\.\\]'
self_row "user: SRTP crypto (AES, HMAC-SHA1, GCM; protect/unprotect; self)" '\\[\\.\\].*(sha1|aes|Aes|protect_rtp|unprotect_rtp|hmac|Hmac|cm_iv|ring::|gcm|ghash)'
self_row "user: relay decisions and flow table (self)" '\\[\\.\\].*(CallState|worker::Table|relay::)'
self_row "user: AF_XDP backend loop and frame parse/write (self)" '\\[\\.\\].*(xdp::|XdpBackend|xsk::)'
row "kernel: XSK send (xsk_sendmsg, generic xmit, veth)" '\] xsk_sendmsg'
row "kernel: UDP socket send (udp_sendmsg)" '\] udp_sendmsg'
row "kernel: io_uring submit/wait (io_uring_enter)" '__x64_sys_io_uring_enter'
row "kernel: phones' receive run by veth in our context (process_backlog)" '\] process_backlog'
row "kernel: epoll_wait" 'do_epoll_wait'
row "kernel: batching-tick sleep (nanosleep)" 'hrtimer_nanosleep'
row "kernel: socket receive (recvmmsg / recvmsg)" '__sys_recvmmsg|io_recvmsg'
echo
echo "Samples: $(perf report -i "$OUT/perf.data" --stdio 2>/dev/null | grep -m1 -E '^# Samples' | sed 's/^# //'). perf data: $OUT/perf.data"
