/* Helpers shared by the librampart C tests: checks and a seeded PRNG. */
#ifndef RAMPART_TEST_UTIL_H
#define RAMPART_TEST_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rampart.h"

static int g_failures;

#define CHECK(cond, ...)                                                   \
    do {                                                                   \
        if (!(cond)) {                                                     \
            fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__,         \
                    __LINE__, #cond);                                      \
            fprintf(stderr, __VA_ARGS__);                                  \
            fputc('\n', stderr);                                           \
            if (++g_failures > 20) {                                       \
                fprintf(stderr, "too many failures\n");                    \
                exit(1);                                                   \
            }                                                              \
        }                                                                  \
    } while (0)

/* Checks a rampart_status against the one expected. */
#define CHECK_ST(expr, want)                                               \
    do {                                                                   \
        rampart_status st_ = (expr);                                       \
        CHECK(st_ == (want), "%s -> %d (%s), want %d (%s)", #expr, (int)st_, \
              rampart_status_str((int)st_), (int)(want),                   \
              rampart_status_str((int)(want)));                            \
    } while (0)

/* SplitMix64: seedable and stable. */
typedef struct {
    uint64_t s;
} rng_t;

static inline uint64_t rng_u64(rng_t *r) {
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
static inline uint32_t rng_u32(rng_t *r) { return (uint32_t)(rng_u64(r) >> 32); }
static inline size_t rng_below(rng_t *r, size_t n) { return (size_t)((rng_u64(r) >> 11) % n); }
static inline void rng_bytes(rng_t *r, uint8_t *b, size_t n) {
    for (size_t i = 0; i < n; i++) b[i] = (uint8_t)rng_u64(r);
}

static inline void put_be16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static inline void put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* A random RTP packet into buf; returns its length. Sometimes CSRCs, a
 * one-byte-header extension; payload 0..max_payload bytes. */
static inline size_t make_rtp(rng_t *r, uint8_t *buf, uint16_t seq, uint32_t ts, uint32_t ssrc,
                              size_t max_payload) {
    size_t cc = rng_below(r, 8) == 0 ? rng_below(r, 4) : 0;
    int ext = rng_below(r, 8) == 0;
    buf[0] = (uint8_t)(0x80 | (ext ? 0x10 : 0) | cc);
    buf[1] = (uint8_t)((rng_below(r, 2) ? 0x80 : 0) | rng_below(r, 128));
    put_be16(buf + 2, seq);
    put_be32(buf + 4, ts);
    put_be32(buf + 8, ssrc);
    size_t n = 12;
    for (size_t i = 0; i < cc; i++, n += 4) put_be32(buf + n, rng_u32(r));
    if (ext) {
        size_t words = 1 + rng_below(r, 3);
        put_be16(buf + n, 0xBEDE);
        put_be16(buf + n + 2, (uint16_t)words);
        n += 4;
        rng_bytes(r, buf + n, words * 4);
        n += words * 4;
    }
    size_t pl = rng_below(r, max_payload + 1);
    rng_bytes(r, buf + n, pl);
    return n + pl;
}

/* A random RTCP compound packet: a sender report with 0..3 report blocks,
 * sometimes followed by an SDES-like packet of random words. */
static inline size_t make_rtcp(rng_t *r, uint8_t *buf, uint32_t ssrc) {
    size_t rc = rng_below(r, 4);
    size_t len = 28 + 24 * rc;
    buf[0] = (uint8_t)(0x80 | rc);
    buf[1] = 200;
    put_be16(buf + 2, (uint16_t)(len / 4 - 1));
    put_be32(buf + 4, ssrc);
    rng_bytes(r, buf + 8, len - 8);
    if (rng_below(r, 2)) {
        size_t words = 1 + rng_below(r, 6);
        uint8_t *p = buf + len;
        p[0] = 0x81;
        p[1] = 202;
        put_be16(p + 2, (uint16_t)words);
        put_be32(p + 4, ssrc);
        rng_bytes(r, p + 8, (words - 1) * 4);
        len += 4 + words * 4;
    }
    return len;
}

#endif
