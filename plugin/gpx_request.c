/* gpx_request.c - the after-request hook: one request into its owner's cell.
 *
 * Runs in a worker at the end of every request (uwsgi_close_request), after
 * the client's socket is closed. Reads the request, writes one cell: no lock,
 * no syscall, no allocation.
 */
#include "gpx_glue.h"

void
gpx_after_request(struct wsgi_request *wsgi_req)
{
    const struct gpx_request_path *path = &gpx.path;
    struct gpx_request req;
    struct gpx_core_state *state;
    struct gpx_cell *cell;
    int core = wsgi_req->async_id;
    uint64_t exceptions;
    int error_name;

    if (path->core_state == NULL || core < 0 || core >= path->cores) {
        return;
    }
    state = &path->core_state[core];
    /* Both taken first, on every request, so that neither a class nor an
     * exception is left over for the core's next request. uWSGI counts an
     * exception per core and keeps no per-request flag: a count that moved
     * since this core's last request means this one raised. */
    error_name = gpx_exceptions_take_class(state);
    exceptions = path->uwsgi_cores[core].exceptions;
    req.raised = exceptions != state->seen_exceptions;
    if (req.raised) {
        state->seen_exceptions = exceptions;
    }
    if (path->cells == NULL || wsgi_req->do_not_account) {
        return;
    }
    /* Threads write their own cells; async cores share their worker's one
     * cell, as they share its only OS thread. */
    cell = path->threaded ? path->cells + core : path->cells;

    req.error_name = (unsigned)(error_name + 1);
    req.method = gpx_method_index(wsgi_req->method, wsgi_req->method_len);
    req.status = wsgi_req->status > 0 ? (unsigned)wsgi_req->status : 0;
    req.app_id = wsgi_req->app_id > 0 ? (unsigned)wsgi_req->app_id : 0;
    req.duration_us = wsgi_req->end_of_request > wsgi_req->start_of_request
                          ? wsgi_req->end_of_request - wsgi_req->start_of_request
                          : 0;
    req.request_size = wsgi_req->post_cl;
    req.response_size = wsgi_req->response_size;
    req.read_errors = wsgi_req->read_errors;
    req.write_errors = wsgi_req->write_errors;
    gpx_cell_record(cell, &req);
}
