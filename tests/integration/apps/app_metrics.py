"""A WSGI app with its own prometheus_client metrics in multiprocess mode.

gpx sets PROMETHEUS_MULTIPROC_DIR (files storage); with Redis storage the
test sets it. Routes:

  /hit?n=N           app_hits_total{path="/hit"} += N
  /gauge?v=X         every gauge mode set to X in this process
  /observe?v=X       the histogram and the summary observe X
  /pid               this process's pid
  /version           the prometheus_client imported: "<version> <path>"

Every gauge mode the imported prometheus_client knows (Debian 12's 0.16
has no mostrecent modes).
"""

import importlib.metadata
import os
from urllib.parse import parse_qs

import prometheus_client
from prometheus_client import Counter, Gauge, Histogram, Summary

HITS = Counter("app_hits", "Hits of the app.", ["path"])
ODD = Counter("app_odd_labels", 'Help with a backslash \\ and a "quote".', ["text"])
MODES = [mode for mode in ("all", "liveall", "min", "livemin", "max", "livemax", "sum", "livesum", "mostrecent",
                           "livemostrecent") if mode in Gauge._MULTIPROC_MODES]
GAUGES = {mode: Gauge(f"app_{mode}_level", f"A gauge in mode {mode}.", ["kind"], multiprocess_mode=mode)
          for mode in MODES}
LATENCY = Histogram("app_latency_seconds", "Latency.", ["route"], buckets=(0.005, 0.1, 0.5, 1.0, 2.5, 10.0))
SIZES = Summary("app_size_bytes", "Sizes.")


def application(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    query = parse_qs(environ.get("QUERY_STRING", ""))
    body = b"ok\n"
    if path == "/hit":
        HITS.labels(path="/hit").inc(float(query.get("n", ["1"])[0]))
    elif path == "/odd":
        ODD.labels(text='a "quoted" \\ back\nslash').inc()
    elif path == "/gauge":
        value = float(query["v"][0])
        for gauge in GAUGES.values():
            gauge.labels(kind="x").set(value)
    elif path == "/observe":
        value = float(query["v"][0])
        LATENCY.labels(route="/observe").observe(value)
        SIZES.observe(value * 1000)
    elif path == "/pid":
        body = f"{os.getpid()}\n".encode()
    elif path == "/version":
        body = f"{importlib.metadata.version('prometheus_client')} {prometheus_client.__file__}\n".encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
