/*
 * Embeds a Rampart media node in a C program and relays a call through it.
 *
 * Two "phones" (UDP sockets on loopback) use librampart sessions as their
 * SRTP stacks. Leg A speaks AES_CM_128_HMAC_SHA1_80, leg B AEAD_AES_128_GCM;
 * the node decrypts what one leg sends and re-encrypts it for the other.
 * The call is created, updated (latch mode, then a rekey of A's inbound key),
 * queried and deleted with the HTTP API's JSON documents through the
 * embedding API; errors come back as the API's error documents.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "util.h"

#define PACKETS 120

static void b64(const uint8_t *in, size_t n, char *out) {
    static const char T[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) |
                     (i + 2 < n ? in[i + 2] : 0);
        out[o++] = T[(v >> 18) & 63];
        out[o++] = T[(v >> 12) & 63];
        out[o++] = i + 1 < n ? T[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? T[v & 63] : '=';
    }
    out[o] = 0;
}

typedef struct {
    uint32_t suite;
    uint8_t key_salt[46];
    size_t key_len, salt_len;
    char text[80];
} keyspec_t;

static void make_key(rng_t *r, keyspec_t *k, uint32_t suite) {
    k->suite = suite;
    k->key_len = rampart_suite_key_len(suite);
    k->salt_len = rampart_suite_salt_len(suite);
    rng_bytes(r, k->key_salt, k->key_len + k->salt_len);
    b64(k->key_salt, k->key_len + k->salt_len, k->text);
}

static rampart_session *session(const keyspec_t *k) {
    rampart_master_key mk = {k->key_salt, k->key_len, k->key_salt + k->key_len, k->salt_len, NULL, 0, 0};
    rampart_session_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.suite = k->suite;
    cfg.keys = &mk;
    cfg.num_keys = 1;
    rampart_session *s = NULL;
    CHECK_ST(rampart_session_new(&cfg, &s), RAMPART_OK);
    return s;
}

static int udp_socket(uint16_t *port) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        perror("udp socket");
        exit(1);
    }
    socklen_t len = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &len);
    *port = ntohs(a.sin_port);
    struct timeval tv = {10, 0}; /* generous: valgrind is slow */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

/* The n-th (0-based) "local":"127.0.0.1:PORT" in a JSON answer. */
static uint16_t local_port(const char *json, int nth) {
    const char *p = json;
    for (int i = 0; i <= nth; i++) {
        p = strstr(p, "\"local\":\"127.0.0.1:");
        if (!p) return 0;
        p += strlen("\"local\":\"127.0.0.1:");
    }
    return (uint16_t)atoi(p);
}

/* Sends `count` packets from one phone to the node and checks that the
 * other phone receives each, decrypts it and gets the same RTP packet. */
static int relay(rng_t *rng, int from_fd, uint16_t node_port, rampart_session *tx, int to_fd,
                 rampart_session *rx, uint32_t ssrc, uint16_t *seq, int count) {
    struct sockaddr_in dst;
    memset(&dst, 0, sizeof dst);
    dst.sin_family = AF_INET;
    dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    dst.sin_port = htons(node_port);
    int ok = 0;
    uint8_t plain[1500], buf[1500], got[1500];
    for (int i = 0; i < count; i++) {
        (*seq)++;
        size_t n = make_rtp(rng, plain, *seq, 160u * *seq, ssrc, 160), out = 0, back = 0;
        plain[1] = 8; /* PCMA: never in the RTCP range a muxed port demuxes */
        memcpy(buf, plain, n);
        CHECK_ST(rampart_protect_rtp(tx, buf, n, sizeof buf, &out), RAMPART_OK);
        if (sendto(from_fd, buf, out, 0, (struct sockaddr *)&dst, sizeof dst) != (ssize_t)out) {
            perror("sendto");
            continue;
        }
        ssize_t r = recv(to_fd, got, sizeof got, 0);
        if (r <= 0) {
            fprintf(stderr, "packet %d (seq %u) not relayed\n", i, *seq);
            continue;
        }
        rampart_status st = rampart_unprotect_rtp(rx, got, (size_t)r, &back);
        if (st == RAMPART_OK && back == n && memcmp(got, plain, n) == 0)
            ok++;
        else
            fprintf(stderr, "packet %d: %s, %zu vs %zu bytes\n", i, rampart_status_str((int)st), back, n);
    }
    return ok;
}

