/* libFuzzer target: prometheus_client's multiprocess file reader and the
 * merge behind it. The first byte picks the file's kind and gauge mode, the
 * rest is the file: every entry goes through the reader, the key parser and
 * MultiProcessCollector's merge, then both renderings; the same bytes are
 * also read as gpx's store of ended processes and folded. Nothing may
 * crash, leak or loop, whatever the bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "gpx_appmetrics.h"
#include "gpx_appstore.h"
#include "gpx_pcfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gpx_pc_name name = {GPX_PC_COUNTER, GPX_PC_MODE_NONE, 1234};
    struct gpx_appstore store, folded;
    struct gpx_appmerge *m;
    struct gpx_buf out;

    if (size < 1) {
        return 0;
    }
    name.kind = (enum gpx_pc_kind)(data[0] % GPX_PC_KINDS);
    if (name.kind == GPX_PC_GAUGE) {
        name.mode = (enum gpx_pc_mode)(1 + (data[0] / GPX_PC_KINDS) % (GPX_PC_MODES - 1));
    }
    data++;
    size--;

    m = gpx_appmerge_new();
    if (m == NULL || gpx_buf_init(&out, 4096) != 0) {
        gpx_appmerge_free(m);
        return 0;
    }
    gpx_appmerge_add_file(m, &name, data, size);
    gpx_appmerge_render(m, &out, GPX_FORMAT_TEXT);
    gpx_appmerge_render(m, &out, GPX_FORMAT_OPENMETRICS);

    gpx_appstore_init(&store);
    gpx_appstore_init(&folded);
    gpx_appstore_decode(&store, data, size);
    gpx_appstore_fold_file(&folded, &name, data, size);
    gpx_appstore_fold_store(&folded, &store);
    gpx_appstore_add_to_merge(&folded, m);
    gpx_buf_reset(&out);
    gpx_appmerge_render(m, &out, GPX_FORMAT_TEXT);
    gpx_appstore_encode(&folded, &out);

    gpx_appstore_free(&store);
    gpx_appstore_free(&folded);
    gpx_appmerge_free(m);
    gpx_buf_free(&out);
    return 0;
}
