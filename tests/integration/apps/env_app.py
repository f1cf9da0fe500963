"""A WSGI app that reports what gpx exported to it: os.environ's Gunicorn
guide variables and PROMETHEUS_MULTIPROC_DIR, as JSON."""

import json
import os

KEYS = ("GUNICORN_WORKERS", "GUNICORN_WORKER_CLASS", "GUNICORN_BIND", "PROMETHEUS_MULTIPROC_DIR")


def application(environ, start_response):
    body = json.dumps({key: os.environ.get(key) for key in KEYS}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
