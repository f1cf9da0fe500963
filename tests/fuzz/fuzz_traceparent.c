/* libFuzzer target: the traceparent reader, against a second reading of
 * the spec's rules written for clarity rather than speed.
 *
 * The input is the header's value, in a buffer of exactly its size (so a
 * read past it is ASan's to report). Both readings must agree on whether
 * it is valid, and a valid one's ids must be the hex of the value's
 * fields; an invalid one leaves the ids as they were. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gpx_traceparent.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
is_lower_hex(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return 0;
        }
    }
    return 1;
}

static int
is_zeros(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (s[i] != '0') {
            return 0;
        }
    }
    return 1;
}

static unsigned
hex_value(char c)
{
    return c <= '9' ? (unsigned)(c - '0') : (unsigned)(c - 'a' + 10);
}

/* 1 when the (trimmed) value s of n bytes is valid; its fields at once. */
static int
reference_valid(const char *s, size_t n)
{
    if (n < 55 || s[2] != '-' || s[35] != '-' || s[52] != '-') {
        return 0;
    }
    if (!is_lower_hex(s, 2) || !is_lower_hex(s + 3, 32) || !is_lower_hex(s + 36, 16) || !is_lower_hex(s + 53, 2)) {
        return 0;
    }
    if (memcmp(s, "ff", 2) == 0 || is_zeros(s + 3, 32) || is_zeros(s + 36, 16)) {
        return 0;
    }
    if (memcmp(s, "00", 2) == 0) {
        return n == 55;
    }
    return n == 55 || s[55] == '-';
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *value = malloc(size > 0 ? size : 1);
    const char *s;
    size_t n = size, i;
    struct gpx_trace_ids ids, untouched;
    int valid;

    if (value == NULL) {
        return 0;
    }
    if (size > 0) {
        memcpy(value, data, size);
    }
    memset(&ids, 0x5a, sizeof(ids));
    memcpy(&untouched, &ids, sizeof(ids));
    valid = gpx_traceparent_parse(value, size, &ids);
    s = value;
    while (n > 0 && (s[0] == ' ' || s[0] == '\t')) {
        s++;
        n--;
    }
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t')) {
        n--;
    }
    if (valid != reference_valid(s, n)) {
        abort();
    }
    if (!valid && memcmp(&ids, &untouched, sizeof(ids)) != 0) {
        abort();
    }
    for (i = 0; valid && i < 16; i++) {
        if (ids.trace_id[i] != (hex_value(s[3 + 2 * i]) << 4 | hex_value(s[4 + 2 * i]))) {
            abort();
        }
    }
    for (i = 0; valid && i < 8; i++) {
        if (ids.span_id[i] != (hex_value(s[36 + 2 * i]) << 4 | hex_value(s[37 + 2 * i]))) {
            abort();
        }
    }
    if (valid && ids.flags != (hex_value(s[53]) << 4 | hex_value(s[54]))) {
        abort();
    }
    free(value);
    return 0;
}
