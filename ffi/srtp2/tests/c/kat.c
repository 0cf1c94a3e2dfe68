/*
 * Known-answer packets through libsrtp2's public API only (<srtp2/srtp.h>):
 * built and run by ffi/srtp2/tests/rtpw.rs against librampart-srtp2 and
 * against the system libsrtp2, which must both produce these bytes.
 *
 * For each vector: srtp_create a sender (ssrc_specific 0xcafebabe, window
 * 128), srtp_protect the RTP packet and srtp_protect_rtcp the RTCP packet
 * and compare length and bytes with the reference; srtp_create a receiver,
 * srtp_unprotect / srtp_unprotect_rtcp the references and compare with the
 * plaintexts; unprotecting the same SRTP packet again must fail with
 * replay_fail, and a copy with one bit flipped must fail with auth_fail on
 * a fresh receiver.
 *
 * Output, one line per vector: "kat <name>: ok", "kat <name>: refused
 * <status>" (srtp_create refused the policy: the Rust side decides whether
 * that is expected), or "kat <name>: FAIL <why>". Exit status 1 when a
 * vector failed.
 *
 * The vectors' bytes are data from libsrtp 2.3.0 test/srtp_driver.c
 * (functions srtp_validate, srtp_validate_gcm, srtp_validate_aes_256,
 * srtp_validate_encrypted_extensions_headers and
 * srtp_validate_encrypted_extensions_headers_gcm; the last two are RFC
 * 6904 Appendix A's headers; the _gcm one has an 8-byte GCM tag, which
 * the drop-in refuses, so it is also run as AEAD_AES_128_GCM with the
 * full 16-byte tag: the same 64 bytes, then the tag's last 8 bytes as
 * Debian's libsrtp2 2.5 computes them, which the run against it checks),
 * except AEAD_AES_256_GCM, for which libsrtp
 * has no reference packet: that one was computed by kat_gcm256.py (RFC
 * 3711 key derivation and RFC 7714 AEAD over pyca/cryptography), which
 * first reproduces the driver's AES-CM-128, AES-256-CM and AES-GCM-128
 * packets byte for byte.
 */
#include <srtp2/srtp.h>

#include <stdio.h>
#include <string.h>

#define BUF 256

typedef void (*setter_t)(srtp_crypto_policy_t *);

typedef struct {
    const char *name;
    setter_t rtp_policy;
    setter_t rtcp_policy;
    const unsigned char *key;
    int *xtn_hdrs; /* RFC 6904 header ids to encrypt, or NULL */
    int xtn_hdr_count;
    const unsigned char *rtp;
    int rtp_len;
    const unsigned char *srtp;
    int srtp_len;
    const unsigned char *rtcp; /* NULL: no SRTCP reference */
    int rtcp_len;
    const unsigned char *srtcp;
    int srtcp_len;
} vector_t;

/* clang-format off */

/* srtp_driver.c test_key (srtp_validate; 30 of its 46 bytes are used). */
static const unsigned char test_key[46] = {
    0xe1, 0xf9, 0x7a, 0x0d, 0x3e, 0x01, 0x8b, 0xe0,
    0xd6, 0x4f, 0xa3, 0x2c, 0x06, 0xde, 0x41, 0x39,
    0x0e, 0xc6, 0x75, 0xad, 0x49, 0x8a, 0xfe, 0xeb,
    0xb6, 0x96, 0x0b, 0x3a, 0xab, 0xe6, 0xc1, 0x73,
    0xc3, 0x17, 0xf2, 0xda, 0xbe, 0x35, 0x77, 0x93,
    0xb6, 0x96, 0x0b, 0x3a, 0xab, 0xe6
};

