/*
 * protect/unprotect through librampart's C ABI beside the system libsrtp2,
 * in one run, same packets, same loop. Run by ffi/bench.sh (release build),
 * which also passes the Rust-direct numbers (ffi/examples/bench_direct.rs,
 * the same loops calling rampart::srtp::Context) so the table shows what the
 * ABI adds per packet.
 *
 * Each figure is the best of REPS repetitions (ns per packet), the usual way
 * to read a micro-benchmark on a shared machine.
 *
 * Usage: bench [direct-results-file]
 */
#define _POSIX_C_SOURCE 200809L
#include <srtp2/srtp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rampart.h"

#define REPS 7
#define BATCH 4096
#define CAP 1600

static double now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

typedef struct {
    uint32_t suite;
    void (*set)(srtp_crypto_policy_t *);
} suite_t;

static void set_cm128(srtp_crypto_policy_t *p) { srtp_crypto_policy_set_rtp_default(p); }

static const suite_t SUITES[] = {
    {RAMPART_SUITE_AES_CM_128_HMAC_SHA1_80, set_cm128},
    {RAMPART_SUITE_AEAD_AES_128_GCM, srtp_crypto_policy_set_aes_gcm_128_16_auth},
};
static const size_t PAYLOADS[] = {160, 1200};

static uint8_t KEYSALT[46];

static rampart_session *r_session(uint32_t suite) {
    size_t kl = rampart_suite_key_len(suite), sl = rampart_suite_salt_len(suite);
    rampart_master_key mk = {KEYSALT, kl, KEYSALT + kl, sl, NULL, 0, 0};
    rampart_session_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.suite = suite;
    cfg.keys = &mk;
    cfg.num_keys = 1;
    cfg.replay_window = 1024;
    rampart_session *s = NULL;
    if (rampart_session_new(&cfg, &s) != RAMPART_OK) abort();
    return s;
}

static srtp_t l_session(const suite_t *s, int inbound) {
    srtp_policy_t p;
    memset(&p, 0, sizeof p);
    s->set(&p.rtp);
    s->set(&p.rtcp);
    p.ssrc.type = inbound ? ssrc_any_inbound : ssrc_any_outbound;
    p.key = KEYSALT;
    p.window_size = 1024;
    srtp_t sess;
    if (srtp_create(&sess, &p) != srtp_err_status_ok) abort();
    return sess;
}

static void make_packet(uint8_t *b, size_t payload, uint16_t seq) {
    memset(b, 0, 12 + payload);
    b[0] = 0x80;
    b[1] = 8;
    b[2] = (uint8_t)(seq >> 8);
    b[3] = (uint8_t)seq;
    b[8] = 0xca;
    b[9] = 0xfe;
    b[11] = 1;
    for (size_t i = 0; i < payload; i++) b[12 + i] = (uint8_t)(i * 7);
}

/* protect: ns per packet, best of REPS. */
static double bench_protect(const suite_t *s, size_t payload, int lib, long iters) {
    static uint8_t buf[CAP];
    size_t len = 12 + payload;
    double best = 1e30;
    for (int r = 0; r < REPS; r++) {
        rampart_session *rs = lib ? NULL : r_session(s->suite);
        srtp_t ls = lib ? l_session(s, 0) : NULL;
        make_packet(buf, payload, 0);
        uint16_t seq = 0;
        double t0 = now_ns();
        for (long i = 0; i < iters; i++) {
            seq++;
            buf[2] = (uint8_t)(seq >> 8);
            buf[3] = (uint8_t)seq;
            if (lib) {
                int l = (int)len;
                if (srtp_protect(ls, buf, &l) != srtp_err_status_ok) abort();
            } else {
                size_t out;
                if (rampart_protect_rtp(rs, buf, len, CAP, &out) != RAMPART_OK) abort();
            }
        }
        double ns = (now_ns() - t0) / (double)iters;
        if (ns < best) best = ns;
        if (lib) srtp_dealloc(ls);
        else rampart_session_free(rs);
    }
    return best;
}

