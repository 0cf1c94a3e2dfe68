/*
 * librampart's SRTP API from C, without any peer: argument checking (NULL
 * pointers, lengths, capacity), error codes and their strings, versioning,
 * suites, several master keys and a hitless rekey, ROC and stats; header
 * extension encryption (RFC 9335 cryptex and RFC 6904) against known
 * answers.
 */
#include "util.h"

static const uint8_t KEY[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
static const uint8_t SALT[14] = {0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6,
                                 0xa7, 0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad};

static rampart_session *session(uint32_t suite, const rampart_master_key *keys, size_t n) {
    rampart_session_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.suite = suite;
    cfg.keys = keys;
    cfg.num_keys = n;
    rampart_session *s = NULL;
    CHECK_ST(rampart_session_new(&cfg, &s), RAMPART_OK);
    return s;
}

static void versions_and_names(void) {
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", RAMPART_VERSION_MAJOR, RAMPART_VERSION_MINOR,
             RAMPART_VERSION_PATCH);
    CHECK(strcmp(rampart_version(), want) == 0, "version %s vs %s", rampart_version(), want);
    CHECK(strcmp(rampart_status_str(RAMPART_OK), "ok") == 0, "ok string");
    CHECK(strcmp(rampart_status_str(RAMPART_ERR_AUTH_FAILED), "authentication failed") == 0, "auth");
    CHECK(strcmp(rampart_status_str(12345), "unknown status") == 0, "unknown");
    CHECK(strcmp(rampart_status_str(-1), "unknown status") == 0, "negative");
    for (uint32_t s = RAMPART_SUITE_AES_CM_128_HMAC_SHA1_80; s <= RAMPART_SUITE_NULL_HMAC_SHA1_32; s++) {
        const char *name = rampart_suite_name(s);
        uint32_t back = 0;
        CHECK(name != NULL, "suite %u has a name", s);
        CHECK_ST(rampart_suite_from_name(name, &back), RAMPART_OK);
        CHECK(back == s, "name round trip %s", name);
        CHECK(rampart_suite_key_len(s) >= 16 && rampart_suite_salt_len(s) >= 12, "lengths");
    }
    uint32_t out = 99;
    CHECK(rampart_suite_name(0) == NULL && rampart_suite_name(11) == NULL, "unknown suite name");
    CHECK_ST(rampart_suite_from_name("AES_CM_129", &out), RAMPART_ERR_UNKNOWN_SUITE);
    CHECK_ST(rampart_suite_from_name(NULL, &out), RAMPART_ERR_NULL_POINTER);
    CHECK_ST(rampart_suite_from_name("AEAD_AES_256_GCM", NULL), RAMPART_ERR_NULL_POINTER);
    CHECK(rampart_suite_key_len(0) == 0 && rampart_suite_salt_len(77) == 0, "unknown lengths");
}

