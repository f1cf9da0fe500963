"""The instrumentation point for native Tornado applications under Gunicorn's Tornado worker.

Gunicorn's Tornado worker calls no ``pre_request``/``post_request`` hook and
hands a ``tornado.web.Application`` (or a ``WSGIContainer``) straight to
Tornado's HTTP server. We measure where Tornado's server and the application
meet, the HTTP connection of each request: a request starts when its headers
are parsed, its status is the one the application writes with the response
headers, its response size is the sum of the body chunks it writes (before
any chunked framing), and it ends when the application finishes the
response. A request whose client goes away before the request was read
whole ends then. The rules for status and sizes are ``instrument``'s.

Gunicorn passes the application to Tornado only if it is a
``tornado.web.Application`` (anything else it wraps as WSGI), so the wrapper
is a real Application whose one rule routes every request to the wrapped
application, the way Tornado routes to a nested application.
"""

from __future__ import annotations

from tornado import httputil
from tornado.routing import AnyMatches, Rule
from tornado.web import Application

from .instrument import Measurement, content_length
from .request_metrics import RequestRecorder, normalize_method


class _Exchange(Measurement):
    """One request on one HTTP connection; records once."""

    __slots__ = ("pending_recorder",)

    def __init__(self, recorder: RequestRecorder):
        self.pending_recorder = recorder
        self.status = None
        self.sent = 0
        self.done = True  # nothing to record until the request's headers are parsed

    def begin_request(self, start_line, headers) -> None:
        self.begin(
            self.pending_recorder,
            normalize_method(start_line.method),
            content_length(headers.get("Content-Length")),
        )


class _MeasuredConnection(httputil.HTTPConnection):
    """The request's connection as the application sees it: writes are watched, then passed on."""

    def __init__(self, connection, exchange: _Exchange):
        self._connection = connection
        self._exchange = exchange

    def write_headers(self, start_line, headers, chunk=None):
        exchange = self._exchange
        exchange.status = str(start_line.code)
        if chunk:
            exchange.sent += len(chunk)
        return self._connection.write_headers(start_line, headers, chunk)

    def write(self, chunk):
        self._exchange.sent += len(chunk)
        return self._connection.write(chunk)

    def finish(self):
        try:
            return self._connection.finish()
        finally:
            self._exchange.finish()

    def __getattr__(self, name):
        # Everything else (context, stream, set_close_callback, detach, ...) is the connection's own.
        return getattr(self._connection, name)


class _MeasuredRequest(httputil.HTTPMessageDelegate):
    """Tornado's reading side of one request, passed on to the application's delegate."""

    def __init__(self, delegate, exchange: _Exchange):
        self._delegate = delegate
        self._exchange = exchange

    def headers_received(self, start_line, headers):
        self._exchange.begin_request(start_line, headers)
        return self._delegate.headers_received(start_line, headers)

    def data_received(self, chunk):
        return self._delegate.data_received(chunk)

    def finish(self):
        return self._delegate.finish()

    def on_connection_close(self):
        # Tornado calls this only while the request is still being read: no response will follow.
        try:
            return self._delegate.on_connection_close()
        finally:
            self._exchange.finish()


class MeasuredApplication(Application):
    """A Tornado application that routes every request to ``target`` and records it."""

    def __init__(self, target, recorder: RequestRecorder):
        super().__init__([Rule(AnyMatches(), target)])
        self.target = target
        self.recorder = recorder

    def start_request(self, server_conn, request_conn):
        exchange = _Exchange(self.recorder)
        delegate = super().start_request(server_conn, _MeasuredConnection(request_conn, exchange))
        return _MeasuredRequest(delegate, exchange)
