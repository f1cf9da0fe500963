/* gpx_exemplar.c - the exemplars' store and its seqlock (gpx_exemplar.h).
 *
 * The protocol, one writer per exemplar, under the C11 memory model:
 *
 *   writer: seq = s + 1 (relaxed)          reader: s1 = seq (acquire)
 *           release fence                          payload (relaxed loads)
 *           payload (relaxed stores)               acquire fence
 *           seq = s + 2 (release)                  s2 = seq (relaxed)
 *                                                  whole if s1 == s2, even
 *
 * Why it holds: if the reader's first load saw s + 2, the release store of
 * s + 2 synchronizes with it, so the payload of that write happens before
 * the reader's payload loads, which see it or a later write's. If any
 * payload load saw a store of a later write, that store comes after the
 * writer's release fence and is read before the reader's acquire fence:
 * the fences synchronize, so the later write's odd seq happens before the
 * reader's second load of seq, which sees it (or later) and differs from
 * s1. Either the copy is of one write, or the reader tries again.
 *
 * Every access to the shared words is an atomic one (relaxed but for the
 * seq stores and load named above), so there is no data race for the
 * model and none for ThreadSanitizer, and 8-byte atomics are lock-free:
 * they work between processes on MAP_SHARED memory. The ids are copied as
 * 8-byte words for that reason.
 */
#define _GNU_SOURCE /* MAP_ANONYMOUS */
#include "gpx_exemplar.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "gpx_log.h"

/* How often a reader tries an exemplar being written before it skips it:
 * a write is a few stores, so a second try nearly always succeeds, and a
 * scrape never waits on a writer that was descheduled (or killed) mid-write. */
#define READ_TRIES 4

/* The ids' bytes are stored as words: an 8-byte lvalue that may alias
 * the unsigned char arrays. */
typedef uint64_t word_alias __attribute__((may_alias));

_Static_assert(__atomic_always_lock_free(sizeof(uint64_t), 0), "shared memory needs lock-free 8-byte atomics");

static inline void
store_word(void *at, uint64_t v)
{
    __atomic_store_n((word_alias *)at, v, __ATOMIC_RELAXED);
}

static inline uint64_t
load_word(const void *at)
{
    return __atomic_load_n((const word_alias *)at, __ATOMIC_RELAXED);
}

void
gpx_exemplar_write(struct gpx_exemplar *e, const struct gpx_trace_ids *ids, uint64_t value_us, uint64_t time_us)
{
    uint64_t seq = __atomic_load_n(&e->seq, __ATOMIC_RELAXED), w[3];

    /* A worker killed mid-write leaves seq odd; its successor on the same
     * exemplar starts from the next even count, so that its own odd count
     * (and the readers' retry) still marks the write. */
    seq += seq & 1;
    __atomic_store_n(&e->seq, seq + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    memcpy(w, ids->trace_id, 16);
    memcpy(w + 2, ids->span_id, 8);
    store_word(&e->value_us, value_us);
    store_word(&e->time_us, time_us);
    store_word(e->trace_id, w[0]);
    store_word(e->trace_id + 8, w[1]);
    store_word(e->span_id, w[2]);
    __atomic_store_n(&e->seq, seq + 2, __ATOMIC_RELEASE);
}

int
gpx_exemplar_read(const struct gpx_exemplar *e, struct gpx_exemplar_copy *out)
{
    unsigned tries;

    for (tries = 0; tries < READ_TRIES; tries++) {
        uint64_t before = __atomic_load_n(&e->seq, __ATOMIC_ACQUIRE), w[3], value_us, time_us;

        if (before == 0) {
            return 0; /* never written */
        }
        if (before & 1) {
            continue;
        }
        value_us = load_word(&e->value_us);
        time_us = load_word(&e->time_us);
        w[0] = load_word(e->trace_id);
        w[1] = load_word(e->trace_id + 8);
        w[2] = load_word(e->span_id);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (__atomic_load_n(&e->seq, __ATOMIC_RELAXED) != before) {
            continue;
        }
        out->value_us = value_us;
        out->time_us = time_us;
        memcpy(out->trace_id, w, 16);
        memcpy(out->span_id, w + 2, 8);
        return 1;
    }
    return 0;
}

int
gpx_exemplar_board_open(struct gpx_exemplar_board *b, unsigned workers, unsigned cores, unsigned methods,
                        unsigned slots, char *err, size_t errlen)
{
    size_t count;
    void *base;

    memset(b, 0, sizeof(*b));
    if (workers == 0 || cores == 0 || methods == 0 || slots == 0) {
        gpx_set_error(err, errlen, "exemplars need at least one worker, core, method and duration slot");
        return -1;
    }
    /* Each product checked: a size that wrapped would map too little. */
    count = workers;
    if (count > SIZE_MAX / cores || (count *= cores) > SIZE_MAX / methods || (count *= methods) > SIZE_MAX / slots ||
        (count *= slots) > SIZE_MAX / sizeof(struct gpx_exemplar)) {
        gpx_set_error(err, errlen, "exemplars for %u workers, %u cores, %u methods and %u slots do not fit in memory",
                      workers, cores, methods, slots);
        return -1;
    }
    base = mmap(NULL, count * sizeof(struct gpx_exemplar), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) {
        gpx_set_error(err, errlen, "cannot map %zu bytes of shared memory for exemplars: %s",
                      count * sizeof(struct gpx_exemplar), strerror(errno));
        return -1;
    }
    /* An anonymous mapping is zeroed: every seq 0, every exemplar unwritten. */
    b->base = base;
    b->size = count * sizeof(struct gpx_exemplar);
    b->workers = workers;
    b->cores = cores;
    b->methods = methods;
    b->slots = slots;
    return 0;
}

void
gpx_exemplar_board_close(struct gpx_exemplar_board *b)
{
    if (b->base != NULL) {
        munmap(b->base, b->size);
    }
    memset(b, 0, sizeof(*b));
}

int
gpx_exemplar_newest(const struct gpx_exemplar_board *b, unsigned method, unsigned slot, struct gpx_exemplar_copy *out)
{
    struct gpx_exemplar_copy x;
    unsigned worker, core;
    int found = 0;

    for (worker = 1; worker <= b->workers; worker++) {
        for (core = 0; core < b->cores; core++) {
            if (gpx_exemplar_read(gpx_exemplar_at(b, worker, core, method, slot), &x) &&
                (!found || x.time_us > out->time_us)) {
                *out = x;
                found = 1;
            }
        }
    }
    return found;
}

static char *
put_hex(char *p, const unsigned char *bytes, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < n; i++) {
        *p++ = digits[bytes[i] >> 4];
        *p++ = digits[bytes[i] & 0xf];
    }
    return p;
}

/* Seconds from microseconds, exactly and without trailing zeros: what
 * gpx_text_micros writes, its zeros after the point left out, and the
 * point too when nothing follows it. */
static char *
put_seconds(char *p, uint64_t us)
{
    p = gpx_text_micros(p, us);
    while (p[-1] == '0') {
        p--;
    }
    return p[-1] == '.' ? p - 1 : p;
}

char *
gpx_exemplar_text(char *p, const struct gpx_exemplar_copy *x)
{
    p = gpx_text_mem(p, " # {trace_id=\"", 14);
    p = put_hex(p, x->trace_id, sizeof(x->trace_id));
    p = gpx_text_mem(p, "\",span_id=\"", 11);
    p = put_hex(p, x->span_id, sizeof(x->span_id));
    p = gpx_text_mem(p, "\"} ", 3);
    p = put_seconds(p, x->value_us);
    *p++ = ' ';
    return put_seconds(p, x->time_us);
}
