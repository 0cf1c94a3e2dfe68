/*
 * Stand-in for libsrtp's internal srtp_priv.h, written for this test.
 *
 * libsrtp's test/rtp.h includes srtp_priv.h for two things only: the
 * public API (srtp.h) and srtp_hdr_t, the RTP fixed header as a struct.
 * The real srtp_priv.h drags in libsrtp's internal crypto headers, which
 * are neither part of the libsrtp2 drop-in nor installed by libsrtp2-dev;
 * this file gives rtp.h what it uses and nothing internal. Like the real
 * one (through libsrtp's crypto headers) it includes config.h and the
 * socket headers: rtp.c relies on them without including them itself.
 */
#ifndef RAMPART_RTPW_SRTP_PRIV_H
#define RAMPART_RTPW_SRTP_PRIV_H

#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h> /* rtp.c calls malloc/free without including it */
#include <sys/socket.h>

#include "srtp.h" /* the header of the library under test, from -I */

/* The RTP fixed header (RFC 3550, section 5.1), 12 bytes. */
typedef struct {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    unsigned char version : 2;
    unsigned char p : 1;
    unsigned char x : 1;
    unsigned char cc : 4;
    unsigned char m : 1;
    unsigned char pt : 7;
#else
    unsigned char cc : 4;
    unsigned char x : 1;
    unsigned char p : 1;
    unsigned char version : 2;
    unsigned char pt : 7;
    unsigned char m : 1;
#endif
    uint16_t seq;
    uint32_t ts;
    uint32_t ssrc;
} srtp_hdr_t;

typedef char rampart_rtpw_srtp_hdr_is_12_bytes[sizeof(srtp_hdr_t) == 12 ? 1 : -1];

#endif
