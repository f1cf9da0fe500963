"""A small WSGI app for the demo: a greeting, and a counter of its own."""

from prometheus_client import Counter

GREETINGS = Counter("demo_greetings", "Greetings the demo app has sent.")


def app(environ, start_response):
    GREETINGS.inc()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"Hello from Gunicorn\n"]
