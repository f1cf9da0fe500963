"""A WSGI app whose /gate requests wait, sleeping cooperatively, until the test opens the gate.

The gate is the file named by GATE_FILE: while it is missing, every /gate
request stays in progress, so a test can read the in-progress gauges at an
exact level. ``time.sleep`` yields under gevent and eventlet (they patch it),
blocks one thread under gthread, and blocks the whole worker under Tornado's
WSGIContainer: each worker model's own concurrency.
"""

import os
import time

POLL_SECONDS = 0.02


def gate_is_open() -> bool:
    return os.path.exists(os.environ["GATE_FILE"])


def app(environ, start_response):
    if environ.get("PATH_INFO") == "/gate":
        while not gate_is_open():
            time.sleep(POLL_SECONDS)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"passed"]
