/*
 * Prints what a program compiled against <srtp2/srtp.h> sees of the ABI:
 * struct sizes and field offsets, enum and macro values, and what the
 * policy setters and profile helpers write. Compiled once against
 * Debian's libsrtp2 and once against the drop-in (tests/layout.rs); the
 * two outputs must be identical, and the Rust structs must match.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <srtp2/crypto_types.h>
#include <srtp2/srtp.h>

#define SIZE(t) printf("sizeof %s %zu\n", #t, sizeof(t))
#define OFF(t, f) printf("offsetof %s.%s %zu\n", #t, #f, offsetof(t, f))
#define VAL(v) printf("value %s %ld\n", #v, (long)(v))
#define SET(f)                                                                 \
    do {                                                                       \
        srtp_crypto_policy_t p;                                                \
        memset(&p, 0xee, sizeof p);                                            \
        f(&p);                                                                 \
        printf("setter %s %u %d %u %d %d %d\n", #f, p.cipher_type,             \
               p.cipher_key_len, p.auth_type, p.auth_key_len, p.auth_tag_len, \
               (int)p.sec_serv);                                               \
    } while (0)

int main(void)
{
    SIZE(srtp_policy_t);
    OFF(srtp_policy_t, ssrc);
    OFF(srtp_policy_t, rtp);
    OFF(srtp_policy_t, rtcp);
    OFF(srtp_policy_t, key);
    OFF(srtp_policy_t, keys);
    OFF(srtp_policy_t, num_master_keys);
    OFF(srtp_policy_t, deprecated_ekt);
    OFF(srtp_policy_t, window_size);
    OFF(srtp_policy_t, allow_repeat_tx);
    OFF(srtp_policy_t, enc_xtn_hdr);
    OFF(srtp_policy_t, enc_xtn_hdr_count);
    OFF(srtp_policy_t, next);
    SIZE(srtp_crypto_policy_t);
    OFF(srtp_crypto_policy_t, cipher_type);
    OFF(srtp_crypto_policy_t, cipher_key_len);
    OFF(srtp_crypto_policy_t, auth_type);
    OFF(srtp_crypto_policy_t, auth_key_len);
    OFF(srtp_crypto_policy_t, auth_tag_len);
    OFF(srtp_crypto_policy_t, sec_serv);
    SIZE(srtp_ssrc_t);
    OFF(srtp_ssrc_t, type);
    OFF(srtp_ssrc_t, value);
    SIZE(srtp_master_key_t);
    OFF(srtp_master_key_t, key);
    OFF(srtp_master_key_t, mki_id);
    OFF(srtp_master_key_t, mki_size);
    SIZE(srtp_event_data_t);
    OFF(srtp_event_data_t, session);
    OFF(srtp_event_data_t, ssrc);
    OFF(srtp_event_data_t, event);
    SIZE(srtp_err_status_t);
    SIZE(srtp_profile_t);

    VAL(SRTP_MASTER_KEY_LEN);
    VAL(SRTP_MAX_KEY_LEN);
    VAL(SRTP_MAX_TAG_LEN);
    VAL(SRTP_MAX_MKI_LEN);
    VAL(SRTP_MAX_TRAILER_LEN);
    VAL(SRTP_MAX_NUM_MASTER_KEYS);
    VAL(SRTP_SALT_LEN);
    VAL(SRTP_AEAD_SALT_LEN);
    VAL(SRTP_AES_ICM_128_KEY_LEN_WSALT);
    VAL(SRTP_AES_ICM_192_KEY_LEN_WSALT);
    VAL(SRTP_AES_ICM_256_KEY_LEN_WSALT);
    VAL(SRTP_AES_GCM_128_KEY_LEN_WSALT);
    VAL(SRTP_AES_GCM_256_KEY_LEN_WSALT);
    VAL(SRTP_NULL_CIPHER);
    VAL(SRTP_AES_ICM_128);
    VAL(SRTP_AES_ICM_192);
    VAL(SRTP_AES_ICM_256);
    VAL(SRTP_AES_GCM_128);
    VAL(SRTP_AES_GCM_256);
    VAL(SRTP_NULL_AUTH);
    VAL(SRTP_HMAC_SHA1);
    VAL(SRTCP_E_BIT);
    VAL(SRTCP_E_BYTE_BIT);
    VAL(SRTCP_INDEX_MASK);
    VAL(srtp_err_status_ok);
    VAL(srtp_err_status_fail);
    VAL(srtp_err_status_bad_param);
    VAL(srtp_err_status_alloc_fail);
    VAL(srtp_err_status_init_fail);
    VAL(srtp_err_status_auth_fail);
    VAL(srtp_err_status_cipher_fail);
    VAL(srtp_err_status_replay_fail);
    VAL(srtp_err_status_replay_old);
    VAL(srtp_err_status_no_such_op);
    VAL(srtp_err_status_no_ctx);
    VAL(srtp_err_status_cant_check);
    VAL(srtp_err_status_key_expired);
    VAL(srtp_err_status_parse_err);
    VAL(srtp_err_status_bad_mki);
    VAL(srtp_err_status_pkt_idx_old);
    VAL(srtp_err_status_pkt_idx_adv);
    VAL(sec_serv_none);
    VAL(sec_serv_conf);
    VAL(sec_serv_auth);
    VAL(sec_serv_conf_and_auth);
    VAL(ssrc_undefined);
    VAL(ssrc_specific);
    VAL(ssrc_any_inbound);
    VAL(ssrc_any_outbound);
    VAL(event_ssrc_collision);
    VAL(event_key_soft_limit);
    VAL(event_key_hard_limit);
    VAL(event_packet_index_limit);
    VAL(srtp_profile_reserved);
    VAL(srtp_profile_aes128_cm_sha1_80);
    VAL(srtp_profile_aes128_cm_sha1_32);
    VAL(srtp_profile_null_sha1_80);
    VAL(srtp_profile_null_sha1_32);
    VAL(srtp_profile_aead_aes_128_gcm);
    VAL(srtp_profile_aead_aes_256_gcm);
    VAL(srtp_log_level_error);
    VAL(srtp_log_level_debug);

    SET(srtp_crypto_policy_set_rtp_default);
    SET(srtp_crypto_policy_set_rtcp_default);
    SET(srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80);
    SET(srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32);
    SET(srtp_crypto_policy_set_aes_cm_128_null_auth);
    SET(srtp_crypto_policy_set_null_cipher_hmac_sha1_80);
    SET(srtp_crypto_policy_set_null_cipher_hmac_null);
    SET(srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80);
    SET(srtp_crypto_policy_set_aes_cm_256_hmac_sha1_32);
    SET(srtp_crypto_policy_set_aes_cm_256_null_auth);
    SET(srtp_crypto_policy_set_aes_cm_192_hmac_sha1_80);
    SET(srtp_crypto_policy_set_aes_cm_192_hmac_sha1_32);
    SET(srtp_crypto_policy_set_aes_cm_192_null_auth);
    SET(srtp_crypto_policy_set_aes_gcm_128_8_auth);
    SET(srtp_crypto_policy_set_aes_gcm_256_8_auth);
    SET(srtp_crypto_policy_set_aes_gcm_128_8_only_auth);
    SET(srtp_crypto_policy_set_aes_gcm_256_8_only_auth);
    SET(srtp_crypto_policy_set_aes_gcm_128_16_auth);
    SET(srtp_crypto_policy_set_aes_gcm_256_16_auth);
    for (int pr = -1; pr <= 9; pr++) {
        srtp_crypto_policy_t a, b;
        memset(&a, 0, sizeof a);
        memset(&b, 0, sizeof b);
        int ra = srtp_crypto_policy_set_from_profile_for_rtp(&a, (srtp_profile_t)pr);
        int rb = srtp_crypto_policy_set_from_profile_for_rtcp(&b, (srtp_profile_t)pr);
        printf("profile %d rtp %d %u %d %u %d %d %d rtcp %d %u %d %u %d %d %d key %u salt %u\n",
               pr, ra, a.cipher_type, a.cipher_key_len, a.auth_type, a.auth_key_len,
               a.auth_tag_len, (int)a.sec_serv, rb, b.cipher_type, b.cipher_key_len,
               b.auth_type, b.auth_key_len, b.auth_tag_len, (int)b.sec_serv,
               srtp_profile_get_master_key_length((srtp_profile_t)pr),
               srtp_profile_get_master_salt_length((srtp_profile_t)pr));
    }
    unsigned char key[40] = {1, 2, 3, 4}, salt[14] = {9, 8, 7};
    srtp_append_salt_to_key(key, 16, salt, 14);
    printf("append_salt %d %d %d %d\n", key[0], key[16], key[17], key[29]);
    printf("version %x\n", srtp_get_version());
    printf("init %d\n", srtp_init());
    srtp_t s = NULL;
    printf("create(NULL policy) %d\n", srtp_create(&s, NULL));
    printf("user_data %d\n", (srtp_set_user_data(s, key), srtp_get_user_data(s) == key));
    printf("remove unknown %d\n", srtp_remove_stream(s, 0x12345678));
    unsigned int roc = 0;
    printf("get roc unknown %d\n", srtp_get_stream_roc(s, 0x12345678, &roc));
    printf("dealloc %d\n", srtp_dealloc(s));
    printf("shutdown %d\n", srtp_shutdown());
    return 0;
}
