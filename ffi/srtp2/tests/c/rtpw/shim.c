/*
 * Test-only helper for libsrtp's test/rtp.c, written for this test (see
 * cipher_priv.h). Linked into both rtpw builds, so both draw the first
 * RTP sequence number the same way, whatever the library exports.
 */
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "cipher_priv.h"

uint32_t srtp_cipher_rand_u32_for_tests(void)
{
    uint32_t v = 0;
    FILE *f = fopen("/dev/urandom", "rb");
    if (f != NULL) {
        if (fread(&v, sizeof(v), 1, f) != 1) {
            v = 0;
        }
        fclose(f);
    }
    if (v == 0) {
        v = (uint32_t)time(NULL) * 2654435761u ^ (uint32_t)getpid();
    }
    return v;
}
