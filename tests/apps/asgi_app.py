"""A plain ASGI 3 application (no framework): routes that drive every measured outcome.

``/gate`` waits with ``await asyncio.sleep`` until the file named by GATE_FILE
exists, so many requests are in progress at once in one worker.
"""

import asyncio
import os

from prometheus_client import Counter

ASGI_EVENTS = Counter("asgi_app_events", "Events the ASGI test app counted.")


class AppError(Exception):
    pass


async def read_body(receive) -> bytes:
    body = b""
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return body
        body += message.get("body", b"")
        if not message.get("more_body", False):
            return body


async def respond(send, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})


async def lifespan(receive, send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        return await lifespan(receive, send)
    path = scope["path"]
    if path == "/gate":
        while not os.path.exists(os.environ["GATE_FILE"]):
            await asyncio.sleep(0.02)
    elif path == "/missing":
        return await respond(send, 404, b"not found")
    elif path == "/raise":
        raise AppError("raised by the ASGI test app")
    elif path == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        for _ in range(9):
            await send({"type": "http.response.body", "body": b"x" * 100, "more_body": True})
        await send({"type": "http.response.body", "body": b"x" * 100})
        return
    elif path == "/event":
        ASGI_EVENTS.inc()
    body = await read_body(receive)
    await respond(send, 200, b"hello " + body)
