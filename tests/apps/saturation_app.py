"""A WSGI app whose routes hold workers busy, allocate memory, burn CPU or die, for the master-side tests."""

import os
import time
from pathlib import Path
from urllib.parse import parse_qs

HOLD_LIMIT = 120.0  # seconds a held request waits at most, so a failed test never hangs a worker
_held_memory = []


def _param(environ, name, default):
    values = parse_qs(environ.get("QUERY_STRING", "")).get(name)
    return type(default)(values[0]) if values else default


def _answer(start_response, body: bytes, status="200 OK"):
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def app(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    if path == "/hold":
        # Busy until the test creates the release file in SATURATION_HOLD_DIR.
        release = Path(os.environ["SATURATION_HOLD_DIR"]) / "release"
        deadline = time.monotonic() + HOLD_LIMIT
        while not release.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        return _answer(start_response, b"released")
    if path == "/alloc":
        # Written byte by byte, so every page is resident (a zeroed buffer may not be).
        _held_memory.append(b"\x01" * (_param(environ, "mb", 100) << 20))
        return _answer(start_response, str(os.getpid()).encode())
    if path == "/free":
        _held_memory.clear()
        return _answer(start_response, str(os.getpid()).encode())
    if path == "/burn":
        cpu_seconds = _param(environ, "s", 0.5)
        start = time.process_time()
        while time.process_time() - start < cpu_seconds:
            pass
        return _answer(start_response, str(os.getpid()).encode())
    if path == "/sleep":
        time.sleep(_param(environ, "s", 1.0))
    if path == "/exit":
        os._exit(1)
    if path == "/pid":
        return _answer(start_response, str(os.getpid()).encode())
    return _answer(start_response, b"ok")
