"""The ASGI instrumentation point: a wrapper around the ASGI application a worker loads.

The same rules as ``instrument.instrument_wsgi``, read from ASGI messages: a
request starts when the application is called for an ``http`` scope, its
status is the one in ``http.response.start``, its response size is the sum of
the ``http.response.body`` bodies, and it ends once the server has taken the
last body message (``more_body`` false) or the application returns or
raises, whichever comes first. Lifespan and WebSocket scopes pass through.
"""

from __future__ import annotations

from .instrument import Measurement, content_length
from .request_metrics import RequestRecorder, normalize_method


def _declared_length(headers) -> int:
    for name, value in headers or ():
        if name.lower() == b"content-length":
            return content_length(value.decode("latin-1"))
    return 0


class _Exchange(Measurement):
    """One HTTP request: watches the messages the application sends, records once."""

    __slots__ = ("send", "trailers")

    def __init__(self, recorder: RequestRecorder, scope, send):
        self.send = send
        self.trailers = False
        self.begin(recorder, normalize_method(scope.get("method", "")), _declared_length(scope.get("headers")))

    async def measured_send(self, message):
        kind = message.get("type")
        last = False
        if kind == "http.response.start":
            self.status = str(message.get("status", 200))
            self.trailers = bool(message.get("trailers", False))
        elif kind == "http.response.body":
            self.sent += len(message.get("body", b""))
            last = not message.get("more_body", False) and not self.trailers
        elif kind == "http.response.trailers":  # the extension: trailers end an announced response
            last = not message.get("more_trailers", False)
        elif kind == "http.response.pathsend":  # the extension that sends a whole file
            last = True
        await self.send(message)
        if last:
            # Not reached if sending failed: the request then ends when the app returns or raises.
            self.finish(None)


def instrument_asgi(app, recorder: RequestRecorder):
    """Return the ASGI 3 application ``app`` wrapped so that every HTTP request it serves is recorded."""

    async def instrumented(scope, receive, send):
        if scope.get("type") != "http":
            return await app(scope, receive, send)
        exchange = _Exchange(recorder, scope, send)
        try:
            await app(scope, receive, exchange.measured_send)
        except BaseException as exc:
            exchange.finish(exc)
            raise
        exchange.finish(None)

    instrumented.__wrapped__ = app
    return instrumented
