/* libFuzzer target: the Accept and Accept-Encoding readers.
 *
 * The input is split at its first newline: the part before is an Accept
 * header, the part after an Accept-Encoding header. Both are read, and the
 * whole input is read as a qvalue; answers must stay in their ranges. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gpx_negotiate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *newline = memchr(data, '\n', size);
    size_t first = newline != NULL ? (size_t)(newline - data) : size;
    char *accept = malloc(first + 1);
    char *encoding = malloc(size - first + 1);
    enum gpx_format format;
    int gzip, q;

    if (accept == NULL || encoding == NULL) {
        free(accept);
        free(encoding);
        return 0;
    }
    /* Headers reach gpx NUL-terminated; an embedded NUL ends them early. */
    memcpy(accept, data, first);
    accept[first] = '\0';
    memcpy(encoding, data + first, size - first);
    encoding[size - first] = '\0';
    format = gpx_negotiate_format(accept);
    gzip = gpx_negotiate_gzip(newline != NULL ? encoding + 1 : encoding);
    q = gpx_negotiate_qvalue((const char *)data, size);
    if ((format != GPX_FORMAT_TEXT && format != GPX_FORMAT_OPENMETRICS) || (gzip != 0 && gzip != 1) || q < -1 ||
        q > 1000) {
        abort();
    }
    free(accept);
    free(encoding);
    return 0;
}
