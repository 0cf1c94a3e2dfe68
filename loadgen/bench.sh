#!/usr/bin/env bash
# Relay benchmark (issues 3, 11): Rampart with one worker, then rtpengine in
# userspace with one thread, each relaying the same G.711 SRTP calls
# (leg A AES_CM_128_HMAC_SHA1_80, leg B AES_CM_128_HMAC_SHA1_32, so every
# packet is decrypted and re-encrypted), driven by rampart-loadgen on
# loopback. The headline runs use even pacing (`--pacing even`: every
# packet leaves at its own due time, one datagram per send, as independent
# phones send); the same calls with burst pacing (each slot's packets in
# one sendmmsg, so the relay batches for free) are shown beside them.
# Prints one markdown table with a ratio row (rtpengine CPU-µs per
# relayed packet over Rampart's); then the same calls with plain RTP on
# both legs on both relays (the I/O alone), Rampart's verified passthrough
# and its mmsg backend, and `udp-floor` (what one UDP send + receive costs
# the kernel here, the floor under both relays); then a step search for
# the highest call count Rampart relays with no loss.
#
# Bounded: every daemon and every loadgen run under `timeout`; both daemons
# are killed on exit (trap). Loopback only. Total about 5 minutes once
# built.
#
# Results: the JSON reports and logs in OUT; in RESULTS (loadgen/results)
# the JSON reports, one HTML report per run, a comparison HTML per call
# count (`rampart-loadgen compare`), the table (README.md) and the chosen
# picture rampart-vs-rtpengine.svg (CPU-µs per packet at the largest call
# count; a PNG beside it when rsvg-convert is installed). Only README.md
# and the picture are tracked (see results/.gitignore).
#
# Environment: CALLS ("100 1000"), DUR (10 s per run), STEP=0 skips the step
# search, STEP_DUR (5 s per step), STEP_START (200), STEP_MAX (4800: the port range holds 5,000 calls),
# STEP_STEPS (5), NICE (-10), LOSS (loss threshold % for the step search, 0 = no loss),
# OUT (target/relay-bench), RESULTS (loadgen/results), LG_THREADS (1 loadgen
# player thread, as in earlier measurements), BACKEND (auto: Rampart's
# backend for the headline runs), MMSG=0 skips the mmsg-backend runs,
# BURST=0 skips the burst-pacing runs, TICKS ("0 50 100 200": the
# load-adaptive batching ticks to sweep, µs; empty skips the sweep),
# SKIP_BUILD=1, NO_INSTALL=1.
set -euo pipefail
cd "$(dirname "$0")/.."

CALLS=${CALLS:-"100 1000"}
DUR=${DUR:-10}
STEP=${STEP:-1}
STEP_DUR=${STEP_DUR:-5}
STEP_START=${STEP_START:-200}
STEP_MAX=${STEP_MAX:-4800}
STEP_STEPS=${STEP_STEPS:-5}
LOSS=${LOSS:-0}
OUT=${OUT:-target/relay-bench}
RESULTS=${RESULTS:-loadgen/results}
LG_THREADS=${LG_THREADS:-1}
HTTP_PORT=${HTTP_PORT:-22230}
NG_PORT=${NG_PORT:-22240}
RUN_LIMIT=$((DUR + 90))
# Both relays and loadgen run at this niceness (root: negative is allowed),
# so background work on a shared machine disturbs them less.
NICE=${NICE:--10}
NI=(nice -n "$NICE")

TARGET_DIR=${CARGO_TARGET_DIR:-target}
LOADGEN=$TARGET_DIR/release/rampart-loadgen
RAMPART=$TARGET_DIR/release/rampart
RAMPART_PID=
RTPE_PID=

cleanup() {
    for p in $RAMPART_PID $RTPE_PID; do
        kill "$p" 2>/dev/null || true
    done
    sleep 0.3
    for p in $RAMPART_PID $RTPE_PID; do
        kill -9 "$p" 2>/dev/null || true
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "bench: $*" >&2; }

# shellcheck source=loadgen/bench-common.sh
. loadgen/bench-common.sh

# ---- install and build ----------------------------------------------------
have_rtpengine=1
ensure_rtpengine || have_rtpengine=0
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    log "building release binaries"
    timeout 1200 cargo build --release -q -p rampart -p rampart-loadgen
