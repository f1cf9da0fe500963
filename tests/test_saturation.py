"""Saturation, resources and the exporter's own figures, read by the master: real Gunicorn, real sockets."""

import http.client
import os
import platform
import random
import shutil
import signal
import socket
import string
import subprocess
import threading

import gunicorn as gunicorn_package
import psutil
import pytest
from harness import wait_until
from redis_support import redis_env, redis_prefix_fixture, redis_prefixes_fixture  # noqa: F401 - fixtures

import gunicorn_prometheus_exporter

SYNC = "gunicorn_prometheus_exporter.PrometheusWorker"
THREAD = "gunicorn_prometheus_exporter.PrometheusThreadWorker"
MB = 1 << 20


class Holds:
    """Requests to /hold that keep workers busy until released."""

    def __init__(self, server, directory):
        self.server = server
        self.release_file = directory / "release"
        self.threads = []
        self.statuses = []

    def start(self, count: int) -> None:
        for _ in range(count):
            thread = threading.Thread(target=lambda: self.statuses.append(self.server.request("/hold")[0]))
            thread.start()
            self.threads.append(thread)

    def release(self) -> list[int]:
        self.release_file.touch()
        for thread in self.threads:
            thread.join(60)
        return self.statuses


@pytest.fixture
def saturation(gunicorn, tmp_path):
    """Factory for servers running the saturation app; returns (server, holds)."""
    hold_dir = tmp_path / "hold"
    hold_dir.mkdir()
    made = []

    def make(**kwargs):
        env = {"SATURATION_HOLD_DIR": str(hold_dir), **kwargs.pop("env", {})}
        server = gunicorn(app="saturation_app:app", env=env, **kwargs).start()
        server.wait_workers(kwargs.get("workers", 2))  # the master forks them one by one
        holds = Holds(server, hold_dir)
        made.append(holds)
        return server, holds

    yield make
    for holds in made:
        holds.release_file.touch()  # never leave a worker held for HOLD_LIMIT


def workers_by_state(s):
    return s.value("gunicorn_workers", state="busy"), s.value("gunicorn_workers", state="idle")


def in_progress_is(server, count):
    return server.scrape().value("gunicorn_requests_in_progress") == count


def test_busy_and_idle_workers_and_the_desired_count_follow_requests_and_ttin(saturation):
    server, holds = saturation(workers=4)
    s = server.scrape()
    assert workers_by_state(s) == (0, 4)
    assert s.value("gunicorn_workers_desired") == 4

    holds.start(3)
    # The app has started all three (its in-progress figure says so): one scrape must already be right.
    wait_until(lambda: in_progress_is(server, 3), message="3 requests in progress")
    s = server.scrape()
    assert workers_by_state(s) == (3, 1)
    assert sorted(s.by_label("gunicorn_worker_busy", "worker").values()) == [0, 1, 1, 1]

    assert holds.release() == [200, 200, 200]
    wait_until(lambda: in_progress_is(server, 0), message="requests done")
    assert workers_by_state(server.scrape()) == (0, 4)

    server.send_signal(signal.SIGTTIN)
    server.wait_workers(5)
    s = server.scrape()
    assert s.value("gunicorn_workers_desired") == 5
    assert sum(workers_by_state(s)) == 5
    assert s.value("gunicorn_master_signals_total", signal="ttin") == 1

    server.send_signal(signal.SIGTTOU)
    wait_until(lambda: server.scrape().value("gunicorn_workers_desired") == 4, message="desired 4")
    server.wait_workers(4)
    wait_until(lambda: sum(workers_by_state(server.scrape())) == 4, message="4 live workers")


