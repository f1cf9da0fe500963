"""The ASGI wrapper's rules, on edge cases real servers rarely produce on demand.

Pure logic: a real RequestRecorder over an in-memory block, an ASGI app, and
a server's ``send`` played by a coroutine. The end-to-end tests with real
Gunicorn workers are in test_workers.py.
"""

from __future__ import annotations

import asyncio

import pytest

from gunicorn_prometheus_exporter.collector import KeyCache, aggregate
from gunicorn_prometheus_exporter.instrument_asgi import instrument_asgi
from gunicorn_prometheus_exporter.request_metrics import RequestRecorder
from gunicorn_prometheus_exporter.store import open_memory_block


class Recorded:
    def __init__(self):
        self.block = open_memory_block("asgi-rules")
        self.recorder = RequestRecorder(self.block)

    def samples(self):
        """The block as /metrics would aggregate it (one live slot)."""
        families = aggregate([("0", True, self.block.items())], KeyCache())
        return [sample for family in families for sample in family.samples]

    def value(self, sample: str, **labels) -> float:
        for s in self.samples():
            if s.name == sample and s.labels == labels:
                return s.value
        return 0.0


def serve(app, recorded: Recorded, method="GET", headers=(), fail_send=False):
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        if fail_send:
            raise OSError("client gone")
        sent.append(message)

    scope = {"type": "http", "method": method, "path": "/", "headers": list(headers)}
    asyncio.run(instrument_asgi(app, recorded.recorder)(scope, receive, send))
    return sent


async def hello(scope, receive, send):
    await send({"type": "http.response.start", "status": 201, "headers": []})
    await send({"type": "http.response.body", "body": b"abc", "more_body": True})
    await send({"type": "http.response.body", "body": b"defg"})


def test_status_sizes_and_end_come_from_the_messages():
    recorded = Recorded()
    serve(hello, recorded, method="PUT", headers=[(b"Content-Length", b"12")])
    assert recorded.value("gunicorn_requests_total", method="PUT", status="201") == 1
    assert recorded.value("gunicorn_response_size_bytes_sum") == 7
    assert recorded.value("gunicorn_request_size_bytes_sum") == 12
    assert recorded.value("gunicorn_requests_in_progress") == 0
    assert recorded.value("gunicorn_request_duration_seconds_count", method="PUT") == 1


def test_the_request_is_in_progress_until_the_last_body_message():
    recorded = Recorded()
    seen = []

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"a", "more_body": True})
        seen.append(recorded.value("gunicorn_requests_in_progress"))
        await send({"type": "http.response.body", "body": b"b"})
        seen.append(recorded.value("gunicorn_requests_in_progress"))

    serve(app, recorded)
    assert seen == [1, 0]


def test_announced_trailers_end_the_response():
    recorded = Recorded()
    seen = []

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": [], "trailers": True})
        await send({"type": "http.response.body", "body": b"ab"})
        seen.append(recorded.value("gunicorn_requests_in_progress"))
        await send({"type": "http.response.trailers", "headers": []})
        seen.append(recorded.value("gunicorn_requests_in_progress"))

    serve(app, recorded)
    assert seen == [1, 0]
    assert recorded.value("gunicorn_requests_total", method="GET", status="200") == 1


def test_an_exception_before_the_response_counts_as_500_and_by_class():
    recorded = Recorded()

    class Boom(Exception):
        pass

    async def app(scope, receive, send):
        raise Boom

    with pytest.raises(Boom):
        serve(app, recorded)
    assert recorded.value("gunicorn_requests_total", method="GET", status="500") == 1
    assert recorded.value("gunicorn_request_exceptions_total", exception="Boom") == 1
    assert recorded.value("gunicorn_requests_in_progress") == 0


def test_an_app_that_swallows_a_failed_send_is_counted_once_without_an_exception():
    recorded = Recorded()

    async def app(scope, receive, send):
        try:
            await hello(scope, receive, send)
        except OSError:
            pass

    serve(app, recorded, fail_send=True)
    # The status the app chose: the client is gone, the app ended normally.
    assert recorded.value("gunicorn_requests_total", method="GET", status="201") == 1
    assert recorded.value("gunicorn_request_exceptions_total", exception="OSError") == 0
    assert recorded.value("gunicorn_worker_requests_total", worker="0") == 1


def test_lifespan_and_websocket_scopes_are_not_requests():
    recorded = Recorded()
    calls = []

    async def app(scope, receive, send):
        calls.append(scope["type"])

    wrapped = instrument_asgi(app, recorded.recorder)
    for kind in ("lifespan", "websocket"):
        asyncio.run(wrapped({"type": kind}, None, None))
    assert calls == ["lifespan", "websocket"]
    assert recorded.value("gunicorn_worker_requests_total", worker="0") == 0
