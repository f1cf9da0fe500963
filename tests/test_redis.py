"""Redis storage end to end: real Gunicorn, real Redis, real signals, exact numbers."""

import os
import signal
import threading
import time
from pathlib import Path

import psutil
import pytest
from harness import APPS, EXAMPLES, scrape, wait_until
from redis_support import (  # noqa: F401 - fixtures
    private_redis_fixture,
    redis_env,
    redis_prefix_fixture,
    redis_prefixes_fixture,
    redis_total,
    scrape_redis,
    storage_client,
    wait_redis_total,
)


def _storage_up(server) -> float:
    return server.scrape().value("gunicorn_exporter_storage_up")


def test_requests_reach_redis_and_metrics_are_exact(gunicorn, redis_prefix):
    server = gunicorn(workers=3, env=redis_env(redis_prefix)).start()
    assert server.send(90, concurrency=6) == {200: 90}
    assert server.send(12, "/event", concurrency=6) == {200: 12}

    s = server.scrape()
    assert s.value("gunicorn_requests_total", method="GET", status="200") == 102
    assert s.value("app_events_total", kind="event") == 12
    assert s.value("gunicorn_exporter_storage_up") == 1
    wait_redis_total(redis_prefix, 102)
    stored = scrape_redis(redis_prefix)
    assert stored.value("gunicorn_request_duration_seconds_count", method="GET") == 102
    assert stored.value("app_events_total", kind="event") == 12
    assert sum(stored.by_label("gunicorn_worker_requests_total", "worker").values()) == 102
    assert "Redis storage: instance 'host-a'" in server.log()


def test_no_metric_file_is_written_anywhere(gunicorn, redis_prefix, tmp_path):
    private_tmp = tmp_path / "private-tmp"
    private_tmp.mkdir()
    env = redis_env(redis_prefix, TMPDIR=str(private_tmp))
    assert env["PROMETHEUS_MULTIPROC_DIR"] is None  # unset for the server
    # /proc: a working directory where not even root can create a file.
    server = gunicorn(workers=2, env=env, cwd=Path("/proc"), args=["--pythonpath", str(APPS)]).start()
    assert server.send(40, concurrency=4) == {200: 40}
    assert server.send(5, "/event") == {200: 5}
    wait_redis_total(redis_prefix, 45)

    assert list(private_tmp.iterdir()) == []
    for pid in [server.process.pid, *server.worker_pids()]:
        process = psutil.Process(pid)
        assert not [f.path for f in process.open_files() if f.path.endswith(".db")]
        with open(f"/proc/{pid}/maps") as maps:
            mapped = {line.split(None, 5)[5].strip() for line in maps if len(line.split(None, 5)) == 6}
        assert not [path for path in mapped if ".db" in path or "multiproc" in path], mapped
        metric_maps = [path for path in mapped if "gunicorn-metrics" in path]
        assert metric_maps and all(path.startswith("/memfd:") for path in metric_maps), metric_maps
        assert "PROMETHEUS_MULTIPROC_DIR" not in process.environ()


def test_the_request_path_never_talks_to_redis(gunicorn, private_redis, redis_prefix):
    redis_server = private_redis().start()
    server = gunicorn(workers=2, env=redis_env(redis_prefix, port=redis_server.port, interval=0.5)).start()
    before = redis_server.commands_processed()
    assert server.send(600, concurrency=8) == {200: 600}
    during = redis_server.commands_processed() - before
    # Each write is one MULTI/EXEC of about eight commands per interval, whatever the traffic.
    assert during < 600 / 3, during
    for pid in server.worker_pids():
        remote_ports = {c.raddr.port for c in psutil.Process(pid).net_connections() if c.raddr}
        assert redis_server.port not in remote_ports
    wait_redis_total(redis_prefix, 600, port=redis_server.port)


