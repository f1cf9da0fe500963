/* gpx_ratelimit.c - token buckets by client address (see gpx_ratelimit.h). */
#include "gpx_ratelimit.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "gpx_hash.h"

int
gpx_ratelimit_init(struct gpx_ratelimit *rl, unsigned rate, unsigned burst)
{
    memset(rl, 0, sizeof(*rl));
    rl->rate = rate;
    rl->burst = burst > 0 ? burst : rate;
    if (rate == 0) {
        return 0;
    }
    rl->slots = calloc(GPX_RATELIMIT_SLOTS, sizeof(*rl->slots));
    return rl->slots != NULL ? 0 : -1;
}

void
gpx_ratelimit_free(struct gpx_ratelimit *rl)
{
    free(rl->slots);
    memset(rl, 0, sizeof(*rl));
}

/* The address as 16 bytes, IPv4 mapped. Returns 0, or -1 for another family. */
static int
address_key(const void *sa, unsigned char key[16])
{
    const struct sockaddr *s = sa;

    if (s->sa_family == AF_INET) {
        const struct sockaddr_in *in = sa;

        memset(key, 0, 10);
        key[10] = key[11] = 0xff;
        memcpy(key + 12, &in->sin_addr, 4);
        return 0;
    }
    if (s->sa_family == AF_INET6) {
        memcpy(key, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
        return 0;
    }
    return -1;
}

int
gpx_ratelimit_allow(struct gpx_ratelimit *rl, const void *sa, uint64_t now_ns)
{
    struct gpx_ratelimit_slot *slot = NULL, *stalest = NULL;
    unsigned char key[16];
    unsigned i, start;

    if (rl->rate == 0 || rl->slots == NULL || sa == NULL || address_key(sa, key) != 0) {
        return 1;
    }
    start = (unsigned)(gpx_fnv1a(key, sizeof(key)) % GPX_RATELIMIT_SLOTS);
    for (i = 0; i < GPX_RATELIMIT_PROBE && slot == NULL; i++) {
        struct gpx_ratelimit_slot *s = &rl->slots[(start + i) % GPX_RATELIMIT_SLOTS];

        if (s->used && memcmp(s->addr, key, sizeof(key)) == 0) {
            slot = s;
        } else if (!s->used && (stalest == NULL || stalest->used)) {
            stalest = s;
        } else if (s->used && stalest != NULL && stalest->used && s->last_ns < stalest->last_ns) {
            stalest = s;
        } else if (stalest == NULL) {
            stalest = s;
        }
    }
    if (slot == NULL) {
        /* A new client, or one forgotten: a full bucket. */
        slot = stalest;
        memcpy(slot->addr, key, sizeof(key));
        slot->used = 1;
        slot->tokens = (double)rl->burst;
        slot->last_ns = now_ns;
    } else if (now_ns > slot->last_ns) {
        slot->tokens += (double)(now_ns - slot->last_ns) * rl->rate / 1e9;
        if (slot->tokens > (double)rl->burst) {
            slot->tokens = (double)rl->burst;
        }
        slot->last_ns = now_ns;
    }
    if (slot->tokens < 1.0) {
        return 0;
    }
    slot->tokens -= 1.0;
    return 1;
}
