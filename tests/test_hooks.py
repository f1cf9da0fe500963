"""The hooks module: the guide's names and call shapes, logging, port conflicts and release."""

import ast
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import threading

import pytest
from gunicorn.config import Config
from harness import EXAMPLES, ROOT, free_port, scrape, wait_until
from prometheus_client import CollectorRegistry, Counter

from gunicorn_prometheus_exporter.hooks import EnvironmentManager
from gunicorn_prometheus_exporter.server import MetricsServer

SRC = ROOT / "src" / "gunicorn_prometheus_exporter"
WITH_CLI = EXAMPLES / "gunicorn_with_cli.conf.py"
SYNC = "gunicorn_prometheus_exporter.PrometheusWorker"


def run_python(code: str, env: dict | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_hooks_module_has_the_guides_names_and_importing_it_changes_nothing():
    out = run_python(
        """
        import logging, sys, threading
        import gunicorn.arbiter, gunicorn.workers.sync, gunicorn.workers.base
        import prometheus_client.values

        def snapshot():
            loggers = {name: (lg.level, list(lg.handlers), lg.propagate)
                       for name, lg in logging.root.manager.loggerDict.items() if isinstance(lg, logging.Logger)}
            return (
                threading.active_count(), logging.root.level, list(logging.root.handlers),
                loggers.get("gunicorn_prometheus_exporter"),
                prometheus_client.values.ValueClass,
                dict(vars(gunicorn.arbiter.Arbiter)), dict(vars(gunicorn.workers.sync.SyncWorker)),
                dict(vars(gunicorn.workers.base.Worker)),
            )

        before = snapshot()
        from gunicorn_prometheus_exporter.hooks import (
            HookContext, HookManager, EnvironmentManager, MetricsServerManager, WorkerManager, ProcessManager,
            default_on_starting, default_when_ready, default_worker_int, default_on_exit, default_post_fork,
            redis_when_ready,
        )
        after = snapshot()
        assert before == after, (before, after)
        assert not [m for m in sys.modules if m.startswith("gunicorn_prometheus_exporter.workers")]
        # The call shapes the guide's examples use.
        log = logging.getLogger("user")
        context = HookContext(server=None, logger=log)
        assert context.server is None and context.logger is log and context.cfg is None
        assert MetricsServerManager(log).logger is log
        for cls in (HookManager, EnvironmentManager, WorkerManager, ProcessManager):
            assert cls(log).logger is log and cls.__doc__
        print("ok")
        """
    )
    assert out.strip() == "ok"


def test_environment_manager_takes_gunicorns_effective_settings():
    cfg = Config()
    cfg.set("workers", 8)
    cfg.set("bind", ["0.0.0.0:9000", "unix:/tmp/app.sock"])
    cfg.set("worker_class", SYNC)
    environ = {"GUNICORN_WORKERS": "4", "GUNICORN_WORKER_CLASS": SYNC}
    manager = EnvironmentManager(environ=environ)
    assert manager.update_from_config(cfg) == {
        "GUNICORN_WORKERS": "8",
        "GUNICORN_BIND": "0.0.0.0:9000,unix:/tmp/app.sock",
    }
    assert environ == {
        "GUNICORN_WORKERS": "8",
        "GUNICORN_BIND": "0.0.0.0:9000,unix:/tmp/app.sock",
        "GUNICORN_WORKER_CLASS": SYNC,
    }
    assert manager.update_from_config(cfg) == {}


def test_no_package_module_prints_or_configures_logging():
    offenders = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
                if name in ("print", "basicConfig", "dictConfig", "fileConfig"):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}")
    assert offenders == []


# -- logging through Gunicorn's error log, and through the user's own logging ---


@pytest.mark.parametrize("level", ["debug", "info", "warning"])
def test_lifecycle_lines_reach_gunicorns_error_log_at_its_log_level(gunicorn, level):
    server = gunicorn(config=WITH_CLI, workers=2, worker_class=None, args=["--log-level", level]).start()
    server.wait_workers(2)
    assert server.send(20) == {200: 20}
    assert server.scrape().value("gunicorn_requests_total", method="GET", status="200") == 20
    pids = server.worker_pids()
    assert server.stop(signal.SIGINT) == 0
    log = server.log()
    info_lines = [
        "[INFO] Server starting - initializing PrometheusMaster metrics",
        f"[INFO] Metrics server started successfully on 127.0.0.1:{server.metrics_port}",
        f"[INFO] Prometheus metrics served on 127.0.0.1:{server.metrics_port} (files storage)",
        "[INFO] Updated GUNICORN_WORKERS from CLI: 2",
        f"[INFO] Updated GUNICORN_BIND from CLI: 127.0.0.1:{server.port}",
        f"[INFO] Updated GUNICORN_WORKER_CLASS from CLI: {SYNC}",
        *(f"[INFO] Worker {pid} received interrupt signal" for pid in pids),
        "[INFO] Server shutting down - cleaning up Prometheus metrics server",
        f"[INFO] Metrics server on 127.0.0.1:{server.metrics_port} stopped",
    ]
    debug_line = "[DEBUG] Worker configuration: pid="
    for line in info_lines:
        assert (line in log) == (level != "warning"), line
    assert (debug_line in log) == (level == "debug")
    if level != "warning":
        # Each worker published its own environment: one line per worker.
        assert log.count("Updated GUNICORN_WORKERS from CLI: 2") == 2


