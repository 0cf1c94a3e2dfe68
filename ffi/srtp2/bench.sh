#!/usr/bin/env bash
# ffi/srtp2/bench.sh: librampart-srtp2 (the libsrtp2 drop-in, release build)
# against Debian's libsrtp2 2.5 (NSS) and libsrtp 2.3 with OpenSSL, through
# the libsrtp public API only: one C source (ffi/srtp2/bench/bench.c) built
# three ways and run alternately, ROUNDS times each, medians per cell.
# Prints a markdown table (ns per packet and ratios; a ratio above 1 means
# the drop-in is faster) and writes it to ffi/srtp2/bench/RESULTS.md with
# the date, CPU and command. Also fails if the three do not produce the same
# SRTP bytes for the same key and packet.
#
#   ffi/srtp2/bench.sh [ROUNDS [PACKETS]]     (defaults 9 and 200000)
#
# Needs cc, make, pkg-config, libsrtp2-dev, libssl-dev. libsrtp 2.3 is the
# srtp2-sys crate's copy (benches/ builds it with OpenSSL): its static
# library is reused from target/release/build/srtp2-sys-*/out when that was
# built with OpenSSL, else configured and built from the cargo registry's
# sources into target/srtp2-bench/ (BENCH_REBUILD_LIBSRTP=1 forces that).
# Not in CI; on a busy machine expect noise of several percent per cell.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
rounds=${1:-9}
packets=${2:-200000}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
T=$CARGO_TARGET_DIR
work=$T/srtp2-bench
mkdir -p "$work"
start=$(date +%s)

# (a) the drop-in, release build, staged into ffi/srtp2/dist.
make -s -C ffi/srtp2 build stage PROFILE=release
dist=$root/ffi/srtp2/dist

# (b) Debian's libsrtp2.
pkg-config --exists libsrtp2 || { echo "bench.sh: libsrtp2 not found by pkg-config (apt-get install libsrtp2-dev)" >&2; exit 1; }

# (c) libsrtp 2.3 + OpenSSL.
src=
for d in "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/srtp2-sys-3.0.2/libsrtp; do
  [ -f "$d/include/srtp.h" ] && src=$d && break
done
lib23=
if [ "${BENCH_REBUILD_LIBSRTP:-0}" != 1 ]; then
  for out in "$T"/release/build/srtp2-sys-*/out; do
    if [ -f "$out/libsrtp2.a" ] && grep -q '^#define OPENSSL 1' "$out/crypto/include/config.h" 2>/dev/null \
       && grep -q '^Version: 2.3' "$out/libsrtp2.pc" 2>/dev/null; then
      lib23=$out/libsrtp2.a
      break
    fi
  done
fi
if [ -z "$lib23" ]; then
  [ -n "$src" ] || { echo "bench.sh: no srtp2-sys-3.0.2 sources in ~/.cargo/registry (cargo fetch in benches/)" >&2; exit 1; }
  b=$work/libsrtp-2.3-openssl
  if [ "${BENCH_REBUILD_LIBSRTP:-0}" = 1 ] || [ ! -f "$b/libsrtp2.a" ]; then
    rm -rf "$b" && mkdir -p "$b"
    (cd "$b" && "$src/configure" --enable-openssl >configure.log 2>&1 && make -j2 libsrtp2.a >make.log 2>&1) \
      || { echo "bench.sh: building libsrtp 2.3 failed, see $b/*.log" >&2; exit 1; }
  fi
  lib23=$b/libsrtp2.a
fi
[ -n "$src" ] || { echo "bench.sh: no srtp2-sys-3.0.2 sources in ~/.cargo/registry for libsrtp 2.3's srtp.h" >&2; exit 1; }
mkdir -p "$work/include-2.3/srtp2"
cp "$src/include/srtp.h" "$work/include-2.3/srtp2/srtp.h"

cflags=(-std=c11 -O2 -Wall -Wextra -Werror)
cc "${cflags[@]}" -I "$dist/include" ffi/srtp2/bench/bench.c -o "$work/bench-dropin" \
   -L "$dist/lib" -lrampart-srtp2 -Wl,-rpath,"$dist/lib"
# shellcheck disable=SC2046
cc "${cflags[@]}" $(pkg-config --cflags libsrtp2) ffi/srtp2/bench/bench.c -o "$work/bench-debian25" \
   $(pkg-config --libs libsrtp2)
