/*
 * srtp_set_stream_use_cryptex (libsrtp 2.8's API, RFC 9335) through the
 * drop-in's C API, run by tests/api.rs:
 *  - RFC 9335 Appendix A's packets byte for byte (AES_CM_128_HMAC_SHA1_80
 *    and AEAD_AES_128_GCM; libsrtp main's srtp_validate_cryptex and
 *    srtp_validate_gcm_cryptex carry the same bytes), cryptex set on a
 *    stream added for its SSRC and on a template, and back on receive;
 *  - a receiver with cryptex takes packets without it (RFC 9335 §5.2);
 *  - CSRCs without an extension: srtp_err_status_cryptex_err (as libsrtp
 *    2.8: the buffer has no room for the empty extension), buffer as it
 *    came;
 *  - turned off again, the packet is protected as plain SRTP;
 *  - NULL arguments, an unknown SSRC, a missing template and a stream the
 *    template made are bad_param.
 * Prints "cryptex: ok" when everything held.
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

/* RFC 9335 A.1 / A.2 master keys (key || salt). */
static unsigned char cm_key[30] = {
    0xe1, 0xf9, 0x7a, 0x0d, 0x3e, 0x01, 0x8b, 0xe0, 0xd6, 0x4f,
    0xa3, 0x2c, 0x06, 0xde, 0x41, 0x39, 0x0e, 0xc6, 0x75, 0xad,
    0x49, 0x8a, 0xfe, 0xeb, 0xb6, 0x96, 0x0b, 0x3a, 0xab, 0xe6};
static unsigned char gcm_key[28] = {
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09,
    0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0xa0, 0xa1, 0xa2, 0xa3,
    0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab};

typedef struct {
    const char *name, *plain, *cm, *gcm;
} vec_t;

/* RFC 9335 Appendix A (test data). */
static const vec_t V[] = {
    {"1-byte",
     "900f1235decafbadcafebabebede000151000200abababababababababababababababab",
     "900f1235decafbadcafebabec0de0001eb92365251c3e036f8de27e9c27ee3e0b4651d9f"
     "bc4218a70244522f34a5",
     "900f1235decafbadcafebabec0de000139972dc9572c4d99e8fc355de743fb2e94f9d8ff"
     "54e72f4193bbc5c74ffab0fa9fa0fbeb"},
    {"2-byte",
     "900f1236decafbadcafebabe1000000105020002abababababababababababababababab",
     "900f1236decafbadcafebabec2de00014ed9cc4e6a712b3096c5ca77339d4204ce0d7739"
     "6cab69585fbce38194a5",
     "900f1236decafbadcafebabec2de0001bb75a4c545cd1f413bdb7daa2b1e3263de313667"
     "c963249081b35a65f5cb6c88b394235f"},
    {"1-byte with CSRCs",
     "920f1238decafbadcafebabe0001e2400000b26ebede000151000200abababababababab"
     "abababababababab",
     "920f1238decafbadcafebabe8bb6e12b5cff16ddc0de000192838c8c09e58393e1de3a9a"
     "74734d6745671338c3acf11da2df8423bee0",
     "920f1238decafbadcafebabe63bbccc4a7f695c4c0de00018ad7c71fac70a80c92866b4c"
     "6ba98546ef913586e95ffaaffe956885bb0647a8bc094ac8"},
    {"2-byte with CSRCs",
     "920f1239decafbadcafebabe0001e2400000b26e1000000105020002abababababababab"
     "abababababababab",
     "920f1239decafbadcafebabef70e513eb90b9b25c2de0001bbed4848faa644665f3d7f34"
     "125914e9f4d0ae923c6f479b95a0f7b53133",
     "920f1239decafbadcafebabe3680524f8d312b00c2de0001c78d120038422bc111a7187a"
     "18246f980c059cc6bc9df8b626394eca344e4b05d80fea83"},
    {"empty 1-byte with CSRCs",
     "920f123adecafbadcafebabe0001e2400000b26ebede0000abababababababababababab"
     "abababab",
     "920f123adecafbadcafebabe7130b6abfe2ab0e3c0de0000e3d9f64b25c9e74cb4cf8e43"
     "fb92e3781c2c0ceab6b3a499a14c",
     "920f123adecafbadcafebabe15b6bb4337906fffc0de0000b7b964537a2b03ab7ba5389c"
     "e93317126b5d974df30c6884dcb651c5e120c1da"},
    {"empty 2-byte with CSRCs",
     "920f123bdecafbadcafebabe0001e2400000b26e10000000abababababababababababab"
     "abababab",
     "920f123bdecafbadcafebabecbf24c124330e1c8c2de0000599dd45bc9d687b603e8b59d"
     "771fd38e88b170e0cd31e125eabe",
     "920f123bdecafbadcafebabedcb38c9e48bf95f4c2de000061ee432cf920317076613258"
     "d3ce4236c06ac429681ad08413512dc98b5207d8"},
};

static int unhex(const char *s, unsigned char *out)
{
    int n = 0;
    for (; s[0] && s[1]; s += 2) {
        unsigned v;
        sscanf(s, "%2x", &v);
        out[n++] = (unsigned char)v;
    }
    return n;
}

static void policy(srtp_policy_t *p, int gcm, int type)
{
    memset(p, 0, sizeof *p);
    if (gcm) {
        srtp_crypto_policy_set_aes_gcm_128_16_auth(&p->rtp);
        srtp_crypto_policy_set_aes_gcm_128_16_auth(&p->rtcp);
        p->key = gcm_key;
    } else {
        srtp_crypto_policy_set_rtp_default(&p->rtp);
        srtp_crypto_policy_set_rtcp_default(&p->rtcp);
        p->key = cm_key;
    }
    p->ssrc.type = type;
    p->ssrc.value = 0xcafebabe;
    p->window_size = 128;
}

