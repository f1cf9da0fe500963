"""Every worker type measured the same way: gevent, gthread, Tornado (WSGI and native) and ASGI.

The eventlet leg runs under another Gunicorn and lives in test_workers_eventlet.py.
Concurrency is measured with a gate: the apps' /gate requests wait (each in
its worker model's own way) until the test creates the gate file, so the
in-progress gauges can be read at an exact level.
"""

from __future__ import annotations

import concurrent.futures
import importlib.util
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from gunicorn import __version__ as GUNICORN_VERSION
from gunicorn import version_info as GUNICORN_VERSION_INFO
from harness import APPS, http_request, scrape, scrape_text, wait_until

PACKAGE = "gunicorn_prometheus_exporter"
OPTIONAL_LIBRARIES = ("gevent", "eventlet", "tornado", "uvicorn", "uvicorn_worker")


class Gate:
    """Many requests held in progress until ``open()``; then every answer is collected."""

    def __init__(self, server, path: str = "/gate"):
        self.server = server
        self.path = path
        self.file = Path(server.env["GATE_FILE"])
        self.pool = None
        self.futures = []

    def send(self, count: int) -> None:
        if self.pool is None:
            self.pool = concurrent.futures.ThreadPoolExecutor(64)
        port = self.server.port
        self.futures += [self.pool.submit(http_request, port, self.path, "GET", None, 120) for _ in range(count)]

    def open(self) -> dict[int, int]:
        self.file.touch()
        statuses: dict[int, int] = {}
        for future in self.futures:
            status, _ = future.result()
            statuses[status] = statuses.get(status, 0) + 1
        self.pool.shutdown()
        return statuses


def in_progress_reaches(server, level: int, timeout: float = 60.0):
    def reached():
        s = server.scrape()
        return s if s.value("gunicorn_requests_in_progress") == level else None

    return wait_until(reached, timeout, interval=0.1, message=f"{level} requests in progress")


def gated(gunicorn, tmp_path, **kwargs):
    env = {"GATE_FILE": str(tmp_path / "gate"), **kwargs.pop("env", {})}
    return gunicorn(env=env, **kwargs).start()


def hold(server, requests: int, level: int, stagger_first: bool = False):
    """Send ``requests`` gated requests and wait until ``level`` of them are in progress."""
    gate = Gate(server)
    if stagger_first:
        # A worker that runs one request at a time accepts no more until it is done:
        # hold the first worker busy so that the rest reach the other one.
        gate.send(1)
        in_progress_reaches(server, 1)
        gate.send(requests - 1)
    else:
        gate.send(requests)
    return gate, in_progress_reaches(server, level)


def assert_concurrency(server, concurrent_level: int, requests: int = 50, stagger_first: bool = False):
    """``requests`` slow requests: ``concurrent_level`` in progress during the load, none after, all counted."""
    gate, during = hold(server, requests, concurrent_level, stagger_first)
    assert sum(during.by_label("gunicorn_worker_busy", "worker").values()) == concurrent_level
    # Still exactly that many a moment later: nothing more was admitted than the model allows.
    time.sleep(1.0)
    assert server.scrape().value("gunicorn_requests_in_progress") == concurrent_level
    statuses = gate.open()
    assert statuses == {200: requests}
    after = wait_until(
        lambda: (s := server.scrape()).value("gunicorn_requests_total", method="GET", status="200") == requests and s,
        30,
        message="every request counted",
    )
    assert after.value("gunicorn_requests_in_progress") == 0
    assert set(after.by_label("gunicorn_worker_busy", "worker").values()) == {0}
    assert sum(after.by_label("gunicorn_worker_requests_total", "worker").values()) == requests
    assert after.value("gunicorn_request_duration_seconds_count", method="GET") == requests


# -- import and start-up ------------------------------------------------------