/* The plaintexts every driver vector shares. */
static const unsigned char rtp_plain[28] = {
    0x80, 0x0f, 0x12, 0x34, 0xde, 0xca, 0xfb, 0xad,
    0xca, 0xfe, 0xba, 0xbe, 0xab, 0xab, 0xab, 0xab,
    0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab,
    0xab, 0xab, 0xab, 0xab
};
static const unsigned char rtcp_plain[24] = {
    0x81, 0xc8, 0x00, 0x0b, 0xca, 0xfe, 0xba, 0xbe,
    0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab,
    0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab
};

/* srtp_validate: AES_CM_128_HMAC_SHA1_80. */
static const unsigned char cm128_srtp[38] = {
    0x80, 0x0f, 0x12, 0x34, 0xde, 0xca, 0xfb, 0xad,
    0xca, 0xfe, 0xba, 0xbe, 0x4e, 0x55, 0xdc, 0x4c,
    0xe7, 0x99, 0x78, 0xd8, 0x8c, 0xa4, 0xd2, 0x15,
    0x94, 0x9d, 0x24, 0x02, 0xb7, 0x8d, 0x6a, 0xcc,
    0x99, 0xea, 0x17, 0x9b, 0x8d, 0xbb
};
static const unsigned char cm128_srtcp[38] = {
    0x81, 0xc8, 0x00, 0x0b, 0xca, 0xfe, 0xba, 0xbe,
    0x71, 0x28, 0x03, 0x5b, 0xe4, 0x87, 0xb9, 0xbd,
    0xbe, 0xf8, 0x90, 0x41, 0xf9, 0x77, 0xa5, 0xa8,
    0x80, 0x00, 0x00, 0x01, 0x99, 0x3e, 0x08, 0xcd,
    0x54, 0xd6, 0xc1, 0x23, 0x07, 0x98
};

/* srtp_validate_gcm: AEAD_AES_128_GCM (16-byte tag). */
static const unsigned char gcm128_key[28] = {
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
    0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
    0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7,
    0xa8, 0xa9, 0xaa, 0xab
};
static const unsigned char gcm128_srtp[44] = {
    0x80, 0x0f, 0x12, 0x34, 0xde, 0xca, 0xfb, 0xad,
    0xca, 0xfe, 0xba, 0xbe, 0xc5, 0x00, 0x2e, 0xde,
    0x04, 0xcf, 0xdd, 0x2e, 0xb9, 0x11, 0x59, 0xe0,
    0x88, 0x0a, 0xa0, 0x6e, 0xd2, 0x97, 0x68, 0x26,
    0xf7, 0x96, 0xb2, 0x01, 0xdf, 0x31, 0x31, 0xa1,
    0x27, 0xe8, 0xa3, 0x92
};
static const unsigned char gcm128_srtcp[44] = {
    0x81, 0xc8, 0x00, 0x0b, 0xca, 0xfe, 0xba, 0xbe,
    0xc9, 0x8b, 0x8b, 0x5d, 0xf0, 0x39, 0x2a, 0x55,
    0x85, 0x2b, 0x6c, 0x21, 0xac, 0x8e, 0x70, 0x25,
    0xc5, 0x2c, 0x6f, 0xbe, 0xa2, 0xb3, 0xb4, 0x46,
    0xea, 0x31, 0x12, 0x3b, 0xa8, 0x8c, 0xe6, 0x1e,
    0x80, 0x00, 0x00, 0x01
};

/* srtp_validate_aes_256: AES_256_CM_HMAC_SHA1_80 (SRTP only). */
static const unsigned char cm256_key[46] = {
    0xf0, 0xf0, 0x49, 0x14, 0xb5, 0x13, 0xf2, 0x76,
    0x3a, 0x1b, 0x1f, 0xa1, 0x30, 0xf1, 0x0e, 0x29,
    0x98, 0xf6, 0xf6, 0xe4, 0x3e, 0x43, 0x09, 0xd1,
    0xe6, 0x22, 0xa0, 0xe3, 0x32, 0xb9, 0xf1, 0xb6,
    0x3b, 0x04, 0x80, 0x3d, 0xe5, 0x1e, 0xe7, 0xc9,
    0x64, 0x23, 0xab, 0x5b, 0x78, 0xd2
};
static const unsigned char cm256_srtp[38] = {
    0x80, 0x0f, 0x12, 0x34, 0xde, 0xca, 0xfb, 0xad,
    0xca, 0xfe, 0xba, 0xbe, 0xf1, 0xd9, 0xde, 0x17,
    0xff, 0x25, 0x1f, 0xf1, 0xaa, 0x00, 0x77, 0x74,
    0xb0, 0xb4, 0xb4, 0x0d, 0xa0, 0x8d, 0x9d, 0x9a,
    0x5b, 0x3a, 0x55, 0xd8, 0x87, 0x3b
};

