"""An app with 500 series of its own, created at import in every worker."""

from prometheus_client import Counter

ITEMS = Counter("bench_items", "Items, one series per label value.", ["item"])
for i in range(500):
    ITEMS.labels(item=f"item-{i:03d}").inc()


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok\n"]