def test_with_the_debug_config_the_lines_come_out_in_its_format(gunicorn, tmp_path):
    # The guide's Debug config, followed by "the rest of the configuration": here the With-CLI example.
    config = tmp_path / "gunicorn_debug_with_cli.conf.py"
    config.write_text((EXAMPLES / "gunicorn_debug.conf.py").read_text() + (WITH_CLI).read_text())
    server = gunicorn(config=config, workers=2, worker_class=None).start()
    server.wait_workers(2)
    assert server.send(10) == {200: 10}
    assert server.scrape().value("gunicorn_requests_total", method="GET", status="200") == 10
    pids = server.worker_pids()
    assert server.stop(signal.SIGINT) == 0
    log = server.log()
    prefix = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} - "
    expected = [
        r"gunicorn_prometheus_exporter\.hooks - INFO - Server starting - initializing PrometheusMaster metrics",
        r"gunicorn_prometheus_exporter\.hooks - DEBUG - Exporter settings: ",
        rf"gunicorn_prometheus_exporter\.server - INFO - Metrics server started successfully on 127\.0\.0\.1:{server.metrics_port}",
        r"gunicorn_prometheus_exporter\.hooks - INFO - Updated GUNICORN_WORKERS from CLI: 2",
        rf"gunicorn_prometheus_exporter\.hooks - INFO - Updated GUNICORN_BIND from CLI: 127\.0\.0\.1:{server.port}",
        r"gunicorn_prometheus_exporter\.hooks - DEBUG - Worker configuration: pid=",
        *(rf"gunicorn_prometheus_exporter\.hooks - INFO - Worker {pid} received interrupt signal" for pid in pids),
        r"gunicorn_prometheus_exporter\.hooks - INFO - Server shutting down - cleaning up Prometheus metrics server",
    ]
    for pattern in expected:
        assert re.search(prefix + pattern, log, re.MULTILINE), pattern
    # Not also in Gunicorn's format: the user's logging configuration has them.
    assert "[INFO] Server starting" not in log
    assert "[INFO] Updated GUNICORN_WORKERS" not in log


# -- port conflicts and release ----------------------------------------------


def _listening_blocker(port: int) -> socket.socket:
    blocker = socket.socket()
    # SO_REUSEADDR as servers set it: a finished scrape's TIME_WAIT is not a listener.
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    blocker.bind(("127.0.0.1", port))
    blocker.listen()
    return blocker


def test_a_taken_metrics_port_is_retried_while_the_application_serves(gunicorn):
    metrics_port = free_port()
    blocker = _listening_blocker(metrics_port)
    try:
        server = gunicorn(config=WITH_CLI, workers=2, worker_class=None, metrics_port=metrics_port)
        server.start(wait_metrics=False)
        # Workers boot and answer at once, while the port is still taken.
        assert server.send(30) == {200: 30}
        failure = f"cannot bind 127.0.0.1:{metrics_port}"
        wait_until(lambda: server.log().count(failure) >= 3, timeout=60, message="three failed binds logged")
        log = server.log()
        assert "next try in" in log
        assert f"[WARNING] Metrics server waiting for 127.0.0.1:{metrics_port} to be free" in log
        assert "Starting Prometheus multiprocess metrics server" not in log  # not a second start
    finally:
        blocker.close()
    s = wait_until(lambda: scrape(metrics_port), timeout=60, message="metrics once the port is free")
    assert s.value("gunicorn_requests_total", method="GET", status="200") == 30
    assert server.send(5) == {200: 5}
    assert server.scrape().value("gunicorn_requests_total", method="GET", status="200") == 35
    log = server.log()
    assert log.count("Metrics server started successfully") == 1
    assert "Traceback" not in log
    assert server.stop() == 0


