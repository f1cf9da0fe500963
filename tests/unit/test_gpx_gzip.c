/* Unit tests of gpx_gzip: what it writes inflates back to the input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "gpx_gzip.h"

/* Inflates a gzip member with zlib (windowBits 31: gzip only). */
static size_t
gunzip(const struct gpx_buf *packed, unsigned char *out, size_t cap)
{
    z_stream zs = {0};
    size_t len;

    assert_int_equal(inflateInit2(&zs, 31), Z_OK);
    zs.next_in = (Bytef *)packed->data;
    zs.avail_in = (uInt)packed->len;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    assert_int_equal(inflate(&zs, Z_FINISH), Z_STREAM_END);
    assert_int_equal(zs.avail_in, 0);
    len = zs.total_out;
    inflateEnd(&zs);
    return len;
}

static void
roundtrip(const char *data, size_t len)
{
    struct gpx_buf packed;
    unsigned char *back = malloc(len + 1);

    assert_non_null(back);
    assert_int_equal(gpx_buf_init(&packed, 0), 0);
    assert_int_equal(gpx_buf_puts(&packed, "kept"), 0);
    assert_int_equal(gpx_gzip_compress(&packed, data, len), 0);
    assert_memory_equal(packed.data, "kept", 4);
    /* gzip's magic, deflate, then the member */
    assert_true(packed.len >= 4 + 18);
    assert_int_equal((unsigned char)packed.data[4], 0x1f);
    assert_int_equal((unsigned char)packed.data[5], 0x8b);
    assert_int_equal((unsigned char)packed.data[6], 8);
    {
        struct gpx_buf member = packed;

        member.data += 4;
        member.len -= 4;
        assert_int_equal(gunzip(&member, back, len + 1), len);
    }
    assert_memory_equal(back, data, len);
    gpx_buf_free(&packed);
    free(back);
}

static void
test_gpx_gzip_compress_roundtrip(void **state)
{
    size_t big = 3 * 1024 * 1024, i;
    char *text = malloc(big);
    uint32_t x = 2463534242u;

    (void)state;
    assert_non_null(text);
    roundtrip("", 0);
    roundtrip("gunicorn_requests_total{method=\"GET\",status=\"200\"} 3\n", 52);
    /* larger than the chunk, half repetitive and half noise */
    for (i = 0; i < big; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        text[i] = i < big / 2 ? "gunicorn_worker_requests_total 1\n"[i % 33] : (char)(x & 0xff);
    }
    roundtrip(text, big);
    free(text);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gpx_gzip_compress_roundtrip),
    };

    return cmocka_run_group_tests_name("gpx_gzip", tests, NULL, NULL);
}
