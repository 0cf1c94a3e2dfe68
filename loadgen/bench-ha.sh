#!/usr/bin/env bash
# High-availability benchmark (issue 13), two parts, on loopback:
#
# 1. What replication costs. The same re-keyed G.711 SRTP calls (leg A
#    AES_CM_128_HMAC_SHA1_80, leg B AES_CM_128_HMAC_SHA1_32, even pacing:
#    every packet at its own time, as independent phones send) through
#    Rampart (one worker) without a store and with a Redis store
#    (call states sealed and written before each reply, media checkpoints
#    every second), and through rtpengine (userspace, one thread) without
#    and with --redis, REPEAT rounds, the order turned round every other
#    round. CPU is process CPU (user + system) of the relay over the
#    sending window, per relayed packet (rampart-loadgen --pid); softirq
#    is not in it. In the middle of each store run the Redis side is
#    sampled: commands and EVALs per second, bytes in, Redis's own CPU,
#    memory per call.
# 2. Takeover at scale. Two active nodes (ha-a, ha-b) share the Redis
#    store, the media address and the port range. CALLS calls are set up
#    on ha-a (the load generator's node set is ha-a then ha-b), ha-a is
#    killed with SIGKILL mid-call, ha-b takes every call over; ha-a comes
#    back under its own id, then ha-b is killed and ha-a takes them back.
#    The phones verify every SRTP and SRTCP packet: the report gives loss
#    per call, each call's longest gap between two packets, and the
#    authentication and replay failures (which must be zero).
#
# Prints both tables and writes them to RESULTS/README.md (tracked); the
# JSON reports and logs stay in OUT.
#
# Bounded: every daemon and every loadgen run under `timeout`, every wait
# counted; everything started is killed on exit (trap). Loopback only.
# About 6 minutes once built with the defaults.
#
# Environment: CALLS (1000 calls in the takeover run), COST_CALLS ("500
# 1000": the call counts of the cost runs), DUR (10 s per cost run),
# REPEAT (3), KILL_DUR
# (30 s of media in the takeover run), KILL_AFTER (8 s of media before the
# first kill and between the kills), SECOND_KILL (1: kill ha-b too), RTPE
# (1: include rtpengine), OUT (target/ha-bench), RESULTS
# (loadgen/results/ha), NICE (-10), SKIP_BUILD=1, NO_INSTALL=1.
set -euo pipefail
cd "$(dirname "$0")/.."

CALLS=${CALLS:-1000}
COST_CALLS=${COST_CALLS:-"500 1000"}
DUR=${DUR:-10}
REPEAT=${REPEAT:-3}
KILL_DUR=${KILL_DUR:-30}
KILL_AFTER=${KILL_AFTER:-8}
SECOND_KILL=${SECOND_KILL:-1}
RTPE=${RTPE:-1}
OUT=${OUT:-target/ha-bench}
RESULTS=${RESULTS:-loadgen/results/ha}
NICE=${NICE:--10}
NI=(nice -n "$NICE")
REDIS_PORT=${REDIS_PORT:-22290}
HTTP_A=${HTTP_A:-22291}
HTTP_B=${HTTP_B:-22292}
NG_PORT=${NG_PORT:-22293}
RUN_LIMIT=$((KILL_DUR + DUR + 120))

TARGET_DIR=${CARGO_TARGET_DIR:-target}
LOADGEN=$TARGET_DIR/release/rampart-loadgen
RAMPART=$TARGET_DIR/release/rampart
PIDS=()

trap 'stop_started' EXIT
trap 'exit 130' INT TERM

log() { echo "bench-ha: $*" >&2; }
now_ms() { date +%s%3N; }

# shellcheck source=loadgen/bench-common.sh
. loadgen/bench-common.sh

# ---- install and build ----------------------------------------------------
need() {
    command -v "$1" >/dev/null 2>&1 && return 0
    [ "${NO_INSTALL:-0}" = 1 ] && { log "$1 missing (NO_INSTALL=1)"; exit 1; }
    log "installing $2"
    timeout 300 apt-get update -qq
    DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq "$2" >/dev/null
}
need redis-server redis-server
need jq jq
need curl curl
have_rtpengine=0
if [ "$RTPE" = 1 ] && ensure_rtpengine; then have_rtpengine=1; fi
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    log "building release binaries"
    timeout 1200 cargo build --release -q -p rampart -p rampart-loadgen
