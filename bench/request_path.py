"""Microseconds the instrumentation adds to one request, measured in-process.

Serves a hello-world WSGI app the way Gunicorn's request loop does (call the
app, iterate and close the body, call the ``post_request`` hook) with and
without the exporter's wrapper and hook, writing into a real shared-memory
block. The generic wrapper (for servers without that hook, such as Tornado's
``WSGIContainer``) is measured beside it.

    .venv/bin/python bench/request_path.py [--requests 200000]
"""

from __future__ import annotations

import argparse
import time
from types import SimpleNamespace

from common import versions
from gunicorn.config import Config

from gunicorn_prometheus_exporter.instrument import instrument_wsgi
from gunicorn_prometheus_exporter.instrument_gunicorn import instrument_gunicorn
from gunicorn_prometheus_exporter.request_metrics import RequestRecorder
from gunicorn_prometheus_exporter.store import open_memory_block


def hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"Hello world\n"]


def serve(app, cfg, count: int) -> float:
    request = SimpleNamespace(method="GET")
    response = SimpleNamespace(status=None, sent=0)

    def start_response(status, headers, exc_info=None):
        response.status = status

    started = time.perf_counter()
    for _ in range(count):
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "CONTENT_LENGTH": ""}
        body = app(environ, start_response)
        for chunk in body:
            response.sent += len(chunk)
        close = getattr(body, "close", None)
        if close is not None:
            close()
        cfg.post_request(None, request, environ, response)
    return (time.perf_counter() - started) / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200_000)
    opts = parser.parse_args()
    recorder = RequestRecorder(open_memory_block("bench"), "0")
    plain_cfg, hooked_cfg = Config(), Config()
    gunicorn_path = instrument_gunicorn(hello, recorder, hooked_cfg)
    generic_path = instrument_wsgi(hello, recorder)
    plain = min(serve(hello, plain_cfg, opts.requests) for _ in range(3))
    hooked = min(serve(gunicorn_path, hooked_cfg, opts.requests) for _ in range(3))
    generic = min(serve(generic_path, plain_cfg, opts.requests) for _ in range(3))
    print(f"# Request path ({versions()})\n")
    print(f"plain app and hook: {plain:.2f} us/request")
    print(f"Gunicorn workers (wrapper + post_request hook): {hooked:.2f} us/request, added {hooked - plain:.2f} us")
    print(f"generic WSGI wrapper: {generic:.2f} us/request, added {generic - plain:.2f} us")


if __name__ == "__main__":
    main()
