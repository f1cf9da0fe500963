"""The WSGI app of tests/integration/test_modes.py, for every Python mode.

Routes:
  /          200, "hello"
  /missing   404
  /raise     raises RuntimeError (uWSGI records 500 and counts an exception)
  /raise/zero, /raise/key   fail with ZeroDivisionError, KeyError
  POST /     200, reads the body
  /hold?X    waits, without blocking its worker's other cores, until the
             file $MODES_DIR/X exists (60 s at most, then 504): the test
             decides when held requests end
  /mule      sends a message to mule 1 (mule.py writes it down)
  /spool     queues a spooler task (this module's spooler writes it down)

How /hold waits depends on the loop engine, named by $MODES_ENGINE:
  sync     time.sleep (preforked and threaded workers)
  gevent   gevent.sleep
  suspend  uwsgi.async_sleep + uwsgi.suspend (async cores with the ugreen or
           greenlet suspend engine; whole seconds only)
  asyncio  a greenlet switch back to the asyncio loop, resumed by call_later
  tornado  a greenlet switch back to the tornado IOLoop, resumed by call_later
"""

import os
import time

ENGINE = os.environ.get("MODES_ENGINE", "sync")
DIR = os.environ.get("MODES_DIR", "/tmp")
POLL = 0.02


def _sleep_sync(seconds):
    time.sleep(seconds)


def _sleep_gevent(seconds):
    import gevent

    gevent.sleep(seconds)


def _sleep_suspend(seconds):
    import math

    import uwsgi

    # uwsgi.async_sleep counts whole seconds: below 1 it sets no timer at all
    # and the suspended request would never resume.
    uwsgi.async_sleep(max(1, math.ceil(seconds)))
    uwsgi.suspend()


def _sleep_loop(call_later):
    def sleep(seconds):
        import greenlet

        me = greenlet.getcurrent()
        call_later(seconds, me.switch)
        me.parent.switch()  # back to the loop until the timer fires

    return sleep


def _asyncio_call_later(seconds, callback):
    import asyncio

    asyncio.get_event_loop().call_later(seconds, callback)


def _tornado_call_later(seconds, callback):
    import tornado.ioloop

    tornado.ioloop.IOLoop.current().call_later(seconds, callback)


SLEEP = {
    "sync": _sleep_sync,
    "gevent": _sleep_gevent,
    "suspend": _sleep_suspend,
    "asyncio": _sleep_loop(_asyncio_call_later),
    "tornado": _sleep_loop(_tornado_call_later),
}[ENGINE]


def spooler(env):
    """The spooler's task: write the task's name down."""
    import uwsgi

    with open(os.path.join(DIR, "spooled"), "ab") as f:
        f.write(env[b"task"] + b"\n")
    return uwsgi.SPOOL_OK


try:
    import uwsgi as _uwsgi

    _uwsgi.spooler = spooler
except ImportError:  # imported outside uWSGI
    pass


def application(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    method = environ["REQUEST_METHOD"]
    if path == "/raise":
        raise RuntimeError("the modes app raised on purpose")
    if path == "/raise/zero":
        return [str(len(path) // (len(path) - len(path))).encode()]
    if path == "/raise/key":
        return [environ["MODES_NO_SUCH_KEY"]]
    if path == "/missing":
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found\n"]
    if path == "/hold":
        release = os.path.join(DIR, environ.get("QUERY_STRING") or "release")
        deadline = time.monotonic() + 60
        while not os.path.exists(release):
            if time.monotonic() > deadline:
                start_response("504 Gateway Timeout", [("Content-Type", "text/plain")])
                return [b"never released\n"]
            SLEEP(POLL)
    if path == "/mule":
        import uwsgi

        uwsgi.mule_msg(environ.get("QUERY_STRING", "").encode() or b"message", 1)
    if path == "/spool":
        import uwsgi

        uwsgi.spool({b"task": environ.get("QUERY_STRING", "").encode() or b"task"})
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello from the modes app (%s, %s), %d bytes received\n" % (method.encode(), ENGINE.encode(), len(body))]
