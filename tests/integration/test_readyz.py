"""/readyz: 200 while the server can take work, 503 when it cannot.

Saturation is made for real: two workers, an app that sleeps, and more
concurrent requests than workers, so that the listen queue holds the rest.
The reload window is a SIGHUP while a request still runs (the master waits
for it), and "no app" is uWSGI going on without one.
"""

from __future__ import annotations

import os
import signal
import threading

import pytest
import requests

from conftest import Server, start, wait_for

SLEEP = 3.0  # seconds each held request sleeps: longer than a master cycle or two

OK_IDLE = "ok: 0 of 2 workers busy, 0 connections waiting\n"


def readyz(s: Server, port: int | None = None) -> tuple[int, str]:
    r = requests.get(f"http://127.0.0.1:{port or s.metrics_port}/readyz", timeout=5)
    assert r.headers["Content-Type"] == "text/plain; charset=utf-8"
    return r.status_code, r.text


def wait_readyz(s: Server, status: int, text: str, timeout: float = 10.0) -> None:
    """Until /readyz answers exactly this (the master decides once a cycle)."""

    def seen():
        try:
            return readyz(s) == (status, text)
        except requests.ConnectionError:
            return False  # a reload's re-exec: the port is closed for a moment

    wait_for(seen, timeout, interval=0.05, what=f"/readyz {status} {text!r}")


def hold(s: Server, count: int) -> tuple[list[threading.Thread], list[int]]:
    """`count` concurrent requests that each sleep SLEEP seconds; their
    statuses land in the list as they end."""
    statuses: list[int] = []

    def one():
        statuses.append(requests.get(s.url(f"/sleep?s={SLEEP}"), timeout=60).status_code)

    threads = [threading.Thread(target=one) for _ in range(count)]
    for t in threads:
        t.start()
    return threads, statuses


def drain(threads: list[threading.Thread], statuses: list[int]) -> None:
    for t in threads:
        t.join(60)
    assert statuses == [200] * len(threads)


@pytest.mark.slow
def test_saturated_503_then_drained_200(build, server_factory):
    s = start(server_factory(build, "--processes", "2", "--route", "^/readyz$ gpx-readyz:"), 2)
    wait_readyz(s, 200, OK_IDLE)
    # The routing action answers the same on the app's port.
    assert readyz(s, port=s.app_port) == (200, OK_IDLE)

    threads, statuses = hold(s, 4)  # 2 in the workers, 2 in the listen queue
    wait_readyz(s, 503, "not ready: 2 of 2 workers busy and 2 connections waiting (more than 0)\n")
    r = requests.get(f"http://127.0.0.1:{s.metrics_port}/healthz", timeout=5)
    assert (r.status_code, r.text) == (200, "ok\n")  # alive all the same
    drain(threads, statuses)
    wait_readyz(s, 200, OK_IDLE, timeout=5)


@pytest.mark.slow
def test_thresholds_and_saturation_off(build, server_factory):
    tolerant = start(server_factory(build, "--processes", "2", "--gpx-readyz-queue", "2"), 2)
    early = start(server_factory(build, "--processes", "2", "--gpx-readyz-busy-percent", "50"), 2)
    off = start(server_factory(build, "--processes", "2", "--gpx-readyz-saturation", "false"), 2)
    for s in (tolerant, early, off):
        wait_readyz(s, 200, OK_IDLE)

    held = [hold(tolerant, 4), hold(early, 1), hold(off, 4)]
    # 2 waiting is not more than 2; one more is.
    wait_readyz(tolerant, 200, "ok: 2 of 2 workers busy, 2 connections waiting\n")
    held.append(hold(tolerant, 1))
    wait_readyz(tolerant, 503, "not ready: 2 of 2 workers busy and 3 connections waiting (more than 2)\n")
    # Half the workers busy, nothing waiting: out before anything queues.
    wait_readyz(early, 503, "not ready: 1 of 2 workers busy (at least 50%)\n")
    # Saturation not judged: ready, and says how full it is.
    wait_readyz(off, 200, "ok: 2 of 2 workers busy, 2 connections waiting\n")
    for threads, statuses in held:
        drain(threads, statuses)
    for s in (tolerant, early, off):
        wait_readyz(s, 200, OK_IDLE, timeout=5)


def test_reload_window_503(build, server_factory):
    s = start(server_factory(build, "--processes", "2"), 2)
    wait_readyz(s, 200, OK_IDLE)
    threads, statuses = hold(s, 1)  # the graceful reload waits for it
    wait_for(lambda: s.scrape().value("gunicorn_workers", state="busy") == 1, 5, what="the request running")
    s.signal(signal.SIGHUP)
    wait_readyz(s, 503, "not ready: the server is reloading\n", timeout=5)
    drain(threads, statuses)
    wait_readyz(s, 200, OK_IDLE, timeout=20)


def test_no_app_503(build, server_factory, tmp_path):
    broken = tmp_path / "broken_app.py"
    broken.write_text("raise ImportError('this app does not load')\n")
    s = server_factory(build, "--processes", "2", "--route", "^/readyz$ gpx-readyz:", with_app=False)
    s.cmd += ["--http-socket", f"127.0.0.1:{s.app_port}", "--wsgi-file", str(broken)]
    s.start(wait=False)
    # uWSGI goes on without the app (no need-app): alive, not ready.
    wait_for(lambda: requests.get(f"http://127.0.0.1:{s.metrics_port}/healthz", timeout=2).ok, 20,
             what="the metrics port")
    wait_readyz(s, 503, "not ready: no application is loaded\n")
    assert "no app loaded. going in full dynamic mode" in s.output()
    # The routing action runs before uWSGI looks for an app: it says so too.
    assert readyz(s, port=s.app_port) == (503, "not ready: no application is loaded\n")
    assert requests.get(s.url("/"), timeout=5).status_code in (500, 404)  # what uWSGI answers without an app


def test_stop_window_503(build, server_factory):
    s = start(server_factory(build, "--processes", "2"), 2)
    wait_readyz(s, 200, OK_IDLE)
    # A stopped worker cannot end: the master's shutdown waits for it.
    held = s.worker_pids()[0]
    os.kill(held, signal.SIGSTOP)
    try:
        s.signal(signal.SIGTERM)  # --die-on-term: shut down
        wait_readyz(s, 503, "not ready: the server is stopping\n", timeout=5)
    finally:
        os.kill(held, signal.SIGCONT)
    assert s.proc.wait(20) is not None


def test_lazy_apps_ready_once_loaded(build, server_factory):
    s = start(server_factory(build, "--processes", "2", "--lazy-apps"), 2)
    wait_readyz(s, 200, OK_IDLE)


def test_threads_busy_only_when_every_thread_is(build, server_factory):
    s = start(server_factory(build, "--processes", "1", "--threads", "2"), 1)
    wait_readyz(s, 200, "ok: 0 of 1 workers busy, 0 connections waiting\n")
    held = [hold(s, 1)]
    wait_for(lambda: s.scrape().value("gunicorn_workers", state="busy") == 1, 5, what="one thread in a request")
    # One thread of two busy: the worker still takes a connection.
    wait_readyz(s, 200, "ok: 0 of 1 workers busy, 0 connections waiting\n")
    held.append(hold(s, 2))  # the second thread, and one waiting
    wait_readyz(s, 503, "not ready: 1 of 1 workers busy and 1 connections waiting (more than 0)\n")
    for threads, statuses in held:
        drain(threads, statuses)
