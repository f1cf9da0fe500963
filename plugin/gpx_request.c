/* gpx_request.c - the after-request hook: one request into its owner's cell.
 *
 * Runs in a worker at the end of every request (uwsgi_close_request), after
 * the client's socket is closed. Reads the request, writes one cell: no lock,
 * no syscall, no allocation.
 */
#include "gpx_glue.h"

/* Every request that is not the common case: an exception, read or write
 * errors, a request uWSGI says not to count, a status whose key is not at
 * its first place in the cell (new, or moved on by another). */
static __attribute__((noinline, cold)) void
gpx_after_request_rare(struct wsgi_request *wsgi_req, unsigned core)
{
    const struct gpx_request_path *path = &gpx.path;
    struct gpx_core_state *state = &path->core_state[core];
    struct gpx_request req;
    uint64_t exceptions;
    int error_name;

    /* Both taken first, on every request, so that neither a class nor an
     * exception is left over for the core's next request. uWSGI counts an
     * exception per core and keeps no per-request flag: a count that moved
     * since this core's last request means this one raised. */
    error_name = gpx_exceptions_take_class(state);
    exceptions = *state->uwsgi_exceptions;
    req.raised = exceptions != state->seen_exceptions;
    if (req.raised) {
        state->seen_exceptions = exceptions;
    }
    if (path->cells == NULL || wsgi_req->do_not_account) {
        return;
    }
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
    gpx_cell_record(state->cell, &req);
}

/* With gpx-exemplars: a request with a valid W3C traceparent header of a
 * sampled trace leaves its trace and span ids as the exemplar of the
 * classic duration bucket it fell in (an unsampled trace's ids would lead
 * to a trace no backend kept, as OpenTelemetry's trace-based exemplar
 * filter has it). Out of line: with the option off, the request path pays
 * one test of a word it already reads. */
/* The request's traceparent header, or NULL. uwsgi_get_var would call a
 * compare for every variable; a header of this name has 16 bytes, so most
 * are passed over on their length alone (a request without the header
 * pays this scan only). */
static const char *
find_traceparent(const struct wsgi_request *wsgi_req, size_t *len)
{
    int i;

    for (i = 0; i + 1 < wsgi_req->var_cnt; i += 2) {
        if (wsgi_req->hvec[i].iov_len == 16 && memcmp(wsgi_req->hvec[i].iov_base, "HTTP_TRACEPARENT", 16) == 0) {
            *len = wsgi_req->hvec[i + 1].iov_len;
            return wsgi_req->hvec[i + 1].iov_base;
        }
    }
    return NULL;
}

static __attribute__((noinline)) void
gpx_note_exemplar(struct wsgi_request *wsgi_req, struct gpx_exemplar *row)
{
    struct gpx_trace_ids ids;
    size_t len = 0;
    const char *value;
    uint64_t duration;

    if (wsgi_req->do_not_account) {
        return;
    }
    value = find_traceparent(wsgi_req, &len);
    if (value == NULL || !gpx_traceparent_parse(value, len, &ids) || !(ids.flags & GPX_TRACE_SAMPLED)) {
        return; /* none, malformed or not sampled: never stored */
    }
    duration = wsgi_req->end_of_request > wsgi_req->start_of_request
                   ? wsgi_req->end_of_request - wsgi_req->start_of_request
                   : 0;
    gpx_exemplar_write(&row[gpx_method_index(wsgi_req->method, wsgi_req->method_len) * GPX_DURATION_SLOTS +
                            gpx_duration_slot(duration)],
                       &ids, duration, wsgi_req->end_of_request);
}

void
gpx_after_request(struct wsgi_request *wsgi_req)
{
    const struct gpx_request_path *path = &gpx.path;
    unsigned core = (unsigned)wsgi_req->async_id; /* a negative id wraps round: above cores */
    const struct gpx_core_state *state;
    struct gpx_cell *cell;
    unsigned method, status, place;
    uint32_t key;

    /* Outside a worker, and in a worker not recording, cores is 0. */
    if (core >= path->cores) {
        return;
    }
    state = &path->core_state[core];
    cell = state->cell;
    method = gpx_method_index(wsgi_req->method, wsgi_req->method_len);
    /* A status below 0 wraps round, above 999: both are counted as 0. */
    status = (unsigned)wsgi_req->status < 1000 ? (unsigned)wsgi_req->status : 0;
    key = gpx_status_key(method, status);
    place = gpx_status_place(key);
    /* One predictable branch for everything rare, the whole bookkeeping of
     * gpx_after_request_rare: an exception (uWSGI's count moved, or a class
     * was noted: raised_class >= 0, its sign bit clear), read or write
     * errors, a request not to count, a status not yet at its place in the
     * cell. The words are ORed, not compared one by one. What is left
     * writes the cell's four lines and nothing else, and calls nothing. */
    if (__builtin_expect(((*state->uwsgi_exceptions ^ state->seen_exceptions) |
                          (uint64_t)(~(unsigned)state->raised_class >> 31) | wsgi_req->read_errors |
                          wsgi_req->write_errors | (uint64_t)(unsigned)wsgi_req->do_not_account |
                          (uint64_t)(__atomic_load_n(&cell->status[place].key, __ATOMIC_RELAXED) ^ key)) != 0,
                         0)) {
        gpx_after_request_rare(wsgi_req, core);
        if (__builtin_expect(state->exemplars != NULL, 0)) {
            gpx_note_exemplar(wsgi_req, state->exemplars);
        }
        return;
    }
    GPX_BUMP(cell->status[place].count, 1);
    gpx_cell_count_rest(cell, method,
                        wsgi_req->end_of_request > wsgi_req->start_of_request
                            ? wsgi_req->end_of_request - wsgi_req->start_of_request
                            : 0,
                        wsgi_req->post_cl, wsgi_req->response_size);
    if (__builtin_expect(state->exemplars != NULL, 0)) {
        gpx_note_exemplar(wsgi_req, state->exemplars);
    }
}
