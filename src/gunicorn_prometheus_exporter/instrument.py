"""The one instrumentation point: a wrapper around the WSGI application a worker loads.

Every worker type serves the application through ``worker.wsgi``, so wrapping
it measures sync, gthread, gevent, eventlet and tornado-served WSGI apps the
same way. A request ends when the server closes the response iterable, which
PEP 3333 servers do after the last byte is written (or the client is gone).
ASGI apps (``instrument_asgi``) and native Tornado apps
(``instrument_tornado``) are wrapped where they are loaded too, and share the
rules below for the status and the sizes.
"""

from __future__ import annotations

import os
from time import perf_counter

from gunicorn.http.wsgi import Response as GunicornResponse

from .request_metrics import METHOD_LABELS, RequestRecorder


def content_length(value) -> int:
    """The request body size a Content-Length value declares (0 when absent or malformed)."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def status_sent(status: str | None, exc: BaseException | None, body_bytes: int) -> str:
    """The 3-digit status a client got for a request the application ended with ``exc`` (or None).

    No status, or an exception before any body byte, means the server answers
    500 itself; otherwise the status the application started its response with.
    """
    if status is None or (exc is not None and body_bytes == 0):
        return "500"
    return status[:3]


def exception_label(exc: BaseException | None) -> str | None:
    """The class name an escaped exception is counted under; cancellation and exits are not errors."""
    return type(exc).__name__ if isinstance(exc, Exception) else None


class Measurement:
    """One request's figures, recorded once when it ends; the WSGI, ASGI and
    Tornado wrappers each fill ``status`` and ``sent`` from what they see."""

    __slots__ = ("recorder", "method", "request_bytes", "started", "status", "sent", "done")

    def begin(self, recorder: RequestRecorder, method: str, request_bytes: int) -> None:
        self.recorder = recorder
        self.method = method
        self.request_bytes = request_bytes
        self.status = None
        self.sent = 0
        self.done = False
        self.started = perf_counter()
        recorder.started()

    def finish(self, exc: BaseException | None = None) -> None:
        if self.done:
            return
        self.done = True
        if exc is None and self.status is not None:  # the common case, without helper calls
            self.recorder.finished(
                self.method, self.status[:3], perf_counter() - self.started, self.request_bytes, self.sent
            )
            return
        self.recorder.finished(
            self.method,
            status_sent(self.status, exc, self.sent),
            perf_counter() - self.started,
            self.request_bytes,
            self.sent,
            exception_label(exc),
        )


class _WsgiExchange(Measurement):
    """One WSGI request: the body the application returned, recorded when the server closes it."""

    __slots__ = ("body",)

    def __init__(self, recorder: RequestRecorder, environ):
        self.body = None
        length = environ.get("CONTENT_LENGTH")
        self.begin(
            recorder,
            METHOD_LABELS.get(environ.get("REQUEST_METHOD"), "OTHER"),
            content_length(length) if length else 0,
        )

    def __iter__(self):
        body = self.body
        if type(body) is list or type(body) is tuple:
            self.counted(body)
            return iter(body)
        return self._stream(body)

    def counted(self, body) -> None:
        """A list body's bytes, for a server that does not count them itself."""

    def _stream(self, body):
        try:
            for chunk in body:
                self.chunk(chunk)
                yield chunk
        except BaseException as exc:
            self.settle(exc)
            raise

    def chunk(self, chunk) -> None:
        """One streamed chunk, for a server that does not count bytes itself."""

    def close(self):
        body = self.body
        try:
            if type(body) is not list and type(body) is not tuple and hasattr(body, "close"):
                body.close()
        finally:
            self.settle(None)

    def settle(self, exc: BaseException | None) -> None:
        self.finish(exc)


class _Exchange(_WsgiExchange):
    """Under any WSGI server: captures the status and counts the body bytes itself."""

    __slots__ = ("start_response",)

    def __init__(self, recorder: RequestRecorder, environ, start_response):
        self.start_response = start_response
        super().__init__(recorder, environ)

    def capture_start_response(self, status, headers, exc_info=None):
        self.status = status
        return self.start_response(status, headers, exc_info)

    def counted(self, body) -> None:
        self.sent = sum(map(len, body))

    def chunk(self, chunk) -> None:
        self.sent += len(chunk)


class _GunicornExchange(_WsgiExchange):
    """Under Gunicorn's own Response: the status and the bytes it sent are read from
    it when the body is closed, so start_response and the chunks pass untouched."""

    __slots__ = ("response",)

    def settle(self, exc: BaseException | None) -> None:
        response = self.response
        self.status = response.status
        self.sent = response.sent
        self.finish(exc)


def instrument_wsgi(app, recorder: RequestRecorder):
    """Return ``app`` wrapped so that every request it serves is recorded."""

    def instrumented(environ, start_response):
        response = getattr(start_response, "__self__", None)
        if type(response) is GunicornResponse:
            exchange = _GunicornExchange(recorder, environ)
            exchange.response = response
        else:
            exchange = _Exchange(recorder, environ, start_response)
            start_response = exchange.capture_start_response
        try:
            body = app(environ, start_response)
        except BaseException as exc:
            exchange.settle(exc)
            raise
        exchange.body = body
        if type(body) is list or type(body) is tuple:
            return exchange
        file_wrapper = environ.get("wsgi.file_wrapper")
        if file_wrapper is not None and isinstance(body, file_wrapper):
            # Keep the server's sendfile path: the request ends here, sized by what the file holds.
            if type(response) is GunicornResponse:
                exchange.status = response.status
            exchange.sent = _declared_length(body)
            exchange.finish(None)
            return body
        return exchange

    instrumented.__wrapped__ = app
    return instrumented


def _declared_length(file_body) -> int:
    try:
        filelike = getattr(file_body, "filelike", None)
        return os.fstat(filelike.fileno()).st_size - filelike.tell()
    except Exception:
        return 0
