"""The file-storage exporter end to end: real Gunicorn, real requests, exact numbers."""

import http.client
import os
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest
from harness import APPS, EXAMPLES, scrape, wait_until

SYNC = "gunicorn_prometheus_exporter.PrometheusWorker"
THREAD = "gunicorn_prometheus_exporter.PrometheusThreadWorker"


def test_500_requests_over_4_workers_are_counted_exactly(gunicorn):
    server = gunicorn(workers=4).start()
    statuses = server.send(500, concurrency=8)
    assert statuses == {200: 500}

    s = server.scrape()
    assert s.value("gunicorn_requests_total", method="GET", status="200") == 500
    per_worker = s.by_label("gunicorn_worker_requests_total", "worker")
    assert sum(per_worker.values()) == 500
    assert set(per_worker) <= {"0", "1", "2", "3"}
    assert s.value("gunicorn_request_duration_seconds_count", method="GET") == 500
    assert s.value("gunicorn_request_duration_seconds_bucket", method="GET", le="+Inf") == 500
    assert s.value("gunicorn_request_size_bytes_count") == 500
    assert s.value("gunicorn_response_size_bytes_count") == 500
    assert s.value("gunicorn_response_size_bytes_sum") == 500 * len(b"hello ")
    assert s.value("gunicorn_requests_in_progress") == 0
    assert s.by_label("gunicorn_worker_busy", "worker") == {"0": 0, "1": 0, "2": 0, "3": 0}


# The request path is compiled where the C module built, Python elsewhere: both must count the same.
SYNC_PATHS = pytest.mark.parametrize(
    "worker_class",
    ["gunicorn_prometheus_exporter.PrometheusWorker", "python_path.PythonPathWorker"],
    ids=["compiled", "python"],
)
THREAD_PATHS = pytest.mark.parametrize(
    "worker_class", [THREAD, "python_path.PythonPathThreadWorker"], ids=["compiled", "python"]
)


@SYNC_PATHS
def test_statuses_methods_sizes_and_exceptions_land_where_they_belong(gunicorn, worker_class):
    server = gunicorn(workers=2, worker_class=worker_class).start()
    assert server.send(7, "/missing") == {404: 7}
    assert server.send(5, "/error") == {500: 5}
    assert server.send(3, "/raise") == {500: 3}
    assert server.send(4, "/", method="POST", body=b"x" * 2000) == {200: 4}
    assert server.send(2, "/", method="BREW") == {200: 2}
    assert server.send(6, "/stream") == {200: 6}

    s = server.scrape()
    assert s.value("gunicorn_requests_total", method="GET", status="404") == 7
    assert s.value("gunicorn_requests_total", method="GET", status="500") == 8
    assert s.value("gunicorn_requests_total", method="POST", status="200") == 4
    assert s.value("gunicorn_requests_total", method="OTHER", status="200") == 2
    assert s.value("gunicorn_requests_total", method="GET", status="200") == 6
    assert s.total("gunicorn_requests_total") == 27
    assert s.value("gunicorn_request_exceptions_total", exception="AppError") == 3
    assert s.total("gunicorn_request_exceptions_total") == 3
    # Request bodies: four of 2000 bytes, the rest empty.
    assert s.value("gunicorn_request_size_bytes_sum") == 8000
    assert s.value("gunicorn_request_size_bytes_bucket", le="1000.0") == 23
    assert s.value("gunicorn_request_size_bytes_bucket", le="10000.0") == 27
    # Streamed responses are 1000 bytes each, counted as they are sent.
    streamed = 6 * 1000
    others = 7 * len(b"not found") + 5 * len(b"error") + 4 * len(b"hello " + b"x" * 2000) + 2 * len(b"hello ")
    assert s.value("gunicorn_response_size_bytes_sum") == streamed + others


