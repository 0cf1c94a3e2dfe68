#!/usr/bin/env bash
# WebRTC benchmark (issue 14), Rampart and rtpengine side by side, on
# loopback: the same client (benches/src/bin/dtls-relay.rs) drives both
# over ng the way Kamailio does for a browser calling a SIP phone, and is
# the browser's DTLS client (ECDSA P-256, as browsers).
#
# Per relay and round:
#   - DTLS-SRTP handshakes: CALLS calls set up, then every handshake,
#     CONCURRENCY at a time; the relay's process CPU (user + system, all
#     threads, from /proc) over that phase per handshake, and per thread;
#   - set-up latency: LATENCY_CALLS calls one after the other, offer +
#     answer + handshake (no ICE: checks against an ICE-lite relay add
#     one round trip);
#   - SRTP cost: PACKETS packets per call from the browser side, one
#     sendto per packet, round robin over the calls at PPS (each stream
#     on its own schedule, no batching by the sender), relay CPU per
#     packet, on DTLS-keyed legs and, in a second run, on SDES-keyed legs.
# Both relays certificate ECDSA P-256 (rtpengine --dtls-cert-cipher=
# prime256v1), one media thread each (Rampart: one worker, its WebRTC
# thread; rtpengine: --num-threads=1). REPEAT rounds, the order turned
# round every other round; medians.
#
# Prints the table and writes it to RESULTS/README.md (tracked); the JSON
# lines stay in OUT. Bounded: daemons and runs under `timeout`, every
# wait counted, everything started killed on exit.
#
# Environment: CALLS (1000), CONCURRENCY (8), LATENCY_CALLS (40), PACKETS
# (20), PPS (20000), REPEAT (3), OUT (target/dtls-bench), RESULTS
# (loadgen/results/webrtc), SKIP_BUILD=1, NO_INSTALL=1, FEATURES (cargo
# features of the build, e.g. `rampart/vendored-openssl`: Rampart and the
# client on OpenSSL built from source instead of the system's; give it a
# CARGO_TARGET_DIR of its own and another RESULTS).
set -euo pipefail
cd "$(dirname "$0")/.."

CALLS=${CALLS:-1000}
CONCURRENCY=${CONCURRENCY:-8}
LATENCY_CALLS=${LATENCY_CALLS:-40}
PACKETS=${PACKETS:-20}
PPS=${PPS:-20000}
REPEAT=${REPEAT:-3}
OUT=${OUT:-target/dtls-bench}
RESULTS=${RESULTS:-loadgen/results/webrtc}
HTTP_PORT=${HTTP_PORT:-22311}
NG_R=${NG_R:-22312}
NG_E=${NG_E:-22313}
TARGET_DIR=${CARGO_TARGET_DIR:-target}
RAMPART=$TARGET_DIR/release/rampart
CLIENT=$TARGET_DIR/release/dtls-relay
PIDS=()

trap 'stop_started' EXIT
trap 'exit 130' INT TERM

log() { echo "bench-dtls: $*" >&2; }
# shellcheck source=loadgen/bench-common.sh
. loadgen/bench-common.sh

command -v jq >/dev/null 2>&1 || {
    [ "${NO_INSTALL:-0}" = 1 ] && { log "jq missing"; exit 1; }
    timeout 300 apt-get update -qq
    DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq jq >/dev/null
}
have_rtpengine=0
if ensure_rtpengine; then have_rtpengine=1; fi
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    log "building release binaries"
    timeout 1800 cargo build --release -q -p rampart --bin rampart -p rampart-benches --bin dtls-relay \
        ${FEATURES:+--features "$FEATURES"}
fi
rm -rf "$OUT"
mkdir -p "$OUT" "$RESULTS"

timeout 3600 "$RAMPART" run --workers 1 --http-listen "127.0.0.1:$HTTP_PORT" \
    --media-address 127.0.0.1 --port-min 30000 --port-max 39999 --max-calls 20000 \
    --log-level warn --ng-enable --ng-listen-udp "127.0.0.1:$NG_R" >"$OUT/rampart.log" 2>&1 &
PIDS+=($!)
wait_for rampart curl -sf "http://127.0.0.1:$HTTP_PORT/health"
OSSL=$(curl -sf "http://127.0.0.1:$HTTP_PORT/health" | jq -r '.webrtc.openssl // "?"')
PR=$(pgrep -P "${PIDS[0]}" -x rampart || echo "${PIDS[0]}")
PE=
if [ "$have_rtpengine" = 1 ]; then
    timeout 3600 rtpengine --config-file=none --foreground --table=-1 --interface=127.0.0.1 \
        --listen-ng="127.0.0.1:$NG_E" --port-min=40000 --port-max=59999 --num-threads=1 \
        --delete-delay=0 --timeout=60 --log-stderr --log-level=4 \
        --dtls-cert-cipher=prime256v1 >"$OUT/rtpengine.log" 2>&1 &
    w=$!
    PIDS+=("$w")
    sleep 0.5
    PE=$(pgrep -P "$w" -x rtpengine || echo "$w")
    wait_for rtpengine kill -0 "$PE"
