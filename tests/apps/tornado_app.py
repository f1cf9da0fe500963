"""A native tornado.web.Application: coroutine handlers, statuses, bodies and a gate.

``/gate`` waits with ``await asyncio.sleep`` until the file named by GATE_FILE
exists, so many requests are in progress at once in one worker.
"""

import asyncio
import os

import tornado.web
from app import app as wsgi_app
from prometheus_client import Counter
from tornado.wsgi import WSGIContainer

TORNADO_EVENTS = Counter("tornado_app_events", "Events the Tornado test app counted.")


class Hello(tornado.web.RequestHandler):
    def get(self):
        self.write(b"hello")

    def post(self):
        TORNADO_EVENTS.inc()
        self.write(b"got " + self.request.body)


class Gate(tornado.web.RequestHandler):
    async def get(self):
        while not os.path.exists(os.environ["GATE_FILE"]):
            await asyncio.sleep(0.02)
        self.write(b"passed")


class Stream(tornado.web.RequestHandler):
    async def get(self):
        for _ in range(10):
            self.write(b"x" * 100)
            await self.flush()


class Fail(tornado.web.RequestHandler):
    def get(self):
        raise RuntimeError("raised by the Tornado test app")


app = tornado.web.Application(
    [(r"/", Hello), (r"/gate", Gate), (r"/stream", Stream), (r"/fail", Fail)],
)

# A WSGI app the application wrapped for Tornado itself.
container = WSGIContainer(wsgi_app)