def test_two_masters_sharing_a_redis_each_report_their_own_counts(gunicorn, redis_prefix):
    a = gunicorn(workers=2, env=redis_env(redis_prefix, instance="host-a")).start()
    b = gunicorn(workers=2, env=redis_env(redis_prefix, instance="host-b")).start()
    assert a.send(30) == {200: 30}
    assert b.send(50) == {200: 50}
    assert a.scrape().total("gunicorn_requests_total") == 30
    assert b.scrape().total("gunicorn_requests_total") == 50
    wait_redis_total(redis_prefix, 30, instance="host-a")
    wait_redis_total(redis_prefix, 50, instance="host-b")

    fleet = gunicorn(workers=1, env=redis_env(redis_prefix, instance="host-c", REDIS_SCOPE="all")).start()
    assert fleet.send(7) == {200: 7}
    every_slot = {"host-a/0", "host-a/1", "host-b/0", "host-b/1", "host-c/0"}

    def fleet_complete():
        s = fleet.scrape()
        return (
            s.total("gunicorn_requests_total") == 87 and set(s.by_label("gunicorn_worker_busy", "worker")) == every_slot
        )

    wait_until(fleet_complete, message="the fleet's totals and every instance's slots")
    # The instance-scoped masters still see only themselves.
    assert a.scrape().total("gunicorn_requests_total") == 30
    assert b.scrape().total("gunicorn_requests_total") == 50


def test_a_sigkilled_worker_loses_no_count_in_redis(gunicorn, redis_prefix):
    server = gunicorn(workers=2, env=redis_env(redis_prefix)).start()
    assert server.send(100) == {200: 100}
    victim = server.worker_pids()[0]
    os.kill(victim, signal.SIGKILL)
    server.wait_workers(2, exclude=[victim])
    wait_redis_total(redis_prefix, 100)
    assert server.send(50) == {200: 50}
    wait_redis_total(redis_prefix, 150)
    assert server.scrape().total("gunicorn_requests_total") == 150


def test_worker_restarts_keep_redis_keys_bounded_and_counters_exact(gunicorn, redis_prefix):
    # 4 workers recycled every 2 requests: 1,000 requests replace about 500 workers.
    server = gunicorn(workers=4, env=redis_env(redis_prefix), args=["--max-requests", "2"]).start()
    client = storage_client(redis_prefix).redis
    assert server.send(8, concurrency=2) == {200: 8}
    wait_redis_total(redis_prefix, 8)
    keys_after_first = sorted(client.scan_iter(match=f"{redis_prefix}:*"))

    seen = []
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            seen.append(redis_total(redis_prefix))
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        statuses = server.send(1000, concurrency=8)
    finally:
        stop.set()
        watcher.join()
    assert statuses == {200: 1000}
    restarts = server.log().count("Autorestarting worker after current request")
    assert restarts >= 450, restarts
    wait_redis_total(redis_prefix, 1008)
    assert seen == sorted(seen), "a counter in Redis went down"
    keys = sorted(client.scan_iter(match=f"{redis_prefix}:*"))
    assert keys == keys_after_first, (keys_after_first, keys)
    assert len(keys) <= 4 + 3
    assert server.scrape().total("gunicorn_requests_total") == 1008
    assert all(client.ttl(key) == -1 for key in keys)  # no TTL on anything still part of a total


