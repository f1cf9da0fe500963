"""The test suite's WSGI application: its routes drive every measured outcome."""

import time

from prometheus_client import Counter, Histogram

APP_EVENTS = Counter("app_events", "Events the test app counted.", ["kind"])
APP_WORK = Histogram("app_work_seconds", "Work the test app timed.")


class AppError(Exception):
    pass


# Served through wsgi.file_wrapper (Gunicorn sends it with sendfile).
FILE_BODY = __file__


def _failing_stream():
    yield b"x" * 100
    yield b"x" * 100
    raise AppError("raised while streaming")


def app(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    if path == "/missing":
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]
    if path == "/error":
        start_response("500 Internal Server Error", [("Content-Type", "text/plain")])
        return [b"error"]
    if path == "/raise":
        raise AppError("raised by the test app")
    if path == "/sleep":
        query = environ.get("QUERY_STRING", "")
        seconds = float(query.split("=", 1)[1]) if "=" in query else 1.0
        time.sleep(seconds)
    if path == "/event":
        APP_EVENTS.labels(kind="event").inc()
        with APP_WORK.time():
            pass
    if path == "/stream":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return (b"x" * 100 for _ in range(10))
    if path == "/stream-fail":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return _failing_stream()
    if path == "/file":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return environ["wsgi.file_wrapper"](open(FILE_BODY, "rb"))
    body = environ["wsgi.input"].read() if environ.get("CONTENT_LENGTH") else b""
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello " + body]
