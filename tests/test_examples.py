"""Every configuration example of the guide runs unchanged from ``examples/``.

The files are the guide's own; a test only supplies from outside what the
test machine lacks or must keep apart (ports through the environment and
``--bind``, log files under /var/log through the command line).
"""

import re
import signal
import socket
import uuid

import pytest
import redis
from harness import EVENTLET_GUNICORN, EXAMPLES, GUNICORN, wait_until
from redis_support import wait_redis_total

# example file -> (extra command-line arguments, worker slots it starts)
FILE_STORAGE_EXAMPLES = {
    "gunicorn_basic.conf.py": ([], 2),
    "gunicorn_high_performance.conf.py": ([], 8),
    "gunicorn_production.conf.py": (["--error-logfile", "-", "--access-logfile", "{tmp}/access.log"], 4),
    "gunicorn_development.conf.py": ([], 2),
    "gunicorn_sync.conf.py": ([], 4),
    "gunicorn_thread.conf.py": ([], 2),
}


def run_example(gunicorn, tmp_path, name, args=(), env=None):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    return gunicorn(config=EXAMPLES / name, workers=None, worker_class=None, args=args, env=env).start()


@pytest.mark.parametrize("name", sorted(FILE_STORAGE_EXAMPLES))
def test_file_storage_example_runs_unchanged(gunicorn, tmp_path, name):
    args, slots = FILE_STORAGE_EXAMPLES[name]
    server = run_example(gunicorn, tmp_path, name, args)
    server.wait_workers(slots)
    assert server.send(60, concurrency=6) == {200: 60}
    assert server.send(12, "/event", concurrency=6) == {200: 12}
    s = server.scrape()
    assert s.value("gunicorn_requests_total", method="GET", status="200") == 72
    assert sum(s.by_label("gunicorn_worker_requests_total", "worker").values()) == 72
    assert s.value("app_events_total", kind="event") == 12
    assert len(s.by_label("gunicorn_worker_busy", "worker")) == slots


# -- the guide's hook examples -------------------------------------------------

SYNC_WORKER = "gunicorn_prometheus_exporter.PrometheusWorker"


def _assert_counts(server, slots, requests=40, events=8):
    assert server.send(requests, concurrency=6) == {200: requests}
    assert server.send(events, "/event", concurrency=6) == {200: events}
    # Every worker shows its slot once it has initialised; a slow one may still be on its way.
    s = wait_until(
        lambda: len((x := server.scrape()).by_label("gunicorn_worker_busy", "worker")) == slots and x,
        message=f"{slots} worker slots in /metrics",
    )
    assert s.value("gunicorn_requests_total", method="GET", status="200") == requests + events
    assert sum(s.by_label("gunicorn_worker_requests_total", "worker").values()) == requests + events
    assert s.value("app_events_total", kind="event") == events
    return s


def _assert_port_released(port):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen()


def test_basic_custom_hooks_example_runs_unchanged(gunicorn, tmp_path):
    server = run_example(gunicorn, tmp_path, "gunicorn_custom_hooks.conf.py")
    server.wait_workers(4)
    _assert_counts(server, 4)
    pids = server.worker_pids()
    assert server.stop(signal.SIGINT) == 0
    log = server.log()
    # The user's hooks ran around the default ones.
    assert "Starting Gunicorn with Prometheus exporter..." in log
    assert "Gunicorn is ready to accept connections" in log
    for pid in pids:
        assert f"Worker {pid} received interrupt signal" in log
        assert f"Worker {pid} initialized" in log
    assert log.index("Server shutting down - cleaning up") < log.index("Gunicorn shutting down...")
    assert log.count("Metrics server started successfully") == 1
    _assert_port_released(server.metrics_port)


def test_advanced_custom_hooks_with_managers_example_starts_the_server_once(gunicorn, tmp_path):
    server = run_example(gunicorn, tmp_path, "gunicorn_advanced_hooks.conf.py")
    server.wait_workers(4)
    _assert_counts(server, 4)
    assert server.stop() == 0
    log = server.log()
    assert log.count("Metrics server started successfully") == 1
    assert "Starting Prometheus multiprocess metrics server" not in log  # found running, not started again
    assert "Custom metrics server failed to start" not in log
    assert "Custom metrics server setup failed" not in log
    assert "Traceback" not in log
    _assert_port_released(server.metrics_port)


# The guide's "CLI usage with post_fork hook" commands. "--bind 0.0.0.0:9000" binds a free
# port instead of 9000 ({port}), so that tests never collide with anything on the machine.
WITH_CLI_COMMANDS = {
    "config-file-only": ([], 4, {"GUNICORN_WORKERS": "4"}),
    "timeout-600": (["--timeout", "600", "--log-level", "debug"], 4, {"GUNICORN_WORKERS": "4"}),
    "workers-8": (["--workers", "8"], 8, {"GUNICORN_WORKERS": "8"}),
    "bind": (["--bind", "0.0.0.0:{port}"], 4, {"GUNICORN_BIND": "0.0.0.0:{port}"}),
    "worker-class": (["--worker-class", SYNC_WORKER], 4, {"GUNICORN_WORKER_CLASS": SYNC_WORKER}),
}


