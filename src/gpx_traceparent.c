/* gpx_traceparent.c - the `traceparent` header's ids (gpx_traceparent.h).
 *
 * It runs on the request path of every request that carries the header,
 * so the hex is decoded through one table and its validity gathered with
 * ANDs, then tested once, instead of a branch per character: a valid
 * header, the common case, takes the same few branches as any other. */
#include "gpx_traceparent.h"

#include <stdint.h>
#include <string.h>

/* Each lowercase hex digit's value with HEX_VALID set; 0 for any other
 * byte (uppercase included: the spec allows lowercase only). ANDing the
 * entries of a field keeps HEX_VALID only when every byte was a digit. */
#define HEX_VALID 0x10u

static const unsigned char hex_digit[256] = {
    ['0'] = 0x10, ['1'] = 0x11, ['2'] = 0x12, ['3'] = 0x13, ['4'] = 0x14, ['5'] = 0x15, ['6'] = 0x16, ['7'] = 0x17,
    ['8'] = 0x18, ['9'] = 0x19, ['a'] = 0x1a, ['b'] = 0x1b, ['c'] = 0x1c, ['d'] = 0x1d, ['e'] = 0x1e, ['f'] = 0x1f,
};

/* Decodes n bytes from 2n hex digits; returns the AND of the digits'
 * entries (HEX_VALID set when all were hex) and ORs the bytes into *any
 * (zero when all were zero). */
static unsigned
decode_hex(const unsigned char *in, unsigned char *out, size_t n, unsigned *any)
{
    unsigned valid = HEX_VALID, seen = 0;
    size_t i;

    for (i = 0; i < n; i++) {
        unsigned hi = hex_digit[in[2 * i]], lo = hex_digit[in[2 * i + 1]];

        valid &= hi & lo;
        out[i] = (unsigned char)(((hi & 0xfu) << 4) | (lo & 0xfu));
        seen |= out[i];
    }
    *any = seen;
    return valid;
}

static int
is_ows(unsigned char c)
{
    return c == ' ' || c == '\t';
}

int
gpx_traceparent_parse(const char *value, size_t len, struct gpx_trace_ids *ids)
{
    const unsigned char *v = (const unsigned char *)value;
    struct gpx_trace_ids parsed;
    unsigned char version, flags;
    unsigned valid, trace_any, span_any, unused;

    while (len > 0 && is_ows(v[0])) {
        v++;
        len--;
    }
    while (len > 0 && is_ows(v[len - 1])) {
        len--;
    }
    if (len < GPX_TRACEPARENT_LEN) {
        return 0;
    }
    valid = decode_hex(v, &version, 1, &unused);
    valid &= decode_hex(v + GPX_TRACEPARENT_TRACE_AT, parsed.trace_id, sizeof(parsed.trace_id), &trace_any);
    valid &= decode_hex(v + GPX_TRACEPARENT_SPAN_AT, parsed.span_id, sizeof(parsed.span_id), &span_any);
    valid &= decode_hex(v + GPX_TRACEPARENT_FLAGS_AT, &flags, 1, &unused);
    parsed.flags = flags; /* any flags are valid: the caller decides what sampled means to it */
    /* One test for every field (| not ||: no branch per field). */
    if (!(valid & HEX_VALID) | (v[GPX_TRACEPARENT_TRACE_AT - 1] != '-') | (v[GPX_TRACEPARENT_SPAN_AT - 1] != '-') |
        (v[GPX_TRACEPARENT_FLAGS_AT - 1] != '-') | (version == 0xff) | (trace_any == 0) | (span_any == 0)) {
        return 0;
    }
    /* Version 00 ends at byte 55; a later one may go on after a '-'. A
     * version 00 value with more bytes is invalid, not one to cut short:
     * the spec's version 00 has exactly these fields. */
    if (len > GPX_TRACEPARENT_LEN && (version == 0 || v[GPX_TRACEPARENT_LEN] != '-')) {
        return 0;
    }
    memcpy(ids, &parsed, sizeof(parsed));
    return 1;
}
