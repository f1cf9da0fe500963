/* libFuzzer target: prometheus_client's multiprocess file reader and the
 * merge behind it. The first byte picks the file's kind and gauge mode,
 * the second whether gpx's own names are reserved, the rest is the file:
 * every entry goes through the reader (either layout), the key parser and
 * MultiProcessCollector's merge, then both renderings; the same bytes are
 * also read as gpx's store of ended processes and folded. Nothing may
 * crash, leak or loop, whatever the bytes, and every page rendered must
 * pass the strict checker (strict_page.h) in its format: whatever a file
 * holds, the page stays valid. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "gpx_appmerge.h"
#include "gpx_apprender.h"
#include "gpx_appstore.h"
#include "gpx_exposition.h"
#include "gpx_pcfile.h"
#include "strict_page.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Renders m as a page of gpx's own families' names reserved (when
 * reserved is not NULL) plus the app's and the health families, and checks
 * it. */
static void
render_and_check(struct gpx_appmerge *m, enum gpx_format format, const struct gpx_names *reserved)
{
    struct gpx_app_health health;
    struct gpx_buf out;
    char err[512];

    memset(&health, 0, sizeof(health));
    if (gpx_buf_init(&out, 4096) != 0) {
        return;
    }
    if (gpx_apprender_families(m, &out, format, reserved, &health) == 0 &&
        gpx_apprender_health(&out, format, &health) == 0 && gpx_render_end(&out, format) == 0 &&
        strict_page_check(out.data, out.len, format == GPX_FORMAT_OPENMETRICS, err, sizeof(err)) != 0) {
        fprintf(stderr, "invalid %s page: %s\n--\n%s--\n", format == GPX_FORMAT_OPENMETRICS ? "OpenMetrics" : "text",
                err, out.data);
        abort();
    }
    gpx_buf_free(&out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gpx_pc_name name = {GPX_PC_COUNTER, GPX_PC_MODE_NONE, 1234};
    struct gpx_appstore store, folded;
    struct gpx_names reserved, *guard = NULL;
    struct gpx_appmerge *m;
    struct gpx_buf out;
    unsigned i;

    if (size < 2) {
        return 0;
    }
    name.kind = (enum gpx_pc_kind)(data[0] % GPX_PC_KINDS);
    if (name.kind == GPX_PC_GAUGE) {
        name.mode = (enum gpx_pc_mode)(1 + (data[0] / GPX_PC_KINDS) % (GPX_PC_MODES - 1));
    }
    gpx_names_init(&reserved);
    if (data[1] & 1) {
        for (i = 0; i < GPX_FAMILY_COUNT; i++) {
            gpx_names_reserve(&reserved, gpx_families[i].name, gpx_families[i].type);
        }
        guard = &reserved;
    }
    data += 2;
    size -= 2;

    m = gpx_appmerge_new();
    if (m == NULL || gpx_buf_init(&out, 4096) != 0) {
        gpx_appmerge_free(m);
        gpx_names_free(&reserved);
        return 0;
    }
    gpx_appmerge_add_file(m, "fuzz.db", &name, data, size, NULL);
    render_and_check(m, GPX_FORMAT_TEXT, guard);
    render_and_check(m, GPX_FORMAT_OPENMETRICS, guard);

    gpx_appstore_init(&store);
    gpx_appstore_init(&folded);
    gpx_appstore_decode(&store, data, size);
    gpx_appstore_fold_file(&folded, &name, data, size);
    gpx_appstore_fold_store(&folded, &store);
    gpx_appmerge_add_store(m, &folded, "store");
    render_and_check(m, GPX_FORMAT_TEXT, guard);
    render_and_check(m, GPX_FORMAT_OPENMETRICS, guard);
    gpx_appstore_encode(&folded, &out);

    gpx_appstore_free(&store);
    gpx_appstore_free(&folded);
    gpx_appmerge_free(m);
    gpx_buf_free(&out);
    gpx_names_free(&reserved);
    return 0;
}
