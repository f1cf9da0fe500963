"""The metrics port under attack: silent and half-sent connections, a
megabyte of garbage, a huge header, a huge URL.

While they are held, a normal scrape answers in under a second with the
exact request count, the app keeps serving (every request sent meanwhile is
counted), and the master and its workers stay the same processes with no
crash in the log. The endpoint closes a connection idle for its timeout
(10 s) and serves 1024 connections at once (half the master's descriptor
limit if that is lower); at the limit a new connection closes the oldest
idle one (test_endpoint_stalls.py and test_hostile_clients.py test that).
"""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest
import requests

from conftest import Server, lines_with, probes, start, wait_for

SILENT = 200
HALF_SENT = (
    b"GET /metr",  # half a request line
    b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/plain",  # headers never ended
    b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n",  # no empty line
)
HALF_SENT_EACH = 10
IDLE_TIMEOUT = 10  # the endpoint's connection timeout, seconds
CRASH_WORDS = ("DAMN ! worker", "Segmentation", "segmentation fault", "SIGSEGV", "Aborted", "core dumped",
               "!!! uWSGI process")


def demo_server(server_factory, build, workers=2) -> Server:
    return start(server_factory(build, "--processes", str(workers), "--threads", "2"), workers)


def connect(s: Server) -> socket.socket:
    c = socket.create_connection(("127.0.0.1", s.metrics_port), timeout=5)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return c


def still_open(c: socket.socket) -> bool:
    """The server still holds it unanswered: nothing to read, no EOF, no reset."""
    c.setblocking(False)
    try:
        c.recv(1, socket.MSG_PEEK)
        return False  # an answer or EOF
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        c.setblocking(True)


class Flood(threading.Thread):
    """Sends `payload` on its own connection and records what came back."""

    def __init__(self, s: Server, payload: bytes):
        super().__init__(daemon=True)
        self.s, self.payload, self.answer, self.error = s, payload, b"", None

    def run(self):
        try:
            with connect(self.s) as c:
                c.settimeout(IDLE_TIMEOUT + 5)
                try:
                    c.sendall(self.payload)
                except OSError as exc:  # the server stopped reading and closed
                    self.error = exc
                try:
                    while chunk := c.recv(65536):
                        self.answer += chunk
                except OSError as exc:
                    self.error = self.error or exc
        except OSError as exc:
            self.error = exc

    def status(self) -> int | None:
        head = self.answer.split(b"\r\n", 1)[0].split()
        return int(head[1]) if len(head) >= 2 and head[0].startswith(b"HTTP/") else None


def crashes(s: Server) -> list[str]:
    return [line for word in CRASH_WORDS for line in lines_with(s, word)]


def test_attack_leaves_scrape_app_and_master_healthy(build, server_factory):
    s = demo_server(server_factory, build)
    base = probes(s)
    master, workers = s.master_pid, sorted(s.worker_pids())

    held = [connect(s) for _ in range(SILENT)]
    for payload in HALF_SENT:
        for _ in range(HALF_SENT_EACH):
            c = connect(s)
            c.sendall(payload)
            held.append(c)
    garbage = Flood(s, os.urandom(1024 * 1024))
    huge_header = Flood(s, b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Fill: " + b"a" * (256 * 1024) + b"\r\n\r\n")
    long_url = Flood(s, b"GET /" + b"a" * (128 * 1024) + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    floods = (garbage, huge_header, long_url)
    for f in floods:
        f.start()
    try:
        # The app serves meanwhile, and every request is counted.
        sent = 60
        for i in range(sent):
            r = requests.get(s.url("/" if i % 2 else "/missing"), timeout=5)
            assert r.status_code == (200 if i % 2 else 404)
        s.wait_requests(base + sent)

        started = time.monotonic()
        r = requests.get(s.metrics_url, timeout=5)
        elapsed = time.monotonic() - started
        r.raise_for_status()
        # generous: a scrape stuck behind the attack waits for the idle timeout
        assert elapsed < IDLE_TIMEOUT / 4, f"a scrape took {elapsed:.3f} s under attack"
        assert s.requests_total() == base + sent

        # The attack was in force: every silent and half-sent connection is
        # still held by the server.
        assert sum(still_open(c) for c in held) == len(held)
        # No oversized request was served: the garbage connection is closed
        # without an answer (or a 400), the others refused by status.
        for f in floods:
            f.join(IDLE_TIMEOUT + 10)
        assert garbage.status() in (None, 400)
        assert huge_header.status() == 431
        assert long_url.status() == 414
    finally:
        for c in held:
            c.close()

    assert s.proc.poll() is None
    assert s.master_pid == master
    assert sorted(s.worker_pids()) == workers
    assert requests.get(s.url("/"), timeout=5).status_code == 200
    s.wait_requests(base + sent + 1)
    assert crashes(s) == []


@pytest.mark.slow
def test_a_silent_connection_is_closed_after_the_timeout(build, server_factory):
    s = demo_server(server_factory, build, workers=1)
    with connect(s) as silent, connect(s) as half:
        half.sendall(HALF_SENT[1])
        opened = time.monotonic()
        for c in (silent, half):
            c.settimeout(IDLE_TIMEOUT + 5)
            assert c.recv(1) == b""
        closed_after = time.monotonic() - opened
    assert IDLE_TIMEOUT - 1 <= closed_after <= IDLE_TIMEOUT + 3
    assert crashes(s) == []


def test_a_scraper_answers_beyond_the_connection_limit(build, server_factory):
    s = demo_server(server_factory, build, workers=1)
    held = [connect(s) for _ in range(300)]
    try:
        started = time.monotonic()
        requests.get(s.metrics_url, timeout=IDLE_TIMEOUT).raise_for_status()
        # generous: a scraper stuck in the listen queue waits for the idle timeout
        assert time.monotonic() - started < IDLE_TIMEOUT / 4
    finally:
        for c in held:
            c.close()
    wait_for(lambda: s.proc.poll() is None and requests.get(s.metrics_url, timeout=5).ok)
