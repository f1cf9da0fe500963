/* Unit tests of gpx_snapshot: encoding a board's totals, checking a blob,
 * adding one into a base board. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gpx_test_support.h"

#include "gpx_restart.h"
#include "gpx_snapshot.h"

#define ENTRY_SIZE (sizeof(struct gpx_slot) + GPX_CELL_CLASSIC_SIZE)
/* The header and the class names before the first entry. */
#define PREAMBLE_SIZE (sizeof(struct gpx_snapshot_header) + sizeof(struct gpx_error_names))

/* A zeroed cell with its alignment, for expected values. */
static struct gpx_cell *
new_cell(void)
{
    void *mem;

    assert_int_equal(posix_memalign(&mem, _Alignof(struct gpx_cell), sizeof(struct gpx_cell)), 0);
    return memset(mem, 0, sizeof(struct gpx_cell));
}

/* The cell and slot of worker w of a blob, copied out: a blob's cells sit
 * at no 64-byte boundary, so they are never read in place. */
static void
blob_cell(const struct gpx_snapshot_header *h, unsigned w, struct gpx_cell *cell)
{
    gpx_snapshot_read_cell(h, w, cell);
}

/* The size of the native section of a blob of `workers` entries. */
static size_t
native_size(const char *blob, unsigned workers)
{
    struct gpx_snapshot_native n;

    memcpy(&n, blob + PREAMBLE_SIZE + workers * ENTRY_SIZE, sizeof(n));
    assert_memory_equal(n.magic, GPX_SNAPSHOT_NATIVE_MAGIC, 8);
    assert_int_equal(n.workers, workers);
    return n.size;
}

static void
blob_slot(const struct gpx_snapshot_header *h, unsigned w, struct gpx_slot *slot)
{
    memcpy(slot, gpx_snapshot_slot(h, w), sizeof(*slot));
}

/* A malloc'd copy of exactly len bytes (ASan sees any read past it). */
static void *
copy_of(const void *data, size_t len)
{
    void *p = malloc(len > 0 ? len : 1);

    assert_non_null(p);
    memcpy(p, data, len);
    return p;
}

static const struct gpx_snapshot_header *
checked(const void *blob, size_t len)
{
    const struct gpx_snapshot_header *h = NULL;
    char err[256] = "";

    if (gpx_snapshot_check(blob, len, &h, err, sizeof(err)) != 0) {
        print_error("check: %s\n", err);
        fail();
    }
    assert_ptr_equal(h, blob);
    assert_string_equal(err, "");
    return h;
}

static void
encode(struct gpx_buf *out, const struct gpx_scoreboard *live, const struct gpx_scoreboard *base, uint64_t now)
{
    assert_int_equal(gpx_buf_init(out, 0), 0);
    assert_int_equal(gpx_snapshot_encode(out, live, base, now), 0);
    assert_int_equal(out->failed, 0);
}

/* The boards of most tests: a live board of 2 workers x 3 cores, a base
 * (restored totals) of 3 workers x 1 core.
 *   live w1 c0: GET 200,  1000 us, request 100, response 2000
 *   live w1 c1: GET 200,  2000 us, request 200, response 3000
 *   live w1 c2: POST 500, 3000 us, request 300, response 0
 *   live w2 c2: GET 404,  4000 us, request 0,   response 10, raised (app 1)
 *   base w1:    GET 200,  5000 us, request 50,  response 60
 *   base w3:    DELETE 204, 6000 us
 * Restarts: live slot 1 max_requests 2, live slot 2 crash 1, base slot 1
 * max_requests 3, base slot 3 memory 1. */
struct boards {
    struct gpx_scoreboard live;
    struct gpx_scoreboard base;
};

static int
setup_boards(void **state)
{
    static struct boards b;
    struct gpx_request r;
    char err[256];

    if (gpx_scoreboard_open_anonymous(&b.live, 2, 3, err, sizeof(err)) != 0 ||
        gpx_scoreboard_open_anonymous(&b.base, 3, 1, err, sizeof(err)) != 0) {
        return -1;
    }
    record_request(&b.live, 1, 0, GPX_METHOD_GET, 200, 1000, 100, 2000);
    record_request(&b.live, 1, 1, GPX_METHOD_GET, 200, 2000, 200, 3000);
    record_request(&b.live, 1, 2, GPX_METHOD_POST, 500, 3000, 300, 0);
    r = test_request(GPX_METHOD_GET, 404, 4000, 0, 10);
    r.app_id = 1;
    r.raised = 1;
    gpx_cell_record(gpx_scoreboard_cell(&b.live, 2, 2), &r);
    record_request(&b.base, 1, 0, GPX_METHOD_GET, 200, 5000, 50, 60);
    record_request(&b.base, 3, 0, GPX_METHOD_DELETE, 204, 6000, 0, 0);
    GPX_BUMP(gpx_scoreboard_slot(&b.live, 1)->restarts[GPX_RESTART_MAX_REQUESTS], 2);
    GPX_BUMP(gpx_scoreboard_slot(&b.live, 2)->restarts[GPX_RESTART_CRASH], 1);
    GPX_BUMP(gpx_scoreboard_slot(&b.base, 1)->restarts[GPX_RESTART_MAX_REQUESTS], 3);
    GPX_BUMP(gpx_scoreboard_slot(&b.base, 3)->restarts[GPX_RESTART_MEMORY], 1);
    GPX_BUMP(gpx_scoreboard_slot(&b.live, 1)->carried[0], 40);
    GPX_BUMP(gpx_scoreboard_slot(&b.base, 1)->carried[0], 2);
    GPX_BUMP(gpx_scoreboard_slot(&b.base, 3)->carried[GPX_SLOT_CARRIED - 1], 7);
    b.live.header->created_unix = 1700000200;
    b.base.header->created_unix = 1700000100;
    *state = &b;
    return 0;
}