int main(void) {
    rng_t rng = {0xe3bedULL};
    char *resp = NULL, *err = NULL;
    rampart_node *node = NULL;

    /* A bad configuration is refused with a message. */
    CHECK_ST(rampart_node_start("[media]\nport_mni = 1\n", &node, &err), RAMPART_ERR_NODE_CONFIG);
    CHECK(node == NULL && err && strstr(err, "port_mni"), "config error names the key: %s", err ? err : "");
    rampart_string_free(err);
    err = NULL;
    CHECK_ST(rampart_node_start(NULL, NULL, NULL), RAMPART_ERR_NULL_POINTER);

    const char *toml =
        "[media]\naddresses = [\"127.0.0.1\"]\nport_min = 46000\nport_max = 46999\n"
        "[dataplane]\nworkers = 1\nbackend = \"mmsg\"\n"
        "[timeouts]\nno_media_secs = 0\n"
        "[log]\nlevel = \"warn\"\n";
    rampart_status st = rampart_node_start(toml, &node, &err);
    CHECK(st == RAMPART_OK, "node start: %s: %s", rampart_status_str((int)st), err ? err : "");
    rampart_string_free(err);
    if (st != RAMPART_OK) return 1;
    printf("node API on %s\n", rampart_node_api_addr(node));

    uint16_t status = 0;
    CHECK_ST(rampart_node_request(node, "GET", "/health", NULL, &status, &resp), RAMPART_OK);
    CHECK(status == 200 && resp && strstr(resp, "\"status\":\"ok\""), "health: %u %s", status, resp);
    rampart_string_free(resp);
    resp = NULL;

    uint16_t pa, pb;
    int fa = udp_socket(&pa), fb = udp_socket(&pb);
    keyspec_t a_in, a_out, b_in, b_out, a_in2;
    make_key(&rng, &a_in, RAMPART_SUITE_AES_CM_128_HMAC_SHA1_80);
    make_key(&rng, &a_out, RAMPART_SUITE_AES_CM_128_HMAC_SHA1_80);
    make_key(&rng, &b_in, RAMPART_SUITE_AEAD_AES_128_GCM);
    make_key(&rng, &b_out, RAMPART_SUITE_AEAD_AES_128_GCM);
    make_key(&rng, &a_in2, RAMPART_SUITE_AES_CM_128_HMAC_SHA1_80);

    char req[1024];
    snprintf(req, sizeof req,
             "{\"call_id\": \"embed-1\", \"legs\": ["
             "{\"suite\": \"AES_CM_128_HMAC_SHA1_80\", \"remote\": \"127.0.0.1:%u\", \"rtcp_mux\": true,"
             " \"keys\": {\"inbound\": {\"key\": \"%s\"}, \"outbound\": {\"key\": \"%s\"}}},"
             "{\"suite\": \"AEAD_AES_128_GCM\", \"remote\": \"127.0.0.1:%u\", \"rtcp_mux\": true,"
             " \"keys\": {\"inbound\": {\"key\": \"%s\"}, \"outbound\": {\"key\": \"%s\"}}}]}",
             pa, a_in.text, a_out.text, pb, b_in.text, b_out.text);
    st = rampart_node_create_call(node, req, &resp);
    CHECK(st == RAMPART_OK, "create call: %s: %s", rampart_status_str((int)st), resp ? resp : "");
    uint16_t la = resp ? local_port(resp, 0) : 0, lb = resp ? local_port(resp, 1) : 0;
    CHECK(la && lb && resp && strstr(resp, "\"security\":\"encrypted\""), "create answer: %s", resp);
    rampart_string_free(resp);
    resp = NULL;

    /* Errors come back as the API's error documents. */
    CHECK_ST(rampart_node_create_call(node, req, &resp), RAMPART_ERR_API);
    CHECK(resp && strstr(resp, "call_exists"), "duplicate call: %s", resp);
    rampart_string_free(resp);
    CHECK_ST(rampart_node_create_call(node, "{\"legs\": [{\"suite\": \"AES_CM_129\"}, {}]}", &resp),
             RAMPART_ERR_API);
    CHECK(resp && strstr(resp, "invalid_suite"), "bad suite: %s", resp);
    rampart_string_free(resp);
    CHECK_ST(rampart_node_create_call(node, "{nope", &resp), RAMPART_ERR_API);
    CHECK(resp && strstr(resp, "bad_json"), "bad json: %s", resp);
    rampart_string_free(resp);
    CHECK_ST(rampart_node_get_call(node, "no-such-call", &resp), RAMPART_ERR_API);
    CHECK(resp && strstr(resp, "unknown_call"), "unknown call: %s", resp);
    rampart_string_free(resp);
    resp = NULL;
    CHECK_ST(rampart_node_create_call(NULL, req, &resp), RAMPART_ERR_NULL_POINTER);
    CHECK_ST(rampart_node_create_call(node, NULL, &resp), RAMPART_ERR_NULL_POINTER);
    CHECK_ST(rampart_node_create_call(node, req, NULL), RAMPART_ERR_NULL_POINTER);
    CHECK_ST(rampart_node_update_leg(node, "embed-1", 2, "{}", &resp), RAMPART_ERR_INVALID_ARGUMENT);
    CHECK_ST(rampart_node_request(node, "get", "/health", NULL, NULL, &resp), RAMPART_ERR_INVALID_ARGUMENT);
    CHECK_ST(rampart_node_request(node, "GET", "/he alth", NULL, NULL, &resp), RAMPART_ERR_INVALID_ARGUMENT);

    /* Media both ways through the node. */
    rampart_session *a_tx = session(&a_in), *a_rx = session(&a_out);
    rampart_session *b_tx = session(&b_in), *b_rx = session(&b_out);
    uint16_t seq_a = 65500, seq_b = 100; /* A wraps its sequence number mid-call */
    int ab = relay(&rng, fa, la, a_tx, fb, b_rx, 0xA0A0A0A0, &seq_a, PACKETS);
    int ba = relay(&rng, fb, lb, b_tx, fa, a_rx, 0xB0B0B0B0, &seq_b, PACKETS);
    printf("relayed A->B %d/%d, B->A %d/%d\n", ab, PACKETS, ba, PACKETS);
    CHECK(ab == PACKETS && ba == PACKETS, "every packet relayed and decrypted");

    /* Update: latch mode, then a rekey of A's inbound key (SDES re-offer). */
    CHECK_ST(rampart_node_update_leg(node, "embed-1", 1, "{\"latch\": \"strict\"}", &resp), RAMPART_OK);
    CHECK(resp && strstr(resp, "\"latch\":\"strict\""), "latch update: %s", resp);
    rampart_string_free(resp);
    snprintf(req, sizeof req, "{\"rekey\": {\"direction\": \"inbound\", \"key\": \"%s\"}}", a_in2.text);
    st = rampart_node_update_leg(node, "embed-1", 0, req, &resp);
    CHECK(st == RAMPART_OK, "rekey: %s: %s", rampart_status_str((int)st), resp ? resp : "");
    rampart_string_free(resp);
    rampart_session *a_tx2 = session(&a_in2);
    /* The node kept A's ROC across the rekey: the new sender starts there. */
    CHECK_ST(rampart_session_set_roc(a_tx2, 0xA0A0A0A0, 1), RAMPART_OK);
    int ab2 = relay(&rng, fa, la, a_tx2, fb, b_rx, 0xA0A0A0A0, &seq_a, 20);
    CHECK(ab2 == 20, "relayed after rekey: %d/20", ab2);

    CHECK_ST(rampart_node_get_call(node, "embed-1", &resp), RAMPART_OK);
    CHECK(resp && strstr(resp, "\"packets_in\"") && !strstr(resp, "\"keys\""), "get call: %s", resp);
    rampart_string_free(resp);
    CHECK_ST(rampart_node_list_calls(node, &resp), RAMPART_OK);
    CHECK(resp && strstr(resp, "\"count\":1"), "list: %s", resp);
    rampart_string_free(resp);
    CHECK_ST(rampart_node_delete_call(node, "embed-1", &resp), RAMPART_OK);
    CHECK(resp && strstr(resp, "\"ended\":\"deleted\""), "delete: %s", resp);
    rampart_string_free(resp);
    CHECK_ST(rampart_node_list_calls(node, &resp), RAMPART_OK);
    CHECK(resp && strstr(resp, "\"count\":0"), "list after delete: %s", resp);
    rampart_string_free(resp);

    rampart_session_free(a_tx);
    rampart_session_free(a_tx2);
    rampart_session_free(a_rx);
    rampart_session_free(b_tx);
    rampart_session_free(b_rx);
    close(fa);
    close(fb);
    rampart_node_stop(node);
    rampart_node_stop(NULL);
    if (g_failures) {
        printf("embed: %d failures\n", g_failures);
        return 1;
    }
    printf("embed: ok\n");
    return 0;
}