def test_frozen_redis_costs_no_request_and_no_count(gunicorn, private_redis, redis_prefix):
    redis_server = private_redis().start()
    server = gunicorn(workers=2, env=redis_env(redis_prefix, port=redis_server.port, interval=0.3)).start()
    statuses: dict[int, int] = {}
    stop = threading.Event()

    def load():
        while not stop.is_set():
            for status, count in server.send(20, concurrency=4).items():
                statuses[status] = statuses.get(status, 0) + count

    loader = threading.Thread(target=load)
    loader.start()
    try:
        wait_until(lambda: sum(statuses.values()) >= 40, message="load running")
        redis_server.freeze()
        frozen_at = time.monotonic()
        s = wait_until(
            lambda: (x := scrape(server.metrics_port, timeout=5)).value("gunicorn_exporter_storage_up") == 0 and x,
            message="storage_up 0 while Redis is frozen",
        )
        assert s.total("gunicorn_exporter_storage_errors_total") >= 1
        served_while_frozen = sum(statuses.values())
        time.sleep(max(0.0, 10 - (time.monotonic() - frozen_at)))
        assert sum(statuses.values()) > served_while_frozen, "requests stopped while Redis was frozen"
        assert server.scrape().total("gunicorn_requests_total") >= served_while_frozen
        redis_server.thaw()
    finally:
        stop.set()
        loader.join()
        redis_server.thaw()
    sent = sum(statuses.values())
    assert statuses == {200: sent}
    wait_redis_total(redis_prefix, sent, port=redis_server.port)
    wait_until(lambda: _storage_up(server) == 1, message="storage_up back to 1")
    assert server.scrape().total("gunicorn_requests_total") == sent
    assert "Redis storage at 127.0.0.1" in server.log() and "answers again" in server.log()


def test_unreachable_then_restarted_empty_redis_gets_the_totals_back(gunicorn, private_redis, redis_prefix):
    redis_server = private_redis()  # not started yet: nothing listens on its port
    server = gunicorn(workers=2, env=redis_env(redis_prefix, port=redis_server.port, interval=0.3)).start()
    assert server.send(30) == {200: 30}
    s = server.scrape()
    assert s.value("gunicorn_exporter_storage_up") == 0
    assert s.total("gunicorn_requests_total") == 30

    redis_server.start()
    wait_redis_total(redis_prefix, 30, port=redis_server.port)
    assert server.send(10) == {200: 10}
    wait_redis_total(redis_prefix, 40, port=redis_server.port)

    redis_server.kill()
    redis_server.start()  # empty: nothing saved
    assert redis_total(redis_prefix, port=redis_server.port) == 0
    wait_redis_total(redis_prefix, 40, port=redis_server.port, timeout=10)
    wait_until(lambda: _storage_up(server) == 1, message="storage_up back to 1")


def test_graceful_shutdown_writes_the_final_totals(gunicorn, redis_prefix):
    # An interval far longer than the test: only the start-up and final writes happen.
    server = gunicorn(workers=2, env=redis_env(redis_prefix, interval=600)).start()
    assert server.send(25) == {200: 25}
    assert redis_total(redis_prefix) == 0
    assert server.stop() == 0
    assert redis_total(redis_prefix) == 25
    meta = storage_client(redis_prefix).redis.hgetall(f"{redis_prefix}:host-a:meta")
    assert meta[b"state"] == b"stopped"
    assert b"true" not in meta[b"owners"]
    assert "final totals of instance 'host-a' written" in server.log()


def test_a_new_run_replaces_what_the_last_run_of_its_instance_left(gunicorn, redis_prefix):
    first = gunicorn(workers=3, env=redis_env(redis_prefix)).start()
    assert first.send(20) == {200: 20}
    first.stop()
    client = storage_client(redis_prefix).redis
    assert client.exists(f"{redis_prefix}:host-a:2")
    second = gunicorn(workers=1, env=redis_env(redis_prefix)).start()
    assert second.send(3) == {200: 3}
    wait_redis_total(redis_prefix, 3)
    assert not client.exists(f"{redis_prefix}:host-a:2")


SECRET = "s3cret-Pa55-word"