/* A session of one stream (ssrc type `type`) with cryptex `on`. */
static srtp_t session(int gcm, int type, int on)
{
    srtp_policy_t p;
    policy(&p, gcm, type);
    srtp_t s = NULL;
    CHECK(srtp_create(&s, &p) == srtp_err_status_ok);
    if (on) {
        srtp_ssrc_t which = p.ssrc;
        CHECK(srtp_set_stream_use_cryptex(s, &which, 1) == srtp_err_status_ok);
    }
    return s;
}

static void vectors(int gcm, int type)
{
    for (size_t i = 0; i < sizeof V / sizeof V[0]; i++) {
        unsigned char plain[128], want[128], buf[256];
        int pl = unhex(V[i].plain, plain);
        int wl = unhex(gcm ? V[i].gcm : V[i].cm, want);
        srtp_t tx = session(gcm, type == ssrc_specific ? type : ssrc_any_outbound, 1);
        memcpy(buf, plain, pl);
        int len = pl;
        CHECK(srtp_protect(tx, buf, &len) == srtp_err_status_ok);
        if (len != wl || memcmp(buf, want, wl) != 0) {
            printf("FAIL %s %s (type %d): protect differs\n", V[i].name,
                   gcm ? "GCM" : "CM", type);
            failures++;
        }
        srtp_t rx = session(gcm, type == ssrc_specific ? type : ssrc_any_inbound, 1);
        CHECK(srtp_unprotect(rx, buf, &len) == srtp_err_status_ok);
        CHECK(len == pl && memcmp(buf, plain, pl) == 0);
        srtp_dealloc(tx);
        srtp_dealloc(rx);
    }
}

int main(void)
{
    CHECK(srtp_init() == srtp_err_status_ok);
    for (int gcm = 0; gcm < 2; gcm++) {
        vectors(gcm, ssrc_specific);
        vectors(gcm, ssrc_any_inbound);
    }

    /* A receiver with cryptex takes a packet sent without it. */
    {
        unsigned char plain[128], buf[256];
        int pl = unhex(V[2].plain, plain);
        srtp_t tx = session(0, ssrc_specific, 0);
        srtp_t rx = session(0, ssrc_specific, 1);
        memcpy(buf, plain, pl);
        int len = pl;
        CHECK(srtp_protect(tx, buf, &len) == srtp_err_status_ok);
        CHECK(buf[20] == 0xbe && buf[21] == 0xde);
        CHECK(srtp_unprotect(rx, buf, &len) == srtp_err_status_ok);
        CHECK(len == pl && memcmp(buf, plain, pl) == 0);
        srtp_dealloc(tx);
        srtp_dealloc(rx);
    }

    /* CSRCs and no extension: refused, buffer untouched; turned off, plain
       SRTP again. */
    {
        unsigned char pkt[64] = {0x82, 0x0f, 0x12, 0x3c, 0xde, 0xca, 0xfb, 0xad,
                                 0xca, 0xfe, 0xba, 0xbe, 1, 2, 3, 4, 5, 6, 7, 8,
                                 0xab, 0xab, 0xab, 0xab};
        unsigned char buf[128];
        srtp_t tx = session(0, ssrc_specific, 1);
        memcpy(buf, pkt, 24);
        int len = 24;
        CHECK(srtp_protect(tx, buf, &len) == srtp_err_status_cryptex_err);
        CHECK(len == 24 && memcmp(buf, pkt, 24) == 0);
        srtp_ssrc_t which = {ssrc_specific, 0xcafebabe};
        CHECK(srtp_set_stream_use_cryptex(tx, &which, 0) == srtp_err_status_ok);
        CHECK(srtp_protect(tx, buf, &len) == srtp_err_status_ok);
        CHECK(len == 34 && memcmp(buf, pkt, 20) == 0); /* CSRCs in clear */
        srtp_dealloc(tx);
    }

    /* Refusals. */
    {
        srtp_t s = session(0, ssrc_specific, 0);
        srtp_ssrc_t other = {ssrc_specific, 0x12345678};
        srtp_ssrc_t any = {ssrc_any_inbound, 0};
        srtp_ssrc_t undef = {ssrc_undefined, 0};
        CHECK(srtp_set_stream_use_cryptex(NULL, &other, 1) == srtp_err_status_bad_param);
        CHECK(srtp_set_stream_use_cryptex(s, NULL, 1) == srtp_err_status_bad_param);
        CHECK(srtp_set_stream_use_cryptex(s, &other, 1) == srtp_err_status_bad_param);
        CHECK(srtp_set_stream_use_cryptex(s, &any, 1) == srtp_err_status_bad_param);
        CHECK(srtp_set_stream_use_cryptex(s, &undef, 1) == srtp_err_status_bad_param);
        srtp_dealloc(s);

        /* A stream the template made lives in the template: refused. */
        unsigned char plain[128], buf[256];
        int pl = unhex(V[0].plain, plain);
        srtp_t t = session(0, ssrc_any_outbound, 0);
        memcpy(buf, plain, pl);
        int len = pl;
        CHECK(srtp_protect(t, buf, &len) == srtp_err_status_ok);
        srtp_ssrc_t made = {ssrc_specific, 0xcafebabe};
        CHECK(srtp_set_stream_use_cryptex(t, &made, 1) == srtp_err_status_bad_param);
        srtp_dealloc(t);
    }

    CHECK(srtp_shutdown() == srtp_err_status_ok);
    if (failures) {
        printf("cryptex: %d failures\n", failures);
        return 1;
    }
    printf("cryptex: ok\n");
    return 0;
}
