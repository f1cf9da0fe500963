"""A WSGI app whose prometheus_client metrics (0.26 accepts any name) have
names the text format does not allow as they are. Routes:

  /work          every metric counts once in this process
"""

from prometheus_client import Counter, Gauge, Histogram, Summary

DOTTED = Counter("app.dotted", "A dotted name.", ["my.label"])
QUEUE = Gauge("app.queue-depth", "A dash.", ["queue name"], multiprocess_mode="livesum")
LATENCY = Histogram("app.latency.seconds", "Latency.", ["route.name"], buckets=(0.1, 1.0))
SIZES = Summary("2xx sizes", "A digit first and a space.")


def application(environ, start_response):
    if environ.get("PATH_INFO") == "/work":
        DOTTED.labels(**{"my.label": 'v "quoted"'}).inc()
        QUEUE.labels(**{"queue name": "q"}).inc(2)
        LATENCY.labels(**{"route.name": "/work"}).observe(0.5)
        SIZES.observe(300)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok\n"]
