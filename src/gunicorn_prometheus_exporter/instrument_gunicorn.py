"""Requests served by Gunicorn's own request loop (sync, gthread, gevent, eventlet).

Those workers run every request through ``handle_request``, which calls the
``post_request`` hook after the response is written and the body closed,
with the request, its environ and Gunicorn's ``Response`` (the status sent,
the body bytes sent). So the request is recorded there: the application
gets only a thin wrapper that marks the start and notes an exception, and
no object is made per request. (A wrapper that ends the request itself must
hand Gunicorn a body object whose iteration and ``close`` it intercepts:
three more Python calls and an allocation on every request, and the
request's cost is mostly such calls.)

The two halves meet in the environ: the wrapper stores the start time there
(and the exception, if the application raised one); a request the wrapper
never saw (Gunicorn failed before calling the application) is not counted.
"""

from __future__ import annotations

from time import perf_counter

from gunicorn.config import PostRequest

from .instrument import content_length, exception_label, remaining_length, status_sent
from .request_metrics import METHOD_LABELS, RequestRecorder

# Environ keys the wrapper leaves for the hook (PEP 3333: server extensions use a prefix).
STARTED = "gunicorn_prometheus_exporter.started"
ESCAPED = "gunicorn_prometheus_exporter.exception"
# Gunicorn's sendfile path does not add to ``Response.sent``: the file's size stands in.
FILE_LENGTH = "gunicorn_prometheus_exporter.file_length"


def instrument_gunicorn(app, recorder: RequestRecorder, cfg):
    """Return ``app`` wrapped to start each request's record, and make the worker's
    ``post_request`` hook finish it (then call the hook the config set)."""
    _install_post_request(cfg, recorder)

    def instrumented(environ, start_response, _started=recorder.started, _clock=perf_counter):
        _started()
        environ[STARTED] = _clock()
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


def _install_post_request(cfg, recorder: RequestRecorder) -> None:
    # The worker's own copy of the config (it runs after the fork); Gunicorn
    # reads ``cfg.post_request`` on every request. A reload wraps the app
    # again, but the hook must record each request once.
    setting = cfg.settings["post_request"]
    configured = setting.get()
    if getattr(configured, "records_requests", False):
        return
    setting.value = _recording_post_request(recorder, configured)


def _recording_post_request(recorder: RequestRecorder, configured):
    # Gunicorn's default hook does nothing: not calling it saves a call per request.
    then = None if configured is PostRequest.default else configured
    finished = recorder.finished

    def post_request(
        worker,
        req,
        environ,
        resp,
        _cached_series=recorder.series_by_line.get,
        _series_for_line=recorder.series_for_line,
        _record=recorder.record,
        _then=then,
        _clock=perf_counter,
    ):
        started = environ.get(STARTED)
        if started is not None:
            duration = _clock() - started
            length = environ.get("CONTENT_LENGTH")
            request_bytes = content_length(length) if length else 0
            status, sent = (resp.status, resp.sent) if resp is not None else (None, 0)
            if not sent:
                sent = environ.get(FILE_LENGTH, 0)
            exc = environ.get(ESCAPED)
            if exc is None and status is not None:  # the common case: no normalizing, no helper calls
                method = req.method
                series = _cached_series((method, status)) or _series_for_line(method, status)
                _record(series, duration, request_bytes, sent, None)
            else:
                finished(
                    METHOD_LABELS.get(req.method, "OTHER"),
                    status_sent(status, exc, sent),
                    duration,
                    request_bytes,
                    sent,
                    exception_label(exc),
                )
        if _then is not None:
            _then(worker, req, environ, resp)

    post_request.records_requests = True
    return post_request
