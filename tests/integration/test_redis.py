"""Redis storage end to end: exact counts through Redis, on both builds.

Every test starts its own redis-server (redis_server.py) on a free port or a
Unix socket, never the one on 6379, and looks into it with redis-cli. gpx
publishes every second here (--gpx-redis-interval 1) unless a test is about
the interval.

Counting is exact: the harness's readiness probe sends GET / requests, so
expectations are taken from uWSGI's own request log (every request it
served, with the worker's pid), plus what an earlier server stored.
"""

from __future__ import annotations

import http.client
import os
import random
import re
import signal
import struct
import subprocess
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from conftest import (
    SPAWNED,
    Server,
    failures_by_class,
    free_port,
    lines_with,
    logged_requests,
    parse_metrics,
    send,
    start,
    start_together,
    wait_accepting,
    wait_for,
)

# Variables that would configure Redis behind a test's back.
REDIS_VARIABLES = ("REDIS_ENABLED", "REDIS_HOST", "REDIS_PORT", "REDIS_DB", "REDIS_PASSWORD", "REDIS_KEY_PREFIX",
                   "GPX_REDIS_INTERVAL", "GPX_REDIS_TTL", "GPX_INSTANCE", "REDIS_TTL_SECONDS", "REDIS_TTL_DISABLED",
                   "REDIS_SENTINELS", "REDIS_SENTINEL_MASTER", "REDIS_SENTINEL_PASSWORD")

CANNOT = "gpx: cannot use Redis at "


# -- helpers -------------------------------------------------------------------
def key(instance: str, prefix: str = "gunicorn") -> str:
    return f"{prefix}:gpx:instance:{instance}"


def index(prefix: str = "gunicorn") -> str:
    return f"{prefix}:gpx:instances"


def make(server_factory, build, *args, env=None, **kw) -> Server:
    """A server whose environment says nothing about Redis but `env`."""
    s = server_factory(build, *args, **kw)
    for var in REDIS_VARIABLES:
        s.env.pop(var, None)
    s.env.update(env or {})
    return s


def log_by_label(s: Server) -> Counter:
    return Counter((m, str(st)) for _, m, _, st in logged_requests(s))


def log_by_worker(s: Server) -> Counter:
    """Logged requests by worker id (pids of every life, reloads included)."""
    wid = {int(pid): w for w, pid in SPAWNED.findall(s.output())}
    return Counter(wid[pid] for pid, _, _, _ in logged_requests(s))


def by_label(m, instance=None) -> Counter:
    """gunicorn_requests_total by (method, status): this server's, or one
    instance's of a fleet view, or (instance=None) the fleet's sums."""
    return Counter(m.by("gunicorn_requests_total", "method", "status", gpx_instance=instance))


def per_worker(m, instance=None) -> Counter:
    return Counter(m.by("gunicorn_worker_requests_total", "worker_id", gpx_instance=instance))


def settle(s: Server, base: int = 0):
    """Waits until gpx counted every request uWSGI logged (plus `base`, the
    restored totals) and returns that scrape."""
    wait_for(lambda: s.requests_total() == base + len(logged_requests(s)), 15,
             what=f"{base} + every logged request counted")
    time.sleep(0.1)  # none still between its log line and the hook
    m = s.scrape()
    assert m.sum("gunicorn_requests_total") == base + len(logged_requests(s))
    return m


def storage_up(s: Server) -> float:
    return s.scrape().value("gunicorn_exporter_storage_up")


def wait_storage_up(s: Server, value: int, timeout: float = 10.0) -> None:
    wait_for(lambda: storage_up(s) == value, timeout, what=f"storage_up {value}")


def connect_errors(s: Server) -> float:
    return s.scrape().value("gunicorn_exporter_storage_errors_total", operation="connect")


def fleet(s: Server, timeout: float = 5.0):
    r = requests.get(f"http://127.0.0.1:{s.metrics_port}/metrics/fleet", timeout=timeout)
    r.raise_for_status()
    return parse_metrics(r.text)


def wait_fleet(s: Server, expected: dict, timeout: float = 3.0):
    """Waits until the fleet view read from `s` shows, per instance, exactly
    the requests_total series in `expected` ({instance: Counter})."""

    def matches():
        fm = fleet(s)
        return fm if all(by_label(fm, i) == c for i, c in expected.items()) else None

    return wait_for(matches, timeout, interval=0.1, what=f"the fleet view to show {expected}")


KINDS = [("GET", "/", None, 200), ("GET", "/missing", None, 404), ("POST", "/", b"p" * 300, 200)]


def traffic(s: Server, n: int, threads: int = 8, seed: int = 0) -> Counter:
    """n mixed requests (GET 200, GET 404, POST 200) from `threads` clients;
    returns what was sent by (method, status) after checking every answer."""
    rnd = random.Random(seed)
    plan = [rnd.choice(KINDS) for _ in range(n)]

    def one(kind):
        method, path, body, status = kind
        got = send(s, method, path, body)
        assert got == status, (method, path, got)
        return method, str(status)

    with ThreadPoolExecutor(threads) as pool:
        return Counter(pool.map(one, plan))


def probes_in(s: Server, sent: Counter) -> int:
    """What the log has beyond `sent`: only GET / of the readiness probe."""
    extra = log_by_label(s) - sent
    assert set(extra) <= {("GET", "200")} and (log_by_label(s) - extra) == sent, (log_by_label(s), sent)
    return extra[("GET", "200")]


