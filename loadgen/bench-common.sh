# shellcheck shell=bash
# Sourced by loadgen/bench.sh, bench-veth.sh and bench-ha.sh: what the relay
# benchmarks need the same way. Expects a `log` function.

# stop_started: kills what the benchmark started (the pids in PIDS):
# SIGTERM, then SIGKILL to what is left. Scripts trap it on EXIT.
stop_started() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    sleep 0.3
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
}

# wait_for WHAT CMD...: until CMD succeeds (bounded: 50 tries, 0.1 s
# apart); says WHAT did not come up otherwise.
wait_for() {
    local what=$1; shift
    for _ in $(seq 1 50); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    log "$what did not come up"
    return 1
}

# Makes rtpengine available: installs Debian's rtpengine-daemon when it is
# missing (bounded), unless NO_INSTALL=1. Returns 0 when rtpengine can run.
ensure_rtpengine() {
    command -v rtpengine >/dev/null 2>&1 && return 0
    [ "${NO_INSTALL:-0}" = 1 ] && return 1
    log "installing rtpengine-daemon"
    if ! { timeout 300 apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
            timeout 600 apt-get install -y -qq rtpengine-daemon >/dev/null; }; then
        log "could not install rtpengine-daemon; measuring Rampart only"
        return 1
    fi
}

# append_security_config RAMPART DIR CONF: a security policy that admits
# the benchmarks' SRTP legs (mixed cluster mode, a fresh trust list of two
# tokens made in DIR, one registered device LOADGEN-7970 that every leg
# names), appended to the node configuration CONF. Returns 1 (and writes
# nothing) when this rampart has no `ctl` command: no policy to satisfy.
append_security_config() {
    local rampart=$1 dir=$2 conf=$3
    "$rampart" ctl --help >/dev/null 2>&1 || return 1
    mkdir -p "$dir/tokens"
    "$rampart" ctl token-new --out "$dir/tokens" --id sast1 >/dev/null
    "$rampart" ctl token-new --out "$dir/tokens" --id sast2 >/dev/null
    printf 'version = 1\n[[tokens]]\npublic_key_file = "tokens/sast1.pub"\n[[tokens]]\npublic_key_file = "tokens/sast2.pub"\n' \
        >"$dir/ctl.toml"
    "$rampart" ctl sign --payload "$dir/ctl.toml" --token "$dir/tokens/sast1.key" \
        --out "$dir/ctl.json" >/dev/null
    printf '[security]\ncluster_mode = "mixed"\ntrust_list = "%s"\n[[security.devices]]\nname = "LOADGEN-7970"\nmodel = "7970"\nmode = "encrypted"\n' \
        "$dir/ctl.json" >>"$conf"
}

# png_beside SVG: a PNG next to SVG when rsvg-convert is installed.
png_beside() {
    if command -v rsvg-convert >/dev/null 2>&1; then
        rsvg-convert -b white -o "${1%.svg}.png" "$1" || true
    fi
}

# write_results_readme FILE TITLE SCRIPT MACHINE_EXTRA NOTE TABLE PICTURE ALT:
# the results page both benchmarks write: a title, which script wrote it
# on which machine (MACHINE_EXTRA appended), NOTE, the table, and the
# picture (a file name beside FILE, or empty) with its ALT text.
write_results_readme() {
    local file=$1 title=$2 script=$3 extra=$4 note=$5 table=$6 picture=$7 alt=$8
    {
        echo "# $title"
        echo
        echo "Written by \`$script\` on $(date -u +%Y-%m-%d) ($(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')$extra)."
        echo "$note"
        echo
        cat "$table"
        if [ -n "$picture" ]; then
            echo
            echo "![$alt]($picture)"
        fi
    } >"$file"
}
