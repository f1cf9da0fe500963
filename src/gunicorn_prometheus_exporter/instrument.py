"""The one instrumentation point: a wrapper around the WSGI application a worker loads.

Every worker type serves the application through ``worker.wsgi``, so wrapping
it measures sync, gthread, gevent, eventlet and tornado-served WSGI apps the
same way. A request ends when the server closes the response iterable, which
PEP 3333 servers do after the last byte is written (or the client is gone).
"""

from __future__ import annotations

import os
from time import perf_counter

from .request_metrics import METHODS, RequestRecorder

_METHODS = {method: method for method in METHODS}


class _Exchange:
    """One request: captures the status, counts body bytes, records on close."""

    __slots__ = ("recorder", "start_response", "method", "request_bytes", "started", "status", "body", "sent", "done")

    def __init__(self, recorder: RequestRecorder, environ, start_response):
        self.recorder = recorder
        self.start_response = start_response
        self.method = _METHODS.get(environ.get("REQUEST_METHOD"), "OTHER")
        length = environ.get("CONTENT_LENGTH")
        if length:
            try:
                self.request_bytes = int(length)
            except ValueError:
                self.request_bytes = 0
        else:
            self.request_bytes = 0
        self.status = self.body = None
        self.sent = 0
        self.done = False
        self.started = perf_counter()
        recorder.started()

    def capture_start_response(self, status, headers, exc_info=None):
        self.status = status
        return self.start_response(status, headers, exc_info)

    def __iter__(self):
        body = self.body
        if type(body) is list or type(body) is tuple:
            self.sent = sum(map(len, body))
            return iter(body)
        return self._stream(body)

    def _stream(self, body):
        try:
            for chunk in body:
                self.sent += len(chunk)
                yield chunk
        except BaseException as exc:
            self.finish(exc)
            raise

    def close(self):
        body = self.body
        try:
            if type(body) is not list and type(body) is not tuple and hasattr(body, "close"):
                body.close()
        finally:
            self.finish(None)

    def finish(self, exc: BaseException | None) -> None:
        if self.done:
            return
        self.done = True
        status = self.status
        # An exception before any body byte means Gunicorn answers 500 itself.
        if status is None or (exc is not None and self.sent == 0):
            code = "500"
        else:
            code = status[:3]
        self.recorder.finished(
            self.method,
            code,
            perf_counter() - self.started,
            self.request_bytes,
            self.sent,
            type(exc).__name__ if isinstance(exc, Exception) else None,
        )


def instrument_wsgi(app, recorder: RequestRecorder):
    """Return ``app`` wrapped so that every request it serves is recorded."""

    def instrumented(environ, start_response):
        exchange = _Exchange(recorder, environ, start_response)
        try:
            body = app(environ, exchange.capture_start_response)
        except BaseException as exc:
            exchange.finish(exc)
            raise
        file_wrapper = environ.get("wsgi.file_wrapper")
        if file_wrapper is not None and isinstance(body, file_wrapper):
            # Keep the server's sendfile path: the request ends here, sized by its header.
            exchange.sent = _declared_length(body)
            exchange.finish(None)
            return body
        exchange.body = body
        return exchange

    instrumented.__wrapped__ = app
    return instrumented


def _declared_length(file_body) -> int:
    try:
        filelike = getattr(file_body, "filelike", None)
        return os.fstat(filelike.fileno()).st_size - filelike.tell()
    except Exception:
        return 0
