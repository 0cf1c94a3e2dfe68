/*
 * What the drop-in promises beyond libsrtp's behaviour, through its C API
 * (tests/api.rs runs this under valgrind):
 *  - protect writes exactly the trailer srtp_get_protect_trailer_length
 *    reports, never further (canary bytes after it stay untouched);
 *  - NULL sessions, policies, buffers and length pointers are refused with
 *    srtp_err_status_bad_param instead of crashing;
 *  - the event handler sees an SSRC collision (a stream used both ways);
 *  - a stream added again for an SSRC replaces the old one (libsrtp 2.5:
 *    the newer stream is the one found);
 *  - ROC set/get, user data, update with new keys, remove and dealloc
 *    free everything (valgrind: no leak).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <srtp2/srtp.h>

static int failures;
#define CHECK(c)                                                               \
    do {                                                                       \
        if (!(c)) {                                                            \
            printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c);               \
            failures++;                                                        \
        }                                                                      \
    } while (0)

static int events[4];
static unsigned last_event_ssrc;
static void on_event(srtp_event_data_t *d)
{
    if ((int)d->event >= 0 && (int)d->event < 4)
        events[d->event]++;
    last_event_ssrc = d->ssrc;
}

static uint8_t key[46] = {0x11, 0x22, 0x33};

static void policy(srtp_policy_t *p, int type, unsigned ssrc, int gcm)
{
    memset(p, 0, sizeof *p);
    if (gcm) {
        srtp_crypto_policy_set_aes_gcm_128_16_auth(&p->rtp);
        srtp_crypto_policy_set_aes_gcm_128_16_auth(&p->rtcp);
    } else {
        srtp_crypto_policy_set_rtp_default(&p->rtp);
        srtp_crypto_policy_set_rtcp_default(&p->rtcp);
    }
    p->ssrc.type = type;
    p->ssrc.value = ssrc;
    p->key = key;
}

static int rtp(uint8_t *b, unsigned ssrc, unsigned seq, int payload)
{
    memset(b, 0, 12);
    b[0] = 0x80;
    b[2] = seq >> 8;
    b[3] = seq;
    b[8] = ssrc >> 24;
    b[9] = ssrc >> 16;
    b[10] = ssrc >> 8;
    b[11] = ssrc;
    for (int i = 0; i < payload; i++)
        b[12 + i] = i;
    return 12 + payload;
}

int main(void)
{
    CHECK(srtp_init() == srtp_err_status_ok);
    CHECK(srtp_install_event_handler(on_event) == srtp_err_status_ok);
    srtp_policy_t p;
    srtp_t s = NULL;

    /* NULL arguments. */
    policy(&p, ssrc_any_outbound, 0, 0);
    CHECK(srtp_create(NULL, &p) == srtp_err_status_bad_param);
    CHECK(srtp_create(&s, &p) == srtp_err_status_ok);
    int len = 40;
    uint8_t buf[256];
    CHECK(srtp_protect(NULL, buf, &len) == srtp_err_status_bad_param);
    CHECK(srtp_protect(s, NULL, &len) == srtp_err_status_bad_param);
    CHECK(srtp_protect(s, buf, NULL) == srtp_err_status_bad_param);
    CHECK(srtp_unprotect(s, buf, NULL) == srtp_err_status_bad_param);
    CHECK(srtp_protect_rtcp(NULL, buf, &len) == srtp_err_status_bad_param);
    CHECK(srtp_add_stream(s, NULL) == srtp_err_status_bad_param);
    CHECK(srtp_update(s, NULL) == srtp_err_status_bad_param);
    CHECK(srtp_dealloc(NULL) == srtp_err_status_bad_param);
    CHECK(srtp_get_protect_trailer_length(s, 0, 0, NULL) == srtp_err_status_bad_param);
    len = -5;
    CHECK(srtp_protect(s, buf, &len) == srtp_err_status_bad_param);
    CHECK(srtp_get_user_data(NULL) == NULL);
    srtp_set_user_data(NULL, buf); /* must not crash */

    /* Protect writes exactly the reported trailer. */
    for (int gcm = 0; gcm < 2; gcm++) {
        srtp_t t = NULL;
        policy(&p, ssrc_any_outbound, 0, gcm);
        CHECK(srtp_create(&t, &p) == srtp_err_status_ok);
        uint32_t trailer = 0, rtcp_trailer = 0;
        CHECK(srtp_get_protect_trailer_length(t, 0, 0, &trailer) == srtp_err_status_ok);
        CHECK(srtp_get_protect_rtcp_trailer_length(t, 0, 0, &rtcp_trailer) == srtp_err_status_ok);
        CHECK(trailer == (gcm ? 16u : 10u));
        CHECK(rtcp_trailer == (gcm ? 20u : 14u));
        /* An exact-size heap buffer: valgrind reports any write past it. */
        int n = rtp(buf, 0x1234, 7, 100);
        uint8_t *exact = malloc(n + trailer + 8);
        memcpy(exact, buf, n);
        memset(exact + n + trailer, 0xa5, 8);
        int l = n;
        CHECK(srtp_protect(t, exact, &l) == srtp_err_status_ok);
        CHECK(l == n + (int)trailer);
        for (int i = 0; i < 8; i++)
            CHECK(exact[n + trailer + i] == 0xa5);
        free(exact);
        srtp_dealloc(t);
    }

    /* A stream used both ways raises one collision event. */
    srtp_t both = NULL;
    policy(&p, ssrc_specific, 0xabcd, 0);
    CHECK(srtp_create(&both, &p) == srtp_err_status_ok);
    srtp_t peer = NULL;
    CHECK(srtp_create(&peer, &p) == srtp_err_status_ok);
    len = rtp(buf, 0xabcd, 1, 20);
    CHECK(srtp_protect(both, buf, &len) == srtp_err_status_ok);
    int n2 = rtp(buf + 128, 0xabcd, 500, 20);
    CHECK(srtp_protect(peer, buf + 128, &n2) == srtp_err_status_ok);
    CHECK(events[event_ssrc_collision] == 0);
    CHECK(srtp_unprotect(both, buf + 128, &n2) == srtp_err_status_ok);
    CHECK(events[event_ssrc_collision] == 1);
    CHECK(last_event_ssrc == 0xabcd);

    /* ROC set/get (host order) and removal (network order). */
    uint32_t roc = 99;
    CHECK(srtp_set_stream_roc(both, 0xabcd, 5) == srtp_err_status_ok);
    CHECK(srtp_get_stream_roc(both, 0xabcd, &roc) == srtp_err_status_ok);
    CHECK(roc == 5);
    CHECK(srtp_get_stream_roc(both, 0x9999, &roc) == srtp_err_status_bad_param);
    CHECK(srtp_remove_stream(both, 0xabcd) == srtp_err_status_no_ctx); /* host order: not found */
    CHECK(srtp_remove_stream(both, __builtin_bswap32(0xabcd)) == srtp_err_status_ok);
    CHECK(srtp_remove_stream(both, __builtin_bswap32(0xabcd)) == srtp_err_status_no_ctx);

    /* Adding a stream for an SSRC that has one replaces it. */
    CHECK(srtp_add_stream(both, &p) == srtp_err_status_ok);
    CHECK(srtp_add_stream(both, &p) == srtp_err_status_ok);
    len = rtp(buf, 0xabcd, 1, 20);
    CHECK(srtp_protect(both, buf, &len) == srtp_err_status_ok);
    /* A second template is refused. */
    policy(&p, ssrc_any_inbound, 0, 0);
    CHECK(srtp_add_stream(both, &p) == srtp_err_status_ok);
    CHECK(srtp_add_stream(both, &p) == srtp_err_status_bad_param);

    /* Update with new keys; user data. */
    key[0] ^= 0xff;
    policy(&p, ssrc_specific, 0xabcd, 0);
    CHECK(srtp_update(both, &p) == srtp_err_status_ok);
    policy(&p, ssrc_specific, 0x5555, 0);
    CHECK(srtp_update_stream(both, &p) == srtp_err_status_bad_param); /* nothing to update */
    srtp_set_user_data(both, &failures);
    CHECK(srtp_get_user_data(both) == &failures);

    /* Unsupported policies are refused, not run unauthenticated. */
    srtp_t refused = NULL;
    policy(&p, ssrc_any_outbound, 0, 0);
    srtp_crypto_policy_set_aes_cm_128_null_auth(&p.rtp);
    CHECK(srtp_create(&refused, &p) == srtp_err_status_bad_param);
    /* RTCP left unused: SRTP runs, SRTCP calls are refused. */
    policy(&p, ssrc_any_outbound, 0, 0);
    memset(&p.rtcp, 0, sizeof p.rtcp);
    srtp_t rtp_only = NULL;
    CHECK(srtp_create(&rtp_only, &p) == srtp_err_status_ok);
    len = rtp(buf, 0x77, 3, 10);
    CHECK(srtp_protect(rtp_only, buf, &len) == srtp_err_status_ok);
    uint8_t rtcp[64] = {0x80, 200, 0, 1, 0, 0, 0, 0x77};
    len = 8;
    CHECK(srtp_protect_rtcp(rtp_only, rtcp, &len) == srtp_err_status_no_such_op);

    CHECK(srtp_dealloc(rtp_only) == srtp_err_status_ok);
    CHECK(srtp_dealloc(both) == srtp_err_status_ok);
    CHECK(srtp_dealloc(peer) == srtp_err_status_ok);
    CHECK(srtp_dealloc(s) == srtp_err_status_ok);
    CHECK(srtp_shutdown() == srtp_err_status_ok);
    printf("api: %s (%d failures)\n", failures ? "FAILED" : "ok", failures);
    return failures ? 1 : 0;
}