def test_listen_backlog_counts_connections_waiting_for_a_worker(saturation):
    server, holds = saturation(workers=2)
    listener = f"http://127.0.0.1:{server.port}"
    s = server.scrape()
    assert s.value("gunicorn_listen_backlog", listener=listener) == 0
    with open("/proc/sys/net/core/somaxconn") as f:
        expected_limit = min(2048, int(f.read()))  # Gunicorn's default backlog, capped by the kernel
    assert s.value("gunicorn_listen_backlog_limit", listener=listener) == expected_limit

    holds.start(2)
    wait_until(lambda: in_progress_is(server, 2), message="both workers held")
    waiting = []
    try:
        for _ in range(20):
            client = socket.create_connection(("127.0.0.1", server.port), timeout=60)
            client.sendall(b"GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
            waiting.append(client)

        def backlog():
            return server.scrape().value("gunicorn_listen_backlog", listener=listener)

        wait_until(lambda: abs(backlog() - 20) <= 2, message="a backlog of about 20")
        assert backlog() == 20

        assert holds.release() == [200, 200]
        for client in waiting:
            assert _read_all(client).startswith(b"HTTP/1.1 200")
            client.close()  # Gunicorn waits for the client's close before it takes the next connection
    finally:
        for client in waiting:
            client.close()
    wait_until(lambda: backlog() == 0, message="an empty backlog")
    assert server.scrape().value("gunicorn_requests_total", method="GET", status="200") == 22


def _read_all(client) -> bytes:
    chunks = []
    while chunk := client.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_worker_memory_follows_a_100_mb_allocation(saturation):
    server, _ = saturation(workers=1)
    before = server.scrape().value("gunicorn_worker_memory_bytes", worker="0")
    status, pid = server.request("/alloc?mb=100")
    assert status == 200
    after = server.scrape().value("gunicorn_worker_memory_bytes", worker="0")
    assert after - before >= 100 * MB
    assert after == pytest.approx(psutil.Process(int(pid)).memory_info().rss, rel=0.05)

    assert server.request("/free")[0] == 200
    wait_until(
        lambda: server.scrape().value("gunicorn_worker_memory_bytes", worker="0") < before + 50 * MB,
        message="memory given back",
    )


def test_worker_cpu_time_and_start_time_are_the_slot_process_figures(saturation):
    server, _ = saturation(workers=1)
    s = server.scrape()
    pid = int(server.request("/pid")[1])
    started = psutil.Process(pid).create_time()
    assert s.value("gunicorn_worker_start_time_seconds", worker="0") == pytest.approx(started, abs=0.01)
    cpu_before = s.value("gunicorn_worker_cpu_seconds_total", worker="0")
    assert server.request("/burn?s=0.5")[0] == 200
    cpu_after = server.scrape().value("gunicorn_worker_cpu_seconds_total", worker="0")
    assert cpu_after >= cpu_before + 0.45  # the kernel accounts CPU time in clock ticks

    # The slot's next process: a later start time, and CPU time that continues instead of dropping.
    os.kill(pid, signal.SIGKILL)
    (new_pid,) = server.wait_workers(1, exclude=[pid])
    s = wait_until(lambda: _scrape_showing_start_of(server, new_pid), message="the new process's start time")
    assert s.value("gunicorn_worker_start_time_seconds", worker="0") > started
    assert s.value("gunicorn_worker_cpu_seconds_total", worker="0") >= cpu_after


def _scrape_showing_start_of(server, pid):
    s = server.scrape()
    started = psutil.Process(pid).create_time()
    if s.has("gunicorn_worker_start_time_seconds", worker="0") and s.value(
        "gunicorn_worker_start_time_seconds", worker="0"
    ) == pytest.approx(started, abs=0.01):
        return s
    return None


def test_cpu_time_of_a_recycled_worker_is_kept_though_never_scraped_alive(saturation):
    server, _ = saturation(workers=1, args=["--max-requests", "2"])
    first = server.worker_pids()[0]
    # Two requests, no scrape in between: the worker leaves its CPU time in its exit note.
    assert server.request("/burn?s=0.3")[0] == 200
    assert server.request("/burn?s=0.3")[0] == 200
    server.wait_workers(1, exclude=[first])
    wait_until(
        lambda: server.scrape().value("gunicorn_worker_restarts_total", reason="max_requests") == 1,
        message="the recycled worker reaped",
    )
    assert server.scrape().value("gunicorn_worker_cpu_seconds_total", worker="0") >= 0.55


def storage_env(storage, request) -> dict:
    if storage == "redis":
        return redis_env(request.getfixturevalue("redis_prefix"))
    return {}


@pytest.mark.parametrize("storage", ["files", "redis"])
def test_master_and_exporter_figures_are_present_and_true(saturation, storage, request):
    server, _ = saturation(workers=2, env=storage_env(storage, request))
    s = server.scrape()
    master = psutil.Process(server.process.pid)
    assert s.value("gunicorn_master_start_time_seconds") == pytest.approx(master.create_time(), abs=0.01)
    info = s.matching("gunicorn_exporter_build_info")
    assert len(info) == 1 and info[0].value == 1
    assert info[0].labels == {
        "version": gunicorn_prometheus_exporter.__version__,
        "gunicorn_version": gunicorn_package.__version__,
        "python_version": platform.python_version(),
        "worker_class": SYNC,
        "storage": storage,
    }
    duration = s.value("gunicorn_exporter_scrape_duration_seconds")
    assert 0 < duration < 5
    assert s.value("gunicorn_exporter_storage_up") == 1
    assert "gunicorn_exporter_storage_errors" in s.families
    assert s.total("gunicorn_exporter_storage_errors_total") == 0


@pytest.mark.parametrize("storage", ["files", "redis"])
def test_master_side_metrics_pass_promtool(saturation, storage, request):
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool not installed: the test script installs Debian's prometheus package")
    server, _ = saturation(workers=2, args=["--max-requests", "5"], env=storage_env(storage, request))
    server.send(12)
    server.send_signal(signal.SIGTTIN)
    server.wait_workers(3)
    wait_until(lambda: server.scrape().value("gunicorn_worker_restarts_total", reason="max_requests") >= 1)
    text = server.scrape_text()
    for name in (
        "gunicorn_workers",
        "gunicorn_workers_desired",
        "gunicorn_worker_restarts_total",
        "gunicorn_master_signals_total",
        "gunicorn_listen_backlog",
        "gunicorn_listen_backlog_limit",
        "gunicorn_worker_memory_bytes",
        "gunicorn_worker_cpu_seconds_total",
        "gunicorn_worker_start_time_seconds",
        "gunicorn_master_start_time_seconds",
        "gunicorn_exporter_build_info",
        "gunicorn_exporter_scrape_duration_seconds",
        "gunicorn_exporter_storage_up",
        "gunicorn_exporter_storage_errors_total",
    ):
        assert f"# TYPE {name} " in text, name
    result = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == "" and result.stderr.strip() == "", (
        result.stdout + result.stderr
    )


STANDARD_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")


def _random_request(rng: random.Random, index: int) -> tuple[str, str]:
    if index < len(STANDARD_METHODS):
        method = STANDARD_METHODS[index]  # every method shows in the first hundred
    elif rng.random() < 0.5:
        method = rng.choice(STANDARD_METHODS)
    else:
        method = "".join(rng.choices(string.ascii_uppercase, k=rng.randint(3, 12)))
    path = "/" + "/".join(
        "".join(rng.choices(string.ascii_letters + string.digits + "-._~", k=rng.randint(1, 12)))
        for _ in range(rng.randint(1, 4))
    )
    return method, path


def test_series_stay_bounded_whatever_paths_and_methods_clients_send(saturation):
    server, _ = saturation(worker_class=THREAD, workers=2, args=["--threads", "4", "--keep-alive", "30"])
    rng = random.Random(6)
    requests = [_random_request(rng, i) for i in range(10_000)]
    statuses: dict[int, int] = {}
    lock = threading.Lock()

    def send(batch):
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        counts: dict[int, int] = {}
        try:
            for method, path in batch:
                conn.request(method, path)
                response = conn.getresponse()
                response.read()
                counts[response.status] = counts.get(response.status, 0) + 1
        finally:
            conn.close()
        with lock:
            for status, count in counts.items():
                statuses[status] = statuses.get(status, 0) + count

    def send_all(chunk, clients=8):
        threads = [threading.Thread(target=send, args=(chunk[i::clients],)) for i in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(300)

    def series(s):
        return sorted((sample.name, tuple(sorted(sample.labels.items()))) for sample in s.samples)

    send_all(requests[:100])
    first = series(server.scrape())
    send_all(requests[100:])
    final = server.scrape()
    assert statuses == {200: 10_000}
    assert final.total("gunicorn_requests_total") == 10_000
    assert series(final) == first
    methods = {labels["method"] for labels in map(dict, (s.labels for s in final.matching("gunicorn_requests_total")))}
    assert methods == {*STANDARD_METHODS, "OTHER"}


def test_both_backlog_readers_agree_on_a_real_listening_socket():
    from gunicorn_prometheus_exporter import backlog

    for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        with socket.socket(family) as listener:
            listener.bind((host, 0))
            listener.listen(50)
            clients = [socket.create_connection(listener.getsockname()[:2]) for _ in range(7)]
            try:
                wait_until(lambda listener=listener: backlog.listen_queue(listener) == (7, 50))
                assert backlog._from_proc(listener, 2048) == (7, min(2048, _somaxconn()))
                assert backlog._from_proc(listener, 30) == (7, 30)
            finally:
                for client in clients:
                    client.close()
        with socket.socket(family) as not_listening:
            assert backlog.listen_queue(not_listening) is None
    with socket.socket(socket.AF_UNIX) as unix:
        assert backlog.listen_queue(unix) is None


def _somaxconn() -> int:
    with open("/proc/sys/net/core/somaxconn") as f:
        return int(f.read())