# -- 1. exact counts, no files ---------------------------------------------------
def test_exact_counts_with_redis_and_no_files(build, redis_factory, server_factory, tmp_path):
    r = redis_factory()
    s = start(make(server_factory, build, "--processes", "2", *r.gpx_args("one")), 2)
    sent = traffic(s, 400)
    assert sum(sent.values()) == 400 and len(sent) == 3
    m = settle(s)
    probes = probes_in(s, sent)
    assert by_label(m) == sent + Counter({("GET", "200"): probes})
    assert sum(per_worker(m).values()) == 400 + probes
    assert per_worker(m) == log_by_worker(s)

    # No file: not even the directory.
    assert not Path(s.multiproc_dir).exists()
    ours = r"(uwsgi-\d+\.(log|pid))|redis-.*\.log"  # the harness's own files
    assert sorted(p.name for p in tmp_path.iterdir() if not re.fullmatch(ours, p.name)) == []

    wait_for(lambda: r.strlen(key("one")) > 0, 2.5, what="the instance's key")
    assert 0 < r.ttl(key("one")) <= 86400
    assert r.zrange(index()) == ["one"]
    assert sorted(r.keys()) == sorted([key("one"), index()])
    assert m.value("gunicorn_exporter_storage_up") == 1
    assert m.sum("gunicorn_exporter_build_info", storage="redis") == 1
    assert len(m.series("gunicorn_exporter_build_info")) == 1
    assert m.by("gunicorn_exporter_storage_errors_total", "operation") == {
        "connect": 0, "restore": 0, "publish": 0, "fleet": 0}
    # Within two intervals, Redis holds exactly what was counted.
    fm = wait_fleet(s, {"one": by_label(m)})
    assert per_worker(fm, "one") == per_worker(m)
    assert fm.value("gunicorn_fleet_instances") == 1


# -- 2. restart continues; cleanup starts from zero; SIGHUP continues -----------
def test_restart_continues_cleanup_starts_from_zero_reload_continues(build, redis_factory, server_factory):
    r = redis_factory()
    args = ("--processes", "2", *r.gpx_args("same"))

    a = start(make(server_factory, build, *args), 2)
    traffic(a, 40, seed=1)
    ma = settle(a)
    a.stop()

    # Same instance: every counter continues from what `a` stored.
    b = start(make(server_factory, build, *args), 2)
    wait_storage_up(b, 1)
    continued = "gpx: counters continue from the totals stored in Redis (gunicorn:gpx:instance:same)"
    assert len(lines_with(b, continued)) == 1
    traffic(b, 30, seed=2)
    mb = settle(b, base=int(ma.sum("gunicorn_requests_total")))
    assert by_label(mb) == by_label(ma) + log_by_label(b)
    assert per_worker(mb) == per_worker(ma) + log_by_worker(b)
    b.stop()
    total_b = int(mb.sum("gunicorn_requests_total"))

    # A cold start with cleanup: from zero, and the stored key is replaced.
    c = start(make(server_factory, build, *args, "--gpx-cleanup-db-files", "true"), 2)
    wait_storage_up(c, 1)
    assert len(lines_with(c, "gpx: cleanup on a cold start: removed gunicorn:gpx:instance:same")) == 1
    assert not lines_with(c, "counters continue")
    traffic(c, 10, seed=3)
    mc = settle(c, base=0)
    assert by_label(mc) == log_by_label(c)
    assert per_worker(mc) == log_by_worker(c)
    assert mc.sum("gunicorn_requests_total") < total_b
    wait_fleet(c, {"same": by_label(mc)})
    assert r.zrange(index()) == ["same"]

    # A SIGHUP reload is no cold start: the counters continue, cleanup or not.
    before_reload = log_by_label(c)
    wait_accepting(c, 2)
    c.signal(signal.SIGHUP)
    wait_for(lambda: len(lines_with(c, "gpx: serving metrics")) == 2, 30, what="metrics served again")
    c.wait_ready()
    c.wait_workers_started(2)
    wait_storage_up(c, 1)
    assert len(lines_with(c, "gpx: cleanup on a cold start")) == 1
    assert len(lines_with(c, "gpx: counters continue from the totals stored")) == 1
    traffic(c, 12, seed=4)
    mc2 = settle(c, base=0)  # the log holds both lives: before + after
    assert by_label(mc2) == by_label(mc) + (log_by_label(c) - before_reload)
    assert per_worker(mc2) == log_by_worker(c)
    wait_fleet(c, {"same": by_label(mc2)})
    wait_accepting(c, 2)


# -- 3. a frozen Redis slows nothing ----------------------------------------------
@pytest.mark.slow
def test_frozen_redis_does_not_slow_requests(build, redis_factory, server_factory):
    r = redis_factory()
    s = start(make(server_factory, build, "--processes", "2", *r.gpx_args("frozen")), 2)
    wait_storage_up(s, 1)

    results = []  # (started, latency, status)
    stop = threading.Event()

    def client():
        while not stop.is_set():
            t0 = time.monotonic()
            try:
                status = send(s, "GET", "/", timeout=5)
            except OSError as exc:
                status = repr(exc)
            results.append((t0, time.monotonic() - t0, status))

    t = threading.Thread(target=client)
    t.start()
    scrape_times = []
    try:
        wait_for(lambda: len(results) >= 20, 10, what="requests before the freeze")
        frozen_at = time.monotonic()
        r.freeze()
        try:
            wait_for(lambda: storage_up(s) == 0, 6, what="storage_up 0 while Redis is frozen")
            while time.monotonic() - frozen_at < 8.0:
                t0 = time.monotonic()
                assert requests.get(s.metrics_url, timeout=2).status_code == 200
                scrape_times.append(time.monotonic() - t0)
                time.sleep(0.2)  # a scraper's pace through the 8 s freeze (the scenario's length)
        finally:
            thawed_at = time.monotonic()
            r.thaw()
        wait_storage_up(s, 1, timeout=6)
        mark = len(results)
        wait_for(lambda: len(results) >= mark + 10, 10, what="requests after the thaw")
    finally:
        stop.set()
        t.join()

    assert [x for x in results if x[2] != 200] == []
    # Counts, not latencies: a request or a scrape that waited for the frozen
    # Redis would wait for its 1 s timeout, so fewer than 8 of either would
    # fit in the 8 s of the freeze (one client, requests one after another).
    during = [lat for t0, lat, _ in results if frozen_at <= t0 <= thawed_at]
    assert len(during) > 50, sorted(during)[-5:]
    assert len(scrape_times) > 10, scrape_times

    m = settle(s)
    assert m.sum("gunicorn_requests_total") == len(results) + probes_in(s, Counter({("GET", "200"): len(results)}))
    errors = m.by("gunicorn_exporter_storage_errors_total", "operation")
    assert errors["publish"] + errors["connect"] > 0
    fm = wait_fleet(s, {"frozen": by_label(m)})
    assert fm.sum("gunicorn_requests_total", gpx_instance="frozen") == m.sum("gunicorn_requests_total")
    assert r.strlen(key("frozen")) > 0