def test_importing_the_package_imports_no_optional_worker_library():
    code = (
        f"import sys, {PACKAGE} as p; p.PrometheusWorker; p.PrometheusThreadWorker; from {PACKAGE} import *; "
        f"print(sorted(m for m in {OPTIONAL_LIBRARIES!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize(
    "worker, library, extra",
    [
        ("PrometheusGeventWorker", "gevent", "gevent"),
        ("PrometheusTornadoWorker", "tornado", "tornado"),
        ("PrometheusUvicornWorker", "uvicorn_worker", "uvicorn"),
    ],
)
def test_a_worker_whose_library_is_missing_stops_startup_with_one_line_naming_the_extra(
    gunicorn, tmp_path, worker, library, extra
):
    # sitecustomize in tests/apps/hide makes the listed modules impossible to import.
    server = gunicorn(
        worker_class=f"{PACKAGE}.{worker}",
        env={"PYTHONPATH": str(APPS / "hide"), "HIDE_MODULES": library},
    )
    code, log = server.run_to_exit()
    assert code != 0
    lines = [line for line in log.splitlines() if worker in line]
    assert lines == [
        f'Error: {worker} needs {library}, which is not installed: pip install "gunicorn-prometheus-exporter[{extra}]"'
    ], log
    assert "Traceback" not in log and "Booting worker" not in log


@pytest.mark.skipif(GUNICORN_VERSION_INFO < (26,), reason="this Gunicorn still has its eventlet worker")
def test_eventlet_worker_on_gunicorn_without_one_stops_startup_with_one_line(gunicorn):
    server = gunicorn(worker_class=f"{PACKAGE}.PrometheusEventletWorker")
    code, log = server.run_to_exit()
    assert code != 0
    lines = [line for line in log.splitlines() if "PrometheusEventletWorker" in line]
    assert len(lines) == 1, log
    assert f"Gunicorn {GUNICORN_VERSION}" in lines[0] and "PrometheusGeventWorker" in lines[0], lines[0]
    assert "Traceback" not in log and "Booting worker" not in log


# -- gevent -------------------------------------------------------------------


def assert_mixed_traffic_counted_exactly(server) -> None:
    """Send 450 requests of five kinds; every figure must equal what the clients received."""
    assert server.send(400, concurrency=16) == {200: 400}
    assert server.send(20, "/event", concurrency=8) == {200: 20}
    assert server.send(10, "/missing", concurrency=4) == {404: 10}
    assert server.send(10, "/raise", concurrency=4) == {500: 10}
    assert server.send(10, "/", method="POST", body=b"x" * 200, concurrency=4) == {200: 10}
    s = server.scrape()
    assert s.value("gunicorn_requests_total", method="GET", status="200") == 420
    assert s.value("gunicorn_requests_total", method="GET", status="404") == 10
    assert s.value("gunicorn_requests_total", method="GET", status="500") == 10
    assert s.value("gunicorn_requests_total", method="POST", status="200") == 10
    assert s.value("gunicorn_request_exceptions_total", exception="AppError") == 10
    assert s.value("gunicorn_request_size_bytes_bucket", le="1000.0") == 450
    assert s.value("gunicorn_request_size_bytes_sum") == 2000
    assert sum(s.by_label("gunicorn_worker_requests_total", "worker").values()) == 450
    assert s.value("app_events_total", kind="event") == 20
    assert s.value("gunicorn_requests_in_progress") == 0


def test_gevent_counts_every_request_and_the_apps_own_metrics_exactly(gunicorn):
    assert_mixed_traffic_counted_exactly(gunicorn(worker_class=f"{PACKAGE}.PrometheusGeventWorker").start())


def test_gevent_50_concurrent_requests_are_all_in_progress_at_once(gunicorn, tmp_path):
    server = gated(gunicorn, tmp_path, app="gate_app:app", worker_class=f"{PACKAGE}.PrometheusGeventWorker")
    assert_concurrency(server, 50)


# -- gthread ------------------------------------------------------------------


def test_gthread_2_workers_of_4_threads_have_8_requests_in_progress(gunicorn, tmp_path):
    # Each worker holds at most 8 connections, so neither can take all 50 and leave the other idle.
    server = gated(
        gunicorn,
        tmp_path,
        app="gate_app:app",
        worker_class=f"{PACKAGE}.PrometheusThreadWorker",
        args=["--threads", "4", "--worker-connections", "8"],
    )
    assert_concurrency(server, 8)


# -- Tornado ------------------------------------------------------------------

TORNADO = f"{PACKAGE}.PrometheusTornadoWorker"


