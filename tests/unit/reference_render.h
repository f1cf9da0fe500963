/* reference_render.h - the oracle exposition writer (reference_render.c). */
#ifndef REFERENCE_RENDER_H
#define REFERENCE_RENDER_H

#include "gpx_exposition.h"

/* gpx_render and gpx_render_fleet as they were written with snprintf. */
int ref_render(struct gpx_buf *out, const struct gpx_exposition *x);
int ref_render_fleet(struct gpx_buf *out, enum gpx_format fmt, const struct gpx_fleet_member *members, unsigned count);

#endif
