"""A WSGI app with every prometheus_client metric type and every gauge multiprocess mode.

``/set?v=X`` sets every gauge to X in the worker that serves it; ``/count``
updates the counter, histogram and summary once. Each response body is the
serving process's pid, so a test knows which worker holds which value.
"""

import os
from urllib.parse import parse_qs

from prometheus_client import Counter, Gauge, Histogram, Summary

GAUGE_MODES = (
    "all",
    "liveall",
    "min",
    "livemin",
    "max",
    "livemax",
    "sum",
    "livesum",
    "mostrecent",
    "livemostrecent",
)
GAUGES = {mode: Gauge(f"test_gauge_{mode}", f"A gauge in {mode} mode.", multiprocess_mode=mode) for mode in GAUGE_MODES}
THINGS = Counter("test_things", "Things counted.", ["kind"])
LATENCY = Histogram("test_latency_seconds", "Latency observed.", buckets=(0.1, 1.0, 10.0))
SIZE = Summary("test_size_bytes", "Sizes observed.")


def app(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    if path == "/set":
        value = float(parse_qs(environ.get("QUERY_STRING", ""))["v"][0])
        for gauge in GAUGES.values():
            gauge.set(value)
    elif path == "/count":
        THINGS.labels(kind="a").inc()
        THINGS.labels(kind="b").inc(2)
        LATENCY.observe(0.5)
        SIZE.observe(100)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]
