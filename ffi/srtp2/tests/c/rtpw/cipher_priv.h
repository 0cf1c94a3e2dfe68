/*
 * Stand-in for libsrtp's internal cipher_priv.h, written for this test.
 * libsrtp's test/rtp.c includes it for srtp_cipher_rand_u32_for_tests(),
 * an internal libsrtp function (not in srtp.h, not in the drop-in) that
 * picks the sender's first sequence number; shim.c provides it.
 */
#ifndef RAMPART_RTPW_CIPHER_PRIV_H
#define RAMPART_RTPW_CIPHER_PRIV_H

#include <stdint.h>

uint32_t srtp_cipher_rand_u32_for_tests(void);

#endif
