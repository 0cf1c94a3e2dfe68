/*
 * srtp2/crypto_types.h: libsrtp 2.x's cipher and authentication type ids,
 * as librampart-srtp2 provides them (values as libsrtp 2.5's).
 */
#ifndef SRTP_CRYPTO_TYPES_H
#define SRTP_CRYPTO_TYPES_H

#define SRTP_NULL_CIPHER 0
#define SRTP_AES_ICM_128 1
#define SRTP_AES_ICM_192 4
#define SRTP_AES_ICM_256 5
#define SRTP_AES_GCM_128 6
#define SRTP_AES_GCM_256 7

#define SRTP_NULL_AUTH 0
#define SRTP_HMAC_SHA1 3

#endif /* SRTP_CRYPTO_TYPES_H */