@THREAD_PATHS
def test_thread_worker_counts_every_concurrent_request(gunicorn, worker_class):
    server = gunicorn(worker_class=worker_class, workers=2, args=["--threads", "4"]).start()
    assert server.send(400, concurrency=16) == {200: 400}
    assert server.send(40, "/event", concurrency=16) == {200: 40}
    s = server.scrape()
    assert s.value("gunicorn_requests_total", method="GET", status="200") == 440
    assert sum(s.by_label("gunicorn_worker_requests_total", "worker").values()) == 440
    assert s.value("gunicorn_request_duration_seconds_count", method="GET") == 440
    assert s.value("app_events_total", kind="event") == 40
    assert s.value("gunicorn_requests_in_progress") == 0


@pytest.mark.parametrize("preload", [False, True], ids=["per-worker-import", "preload_app"])
def test_application_metrics_are_summed_over_workers(gunicorn, preload):
    server = gunicorn(workers=3, args=["--preload"] if preload else []).start()
    assert server.send(60, "/event", concurrency=6) == {200: 60}
    s = server.scrape()
    assert s.value("app_events_total", kind="event") == 60
    assert s.value("app_work_seconds_count") == 60
    assert s.value("app_work_seconds_bucket", le="+Inf") == 60


def test_failed_streams_sent_files_and_the_configs_own_request_hooks(gunicorn, tmp_path):
    # The exporter records Gunicorn's requests in its pre_request and
    # post_request hooks: the config's own hooks must still run once per
    # request, a stream that fails after its headers counts under the status
    # sent, and a file Gunicorn sends with sendfile counts its bytes.
    hook_log = tmp_path / "hooks.log"
    config = tmp_path / "hooks.conf.py"
    config.write_text(
        "def pre_request(worker, req):\n"
        f"    with open({str(hook_log)!r}, 'a') as log:\n"
        "        log.write('pre' + req.path + '\\n')\n"
        "def post_request(worker, req, environ, resp):\n"
        f"    with open({str(hook_log)!r}, 'a') as log:\n"
        "        log.write('post' + req.path + '\\n')\n"
    )
    server = gunicorn(workers=2, config=config).start()
    for _ in range(3):
        with pytest.raises((http.client.HTTPException, OSError)):
            status, body = server.request("/stream-fail")
            raise AssertionError(f"a failed stream read whole: {status} {body[:50]!r}")
    assert server.send(4, "/file") == {200: 4}

    s = server.scrape()
    assert s.value("gunicorn_requests_total", method="GET", status="200") == 7
    assert s.total("gunicorn_requests_total") == 7
    assert s.value("gunicorn_request_exceptions_total", exception="AppError") == 3
    file_size = (APPS / "app.py").stat().st_size
    assert s.value("gunicorn_response_size_bytes_sum") == 3 * 200 + 4 * file_size
    assert s.value("gunicorn_request_duration_seconds_count", method="GET") == 7
    assert sorted(hook_log.read_text().split()) == sorted(
        ["pre/file", "post/file"] * 4 + ["pre/stream-fail", "post/stream-fail"] * 3
    )


def test_sigkill_of_a_worker_loses_no_count_and_counters_continue(gunicorn):
    server = gunicorn(workers=2).start()
    assert server.send(100) == {200: 100}
    assert server.send(20, "/event") == {200: 20}
    before = server.scrape()
    assert before.total("gunicorn_requests_total") == 120

    victim = server.worker_pids()[0]
    os.kill(victim, signal.SIGKILL)
    server.wait_workers(2, exclude=[victim])
    after = server.scrape()
    assert after.total("gunicorn_requests_total") == 120
    assert after.value("app_events_total", kind="event") == 20
    assert sum(after.by_label("gunicorn_worker_requests_total", "worker").values()) == 120

    assert server.send(80) == {200: 80}
    final = server.scrape()
    assert final.total("gunicorn_requests_total") == 200
    assert sum(final.by_label("gunicorn_worker_requests_total", "worker").values()) == 200
    # The replacement took the dead worker's slot: still two slots.
    assert set(final.by_label("gunicorn_worker_busy", "worker")) == {"0", "1"}