static int
teardown_boards(void **state)
{
    struct boards *b = *state;

    gpx_scoreboard_close(&b->live);
    gpx_scoreboard_close(&b->base);
    return 0;
}

/* The blob is a header (magic, this layout's version and sizes, the larger
 * worker count, the earlier start, the time given), the class names, and one
 * slot + cell per worker, nothing more. */
static void
test_gpx_snapshot_encode_header(void **state)
{
    struct boards *b = *state;
    struct gpx_buf out;
    const struct gpx_snapshot_header *h;
    unsigned w;

    encode(&out, &b->live, &b->base, 1700000999);
    assert_int_equal(out.len, PREAMBLE_SIZE + 3 * ENTRY_SIZE + native_size(out.data, 3));
    h = checked(out.data, out.len);
    assert_memory_equal(h->magic, GPX_SNAPSHOT_MAGIC, 8);
    assert_int_equal(h->layout_version, GPX_LAYOUT_VERSION);
    assert_int_equal(h->slot_size, sizeof(struct gpx_slot));
    assert_int_equal(h->cell_size, sizeof(struct gpx_cell));
    assert_int_equal(h->workers, 3);
    assert_true(h->created_unix == 1700000100);
    assert_true(h->taken_unix == 1700000999);
    for (w = 1; w <= 3; w++) {
        const unsigned char *entry = (const unsigned char *)out.data + PREAMBLE_SIZE + (w - 1) * ENTRY_SIZE;

        assert_ptr_equal(gpx_snapshot_slot(h, w), entry);
    }
    gpx_buf_free(&out);

    /* Without a base: the live board's workers and start. */
    encode(&out, &b->live, NULL, 5);
    assert_int_equal(out.len, PREAMBLE_SIZE + 2 * ENTRY_SIZE + native_size(out.data, 2));
    h = checked(out.data, out.len);
    assert_int_equal(h->workers, 2);
    assert_true(h->created_unix == 1700000200);
    assert_true(h->taken_unix == 5);
    gpx_buf_free(&out);

    /* A live board started earlier than the base: its start. */
    b->live.header->created_unix = 1700000000;
    encode(&out, &b->live, &b->base, 6);
    h = checked(out.data, out.len);
    assert_int_equal(h->workers, 3);
    assert_true(h->created_unix == 1700000000);
    gpx_buf_free(&out);

    /* A base with fewer workers than the live board: the live board's count. */
    encode(&out, &b->base, &b->live, 7);
    h = checked(out.data, out.len);
    assert_int_equal(h->workers, 3);
    gpx_buf_free(&out);
}

/* Each worker's cell is its cores summed plus the base's cell; each slot
 * is the live slot plus the base slot. */
static void
test_gpx_snapshot_encode_sums_cores_and_base(void **state)
{
    struct boards *b = *state;
    struct gpx_buf out;
    const struct gpx_snapshot_header *h;
    struct gpx_cell *cell = new_cell(), *want = new_cell();
    struct gpx_slot slot;
    unsigned w, r;

    encode(&out, &b->live, &b->base, 1);
    h = checked(out.data, out.len);

    blob_cell(h, 1, cell);
    assert_true(gpx_cell_requests(cell) == 4);
    assert_int_equal(status_keys(cell), 2);
    assert_true(status_count(cell, GPX_METHOD_GET, 200) == 3);
    assert_true(status_count(cell, GPX_METHOD_POST, 500) == 1);
    assert_true(cell->duration[GPX_METHOD_GET].sum_us == 8000);
    assert_true(cell->duration[GPX_METHOD_POST].sum_us == 3000);
    assert_true(cell->duration[GPX_METHOD_GET].slot[0] == 3); /* all <= 5 ms */
    assert_true(cell->sizes.request_sum == 650);
    assert_true(cell->sizes.response_sum == 5060);
    assert_true(cell->sizes.slot[0].request == 4);
    assert_true(cell->sizes.slot[0].response == 2); /* 0 and 60 */
    assert_true(cell->sizes.slot[1].response == 2); /* 2000 and 3000 */

    blob_cell(h, 2, cell);
    assert_true(gpx_cell_requests(cell) == 1);
    assert_int_equal(status_keys(cell), 1);
    assert_true(status_count(cell, GPX_METHOD_GET, 404) == 1);
    assert_true(cell->failed[GPX_METHOD_GET][1] == 1);
    assert_true(cell->duration[GPX_METHOD_GET].sum_us == 4000);
    assert_true(cell->sizes.response_sum == 10);

    blob_cell(h, 3, cell);
    assert_true(gpx_cell_requests(cell) == 1);
    assert_int_equal(status_keys(cell), 1);
    assert_true(status_count(cell, GPX_METHOD_DELETE, 204) == 1);
    assert_true(cell->duration[GPX_METHOD_DELETE].sum_us == 6000);

    /* The same as summing by hand, counter for counter. */
    for (w = 1; w <= 3; w++) {
        memset(want, 0, sizeof(*want));
        if (w <= 2) {
            gpx_scoreboard_sum_worker(&b->live, w, want);
        }
        gpx_cell_add(want, gpx_scoreboard_cell(&b->base, w, 0));
        blob_cell(h, w, cell);
        assert_cells_equal(cell, want);
    }

    blob_slot(h, 1, &slot);
    assert_true(slot.restarts[GPX_RESTART_MAX_REQUESTS] == 5);
    blob_slot(h, 2, &slot);
    assert_true(slot.restarts[GPX_RESTART_CRASH] == 1);
    blob_slot(h, 3, &slot);
    assert_true(slot.restarts[GPX_RESTART_MEMORY] == 1);
    /* The uwsgi-exporter profile's carried counters add up like restarts. */
    assert_true(slot.carried[GPX_SLOT_CARRIED - 1] == 7);
    blob_slot(h, 1, &slot);
    assert_true(slot.carried[0] == 42);
    for (w = 1; w <= 3; w++) {
        uint64_t total = 0;

        blob_slot(h, w, &slot);
        for (r = 0; r < GPX_RESTART_REASONS; r++) {
            total += slot.restarts[r];
        }
        assert_true(total == (w == 1 ? 5u : 1u));
        for (r = 0; r < sizeof(slot.reserved) / sizeof(slot.reserved[0]); r++) {
            assert_true(slot.reserved[r] == 0);
        }
    }
    gpx_buf_free(&out);
    free(cell);
    free(want);
}