/* AEAD_AES_256_GCM, computed by kat_gcm256.py: master key 00..1f, master
 * salt a0..ab (srtp_validate_gcm's salt), the plaintexts above. */
static const unsigned char gcm256_key[44] = {
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
    0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17,
    0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
    0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7,
    0xa8, 0xa9, 0xaa, 0xab
};
static const unsigned char gcm256_srtp[44] = {
    0x80, 0x0f, 0x12, 0x34, 0xde, 0xca, 0xfb, 0xad,
    0xca, 0xfe, 0xba, 0xbe, 0x0a, 0xf7, 0xf2, 0x1e,
    0x8a, 0x90, 0xbd, 0xad, 0x7a, 0x42, 0x5c, 0x9c,
    0x31, 0xed, 0x4b, 0xb1, 0xd9, 0x02, 0x38, 0x91,
    0x7e, 0x73, 0x90, 0xa2, 0x79, 0x35, 0x00, 0xe1,
    0x68, 0x1a, 0xca, 0xea
};
static const unsigned char gcm256_srtcp[44] = {
    0x81, 0xc8, 0x00, 0x0b, 0xca, 0xfe, 0xba, 0xbe,
    0x8a, 0xbf, 0xaf, 0xa7, 0x80, 0x07, 0x0a, 0x90,
    0xe8, 0x0f, 0x91, 0x61, 0xcf, 0x4a, 0xac, 0x08,
    0x1e, 0xd9, 0x3a, 0xaa, 0x53, 0xc1, 0x5b, 0x0f,
    0x3e, 0xd1, 0xa3, 0xb9, 0x84, 0x16, 0x7b, 0x03,
    0x80, 0x00, 0x00, 0x01
};

/* srtp_validate_encrypted_extensions_headers{,_gcm}: RFC 6904 (header
 * extension ids 1, 3 and 4 encrypted). */