static void bad_arguments(void) {
    rampart_master_key mk = {KEY, 16, SALT, 14, NULL, 0, 0};
    rampart_session_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.suite = RAMPART_SUITE_AES_CM_128_HMAC_SHA1_80;
    cfg.keys = &mk;
    cfg.num_keys = 1;
    rampart_session *s = (rampart_session *)&cfg; /* must be overwritten with NULL on error */

    CHECK_ST(rampart_session_new(NULL, &s), RAMPART_ERR_NULL_POINTER);
    CHECK(s == NULL, "session_out cleared on error");
    CHECK_ST(rampart_session_new(&cfg, NULL), RAMPART_ERR_NULL_POINTER);
    cfg.suite = 0;
    CHECK_ST(rampart_session_new(&cfg, &s), RAMPART_ERR_UNKNOWN_SUITE);
    cfg.suite = 42;
    CHECK_ST(rampart_session_new(&cfg, &s), RAMPART_ERR_UNKNOWN_SUITE);
    cfg.suite = RAMPART_SUITE_AES_CM_128_HMAC_SHA1_80;
    cfg.num_keys = 0;
    CHECK_ST(rampart_session_new(&cfg, &s), RAMPART_ERR_INVALID_CONFIG);
    cfg.num_keys = 1;
    cfg.keys = NULL;
    CHECK_ST(rampart_session_new(&cfg, &s), RAMPART_ERR_NULL_POINTER);
    cfg.keys = &mk;
    mk.key_len = 15;
    CHECK_ST(rampart_session_new(&cfg, &s), RAMPART_ERR_INVALID_CONFIG);
    mk.key_len = 16;
    mk.key = NULL;
    CHECK_ST(rampart_session_new(&cfg, &s), RAMPART_ERR_NULL_POINTER);
    mk.key = KEY;
    mk.salt_len = 12;
    CHECK_ST(rampart_session_new(&cfg, &s), RAMPART_ERR_INVALID_CONFIG);
    mk.salt_len = 14;
    mk.mki = KEY;
    mk.mki_len = 9;
    CHECK_ST(rampart_session_new(&cfg, &s), RAMPART_ERR_INVALID_CONFIG);
    mk.mki = NULL;
    mk.mki_len = 0;
    cfg.replay_window = 10;
    CHECK_ST(rampart_session_new(&cfg, &s), RAMPART_ERR_INVALID_CONFIG);
    cfg.replay_window = 0;
    cfg.ssrc_type = 7;
    CHECK_ST(rampart_session_new(&cfg, &s), RAMPART_ERR_INVALID_ARGUMENT);
    cfg.ssrc_type = RAMPART_SSRC_ANY;
    cfg.key_derivation_rate = 3;
    CHECK_ST(rampart_session_new(&cfg, &s), RAMPART_ERR_INVALID_CONFIG);
    cfg.key_derivation_rate = 0;
    /* Two keys without MKIs. */
    rampart_master_key two[2] = {mk, mk};
    cfg.keys = two;
    cfg.num_keys = 2;
    CHECK_ST(rampart_session_new(&cfg, &s), RAMPART_ERR_INVALID_CONFIG);
    cfg.keys = &mk;
    cfg.num_keys = 1;
    cfg.suite = RAMPART_SUITE_AEAD_AES_128_GCM;
    cfg.unencrypted_srtp = 1;
    mk.salt_len = 12;
    CHECK_ST(rampart_session_new(&cfg, &s), RAMPART_ERR_INVALID_CONFIG);

    /* Packet calls. */
    s = session(RAMPART_SUITE_AES_CM_128_HMAC_SHA1_80, &(rampart_master_key){KEY, 16, SALT, 14, NULL, 0, 0}, 1);
    uint8_t buf[256];
    memset(buf, 0, sizeof buf);
    size_t n = 12345;
    buf[0] = 0x80;
    CHECK_ST(rampart_protect_rtp(NULL, buf, 20, sizeof buf, &n), RAMPART_ERR_NULL_POINTER);
    CHECK_ST(rampart_protect_rtp(s, NULL, 20, sizeof buf, &n), RAMPART_ERR_NULL_POINTER);
    CHECK_ST(rampart_protect_rtp(s, buf, 20, sizeof buf, NULL), RAMPART_ERR_NULL_POINTER);
    CHECK_ST(rampart_protect_rtp(s, buf, 300, sizeof buf, &n), RAMPART_ERR_INVALID_ARGUMENT);
    CHECK_ST(rampart_protect_rtp(s, buf, 5, sizeof buf, &n), RAMPART_ERR_MALFORMED);
    CHECK_ST(rampart_protect_rtcp(s, buf, 4, sizeof buf, &n), RAMPART_ERR_MALFORMED);
    CHECK_ST(rampart_unprotect_rtp(s, NULL, 20, &n), RAMPART_ERR_NULL_POINTER);
    CHECK_ST(rampart_unprotect_rtp(s, buf, 20, NULL), RAMPART_ERR_NULL_POINTER);
    CHECK_ST(rampart_unprotect_rtp(NULL, buf, 20, &n), RAMPART_ERR_NULL_POINTER);
    CHECK_ST(rampart_unprotect_rtp(s, buf, 3, &n), RAMPART_ERR_MALFORMED);
    CHECK_ST(rampart_unprotect_rtcp(s, buf, 0, &n), RAMPART_ERR_MALFORMED);

    /* The length-safety libsrtp 2.x lacks: capacity is honoured exactly. A
     * heap buffer of exactly len + 9 bytes (one short of the 10-byte tag)
     * lets valgrind/ASan prove nothing is written past it. */
    size_t len = 172;
    uint8_t *tight = malloc(len + 9);
    memset(tight, 0, len);
    tight[0] = 0x80;
    tight[11] = 1;
    n = 0;
    CHECK_ST(rampart_protect_rtp(s, tight, len, len + 9, &n), RAMPART_ERR_BUFFER_TOO_SMALL);
    CHECK(n == len + 10, "needed capacity reported: %zu", n);
    uint8_t *exact = malloc(len + 10); /* tailroom left uninitialized on purpose */
    memcpy(exact, tight, len);
    CHECK_ST(rampart_protect_rtp(s, exact, len, len + 10, &n), RAMPART_OK);
    CHECK(n == len + 10, "protected length %zu", n);
    CHECK(rampart_session_max_trailer_len(s) <= RAMPART_MAX_TRAILER_LEN, "trailer bound");
    CHECK(rampart_session_max_trailer_len(NULL) == 0, "trailer of NULL");
    CHECK(rampart_session_suite(s) == RAMPART_SUITE_AES_CM_128_HMAC_SHA1_80, "suite of session");
    free(tight);
    free(exact);

    uint32_t roc = 5;
    CHECK_ST(rampart_session_get_roc(s, 0xdead, &roc), RAMPART_ERR_NOT_FOUND);
    CHECK_ST(rampart_session_get_roc(s, 1, NULL), RAMPART_ERR_NULL_POINTER);
    CHECK_ST(rampart_session_get_roc(NULL, 1, &roc), RAMPART_ERR_NULL_POINTER);
    CHECK_ST(rampart_session_set_roc(NULL, 1, 1), RAMPART_ERR_NULL_POINTER);
    CHECK_ST(rampart_session_set_rtcp_index(s, 1, 0x80000000u), RAMPART_ERR_INVALID_CONFIG);
    CHECK_ST(rampart_session_get_stats(s, NULL), RAMPART_ERR_NULL_POINTER);
    CHECK_ST(rampart_session_get_stats(NULL, &(rampart_session_stats){0}), RAMPART_ERR_NULL_POINTER);
    CHECK_ST(rampart_session_add_key(s, NULL), RAMPART_ERR_NULL_POINTER);
    CHECK_ST(rampart_session_set_active_mki(s, NULL, 4), RAMPART_ERR_NULL_POINTER);
    CHECK_ST(rampart_session_set_active_mki(s, KEY, 1), RAMPART_ERR_UNKNOWN_MKI);
    rampart_session_free(s);
    rampart_session_free(NULL);
}

