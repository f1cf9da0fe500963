"""A WSGI app whose requests take a chosen time, for the tests of
durations (native histograms, exemplars).

?ms=N      sleeps N milliseconds (0 or none: answers at once)

Each request appends one line to the file named by the DURATIONS
environment variable (when set): its method, the traceparent header it
carried (or -) and the seconds the app measured itself around the sleep,
so that a test knows the true durations of the distribution it sent.
"""

import os
import time
from urllib.parse import parse_qs

DURATIONS = os.environ.get("DURATIONS")


def application(environ, start_response):
    values = parse_qs(environ.get("QUERY_STRING", "")).get("ms")
    ms = float(values[0]) if values else 0.0
    started = time.perf_counter()
    if ms > 0:
        time.sleep(ms / 1000.0)
    took = time.perf_counter() - started
    if DURATIONS:
        traceparent = (environ.get("HTTP_TRACEPARENT") or "-").replace(" ", "%20")
        line = f"{environ['REQUEST_METHOD']} {traceparent} {took:.9f}\n"
        # One write of one short line with O_APPEND: lines from concurrent
        # workers and threads never interleave.
        fd = os.open(DURATIONS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok\n"]