static const unsigned char xtn_key[30] = {
    0xe1, 0xf9, 0x7a, 0x0d, 0x3e, 0x01, 0x8b, 0xe0,
    0xd6, 0x4f, 0xa3, 0x2c, 0x06, 0xde, 0x41, 0x39,
    0x0e, 0xc6, 0x75, 0xad, 0x49, 0x8a, 0xfe, 0xeb,
    0xb6, 0x96, 0x0b, 0x3a, 0xab, 0xe6
};
static const unsigned char xtn_plain[56] = {
    0x90, 0x0f, 0x12, 0x34, 0xde, 0xca, 0xfb, 0xad,
    0xca, 0xfe, 0xba, 0xbe, 0xBE, 0xDE, 0x00, 0x06,
    0x17, 0x41, 0x42, 0x73, 0xA4, 0x75, 0x26, 0x27,
    0x48, 0x22, 0x00, 0x00, 0xC8, 0x30, 0x8E, 0x46,
    0x55, 0x99, 0x63, 0x86, 0xB3, 0x95, 0xFB, 0x00,
    0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab,
    0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab
};
static const unsigned char xtn_cm128_srtp[66] = {
    0x90, 0x0f, 0x12, 0x34, 0xde, 0xca, 0xfb, 0xad,
    0xca, 0xfe, 0xba, 0xbe, 0xBE, 0xDE, 0x00, 0x06,
    0x17, 0x58, 0x8A, 0x92, 0x70, 0xF4, 0xE1, 0x5E,
    0x1C, 0x22, 0x00, 0x00, 0xC8, 0x30, 0x95, 0x46,
    0xA9, 0x94, 0xF0, 0xBC, 0x54, 0x78, 0x97, 0x00,
    0x4e, 0x55, 0xdc, 0x4c, 0xe7, 0x99, 0x78, 0xd8,
    0x8c, 0xa4, 0xd2, 0x15, 0x94, 0x9d, 0x24, 0x02,
    0x5a, 0x46, 0xb3, 0xca, 0x35, 0xc5, 0x35, 0xa8,
    0x91, 0xc7
};
static const unsigned char xtn_gcm128_8_srtp[64] = {
    0x90, 0x0f, 0x12, 0x34, 0xde, 0xca, 0xfb, 0xad,
    0xca, 0xfe, 0xba, 0xbe, 0xBE, 0xDE, 0x00, 0x06,
    0x17, 0x12, 0xe0, 0x20, 0x5b, 0xfa, 0x94, 0x9b,
    0x1C, 0x22, 0x00, 0x00, 0xC8, 0x30, 0xbb, 0x46,
    0x73, 0x27, 0x78, 0xd9, 0x92, 0x9a, 0xab, 0x00,
    0x0e, 0xca, 0x0c, 0xf9, 0x5e, 0xe9, 0x55, 0xb2,
    0x6c, 0xd3, 0xd2, 0x88, 0xb4, 0x9f, 0x6c, 0xa9,
    0xf4, 0xb1, 0xb7, 0x59, 0x71, 0x9e, 0xb5, 0xbc
};

/* xtn_gcm128_8_srtp with GCM's full tag (see the head of the file). */
static const unsigned char xtn_gcm128_16_srtp[72] = {
    0x90, 0x0f, 0x12, 0x34, 0xde, 0xca, 0xfb, 0xad,
    0xca, 0xfe, 0xba, 0xbe, 0xBE, 0xDE, 0x00, 0x06,
    0x17, 0x12, 0xe0, 0x20, 0x5b, 0xfa, 0x94, 0x9b,
    0x1C, 0x22, 0x00, 0x00, 0xC8, 0x30, 0xbb, 0x46,
    0x73, 0x27, 0x78, 0xd9, 0x92, 0x9a, 0xab, 0x00,
    0x0e, 0xca, 0x0c, 0xf9, 0x5e, 0xe9, 0x55, 0xb2,
    0x6c, 0xd3, 0xd2, 0x88, 0xb4, 0x9f, 0x6c, 0xa9,
    0xf4, 0xb1, 0xb7, 0x59, 0x71, 0x9e, 0xb5, 0xbc,
    0x11, 0x3b, 0x9f, 0xf1, 0xd4, 0x0c, 0xd2, 0x5a
};

/* clang-format on */

static int xtn_ids[3] = { 1, 3, 4 };

static void hex(const char *label, const unsigned char *p, int len)
{
    printf("    %s (%d):", label, len);
    for (int i = 0; i < len; i++) {
        printf("%s%02x", i % 16 ? " " : "\n      ", p[i]);
    }
    printf("\n");
}

/* Compares got[0..got_len] with want[0..want_len]; prints both if not equal. */
static int same(const char *what, const unsigned char *got, int got_len,
                const unsigned char *want, int want_len)
{
    if (got_len == want_len && memcmp(got, want, (size_t)want_len) == 0) {
        return 1;
    }
    printf("    %s differs:\n", what);
    hex("got", got, got_len);
    hex("want", want, want_len);
    return 0;
}

