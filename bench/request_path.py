"""Microseconds the instrumentation adds to one request, measured in-process.

Calls a hello-world WSGI app the way Gunicorn does (call, iterate, close)
with and without the wrapper, writing into a real shared-memory block.

    .venv/bin/python bench/request_path.py [--requests 200000]
"""

from __future__ import annotations

import argparse
import time

from common import versions

from gunicorn_prometheus_exporter.instrument import instrument_wsgi
from gunicorn_prometheus_exporter.request_metrics import RequestRecorder
from gunicorn_prometheus_exporter.store import open_memory_block


def hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"Hello world\n"]


def serve(app, count: int) -> float:
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "CONTENT_LENGTH": ""}

    def start_response(status, headers, exc_info=None):
        return None

    started = time.perf_counter()
    for _ in range(count):
        body = app(environ, start_response)
        for _chunk in body:
            pass
        close = getattr(body, "close", None)
        if close is not None:
            close()
    return (time.perf_counter() - started) / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200_000)
    opts = parser.parse_args()
    wrapped = instrument_wsgi(hello, RequestRecorder(open_memory_block("bench"), "0"))
    plain = min(serve(hello, opts.requests) for _ in range(3))
    measured = min(serve(wrapped, opts.requests) for _ in range(3))
    print(f"# Request path ({versions()})\n")
    print(
        f"plain app: {plain:.2f} us/request; instrumented: {measured:.2f} us/request; added: {measured - plain:.2f} us"
    )


if __name__ == "__main__":
    main()