/* Several keys, then a hitless rekey: the receiver holds old and new keys
 * while the sender switches; packets under both decrypt. */
static void rekey(void) {
    static const uint8_t M1[4] = {0, 0, 0, 1}, M2[4] = {0, 0, 0, 2}, M3[4] = {0, 0, 0, 3};
    uint8_t key2[16];
    for (int i = 0; i < 16; i++) key2[i] = (uint8_t)(0x55 ^ i);
    rampart_master_key k1 = {KEY, 16, SALT, 14, M1, 4, 0};
    rampart_master_key k2 = {key2, 16, SALT, 14, M2, 4, 0};
    rampart_master_key both[2] = {k1, k2};
    rampart_session *tx = session(RAMPART_SUITE_AES_CM_128_HMAC_SHA1_80, &k1, 1);
    rampart_session *rx = session(RAMPART_SUITE_AES_CM_128_HMAC_SHA1_80, both, 2);
    rng_t rng = {7};
    uint8_t buf[1600], copy[1600];
    uint32_t ssrc = 0x11223344;
    CHECK_ST(rampart_session_set_roc(rx, ssrc, 2), RAMPART_OK);
    CHECK_ST(rampart_session_set_roc(tx, ssrc, 2), RAMPART_OK);
    for (int i = 0; i < 300; i++) {
        if (i == 100) {
            /* Duplicate MKI and wrong MKI length are refused. */
            CHECK_ST(rampart_session_add_key(tx, &k1), RAMPART_ERR_INVALID_CONFIG);
            rampart_master_key shortmki = {key2, 16, SALT, 14, M2, 2, 0};
            CHECK_ST(rampart_session_add_key(tx, &shortmki), RAMPART_ERR_INVALID_CONFIG);
            CHECK_ST(rampart_session_add_key(tx, &k2), RAMPART_OK);
        }
        if (i == 150) CHECK_ST(rampart_session_set_active_mki(tx, M2, 4), RAMPART_OK);
        if (i == 200) {
            CHECK_ST(rampart_session_remove_key(rx, M3, 4), RAMPART_ERR_UNKNOWN_MKI);
            CHECK_ST(rampart_session_remove_key(rx, M1, 4), RAMPART_ERR_INVALID_CONFIG); /* active */
            rampart_master_key k3 = {KEY, 16, SALT, 14, M3, 4, 0};
            CHECK_ST(rampart_session_add_key(rx, &k3), RAMPART_OK);
        }
        size_t n = make_rtp(&rng, buf, (uint16_t)(65400 + i), 160u * (uint32_t)i, ssrc, 400), out = 0, back = 0;
        memcpy(copy, buf, n);
        CHECK_ST(rampart_protect_rtp(tx, buf, n, sizeof buf, &out), RAMPART_OK);
        const uint8_t *mki_in_packet = buf + out - 10 - 4;
        CHECK(memcmp(mki_in_packet, i < 150 ? M1 : M2, 4) == 0, "packet %d carries the active MKI", i);
        CHECK_ST(rampart_unprotect_rtp(rx, buf, out, &back), RAMPART_OK);
        CHECK(back == n && memcmp(buf, copy, n) == 0, "packet %d round trip", i);
    }
    uint32_t roc = 0;
    CHECK_ST(rampart_session_get_roc(rx, ssrc, &roc), RAMPART_OK);
    CHECK(roc == 3, "ROC after the wrap: %u", roc);
    /* The old key can go once the sender has switched. */
    CHECK_ST(rampart_session_set_active_mki(rx, M2, 4), RAMPART_OK);
    CHECK_ST(rampart_session_remove_key(rx, M1, 4), RAMPART_OK);
    rampart_session_stats st;
    memset(&st, 0xff, sizeof st);
    CHECK_ST(rampart_session_get_stats(rx, &st), RAMPART_OK);
    CHECK(st.rtp_unprotected == 300 && st.auth_failures == 0 && st.streams == 1, "rx stats");
    CHECK_ST(rampart_session_get_stats(tx, &st), RAMPART_OK);
    CHECK(st.rtp_protected == 300, "tx stats");
    rampart_session_free(tx);
    rampart_session_free(rx);
}