/* Encoding appends: what the buffer held stays in front of the blob. */
static void
test_gpx_snapshot_encode_appends(void **state)
{
    struct boards *b = *state;
    struct gpx_buf whole, out;

    encode(&whole, &b->live, &b->base, 9);
    assert_int_equal(gpx_buf_init(&out, 0), 0);
    assert_int_equal(gpx_buf_puts(&out, "prefix"), 0);
    assert_int_equal(gpx_snapshot_encode(&out, &b->live, &b->base, 9), 0);
    assert_int_equal(out.len, 6 + whole.len);
    assert_memory_equal(out.data, "prefix", 6);
    assert_memory_equal(out.data + 6, whole.data, whole.len);
    gpx_buf_free(&out);
    gpx_buf_free(&whole);
}

static void
assert_check_refuses(const void *blob, size_t len, const char *why)
{
    const struct gpx_snapshot_header *h = NULL;
    char err[256] = "";
    void *copy = copy_of(blob, len);

    /* Another layout is told apart from damage: the fleet view counts them apart. */
    assert_int_equal(gpx_snapshot_check(copy, len, &h, err, sizeof(err)),
                     strstr(why, "another gpx layout") != NULL ? -2 : -1);
    assert_null(h);
    if (strstr(err, why) == NULL) {
        print_error("error \"%s\" does not say \"%s\"\n", err, why);
        fail();
    }
    free(copy);
}

/* A copy of the blob with one header word changed. */
static void
assert_patched_refused(const struct gpx_buf *blob, size_t offset, uint32_t word, size_t len, const char *why)
{
    char *copy = copy_of(blob->data, blob->len);

    memcpy(copy + offset, &word, sizeof(word));
    assert_check_refuses(copy, len, why);
    free(copy);
}

/* check refuses a short blob, another magic, another layout version, slot
 * or cell size, a length that is not the header plus its workers' entries,
 * and 0 workers; a blob of exactly the right shape passes. */
static void
test_gpx_snapshot_check_refuses(void **state)
{
    struct boards *b = *state;
    struct gpx_buf out;
    struct gpx_snapshot_header h0;
    char *bad, newer[64];

    encode(&out, &b->live, &b->base, 1);
    {
        void *copy = copy_of(out.data, out.len);

        checked(copy, out.len);
        free(copy);
    }

    /* Short. */
    assert_check_refuses(out.data, 0, "not a gpx snapshot (0 bytes)");
    assert_check_refuses(out.data, 7, "not a gpx snapshot (7 bytes)");
    assert_check_refuses(out.data, sizeof(struct gpx_snapshot_header) - 1, "not a gpx snapshot");

    /* Bad magic. */
    bad = copy_of(out.data, out.len);
    bad[7] = '2';
    assert_check_refuses(bad, out.len, "not a gpx snapshot");
    memcpy(bad, "GPXBOARD", 8);
    assert_check_refuses(bad, out.len, "not a gpx snapshot");
    free(bad);

    /* Another layout. */
    snprintf(newer, sizeof(newer), "another gpx layout (version %u,", GPX_LAYOUT_VERSION + 1);
    assert_patched_refused(&out, offsetof(struct gpx_snapshot_header, layout_version), GPX_LAYOUT_VERSION + 1, out.len,
                           newer);
    assert_patched_refused(&out, offsetof(struct gpx_snapshot_header, layout_version), 0, out.len,
                           "another gpx layout (version 0,");
    assert_patched_refused(&out, offsetof(struct gpx_snapshot_header, cell_size), sizeof(struct gpx_cell) + 64, out.len,
                           "another gpx layout");
    assert_patched_refused(&out, offsetof(struct gpx_snapshot_header, cell_size), sizeof(struct gpx_cell) - 8, out.len,
                           "another gpx layout");
    assert_patched_refused(&out, offsetof(struct gpx_snapshot_header, slot_size), sizeof(struct gpx_slot) + 64, out.len,
                           "another gpx layout");

    /* Wrong length for its workers. */
    assert_check_refuses(out.data, out.len - 1, "a damaged snapshot (3 workers");
    assert_check_refuses(out.data, out.len - ENTRY_SIZE, "a damaged snapshot (3 workers");
    assert_check_refuses(out.data, sizeof(struct gpx_snapshot_header), "a damaged snapshot (3 workers");
    assert_check_refuses(out.data, PREAMBLE_SIZE, "a damaged snapshot (3 workers");
    {
        char *longer = malloc(out.len + ENTRY_SIZE);

        assert_non_null(longer);
        memset(longer, 0, out.len + ENTRY_SIZE);
        memcpy(longer, out.data, out.len);
        assert_check_refuses(longer, out.len + 1, "a damaged snapshot (3 workers");
        assert_check_refuses(longer, out.len + ENTRY_SIZE, "a damaged snapshot (3 workers");
        free(longer);
    }
    assert_patched_refused(&out, offsetof(struct gpx_snapshot_header, workers), 4, out.len,
                           "a damaged snapshot (4 workers");
    assert_patched_refused(&out, offsetof(struct gpx_snapshot_header, workers), 2, out.len,
                           "a damaged snapshot (2 workers");
    /* A huge worker count does not wrap the length computed. */
    assert_patched_refused(&out, offsetof(struct gpx_snapshot_header, workers), UINT32_MAX, out.len,
                           "a damaged snapshot");

    /* 0 workers, with the length a header alone has. */
    memcpy(&h0, out.data, sizeof(h0));
    h0.workers = 0;
    assert_check_refuses(&h0, sizeof(h0), "a damaged snapshot (0 workers");
    assert_patched_refused(&out, offsetof(struct gpx_snapshot_header, workers), 0, out.len,
                           "a damaged snapshot (0 workers");
    gpx_buf_free(&out);
}