fi
rm -rf "$OUT"
mkdir -p "$OUT/redis" "$RESULTS"

# Security policy admitting the SRTP legs, and the store's key-encryption
# key (64 hex digits, mode 0600).
SEC=$(cd "$OUT" && pwd)/security
mkdir -p "$SEC"
: >"$SEC/rampart.toml"
RCONF=()
DEV=()
if append_security_config "$RAMPART" "$SEC" "$SEC/rampart.toml"; then
    RCONF=(--config "$SEC/rampart.toml")
    DEV=(--device LOADGEN-7970)
fi
KEK=$SEC/kek.hex
(umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$KEK")

# ---- Redis ----------------------------------------------------------------
# As production would run it: append-only file, fsync every second.
log "starting redis-server on 127.0.0.1:$REDIS_PORT"
timeout 3600 redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save "" \
    --appendonly yes --appendfsync everysec --dir "$OUT/redis" \
    >"$OUT/redis.log" 2>&1 &
PIDS+=($!)
RC=(redis-cli -p "$REDIS_PORT")
wait_for "redis" "${RC[@]}" ping
REDIS_PID=$("${RC[@]}" info server | awk -F: '/^process_id/ {print $2+0}')
CLK=$(getconf CLK_TCK)
STORE=(--store "redis://127.0.0.1:$REDIS_PORT/0" --store-kek-file "$KEK")

# Prints "ms commands evals input_bytes cpu_ticks used_memory" of Redis now.
redis_mark() {
    local info
    info=$("${RC[@]}" info everything | tr -d '\r')
    printf '%s %s %s %s %s %s\n' "$(now_ms)" \
        "$(awk -F: '/^total_commands_processed/ {print $2}' <<<"$info")" \
        "$(awk -F'[:=,]' '/^cmdstat_eval(sha)?:/ {n += $3} END {print n+0}' <<<"$info")" \
        "$(awk -F: '/^total_net_input_bytes/ {print $2}' <<<"$info")" \
        "$(awk '{print $14 + $15}' "/proc/$REDIS_PID/stat")" \
        "$(awk -F: '/^used_memory:/ {print $2}' <<<"$info")"
}

# calls_on PORT: the calls a Rampart node holds (0 when it does not answer).
calls_on() {
    curl -sf --max-time 2 "http://127.0.0.1:$1/health" | jq -r '.calls' 2>/dev/null || echo 0
}

# wait_calls PORT N SECONDS: until the node holds N calls (bounded).
wait_calls() {
    local deadline=$(($(now_ms) + $3 * 1000))
    while [ "$(now_ms)" -lt "$deadline" ]; do
        [ "$(calls_on "$1")" = "$2" ] && return 0
        sleep 0.05
    done
    return 1
}

# Prints "ms state_writes media_checkpoints state_bytes media_bytes ha_ns"
# of the Rampart node on PORT with process id PID: its own counters, the
# mean sealed call state and media checkpoint in Redis (bytes), and the CPU
# time its takeover thread (`rampart-ha`: heartbeats, checkpoints, their
# sealing and writing) has used (ns, from schedstat).
node_mark() {
    local h t ha_ns=0
    h=$(curl -sf --max-time 2 "http://127.0.0.1:$1/health" || echo '{}')
    for t in /proc/"$2"/task/*; do
        if [ "$(cat "$t/comm" 2>/dev/null)" = rampart-ha ]; then
            ha_ns=$(awk '{print $1}' "$t/schedstat"); break
        fi
    done
    printf '%s %s %s %s %s %s\n' "$(now_ms)" \
        "$(jq -r '.store.written // 0' <<<"$h")" \
        "$(jq -r '.ha.media_checkpoints_written // 0' <<<"$h")" \
        "$(mean_value rampart:calls)" "$(mean_value rampart:media)" "$ha_ns"
}

# mean_value HASH: the mean length of HASH's values in Redis, bytes.
mean_value() {
    "${RC[@]}" eval "local n, t = 0, 0
        for _, v in ipairs(redis.call('HVALS', KEYS[1])) do n = n + 1; t = t + #v end
        return n > 0 and math.floor(t / n) or 0" 1 "$1"
}

# steady_sample FILE NODE_PORT NODE_PID READY...: marks Redis (the
# baseline), then once READY succeeds (the calls are set up) waits 2 s and
# marks Redis over DUR - 4 s of steady media; appends the three marks to
# FILE. With a NODE_PORT (not "-"), the Rampart node's own marks at the two
# steady marks go to FILE.node.
steady_sample() {
    local file=$1 node=$2 npid=$3; shift 3
    redis_mark >>"$file"
    local deadline=$(($(now_ms) + 120000))
    until "$@"; do
        [ "$(now_ms)" -gt "$deadline" ] && return 0
        sleep 0.1
    done
    sleep 2
    [ "$node" != - ] && node_mark "$node" "$npid" >>"$file.node"
    redis_mark >>"$file"
    sleep $((DUR > 6 ? DUR - 4 : 2))
    redis_mark >>"$file"
    [ "$node" != - ] && node_mark "$node" "$npid" >>"$file.node"
    return 0
}

# start_rampart VAR NAME PORT [ARGS...]: one node with one worker; sets
# VAR to the rampart process id.
start_rampart() {
    local var=$1 name=$2 port=$3
    shift 3
    timeout 3600 "${NI[@]}" "$RAMPART" run "${RCONF[@]}" --workers 1 \
        --http-listen "127.0.0.1:$port" --media-address 127.0.0.1 \
        --port-min 30000 --port-max 39999 --max-calls 20000 --log-level "${LOG_LEVEL:-warn}" "$@" \
        >>"$OUT/$name.log" 2>&1 &
    local w=$!
    PIDS+=("$w")
    disown "$w" # a SIGKILLed node is expected: no job report
    wait_for "$name" curl -sf "http://127.0.0.1:$port/health" || return 1
    # `timeout` forks: the rampart process itself.
    printf -v "$var" '%s' "$(pgrep -P "$w" -x rampart || echo "$w")"
}

# start_rtpengine VAR [ARGS...]: rtpengine, userspace, one thread; sets VAR
# to its process id.
start_rtpengine() {
    local var=$1
    shift
    timeout 3600 "${NI[@]}" rtpengine --config-file=none --foreground --table=-1 \
        --interface=127.0.0.1 --listen-ng="127.0.0.1:$NG_PORT" \
        --port-min=40000 --port-max=59999 --num-threads=1 --delete-delay=0 \
        --timeout=60 --log-stderr --log-level=4 "$@" >>"$OUT/rtpengine.log" 2>&1 &
    local w=$!
    PIDS+=("$w")
    sleep 0.5
    local p
    p=$(pgrep -P "$w" -x rtpengine || echo "$w")
    wait_for "rtpengine" kill -0 "$p" || return 1
    printf -v "$var" '%s' "$p"
}

stop_pid() {
    kill "$1" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
    kill -9 "$1" 2>/dev/null || true
}

# loadgen STEM TARGET PID [ARGS...]: one bounded run, JSON to OUT/STEM.json.
loadgen() {
    local stem=$1 target=$2 pid=$3
    shift 3
    timeout "$RUN_LIMIT" "${NI[@]}" "$LOADGEN" run --target "$target" --pid "$pid" \
        --calls "$CALLS" --profile g711 --threads 1 --no-progress \
        --json "$OUT/$stem.json" "$@" >"$OUT/$stem.txt" 2>&1
}

# ---- part 1: the cost of replication ----------------------------------------
# cost_run CONFIG ROUND: one run of one configuration.
cost_run() {
    local cfg=$1 r=$2 pid sampler=
    local stem="cost-$cfg-$CALLS-$r"
    "${RC[@]}" flushall >/dev/null
    log "round $r: $cfg, $CALLS calls, $DUR s"
    case $cfg in
    rampart | rampart-redis)
        local extra=()
        [ "$cfg" = rampart-redis ] && extra=("${STORE[@]}" --node-id bench-a)
        start_rampart pid "$stem" "$HTTP_A" "${extra[@]}"
        if [ "$cfg" = rampart-redis ]; then
            steady_sample "$OUT/$stem.redis" "$HTTP_A" "$pid" \
                wait_calls "$HTTP_A" "$CALLS" 1 &
            sampler=$!
        fi
        loadgen "$stem" "rampart-http=127.0.0.1:$HTTP_A" "$pid" --duration "$DUR" "${DEV[@]}"
        ;;
    rtpengine | rtpengine-redis)
        local extra=()
        [ "$cfg" = rtpengine-redis ] && extra=("--redis=127.0.0.1:$REDIS_PORT/1")
        start_rtpengine pid "${extra[@]}"
        if [ "$cfg" = rtpengine-redis ]; then
            # rtpengine keeps one key per call in database 1.
            steady_sample "$OUT/$stem.redis" - - \
                bash -c "[ \"\$(redis-cli -p $REDIS_PORT -n 1 dbsize)\" -ge $CALLS ]" &
            sampler=$!
        fi
        loadgen "$stem" "ng=127.0.0.1:$NG_PORT" "$pid" --duration "$DUR"
        ;;
    esac
    [ -n "$sampler" ] && { wait "$sampler" || true; }
    stop_pid "$pid"
    sleep 0.5
}

configs=(rampart rampart-redis)
[ "$have_rtpengine" = 1 ] && configs+=(rtpengine rtpengine-redis)
TAKEOVER_CALLS=$CALLS
for CALLS in $COST_CALLS; do
for r in $(seq 1 "$REPEAT"); do
    if [ $((r % 2)) = 1 ]; then order=("${configs[@]}"); else
        order=(); for ((i = ${#configs[@]} - 1; i >= 0; i--)); do order+=("${configs[$i]}"); done
    fi
    for c in "${order[@]}"; do cost_run "$c" "$r"; done
done
done

# median of the numbers on stdin
median() { sort -g | awk '{v[NR] = $1} END {if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
field() { for f in "$OUT"/cost-"$1"-"$CALLS"-[0-9]*.json; do jq -r "$2" "$f"; done; }
# redis_rate CONFIG: "commands/s evals/s input-KB/s redis-cpu-% bytes-per-call"
# medians over the rounds' steady samples.
redis_rate() {
    local f
    for f in "$OUT"/cost-"$1"-"$CALLS"-[0-9]*.redis; do
        [ -s "$f" ] || continue
        awk -v clk="$CLK" -v calls="$CALLS" 'NR == 1 {split($0, z)} NR == 2 {split($0, a)} NR == 3 {split($0, b)}
            END {s = (b[1] - a[1]) / 1000; if (s <= 0) s = 1;
                 printf "%.0f %.0f %.1f %.2f %.0f\n", (b[2] - a[2]) / s, (b[3] - a[3]) / s,
                   (b[4] - a[4]) / s / 1024, (b[5] - a[5]) / clk / s * 100, (b[6] - z[6]) / calls}' "$f"
    done >"$OUT/$1-$CALLS.redis-rates"
    local col out=()
    for col in 1 2 3 4 5; do out+=("$(awk -v c=$col '{print $c}' "$OUT/$1-$CALLS.redis-rates" | median)"); done
    echo "${out[*]}"
}

TABLE=$OUT/table.md
: >"$TABLE"
for CALLS in $COST_CALLS; do
if [ "$REPEAT" -gt 0 ]; then
    {
        echo "### The cost of replication ($CALLS calls, G.711 re-keyed SRTP, even pacing, $DUR s, median of $REPEAT runs)"
        echo
        echo "| relay | CPU-µs/packet (runs) | median | vs. the same relay without a store | delivered pps | loss % | Redis commands/s | EVALs/s | Redis in KB/s | Redis CPU % of a core | Redis memory per call, bytes |"
        echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        for c in "${configs[@]}"; do
            runs=$(field "$c" '.target_cpu.us_per_packet' | awk '{printf "%s%.2f", (NR > 1 ? " / " : ""), $1}')
            med=$(field "$c" '.target_cpu.us_per_packet' | median)
            base=${c%-redis}
            bmed=$(field "$base" '.target_cpu.us_per_packet' | median)
            rel="—"
            [ "$c" != "$base" ] && rel=$(awk -v a="$med" -v b="$bmed" 'BEGIN {printf "%+.1f %%", (a / b - 1) * 100}')
            pps=$(field "$c" '.delivered_pps' | median)
            loss=$(field "$c" '.loss_pct' | median)
            rr="— — — — —"
            [ "$c" != "$base" ] && rr=$(redis_rate "$c")
            read -r rcmd reval rkb rcpu rmem <<<"$rr"
            printf '| %s | %s | %.2f | %s | %.0f | %.4f | %s | %s | %s | %s | %s |\n' \
                "$c" "$runs" "$med" "$rel" "$pps" "$loss" "$rcmd" "$reval" "$rkb" "$rcpu" "$rmem"
        done
        # Rampart's store load per call, from its own counters.
        for f in "$OUT"/cost-rampart-redis-"$CALLS"-[0-9]*.redis.node; do
            [ -s "$f" ] || continue
            pps=$(jq -r '.delivered_pps' "${f%.redis.node}.json")
            awk -v calls="$CALLS" -v pps="$pps" 'NR == 1 {split($0, a)} NR == 2 {split($0, b)}
                END {s = (b[1] - a[1]) / 1000; if (s <= 0) s = 1;
                     printf "%.2f %.2f %d %d %.4f\n", b[2] / calls, (b[3] - a[3]) / s / calls, b[4], b[5],
                       (b[6] - a[6]) / 1000 / (pps * s)}' "$f"
        done >"$OUT/node-$CALLS.rates"
        if [ -s "$OUT/node-$CALLS.rates" ]; then
            col() { awk -v c="$1" '{print $c}' "$OUT/node-$CALLS.rates" | median; }
            evals=$(awk '{print $2}' "$OUT/rampart-redis-$CALLS.redis-rates" | median)
            kbs=$(awk '{print $3}' "$OUT/rampart-redis-$CALLS.redis-rates" | median)
            echo
            printf 'Rampart'"'"'s store writes, per call: at set-up %s call-state write(s) of %s bytes sealed (one EVAL each, with its event in the stream); per second of media %s media checkpoints of %s bytes sealed (written when the streams moved, pipelined), and in all %s EVALs and %s bytes into Redis per call per second (heartbeats and the owners scan included).\n' \
                "$(col 1)" "$(col 3)" "$(col 2)" "$(col 4)" \
                "$(awk -v e="$evals" -v c="$CALLS" 'BEGIN {printf "%.2f", e / c}')" \
                "$(awk -v k="$kbs" -v c="$CALLS" 'BEGIN {printf "%.0f", k * 1024 / c}')"
            ha=$(col 5)
            med=$(field rampart '.target_cpu.us_per_packet' | median)
            printf '\nThe replication work in the relay process, measured apart: its takeover thread (heartbeats, reading, sealing and writing the checkpoints) used %s CPU-µs per relayed packet (schedstat, median of the rounds), %s %% of the %s CPU-µs a packet costs without a store; the workers do nothing per packet for it (they copy their streams'"'"' positions when asked, once per checkpoint).\n' \
                "$ha" "$(awk -v a="$ha" -v b="$med" 'BEGIN {printf "%.1f", a / b * 100}')" "$med"
        fi
        if [ "$have_rtpengine" = 1 ]; then
            a=$(field rampart-redis '.target_cpu.us_per_packet' | median)
            b=$(field rtpengine-redis '.target_cpu.us_per_packet' | median)
            echo
            awk -v a="$a" -v b="$b" 'BEGIN {printf "rtpengine with Redis over Rampart with Redis, CPU-µs per relayed packet: %.2f×\n", b / a}'
        fi
        echo
    } >>"$TABLE"
fi
done
cat "$TABLE"
CALLS=$TAKEOVER_CALLS

# ---- part 2: takeover at scale ------------------------------------------------
"${RC[@]}" flushall >/dev/null
log "takeover: two nodes, $CALLS calls on ha-a, $KILL_DUR s of media"
start_rampart PA ha-a "$HTTP_A" "${STORE[@]}" --node-id ha-a
start_rampart PB ha-b "$HTTP_B" "${STORE[@]}" --node-id ha-b
m0=$(redis_mark)
timeout "$RUN_LIMIT" "${NI[@]}" "$LOADGEN" run --target "rampart-http=127.0.0.1:$HTTP_A" \
    --fallback "127.0.0.1:$HTTP_B" --calls "$CALLS" --duration "$KILL_DUR" --profile g711 \
    --threads 1 --rtcp-interval 2s --no-progress "${DEV[@]}" \
    --json "$OUT/takeover.json" >"$OUT/takeover.txt" 2>&1 &
LG=$!
PIDS+=("$LG")
wait_calls "$HTTP_A" "$CALLS" 120 || { log "ha-a never held $CALLS calls"; exit 1; }
sleep "$KILL_AFTER"
m1=$(redis_mark)

# kill_and_wait VICTIM_PID SURVIVOR_PORT LABEL: SIGKILL, then the time until
# the survivor holds every call (bounded: 60 s).
TAKEOVERS=$OUT/takeovers
: >"$TAKEOVERS"
kill_and_wait() {
    local t0 t1
    t0=$(now_ms)
    kill -9 "$1"
    if wait_calls "$2" "$CALLS" 60; then t1=$(now_ms); else t1=never; fi
    local h
    h=$(curl -sf --max-time 2 "http://127.0.0.1:$2/health" || echo '{}')
    echo "$3|$t0|$t1|$(jq -r '[.ha.adopted, .ha.adopt_failed, .ha.last_takeover_ms, .ha.longest_heartbeat_gap_ms] | map(tostring) | join("|")' <<<"$h")" >>"$TAKEOVERS"
    log "$3: killed at $t0, survivor holds every call at $t1"
}
kill_and_wait "$PA" "$HTTP_B" "ha-a killed, ha-b adopts"
if [ "$SECOND_KILL" = 1 ]; then
    start_rampart PA ha-a "$HTTP_A" "${STORE[@]}" --node-id ha-a
    sleep "$KILL_AFTER"
    kill_and_wait "$PB" "$HTTP_A" "ha-b killed, ha-a adopts"
fi
wait "$LG" || log "loadgen exited with $?"
J=$OUT/takeover.json
{
    echo
    echo "### Takeover: $CALLS calls, SIGKILL of the node holding them (G.711 re-keyed SRTP, SRTCP every 2 s, $KILL_DUR s)"
    echo
    echo "| takeover | from the kill to every call on the survivor, ms | adopted | failed adoptions | survivor's own figure, ms (owner's last heartbeat seen → calls running) | survivor's longest heartbeat gap, ms |"
    echo "|---|---:|---:|---:|---:|---:|"
    while IFS='|' read -r label t0 t1 adopted failed own gap; do
        [ "$t1" = never ] && dt=never || dt=$((t1 - t0))
        echo "| $label | $dt | $adopted | $failed | $own | $gap |"
    done <"$TAKEOVERS"
    echo
    jq -r '"| phones saw | |\n|---|---:|",
        "| RTP sent / delivered | \(.sent) / \(.delivered) |",
        "| lost | \(.lost) (\(.loss_pct * 1000 | round / 1000) %) |",
        "| calls with loss | \(.spread.calls_with_loss) of \(.spread.calls) |",
        "| packets lost per call: median / most | \(.spread.call_lost_p50) / \(.spread.call_lost_max) |",
        "| longest gap per call, ms: median / p99 / worst | \(.spread.gap_p50_ms | round) / \(.spread.gap_p99_ms | round) / \(.spread.gap_max_ms | round) |",
        "| SRTP authentication failures | \(.auth_failures) |",
        "| SRTP replays / too old | \(.duplicates) / \(.too_old) |",
        "| SRTCP sent / delivered / auth failures / bad | \(.rtcp_sent) / \(.rtcp_delivered) / \(.rtcp_auth_failures) / \(.rtcp_bad) |",
        "| corrupt / misrouted | \(.corrupt) / \(.misrouted) |",
        "| calls torn down (via the surviving node) / failed | \(.calls - .delete_errors) / \(.delete_errors) |"' "$J"
    echo
    awk -v clk="$CLK" -v calls="$CALLS" 'NR == 1 {split($0, a)} NR == 2 {split($0, b)}
        END {s = (b[1] - a[1]) / 1000; if (s <= 0) s = 1;
             printf "Store load from the first call set up to the first kill (%d calls, set-up included, %.0f s): %.0f commands/s, %.0f EVALs/s, %.1f KB/s in, Redis CPU %.1f %% of a core, %.0f bytes of Redis memory per call.\n",
               calls, s, (b[2] - a[2]) / s, (b[3] - a[3]) / s, (b[4] - a[4]) / s / 1024, (b[5] - a[5]) / clk / s * 100, (b[6] - a[6]) / calls}' \
        <(echo "$m0"; echo "$m1")
} >>"$TABLE"
tail -n +1 "$TABLE" | sed -n '/### Takeover/,$p'

write_results_readme "$RESULTS/README.md" "High availability: the cost of replication and takeover at scale" \
    "loadgen/bench-ha.sh" ", Redis $(redis-server --version | awk '{print $3}' | cut -d= -f2)" \
    "CPU is the relay process's user + system time over the sending window per relayed packet (softirq not included); Redis's own CPU is shown apart. Rampart runs one worker, rtpengine one thread, both in userspace on loopback." \
    "$TABLE" "" ""
log "table written to $RESULTS/README.md"