fi

run() { # LABEL NG PID MODE
    timeout 600 "$CLIENT" --label "$1" --ng "$2" --pid "$3" --mode "$4" --calls "$CALLS" \
        --concurrency "$CONCURRENCY" --latency-calls "$LATENCY_CALLS" --packets "$PACKETS" \
        --pps "$PPS" >>"$OUT/$1-$4.jsonl"
}
relays=(rampart)
[ -n "$PE" ] && relays+=(rtpengine)
for r in $(seq 1 "$REPEAT"); do
    order=("${relays[@]}")
    if [ $((r % 2)) = 0 ] && [ ${#relays[@]} = 2 ]; then order=(rtpengine rampart); fi
    for relay in "${order[@]}"; do
        for mode in dtls sdes; do
            log "round $r: $relay, $mode"
            if [ "$relay" = rampart ]; then run rampart "127.0.0.1:$NG_R" "$PR" "$mode"
            else run rtpengine "127.0.0.1:$NG_E" "$PE" "$mode"; fi
        done
    done
done

median() { sort -g | awk '{v[NR]=$1} END {if (NR) print v[int((NR+1)/2)]; else print 0}'; }
field() { jq -r "$2" "$OUT/$1.jsonl" | median; }
table=$OUT/table.md
{
    echo "| relay | handshakes failed | relay CPU-µs per handshake | handshakes per relay CPU-second | WebRTC call set-up p50 / p99, ms | SRTP CPU-µs/packet, DTLS-keyed | SRTP CPU-µs/packet, SDES-keyed |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    for relay in "${relays[@]}"; do
        printf '| %s | %s | %.0f | %.0f | %.2f / %.2f | %.2f | %.2f |\n' "$relay" \
            "$(field "$relay-dtls" .handshakes_failed)" \
            "$(field "$relay-dtls" .relay_cpu_us_per_handshake)" \
            "$(field "$relay-dtls" .handshakes_per_relay_cpu_second)" \
            "$(field "$relay-dtls" .setup_ms_p50)" "$(field "$relay-dtls" .setup_ms_p99)" \
            "$(field "$relay-dtls" .relay_cpu_us_per_packet)" \
            "$(field "$relay-sdes" .relay_cpu_us_per_packet)"
    done
    echo
    echo "Per thread, CPU-µs per handshake (median round):"
    for relay in "${relays[@]}"; do
        echo "- $relay: $(jq -c .relay_thread_cpu_us_per_handshake "$OUT/$relay-dtls.jsonl" | sed -n "$(( (REPEAT + 1) / 2 ))p")"
    done
    if [ -n "$PE" ]; then
        a=$(field rampart-dtls .relay_cpu_us_per_handshake)
        b=$(field rtpengine-dtls .relay_cpu_us_per_handshake)
        c=$(field rampart-dtls .relay_cpu_us_per_packet)
        d=$(field rtpengine-dtls .relay_cpu_us_per_packet)
        echo
        awk -v a="$a" -v b="$b" 'BEGIN {if (a > 0) printf "rtpengine over Rampart, CPU per DTLS handshake: %.2f×\n", b / a; else print "CPU per handshake below the clock tick: run more CALLS"}'
        echo
        awk -v c="$c" -v d="$d" 'BEGIN {if (c > 0) printf "rtpengine over Rampart, CPU per SRTP packet on DTLS-keyed legs: %.2f×\n", d / c; else print "CPU per packet below the clock tick: send more PACKETS"}'
    fi
} >"$table"
cat "$table"
write_results_readme "$RESULTS/README.md" "WebRTC: DTLS-SRTP handshakes, set-up, SRTP on DTLS legs" \
    loadgen/bench-dtls.sh "" \
    "$CALLS calls per run, $CONCURRENCY handshakes at a time, $REPEAT rounds (medians); $PACKETS SRTP packets per call at $PPS packets/s. CPU is the relay process's user + system time from /proc over the phase (softirq not included); the client runs on the same machine. Rampart's OpenSSL: $OSSL; rtpengine's: the system's ($(openssl version | cut -d' ' -f1-2))." \
    "$table" "" ""
log "results in $RESULTS/README.md"