/* add_to adds a blob's cells and slots into a one-core base board: once, the
 * base equals the blob; twice, every counter doubled. */
static void
test_gpx_snapshot_add_to_base(void **state)
{
    struct boards *b = *state;
    struct gpx_scoreboard base;
    struct gpx_buf out;
    const struct gpx_snapshot_header *h;
    struct gpx_cell *cell = new_cell(), *want = new_cell();
    struct gpx_slot slot;
    char err[256];
    unsigned w, r;

    encode(&out, &b->live, &b->base, 1);
    h = checked(out.data, out.len);
    assert_int_equal(gpx_scoreboard_open_anonymous(&base, 3, 1, err, sizeof(err)), 0);

    gpx_snapshot_add_to(&base, h);
    for (w = 1; w <= 3; w++) {
        blob_cell(h, w, cell);
        assert_cells_equal(gpx_scoreboard_cell(&base, w, 0), cell);
        blob_slot(h, w, &slot);
        assert_memory_equal(gpx_scoreboard_slot(&base, w), &slot, sizeof(slot));
    }

    gpx_snapshot_add_to(&base, h);
    for (w = 1; w <= 3; w++) {
        blob_cell(h, w, cell);
        memset(want, 0, sizeof(*want));
        gpx_cell_add(want, cell);
        gpx_cell_add(want, cell);
        assert_cells_equal(gpx_scoreboard_cell(&base, w, 0), want);
        blob_slot(h, w, &slot);
        for (r = 0; r < GPX_RESTART_REASONS; r++) {
            assert_true(gpx_scoreboard_slot(&base, w)->restarts[r] == 2 * slot.restarts[r]);
        }
    }
    {
        const struct gpx_cell *c1 = gpx_scoreboard_cell(&base, 1, 0);

        assert_true(gpx_cell_requests(c1) == 8);
        assert_true(status_count(c1, GPX_METHOD_GET, 200) == 6);
        assert_true(status_count(c1, GPX_METHOD_POST, 500) == 2);
        assert_true(c1->sizes.request_sum == 1300);
        assert_true(gpx_scoreboard_slot(&base, 1)->restarts[GPX_RESTART_MAX_REQUESTS] == 10);
        assert_true(gpx_scoreboard_slot(&base, 3)->restarts[GPX_RESTART_MEMORY] == 2);
    }
    gpx_scoreboard_close(&base);
    gpx_buf_free(&out);
    free(cell);
    free(want);
}

/* A blob of more workers than the base: the extra workers' cells and slots
 * go into the base's last slot; nothing is lost. A base of more workers
 * than the blob keeps the others untouched. */
static void
test_gpx_snapshot_add_to_folds_extra_workers(void **state)
{
    struct boards *b = *state;
    struct gpx_scoreboard base, wide;
    struct gpx_buf out;
    const struct gpx_snapshot_header *h;
    struct gpx_cell *cell = new_cell(), *want = new_cell();
    char err[256];
    unsigned w;

    (void)b;
    assert_int_equal(gpx_scoreboard_open_anonymous(&wide, 5, 2, err, sizeof(err)), 0);
    for (w = 1; w <= 5; w++) {
        unsigned i;

        for (i = 0; i < w; i++) {
            record_request(&wide, w, i % 2, GPX_METHOD_GET, 200 + w, 1000 * w, 10 * w, 0);
        }
        GPX_BUMP(gpx_scoreboard_slot(&wide, w)->restarts[GPX_RESTART_LIFETIME], w);
    }
    encode(&out, &wide, NULL, 1);
    h = checked(out.data, out.len);
    assert_int_equal(h->workers, 5);

    assert_int_equal(gpx_scoreboard_open_anonymous(&base, 2, 1, err, sizeof(err)), 0);
    gpx_snapshot_add_to(&base, h);
    blob_cell(h, 1, cell);
    assert_cells_equal(gpx_scoreboard_cell(&base, 1, 0), cell);
    assert_true(gpx_scoreboard_slot(&base, 1)->restarts[GPX_RESTART_LIFETIME] == 1);
    for (w = 2; w <= 5; w++) {
        blob_cell(h, w, cell);
        gpx_cell_add(want, cell);
    }
    assert_cells_equal(gpx_scoreboard_cell(&base, 2, 0), want);
    assert_true(gpx_cell_requests(gpx_scoreboard_cell(&base, 2, 0)) == 2 + 3 + 4 + 5);
    assert_true(status_count(gpx_scoreboard_cell(&base, 2, 0), GPX_METHOD_GET, 205) == 5);
    assert_true(gpx_scoreboard_slot(&base, 2)->restarts[GPX_RESTART_LIFETIME] == 2 + 3 + 4 + 5);
    gpx_scoreboard_close(&base);

    /* A wider base: slots 6 and 7 stay zero. */
    assert_int_equal(gpx_scoreboard_open_anonymous(&base, 7, 1, err, sizeof(err)), 0);
    gpx_snapshot_add_to(&base, h);
    for (w = 1; w <= 5; w++) {
        blob_cell(h, w, cell);
        assert_cells_equal(gpx_scoreboard_cell(&base, w, 0), cell);
        assert_true(gpx_scoreboard_slot(&base, w)->restarts[GPX_RESTART_LIFETIME] == w);
    }
    memset(want, 0, sizeof(*want));
    for (w = 6; w <= 7; w++) {
        assert_memory_equal(gpx_scoreboard_cell(&base, w, 0), want, sizeof(*want));
        assert_true(gpx_scoreboard_slot(&base, w)->restarts[GPX_RESTART_LIFETIME] == 0);
    }
    gpx_scoreboard_close(&base);
    gpx_scoreboard_close(&wide);
    gpx_buf_free(&out);
    free(cell);
    free(want);
}

