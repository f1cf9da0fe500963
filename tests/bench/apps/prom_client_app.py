"""Hello world with prometheus_client's multiprocess mode, as users wire it.

A WSGI middleware counts each request and observes its latency in a
histogram (both labelled by method and status); /metrics renders every
worker's files through MultiProcessCollector. Needs PROMETHEUS_MULTIPROC_DIR
set before the import (the benchmark passes it with uWSGI's --env).
"""

import time

from prometheus_client import CollectorRegistry, Counter, Histogram, make_wsgi_app, multiprocess

REQUESTS = Counter("http_requests_total", "Requests served", ["method", "status"])
LATENCY = Histogram("http_request_duration_seconds", "Request latency", ["method", "status"])


def metrics_app():
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return make_wsgi_app(registry)


METRICS = metrics_app()


def hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "12")])
    return [b"Hello World\n"]


def application(environ, start_response):
    if environ.get("PATH_INFO") == "/metrics":
        return METRICS(environ, start_response)
    start = time.perf_counter()
    status = []

    def recording_start_response(s, headers, exc_info=None):
        status.append(s.split(" ", 1)[0])
        return start_response(s, headers, exc_info)

    body = hello(environ, recording_start_response)
    method = environ.get("REQUEST_METHOD", "GET")
    code = status[0] if status else "500"
    REQUESTS.labels(method, code).inc()
    LATENCY.labels(method, code).observe(time.perf_counter() - start)
    return body