fi
mkdir -p "$OUT" "$RESULTS"
rm -f "$OUT"/*.json "$RESULTS"/*.json "$RESULTS"/*.html

# A node whose security policy admits SRTP: mixed cluster mode, a fresh
# trust list (two tokens), and one registered device every leg names.
# (Skipped when this rampart has no `ctl` command: no policy to satisfy.)
RCONF=()
DEV=()
SEC=$(cd "$OUT" && pwd)/security
rm -rf "$SEC"
mkdir -p "$SEC"
: >"$SEC/rampart.toml"
if append_security_config "$RAMPART" "$SEC" "$SEC/rampart.toml"; then
    RCONF=(--config "$SEC/rampart.toml")
    DEV=(--device LOADGEN-7970)
fi

# One loadgen run: run_one TARGET LABEL PID CALLS STEM [EXTRA...]
run_one() {
    local target=$1 label=$2 pid=$3 n=$4 stem=$5
    shift 5
    log "$label: $n calls, $DUR s"
    timeout "$RUN_LIMIT" "${NI[@]}" "$LOADGEN" run --target "$target" --label "$label" --pid "$pid" \
        --calls "$n" --duration "$DUR" --profile g711 --threads "$LG_THREADS" --no-progress \
        --json "$OUT/$stem.json" --html "$RESULTS/$stem.html" "$@" >&2
    cp "$OUT/$stem.json" "$RESULTS/$stem.json"
}

# ---- Rampart, one worker ----------------------------------------------------
# start_rampart BACKEND: a node with one worker; sets RAMPART_PID and RP.
start_rampart() {
    log "starting Rampart (1 worker, backend $1 ${*:2}) on 127.0.0.1:$HTTP_PORT"
    timeout 900 "${NI[@]}" "$RAMPART" run "${RCONF[@]}" --workers 1 --backend "$1" "${@:2}" \
        --http-listen "127.0.0.1:$HTTP_PORT" \
        --media-address 127.0.0.1 --port-min 20000 --port-max 39999 \
        --max-calls 20000 --log-level warn >"$OUT/rampart-$1.log" 2>&1 &
    RAMPART_PID=$!
    wait_for "Rampart" curl -sf "http://127.0.0.1:$HTTP_PORT/health"
    # `timeout` forks: measure the rampart process itself.
    RP=$(pgrep -P "$RAMPART_PID" -x rampart || echo "$RAMPART_PID")
}
stop_rampart() {
    kill "$RAMPART_PID" 2>/dev/null || true
    wait "$RAMPART_PID" 2>/dev/null || true
    RAMPART_PID=
}

RH="rampart-http=127.0.0.1:$HTTP_PORT"
files=()      # re-keyed SRTP, both relays, even pacing: the headline table
burst_files=() # the same, burst pacing
rtp_files=()  # plain RTP on both legs, both relays
var_files=()  # Rampart's other paths
if [ "${MMSG:-1}" = 1 ]; then
    start_rampart mmsg
    for n in $CALLS; do
        run_one "$RH" "Rampart, mmsg backend" "$RP" "$n" "rampart-mmsg-$n" "${DEV[@]}"
        var_files+=("$OUT/rampart-mmsg-$n.json")
        sleep 0.5
    done
    stop_rampart
fi
start_rampart "${BACKEND:-auto}"
for n in $CALLS; do
    run_one "$RH" "Rampart (1 worker)" "$RP" "$n" "rampart-$n" "${DEV[@]}"
    files+=("$OUT/rampart-$n.json")
    sleep 0.5
    if [ "${BURST:-1}" = 1 ]; then
        run_one "$RH" "Rampart (1 worker)" "$RP" "$n" "rampart-burst-$n" "${DEV[@]}" --pacing burst
        burst_files+=("$OUT/rampart-burst-$n.json")
        sleep 0.5
    fi
    run_one "$RH" "Rampart, verified passthrough" "$RP" "$n" "rampart-passthrough-$n" \
        "${DEV[@]}" --passthrough
    var_files+=("$OUT/rampart-passthrough-$n.json")
    sleep 0.5
    run_one "$RH" "Rampart, RTP both legs" "$RP" "$n" "rampart-rtp-$n" --mode-a rtp --mode-b rtp
    rtp_files+=("$OUT/rampart-rtp-$n.json")
    sleep 0.5
done

stop_rampart

# ---- load-adaptive batching: the same re-keyed calls at each batching tick ---
tick_files=()
for t in ${TICKS-0 50 100 200}; do
    start_rampart "${BACKEND:-auto}" --batch-tick-us "$t"
    for n in $CALLS; do
        run_one "$RH" "Rampart, batch tick $t µs" "$RP" "$n" "rampart-tick$t-$n" "${DEV[@]}"
        tick_files+=("$OUT/rampart-tick$t-$n.json")
        sleep 0.5
    done
    stop_rampart
done
start_rampart "${BACKEND:-auto}"

# ---- rtpengine, userspace, one thread ---------------------------------------
if [ "$have_rtpengine" = 1 ]; then
    log "starting rtpengine (userspace, 1 thread) on 127.0.0.1:$NG_PORT"
    timeout 900 "${NI[@]}" rtpengine --config-file=none --foreground --table=-1 \
        --interface=127.0.0.1 --listen-ng="127.0.0.1:$NG_PORT" \
        --port-min=40000 --port-max=59999 --num-threads=1 --delete-delay=0 \
        --timeout=60 --log-stderr --log-level=4 >"$OUT/rtpengine.log" 2>&1 &
    RTPE_PID=$!
    sleep 0.5
    EP=$(pgrep -P "$RTPE_PID" -x rtpengine || echo "$RTPE_PID")
    wait_for "rtpengine" kill -0 "$EP"
    for n in $CALLS; do
        run_one "ng=127.0.0.1:$NG_PORT" "rtpengine (userspace, 1 thread)" "$EP" "$n" "rtpengine-$n"
        files+=("$OUT/rtpengine-$n.json")
        sleep 0.5
        if [ "${BURST:-1}" = 1 ]; then
            run_one "ng=127.0.0.1:$NG_PORT" "rtpengine (userspace, 1 thread)" "$EP" "$n" \
                "rtpengine-burst-$n" --pacing burst
            burst_files+=("$OUT/rtpengine-burst-$n.json")
            sleep 0.5
        fi
        run_one "ng=127.0.0.1:$NG_PORT" "rtpengine, RTP both legs" "$EP" "$n" "rtpengine-rtp-$n" \
            --mode-a rtp --mode-b rtp
        rtp_files+=("$OUT/rtpengine-rtp-$n.json")
        sleep 0.5
    done
    kill "$RTPE_PID" 2>/dev/null || true
fi

# The kernel's own cost of one UDP send + receive here (the floor under
# any user-space relay's CPU-µs per packet).
FLOOR=$TARGET_DIR/release/udp-floor
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    timeout 1200 cargo build --release -q -p rampart-benches --bin udp-floor || true
fi

{
    echo "### Relay benchmark: G.711 SRTP calls (AES_CM_128_HMAC_SHA1_80 <-> AES_CM_128_HMAC_SHA1_32), ${DUR} s per run, loopback, even pacing"
    echo
    echo "Even pacing: every packet leaves the load generator at its own due time, one datagram per send, as independent phones send."
    echo
    "$LOADGEN" table "${files[@]}"
    echo
    echo "CPU-µs/packet: the relay's utime+stime over the measured window divided by the packets it delivered."
    if [ ${#burst_files[@]} -gt 0 ]; then
        echo
        echo "### The same calls with burst pacing (each 200 µs slot's packets in one sendmmsg: the relay receives bursts and batches for free; no phone population sends like this)"
        echo
        "$LOADGEN" table "${burst_files[@]}"
    fi
    if [ ${#rtp_files[@]} -gt 0 ]; then
        echo
        echo "### The same calls with plain RTP on both legs (no crypto: the relay's I/O alone)"
        echo
        "$LOADGEN" table "${rtp_files[@]}"
    fi
    if [ ${#tick_files[@]} -gt 0 ]; then
        echo
        echo "### Load-adaptive batching (\`--batch-tick-us\`): Rampart re-keying the same calls, even pacing, at each tick (0: wake per packet)"
        echo
        "$LOADGEN" table "${tick_files[@]}"
    fi
    if [ ${#var_files[@]} -gt 0 ]; then
        echo
        echo "### Rampart's other paths: verified passthrough (one suite and key per direction on both legs: tag and replay checked, bytes forwarded unchanged), and the mmsg backend re-keying"
        echo
        "$LOADGEN" table "${var_files[@]}"
    fi
    if [ -x "$FLOOR" ]; then
        echo
        echo "### The kernel's floor on this machine (\`udp-floor\`): one UDP send + receive, no relay, no crypto"
        echo
        timeout 120 "${NI[@]}" "$FLOOR"
    fi
} | tee "$OUT/table.md"

# Comparisons (HTML with overlaid CDFs, CPU bars, time series) and the
# picture, at each call count measured on both.
picture=
for n in $CALLS; do
    if [ -f "$OUT/rampart-$n.json" ] && [ -f "$OUT/rtpengine-$n.json" ]; then
        "$LOADGEN" compare "$OUT/rampart-$n.json" "$OUT/rtpengine-$n.json" \
            --html "$RESULTS/compare-$n.html" --svg-dir "$OUT/svg-$n" >/dev/null
        picture="$OUT/svg-$n/cmp-cpu-per-packet.svg"
    fi
done
shown=
if [ -n "$picture" ]; then
    cp "$picture" "$RESULTS/rampart-vs-rtpengine.svg"
    png_beside "$RESULTS/rampart-vs-rtpengine.svg"
    shown="rampart-vs-rtpengine.svg"
fi
write_results_readme "$RESULTS/README.md" "Relay benchmark results" loadgen/bench.sh "" \
    "Per-run HTML reports, comparisons and JSON files are written beside this file (not tracked)." \
    "$OUT/table.md" "$shown" "Rampart vs rtpengine: CPU-µs per relayed packet"

# ---- step search: highest call count Rampart relays with loss <= LOSS % -----
if [ "$STEP" = 1 ]; then
    log "step search on Rampart: from $STEP_START calls, at most $STEP_STEPS runs of $STEP_DUR s, loss <= $LOSS %"
    echo
    timeout $(((STEP_DUR + 30) * STEP_STEPS + 30)) "${NI[@]}" "$LOADGEN" run \
        --target "rampart-http=127.0.0.1:$HTTP_PORT" --label "Rampart (1 worker)" --pid "$RP" \
        --threads "$LG_THREADS" --no-progress "${DEV[@]}" \
        --calls "$STEP_START" --duration "$STEP_DUR" --step-search --loss-threshold "$LOSS" \
        --step-max "$STEP_MAX" --max-steps "$STEP_STEPS" --json "$OUT/rampart-steps.json"
fi
log "reports in $OUT and $RESULTS"
