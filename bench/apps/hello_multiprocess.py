"""Hello world instrumented by hand with prometheus_client's multiprocess mode.

This is how users wire metrics into Gunicorn without an exporter: a WSGI
middleware with a Counter, a Histogram and an in-progress Gauge, values in
PROMETHEUS_MULTIPROC_DIR files keyed by pid. It serves as the reference point.
"""

import time

from hello import app as hello
from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter("http_requests", "Requests.", ["method", "status"])
DURATION = Histogram("http_request_duration_seconds", "Latency.", ["method"])
IN_PROGRESS = Gauge("http_requests_in_progress", "In progress.", multiprocess_mode="livesum")


def app(environ, start_response):
    method = environ["REQUEST_METHOD"]
    status_holder = []

    def capture(status, headers, exc_info=None):
        status_holder.append(status[:3])
        return start_response(status, headers, exc_info)

    IN_PROGRESS.inc()
    started = time.perf_counter()
    try:
        return hello(environ, capture)
    finally:
        DURATION.labels(method).observe(time.perf_counter() - started)
        REQUESTS.labels(method, status_holder[0] if status_holder else "500").inc()
        IN_PROGRESS.dec()
