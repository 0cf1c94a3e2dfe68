/*
 * ffi/srtp2/bench/bench.c: SRTP/SRTCP protect and unprotect timed through
 * the libsrtp 2.x public API only (srtp_init, srtp_create, srtp_protect,
 * srtp_unprotect, srtp_protect_rtcp, srtp_unprotect_rtcp, srtp_dealloc,
 * the srtp_crypto_policy_set_* setters), so the one source builds against
 * any libsrtp2: ffi/srtp2/bench.sh builds it three times, against
 * librampart-srtp2 (the drop-in), Debian's libsrtp2 2.5 (NSS) and libsrtp
 * 2.3 with OpenSSL, and runs the three alternately.
 *
 * What it proves: how many nanoseconds one packet costs through each
 * library's C API, for AES_CM_128_HMAC_SHA1_80 and AEAD_AES_128_GCM, RTP
 * payloads of 160 and 1200 bytes and an 80-byte SRTCP packet; and (the
 * "check" lines) that the three produce the same SRTP bytes for the same
 * key and packet, so they are timed doing the same work.
 *
 * Each run times `packets` packets with clock_gettime(CLOCK_MONOTONIC):
 *  - protect: one session, one buffer; per packet the sequence number is
 *    bumped and the length reset (the payload is re-encrypted in place,
 *    as costly as plaintext);
 *  - unprotect: one receiving session for the whole run; packets are
 *    protected BATCH at a time (untimed, with consecutive sequence numbers
 *    or SRTCP indices, by the same library) into an array, then the
 *    unprotect of the batch is timed. No restore copy at all: every
 *    packet unprotected is a fresh one, and nothing but the unprotect
 *    calls is inside the timed region, for every library alike.
 * Every call's status is checked (any failure aborts the run).
 *
 * Usage: bench LABEL [RUNS [PACKETS]]
 * Prints "sample LABEL SUITE PACKET OP NS" per run and cell,
 * "check LABEL SUITE PACKET HASH" per cell and "version LABEL TEXT".
 * PACKETS (default 200000) is the count for 160-byte payloads and SRTCP;
 * 1200-byte payloads run a quarter of it.
 */
#define _POSIX_C_SOURCE 200809L
#include <srtp2/srtp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BATCH 1024
#define STRIDE 1600
#define RTP_HEADER 12
#define RTCP_LEN 80
#define SSRC 0xcafe0001u

typedef struct {
    const char *name;
    void (*set)(srtp_crypto_policy_t *);
    int key_len; /* master key + salt */
} suite_t;

static void set_rtp_default(srtp_crypto_policy_t *p) { srtp_crypto_policy_set_rtp_default(p); }

static const suite_t SUITES[] = {
    {"AES_CM_128_HMAC_SHA1_80", set_rtp_default, 30},
    {"AEAD_AES_128_GCM", srtp_crypto_policy_set_aes_gcm_128_16_auth, 28},
};

/* Payload sizes; 0 stands for the SRTCP packet. */
static const int SIZES[] = {160, 1200, 0};

static unsigned char KEY[46];

static double now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static void die(const char *what, int status) {
    fprintf(stderr, "bench: %s failed: status %d\n", what, status);
    exit(1);
}

static srtp_t session(const suite_t *s) {
    srtp_policy_t p;
    memset(&p, 0, sizeof p);
    s->set(&p.rtp);
    s->set(&p.rtcp);
    p.ssrc.type = ssrc_specific;
    p.ssrc.value = SSRC;
    p.key = KEY;
    p.window_size = 128;
    srtp_t sess = NULL;
    srtp_err_status_t st = srtp_create(&sess, &p);
    if (st != srtp_err_status_ok) die("srtp_create", st);
    return sess;
}

/* An RTP packet (payload > 0) or an SRTCP-able RTCP SR (payload 0);
 * returns its length. */
static int make_packet(unsigned char *b, int payload, uint16_t seq) {
    int len = payload ? RTP_HEADER + payload : RTCP_LEN;
    memset(b, 0, STRIDE);
    if (payload) {
        b[0] = 0x80;
        b[1] = 0; /* PCMU */
        b[2] = (unsigned char)(seq >> 8);
        b[3] = (unsigned char)seq;
        b[4] = 0x12; /* timestamp */
        b[8] = (unsigned char)(SSRC >> 24);
        b[9] = (unsigned char)(SSRC >> 16);
        b[10] = (unsigned char)(SSRC >> 8);
        b[11] = (unsigned char)SSRC;
        for (int i = 0; i < payload; i++) b[RTP_HEADER + i] = (unsigned char)(i * 7 + 3);
    } else {
        b[0] = 0x80;
        b[1] = 200; /* SR */
        b[2] = 0;
        b[3] = RTCP_LEN / 4 - 1;
        b[4] = (unsigned char)(SSRC >> 24);
        b[5] = (unsigned char)(SSRC >> 16);
        b[6] = (unsigned char)(SSRC >> 8);
        b[7] = (unsigned char)SSRC;
        for (int i = 8; i < RTCP_LEN; i++) b[i] = (unsigned char)(i * 5 + 1);
    }
    return len;
}

