/*
 * librampart's SRTP API from C, without any peer: argument checking (NULL
 * pointers, lengths, capacity), error codes and their strings, versioning,
 * suites, several master keys and a hitless rekey, ROC and stats.
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

int main(void) {
    versions_and_names();
    bad_arguments();
    rekey();
    specific_ssrc();
    if (g_failures) {
        printf("api: %d failures\n", g_failures);
        return 1;
    }
    printf("api: ok (librampart %s)\n", rampart_version());
    return 0;
}