/* A blob as a Redis reply may hand it, at an odd address: checked and added
 * the same as an aligned one. */
static void
test_gpx_snapshot_add_to_unaligned(void **state)
{
    struct boards *b = *state;
    struct gpx_scoreboard aligned, odd;
    struct gpx_buf out;
    const struct gpx_snapshot_header *h;
    unsigned char *buffer;
    char err[256];
    unsigned w;

    encode(&out, &b->live, &b->base, 1);
    buffer = malloc(out.len + 1);
    assert_non_null(buffer);
    memcpy(buffer + 1, out.data, out.len);
    h = checked(buffer + 1, out.len);

    assert_int_equal(gpx_scoreboard_open_anonymous(&odd, 3, 1, err, sizeof(err)), 0);
    assert_int_equal(gpx_scoreboard_open_anonymous(&aligned, 3, 1, err, sizeof(err)), 0);
    gpx_snapshot_add_to(&odd, h);
    gpx_snapshot_add_to(&aligned, checked(out.data, out.len));
    for (w = 1; w <= 3; w++) {
        assert_cells_equal(gpx_scoreboard_cell(&odd, w, 0), gpx_scoreboard_cell(&aligned, w, 0));
        assert_memory_equal(gpx_scoreboard_slot(&odd, w), gpx_scoreboard_slot(&aligned, w), sizeof(struct gpx_slot));
    }
    assert_true(gpx_cell_requests(gpx_scoreboard_cell(&odd, 1, 0)) == 4);
    assert_true(gpx_scoreboard_slot(&odd, 1)->restarts[GPX_RESTART_MAX_REQUESTS] == 5);
    gpx_scoreboard_close(&odd);
    gpx_scoreboard_close(&aligned);
    free(buffer);
    gpx_buf_free(&out);
}

static void
fail_with(struct gpx_scoreboard *board, unsigned worker, unsigned core, const char *cls)
{
    struct gpx_request r;
    int name = gpx_error_names_find_or_add(gpx_scoreboard_error_names(board), cls, strlen(cls));

    assert_true(name >= 0);
    memset(&r, 0, sizeof(r));
    r.method = GPX_METHOD_GET;
    r.status = 500;
    r.raised = 1;
    r.error_name = (unsigned)name + 1;
    gpx_cell_record(gpx_scoreboard_cell(board, worker, core), &r);
}

/* Failures of worker w under class `cls`, looked up by name in `names`. */
static uint64_t
failures_named(const struct gpx_cell *cell, const struct gpx_error_names *names, const char *cls)
{
    unsigned n;

    for (n = 0; n < GPX_ERROR_NAMES; n++) {
        const char *name = gpx_error_names_get(names, n);

        if (name != NULL && strcmp(name, cls) == 0) {
            return gpx_cell_failures(cell, GPX_METHOD_GET, 0, n);
        }
    }
    return 0;
}

/* The live board and the base each name classes in their own table (in
 * another order): the blob carries one table with every name once and the
 * cells renamed into it; adding the blob to a base that already names some
 * classes renames once more. The counts by name survive both steps. */
static void
test_gpx_snapshot_round_trip_keeps_classes(void **state)
{
    struct boards *b = *state;
    struct gpx_buf out;
    const struct gpx_snapshot_header *h;
    struct gpx_error_names names;
    struct gpx_scoreboard restored;
    struct gpx_cell *cell = new_cell();
    char err[256];

    fail_with(&b->live, 1, 0, "RuntimeError");
    fail_with(&b->live, 1, 2, "ZeroDivisionError");
    fail_with(&b->live, 1, 2, "ZeroDivisionError");
    fail_with(&b->base, 1, 0, "ZeroDivisionError");
    fail_with(&b->base, 1, 0, "KeyError");
    fail_with(&b->base, 3, 0, "KeyError");

    encode(&out, &b->live, &b->base, 7);
    h = checked(out.data, out.len);
    gpx_snapshot_error_names(h, &names);
    assert_string_equal(gpx_error_names_get(&names, 0), "RuntimeError");
    assert_string_equal(gpx_error_names_get(&names, 1), "ZeroDivisionError");
    assert_string_equal(gpx_error_names_get(&names, 2), "KeyError");
    assert_null(gpx_error_names_get(&names, 3));
    blob_cell(h, 1, cell);
    assert_true(gpx_cell_failures(cell, GPX_METHOD_GET, 0, 0) == 1);
    assert_true(gpx_cell_failures(cell, GPX_METHOD_GET, 0, 1) == 3);
    assert_true(gpx_cell_failures(cell, GPX_METHOD_GET, 0, 2) == 1);
    blob_cell(h, 3, cell);
    assert_true(gpx_cell_failures(cell, GPX_METHOD_GET, 0, 2) == 1);

    /* Restore into a base that has met KeyError before. */
    assert_int_equal(gpx_scoreboard_open_anonymous(&restored, 3, 1, err, sizeof(err)), 0);
    fail_with(&restored, 1, 0, "KeyError");
    gpx_snapshot_add_to(&restored, h);
    assert_true(
        failures_named(gpx_scoreboard_cell(&restored, 1, 0), gpx_scoreboard_error_names(&restored), "KeyError") == 2);
    assert_true(failures_named(gpx_scoreboard_cell(&restored, 1, 0), gpx_scoreboard_error_names(&restored),
                               "ZeroDivisionError") == 3);
    assert_true(failures_named(gpx_scoreboard_cell(&restored, 1, 0), gpx_scoreboard_error_names(&restored),
                               "RuntimeError") == 1);
    assert_true(
        failures_named(gpx_scoreboard_cell(&restored, 3, 0), gpx_scoreboard_error_names(&restored), "KeyError") == 1);
    assert_string_equal(gpx_error_names_get(gpx_scoreboard_error_names(&restored), 0), "KeyError");
    /* The failure of no known class (live w2) stays classless. */
    assert_true(gpx_scoreboard_cell(&restored, 2, 0)->failed[GPX_METHOD_GET][1] == 1);
    gpx_scoreboard_close(&restored);
    free(cell);
    gpx_buf_free(&out);
}