cc "${cflags[@]}" -I "$work/include-2.3" ffi/srtp2/bench/bench.c -o "$work/bench-openssl23" \
   "$lib23" -lcrypto

labels=(dropin openssl23 debian25)
samples=$work/samples.txt
: >"$samples"
echo "bench.sh: $rounds rounds x 3 libraries, $packets packets per run (1200-byte payloads: $((packets / 4)))" >&2
for ((r = 0; r < rounds; r++)); do
  # Rotate who goes first, so no library always runs on a cold or hot machine.
  for ((i = 0; i < 3; i++)); do
    l=${labels[$(((r + i) % 3))]}
    "$work/bench-$l" "$l" 1 "$packets" >>"$samples"
  done
  printf '.' >&2
done
echo >&2

# Same bytes from all three, or the comparison is meaningless.
bad=$(awk '$1 == "check" { k = $3 " " $4; if (k in h && h[k] != $5) print k; h[k] = $5 }' "$samples" | sort -u)
if [ -n "$bad" ]; then
  echo "bench.sh: the libraries disagree on the protected bytes for: $bad" >&2
  grep '^check' "$samples" | sort -u >&2
  exit 1
fi
cells=$(awk '$1 == "check" { print $3, $4 }' "$samples" | sort -u | wc -l)

version() { grep "^version $1 " "$samples" | head -n1 | cut -d' ' -f3-; }
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
secs=$(($(date +%s) - start))

table=$(grep '^sample' "$samples" | sort -k3,3 -k4,4 -k5,5 -k2,2 -k6,6g | awk '
  { k = $3 " " $4 " " $5 " " $2; n[k]++; v[k, n[k]] = $6 }
  function med(k,   c) { c = n[k]; if (c == 0) return 0; return c % 2 ? v[k, (c + 1) / 2] : (v[k, c / 2] + v[k, c / 2 + 1]) / 2 }
  END {
    split("AES_CM_128_HMAC_SHA1_80 AEAD_AES_128_GCM", S, " ")
    split("rtp-160 rtp-1200 rtcp-80", P, " ")
    split("protect unprotect", O, " ")
    print "| suite | packet | op | drop-in ns | libsrtp 2.3+OpenSSL ns | Debian libsrtp 2.5 (NSS) ns | OpenSSL / drop-in | Debian / drop-in |"
    print "|---|---|---|---:|---:|---:|---:|---:|"
    for (s = 1; s <= 2; s++) for (p = 1; p <= 3; p++) for (o = 1; o <= 2; o++) {
      b = S[s] " " P[p] " " O[o]
      d = med(b " dropin"); q = med(b " openssl23"); e = med(b " debian25")
      printf "| %s | %s | %s | %.0f | %.0f | %.0f | %.2f | %.2f |\n", S[s], P[p], O[o], d, q, e, q / d, e / d
    }
  }')

cmd="ffi/srtp2/bench.sh${1:+ $1}${2:+ $2}"
report="# librampart-srtp2 vs libsrtp2: ns per packet through the libsrtp API

- date: $(date -u '+%Y-%m-%d %H:%M UTC')
- CPU: $cpu ($(nproc) cores; other work was running: numbers are noisy)
- command: \`$cmd\` (from the repository root)
- drop-in: $(version dropin), release build, \`ffi/srtp2/dist/lib/librampart-srtp2.so.1\`
- libsrtp 2.3 + OpenSSL: $(version openssl23), \`${lib23#"$root"/}\`, $(openssl version 2>/dev/null || echo OpenSSL)
- Debian: $(version debian25) (package $(dpkg-query -W -f='${Version}' libsrtp2-1 2>/dev/null || echo '?'), NSS crypto)
- method: ffi/srtp2/bench/bench.c, one source built three ways (cc -O2); each cell is the median of $rounds runs per library, the three libraries run alternately; a run times $packets packets (1200-byte payloads: $((packets / 4))) with clock_gettime; unprotect times fresh packets only (protected untimed in batches of 1024 by the same library). rtcp-80: an 80-byte SR through srtp_protect_rtcp/srtp_unprotect_rtcp.
- ratios: other library's ns / drop-in's ns (above 1: the drop-in is faster).
- the three produced identical protected bytes (first packet of a fresh session) in all $cells suite/packet cells, every run.
- run time: ${secs} s

$table
"
printf '%s\n' "$report" >ffi/srtp2/bench/RESULTS.md
printf '%s\n' "$table"
echo "bench.sh: written to ffi/srtp2/bench/RESULTS.md (${secs} s)" >&2
