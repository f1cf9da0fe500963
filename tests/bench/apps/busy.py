"""An app whose requests take a while: BUSY_MS of CPU (default 5) or, with
BUSY_SLEEP=1, BUSY_MS of sleeping. Used to keep every worker busy while
the metrics endpoint is scraped."""

import os
import time

BUSY_SECONDS = float(os.environ.get("BUSY_MS", "5")) / 1000
SLEEP = os.environ.get("BUSY_SLEEP", "0") == "1"


def application(environ, start_response):
    if SLEEP:
        time.sleep(BUSY_SECONDS)
    else:
        end = time.thread_time() + BUSY_SECONDS
        while time.thread_time() < end:
            pass
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
    return [b"done\n"]
