/* gpx_exceptions.c - the class of the exception a request raised.
 *
 * uWSGI counts an exception per core but forgets its class before the
 * after-request hook runs (the language plugin has cleared it). The one
 * synchronous point where the class is still there is uwsgi_manage_exception
 * (core/exceptions.c), which ends by calling the request plugin's
 * exception_log whenever it has a request, whatever the logging options. So
 * each worker wraps the exception_log of every plugin that also reports the
 * class (exception_class): the wrapper asks for the class, notes its index in
 * the board's name table for the request's core, then logs as before. Only
 * requests that raised pay for it.
 */
#include "gpx_glue.h"

/* A plugin whose exception_log this worker wrapped, and the original. */
struct wrapped_plugin {
    struct uwsgi_plugin *plugin;
    void (*exception_log)(struct wsgi_request *);
};

/* Notes the class of the first exception of the request on its core: a
 * request that raises again (say, while its body is closed) keeps the
 * class the application raised first. */
static void
note_class(struct wsgi_request *wsgi_req, struct uwsgi_plugin *plugin)
{
    struct uwsgi_buffer *ub;
    int core;

    /* The fiber loop engine logs a Ruby exception with no request. */
    if (wsgi_req == NULL || gpx.path.cells == NULL || gpx.path.core_state == NULL) {
        return;
    }
    core = wsgi_req->async_id;
    if (core < 0 || (unsigned)core >= gpx.path.cores || gpx.path.core_state[core].raised_class >= 0) {
        return;
    }
    ub = plugin->exception_class(wsgi_req);
    if (ub == NULL) {
        return;
    }
    size_t len = ub->pos;
    const char *label = gpx_error_name_label(ub->buf, &len);

    gpx.path.core_state[core].raised_class =
        gpx_error_names_find_or_add(gpx_scoreboard_error_names(&gpx.board), label, len);
    uwsgi_buffer_destroy(ub);
}

/* One wrapper function per wrapped plugin: a caller may pass no request
 * (so no modifier1 to find the plugin by), and C has no closures. */
#define WRAPPED_MAX 4
static struct wrapped_plugin wrapped[WRAPPED_MAX];
static unsigned wrapped_count;

#define WRAPPER(i)                                                                                                     \
    static void exception_log_##i(struct wsgi_request *wsgi_req)                                                       \
    {                                                                                                                  \
        note_class(wsgi_req, wrapped[i].plugin);                                                                       \
        wrapped[i].exception_log(wsgi_req);                                                                            \
    }
WRAPPER(0)
WRAPPER(1)
WRAPPER(2)
WRAPPER(3)

static void (*const wrappers[WRAPPED_MAX])(struct wsgi_request *) = {exception_log_0, exception_log_1, exception_log_2,
                                                                     exception_log_3};

static int
is_wrapped(const struct uwsgi_plugin *plugin)
{
    unsigned i;

    for (i = 0; i < wrapped_count; i++) {
        if (wrapped[i].plugin == plugin) {
            return 1;
        }
    }
    return 0;
}

void
gpx_exceptions_wrap(void)
{
    int i;

    /* The same plugin may serve several modifiers: wrap each plugin once. */
    for (i = 0; i < 256; i++) {
        struct uwsgi_plugin *p = uwsgi.p[i];

        if (p == NULL || p->exception_class == NULL || p->exception_log == NULL || is_wrapped(p) ||
            wrapped_count == WRAPPED_MAX) {
            continue;
        }
        wrapped[wrapped_count].plugin = p;
        wrapped[wrapped_count].exception_log = p->exception_log;
        p->exception_log = wrappers[wrapped_count];
        wrapped_count++;
    }
}
