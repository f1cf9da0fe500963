"""A WSGI app that answers with the Gunicorn settings its worker's environment holds."""

import os


def app(environ, start_response):
    names = ("GUNICORN_WORKERS", "GUNICORN_BIND", "GUNICORN_WORKER_CLASS")
    body = " ".join(os.environ.get(name, "-") for name in names).encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