/* -- the extension: what the master saw, for the fleet view ------------------ */

static void
fill_live(struct gpx_snapshot_live *live, struct gpx_snapshot_worker *w, unsigned n)
{
    unsigned i;

    memset(live, 0, sizeof(*live));
    live->in_progress = 2;
    live->workers_desired = 3;
    live->storage_up = 1;
    live->worker_count = 2;
    live->listener_count = 2;
    strcpy(live->listeners[0].name, "127.0.0.1:8000");
    live->listeners[0].queued = 5;
    live->listeners[0].limit = 100;
    strcpy(live->listeners[1].name, "[::1]:8001");
    live->listeners[1].queued = 0;
    live->listeners[1].limit = 4096;
    live->storage_op_count = 2;
    strcpy(live->storage[0].label, "connect");
    live->storage[0].errors = 7;
    strcpy(live->storage[1].label, "publish");
    live->storage[1].errors = 9;
    memset(w, 0, n * sizeof(*w));
    for (i = 0; i < n; i++) {
        w[i].state = i % 2 ? 1 : 0;
        w[i].live = i < 2;
        w[i].memory_bytes = 1048576.0 * (i + 1);
        w[i].cpu_percent = 12.5 * i;
        w[i].cpu_seconds = 0.25 + i;
        w[i].uptime_seconds = 60.0 * (i + 1);
    }
}

/* A blob with the extension: counters as before, the extension read back
 * exactly, and a blob without one reads as none. */
static void
test_gpx_snapshot_live_round_trip(void **state)
{
    struct boards *b = *state;
    struct gpx_buf out;
    struct gpx_snapshot_live live, back;
    struct gpx_snapshot_worker w[3], wback[3];
    const struct gpx_snapshot_header *h;
    size_t core;
    uint32_t version = 99;
    char *copy;
    struct gpx_scoreboard restored, plain;
    char err[256];

    encode(&out, &b->live, &b->base, 1700000000);
    core = out.len;
    assert_int_equal(gpx_snapshot_read_live(out.data, out.len, &back, wback, &version), 0);
    assert_int_equal(version, 0);
    assert_int_equal(back.listener_count, 0);
    fill_live(&live, w, 3);
    assert_int_equal(gpx_snapshot_encode_live(&out, &live, w, 3), 0);
    assert_int_equal(out.len, core + sizeof(struct gpx_snapshot_ext_header) + sizeof(live) +
                                  3 * sizeof(struct gpx_snapshot_worker));
    /* Read from an unaligned copy, as from a Redis reply. */
    copy = malloc(out.len + 1);
    assert_non_null(copy);
    memcpy(copy + 1, out.data, out.len);
    h = checked(copy + 1, out.len);
    memset(&back, 0xff, sizeof(back));
    assert_int_equal(gpx_snapshot_read_live(copy + 1, out.len, &back, wback, &version), 1);
    assert_int_equal(version, GPX_SNAPSHOT_EXT_VERSION);
    assert_memory_equal(&back, &live, sizeof(live));
    assert_memory_equal(wback, w, sizeof(w));
    /* The counters before it restore as without one. */
    assert_int_equal(gpx_scoreboard_open_anonymous(&restored, 3, 1, err, sizeof(err)), 0);
    assert_int_equal(gpx_scoreboard_open_anonymous(&plain, 3, 1, err, sizeof(err)), 0);
    gpx_snapshot_add_to(&restored, h);
    gpx_snapshot_add_to(&plain, checked(out.data, core));
    assert_true(gpx_scoreboard_slot(&restored, 1)->restarts[GPX_RESTART_MAX_REQUESTS] == 2 + 3);
    assert_memory_equal(restored.base + GPX_HEADER_SIZE, plain.base + GPX_HEADER_SIZE, restored.size - GPX_HEADER_SIZE);
    gpx_scoreboard_close(&restored);
    gpx_scoreboard_close(&plain);
    free(copy);
    gpx_buf_free(&out);
}

/* An extension header for `workers` parts of the given sizes. */
static void
put_ext(struct gpx_buf *out, uint32_t version, uint32_t fixed, uint32_t worker, uint32_t workers)
{
    struct gpx_snapshot_ext_header x;

    memset(&x, 0, sizeof(x));
    memcpy(x.magic, GPX_SNAPSHOT_EXT_MAGIC, sizeof(x.magic));
    x.version = version;
    x.fixed_size = fixed;
    x.worker_size = worker;
    x.workers = workers;
    x.size = (uint32_t)(sizeof(x) + fixed + (size_t)worker * workers);
    gpx_buf_append(out, (const char *)&x, sizeof(x));
}