def test_metrics_server_retries_with_backoff_logs_each_failure_and_stops_cleanly(caplog):
    caplog.set_level(logging.DEBUG, logger="gunicorn_prometheus_exporter")
    registry = CollectorRegistry()
    Counter("probe", "A probe.", registry=registry).inc(3)
    port = free_port()
    blocker = _listening_blocker(port)
    metrics = MetricsServer("127.0.0.1", port, registry)
    try:
        assert metrics.start() is False
        wait_until(lambda: len(_bind_failures(caplog, port)) >= 3, timeout=30, message="three failures")
        failures = _bind_failures(caplog, port)
        waits = [float(re.search(r"in (\d+\.\d)s$", m).group(1)) for m in failures[:3]]
        assert waits == [0.5, 1.0, 2.0]
        assert metrics.start() is False  # still retrying: no second retry thread
        assert [t.name for t in threading.enumerate()].count("metrics-server-retry") == 1
    finally:
        blocker.close()
    wait_until(lambda: metrics.running, timeout=30, message="bound after the port freed")
    assert scrape(port).value("probe_total") == 3
    metrics.stop()
    assert not [t for t in threading.enumerate() if t.name.startswith("metrics-server")]
    _listening_blocker(port).close()  # the port is free again


def _bind_failures(caplog, port):
    return [r.getMessage() for r in caplog.records if f"cannot bind 127.0.0.1:{port}" in r.getMessage()]


RESTART_SCRIPT = """
import os, socket, threading, urllib.request
from types import SimpleNamespace
from gunicorn_prometheus_exporter.master import get_exporter, start_exporter
from gunicorn_prometheus_exporter.hooks import MetricsServerManager, default_on_exit, default_worker_int

port = int(os.environ["PROMETHEUS_METRICS_PORT"])

def serving():
    return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).status == 200

def released():
    assert get_exporter() is None
    assert not [t.name for t in threading.enumerate() if t.name.startswith("metrics-server")]
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen()

for release in (lambda: default_on_exit(None), lambda: default_worker_int(SimpleNamespace(pid=os.getpid()))):
    first = start_exporter()
    assert serving()
    # The guide's Advanced example finds the running server and starts nothing more.
    manager = MetricsServerManager()
    port_, registry = manager.setup_server()
    assert (port_, registry) == (port, first.registry) and get_exporter() is first
    assert manager.start_server(port_, registry) is True
    assert manager.start_server(port_, object()) is False
    manager.stop_server()
    assert not [t.name for t in threading.enumerate() if t.name.startswith("metrics-server")]
    assert manager.start_server(port_, registry) is True and serving()
    release()
    released()
    second = start_exporter()
    assert second is not first and serving()
    default_on_exit(None)
    released()
print("ok")
"""


def test_on_exit_and_worker_int_release_the_port_and_threads_for_a_restart_in_the_same_process(tmp_path):
    out = run_python(
        RESTART_SCRIPT,
        env={
            "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "multiproc"),
            "PROMETHEUS_METRICS_PORT": str(free_port()),
            "PROMETHEUS_BIND_ADDRESS": "127.0.0.1",
        },
    )
    assert out.strip() == "ok"


def test_a_bad_setting_stops_startup_in_on_starting_with_one_line(gunicorn):
    server = gunicorn(config=WITH_CLI, workers=2, worker_class=None, env={"PROMETHEUS_METRICS_PORT": "abc"})
    code, log = server.run_to_exit()
    assert code != 0
    lines = [line for line in log.splitlines() if "PROMETHEUS_METRICS_PORT" in line]
    assert lines == ["Error: PROMETHEUS_METRICS_PORT='abc' is not valid: expected a port number from 1 to 65535"]
    assert "Listening at" not in log and "Traceback" not in log


def test_post_fork_publishes_the_effective_settings_to_the_application(gunicorn, tmp_path):
    # The guide's With-CLI config with CLI overrides; the app reads the variables in its worker.
    port = free_port()
    server = gunicorn(
        config=WITH_CLI,
        app="env_app:app",
        workers=None,
        worker_class=None,
        bind_port=port,
        args=["--workers", "3", "--worker-class", "gunicorn_prometheus_exporter.PrometheusThreadWorker"],
    )
    server.command[server.command.index(f"127.0.0.1:{port}")] = f"0.0.0.0:{port}"
    server.start()
    server.wait_workers(3)
    answers = {server.request()[1] for _ in range(6)}
    assert answers == {b"3 0.0.0.0:%d gunicorn_prometheus_exporter.PrometheusThreadWorker" % port}
    assert server.scrape().value("gunicorn_requests_total", method="GET", status="200") == 6


def test_with_a_worker_class_of_gunicorns_own_when_ready_starts_the_server_and_says_requests_are_not_measured(
    gunicorn,
):
    server = gunicorn(config=WITH_CLI, workers=2, worker_class="sync").start(wait_metrics=False)
    assert server.send(5) == {200: 5}
    # /metrics answers, with nothing from the workers.
    s = wait_until(lambda: server.scrape(), message="/metrics")
    assert s.total("gunicorn_requests_total") == 0
    assert server.stop() == 0
    log = server.log()
    assert f"[INFO] Starting Prometheus multiprocess metrics server on 127.0.0.1:{server.metrics_port}" in log
    assert log.count("Metrics server started successfully") == 1
    assert "[WARNING] Worker class sync is not a Prometheus worker: its requests are not measured" in log