/* A session for one SSRC refuses others. */
static void specific_ssrc(void) {
    rampart_master_key mk = {KEY, 16, SALT, 14, NULL, 0, 0};
    rampart_session_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.suite = RAMPART_SUITE_AES_CM_128_HMAC_SHA1_80;
    cfg.keys = &mk;
    cfg.num_keys = 1;
    cfg.ssrc_type = RAMPART_SSRC_SPECIFIC;
    cfg.ssrc = 1234;
    rampart_session *s = NULL;
    CHECK_ST(rampart_session_new(&cfg, &s), RAMPART_OK);
    uint8_t buf[256] = {0x80};
    buf[11] = 99; /* SSRC 99 */
    size_t n = 0;
    CHECK_ST(rampart_protect_rtp(s, buf, 40, sizeof buf, &n), RAMPART_ERR_UNKNOWN_SSRC);
    CHECK_ST(rampart_session_set_roc(s, 99, 1), RAMPART_ERR_UNKNOWN_SSRC);
    uint32_t roc = 7;
    CHECK_ST(rampart_session_get_roc(s, 1234, &roc), RAMPART_OK);
    CHECK(roc == 0, "initial roc %u", roc);
    rampart_session_free(s);
}

/* Hex (spaces ignored) into out; returns the byte count. */
static size_t unhex(const char *h, uint8_t *out) {
    size_t n = 0;
    int hi = -1;
    for (; *h; h++) {
        int v;
        if (*h >= '0' && *h <= '9') v = *h - '0';
        else if (*h >= 'a' && *h <= 'f') v = *h - 'a' + 10;
        else if (*h >= 'A' && *h <= 'F') v = *h - 'A' + 10;
        else continue;
        if (hi < 0) {
            hi = v;
        } else {
            out[n++] = (uint8_t)(hi << 4 | v);
            hi = -1;
        }
    }
    return n;
}