/* A newer writer's larger parts are read as far as this gpx knows them; an
 * older writer's smaller parts leave the rest zero; strings that fill their
 * field come back NUL-terminated, counts beyond the arrays are cut. */
static void
test_gpx_snapshot_live_newer_and_older(void **state)
{
    struct boards *b = *state;
    struct gpx_buf out;
    struct gpx_snapshot_live live, back;
    struct gpx_snapshot_worker w[3], wback[3];
    char pad[32];
    uint32_t version;
    unsigned i;

    /* Newer: 32 more bytes in each part. */
    encode(&out, &b->live, &b->base, 1);
    fill_live(&live, w, 3);
    memset(live.listeners[1].name, 'x', sizeof(live.listeners[1].name));
    live.listener_count = 1000;
    memset(pad, 0x5a, sizeof(pad));
    put_ext(&out, GPX_SNAPSHOT_EXT_VERSION + 1, sizeof(live) + sizeof(pad), sizeof(w[0]) + sizeof(pad), 3);
    gpx_buf_append(&out, (const char *)&live, sizeof(live));
    gpx_buf_append(&out, pad, sizeof(pad));
    for (i = 0; i < 3; i++) {
        gpx_buf_append(&out, (const char *)&w[i], sizeof(w[i]));
        gpx_buf_append(&out, pad, sizeof(pad));
    }
    checked(out.data, out.len);
    assert_int_equal(gpx_snapshot_read_live(out.data, out.len, &back, wback, &version), 1);
    assert_int_equal(version, GPX_SNAPSHOT_EXT_VERSION + 1);
    assert_int_equal(back.listener_count, GPX_SNAPSHOT_LISTENERS);
    assert_int_equal(strlen(back.listeners[1].name), GPX_SNAPSHOT_LISTENER_NAME - 1);
    assert_string_equal(back.listeners[0].name, "127.0.0.1:8000");
    assert_memory_equal(wback, w, sizeof(w));
    gpx_buf_free(&out);

    /* Older: only the first four words, and workers' state and live. */
    encode(&out, &b->live, &b->base, 1);
    fill_live(&live, w, 3);
    put_ext(&out, 1, 16, 8, 3);
    gpx_buf_append(&out, (const char *)&live, 16);
    for (i = 0; i < 3; i++) {
        gpx_buf_append(&out, (const char *)&w[i], 8);
    }
    checked(out.data, out.len);
    assert_int_equal(gpx_snapshot_read_live(out.data, out.len, &back, wback, &version), 1);
    assert_int_equal(back.in_progress, 2);
    assert_int_equal(back.workers_desired, 3);
    assert_int_equal(back.storage_up, 1);
    assert_int_equal(back.listener_count, 2); /* known, but its entries were not written: empty names */
    assert_string_equal(back.listeners[0].name, "");
    assert_int_equal(back.storage_op_count, 0);
    assert_int_equal(wback[1].state, 1);
    assert_int_equal(wback[1].live, 1);
    assert_true(wback[1].memory_bytes == 0.0);
    gpx_buf_free(&out);
}

/* A damaged extension refuses the whole blob: no part of it is trusted. */
static void
test_gpx_snapshot_live_damaged(void **state)
{
    struct boards *b = *state;
    struct gpx_buf out;
    struct gpx_snapshot_live live;
    struct gpx_snapshot_worker w[3];
    size_t core, at;

    encode(&out, &b->live, &b->base, 1);
    core = out.len;
    fill_live(&live, w, 3);
    assert_int_equal(gpx_snapshot_encode_live(&out, &live, w, 3), 0);
    checked(out.data, out.len);
    /* Cut anywhere inside it. */
    assert_check_refuses(out.data, out.len - 1, "a damaged snapshot extension (version 1, 3 workers");
    assert_check_refuses(out.data, core + sizeof(struct gpx_snapshot_ext_header), "a damaged snapshot extension");
    /* Shorter than its header, or another magic: not an extension at all. */
    assert_check_refuses(out.data, core + 8, "a damaged snapshot (3 workers");
    at = core + offsetof(struct gpx_snapshot_ext_header, magic);
    assert_patched_refused(&out, at, 0x21212121u, out.len, "a damaged snapshot (3 workers");
    /* Its words disagreeing with the blob or each other. */
    at = core + offsetof(struct gpx_snapshot_ext_header, version);
    assert_patched_refused(&out, at, 0, out.len, "a damaged snapshot extension (version 0");
    at = core + offsetof(struct gpx_snapshot_ext_header, size);
    assert_patched_refused(&out, at, 7, out.len, "a damaged snapshot extension");
    at = core + offsetof(struct gpx_snapshot_ext_header, workers);
    assert_patched_refused(&out, at, 2, out.len, "a damaged snapshot extension (version 1, 2 workers");
    at = core + offsetof(struct gpx_snapshot_ext_header, fixed_size);
    assert_patched_refused(&out, at, UINT32_MAX, out.len, "a damaged snapshot extension");
    assert_patched_refused(&out, at, sizeof(live) - 8, out.len, "a damaged snapshot extension");
    at = core + offsetof(struct gpx_snapshot_ext_header, worker_size);
    assert_patched_refused(&out, at, UINT32_MAX / 2, out.len, "a damaged snapshot extension");
    gpx_buf_free(&out);
}

/* The native histograms travel sparse, in runs of buckets that counted (a
 * lone zero between two kept), and are read back exactly; a section that
 * points outside itself or the buckets is refused. */