# -- 4. Redis killed and back empty -------------------------------------------------
@pytest.mark.slow
def test_redis_killed_and_back_empty_gets_the_full_totals(build, redis_factory, server_factory):
    r = redis_factory()
    s = start(make(server_factory, build, "--processes", "2", *r.gpx_args("phoenix")), 2)
    traffic(s, 30, seed=5)
    wait_fleet(s, {"phoenix": by_label(settle(s))})
    assert lines_with(s, CANNOT) == []

    for outage in (1, 2):
        r.kill()
        wait_storage_up(s, 0, timeout=5)
        traffic(s, 25, seed=5 + outage)  # counted locally meanwhile
        m = settle(s)
        # The fleet view needs Redis: 503, counted; the server goes on.
        fleet_errors = m.value("gunicorn_exporter_storage_errors_total", operation="fleet")
        resp = requests.get(f"http://127.0.0.1:{s.metrics_port}/metrics/fleet", timeout=3)
        assert resp.status_code == 503
        assert s.scrape().value("gunicorn_exporter_storage_errors_total", operation="fleet") == fleet_errors + 1
        # One line per outage, however many retries (docs/storage.md).
        errors = connect_errors(s)
        wait_for(lambda errors=errors: connect_errors(s) >= errors + 2, 5, what="two more connection attempts")
        lines = lines_with(s, CANNOT)
        assert len(lines) == outage, lines
        assert lines[-1].startswith(f"{CANNOT}{r.where}: Connection refused; ")

        r.restart()
        wait_for(lambda: r.strlen(key("phoenix")) > 0, 2.5, what="the key back in the new Redis")
        fm = wait_fleet(s, {"phoenix": by_label(m)})
        assert per_worker(fm, "phoenix") == per_worker(m) == log_by_worker(s)
        assert r.zrange(index()) == ["phoenix"]
        wait_storage_up(s, 1, timeout=3)
    assert by_label(m) == log_by_label(s)


# -- 5. Redis unusable: start-up proceeds, one line ------------------------------
def test_unusable_redis_does_not_block_start_up(build, redis_factory, server_factory, tmp_path):
    locked = redis_factory(password="secret")
    closed_port = free_port()
    nope = f"/tmp/gpx-nope-{closed_port}.sock"
    assert not Path(nope).exists()
    common = ("--processes", "1", "--gpx-redis", "true", "--gpx-redis-interval", "1")
    cases = {
        "password": (f"127.0.0.1:{locked.port}", ("--gpx-redis-host", "127.0.0.1", "--gpx-redis-port",
                                                 str(locked.port), "--gpx-redis-password", "wrong")),
        "port": (f"127.0.0.1:{closed_port}", ("--gpx-redis-host", "127.0.0.1", "--gpx-redis-port", str(closed_port))),
        "socket": (nope, ("--gpx-redis-host", nope)),
    }
    servers = {name: make(server_factory, build, *common, "--gpx-instance", name, *args)
               for name, (_, args) in cases.items()}
    launched = {}
    for name, s in servers.items():
        launched[name] = time.monotonic()
        s.start(wait=False)

    def metrics_answered(s):
        if s.proc.poll() is not None:
            raise AssertionError(f"uwsgi exited with {s.proc.returncode}:\n{s.output()}")
        return requests.get(s.metrics_url, timeout=2).status_code == 200

    for name, s in servers.items():
        wait_for(lambda s=s: metrics_answered(s), 10, what=f"/metrics of {name}")
        assert time.monotonic() - launched[name] < 2.0, name
        s.wait_ready()
        s.wait_workers_started(1)
    for s in servers.values():
        for _ in range(5):
            assert send(s, "GET", "/") == 200
        assert send(s, "GET", "/missing") == 404
        m = settle(s)
        assert by_label(m) == log_by_label(s)
        assert m.value("gunicorn_exporter_storage_up") == 0
    # The master keeps answering while its thread retries.
    for name, s in servers.items():
        wait_for(lambda s=s: connect_errors(s) >= 3, 10, what=f"3 connect errors for {name}")
    for name, s in servers.items():
        t0 = time.monotonic()
        m = s.scrape()
        assert time.monotonic() - t0 < 2.0
        assert m.value("gunicorn_exporter_storage_up") == 0
        assert m.value("gunicorn_exporter_storage_errors_total", operation="connect") >= 3
        assert m.value("gunicorn_exporter_storage_errors_total", operation="publish") == 0
        lines = lines_with(s, CANNOT)
        where = cases[name][0]
        assert len(lines) == 1, lines
        assert lines[0].startswith(f"{CANNOT}{where}: ") and lines[0].endswith("; counting locally, retrying every 1 s")
    assert "AUTH" in lines_with(servers["password"], CANNOT)[0]
    assert locked.keys() == []
    assert not Path(nope).exists()

    # The right password works.
    good = start(make(server_factory, build, "--processes", "1", *locked.gpx_args("good")), 1)
    wait_storage_up(good, 1)
    wait_for(lambda: locked.strlen(key("good")) > 0, 2.5, what="the key with the right password")
    assert locked.keys() == sorted([key("good"), index()])
    assert lines_with(good, CANNOT) == []
    assert connect_errors(good) == 0