static srtp_err_status_t make(srtp_t *s, const vector_t *v)
{
    srtp_policy_t p;
    memset(&p, 0, sizeof(p));
    v->rtp_policy(&p.rtp);
    v->rtcp_policy(&p.rtcp);
    p.ssrc.type = ssrc_specific;
    p.ssrc.value = 0xcafebabe;
    p.key = (unsigned char *)v->key;
    p.window_size = 128;
    p.allow_repeat_tx = 0;
    p.enc_xtn_hdr = v->xtn_hdrs;
    p.enc_xtn_hdr_count = v->xtn_hdr_count;
    p.next = NULL;
    return srtp_create(s, &p);
}

/* 0: ok; 1: refused at srtp_create; 2: failed (printed). */
static int run(const vector_t *v)
{
    unsigned char buf[BUF];
    srtp_t tx = NULL, rx = NULL, rx2 = NULL;
    srtp_err_status_t st;
    int len, failed = 0;

    st = make(&tx, v);
    if (st != srtp_err_status_ok) {
        printf("kat %s: refused %d\n", v->name, (int)st);
        return 1;
    }

    /* Protect: the reference bytes. */
    memset(buf, 0, sizeof(buf));
    memcpy(buf, v->rtp, (size_t)v->rtp_len);
    len = v->rtp_len;
    st = srtp_protect(tx, buf, &len);
    if (st != srtp_err_status_ok) {
        printf("    srtp_protect: %d\n", (int)st);
        failed = 1;
    } else if (!same("srtp_protect output", buf, len, v->srtp, v->srtp_len)) {
        failed = 1;
    }
    if (v->rtcp != NULL) {
        memset(buf, 0, sizeof(buf));
        memcpy(buf, v->rtcp, (size_t)v->rtcp_len);
        len = v->rtcp_len;
        st = srtp_protect_rtcp(tx, buf, &len);
        if (st != srtp_err_status_ok) {
            printf("    srtp_protect_rtcp: %d\n", (int)st);
            failed = 1;
        } else if (!same("srtp_protect_rtcp output", buf, len, v->srtcp,
                         v->srtcp_len)) {
            failed = 1;
        }
    }

    /* Unprotect the references: the plaintexts. */
    st = make(&rx, v);
    if (st != srtp_err_status_ok) {
        printf("    receiver srtp_create: %d\n", (int)st);
        failed = 1;
        goto out;
    }
    memcpy(buf, v->srtp, (size_t)v->srtp_len);
    len = v->srtp_len;
    st = srtp_unprotect(rx, buf, &len);
    if (st != srtp_err_status_ok) {
        printf("    srtp_unprotect: %d\n", (int)st);
        failed = 1;
    } else if (!same("srtp_unprotect output", buf, len, v->rtp, v->rtp_len)) {
        failed = 1;
    }
    /* The same packet again: a replay. */
    memcpy(buf, v->srtp, (size_t)v->srtp_len);
    len = v->srtp_len;
    st = srtp_unprotect(rx, buf, &len);
    if (st != srtp_err_status_replay_fail) {
        printf("    srtp_unprotect of a replayed packet: %d, want %d\n",
               (int)st, (int)srtp_err_status_replay_fail);
        failed = 1;
    }
    if (v->rtcp != NULL) {
        memcpy(buf, v->srtcp, (size_t)v->srtcp_len);
        len = v->srtcp_len;
        st = srtp_unprotect_rtcp(rx, buf, &len);
        if (st != srtp_err_status_ok) {
            printf("    srtp_unprotect_rtcp: %d\n", (int)st);
            failed = 1;
        } else if (!same("srtp_unprotect_rtcp output", buf, len, v->rtcp,
                         v->rtcp_len)) {
            failed = 1;
        }
    }

    /* One bit flipped in the tag, on a fresh receiver: auth_fail. */
    st = make(&rx2, v);
    if (st != srtp_err_status_ok) {
        printf("    second receiver srtp_create: %d\n", (int)st);
        failed = 1;
        goto out;
    }
    memcpy(buf, v->srtp, (size_t)v->srtp_len);
    buf[v->srtp_len - 1] ^= 0x01;
    len = v->srtp_len;
    st = srtp_unprotect(rx2, buf, &len);
    if (st != srtp_err_status_auth_fail) {
        printf("    srtp_unprotect of a tampered packet: %d, want %d\n",
               (int)st, (int)srtp_err_status_auth_fail);
        failed = 1;
    }

out:
    if (tx != NULL && srtp_dealloc(tx) != srtp_err_status_ok) {
        failed = 1;
    }
    if (rx != NULL && srtp_dealloc(rx) != srtp_err_status_ok) {
        failed = 1;
    }
    if (rx2 != NULL && srtp_dealloc(rx2) != srtp_err_status_ok) {
        failed = 1;
    }
    printf("kat %s: %s\n", v->name, failed ? "FAIL" : "ok");
    return failed ? 2 : 0;
}