def test_tornado_native_application_records_every_request(gunicorn):
    server = gunicorn(app="tornado_app:app", worker_class=TORNADO).start()
    assert server.send(200, concurrency=8) == {200: 200}
    assert server.send(10, "/nowhere", concurrency=4) == {404: 10}
    assert server.send(10, "/fail", concurrency=4) == {500: 10}
    assert server.send(10, "/stream", concurrency=4) == {200: 10}
    assert server.send(10, "/", method="POST", body=b"y" * 300, concurrency=4) == {200: 10}
    assert server.send(5, method="DELETE") == {405: 5}
    s = server.scrape()
    assert s.value("gunicorn_requests_total", method="GET", status="200") == 210
    assert s.value("gunicorn_requests_total", method="GET", status="404") == 10
    assert s.value("gunicorn_requests_total", method="GET", status="500") == 10
    assert s.value("gunicorn_requests_total", method="POST", status="200") == 10
    assert s.value("gunicorn_requests_total", method="DELETE", status="405") == 5
    assert s.value("gunicorn_request_size_bytes_sum") == 3000
    # Bodies: 200 x "hello" (5) + 10 x "got " + 300 bytes + 10 streamed x 1000, plus Tornado's error pages.
    response_sum = s.value("gunicorn_response_size_bytes_sum")
    assert response_sum >= 200 * 5 + 10 * 304 + 10 * 1000
    # Cumulative buckets: everything but the POST echoes and streams is under 100 bytes.
    assert s.value("gunicorn_response_size_bytes_bucket", le="100.0") == 225
    assert s.value("gunicorn_response_size_bytes_bucket", le="1000.0") == 245
    assert sum(s.by_label("gunicorn_worker_requests_total", "worker").values()) == 245
    assert s.value("tornado_app_events_total") == 10
    assert s.value("gunicorn_requests_in_progress") == 0


def test_tornado_wsgi_application_records_every_request(gunicorn):
    # No /raise here: Tornado's WSGIContainer never answers a request whose app raised.
    server = gunicorn(worker_class=TORNADO).start()
    assert server.send(200, concurrency=8) == {200: 200}
    assert server.send(10, "/missing", concurrency=4) == {404: 10}
    assert server.send(10, "/error", concurrency=4) == {500: 10}
    assert server.send(10, "/stream", concurrency=4) == {200: 10}
    assert server.send(10, "/event", concurrency=4) == {200: 10}
    assert server.send(10, "/", method="POST", body=b"w" * 150, concurrency=4) == {200: 10}
    s = server.scrape()
    assert s.value("gunicorn_requests_total", method="GET", status="200") == 220
    assert s.value("gunicorn_requests_total", method="GET", status="404") == 10
    assert s.value("gunicorn_requests_total", method="GET", status="500") == 10
    assert s.value("gunicorn_requests_total", method="POST", status="200") == 10
    assert s.value("gunicorn_request_size_bytes_sum") == 1500
    assert s.value("gunicorn_response_size_bytes_bucket", le="100.0") == 230
    assert s.value("gunicorn_response_size_bytes_bucket", le="1000.0") == 250
    assert s.value("gunicorn_response_size_bytes_sum") == 6 * 210 + 9 * 10 + 5 * 10 + 1000 * 10 + 156 * 10
    assert s.value("app_events_total", kind="event") == 10
    assert sum(s.by_label("gunicorn_worker_requests_total", "worker").values()) == 250


def test_tornado_native_request_abandoned_mid_body_leaves_nothing_in_progress(gunicorn):
    server = gunicorn(app="tornado_app:app", worker_class=TORNADO, workers=1).start()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
        conn.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + b"a" * 10)
        in_progress_reaches(server, 1)
    # Nothing was answered: the server's own rule for that is a 500.
    s = wait_until(
        lambda: (x := server.scrape()).total("gunicorn_requests_total", method="POST", status="500") == 1 and x,
        30,
        message="the abandoned request recorded",
    )
    assert s.value("gunicorn_requests_in_progress") == 0
    assert server.send(5) == {200: 5}


def test_tornado_wsgi_container_built_by_the_app_records_every_request(gunicorn):
    server = gunicorn(app="tornado_app:container", worker_class=TORNADO).start()
    assert server.send(50, concurrency=8) == {200: 50}
    assert server.send(10, "/missing", concurrency=4) == {404: 10}
    s = server.scrape()
    assert s.value("gunicorn_requests_total", method="GET", status="200") == 50
    assert s.value("gunicorn_requests_total", method="GET", status="404") == 10
    assert s.value("gunicorn_response_size_bytes_sum") == 6 * 50 + 9 * 10
    assert s.value("gunicorn_requests_in_progress") == 0


