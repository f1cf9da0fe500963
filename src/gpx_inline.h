/* gpx_inline.h - how the request path's small helpers are compiled.
 *
 * They are static inline, and always inlined (the compiler's own judgement
 * kept the common path's counting as a call of its own, with its prologue),
 * so that the after-request hook runs as one function. Built with -DGPX_OUT_OF_LINE (GPX_OUT_OF_LINE=yes for
 * uwsgiplugin.py) they are kept out of line instead, each under its own
 * name in a profile: the instruction count's test compares both builds to
 * show that counting the hook whole takes in what the compiler inlined.
 */
#ifndef GPX_INLINE_H
#define GPX_INLINE_H

#ifdef GPX_OUT_OF_LINE
#define GPX_INLINE static __attribute__((noinline, unused))
#else
#define GPX_INLINE static inline __attribute__((always_inline))
/* For data the request path reads (tables, bounds, the plugin's state):
 * not exported from gpx_plugin.so, so that the code addresses it directly
 * instead of loading its address from the global offset table first. */
#define GPX_HIDDEN __attribute__((visibility("hidden")))

#endif

/* For data the request path reads (tables, bounds, the plugin's state):
 * not exported from gpx_plugin.so, so that the code addresses it directly
 * instead of loading its address from the global offset table first. */
#define GPX_HIDDEN __attribute__((visibility("hidden")))

#endif