@pytest.mark.parametrize("command", list(WITH_CLI_COMMANDS))
def test_with_cli_example_and_its_cli_overrides(gunicorn, tmp_path, command):
    args, slots, updated = WITH_CLI_COMMANDS[command]
    server = gunicorn(config=EXAMPLES / "gunicorn_with_cli.conf.py", workers=None, worker_class=None)
    port = server.port
    args = [a.replace("{port}", str(port)) for a in args]
    if "--bind" in args:
        # The override replaces the harness's own --bind (Gunicorn would bind both).
        at = server.command.index("--bind")
        del server.command[at : at + 2]
    server.command[-1:-1] = args
    server.start()
    server.wait_workers(slots)
    _assert_counts(server, slots)
    assert server.stop() == 0
    log = server.log()
    for name, value in updated.items():
        assert log.count(f"Updated {name} from CLI: {value.replace('{port}', str(port))}") == slots, name
    if command == "timeout-600":
        assert log.count("timeout=600 ") == slots
    assert log.count("Metrics server started successfully") == 1


def test_debug_example_logs_in_its_own_format(gunicorn, tmp_path):
    # The example is only the logging set-up ("# ... rest of configuration"): the
    # worker class and the number of workers come from the command line.
    server = gunicorn(config=EXAMPLES / "gunicorn_debug.conf.py", workers=2, worker_class=SYNC_WORKER).start()
    server.wait_workers(2)
    _assert_counts(server, 2)
    assert server.stop() == 0
    line = (
        r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} - gunicorn_prometheus_exporter\.server - INFO - "
        rf"Metrics server started successfully on 127\.0\.0\.1:{server.metrics_port}$"
    )
    assert re.search(line, server.log(), re.MULTILINE), server.log()


# -- Redis examples: storage comes from the environment (REDIS_ENABLED=true in the files) --

REDIS_EXAMPLES = {
    "gunicorn_redis_backend.conf.py": "Redis storage in use",
    "gunicorn_redis_storage.conf.py": None,
}


@pytest.mark.parametrize("name", sorted(REDIS_EXAMPLES))
def test_redis_example_runs_unchanged(gunicorn, tmp_path, name):
    prefix = f"test-examples-{uuid.uuid4().hex[:12]}"
    client = redis.Redis(host="127.0.0.1", port=6379)
    try:
        server = run_example(gunicorn, tmp_path, name, env={"REDIS_KEY_PREFIX": prefix})
        server.wait_workers(4)
        assert server.send(40, concurrency=6) == {200: 40}
        assert server.send(8, "/event", concurrency=6) == {200: 8}
        # Redis is written once per flush interval: wait for the figures, then they must be exact.
        s = wait_until(
            lambda: (x := server.scrape()).value("gunicorn_requests_total", method="GET", status="200") == 48 and x,
            timeout=30,
            message="48 requests in /metrics",
        )
        assert sum(s.by_label("gunicorn_worker_requests_total", "worker").values()) == 48
        assert s.value("app_events_total", kind="event") == 8
        assert len(s.by_label("gunicorn_worker_busy", "worker")) == 4
        # What the master published to Redis (instance: the host name) holds the same totals.
        wait_redis_total(prefix, 48, instance=socket.gethostname())
        assert server.stop() == 0
        log = server.log()
        if REDIS_EXAMPLES[name]:
            assert REDIS_EXAMPLES[name] in log
        assert log.count("Metrics server started successfully") == 1
        multiproc = tmp_path / "multiproc"
        assert not multiproc.exists() or not list(multiproc.glob("*.db"))  # Redis storage writes no files
    finally:
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()


# -- the guide's examples for the other worker types -----------------------------

# Run with the test app (a WSGI app). The eventlet ones run under the eventlet
# environment's Gunicorn (< 26, which still has an eventlet worker).
WORKER_EXAMPLES = {
    "gunicorn_gevent.conf.py": GUNICORN,
    "gunicorn_tornado.conf.py": GUNICORN,
    "gunicorn_async.conf.py": EVENTLET_GUNICORN,
    "gunicorn_eventlet.conf.py": EVENTLET_GUNICORN,
}


@pytest.mark.parametrize("name", sorted(WORKER_EXAMPLES))
def test_worker_type_example_runs_unchanged(gunicorn, name):
    server = gunicorn(
        config=EXAMPLES / name, workers=None, worker_class=None, gunicorn_bin=WORKER_EXAMPLES[name]
    ).start()
    server.wait_workers(4)
    s = _assert_counts(server, 4, requests=60, events=12)
    assert s.value("gunicorn_requests_in_progress") == 0