def test_tornado_native_coroutines_have_50_requests_in_progress(gunicorn, tmp_path):
    server = gated(gunicorn, tmp_path, app="tornado_app:app", worker_class=TORNADO)
    assert_concurrency(server, 50)


def test_tornado_wsgi_runs_one_request_per_worker_at_a_time(gunicorn, tmp_path):
    server = gated(gunicorn, tmp_path, app="gate_app:app", worker_class=TORNADO)
    assert_concurrency(server, 2, stagger_first=True)


@pytest.mark.parametrize("app", ["tornado_app:app", "gate_app:app"])
def test_tornado_metrics_answer_100_scrapes_within_a_second_under_50_requests(gunicorn, tmp_path, app):
    server = gated(gunicorn, tmp_path, app=app, worker_class=TORNADO)
    native = app.startswith("tornado")
    gate, _ = hold(server, 50, 50 if native else 2, stagger_first=not native)
    slowest = 0.0
    for _ in range(100):
        began = time.monotonic()
        text = scrape_text(server.metrics_port, timeout=1.0)
        slowest = max(slowest, time.monotonic() - began)
        assert "gunicorn_requests_in_progress" in text
    assert slowest < 1.0
    assert gate.open() == {200: 50}
    assert wait_until(
        lambda: scrape(server.metrics_port).value("gunicorn_requests_total", method="GET", status="200") == 50, 30
    )


# -- ASGI -----------------------------------------------------------------------

ASGI_WORKERS = [f"{PACKAGE}.PrometheusUvicornWorker"]
if importlib.util.find_spec("gunicorn.workers.gasgi") is not None:  # Gunicorn's own ASGI worker
    ASGI_WORKERS.insert(0, f"{PACKAGE}.PrometheusASGIWorker")


@pytest.mark.parametrize("worker_class", ASGI_WORKERS)
def test_asgi_requests_are_measured_at_the_asgi_level(gunicorn, worker_class):
    server = gunicorn(app="asgi_app:app", worker_class=worker_class).start()
    assert server.send(200, concurrency=8) == {200: 200}
    assert server.send(10, "/missing", concurrency=4) == {404: 10}
    assert server.send(10, "/raise", concurrency=4) == {500: 10}
    assert server.send(10, "/stream", concurrency=4) == {200: 10}
    assert server.send(10, "/event", concurrency=4) == {200: 10}
    assert server.send(10, "/", method="POST", body=b"z" * 400, concurrency=4) == {200: 10}
    assert server.send(5, method="PURGE") == {200: 5}
    s = server.scrape()
    assert s.value("gunicorn_requests_total", method="GET", status="200") == 220
    assert s.value("gunicorn_requests_total", method="GET", status="404") == 10
    assert s.value("gunicorn_requests_total", method="GET", status="500") == 10
    assert s.value("gunicorn_requests_total", method="POST", status="200") == 10
    assert s.value("gunicorn_requests_total", method="OTHER", status="200") == 5
    assert s.value("gunicorn_request_exceptions_total", exception="AppError") == 10
    assert s.value("gunicorn_request_size_bytes_sum") == 4000
    # "hello " (6) x 215, "not found" (9) x 10, 1000 streamed x 10, "hello " + 400 x 10; nothing for /raise.
    assert s.value("gunicorn_response_size_bytes_sum") == 6 * 215 + 9 * 10 + 1000 * 10 + 406 * 10
    assert s.value("gunicorn_response_size_bytes_bucket", le="100.0") == 235
    assert s.value("gunicorn_response_size_bytes_bucket", le="1000.0") == 255
    assert s.value("gunicorn_request_duration_seconds_count", method="GET") == 240
    assert sum(s.by_label("gunicorn_worker_requests_total", "worker").values()) == 255
    assert s.value("asgi_app_events_total") == 10
    assert s.value("gunicorn_requests_in_progress") == 0


@pytest.mark.parametrize("worker_class", ASGI_WORKERS)
def test_asgi_50_concurrent_requests_are_all_in_progress_at_once(gunicorn, tmp_path, worker_class):
    server = gated(gunicorn, tmp_path, app="asgi_app:app", worker_class=worker_class)
    assert_concurrency(server, 50)