def test_frozen_redis_at_start_up_restores_once_it_answers(build, redis_factory, server_factory):
    """A Redis that accepts connections but answers nothing: the master does
    not wait for it, and nothing is published over the stored totals before
    they could be read."""
    r = redis_factory()
    args = ("--processes", "1", *r.gpx_args("late"))
    a = start(make(server_factory, build, *args), 1)
    traffic(a, 20, seed=11)
    ma = settle(a)
    a.stop()

    r.freeze()
    try:
        b = make(server_factory, build, *args)
        launched = time.monotonic()
        b.start(wait=False)
        wait_for(lambda: requests.get(b.metrics_url, timeout=2).status_code == 200, 10, what="/metrics")
        assert time.monotonic() - launched < 2.0
        b.wait_ready()
        b.wait_workers_started(1)
        traffic(b, 10, seed=12)
        mb = settle(b)  # nothing restored yet: only what b served
        assert by_label(mb) == log_by_label(b)
        wait_for(lambda: b.scrape().value("gunicorn_exporter_storage_errors_total", operation="restore") >= 2, 8,
                 what="two timed-out reads of the stored totals")
        # Five scrapes in well under the 5 s they would take if each waited
        # for the frozen Redis's 1 s timeout.
        t0 = time.monotonic()
        for _ in range(5):
            assert b.scrape().value("gunicorn_exporter_storage_up") == 0
        assert time.monotonic() - t0 < 2.5
    finally:
        r.thaw()
    wait_storage_up(b, 1, timeout=6)
    mb = settle(b, base=int(ma.sum("gunicorn_requests_total")))
    assert by_label(mb) == by_label(ma) + log_by_label(b)
    wait_fleet(b, {"late": by_label(mb)})


# -- 6. Unix socket (and a database other than 0) -------------------------------------
def test_unix_socket(build, redis_factory, server_factory, tmp_path):
    sock = str(tmp_path / "r.sock")
    assert len(sock) < 100
    r = redis_factory(unixsocket=sock)
    s = start(make(server_factory, build, "--processes", "2", *r.gpx_args("unix"), "--gpx-redis-db", "3"), 2)
    traffic(s, 20, seed=7)
    m = settle(s)
    wait_storage_up(s, 1)
    fm = wait_fleet(s, {"unix": by_label(m)})
    assert per_worker(fm, "unix") == per_worker(m)
    assert int(r.cli("-n", "3", "STRLEN", key("unix"))) > 0
    assert r.cli("-n", "3", "ZRANGE", index(), "0", "-1") == "unix"
    assert r.keys() == []  # nothing in db 0
    assert len(lines_with(s, f"gpx: storage redis {sock} db 3, key gunicorn:gpx:instance:unix every 1 s")) == 1


# -- 7. two servers, one Redis: the fleet view --------------------------------------
def test_two_servers_one_redis_fleet(build, redis_factory, server_factory):
    r = redis_factory()
    a = make(server_factory, build, "--processes", "2", *r.gpx_args("alpha"), "--route", "^/fleet$ gpx:fleet")
    b = make(server_factory, build, "--processes", "1", *r.gpx_args("beta"))
    start_together((a, 2), (b, 1))
    traffic(a, 60, seed=8)
    traffic(b, 25, seed=9)
    ma, mb = settle(a), settle(b)
    assert by_label(ma) != by_label(mb)
    expected = {"alpha": by_label(ma), "beta": by_label(mb)}

    assert r.strlen(key("alpha")) > 0 and r.strlen(key("beta")) > 0
    assert r.zrange(index()) == ["alpha", "beta"]
    for s in (a, b):
        fm = wait_fleet(s, expected)
        assert per_worker(fm, "alpha") == per_worker(ma) and set(per_worker(fm, "alpha")) == {"1", "2"}
        assert per_worker(fm, "beta") == per_worker(mb) and set(per_worker(fm, "beta")) == {"1"}
        # The fleet's sums carry no gpx_instance label.
        assert by_label(fm) == by_label(ma) + by_label(mb)
        total = ma.sum("gunicorn_requests_total") + mb.sum("gunicorn_requests_total")
        assert sum(v for ls, v in fm.series("gunicorn_request_duration_seconds_count").items()
                   if "gpx_instance" not in dict(ls)) == total
        assert fm.sum("gunicorn_request_duration_seconds_count", gpx_instance="alpha") == ma.sum(
            "gunicorn_requests_total")
        assert fm.value("gunicorn_fleet_instances") == 2

    # The route action serves the same view on the app's port.
    resp = requests.get(a.url("/fleet"), timeout=5)
    assert resp.status_code == 200
    routed = parse_metrics(resp.text)
    assert routed.value("gunicorn_fleet_instances") == 2
    assert by_label(routed, "alpha") == by_label(ma) and by_label(routed, "beta") == by_label(mb)

    # beta's worker killed from outside: a forced restart, in the fleet view's restart families as on beta's
    # own page, the exporter's second pair included, in each family's label order.
    victim = b.worker_pids()[0]
    os.kill(victim, signal.SIGKILL)
    wait_accepting(b, 1, exclude=[victim])
    signal_restart = {"gpx_instance": "beta", "worker_id": "1", "reason": "signal"}

    def restart_in_fleet():
        fm = fleet(a)
        return fm if fm.get("gunicorn_worker_restart_total", **signal_restart) == 1 else None

    fm = wait_for(restart_in_fleet, 15, interval=0.2, what="beta's restart in the fleet view")
    assert fm.value("gunicorn_worker_restart_count_total", restart_type="forced", **signal_restart) == 1
    assert fm.value("gunicorn_master_worker_restart_count_total", restart_type="forced", **signal_restart) == 1
    assert fm.value("gunicorn_master_worker_restart_total", gpx_instance="beta", reason="signal") == 1
    for family in ("gunicorn_worker_restart_total", "gunicorn_worker_restart_count_total",
                   "gunicorn_master_worker_restart_count_total"):
        assert fm.sum(family) == 1, family
        assert len(fm.series(family)) == 3 * 8, family  # alpha's 2 slots and beta's 1, every reason
    text = requests.get(f"http://127.0.0.1:{a.metrics_port}/metrics/fleet", timeout=5).text.splitlines()
    assert ('gunicorn_worker_restart_count_total{gpx_instance="beta",worker_id="1",restart_type="forced",'
            'reason="signal"} 1') in text
    assert ('gunicorn_master_worker_restart_count_total{gpx_instance="beta",worker_id="1",reason="signal",'
            'restart_type="forced"} 1') in text


