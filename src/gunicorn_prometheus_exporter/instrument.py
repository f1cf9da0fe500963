"""What a request's record says, and a wrapper that records any WSGI server's requests.

``Measurement`` holds the rules every instrumentation shares: the status a
client got, the exception counted, the sizes. ``instrument_wsgi`` wraps a WSGI
application for a server that offers no hook after a response (Tornado's
``WSGIContainer``): a request ends when the server closes the response
iterable, which PEP 3333 servers do after the last byte is written (or the
client is gone). Gunicorn's own request loop records through its
``pre_request`` and ``post_request`` hooks instead (``instrument_gunicorn``); ASGI apps
(``instrument_asgi``) and native Tornado apps (``instrument_tornado``) are
wrapped where they are loaded.
"""

from __future__ import annotations

import os
from time import perf_counter

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
    """One WSGI request: captures the status, counts the body bytes, and is
    recorded when the server closes the body."""

    __slots__ = ("start_response", "body")

    def __init__(self, recorder: RequestRecorder, environ, start_response):
        self.start_response = start_response
        self.body = None
        length = environ.get("CONTENT_LENGTH")
        self.begin(
            recorder,
            METHOD_LABELS.get(environ.get("REQUEST_METHOD"), "OTHER"),
            content_length(length) if length else 0,
        )

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
        except GeneratorExit:
            raise
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


def instrument_wsgi(app, recorder: RequestRecorder):
    """Return ``app`` wrapped so that every request it serves is recorded."""

    def instrumented(environ, start_response):
        exchange = _WsgiExchange(recorder, environ, start_response)
        try:
            body = app(environ, exchange.capture_start_response)
        except BaseException as exc:
            exchange.finish(exc)
            raise
        exchange.body = body
        if type(body) is list or type(body) is tuple:
            return exchange
        file_wrapper = environ.get("wsgi.file_wrapper")
        if file_wrapper is not None and isinstance(body, file_wrapper):
            # Keep the server's sendfile path: the request ends here, sized by what the file holds.
            exchange.sent = remaining_length(body)
            exchange.finish(None)
            return body
        return exchange

    instrumented.__wrapped__ = app
    return instrumented


def remaining_length(file_body) -> int:
    """The bytes a ``wsgi.file_wrapper`` body will send: what its file holds past the current position."""
    try:
        filelike = file_body.filelike
        return os.fstat(filelike.fileno()).st_size - filelike.tell()
    except Exception:
        return 0