/* unprotect: BATCH distinct packets per round, copied in untimed. */
static double bench_unprotect(const suite_t *s, size_t payload, int lib, long iters) {
    size_t len = 12 + payload, stride = CAP;
    uint8_t *pristine = malloc(BATCH * stride), *work = malloc(BATCH * stride);
    size_t *plen = malloc(BATCH * sizeof *plen);
    rampart_session *tx = r_session(s->suite);
    for (int i = 0; i < BATCH; i++) {
        uint8_t *b = pristine + (size_t)i * stride;
        make_packet(b, payload, (uint16_t)(i + 1));
        if (rampart_protect_rtp(tx, b, len, stride, &plen[i]) != RAMPART_OK) abort();
    }
    rampart_session_free(tx);
    double best = 1e30;
    long rounds = iters / BATCH + 1;
    for (int r = 0; r < REPS; r++) {
        double total = 0;
        for (long round = 0; round < rounds; round++) {
            rampart_session *rs = lib ? NULL : r_session(s->suite);
            srtp_t ls = lib ? l_session(s, 1) : NULL;
            memcpy(work, pristine, BATCH * stride);
            double t0 = now_ns();
            for (int i = 0; i < BATCH; i++) {
                uint8_t *b = work + (size_t)i * stride;
                if (lib) {
                    int l = (int)plen[i];
                    if (srtp_unprotect(ls, b, &l) != srtp_err_status_ok) abort();
                } else {
                    size_t out;
                    if (rampart_unprotect_rtp(rs, b, plen[i], &out) != RAMPART_OK) abort();
                }
            }
            total += now_ns() - t0;
            if (lib) srtp_dealloc(ls);
            else rampart_session_free(rs);
        }
        double ns = total / (double)(rounds * BATCH);
        if (ns < best) best = ns;
    }
    free(pristine);
    free(work);
    free(plen);
    return best;
}

/* "direct <suite> <payload> <op> <ns>" lines from bench_direct. */
static double direct_ns(const char *file, const char *suite, size_t payload, const char *op) {
    if (!file) return 0;
    FILE *f = fopen(file, "r");
    if (!f) return 0;
    char s[64], o[32];
    size_t p;
    double ns, found = 0;
    while (fscanf(f, "direct %63s %zu %31s %lf\n", s, &p, o, &ns) == 4)
        if (!strcmp(s, suite) && p == payload && !strcmp(o, op)) found = ns;
    fclose(f);
    return found;
}

int main(int argc, char **argv) {
    const char *direct = argc > 1 ? argv[1] : NULL;
    for (size_t i = 0; i < sizeof KEYSALT; i++) KEYSALT[i] = (uint8_t)(i * 13 + 1);
    if (srtp_init() != srtp_err_status_ok) return 1;
    printf("librampart %s (C ABI) vs %s; ns per packet, best of %d\n\n", rampart_version(),
           srtp_get_version_string(), REPS);
    printf("%-24s %7s %-9s %11s %11s %9s %10s %9s\n", "suite", "payload", "op", "rust-direct",
           "librampart", "ABI cost", "libsrtp2", "libsrtp2/");
    printf("%-24s %7s %-9s %11s %11s %9s %10s %9s\n", "", "bytes", "", "ns", "ns", "ns", "ns",
           "librampart");
    for (size_t si = 0; si < sizeof SUITES / sizeof SUITES[0]; si++) {
        const char *name = rampart_suite_name(SUITES[si].suite);
        for (size_t pi = 0; pi < 2; pi++) {
            size_t payload = PAYLOADS[pi];
            long iters = payload > 500 ? 200000 : 400000;
            for (int op = 0; op < 2; op++) {
                const char *opname = op ? "unprotect" : "protect";
                double r = op ? bench_unprotect(&SUITES[si], payload, 0, iters)
                              : bench_protect(&SUITES[si], payload, 0, iters);
                double l = op ? bench_unprotect(&SUITES[si], payload, 1, iters)
                              : bench_protect(&SUITES[si], payload, 1, iters);
                double d = direct_ns(direct, name, payload, opname);
                char dtext[32] = "-", otext[32] = "-";
                if (d > 0) {
                    snprintf(dtext, sizeof dtext, "%.1f", d);
                    snprintf(otext, sizeof otext, "%+.1f", r - d);
                }
                printf("%-24s %7zu %-9s %11s %11.1f %9s %10.1f %8.2fx\n", name, payload, opname, dtext, r,
                       otext, l, l / r);
            }
        }
    }
    srtp_shutdown();
    return 0;
}