static void protect(srtp_t s, int rtcp, unsigned char *b, int *len) {
    srtp_err_status_t st = rtcp ? srtp_protect_rtcp(s, b, len) : srtp_protect(s, b, len);
    if (st != srtp_err_status_ok) die(rtcp ? "srtp_protect_rtcp" : "srtp_protect", st);
}

static void unprotect(srtp_t s, int rtcp, unsigned char *b, int *len) {
    srtp_err_status_t st = rtcp ? srtp_unprotect_rtcp(s, b, len) : srtp_unprotect(s, b, len);
    if (st != srtp_err_status_ok) die(rtcp ? "srtp_unprotect_rtcp" : "srtp_unprotect", st);
}

/* FNV-1a of the first protected packet, fresh session: equal across
 * libraries when they produce the same bytes. Also checks a round trip. */
static uint64_t check(const suite_t *s, int payload) {
    static unsigned char b[STRIDE], plain[STRIDE];
    int rtcp = payload == 0;
    int len = make_packet(b, payload, 1), plain_len = len;
    memcpy(plain, b, STRIDE);
    srtp_t tx = session(s), rx = session(s);
    protect(tx, rtcp, b, &len);
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < len; i++) h = (h ^ b[i]) * 1099511628211ull;
    unprotect(rx, rtcp, b, &len);
    if (len != plain_len || memcmp(b, plain, (size_t)len) != 0) {
        fprintf(stderr, "bench: %s %d: round trip differs\n", s->name, payload);
        exit(1);
    }
    srtp_dealloc(tx);
    srtp_dealloc(rx);
    return h;
}

static double time_protect(const suite_t *s, int payload, long n) {
    static unsigned char b[STRIDE];
    int rtcp = payload == 0;
    int plen = make_packet(b, payload, 0);
    srtp_t tx = session(s);
    uint16_t seq = 0;
    double t0 = now_ns();
    for (long i = 0; i < n; i++) {
        int len = plen;
        if (!rtcp) {
            seq++;
            b[2] = (unsigned char)(seq >> 8);
            b[3] = (unsigned char)seq;
        }
        protect(tx, rtcp, b, &len);
    }
    double ns = (now_ns() - t0) / (double)n;
    srtp_dealloc(tx);
    return ns;
}

static double time_unprotect(const suite_t *s, int payload, long n) {
    static unsigned char plain[STRIDE];
    unsigned char *batch = malloc((size_t)BATCH * STRIDE);
    int lens[BATCH];
    if (!batch) die("malloc", 0);
    int rtcp = payload == 0;
    int plen = make_packet(plain, payload, 0);
    srtp_t tx = session(s), rx = session(s);
    uint16_t seq = 0;
    double total = 0;
    long done = 0;
    while (done < n) {
        int k = n - done < BATCH ? (int)(n - done) : BATCH;
        for (int i = 0; i < k; i++) {
            unsigned char *b = batch + (size_t)i * STRIDE;
            memcpy(b, plain, (size_t)plen);
            if (!rtcp) {
                seq++;
                b[2] = (unsigned char)(seq >> 8);
                b[3] = (unsigned char)seq;
            }
            lens[i] = plen;
            protect(tx, rtcp, b, &lens[i]);
        }
        double t0 = now_ns();
        for (int i = 0; i < k; i++) unprotect(rx, rtcp, batch + (size_t)i * STRIDE, &lens[i]);
        total += now_ns() - t0;
        done += k;
    }
    srtp_dealloc(tx);
    srtp_dealloc(rx);
    free(batch);
    return total / (double)n;
}

static const char *packet_name(int payload) {
    switch (payload) {
    case 160: return "rtp-160";
    case 1200: return "rtp-1200";
    default: return "rtcp-80";
    }
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench LABEL [RUNS [PACKETS]]\n");
        return 2;
    }
    const char *label = argv[1];
    int runs = argc > 2 ? atoi(argv[2]) : 1;
    long packets = argc > 3 ? atol(argv[3]) : 200000;
    if (runs < 1 || packets < 1) return 2;
    for (size_t i = 0; i < sizeof KEY; i++) KEY[i] = (unsigned char)(i * 29 + 17);
    srtp_err_status_t st = srtp_init();
    if (st != srtp_err_status_ok) die("srtp_init", st);
    printf("version %s %s\n", label, srtp_get_version_string());
    for (size_t si = 0; si < sizeof SUITES / sizeof SUITES[0]; si++) {
        const suite_t *s = &SUITES[si];
        for (size_t zi = 0; zi < sizeof SIZES / sizeof SIZES[0]; zi++) {
            int payload = SIZES[zi];
            long n = payload > 500 ? packets / 4 : packets;
            if (n < 1) n = 1;
            printf("check %s %s %s %016llx\n", label, s->name, packet_name(payload),
                   (unsigned long long)check(s, payload));
            for (int r = 0; r < runs; r++) {
                printf("sample %s %s %s protect %.1f\n", label, s->name, packet_name(payload),
                       time_protect(s, payload, n));
                printf("sample %s %s %s unprotect %.1f\n", label, s->name, packet_name(payload),
                       time_unprotect(s, payload, n));
            }
            fflush(stdout);
        }
    }
    srtp_shutdown();
    return 0;
}