@pytest.mark.parametrize("how", ["password", "url", "wrong-password"])
def test_the_password_never_shows(gunicorn, private_redis, redis_prefix, how):
    redis_server = private_redis(password=SECRET).start()
    env = redis_env(redis_prefix, port=redis_server.port, interval=0.3)
    if how == "password":
        env["REDIS_PASSWORD"] = SECRET
    elif how == "url":
        env["REDIS_URL"] = f"redis://default:{SECRET}@127.0.0.1:{redis_server.port}/0"
        env["REDIS_PORT"] = "1"  # the URL wins
    else:
        env["REDIS_PASSWORD"] = SECRET + "-wrong"
    server = gunicorn(workers=2, env=env, args=["--log-level", "debug"]).start()
    assert server.send(10) == {200: 10}
    if how == "wrong-password":
        assert _storage_up(server) == 0
        assert "Redis storage at 127.0.0.1" in server.log()
    else:
        wait_redis_total(redis_prefix, 10, port=redis_server.port, password=SECRET)
        assert _storage_up(server) == 1
    for pid in [server.process.pid, *server.worker_pids()]:
        environ = psutil.Process(pid).environ()
        holders = {name for name, value in environ.items() if SECRET in value}
        assert holders <= {"REDIS_PASSWORD", "REDIS_URL"}, holders
        assert holders == {name for name in ("REDIS_PASSWORD", "REDIS_URL") if name in env and SECRET in env[name]}
    server.stop()
    assert SECRET not in server.log()
    assert "Traceback" not in server.log()


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("REDIS_ENABLED", "maybe", "true or false"),
        ("REDIS_PORT", "abc", "a port number from 1 to 65535"),
        ("REDIS_DB", "-1", "a whole number of at least 0"),
        ("REDIS_KEY_PREFIX", "two words", "a non-empty key prefix without spaces"),
        ("REDIS_SCOPE", "fleet", "instance"),
        ("REDIS_INSTANCE", "web 1", "a name for this server without spaces"),
        ("REDIS_FLUSH_INTERVAL", "0", "a number of seconds greater than 0"),
    ],
)
def test_a_bad_redis_setting_stops_startup_with_one_line(gunicorn, redis_prefix, variable, value, expected):
    env = redis_env(redis_prefix)
    env[variable] = value
    code, log = gunicorn(workers=2, env=env).run_to_exit()
    assert code != 0
    lines = [line for line in log.splitlines() if variable in line]
    assert len(lines) == 1, log
    assert f"{variable}={value!r}" in lines[0] and expected in lines[0], lines[0]
    assert "Booting worker" not in log and "Traceback" not in log


def test_a_bad_redis_url_is_refused_without_showing_it(gunicorn, redis_prefix):
    env = redis_env(redis_prefix, REDIS_URL=f"redis://user:{SECRET}@localhost:notaport/0")
    code, log = gunicorn(workers=2, env=env).run_to_exit()
    assert code != 0
    assert "REDIS_URL is not valid" in log and SECRET not in log and "Booting worker" not in log


def test_the_guides_redis_storage_example_runs_unchanged(gunicorn, redis_prefix):
    env = {"REDIS_KEY_PREFIX": redis_prefix, "REDIS_INSTANCE": "host-a", "PROMETHEUS_MULTIPROC_DIR": None}
    server = gunicorn(
        config=EXAMPLES / "gunicorn_redis_storage.conf.py", workers=None, worker_class=None, env=env
    ).start()
    server.wait_workers(4)
    assert server.send(40, concurrency=4) == {200: 40}
    assert server.scrape().total("gunicorn_requests_total") == 40
    wait_redis_total(redis_prefix, 40)
    assert server.scrape().value("gunicorn_exporter_storage_up") == 1


def test_a_master_taking_over_an_instance_is_not_overwritten_by_the_old_ones_exit(gunicorn, redis_prefix):
    old = gunicorn(workers=1, env=redis_env(redis_prefix)).start()
    assert old.send(9) == {200: 9}
    wait_redis_total(redis_prefix, 9)
    new = gunicorn(workers=1, env=redis_env(redis_prefix)).start()  # same instance, as after USR2
    assert new.send(4) == {200: 4}
    wait_until(lambda: "a newer Gunicorn master now writes instance 'host-a'" in old.log(), message="old yields")
    old.stop()
    assert "final totals" not in old.log()
    wait_redis_total(redis_prefix, 4)
    time.sleep(1)  # several of the new master's intervals: nothing from the old one comes back
    assert redis_total(redis_prefix) == 4
    assert storage_client(redis_prefix).redis.hget(f"{redis_prefix}:host-a:meta", "state") == b"running"
