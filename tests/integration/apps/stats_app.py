"""A WSGI app for the uwsgi-exporter profile's tests: answers, raises, stalls,
ends its worker and uses a uWSGI cache, so that every field of the stats
server moves.

/raise             raises RuntimeError
/sleep?s=5         sleeps (a harakiri ends it first)
/exit              os._exit(3) without answering (the master respawns the worker)
/cache/set?k=K     stores K in the cache named by the CACHE environment variable
/cache/get?k=K     reads K from it
anything else      a short 200
"""

import os
import time
from urllib.parse import parse_qs

import uwsgi

CACHE = os.environ.get("CACHE", "gpxcache")


def _arg(environ, name, default):
    values = parse_qs(environ.get("QUERY_STRING", "")).get(name)
    return values[0] if values else default


def application(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    body = b"ok\n"
    if path == "/raise":
        raise RuntimeError("raised on purpose")
    if path == "/sleep":
        time.sleep(float(_arg(environ, "s", "5")))
    if path == "/exit":
        os._exit(3)
    if path == "/cache/set":
        key = _arg(environ, "k", "k")
        uwsgi.cache_set(key, b"v" * 10, 0, CACHE)
    if path == "/cache/get":
        body = b"hit\n" if uwsgi.cache_get(_arg(environ, "k", "k"), CACHE) is not None else b"miss\n"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
