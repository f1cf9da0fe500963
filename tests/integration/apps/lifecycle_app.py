"""A WSGI app whose routes end, stall or grow the worker that serves them.

/exit?code=3   os._exit(3) without answering
/alloc?mb=100  allocates 100 MB, touches every page and keeps it (a global list)
/sleep?s=3     sleeps 3 seconds, then answers
/pid           answers with the worker's pid
anything else  a short 200
"""

import os
import time
from urllib.parse import parse_qs

KEPT = []


def _arg(environ, name, default):
    values = parse_qs(environ.get("QUERY_STRING", "")).get(name)
    return values[0] if values else default


def application(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    if path == "/exit":
        os._exit(int(_arg(environ, "code", "3")))
    if path == "/alloc":
        mb = int(_arg(environ, "mb", "100"))
        block = bytearray(mb * 1024 * 1024)
        for i in range(0, len(block), 4096):  # resident, not just reserved
            block[i] = 1
        KEPT.append(block)
    if path == "/sleep":
        time.sleep(float(_arg(environ, "s", "1")))
    body = b"%d\n" % os.getpid() if path == "/pid" else b"ok\n"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