# -- 7b. the fleet view's workers, resources and health; skipped snapshots -----------
# The snapshot's header: magic, layout version, slot, cell and worker counts, created and taken (unix seconds).
TAKEN_AT = 8 + 4 * 4 + 8
STATES = ("idle", "busy", "cheap", "paused", "stopping")


def instance_series(m, family: str, instance: str | None) -> dict:
    """A family's series of one instance (or, None, the fleet's sums), keyed by their other labels."""
    out = {}
    for ls, v in m.series(family).items():
        d = dict(ls)
        if d.pop("gpx_instance", None) == instance:
            out[tuple(sorted(d.items()))] = v
    return out


def test_fleet_view_workers_resources_health_and_skipped_snapshots(build, redis_factory, server_factory):
    r = redis_factory()
    a = make(server_factory, build, "--processes", "2", *r.gpx_args("alpha"), "--gpx-fleet-max-age", "60")
    b = make(server_factory, build, "--processes", "1", *r.gpx_args("beta"))
    start_together((a, 2), (b, 1))
    traffic(a, 20, seed=3)
    ma, mb = settle(a), settle(b)
    wait_fleet(a, {"alpha": by_label(ma), "beta": by_label(mb)})

    # beta's only worker held in a request: busy, one in progress, in the view within a publish or two.
    held = threading.Thread(target=lambda: requests.get(b.url("/sleep?s=4"), timeout=30))
    held.start()

    def beta_busy():
        fm = fleet(a)
        return fm if fm.get("gunicorn_requests_in_progress", gpx_instance="beta") == 1 else None

    fm = wait_for(beta_busy, 10, interval=0.1, what="beta's held request in the fleet view")
    for state in STATES:
        assert fm.value("gunicorn_worker_state", gpx_instance="beta", worker_id="1", state=state) == (
            state == "busy")
        for w in ("1", "2"):
            assert fm.value("gunicorn_worker_state", gpx_instance="alpha", worker_id=w, state=state) == (
                state == "idle")
    assert instance_series(fm, "gunicorn_workers", "alpha") == {(("state", st),): 2.0 * (st == "idle")
                                                               for st in STATES}
    assert instance_series(fm, "gunicorn_workers", "beta") == {(("state", st),): 1.0 * (st == "busy")
                                                              for st in STATES}
    assert instance_series(fm, "gunicorn_workers", None) == {(("state", st),): 2.0 * (st == "idle") + (
        st == "busy") for st in STATES}
    assert fm.value("gunicorn_requests_in_progress", gpx_instance="alpha") == 0
    assert instance_series(fm, "gunicorn_requests_in_progress", None) == {(): 1.0}
    assert fm.value("gunicorn_workers_desired", gpx_instance="alpha") == 2
    assert fm.value("gunicorn_workers_desired", gpx_instance="beta") == 1
    assert instance_series(fm, "gunicorn_workers_desired", None) == {(): 3.0}
    held.join()

    # Memory, CPU and uptime per live worker, with the same labels as each instance's own page.
    for s, name, n in ((a, "alpha", 2), (b, "beta", 1)):
        own = s.scrape()
        for family in ("gunicorn_worker_memory_bytes", "gunicorn_worker_cpu_percent",
                       "gunicorn_worker_uptime_seconds", "gunicorn_worker_cpu_seconds_total"):
            got = instance_series(fm, family, name)
            assert set(got) == set(instance_series(own, family, None)) == {
                (("worker_id", str(w)),) for w in range(1, n + 1)}, family
            assert instance_series(fm, family, None) == {}, family  # no sum of per-worker gauges
        assert all(v > 0 for v in instance_series(fm, "gunicorn_worker_memory_bytes", name).values())
        # The accept queue: the same listener and limit as on the instance's own page.
        assert instance_series(fm, "gunicorn_listen_backlog_limit", name) == instance_series(
            own, "gunicorn_listen_backlog_limit", None)
        assert set(instance_series(fm, "gunicorn_listen_backlog", name)) == {
            (("listener", f"127.0.0.1:{s.app_port}"),)}
        assert fm.value("gunicorn_exporter_storage_up", gpx_instance=name) == 1
        assert instance_series(fm, "gunicorn_exporter_storage_errors_total", name) == instance_series(
            own, "gunicorn_exporter_storage_errors_total", None)
    assert instance_series(fm, "gunicorn_listen_backlog", None) == {(): 0.0}
    assert instance_series(fm, "gunicorn_listen_backlog_limit", None) == {}
    assert instance_series(fm, "gunicorn_exporter_storage_errors_total", None) == {
        (("operation", op),): 0.0 for op in ("connect", "restore", "publish", "fleet")}
    assert instance_series(fm, "gunicorn_exporter_fleet_snapshots_skipped", None) == {
        (("reason", why),): 0.0 for why in ("stale", "malformed", "layout")}

    # Beside them, snapshots gpx must not read: alpha's cut short, with a damaged extension, taken an hour
    # ago (alpha reads at most 60 s old), and of a newer layout. Each skipped, counted and logged once.
    blob = r.get_bytes(key("alpha"))
    assert len(blob) > TAKEN_AT + 8 and blob[:8] == b"GPXSNAP1"
    ext = blob.index(b"GPXSNAPX")
    old = bytearray(blob)
    old[TAKEN_AT:TAKEN_AT + 8] = struct.pack("=Q", int(time.time()) - 3600)
    newer = bytearray(blob)
    newer[8:12] = struct.pack("=I", struct.unpack("=I", blob[8:12])[0] + 1)
    damaged = bytearray(blob)
    damaged[ext + 12:ext + 16] = struct.pack("=I", 7)  # the extension's size
    bad = {"cut": blob[:-1], "damaged": bytes(damaged), "old": bytes(old), "newer": bytes(newer)}
    for name, value in bad.items():
        assert r.cli_set(key(name), value) == "OK"
        r.cli("ZADD", index(), str(int(time.time())), name)
    for _ in range(2):
        fm = fleet(a)
        assert fm.value("gunicorn_fleet_instances") == 2
        assert instance_series(fm, "gunicorn_exporter_fleet_snapshots_skipped", None) == {
            (("reason", "stale"),): 1.0, (("reason", "malformed"),): 2.0, (("reason", "layout"),): 1.0}
        assert by_label(fm, "alpha") and by_label(fm, "beta")
        assert all(by_label(fm, n) == Counter() for n in bad)
    for name in bad:
        assert len(lines_with(a, f"the snapshot of instance {name} is skipped")) == 1, name
    assert "taken 36" in lines_with(a, "the snapshot of instance old is skipped")[0]
    # beta reads with the TTL (a day) as the limit: the hour-old snapshot is shown.
    fb = fleet(b)
    assert fb.value("gunicorn_fleet_instances") == 3 and by_label(fb, "old") == by_label(fm, "alpha")

    # promtool finds nothing to say of the page, nor of the OpenMetrics one but its end.
    text = requests.get(f"http://127.0.0.1:{a.metrics_port}/metrics/fleet", timeout=5).text
    check = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
    assert check.returncode == 0 and check.stdout + check.stderr == "", check.stdout + check.stderr
    om = requests.get(f"http://127.0.0.1:{a.metrics_port}/metrics/fleet", timeout=5,
                      headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert om.headers["Content-Type"].startswith("application/openmetrics-text") and om.text.endswith("# EOF\n")
    assert "# TYPE gunicorn_exporter_storage_errors counter\n" in om.text


def test_fleet_view_at_200_instances_of_16_workers(build, redis_factory, server_factory):
    """One real instance of 16 workers, and 199 more made of copies of its snapshot (the same encoder's
    bytes): the view shows all 200, with sums 200 times one instance's, within the read's deadline."""
    r = redis_factory()
    s = make(server_factory, build, "--processes", "16", *r.gpx_args("fleet-000"))
    s.start()
    s.wait_workers_started(16)
    traffic(s, 40, seed=200)
    m = settle(s)
    wait_fleet(s, {"fleet-000": by_label(m)})
    blob = r.get_bytes(key("fleet-000"))
    assert blob[:8] == b"GPXSNAP1" and b"GPXSNAPX" in blob
    names = [f"fleet-{i:03d}" for i in range(1, 200)]
    for name in names:
        assert r.cli_set(key(name), blob) == "OK"
    r.cli("ZADD", index(), *[x for name in names for x in (str(int(time.time())), name)])

    started = time.monotonic()
    resp = requests.get(f"http://127.0.0.1:{s.metrics_port}/metrics/fleet", timeout=30)
    took = time.monotonic() - started
    assert resp.status_code == 200
    fm = parse_metrics(resp.text)
    assert fm.value("gunicorn_fleet_instances") == 200
    one = by_label(fm, "fleet-000")
    assert one == by_label(m)
    assert by_label(fm) == Counter({k: 200 * v for k, v in one.items()})
    assert instance_series(fm, "gunicorn_workers", None)[(("state", "idle"),)] == 200 * 16
    assert fm.value("gunicorn_workers_desired") == 200 * 16
    assert len(instance_series(fm, "gunicorn_worker_state", "fleet-199")) == 16 * 5
    assert instance_series(fm, "gunicorn_exporter_fleet_snapshots_skipped", None) == {
        (("reason", why),): 0.0 for why in ("stale", "malformed", "layout")}
    # Read and rendered well within the read's deadline (2 s) on a shared machine; the page's size as measured.
    assert took < 5, took
    print(f"\n{build.name}: 200 x 16 fleet view in {took * 1e3:.0f} ms, {len(resp.content)} bytes")
    check = subprocess.run(["promtool", "check", "metrics"], input=resp.text, capture_output=True, text=True,
                           timeout=120)
    assert check.returncode == 0 and check.stdout + check.stderr == "", (check.stdout + check.stderr)[:2000]


# -- 8. a clean stop publishes a last time ------------------------------------------
@pytest.mark.smoke
def test_clean_stop_publishes_the_final_totals(build, redis_factory, server_factory):
    r = redis_factory()
    args = ("--processes", "2", *r.gpx_args("final", interval=60))
    a = start(make(server_factory, build, *args), 2)
    wait_storage_up(a, 1)  # restored and published once, at start
    sent = traffic(a, 35, seed=10)
    ma = settle(a)
    probes = probes_in(a, sent)
    # Nothing more was published since start (the interval is a minute).
    assert fleet(a).sum("gunicorn_requests_total", gpx_instance="final") < ma.sum("gunicorn_requests_total")
    a.stop()
    assert r.strlen(key("final")) > 0

    b = start(make(server_factory, build, *args), 2)
    wait_storage_up(b, 1)
    mb = settle(b, base=35 + probes)
    assert by_label(mb) == by_label(ma) + log_by_label(b)
    assert per_worker(mb) == per_worker(ma) + log_by_worker(b)


def test_stop_without_redis_says_the_final_totals_are_lost(build, redis_factory, server_factory):
    r = redis_factory()
    a = start(make(server_factory, build, "--processes", "1", *r.gpx_args("lost", interval=60)), 1)
    wait_storage_up(a, 1)
    assert lines_with(a, "gpx: counters continue") == []  # nothing was stored: nothing to continue
    r.kill()
    a.stop()
    out = a.output()
    assert "gpx: final totals published to Redis" not in out
    assert len(lines_with(a, "gpx: cannot publish the final totals to Redis: what was counted since the last "
                             "successful publish is lost")) == 1, out


# -- 8b. exception classes survive a restart ------------------------------------------
MODES_APP = Path(__file__).resolve().parent / "apps" / "modes" / "modes_app.py"


def raise_at(s: Server, path: str, n: int) -> None:
    """n requests that the app fails (the client gets no answer)."""
    for _ in range(n):
        conn = http.client.HTTPConnection("127.0.0.1", s.app_port, timeout=10)
        try:
            conn.request("GET", path)
            conn.getresponse().read()
            raise AssertionError(f"{path} was answered")
        except (http.client.RemoteDisconnected, ConnectionResetError):
            pass
        finally:
            conn.close()


def test_restore_keeps_exception_classes(build, redis_factory, server_factory, tmp_path):
    r = redis_factory()

    def modes_server():
        port = free_port()
        return make(server_factory, build, "--http-socket", f"127.0.0.1:{port}", "--wsgi-file", str(MODES_APP),
                    "--processes", "2", *r.gpx_args("classes"), app_port=port, with_app=False,
                    env={"MODES_DIR": str(tmp_path)})

    a = start(modes_server(), 2)
    wait_storage_up(a, 1)
    raise_at(a, "/raise/zero", 3)
    raise_at(a, "/raise/key", 2)
    ma = settle(a)
    assert failures_by_class(ma) == Counter({"ZeroDivisionError": 3, "KeyError": 2})
    a.stop()

    # The restored classes and the new server's own are one set of series:
    # ZeroDivisionError continues, RuntimeError is new, KeyError is restored.
    b = start(modes_server(), 2)
    wait_storage_up(b, 1)
    raise_at(b, "/raise", 1)
    raise_at(b, "/raise/zero", 1)
    mb = settle(b, base=int(ma.sum("gunicorn_requests_total")))
    assert failures_by_class(mb) == Counter({"ZeroDivisionError": 4, "KeyError": 2, "RuntimeError": 1})
    assert len(mb.series("gunicorn_worker_failed_requests_total")) == len(
        {(dict(ls)["worker_id"], dict(ls)["error_type"]) for ls in mb.series("gunicorn_worker_failed_requests_total")})


# -- 9. the environment alone --------------------------------------------------------
def test_environment_alone_configures_redis(build, redis_factory, server_factory):
    r = redis_factory()
    env = {"REDIS_ENABLED": "true", "REDIS_PORT": str(r.port), "REDIS_KEY_PREFIX": "envpfx",
           "GPX_REDIS_INTERVAL": "1"}
    s = start(make(server_factory, build, "--processes", "1", "--gpx-instance", "envinst", env=env), 1)
    wait_for(lambda: r.strlen(key("envinst", "envpfx")) > 0, 2.5, what="envpfx's key")
    assert r.zrange(index("envpfx")) == ["envinst"]
    assert r.keys() == sorted([key("envinst", "envpfx"), index("envpfx")])
    assert not Path(s.multiproc_dir).exists()
    assert len(lines_with(s, "key envpfx:gpx:instance:envinst every 1 s")) == 1
    m = settle(s)
    assert m.value("gunicorn_exporter_storage_up") == 1
    assert m.sum("gunicorn_exporter_build_info", storage="redis") == 1
    wait_fleet(s, {"envinst": by_label(m)})


# -- 10. bad values stop start-up ------------------------------------------------------
def test_bad_redis_values_stop_start_up(build, server_factory):
    cases = [
        (("--gpx-redis-interval", "0"), {},
         'gpx: invalid gpx-redis-interval / GPX_REDIS_INTERVAL "0" (from the option)'),
        (("--gpx-redis-interval", "1", "--gpx-redis-ttl", "1"), {},
         'gpx: invalid gpx-redis-ttl / GPX_REDIS_TTL "1" (from the option)'),
        (("--gpx-redis-ttl", "5"), {}, 'gpx: invalid gpx-redis-ttl / GPX_REDIS_TTL "5" (from the option)'),
        (("--gpx-redis-port", "70000"), {}, 'gpx: invalid gpx-redis-port / REDIS_PORT "70000" (from the option)'),
        ((), {"REDIS_DB": "-1"}, 'gpx: invalid gpx-redis-db / REDIS_DB "-1" (from the environment)'),
        (("--gpx-redis-sentinels", "10.0.0.1:26379,10.0.0.2"), {},
         'gpx: invalid gpx-redis-sentinels / REDIS_SENTINELS "10.0.0.1:26379,10.0.0.2" (from the option): expected '
         'host:port,host:port'),
        ((), {"REDIS_SENTINEL_MASTER": "my master"},
         'gpx: invalid gpx-redis-sentinel-master / REDIS_SENTINEL_MASTER "my master" (from the environment)'),
    ]
    servers = [make(server_factory, build, "--processes", "2", "--gpx-redis", "true", "--gpx-instance", "bad", *args,
                    env=env) for args, env, _ in cases]
    for s in servers:
        s.start(wait=False)
    for s, (_, _, line) in zip(servers, cases, strict=True):
        assert s.proc.wait(30) != 0
        s.stop()
        out = s.output()
        assert [x for x in out.splitlines() if x.startswith("gpx: ")] == [x for x in out.splitlines()
                                                                          if x.startswith(line)], out
        assert len([x for x in out.splitlines() if x.startswith(line)]) == 1, out
        assert "spawned uWSGI worker" not in out and "gpx: storage" not in out
        assert not Path(s.multiproc_dir).exists()


# -- 11. Redis Sentinel: a failover mid-load loses nothing -----------------------------
@pytest.mark.slow
def test_sentinel_failover_mid_load_loses_nothing(build, sentinel_factory, server_factory):
    st = sentinel_factory(password="data-secret", sentinel_password="sentinel-secret")
    old, new = st.master, st.replica
    s = start(make(server_factory, build, "--processes", "2", *st.gpx_args("sentinel", db=3)), 2)
    assert lines_with(s, "gpx: storage redis ") == [
        f"gpx: storage redis master mymaster of Sentinels {st.addresses} db 3, key gunicorn:gpx:instance:sentinel "
        "every 1 s (expires after 86400 s), no files"]
    # Published to the master, in db 3, with the data password.
    wait_for(lambda: old.cli("-n", "3", "EXISTS", key("sentinel")) == "1", 5, what="the key on the first master")
    assert old.cli("EXISTS", key("sentinel")) == "0"
    assert lines_with(s, "gpx: Sentinel names ") == [f"gpx: Sentinel names 127.0.0.1:{old.port} as the master mymaster"]

    # Load from 4 clients all through the failover; `traffic` asserts every answer.
    stop, sent, batches = threading.Event(), Counter(), []

    def load():
        while not stop.is_set():
            sent.update(traffic(s, 20, threads=4, seed=len(batches)))
            batches.append(time.monotonic())

    loader = threading.Thread(target=load)
    loader.start()
    try:
        wait_for(lambda: len(batches) >= 3, 15, what="load before the failover")
        old.kill()  # SIGKILL: what it held is gone with it
        killed = time.monotonic()
        wait_for(lambda: st.current_master() is new, 30, interval=0.1, what="the Sentinels to promote the replica")
        promoted = time.monotonic()
        mark = len(batches)
        wait_for(lambda: len(batches) >= mark + 3, 15, what="load after the failover")
    finally:
        stop.set()
        loader.join(60)
    m = settle(s)
    assert by_label(m) - sent == Counter({("GET", "200"): probes_in(s, sent)})

    # The new master holds the exact totals within a few publish intervals,
    # and the fleet view reads them there (the old master is dead).
    fm = wait_fleet(s, {"sentinel": by_label(m)}, timeout=5)
    caught_up = time.monotonic()
    assert per_worker(fm, "sentinel") == per_worker(m) == log_by_worker(s)
    assert fm.value("gunicorn_fleet_instances") == 1
    assert new.cli("-n", "3", "EXISTS", key("sentinel")) == "1"
    assert new.cli("-n", "3", "ZRANGE", index(), "0", "-1") == "sentinel"
    assert lines_with(s, "gpx: Sentinel names ")[-1] == (
        f"gpx: Sentinel names 127.0.0.1:{new.port} as the master mymaster: publishing the totals there")
    wait_storage_up(s, 1, timeout=3)
    print(f"\nfailover: promoted {promoted - killed:.1f} s after the kill, exact totals on the new master "
          f"{caught_up - promoted:.1f} s after the promotion; {sum(sent.values())} requests, all answered")
    # At most one line for the outage, naming the dead master the Sentinels
    # still gave: none when no publish fell between the kill and the
    # promotion (the Sentinels may promote within one publish interval).
    assert lines_with(s, CANNOT) in ([], [
        f"{CANNOT}the master mymaster of Sentinels {st.addresses}: master at 127.0.0.1:{old.port}: Connection refused; "
        "counting locally, retrying every 1 s"])

    # A stop publishes the final totals to the new master.
    traffic(s, 10, seed=99)
    settle(s)
    s.stop()
    assert "gpx: final totals published to Redis" in s.output()


@pytest.mark.slow
def test_sentinel_switchover_readonly_moves_the_publisher(build, sentinel_factory, server_factory):
    """A failover asked of the Sentinels: the old master lives on as a
    replica, so gpx's next command there is refused (READONLY) or its
    connection closed; either way it asks the Sentinels again."""
    st = sentinel_factory()
    old, new = st.master, st.replica
    s = start(make(server_factory, build, "--processes", "2", *st.gpx_args("switch")), 2)
    traffic(s, 30, seed=11)
    wait_fleet(s, {"switch": by_label(settle(s))})
    assert st.sentinels[0].cli("SENTINEL", "FAILOVER", "mymaster") == "OK"
    wait_for(lambda: st.current_master() is new, 30, interval=0.1, what="the Sentinels to promote the replica")
    wait_for(lambda: "role:slave" in old.cli("INFO", "replication"), 15, what="the old master a replica")
    traffic(s, 30, seed=12)
    m = settle(s)
    wait_fleet(s, {"switch": by_label(m)}, timeout=5)
    wait_for(lambda: lines_with(s, "gpx: Sentinel names ")[-1:] == [
        f"gpx: Sentinel names 127.0.0.1:{new.port} as the master mymaster: publishing the totals there"], 5,
        what="the publisher on the new master")
    assert by_label(m) == log_by_label(s)
    # Replicated back to the old master, now a replica: it refuses writes.
    wait_for(lambda: old.strlen(key("switch")) == new.strlen(key("switch")) > 0, 5, what="the replica in step")
    assert old.cli("SET", "x", "1").startswith("READONLY")


def test_sentinel_down_skipped_wrong_password_or_name_said(build, sentinel_factory, server_factory):
    st = sentinel_factory(sentinel_password="sentinel-secret")
    dead = free_port()
    # A Sentinel that is down is skipped: the next one answers.
    ok = make(server_factory, build, "--processes", "2", *st.gpx_args("skips"))
    ok.cmd[ok.cmd.index(st.addresses)] = f"127.0.0.1:{dead},{st.addresses}"
    wrong = make(server_factory, build, "--processes", "2", *st.gpx_args("wrong"),
                 "--gpx-redis-sentinel-password", "not-it")
    unknown = make(server_factory, build, "--processes", "2", *st.gpx_args("unknown"),
                   "--gpx-redis-sentinel-master", "othermaster")
    for s in (ok, wrong, unknown):
        start(s, 2)
    wait_fleet(ok, {"skips": by_label(settle(ok))})
    assert lines_with(ok, CANNOT) == []
    assert st.master.exists(key("skips"))

    where = f"{CANNOT}the master mymaster of Sentinels {st.addresses}: "
    wrongpass = "AUTH: WRONGPASS invalid username-password pair or user is disabled."
    wait_for(lambda: lines_with(wrong, CANNOT) != [], 5, what="the refusal logged")
    assert lines_with(wrong, CANNOT) == [
        where + "; ".join(f"Sentinel {x.where}: {wrongpass}" for x in st.sentinels)
        + "; counting locally, retrying every 1 s"]
    wait_for(lambda: lines_with(unknown, CANNOT) != [], 5, what="the unknown name logged")
    assert lines_with(unknown, CANNOT) == [
        where.replace("master mymaster", "master othermaster")
        + "; ".join(f'Sentinel {x.where}: knows no master named "othermaster"' for x in st.sentinels)
        + "; counting locally, retrying every 1 s"]
    for s in (wrong, unknown):
        assert storage_up(s) == 0
        assert not st.master.exists(key(s.cmd[s.cmd.index("--gpx-instance") + 1]))