int main(void)
{
    const vector_t vectors[] = {
        { "srtp_validate AES_CM_128_HMAC_SHA1_80",
          srtp_crypto_policy_set_rtp_default,
          srtp_crypto_policy_set_rtcp_default, test_key, NULL, 0, rtp_plain,
          28, cm128_srtp, 38, rtcp_plain, 24, cm128_srtcp, 38 },
        { "srtp_validate_gcm AEAD_AES_128_GCM",
          srtp_crypto_policy_set_aes_gcm_128_16_auth,
          srtp_crypto_policy_set_aes_gcm_128_16_auth, gcm128_key, NULL, 0,
          rtp_plain, 28, gcm128_srtp, 44, rtcp_plain, 24, gcm128_srtcp, 44 },
        { "srtp_validate_aes_256 AES_256_CM_HMAC_SHA1_80",
          srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80,
          srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80, cm256_key, NULL, 0,
          rtp_plain, 28, cm256_srtp, 38, NULL, 0, NULL, 0 },
        { "kat_gcm256.py AEAD_AES_256_GCM",
          srtp_crypto_policy_set_aes_gcm_256_16_auth,
          srtp_crypto_policy_set_aes_gcm_256_16_auth, gcm256_key, NULL, 0,
          rtp_plain, 28, gcm256_srtp, 44, rtcp_plain, 24, gcm256_srtcp, 44 },
        { "srtp_validate_encrypted_extensions_headers RFC6904 AES_CM_128",
          srtp_crypto_policy_set_rtp_default,
          srtp_crypto_policy_set_rtcp_default, xtn_key, xtn_ids, 3, xtn_plain,
          56, xtn_cm128_srtp, 66, NULL, 0, NULL, 0 },
        { "srtp_validate_encrypted_extensions_headers_gcm RFC6904 "
          "AES_GCM_128_8",
          srtp_crypto_policy_set_aes_gcm_128_8_auth,
          srtp_crypto_policy_set_aes_gcm_128_8_auth, xtn_key, xtn_ids, 3,
          xtn_plain, 56, xtn_gcm128_8_srtp, 64, NULL, 0, NULL, 0 },
        { "srtp_validate_encrypted_extensions_headers_gcm RFC6904 "
          "AEAD_AES_128_GCM",
          srtp_crypto_policy_set_aes_gcm_128_16_auth,
          srtp_crypto_policy_set_aes_gcm_128_16_auth, xtn_key, xtn_ids, 3,
          xtn_plain, 56, xtn_gcm128_16_srtp, 72, NULL, 0, NULL, 0 },
    };
    int ok = 0, refused = 0, failed = 0;

    if (srtp_init() != srtp_err_status_ok) {
        printf("kat: srtp_init failed\n");
        return 1;
    }
    printf("kat: %s\n", srtp_get_version_string());
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        switch (run(&vectors[i])) {
        case 0:
            ok++;
            break;
        case 1:
            refused++;
            break;
        default:
            failed++;
        }
    }
    if (srtp_shutdown() != srtp_err_status_ok) {
        printf("kat: srtp_shutdown failed\n");
        failed++;
    }
    printf("kat: %d ok, %d refused, %d failed\n", ok, refused, failed);
    return failed ? 1 : 0;
}
