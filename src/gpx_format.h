/* gpx_format.h - the exposition formats a page can be written in.
 *
 * Named here, apart from the renderers, so that what only chooses a format
 * (content negotiation, the HTTP server) need not know how pages are made.
 */
#ifndef GPX_FORMAT_H
#define GPX_FORMAT_H

/* The exposition formats a scraper can ask for. */
enum gpx_format { GPX_FORMAT_TEXT, GPX_FORMAT_OPENMETRICS, GPX_FORMAT_PROTOBUF, GPX_FORMAT_COUNT };

#endif