/* Protects plain (hex) with tx into a heap buffer of exactly the SRTP
 * length, checks the bytes against want (hex), unprotects with rx and
 * checks the RTP packet against back (hex). */
static void known_answer(const char *what, rampart_session *tx, rampart_session *rx,
                         const char *plain, const char *want, const char *back) {
    uint8_t p[128], w[128], b[128];
    size_t pn = unhex(plain, p), wn = unhex(want, w), bn = unhex(back, b), n = 0, m = 0;
    uint8_t *buf = malloc(wn); /* no byte of slack: valgrind sees any overrun */
    memcpy(buf, p, pn);
    CHECK_ST(rampart_protect_rtp(tx, buf, pn, wn, &n), RAMPART_OK);
    CHECK(n == wn && memcmp(buf, w, wn) == 0, "%s: protected bytes differ from the known answer", what);
    CHECK_ST(rampart_unprotect_rtp(rx, buf, n, &m), RAMPART_OK);
    CHECK(m == bn && memcmp(buf, b, bn) == 0, "%s: unprotected bytes differ", what);
    free(buf);
}

/* RFC 3711 B.3's master key and salt (RFC 9335 A.1 and libsrtp's RFC 6904
 * vectors use them). */
static const uint8_t XKEY[16] = {0xe1, 0xf9, 0x7a, 0x0d, 0x3e, 0x01, 0x8b, 0xe0,
                                 0xd6, 0x4f, 0xa3, 0x2c, 0x06, 0xde, 0x41, 0x39};
static const uint8_t XSALT[14] = {0x0e, 0xc6, 0x75, 0xad, 0x49, 0x8a, 0xfe,
                                  0xeb, 0xb6, 0x96, 0x0b, 0x3a, 0xab, 0xe6};

/* RFC 9335 Appendix A.1, AES_CM_128_HMAC_SHA1_80, "1-byte header extension". */
static const char *CRYPTEX_PLAIN =
    "900f1235 decafbad cafebabe bede0001 51000200 abababab abababab abababab abababab";
static const char *CRYPTEX_SRTP =
    "900f1235 decafbad cafebabe c0de0001 eb923652 51c3e036 f8de27e9 c27ee3e0 b4651d9f"
    "bc4218a7 0244522f 34a5";
/* A.1 "empty 1-byte header extension and CSRC fields": the packet below
 * without its extension (X clear) is a CSRC-only packet, to which cryptex
 * adds the empty extension: it protects to the same bytes. */
static const char *CSRC_ONLY =
    "820f123a decafbad cafebabe 0001e240 0000b26e abababab abababab abababab abababab";
static const char *CSRC_EMPTY_EXT =
    "920f123a decafbad cafebabe 0001e240 0000b26e bede0000 abababab abababab abababab"
    "abababab";
