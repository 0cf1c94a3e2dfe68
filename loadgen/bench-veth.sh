#!/usr/bin/env bash
# Relay benchmark across network namespaces joined by veth (issue #11,
# item 5). AF_XDP only sees frames that arrive on a real interface, so this
# sibling of bench.sh (which runs on loopback) puts the relay in one
# namespace and the load generator in another:
#
#   netns rxb-ph   rp0 198.51.100.1/24  <-- veth -->  rn0 198.51.100.2/24   netns rxb-node
#   rampart-loadgen (the phones)                       the relay under test
#
# In one run it measures Rampart with each backend in BACKENDS (`xdp` on
# rn0, `uring`, `mmsg`; one worker each) and rtpengine in userspace (one
# thread), all in rxb-node, relaying the same G.711 SRTP calls (leg A
# AES_CM_128_HMAC_SHA1_80, leg B AES_CM_128_HMAC_SHA1_32: every packet is
# decrypted and re-encrypted) with even pacing (each packet leaves at its
# own due time, one datagram per send, as independent phones send), at each
# call count in CALLS; then a step search (highest call count with loss <=
# LOSS %) for each backend in STEP_BACKENDS.
#
# CPU is counted two ways, shown apart (never add them: they overlap):
# - relay CPU-µs/packet: the relay process's utime+stime over loadgen's
#   measured window (`rampart-loadgen run --pid`; /proc is shared across
#   network namespaces) over the packets delivered through it.
# - machine-wide softirq: the `softirq` column of /proc/stat (all CPUs and
#   each CPU; time, tick-sampled unless the kernel has
#   CONFIG_IRQ_TIME_ACCOUNTING) and the NET_RX count of /proc/softirqs
#   (exact), read before and after each loadgen run (so they include call
#   setup and teardown), over the packets delivered. On veth the receive
#   softirq runs in the *sender's* context (docs/xdp-spike.md §3 "What is
#   counted"): the relay's receive path, native XDP included, is charged to
#   loadgen's sends, and the phones' receive path to the relay's sends.
#   Other tenants of the machine pollute these counters; a background rate
#   measured with nothing running is printed beside them.
#
# Bounded: every daemon and every loadgen run under `timeout`; on exit
# (normal, error, Ctrl-C, SIGTERM) the trap kills the daemons and loadgen,
# then whatever still runs in the two namespaces, and deletes the
# namespaces. Stale namespaces of an earlier run are removed at start.
# Needs root (namespaces; XDP). Total about 5 + 1.5 * DUR minutes once built.
#
# Results: the JSON reports and logs in OUT; in RESULTS (loadgen/results/veth)
# the JSON reports, one HTML report per run, the table (README.md) and the
# picture rampart-veth-cpu.svg (relay CPU-µs per packet per backend and call
# count; a PNG beside it when rsvg-convert is installed). Only README.md and
# the SVG are tracked (see results/veth/.gitignore).
#
# Environment: CALLS ("100 1000 3000"), DUR (10 s per run), PASSTHROUGH
# ("1000": call counts at which each Rampart backend also runs verified
# passthrough, one suite and key per direction on both legs: tag and replay
# checked, bytes forwarded unchanged; empty skips), BACKENDS
# ("xdp uring mmsg": Rampart backends, in this order), XDP_ATTACH (auto:
# --xdp-attach auto|native|generic), RTPE=0 skips rtpengine, STEP=0 skips
# the step search, STEP_BACKENDS (BACKENDS), STEP_DUR (5 s per step),
# STEP_START (200), STEP_MAX (4800: the port range holds 5,000 calls),
# STEP_STEPS (5), LOSS (loss threshold % for the step search, 0 = no loss),
# BG_DUR (5 s: the idle softirq background sample), VETH_QUEUES (1: rx/tx
# queues per veth end; one XSK worker serves queue 0), PIN ("" or
# "RELAY_CPU LOADGEN_CPU", e.g. "1 0": taskset both), NICE (-10),
# LG_THREADS (1 loadgen player thread, as in bench.sh), HTTP_PORT (22230),
# NG_PORT (22240), OUT (target/relay-bench-veth), RESULTS
# (loadgen/results/veth), SKIP_BUILD=1 (use CARGO_TARGET_DIR's release
# binaries as they are), NO_INSTALL=1 (do not apt-get rtpengine).
set -euo pipefail
cd "$(dirname "$0")/.."

