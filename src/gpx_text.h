/* gpx_text.h - writing the exposition's pieces into reserved room
 * (gpx_buf_room) without printf: bytes, unsigned integers in decimal, and
 * microseconds as seconds. Each returns where the next piece goes.
 *
 * A page of a large server holds tens of thousands of lines; printf's
 * format parsing and its stream set-up per call cost more than the rest
 * of the page together. What these write is exactly what the printf
 * conversions they replace wrote ("%llu", "%llu.%06llu", "%.15g").
 */
#ifndef GPX_TEXT_H
#define GPX_TEXT_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* The most bytes gpx_text_u64 writes (UINT64_MAX), and gpx_text_micros. */
#define GPX_TEXT_U64_MAX 20
#define GPX_TEXT_MICROS_MAX (GPX_TEXT_U64_MAX + 7)
/* Room for gpx_text_g15: "-1.23456789012345e-308" and its NUL, rounded up. */
#define GPX_TEXT_G15_MAX 32

static inline char *
gpx_text_mem(char *p, const char *bytes, size_t len)
{
    memcpy(p, bytes, len);
    return p + len;
}

/* `v` in decimal, two digits a step. */
static inline char *
gpx_text_u64(char *p, uint64_t v)
{
    static const char pairs[201] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
                                   "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
                                   "8081828384858687888990919293949596979899";
    char tmp[GPX_TEXT_U64_MAX];
    char *t = tmp + sizeof(tmp);
    size_t n;

    while (v >= 100) {
        unsigned two = (unsigned)(v % 100);

        v /= 100;
        t -= 2;
        memcpy(t, pairs + 2 * two, 2);
    }
    if (v >= 10) {
        t -= 2;
        memcpy(t, pairs + 2 * v, 2);
    } else {
        *--t = (char)('0' + v);
    }
    n = (size_t)(tmp + sizeof(tmp) - t);
    memcpy(p, t, n);
    return p + n;
}

/* Seconds from microseconds, exactly: "<s>.<6 digits>". */
static inline char *
gpx_text_micros(char *p, uint64_t us)
{
    uint64_t frac = us % 1000000u;
    unsigned i;

    p = gpx_text_u64(p, us / 1000000u);
    *p++ = '.';
    for (i = 6; i-- > 0;) {
        p[i] = (char)('0' + frac % 10);
        frac /= 10;
    }
    return p + 6;
}

/* `v` as "%.15g" writes it: an integer below 10^15 in magnitude (gauges of
 * bytes and seconds mostly are) in decimal, anything else through
 * snprintf. Needs GPX_TEXT_G15_MAX bytes of room. */
static inline char *
gpx_text_g15(char *p, double v)
{
    int n;

    if (v > -1e15 && v < 1e15 && v == (double)(int64_t)v && !(v == 0 && signbit(v))) {
        if (v < 0) {
            *p++ = '-';
            return gpx_text_u64(p, (uint64_t)(-(int64_t)v));
        }
        return gpx_text_u64(p, (uint64_t)v);
    }
    n = snprintf(p, GPX_TEXT_G15_MAX, "%.15g", v);
    return p + (n > 0 && n < GPX_TEXT_G15_MAX ? n : 0);
}

#endif
