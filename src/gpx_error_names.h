/* gpx_error_names.h - the exception class names that failed requests are
 * counted under.
 *
 * A bounded, append-only table shared by every process of a server (it lives
 * in the scoreboard's header area). A worker that meets a new class claims a
 * free slot with a compare-and-swap, writes the name, then publishes the
 * slot; slots never change once published, so the common case (a known
 * class) is a read-only scan with no lock. A class that finds the table full
 * is counted without a name (error_type "exception").
 */
#ifndef GPX_ERROR_NAMES_H
#define GPX_ERROR_NAMES_H

#include <stddef.h>
#include <stdint.h>

/* Distinct class names a server tells apart. */
#define GPX_ERROR_NAMES 32
/* Bytes of a name kept (longer names are cut at a character boundary). */
#define GPX_ERROR_NAME_MAX 87

enum gpx_error_name_state { GPX_ERROR_NAME_FREE, GPX_ERROR_NAME_WRITING, GPX_ERROR_NAME_READY };

struct gpx_error_name {
    uint32_t state; /* enum gpx_error_name_state */
    uint32_t len;   /* bytes of name, once READY */
    char name[GPX_ERROR_NAME_MAX + 1];
};

struct gpx_error_names {
    struct gpx_error_name slot[GPX_ERROR_NAMES];
};

/* The slot index of `name` (len bytes, not NUL-terminated), inserting it if
 * it is new. Returns -1 for an empty name or a full table. Safe to call from
 * any number of processes and threads at once. */
int gpx_error_names_find_or_add(struct gpx_error_names *table, const char *name, size_t len);

/* The published name of slot `index`, or NULL if the slot holds none. */
const char *gpx_error_names_get(const struct gpx_error_names *table, unsigned index);

/* Slots a process left half-written (it died between claiming and
 * publishing) are freed. Only for a table no other process writes now. */
void gpx_error_names_repair(struct gpx_error_names *table);

/* Adds every published name of `from` into `into`, filling map[i] with the
 * index of from's slot i in `into` (-1 for a free slot, or when `into` is
 * full). Equal names map to one index. */
void gpx_error_names_merge(struct gpx_error_names *into, const struct gpx_error_names *from, int map[GPX_ERROR_NAMES]);

/* The label value for a class name as a language plugin reports it: Python's
 * "builtins.KeyError" becomes "KeyError" (as Python's own traceback prints
 * it), other names are kept whole. Returns a pointer into `name`, its length
 * in *len (updated). */
const char *gpx_error_name_label(const char *name, size_t *len);

#endif