CALLS=${CALLS:-"100 1000 3000"}
DUR=${DUR:-10}
BACKENDS=${BACKENDS:-"xdp uring mmsg"}
XDP_ATTACH=${XDP_ATTACH:-auto}
RTPE=${RTPE:-1}
STEP=${STEP:-1}
PASSTHROUGH=${PASSTHROUGH-1000}
STEP_BACKENDS=${STEP_BACKENDS:-$BACKENDS}
STEP_DUR=${STEP_DUR:-5}
STEP_START=${STEP_START:-200}
STEP_MAX=${STEP_MAX:-4800}
STEP_STEPS=${STEP_STEPS:-5}
LOSS=${LOSS:-0}
BG_DUR=${BG_DUR:-5}
VETH_QUEUES=${VETH_QUEUES:-1}
PIN=${PIN:-}
OUT=${OUT:-target/relay-bench-veth}
RESULTS=${RESULTS:-loadgen/results/veth}
LG_THREADS=${LG_THREADS:-1}
HTTP_PORT=${HTTP_PORT:-22230}
NG_PORT=${NG_PORT:-22240}
RUN_LIMIT=$((DUR + 90))
# Both relays and loadgen run at this niceness (root: negative is allowed),
# so background work on a shared machine disturbs them less.
NICE=${NICE:--10}
NI=(nice -n "$NICE")
RELAY_PIN=()
LG_PIN=()
if [ -n "$PIN" ]; then
    read -r relay_cpu lg_cpu <<<"$PIN"
    RELAY_PIN=(taskset -c "$relay_cpu")
    LG_PIN=(taskset -c "${lg_cpu:?PIN needs two CPUs: RELAY_CPU LOADGEN_CPU}")
fi

# The topology.
NS_NODE=rxb-node
NS_PH=rxb-ph
IF_NODE=rn0
IF_PH=rp0
NODE_IP=198.51.100.2
PH_IP=198.51.100.1

TARGET_DIR=${CARGO_TARGET_DIR:-target}
LOADGEN=$TARGET_DIR/release/rampart-loadgen
RAMPART=$TARGET_DIR/release/rampart
RAMPART_PID= # the `timeout` wrapping the relay daemons and loadgen
RTPE_PID=
FG_PID=

log() { echo "bench-veth: $*" >&2; }

ns_exists() { [ -e "/run/netns/$1" ]; }

# Signals every process still running inside namespace $1 (the relay and
# loadgen this script started there; nothing else lives in it).
ns_signal() {
    local p
    for p in $(ip netns pids "$1" 2>/dev/null); do
        kill "-$2" "$p" 2>/dev/null || true
    done
}

# Removes both namespaces (and with them the veth pair), stopping what
# still runs inside them first.
ns_down() {
    local ns
    for ns in "$NS_NODE" "$NS_PH"; do
        ns_exists "$ns" || continue
        ns_signal "$ns" TERM
    done
    for _ in $(seq 1 20); do
        [ -z "$(ip netns pids "$NS_NODE" 2>/dev/null)$(ip netns pids "$NS_PH" 2>/dev/null)" ] && break
        sleep 0.1
    done
    for ns in "$NS_NODE" "$NS_PH"; do
        ns_exists "$ns" || continue
        ns_signal "$ns" KILL
        ip netns del "$ns" 2>/dev/null || true
    done
}

ns_up() {
    ip netns add "$NS_NODE"
    ip netns add "$NS_PH"
    ip -n "$NS_NODE" link add "$IF_NODE" numtxqueues "$VETH_QUEUES" numrxqueues "$VETH_QUEUES" \
        type veth peer name "$IF_PH" netns "$NS_PH" \
        numtxqueues "$VETH_QUEUES" numrxqueues "$VETH_QUEUES"
    ip -n "$NS_NODE" addr add "$NODE_IP/24" dev "$IF_NODE"
    ip -n "$NS_PH" addr add "$PH_IP/24" dev "$IF_PH"
    ip -n "$NS_NODE" link set lo up
    ip -n "$NS_PH" link set lo up
    ip -n "$NS_NODE" link set "$IF_NODE" up
    ip -n "$NS_PH" link set "$IF_PH" up
}

# Whether process $1 runs (a zombie, exited but not yet reaped, does not).
alive() {
    local st
    st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
    [ -n "$st" ] && [ "$st" != Z ]
}