def test_a_killed_worker_in_the_middle_of_a_request_leaves_no_live_gauge_behind(gunicorn):
    server = gunicorn(workers=2, args=["--timeout", "120"]).start()
    server.wait_workers(2)
    # Both workers have booted once both slots show their busy series.
    wait_until(lambda: len(server.scrape().by_label("gunicorn_worker_busy", "worker")) == 2, message="two slots")
    result = {}
    held = threading.Thread(target=lambda: result.update(r=_try_request(server, "/sleep?s=60")))
    held.start()
    s = wait_until(lambda: (x := server.scrape()).value("gunicorn_requests_in_progress") == 1 and x, message="busy")
    busy = s.by_label("gunicorn_worker_busy", "worker")
    assert sorted(busy.values()) == [0, 1]
    busy_slot = next(slot for slot, value in busy.items() if value == 1)

    busy_pid = wait_until(lambda: _serving_worker(server), message="the worker holding the request")
    os.kill(busy_pid, signal.SIGKILL)
    held.join(30)
    server.wait_workers(2, exclude=[busy_pid])
    s = wait_until(lambda: (x := server.scrape()).value("gunicorn_requests_in_progress") == 0 and x, message="idle")
    assert s.by_label("gunicorn_worker_busy", "worker")[busy_slot] == 0
    # The request never got its response, so it was never counted as answered.
    assert s.total("gunicorn_requests_total") == 0


def _try_request(server, path):
    try:
        return server.request(path)
    except OSError as exc:
        return exc


def _serving_worker(server):
    """The worker holding an accepted client connection on the app port."""
    import psutil

    for pid in server.worker_pids():
        for conn in psutil.Process(pid).net_connections():
            if conn.status == psutil.CONN_ESTABLISHED and conn.laddr.port == server.port:
                return pid
    return None


def test_max_requests_recycling_never_lowers_a_counter(gunicorn):
    server = gunicorn(workers=2, args=["--max-requests", "15"]).start()
    seen = []
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            seen.append(server.scrape().total("gunicorn_requests_total"))
            time.sleep(0.02)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        assert server.send(300, concurrency=4) == {200: 300}
    finally:
        stop.set()
        watcher.join()
    assert seen == sorted(seen), "a counter went down between two scrapes"
    s = server.scrape()
    assert s.total("gunicorn_requests_total") == 300
    assert sum(s.by_label("gunicorn_worker_requests_total", "worker").values()) == 300
    # Many workers were replaced, yet storage holds one file per slot.
    files = sorted(os.listdir(server.multiproc_dir))
    slot_files = [f for f in files if f.startswith("slot_")]
    assert len(slot_files) <= 4, files


def test_metrics_pass_promtool(gunicorn):
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool not installed: the test script installs Debian's prometheus package")
    server = gunicorn(workers=2).start()
    server.send(20)
    server.send(3, "/raise")
    server.send(5, "/event")
    text = server.scrape_text()
    result = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == "" and result.stderr.strip() == "", (
        result.stdout + result.stderr
    )


def test_server_starts_without_hooks_and_releases_its_port_on_shutdown(gunicorn):
    server = gunicorn(config=EXAMPLES / "gunicorn_basic.conf.py", workers=None, worker_class=None).start()
    assert server.send(10) == {200: 10}
    assert server.scrape().total("gunicorn_requests_total") == 10
    assert server.log().count("Metrics server started successfully") == 1
    assert server.stop() == 0
    with socket.socket() as s:
        # SO_REUSEADDR as any server sets it: the scrape's TIME_WAIT is not a listener.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", server.metrics_port))
        s.listen()


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("PROMETHEUS_METRICS_PORT", "abc", "a port number from 1 to 65535"),
        ("PROMETHEUS_METRICS_PORT", "70000", "a port number from 1 to 65535"),
        ("CLEANUP_DB_FILES", "maybe", "true or false"),
        ("GUNICORN_WORKERS", "-1", "a whole number of at least 1"),
        ("PROMETHEUS_BIND_ADDRESS", "not an address!", "an IP address"),
        ("PROMETHEUS_MULTIPROC_DIR", "/proc/cannot/create", "a directory that can be created"),
    ],
)
def test_a_bad_setting_stops_startup_with_one_line_naming_it(gunicorn, variable, value, expected):
    server = gunicorn(workers=2, env={variable: value})
    code, log = server.run_to_exit()
    assert code != 0
    lines = [line for line in log.splitlines() if variable in line]
    assert len(lines) == 1, log
    assert f"{variable}={value!r}" in lines[0] and expected in lines[0], lines[0]
    assert "Booting worker" not in log
    assert "Traceback" not in log


