"""Requests served by Gunicorn's own request loop (sync, gthread, gevent, eventlet).

Those workers call the ``pre_request`` hook as soon as a request is parsed
and the ``post_request`` hook after the response is written and the body
closed, with the request, its environ and Gunicorn's ``Response`` (the
status sent, the body bytes sent). So a request is recorded in those two
hooks: ``pre_request`` counts the worker busy and notes the start on the
request object, ``post_request`` records the rest. The application gets only
a thin wrapper that notes an exception, and no object is made per request.
(A wrapper that measures the request itself must hand Gunicorn a body object
whose iteration and ``close`` it intercepts: more Python calls and an
allocation on every request, and the request's cost is mostly such calls.)

Where the compiled ``_hotpath`` module was built, the two hooks are its C
methods (``GunicornHooks``), which record the common request themselves and
hand any other to ``_uncommon_recorder`` below; else they are the Python
functions below, which do the same.

Both hooks chain to the ones the config sets. Gunicorn's default
``pre_request`` only logs the request at debug level, so it is called only
when the log level is debug; its default ``post_request`` does nothing and
is not called.
"""

from __future__ import annotations

from time import perf_counter

from gunicorn.config import PostRequest, PreRequest

from .instrument import content_length, exception_label, remaining_length, status_sent
from .request_metrics import METHOD_LABELS, RequestRecorder, _hotpath

# Attribute of Gunicorn's request object: when ``pre_request`` saw it (the
# Python hooks spell it out as ``req.metrics_started``, the faster form).
STARTED = "metrics_started"
# Environ keys the wrapper leaves for the hook (PEP 3333: server extensions use a prefix).
ESCAPED = "gunicorn_prometheus_exporter.exception"
# Gunicorn's sendfile path does not add to ``Response.sent``: the file's size stands in.
FILE_LENGTH = "gunicorn_prometheus_exporter.file_length"


def instrument_gunicorn(app, recorder: RequestRecorder, cfg):
    """Return ``app`` wrapped to note exceptions and file bodies, and make the
    worker's ``pre_request`` and ``post_request`` hooks record each request
    (then call the hooks the config set)."""
    _install_hooks(cfg, recorder)

    def instrumented(environ, start_response):
        try:
            body = app(environ, start_response)
        except BaseException as exc:
            environ[ESCAPED] = exc
            raise
        if type(body) is list or type(body) is tuple:
            return body
        file_wrapper = environ.get("wsgi.file_wrapper")
        if file_wrapper is not None and isinstance(body, file_wrapper):
            environ[FILE_LENGTH] = remaining_length(body)
            return body  # unwrapped, so Gunicorn keeps its sendfile path
        return _NotedBody(body, environ)

    instrumented.__wrapped__ = app
    return instrumented


class _NotedBody:
    """A streamed body, passed through; an exception raised while it streams is noted for the hook."""

    __slots__ = ("body", "environ")

    def __init__(self, body, environ):
        self.body = body
        self.environ = environ

    def __iter__(self):
        try:
            for chunk in self.body:  # noqa: UP028 (``yield from`` would close the body a second time)
                yield chunk
        except GeneratorExit:
            raise
        except BaseException as exc:
            self.environ[ESCAPED] = exc
            raise

    def close(self):
        close = getattr(self.body, "close", None)
        if close is not None:
            close()


def _install_hooks(cfg, recorder: RequestRecorder) -> None:
    # The worker's own copy of the config (it runs after the fork); Gunicorn
    # reads ``cfg.pre_request`` and ``cfg.post_request`` on every request. A
    # reload wraps the app again, but the hooks must record each request once.
    pre, post = cfg.settings["pre_request"], cfg.settings["post_request"]
    if _records_requests(post.get()):
        return
    configured_pre = pre.get()
    if configured_pre is PreRequest.default and str(cfg.loglevel).lower() != "debug":
        configured_pre = None  # it would only log at debug level
    configured_post = post.get()
    if configured_post is PostRequest.default:
        configured_post = None  # it does nothing
    if recorder.writer is not None:
        hooks = _hotpath.GunicornHooks(
            recorder.writer,
            recorder.series_by_line,
            recorder.series_for_line,
            _uncommon_recorder(recorder),
            configured_pre,
            configured_post,
            STARTED,
            ESCAPED,
            FILE_LENGTH,
        )
        pre.value, post.value = hooks.pre_request, hooks.post_request
    else:
        pre.value = _starting_pre_request(recorder, configured_pre)
        post.value = _recording_post_request(recorder, configured_post)


def _records_requests(hook) -> bool:
    """Whether ``hook`` is a post_request this module installed."""
    if getattr(hook, "records_requests", False):
        return True
    return _hotpath is not None and isinstance(getattr(hook, "__self__", None), _hotpath.GunicornHooks)


def _starting_pre_request(recorder: RequestRecorder, then):
    def pre_request(
        worker,
        req,
        _block=recorder.block,
        _busy=recorder.busy_cell,
        _lock=recorder.lock,
        _clock=perf_counter,
        _then=then,
    ):
        # The busy count is stored here, not through recorder.started(): one call fewer per request.
        if _lock is None:
            _block.cells[_busy] += 1.0
        else:
            with _lock:
                _block.cells[_busy] += 1.0
        req.metrics_started = _clock()
        if _then is not None:
            _then(worker, req)

    return pre_request


def _uncommon_recorder(recorder: RequestRecorder):
    """Records what the hooks' common path leaves: no response, an exception, no status."""
    finished, abandoned = recorder.finished, recorder.abandoned

    def record_uncommon(req, environ, resp, duration: float) -> None:
        if resp is None:  # Gunicorn failed before calling the application: not counted
            abandoned()
            return
        length = environ.get("CONTENT_LENGTH")
        request_bytes = content_length(length) if length else 0
        sent = resp.sent or environ.get(FILE_LENGTH, 0)
        exc = environ.get(ESCAPED)
        finished(
            METHOD_LABELS.get(req.method, "OTHER"),
            status_sent(resp.status, exc, sent),
            duration,
            request_bytes,
            sent,
            exception_label(exc),
        )

    return record_uncommon


def _recording_post_request(recorder: RequestRecorder, then):
    uncommon = _uncommon_recorder(recorder)

    def post_request(
        worker,
        req,
        environ,
        resp,
        _cached_series=recorder.series_by_line.get,
        _series_for_line=recorder.series_for_line,
        _record=recorder.record,
        _uncommon=uncommon,
        _then=then,
        _clock=perf_counter,
    ):
        try:
            started = req.metrics_started
        except AttributeError:  # not a request our pre_request saw
            started = None
        if started is not None:
            duration = _clock() - started
            if resp is not None and resp.status is not None and ESCAPED not in environ:
                # The common case: no normalizing, no helper calls.
                length = environ.get("CONTENT_LENGTH")
                method, status = req.method, resp.status
                series = _cached_series((method, status)) or _series_for_line(method, status)
                _record(
                    series,
                    duration,
                    content_length(length) if length else 0,
                    resp.sent or environ.get(FILE_LENGTH, 0),
                    None,
                )
            else:
                _uncommon(req, environ, resp, duration)
        if _then is not None:
            _then(worker, req, environ, resp)

    post_request.records_requests = True
    return post_request