cleanup() {
    set +e
    trap - INT TERM
    local p left
    for p in $FG_PID $RAMPART_PID $RTPE_PID; do
        kill "$p" 2>/dev/null
    done
    for _ in $(seq 1 30); do
        left=0
        for p in $FG_PID $RAMPART_PID $RTPE_PID; do
            alive "$p" && left=1
        done
        [ "$left" = 0 ] && break
        sleep 0.1
    done
    for p in $FG_PID $RAMPART_PID $RTPE_PID; do
        kill -9 "$p" 2>/dev/null
    done
    ns_down
    if ns_exists "$NS_NODE" || ns_exists "$NS_PH"; then
        log "could not remove the namespaces $NS_NODE / $NS_PH (ip netns list)"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Runs a command in the background and waits for it, so that a signal
# reaches the trap at once (bash runs traps only between foreground
# commands) and the cleanup can stop the command.
fg_run() {
    local rc=0
    "$@" &
    FG_PID=$!
    wait "$FG_PID" || rc=$?
    FG_PID=
    return "$rc"
}

# /proc/stat softirq column, ticks: "ALL CPU0 CPU1 ...".
softirq_ticks() { awk '/^cpu/ { printf "%s%s", s, $8; s = " " } END { print "" }' /proc/stat; }
# NET_RX softirqs run so far, all CPUs (/proc/softirqs: a count, exact).
net_rx() { awk '$1 == "NET_RX:" { for (i = 2; i <= NF; i++) n += $i; print n + 0 }' /proc/softirqs; }
now() { date +%s.%N; }
HZ=$(getconf CLK_TCK)

[ "$(id -u)" = 0 ] || { log "needs root (network namespaces, XDP)"; exit 1; }

# shellcheck source=loadgen/bench-common.sh
. loadgen/bench-common.sh

# ---- install and build ----------------------------------------------------
have_rtpengine=$RTPE
if [ "$RTPE" = 1 ]; then
    ensure_rtpengine || have_rtpengine=0
fi
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    log "building release binaries"
    timeout 1200 cargo build --release -q -p rampart -p rampart-loadgen
fi
for b in "$RAMPART" "$LOADGEN"; do
    [ -x "$b" ] || { log "$b is missing (build it, or set CARGO_TARGET_DIR)"; exit 1; }
done
mkdir -p "$OUT" "$RESULTS"
rm -f "$OUT"/*.json "$OUT"/runs.tsv "$RESULTS"/*.json "$RESULTS"/*.html

# ---- topology ---------------------------------------------------------------
log "namespaces $NS_PH ($IF_PH $PH_IP) <-> veth <-> $NS_NODE ($IF_NODE $NODE_IP)"
if ns_exists "$NS_NODE" || ns_exists "$NS_PH"; then
    log "removing stale namespaces of an earlier run (and what still runs in them)"
fi
ns_down
ns_up

# The node's configuration: the security policy of bench.sh (mixed cluster
# mode, a fresh trust list, one registered device every leg names; skipped
# when this rampart has no `ctl` command) and, since the API listens on the
# veth address, plain HTTP off loopback allowed (a benchmark namespace only).
SEC=$(cd "$OUT" && pwd)/security
rm -rf "$SEC"
mkdir -p "$SEC"
RCONF=(--config "$SEC/rampart.toml")
DEV=()
printf '[api]\nallow_insecure_remote = true\n' >"$SEC/rampart.toml"
if append_security_config "$RAMPART" "$SEC" "$SEC/rampart.toml"; then
    DEV=(--device LOADGEN-7970)
fi

# The background: softirq time and NET_RX count over BG_DUR s with nothing of ours running.
log "background sample: ${BG_DUR} s idle"
bg_s0=$(softirq_ticks)
bg_b0=$(net_rx)
bg_t0=$(now)
sleep "$BG_DUR"
bg_s1=$(softirq_ticks)
bg_b1=$(net_rx)
bg_t1=$(now)
BG_SOFTIRQ_MS_PER_S=$(awk -v a="${bg_s0%% *}" -v b="${bg_s1%% *}" -v t0="$bg_t0" -v t1="$bg_t1" -v hz="$HZ" \
    'BEGIN { printf "%.2f", (b - a) * 1000 / hz / (t1 - t0) }')
BG_NET_RX=$(awk -v a="$bg_b0" -v b="$bg_b1" -v t0="$bg_t0" -v t1="$bg_t1" \
    'BEGIN { printf "%.0f", (b - a) / (t1 - t0) }')
log "background: softirq $BG_SOFTIRQ_MS_PER_S ms/s, $BG_NET_RX NET_RX softirqs/s"

NOTES=()   # skipped backends, fallbacks, failed runs: printed under the table
files=()   # the headline table, in order
declare -A SERIES_OF=() # JSON file -> series name (the picture's bars)

# One loadgen run from rxb-ph: run_one SERIES TARGET LABEL PID CALLS STEM [EXTRA...]
# Appends to runs.tsv: stem, series, calls, elapsed s, softirq ticks (all,
# per CPU, comma-separated), NET_RX softirqs, 1-min load average.
run_one() {
    local series=$1 target=$2 label=$3 pid=$4 n=$5 stem=$6
    shift 6
    local s0 s1 b0 b1 t0 t1 la
    log "$label: $n calls, $DUR s"
    la=$(cut -d' ' -f1 /proc/loadavg)
    s0=$(softirq_ticks)
    b0=$(net_rx)
    t0=$(now)
    if ! fg_run timeout "$RUN_LIMIT" ip netns exec "$NS_PH" "${LG_PIN[@]}" "${NI[@]}" "$LOADGEN" run \
        --target "$target" --label "$label" --pid "$pid" --local-ip "$PH_IP" --allow-remote \
        --calls "$n" --duration "$DUR" --profile g711 --pacing even --threads "$LG_THREADS" \
        --no-progress --json "$OUT/$stem.json" --html "$RESULTS/$stem.html" "$@" >&2; then
        log "$label, $n calls: loadgen failed"
        NOTES+=("$label, $n calls: the loadgen run failed (see the log above); not in the table")
        return 1
    fi
    t1=$(now)
    s1=$(softirq_ticks)
    b1=$(net_rx)
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$stem" "$series" "$n" \
        "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')" \
        "$(awk -v a="$s0" -v b="$s1" 'BEGIN { n = split(a, x, " "); split(b, y, " ");
            for (i = 1; i <= n; i++) printf "%s%d", (i > 1 ? "," : ""), y[i] - x[i] }')" \
        "$((b1 - b0))" "$la" >>"$OUT/runs.tsv"
    cp "$OUT/$stem.json" "$RESULTS/$stem.json"
    files+=("$OUT/$stem.json")
    SERIES_OF["$OUT/$stem.json"]=$series
}

# ---- Rampart, one worker per backend -----------------------------------------
RP=
RP_BACKEND=
# start_rampart BACKEND: a node with one worker in rxb-node; sets
# RAMPART_PID, RP (the rampart process) and RP_BACKEND (what its start line
# says it runs). Returns 1 (with a note) when it does not come up.
start_rampart() {
    local b=$1 extra=() up=0 why
    if [ "$b" = xdp ]; then
        extra=(--xdp-interface "$IF_NODE" --xdp-attach "$XDP_ATTACH")
    fi
    log "starting Rampart (1 worker, backend $b ${extra[*]}) on $NODE_IP:$HTTP_PORT in $NS_NODE"
    timeout 900 ip netns exec "$NS_NODE" "${RELAY_PIN[@]}" "${NI[@]}" "$RAMPART" run "${RCONF[@]}" \
        --workers 1 --backend "$b" "${extra[@]}" --http-listen "$NODE_IP:$HTTP_PORT" \
        --media-address "$NODE_IP" --port-min 20000 --port-max 39999 \
        --max-calls 20000 --log-level warn >"$OUT/rampart-$b.log" 2>&1 &
    RAMPART_PID=$!
    for _ in $(seq 1 100); do
        alive "$RAMPART_PID" || break
        if ip netns exec "$NS_PH" curl -sf --max-time 1 "http://$NODE_IP:$HTTP_PORT/health" >/dev/null 2>&1; then
            up=1
            break
        fi
        sleep 0.1
    done
    if [ "$up" = 0 ]; then
        if grep -q "invalid value '$b' for '--backend" "$OUT/rampart-$b.log"; then
            why="this rampart binary does not know --backend $b (unknown backend)"
        else
            why="Rampart --backend $b did not come up: $(grep -v '^$' "$OUT/rampart-$b.log" | tail -n 1)"
        fi
        log "$why; skipping it (log: $OUT/rampart-$b.log)"
        NOTES+=("$why; not measured")
        stop_rampart
        return 1
    fi
    # `timeout` forks: measure the rampart process itself.
    RP=$(pgrep -P "$RAMPART_PID" -x rampart || echo "$RAMPART_PID")
    RP_BACKEND=$(sed -n 's/.* running: .*; backend \(.*\)$/\1/p' "$OUT/rampart-$b.log" | head -n 1)
    log "Rampart runs: backend ${RP_BACKEND:-?} (pid $RP, $(cat "/proc/$RP/comm" 2>/dev/null))"
}
stop_rampart() {
    [ -n "$RAMPART_PID" ] || return 0
    kill "$RAMPART_PID" 2>/dev/null || true
    wait "$RAMPART_PID" 2>/dev/null || true
    RAMPART_PID=
}

declare -A BLABEL=([xdp]="Rampart xdp" [uring]="Rampart io_uring" [mmsg]="Rampart mmsg")
steps=() # "backend<TAB>label<TAB>json" per step search
RH="rampart-http=$NODE_IP:$HTTP_PORT"
RUN_HELP=$("$RAMPART" run --help 2>&1 || true)
for b in $BACKENDS; do
    if [ "$b" = xdp ] && [[ $RUN_HELP != *--xdp-interface* ]]; then
        log "this rampart binary has no xdp backend (--backend xdp: unknown backend, no --xdp-interface); skipping xdp"
        NOTES+=("xdp: this rampart binary ($RAMPART) has no xdp backend (\`--backend xdp\` is an unknown backend); not measured")
        continue
    fi
    start_rampart "$b" || continue
    label="${BLABEL[$b]:-Rampart $b} (1 worker)"
    # An explicit backend that fell back to another says so in its start line.
    if [ -n "$RP_BACKEND" ] && [[ $RP_BACKEND != "$b"* ]] &&
        ! { [ "$b" = uring ] && [[ $RP_BACKEND == io_uring* ]]; }; then
        label="${BLABEL[$b]:-Rampart $b} → $RP_BACKEND (1 worker)"
        NOTES+=("--backend $b started as \`backend $RP_BACKEND\` (its start line): labelled so")
    fi
    for n in $CALLS; do
        run_one "$b" "$RH" "$label" "$RP" "$n" "rampart-$b-$n" "${DEV[@]}" || true
        sleep 0.5
    done
    for n in $PASSTHROUGH; do
        run_one "$b-passthrough" "$RH" "${BLABEL[$b]:-Rampart $b}, verified passthrough (1 worker)" \
            "$RP" "$n" "rampart-$b-passthrough-$n" "${DEV[@]}" --passthrough || true
        sleep 0.5
    done
    if [ "$STEP" = 1 ] && [[ " $STEP_BACKENDS " == *" $b "* ]]; then
        log "step search on $label: from $STEP_START calls, at most $STEP_STEPS runs of $STEP_DUR s, loss <= $LOSS %"
        if fg_run timeout $(((STEP_DUR + 30) * STEP_STEPS + 30)) ip netns exec "$NS_PH" "${LG_PIN[@]}" \
            "${NI[@]}" "$LOADGEN" run --target "$RH" --label "$label" --pid "$RP" \
            --local-ip "$PH_IP" --allow-remote --threads "$LG_THREADS" --no-progress "${DEV[@]}" \
            --pacing even --calls "$STEP_START" --duration "$STEP_DUR" --step-search \
            --loss-threshold "$LOSS" --step-max "$STEP_MAX" --max-steps "$STEP_STEPS" \
            --json "$OUT/rampart-$b-steps.json" >&2; then
            cp "$OUT/rampart-$b-steps.json" "$RESULTS/"
            steps+=("$b"$'\t'"$label"$'\t'"$OUT/rampart-$b-steps.json")
        else
            NOTES+=("$label: the step search failed (see the log)")
        fi
    fi
    stop_rampart
    sleep 0.5
done

# ---- rtpengine, userspace, one thread, in the node's namespace ---------------
if [ "$have_rtpengine" = 1 ]; then
    log "starting rtpengine (userspace, 1 thread) on $NODE_IP:$NG_PORT in $NS_NODE"
    timeout 900 ip netns exec "$NS_NODE" "${RELAY_PIN[@]}" "${NI[@]}" rtpengine --config-file=none \
        --foreground --table=-1 --interface="$NODE_IP" --listen-ng="$NODE_IP:$NG_PORT" \
        --port-min=40000 --port-max=59999 --num-threads=1 --delete-delay=0 \
        --timeout=60 --log-stderr --log-level=4 >"$OUT/rtpengine.log" 2>&1 &
    RTPE_PID=$!
    up=0
    for _ in $(seq 1 100); do
        alive "$RTPE_PID" || break
        if [ -n "$(ip netns exec "$NS_NODE" ss -Hlun "sport = :$NG_PORT" 2>/dev/null)" ]; then
            up=1
            break
        fi
        sleep 0.1
    done
    if [ "$up" = 1 ]; then
        EP=$(pgrep -P "$RTPE_PID" -x rtpengine || echo "$RTPE_PID")
        log "rtpengine runs (pid $EP, $(cat "/proc/$EP/comm" 2>/dev/null))"
        for n in $CALLS; do
            run_one rtpengine "ng=$NODE_IP:$NG_PORT" "rtpengine (userspace, 1 thread)" "$EP" "$n" \
                "rtpengine-$n" || true
            sleep 0.5
        done
    else
        log "rtpengine did not come up: $(tail -n 3 "$OUT/rtpengine.log")"
        NOTES+=("rtpengine did not come up (log: $OUT/rtpengine.log); not measured")
    fi
    kill "$RTPE_PID" 2>/dev/null || true
    wait "$RTPE_PID" 2>/dev/null || true
    RTPE_PID=
fi

# ---- tables -----------------------------------------------------------------
# The headline table: `rampart-loadgen table` over all runs, its one ratio
# row (which pairs rtpengine with the first Rampart report of each call
# count) replaced by one ratio row per backend.
rtpe_files=()
for f in "${files[@]}"; do
    if [ "${SERIES_OF[$f]}" = rtpengine ]; then rtpe_files+=("$f"); fi
done
ratios() {
    local b f sel
    [ ${#rtpe_files[@]} -gt 0 ] || return 0
    for b in $BACKENDS; do
        sel=()
        for f in "${files[@]}"; do
            if [ "${SERIES_OF[$f]}" = "$b" ]; then sel+=("$f"); fi
        done
        if [ ${#sel[@]} -eq 0 ]; then continue; fi
        { "$LOADGEN" table "${sel[@]}" "${rtpe_files[@]}" | grep '^| \*\*ratio' |
            sed "s#rtpengine / Rampart CPU#rtpengine / ${BLABEL[$b]:-Rampart $b} CPU#"; } || true
    done
}
headline() {
    local t
    t=$("$LOADGEN" table "${files[@]}")
    grep '^|' <<<"$t" | grep -v '^| \*\*ratio' || true
    ratios
    grep -v '^|' <<<"$t" || true
}

# Softirq and the loadgen's CPU, per run.
cpu_table() {
    echo "| target | calls | relay CPU-µs/pkt | loadgen CPU-µs/pkt | softirq µs/relayed pkt (machine) | softirq ms, all CPUs (per CPU) | background would give, ms | NET_RX softirqs/relayed pkt (machine) | load avg |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    local stem series n el sq nrx la j
    while IFS=$'\t' read -r stem series n el sq nrx la; do
        j=$(jq -r '[.label, .delivered, (.target_cpu.us_per_packet // -1), .loadgen_cpu.us_per_packet] | @tsv' \
            "$OUT/$stem.json")
        awk -F'\t' -v j="$j" -v n="$n" -v el="$el" -v sq="$sq" -v nrx="$nrx" -v la="$la" \
            -v hz="$HZ" -v bg="$BG_SOFTIRQ_MS_PER_S" 'BEGIN {
            split(j, r, "\t"); k = split(sq, s, ",")
            # The total is the sum of the CPUs (each rounded to ticks apart,
            # the "cpu" line may differ from it by a tick).
            per = ""; tot = (k > 1 ? 0 : s[1])
            for (i = 2; i <= k; i++) { per = per (i > 2 ? " / " : "") sprintf("%.0f", s[i] * 1000 / hz); tot += s[i] }
            printf "| %s | %s | %s | %.2f | %.2f | %.0f (%s) | %.0f | %.2f | %s |\n",
                r[1], n, (r[3] < 0 ? "-" : sprintf("%.2f", r[3])), r[4],
                tot * 1e6 / hz / (r[2] > 0 ? r[2] : 1), tot * 1000 / hz, per,
                bg * el, nrx / (r[2] > 0 ? r[2] : 1), la }'
    done <"$OUT/runs.tsv"
}

step_table() {
    local b label f
    echo "| target | highest calls with loss <= $LOSS % | first over | relay CPU-µs/pkt there | p99 µs there | steps |"
    echo "|---|---:|---:|---:|---:|---|"
    for s in "${steps[@]}"; do
        IFS=$'\t' read -r b label f <<<"$s"
        jq -r --arg l "$label" '. as $s
            | ([.steps[] | select(.calls == $s.best_calls)] | first) as $b
            | (if $b == null then "- | -"
               else ($b.target_cpu.us_per_packet as $c
                 | (if $c == null then "-" else ($c * 100 | round / 100 | tostring) end)
                   + " | " + ($b.latency.p99_us * 10 | round / 10 | tostring)) end) as $at
            | "| \($l) | \($s.best_calls // "none") | \($s.first_fail_calls // "-") | \($at) | "
              + ([.steps[] | "\(.calls): \(.loss_pct * 1000 | round / 1000) %"] | join(", ")) + " |"' "$f"
    done
}

# The kernel's accounting, said plainly (it decides what "relay CPU" holds).
kconfig=$( { zcat /proc/config.gz 2>/dev/null || cat "/boot/config-$(uname -r)" 2>/dev/null; } || true)
kconf=$(grep -E '^(# )?CONFIG_IRQ_TIME_ACCOUNTING' <<<"$kconfig" || true)
KHZ=$(sed -n 's/^CONFIG_HZ=//p' <<<"$kconfig")
case "$kconf" in
    CONFIG_IRQ_TIME_ACCOUNTING=y)
        acct="This kernel has \`CONFIG_IRQ_TIME_ACCOUNTING=y\`: softirq time is measured apart and *not* charged to the process it interrupted, so the relay column holds the relay's own user and system time and the softirq column the rest." ;;
    *"is not set")
        acct="This kernel has tick-based accounting without \`CONFIG_IRQ_TIME_ACCOUNTING\`: a process's utime+stime (its scheduler run time, which /proc/PID/stat reports) includes the softirqs that ran in its context, so the relay column already holds the phones' receive of what the relay sends; the columns overlap, do not add them. The /proc/stat softirq column is only *sampled* at the timer tick (CONFIG_HZ=${KHZ:-?}): short softirq bursts that fall between ticks are missed and others over-counted, so on a light load it can read 0 while the relay's sends certainly ran softirqs. Read it as a rough bound; the NET_RX count is exact." ;;
    *)
        acct="Whether this kernel charges softirq ticks to the interrupted process (\`CONFIG_IRQ_TIME_ACCOUNTING\`) is unknown (no kernel config found)." ;;
esac

{
    echo "### Relay benchmark over veth: G.711 SRTP calls (AES_CM_128_HMAC_SHA1_80 <-> AES_CM_128_HMAC_SHA1_32), ${DUR} s per run, even pacing"
    echo
    echo "The relay runs alone in netns \`$NS_NODE\` (veth \`$IF_NODE\`, $NODE_IP, $VETH_QUEUES rx/tx queue(s)); rampart-loadgen plays the phones from netns \`$NS_PH\` (\`$IF_PH\`, $PH_IP). Even pacing: every packet leaves at its own due time, one datagram per send, as independent phones send.${PIN:+ Pinned: relay on CPU ${PIN%% *}, loadgen on CPU ${PIN##* }.}"
    echo
    if [ ${#files[@]} -gt 0 ]; then
        headline
    else
        echo "(no run completed)"
    fi
    echo
    echo "delivered pps: packets per second through the relay, both directions; loss %: sent but not delivered; p50/p99 µs: added one-way latency, send to kernel receive timestamp on the phones' side (same clock). CPU-µs/packet: the relay process's utime+stime (all its threads) over loadgen's measured window (sending + drain), divided by the packets it delivered. ratio: rtpengine's CPU-µs/packet over that Rampart backend's."
    if [ ${#NOTES[@]} -gt 0 ]; then
        echo
        for m in "${NOTES[@]}"; do echo "- $m"; done
    fi
    if [ -s "$OUT/runs.tsv" ]; then
        echo
        echo "### Where the CPU goes: relay process, loadgen, and machine-wide softirq"
        echo
        cpu_table
        echo
        echo "softirq: the \`softirq\` column of /proc/stat (in units of 1/${HZ} s: $((1000 / HZ)) ms resolution), summed over the CPUs (each CPU in brackets), from just before to just after each loadgen run (so it includes call setup and teardown), per packet delivered; it is machine-wide: other tenants' traffic is in it. NET_RX: the NET_RX softirqs run (/proc/softirqs, all CPUs, a count: exact, but machine-wide too) per packet delivered. Background, measured over ${BG_DUR} s with nothing of ours running: ${BG_SOFTIRQ_MS_PER_S} ms/s of softirq and ${BG_NET_RX} NET_RX softirqs/s; \"background would give\" is that softirq rate times the run's length. On veth the receive softirq runs in the *sender's* context (docs/xdp-spike.md §3, \"What is counted\"): the relay's receive path (for xdp: the XDP program and the copy into UMEM, in native mode) is charged to loadgen's sends, and the phones' receive path to the relay's sends. Relay plus loadgen per packet is therefore the fairer per-round-trip figure; loadgen's CPU-µs/packet is per packet sent and includes its own receive and check. $acct"
    fi
    if [ ${#steps[@]} -gt 0 ]; then
        echo
        echo "### Step search: highest call count each backend relays with loss <= $LOSS % (${STEP_DUR} s per step, from $STEP_START calls, at most $STEP_STEPS steps, at most $STEP_MAX calls)"
        echo
        step_table
    fi
} | tee "$OUT/table.md"

# ---- the picture: relay CPU-µs per packet, per backend and call count --------
# A grouped bar chart (one group per call count, one bar per relay), drawn
# here because `rampart-loadgen compare` draws two bars only.
picture=
if [ ${#files[@]} -gt 0 ]; then
    for f in "${files[@]}"; do
        jq -r --arg s "$(jq -r .label "$f" | sed 's/ (1 worker)//')" \
            '"\($s)\t\(.calls)\t\(.target_cpu.us_per_packet // 0)"' "$f"
    done | awk -F'\t' -v title="Relay CPU per relayed packet over veth, even pacing (lower is better)" '
    function esc(s) { gsub(/&/, "\\&amp;", s); gsub(/</, "\\&lt;", s); gsub(/>/, "\\&gt;", s); return s }
    BEGIN { ns = 0; ng = 0; max = 0 }
    {
        if (!($1 in si)) { si[$1] = ns; sname[ns++] = $1 }
        if (!($2 in gi)) { gi[$2] = ng; gname[ng++] = $2 }
        v[si[$1], gi[$2]] = $3 + 0; has[si[$1], gi[$2]] = 1
        if ($3 + 0 > max) max = $3 + 0
    }
    END {
        split("#1F77B4 #D62728 #2CA02C #9467BD #FF7F0E #8C564B", col, " ")
        W = 860; H = 400; L = 80; R = 20; T = 80; B = 50; pw = W - L - R; ph = H - T - B
        raw = (max > 0 ? max * 1.15 : 1) / 5
        mag = exp(log(10) * int(log(raw) / log(10) + (raw < 1 ? -1 : 0)))
        stp = (raw / mag <= 1 ? 1 : raw / mag <= 2 ? 2 : raw / mag <= 5 ? 5 : 10) * mag
        top = stp * (int((max > 0 ? max * 1.15 : 1) / stp) + 1)
        printf "<svg width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" xmlns=\"http://www.w3.org/2000/svg\" font-family=\"sans-serif\">\n", W, H, W, H
        printf "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#FFFFFF\"/>\n", W, H
        printf "<text x=\"%d\" y=\"24\" text-anchor=\"middle\" font-size=\"17\">%s</text>\n", W / 2, esc(title)
        # legend
        x = L
        for (s = 0; s < ns; s++) {
            printf "<rect x=\"%d\" y=\"42\" width=\"14\" height=\"14\" fill=\"%s\"/>\n", x, col[s % 6 + 1]
            printf "<text x=\"%d\" y=\"54\" font-size=\"13\">%s</text>\n", x + 19, esc(sname[s])
            x += 19 + 7.2 * length(sname[s]) + 22
        }
        # axes and grid
        for (y = 0; y <= top + stp / 1e6; y += stp) {
            py = T + ph - y / top * ph
            printf "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#000000\" stroke-opacity=\"%s\"/>\n", L, py, L + pw, py, (y == 0 ? "1" : "0.12")
            printf "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" font-size=\"12\">%s</text>\n", L - 6, py + 4, (stp < 1 ? sprintf("%.2g", y) : sprintf("%g", y))
        }
        printf "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#000000\"/>\n", L, T, L, T + ph
        printf "<text transform=\"translate(18,%d) rotate(-90)\" text-anchor=\"middle\" font-size=\"14\">CPU-µs / packet (relay process)</text>\n", T + ph / 2
        gw = pw / ng; bw = gw * 0.8 / ns
        for (g = 0; g < ng; g++) {
            printf "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" font-size=\"14\">%s calls</text>\n", L + g * gw + gw / 2, T + ph + 22, gname[g]
            for (s = 0; s < ns; s++) {
                if (!has[s, g]) continue
                x = L + g * gw + gw * 0.1 + s * bw; h = v[s, g] / top * ph
                printf "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"/>\n", x + 1, T + ph - h, bw - 2, h, col[s % 6 + 1]
                printf "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"11\">%.2f</text>\n", x + bw / 2, T + ph - h - 4, v[s, g]
            }
        }
        print "</svg>"
    }' >"$RESULTS/rampart-veth-cpu.svg"
    picture="rampart-veth-cpu.svg"
    png_beside "$RESULTS/rampart-veth-cpu.svg"
fi

write_results_readme "$RESULTS/README.md" "Relay benchmark over veth: results" loadgen/bench-veth.sh \
    "; kernel $(uname -r)" "Per-run HTML reports and JSON files are written beside this file (not tracked)." \
    "$OUT/table.md" "$picture" "Relay CPU-µs per relayed packet over veth, per backend and call count"
log "reports in $OUT and $RESULTS"