static void
test_gpx_snapshot_native_sparse(void **state)
{
    struct gpx_scoreboard board;
    struct gpx_buf out;
    const struct gpx_snapshot_header *h;
    struct gpx_cell *cell = new_cell(), *want = new_cell();
    char err[256];
    size_t at, runs_at;
    unsigned m;

    (void)state;
    assert_int_equal(gpx_scoreboard_open_anonymous(&board, 2, 2, err, sizeof(err)), 0);
    /* Worker 1: GET at slots 0 (0 us), 1 (1 us, three times) and 9 (2 us):
     * runs [0..1] and [9]; POST at 160 (1 s) and 162 (1.1 s), a lone zero
     * between: one run [160..162]. Worker 2: nothing. */
    record_request(&board, 1, 0, GPX_METHOD_GET, 200, 0, 0, 0);
    record_request(&board, 1, 1, GPX_METHOD_GET, 200, 1, 0, 0);
    record_request(&board, 1, 1, GPX_METHOD_GET, 200, 2, 0, 0);
    record_request(&board, 1, 0, GPX_METHOD_POST, 200, 1000000, 0, 0);
    record_request(&board, 1, 0, GPX_METHOD_POST, 200, 1100000, 0, 0);
    record_request(&board, 1, 0, GPX_METHOD_GET, 200, 1, 0, 0);
    record_request(&board, 1, 1, GPX_METHOD_GET, 200, 1, 0, 0);
    assert_int_equal(gpx_native_slot(2), 9);
    assert_int_equal(gpx_native_slot(1100000), 162);
    encode(&out, &board, NULL, 1);
    h = checked(out.data, out.len);
    /* Header, 2 offsets; worker 1: a count and three runs; worker 2: a
     * count of 0. */
    assert_int_equal(native_size(out.data, 2),
                     sizeof(struct gpx_snapshot_native) + 2 * 4 + 4 + (8 + 2 * 8) + (8 + 8) + (8 + 3 * 8) + 4);
    gpx_scoreboard_sum_worker(&board, 1, want);
    blob_cell(h, 1, cell);
    for (m = 0; m < GPX_METHOD_COUNT; m++) {
        assert_memory_equal(cell->native[m], want->native[m], sizeof(cell->native[m]));
    }
    assert_true(cell->native[GPX_METHOD_GET][1] == 3 && cell->native[GPX_METHOD_GET][0] == 1);
    assert_true(cell->native[GPX_METHOD_POST][161] == 0 && cell->native[GPX_METHOD_POST][162] == 1);
    blob_cell(h, 2, cell);
    assert_true(gpx_cell_requests(cell) == 0 && cell->native[GPX_METHOD_GET][0] == 0);

    /* Damaged sections. */
    at = PREAMBLE_SIZE + 2 * ENTRY_SIZE;
    runs_at = at + sizeof(struct gpx_snapshot_native) + 2 * 4;
    assert_patched_refused(&out, at, 0, out.len, "a damaged snapshot (2 workers"); /* magic */
    assert_patched_refused(&out, at + offsetof(struct gpx_snapshot_native, size), UINT32_MAX, out.len,
                           "a damaged snapshot (2 workers");
    assert_patched_refused(&out, at + offsetof(struct gpx_snapshot_native, workers), 3, out.len,
                           "a damaged snapshot (2 workers");
    assert_patched_refused(&out, at + sizeof(struct gpx_snapshot_native), 2, out.len,
                           "a damaged snapshot (2 workers"); /* an offset into the header */
    assert_patched_refused(&out, at + sizeof(struct gpx_snapshot_native), 1u << 30, out.len,
                           "a damaged snapshot (2 workers");                               /* an offset past the end */
    assert_patched_refused(&out, runs_at, 1000, out.len, "a damaged snapshot (2 workers"); /* runs past the end */
    /* The first run (GET, 0, 2): a method past the last, a run past the
     * buckets, an empty run. */
    assert_patched_refused(&out, runs_at + 4, GPX_METHOD_COUNT, out.len, "a damaged snapshot (2 workers");
    assert_patched_refused(&out, runs_at + 4 + 2, (uint32_t)(GPX_NATIVE_SLOTS - 1) | 2u << 16, out.len,
                           "a damaged snapshot (2 workers");
    assert_patched_refused(&out, runs_at + 4 + 2, 0, out.len, "a damaged snapshot (2 workers");
    gpx_buf_free(&out);
    gpx_scoreboard_close(&board);
    free(cell);
    free(want);
}

#define BOARDS_TEST(name) cmocka_unit_test_setup_teardown(name, setup_boards, teardown_boards)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        BOARDS_TEST(test_gpx_snapshot_encode_header),    BOARDS_TEST(test_gpx_snapshot_encode_sums_cores_and_base),
        BOARDS_TEST(test_gpx_snapshot_encode_appends),   BOARDS_TEST(test_gpx_snapshot_check_refuses),
        BOARDS_TEST(test_gpx_snapshot_add_to_base),      BOARDS_TEST(test_gpx_snapshot_add_to_folds_extra_workers),
        BOARDS_TEST(test_gpx_snapshot_add_to_unaligned), BOARDS_TEST(test_gpx_snapshot_round_trip_keeps_classes),
        BOARDS_TEST(test_gpx_snapshot_live_round_trip),  BOARDS_TEST(test_gpx_snapshot_live_newer_and_older),
        BOARDS_TEST(test_gpx_snapshot_live_damaged),     cmocka_unit_test(test_gpx_snapshot_native_sparse),
    };

    return cmocka_run_group_tests_name("gpx_snapshot", tests, NULL, NULL);
}