static const char *CSRC_SRTP =
    "920f123a decafbad cafebabe 7130b6ab fe2ab0e3 c0de0000 e3d9f64b 25c9e74c b4cf8e43"
    "fb92e378 1c2c0cea b6b3a499 a14c";
/* libsrtp 2.5 srtp_validate_encrypted_extensions_headers (RFC 6904; IDs 1,
 * 3 and 4 encrypted, ID 2 clear). */
static const char *XTN_PLAIN =
    "900f1234decafbadcafebabe BEDE0006 17414273A4752627482200 00C8308E4655996386B395FB00"
    "abababababababababababababababab";
static const char *XTN_SRTP =
    "900f1234decafbadcafebabe BEDE0006 17588A9270F4E15E1C220000C83095 46A994F0BC54789700"
    "4e55dc4ce79978d88ca4d215949d2402 5a46b3ca35c535a891c7";

static void header_encryption(void) {
    rampart_master_key mk = {XKEY, 16, XSALT, 14, NULL, 0, 0};
    const uint32_t cm = RAMPART_SUITE_AES_CM_128_HMAC_SHA1_80;

    /* Cryptex, set before the first packet on both sides. */
    rampart_session *tx = session(cm, &mk, 1), *rx = session(cm, &mk, 1);
    CHECK(!rampart_session_cryptex(tx), "cryptex off by default");
    CHECK_ST(rampart_session_set_cryptex(tx, true), RAMPART_OK);
    CHECK_ST(rampart_session_set_cryptex(rx, true), RAMPART_OK);
    CHECK(rampart_session_cryptex(tx) && rampart_session_cryptex(rx), "cryptex on");
    known_answer("RFC 9335 A.1", tx, rx, CRYPTEX_PLAIN, CRYPTEX_SRTP, CRYPTEX_PLAIN);

    /* A CSRC-only packet grows by 4 bytes (the empty extension): a buffer
     * with room for the tag but not for them is refused, nothing written,
     * and the capacity needed reported; with exactly that much it is the
     * known answer. */
    uint8_t p[64];
    size_t pn = unhex(CSRC_ONLY, p), n = 0;
    uint8_t *tight = malloc(pn + 13);
    memcpy(tight, p, pn);
    CHECK_ST(rampart_protect_rtp(tx, tight, pn, pn + 13, &n), RAMPART_ERR_BUFFER_TOO_SMALL);
    CHECK(n == pn + 14, "cryptex: needed capacity %zu, want %zu", n, pn + 14);
    CHECK(memcmp(tight, p, pn) == 0, "a refused packet is left as it was");
    free(tight);
    CHECK(rampart_session_max_trailer_len(tx) >= 14, "max trailer covers the extension");
    known_answer("RFC 9335 A.1 CSRCs, extension added", tx, rx, CSRC_ONLY, CSRC_SRTP, CSRC_EMPTY_EXT);

    /* Off again: the same packet goes out as plain SRTP, which the cryptex
     * receiver takes too (RFC 9335 5.2); a receiver without cryptex does
     * not get a cryptex packet back. */
    CHECK_ST(rampart_session_set_cryptex(tx, false), RAMPART_OK);
    CHECK(!rampart_session_cryptex(tx), "cryptex off again");
    uint8_t buf[128], want[128];
    pn = unhex(CRYPTEX_PLAIN, p);
    memcpy(buf, p, pn);
    buf[3] = 0x40; /* a new sequence number */
    memcpy(want, buf, pn);
    size_t m = 0;
    CHECK_ST(rampart_protect_rtp(tx, buf, pn, sizeof buf, &n), RAMPART_OK);
    CHECK(buf[12] == 0xbe && buf[13] == 0xde, "no cryptex profile once off");
    CHECK_ST(rampart_unprotect_rtp(rx, buf, n, &m), RAMPART_OK);
    CHECK(m == pn && memcmp(buf, want, pn) == 0, "cryptex receiver takes a plain packet");
    rampart_session_free(tx);
    rampart_session_free(rx);
    tx = session(cm, &mk, 1);
    rx = session(cm, &mk, 1);
    CHECK_ST(rampart_session_set_cryptex(tx, true), RAMPART_OK);
    pn = unhex(CRYPTEX_PLAIN, p);
    memcpy(buf, p, pn);
    CHECK_ST(rampart_protect_rtp(tx, buf, pn, sizeof buf, &n), RAMPART_OK);
    rampart_status st = rampart_unprotect_rtp(rx, buf, n, &m);
    CHECK(st != RAMPART_OK || m != pn || memcmp(buf, p, pn) != 0,
          "a receiver without cryptex cannot read a cryptex packet");
    rampart_session_free(tx);
    rampart_session_free(rx);

    /* RFC 6904 through the setter, on both sides. */
    static const uint8_t IDS[3] = {1, 3, 4};
    tx = session(cm, &mk, 1);
    rx = session(cm, &mk, 1);
    CHECK(!rampart_session_encrypts_header_extensions(tx), "RFC 6904 off by default");
    CHECK_ST(rampart_session_encrypt_header_extensions(tx, IDS, 3), RAMPART_OK);
    CHECK_ST(rampart_session_encrypt_header_extensions(rx, IDS, 3), RAMPART_OK);
    CHECK(rampart_session_encrypts_header_extensions(tx), "RFC 6904 on");
    known_answer("libsrtp RFC 6904", tx, rx, XTN_PLAIN, XTN_SRTP, XTN_PLAIN);
    /* n = 0 turns it off (ids may be NULL): the extension goes out clear. */
    CHECK_ST(rampart_session_encrypt_header_extensions(tx, NULL, 0), RAMPART_OK);
    CHECK(!rampart_session_encrypts_header_extensions(tx), "RFC 6904 off again");
    pn = unhex(XTN_PLAIN, p);
    memcpy(buf, p, pn);
    buf[3] = 0x35;
    CHECK_ST(rampart_protect_rtp(tx, buf, pn, sizeof buf, &n), RAMPART_OK);
    CHECK(memcmp(buf + 12, p + 12, 28) == 0, "extension clear once off");
    /* Bad arguments change nothing. */
    CHECK_ST(rampart_session_encrypt_header_extensions(rx, NULL, 2), RAMPART_ERR_NULL_POINTER);
    CHECK(rampart_session_encrypts_header_extensions(rx), "a refused call leaves the list");
    CHECK_ST(rampart_session_encrypt_header_extensions(NULL, IDS, 3), RAMPART_ERR_NULL_POINTER);
    CHECK_ST(rampart_session_set_cryptex(NULL, true), RAMPART_ERR_NULL_POINTER);
    CHECK(!rampart_session_cryptex(NULL) && !rampart_session_encrypts_header_extensions(NULL),
          "getters of NULL");
    rampart_session_free(tx);
    rampart_session_free(rx);

    /* Where SRTP is not encrypted (a NULL suite) both are accepted and
     * change nothing, as in libsrtp. */
    rampart_session *nul = session(RAMPART_SUITE_NULL_HMAC_SHA1_80, &mk, 1);
    CHECK_ST(rampart_session_encrypt_header_extensions(nul, IDS, 3), RAMPART_OK);
    CHECK_ST(rampart_session_set_cryptex(nul, true), RAMPART_OK);
    CHECK(!rampart_session_encrypts_header_extensions(nul), "NULL suite: no RFC 6904");
    pn = unhex(XTN_PLAIN, p);
    memcpy(buf, p, pn);
    CHECK_ST(rampart_protect_rtp(nul, buf, pn, sizeof buf, &n), RAMPART_OK);
    CHECK(n == pn + 10 && memcmp(buf, p, pn) == 0, "NULL suite: header and payload clear");
    rampart_session_free(nul);
}

int main(void) {
    versions_and_names();
    bad_arguments();
    rekey();
    specific_ssrc();
    header_encryption();
    if (g_failures) {
        printf("api: %d failures\n", g_failures);
        return 1;
    }
    printf("api: ok (librampart %s)\n", rampart_version());
    return 0;
}