def test_unwritable_directory_is_refused(gunicorn, tmp_path):
    target = tmp_path / "readonly"
    target.mkdir()
    target.chmod(0o500)
    if os.access(target, os.W_OK):  # root ignores permission bits: use a read-only mount point instead
        target = "/proc/self"
    server = gunicorn(env={"PROMETHEUS_MULTIPROC_DIR": str(target)})
    code, log = server.run_to_exit()
    assert code != 0
    assert "PROMETHEUS_MULTIPROC_DIR" in log and "Booting worker" not in log


def test_multiproc_dir_is_created_and_shared_by_no_two_masters(gunicorn, tmp_path):
    shared = tmp_path / "deep" / "nested" / "dir"
    first = gunicorn(env={"PROMETHEUS_MULTIPROC_DIR": str(shared)}).start()
    assert shared.is_dir()
    second = gunicorn(env={"PROMETHEUS_MULTIPROC_DIR": str(shared)})
    code, log = second.run_to_exit()
    assert code != 0
    assert f"another running Gunicorn master (pid {first.process.pid})" in log
    assert first.send(5) == {200: 5}


@pytest.mark.parametrize("cleanup", ["true", "false"])
def test_cleanup_db_files_decides_whether_an_earlier_runs_counts_remain(gunicorn, tmp_path, cleanup):
    directory = tmp_path / "multiproc"
    first = gunicorn(env={"PROMETHEUS_MULTIPROC_DIR": str(directory)}).start()
    assert first.send(25) == {200: 25}
    first.stop()
    stray = directory / "counter_12345.db"
    stray.write_bytes(b"\0" * 64)

    second = gunicorn(env={"PROMETHEUS_MULTIPROC_DIR": str(directory), "CLEANUP_DB_FILES": cleanup}).start()
    assert second.send(5) == {200: 5}
    total = second.scrape().total("gunicorn_requests_total")
    if cleanup == "true":
        assert total == 5
        assert not stray.exists()
    else:
        assert total == 30
        assert stray.exists()


def test_scrape_is_served_by_the_master_only(gunicorn):
    server = gunicorn(workers=2).start()
    server.send(10)
    # Workers must not hold the master's metrics socket open.
    master_fds = {c.laddr.port for c in _listening(server.process.pid)}
    assert server.metrics_port in master_fds
    for pid in server.worker_pids():
        assert server.metrics_port not in {c.laddr.port for c in _listening(pid)}
    assert scrape(server.metrics_port).total("gunicorn_requests_total") == 10


def _listening(pid):
    import psutil

    return [c for c in psutil.Process(pid).net_connections() if c.status == psutil.CONN_LISTEN]


def test_usr2_binary_upgrade_hands_over_to_the_new_master(gunicorn):
    import psutil

    server = gunicorn(workers=2).start()
    assert server.send(10) == {200: 10}
    old_master = psutil.Process(server.process.pid)
    server.send_signal(signal.SIGUSR2)

    def new_master():
        for child in old_master.children():
            if "GUNICORN_PID" in child.environ():
                return child
        return None

    upgraded = wait_until(new_master, message="the upgraded master")
    try:
        wait_until(lambda: len(upgraded.children()) == 2, message="the upgraded master's workers")
        # The old master stops its workers, then leaves; the new one serves on.
        server.send_signal(signal.SIGWINCH)
        server.send_signal(signal.SIGTERM)
        server.process.wait(30)
        assert "another running Gunicorn master" not in server.log()
        assert server.send(7) == {200: 7}
        # The new master takes over the metrics port once the old one released it.
        s = wait_until(lambda: (x := server.scrape()).total("gunicorn_requests_total") == 7 and x, message="scrape")
        assert sum(s.by_label("gunicorn_worker_requests_total", "worker").values()) == 7
        assert (server.multiproc_dir / f"upgrade-{upgraded.pid}").is_dir()
    finally:
        for proc in [upgraded, *upgraded.children(recursive=True)]:
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                pass
