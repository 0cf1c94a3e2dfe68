/*
 * config.h for building libsrtp's test/rtpw.c, rtp.c and util.c (compiled
 * at test time from the srtp2-sys crate's libsrtp sources by
 * ffi/srtp2/tests/rtpw.rs) on Linux. Written for this test: what libsrtp's
 * configure would find on glibc, plus GCM (both libraries under test
 * provide AES-GCM).
 */
#ifndef RAMPART_RTPW_CONFIG_H
#define RAMPART_RTPW_CONFIG_H

#define HAVE_UNISTD_H 1
#define HAVE_SYS_SOCKET_H 1
#define HAVE_NETINET_IN_H 1
#define HAVE_ARPA_INET_H 1
#define HAVE_INET_ATON 1
#define HAVE_USLEEP 1
/* Without it rtpw falls back to signal(), whose BSD semantics restart
 * recvfrom: the receiver would not stop on SIGTERM. */
#define HAVE_SIGACTION 1
#define GCM 1

#endif
