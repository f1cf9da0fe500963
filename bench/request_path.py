"""Microseconds the instrumentation adds to one request, measured in-process.

Serves a hello-world WSGI app the way Gunicorn's request loop does (call the
``pre_request`` hook, call the app, iterate and close the body, call the
``post_request`` hook) with and without the exporter's wrapper and hooks
(compiled, and the Python path an install without a C compiler runs),
writing into a real shared-memory block. The generic wrapper (for servers without that hook, such as Tornado's
``WSGIContainer``) is measured beside it.

    .venv/bin/python bench/request_path.py [--requests 200000] [--evict-kb 2048]

With ``--evict-kb``, every request is preceded by writing that many KiB of
other memory, as the kernel, the load generator and other processes do
between two requests on a server, and each request is timed on its own
(median): the cost of the same code with cold caches.
"""

from __future__ import annotations

import argparse
import statistics
import time
from types import SimpleNamespace

from common import versions
from gunicorn.config import Config
from gunicorn.glogging import Logger

from gunicorn_prometheus_exporter.instrument import instrument_wsgi
from gunicorn_prometheus_exporter.instrument_gunicorn import instrument_gunicorn
from gunicorn_prometheus_exporter.request_metrics import RequestRecorder
from gunicorn_prometheus_exporter.store import open_memory_block


def hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"Hello world\n"]


class Request:
    """The attributes of Gunicorn's request object that the hooks read."""

    def __init__(self):
        self.method = "GET"
        self.path = "/"


def serve(app, cfg, count: int, evict: bytearray | None = None) -> float:
    """Microseconds per request: the mean of a hot loop, or the median of single requests after ``evict``."""
    worker = SimpleNamespace(log=Logger(cfg))  # Gunicorn's default pre_request logs at debug level
    response = None

    def start_response(status, headers, exc_info=None):
        response.status = status

    times = []
    started = time.perf_counter_ns()
    for _ in range(count):
        if evict is not None:
            evict[::64] = bytes(len(evict) // 64)  # one write per cache line
            started = time.perf_counter_ns()
        request, response = Request(), SimpleNamespace(status=None, sent=0)
        cfg.pre_request(worker, request)
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "CONTENT_LENGTH": ""}
        body = app(environ, start_response)
        for chunk in body:
            response.sent += len(chunk)
        close = getattr(body, "close", None)
        if close is not None:
            close()
        cfg.post_request(worker, request, environ, response)
        if evict is not None:
            times.append(time.perf_counter_ns() - started)
    if evict is not None:
        return statistics.median(times) / 1000
    return (time.perf_counter_ns() - started) / count / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--evict-kb", type=int, default=0, help="KiB written between requests (0: a hot loop)")
    opts = parser.parse_args()
    evict = bytearray(opts.evict_kb << 10) if opts.evict_kb else None
    count = min(opts.requests, 3000) if evict is not None else opts.requests
    recorder = RequestRecorder(open_memory_block("bench"))
    python_recorder = RequestRecorder(open_memory_block("bench-python"), compiled=False)
    plain_cfg, hooked_cfg, python_cfg = Config(), Config(), Config()
    gunicorn_path = instrument_gunicorn(hello, recorder, hooked_cfg)
    python_path = instrument_gunicorn(hello, python_recorder, python_cfg)
    generic_path = instrument_wsgi(hello, recorder)
    plain = min(serve(hello, plain_cfg, count, evict) for _ in range(3))
    hooked = min(serve(gunicorn_path, hooked_cfg, count, evict) for _ in range(3))
    python = min(serve(python_path, python_cfg, count, evict) for _ in range(3))
    generic = min(serve(generic_path, plain_cfg, count, evict) for _ in range(3))
    caches = f"{opts.evict_kb} KiB written between requests" if evict is not None else "hot loop"
    print(f"# Request path, {caches} ({versions()})\n")
    print(f"plain app and hook: {plain:.2f} us/request")
    for name, cost in (("compiled", hooked), ("Python, without the C module", python)):
        print(
            f"Gunicorn workers, {name} (wrapper + pre_request and post_request hooks): "
            f"{cost:.2f} us/request, added {cost - plain:.2f} us"
        )
    print(f"generic WSGI wrapper: {generic:.2f} us/request, added {generic - plain:.2f} us")


if __name__ == "__main__":
    main()
