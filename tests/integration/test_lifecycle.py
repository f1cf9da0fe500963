"""Lifecycle: counters across worker deaths, recycling, reloads, restarts and
layout changes; start-up refusals; a busy metrics port; valgrind.

Every count is exact. The harness's readiness probe (one GET / per start and
per wait_ready) is counted like any request, so expected totals add it.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import struct
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from pathlib import Path

import pytest
import requests

from conftest import BUILDS, Server, get_ok, lines_with, per_worker, send_ok, wait_accepting, wait_for

PROBE = 1  # GET / sent by each start() / wait_ready()


# -- helpers -------------------------------------------------------------------

def scoreboard_path(s: Server) -> Path:
    # The default instance is <hostname>:<gpx-port>.
    return Path(s.multiproc_dir) / f"gpx_{socket.gethostname()}:{s.metrics_port}.scoreboard"


def wait_metrics(s: Server, timeout=30.0) -> None:
    """Waits for this server's metrics endpoint only: no request to the app,
    so nothing is counted."""

    def up():
        if s.proc.poll() is not None:
            raise AssertionError(f"uwsgi exited with {s.proc.returncode}:\n{s.output()}")
        requests.get(s.metrics_url, timeout=2).raise_for_status()
        return True

    wait_for(up, timeout, what=f"metrics on {s.metrics_port}")


def wait_workers(s: Server, count: int, exclude=(), timeout=30.0) -> list[int]:
    """Waits until the master has exactly `count` children, none in `exclude`."""

    def ready():
        pids = s.worker_pids()
        return pids if len(pids) == count and not set(pids) & set(exclude) else None

    return wait_for(ready, timeout, what=f"{count} workers other than {list(exclude)}")


def in_progress(s: Server) -> float:
    return s.scrape().value("gunicorn_requests_in_progress")


# -- 1. workers SIGKILLed under load -----------------------------------------------

@pytest.mark.slow
def test_sigkill_workers_under_load(build, server_factory):
    s = server_factory(build, "--processes", "2").start()
    kills = 5
    stop = threading.Event()
    answered = [0] * 4
    scrapes: list = []
    scrape_errors: list = []

    def client(i):
        while not stop.is_set():
            try:
                r = requests.get(s.url("/"), timeout=5)
            except requests.RequestException:
                continue  # killed mid-request: not answered
            if r.status_code == 200:
                answered[i] += 1

    def scraper():
        while not stop.is_set():
            try:
                scrapes.append((time.monotonic(), s.scrape()))
            except requests.RequestException as exc:
                scrape_errors.append(exc)
            time.sleep(0.05)  # a scraper's pace, not a wait

    with ThreadPoolExecutor(len(answered) + 1) as pool:
        futures = [pool.submit(client, i) for i in range(len(answered))]
        futures.append(pool.submit(scraper))
        started = time.monotonic()
        killed_at = []
        try:
            for _ in range(kills):
                # each kill under traffic: the clients got answers since the last one
                mark = sum(answered)
                wait_for(lambda mark=mark: sum(answered) >= mark + 20, 30, what="20 requests answered between kills")
                victim = min(wait_workers(s, 2))  # the older: slots alternate
                os.kill(victim, signal.SIGKILL)
                killed_at.append(time.monotonic())
                wait_workers(s, 2, exclude=[victim])
            # Load for 5 s at least, the last kill included: the scenario's length, not a wait.
            time.sleep(max(0.0, 5.0 - (time.monotonic() - started)))
        finally:
            stop.set()
            for f in futures:
                f.result()
        ended = time.monotonic()

    assert lines_with(s, "killed by signal 9"), s.output()
    assert len(lines_with(s, "killed by signal 9")) == kills
    assert not scrape_errors, scrape_errors[:3]
    # Scrapes answered throughout: between every two kills, and after the last.
    bounds = [started, *killed_at, ended]
    assert all(any(a < at <= b for at, _ in scrapes) for a, b in pairwise(bounds)), \
        ([round(b - started, 2) for b in bounds], [round(at - started, 2) for at, _ in scrapes])

    previous_total, previous_workers = -1.0, {}
    for i, (_, m) in enumerate(scrapes):
        total = m.sum("gunicorn_requests_total")
        workers = per_worker(m)
        assert set(workers) == {"1", "2"}, workers
        assert total >= previous_total, f"scrape {i}: total went from {previous_total} to {total}"
        for wid, v in workers.items():
            assert v >= previous_workers.get(wid, 0), \
                f"scrape {i}: worker {wid} went from {previous_workers[wid]} to {v}"
        previous_total, previous_workers = total, workers

    expected = sum(answered) + PROBE
    assert sum(answered) > 100
    # Hooks of answered requests may still be running: give them time.
    try:
        s.wait_requests(expected, timeout=3)
    except AssertionError:
        pass
    m = s.scrape()
    counted = m.sum("gunicorn_requests_total")
    assert abs(counted - expected) <= kills, (counted, expected)
    assert m.value("gunicorn_requests_total", method="GET", status="200") == counted
    assert sum(per_worker(m).values()) == counted
    assert m.value("gunicorn_requests_in_progress") == 0
    wait_accepting(s, 2)  # the last respawned worker, before the teardown's SIGINT


# -- 2. max-requests recycling ------------------------------------------------------

def test_max_requests_recycling_keeps_counts(build, server_factory):
    # uWSGI recycles only workers older than min-worker-lifetime (60 s by default).
    s = server_factory(build, "--processes", "1", "--max-requests", "10", "--min-worker-lifetime", "0").start()
    first = s.worker_pids()
    assert len(first) == 1
    send_ok(s, 35)
    s.wait_requests(35 + PROBE)
    m = s.scrape()
    assert m.value("gunicorn_requests_total", method="GET", status="200") == 35 + PROBE
    assert per_worker(m) == {"1": 35 + PROBE}
    now = wait_workers(s, 1)
    assert now != first
    # 36 requests with max-requests 10: the worker was recycled three times.
    wait_for(lambda: len(lines_with(s, "Respawned uWSGI worker 1 (new pid")) == 3, 10, what="three respawns")
    assert len(lines_with(s, "Respawned uWSGI worker 1 (new pid")) == 3, s.output()
    assert per_worker(s.scrape()) == {"1": 35 + PROBE}
    wait_accepting(s, 1)


# -- 3. SIGHUP reload -------------------------------------------------------------

def test_sighup_reload_keeps_counters(build, server_factory):
    s = server_factory(build, "--processes", "2").start()
    master, popen_pid = s.master_pid, s.proc.pid
    # Workers ignore SIGHUP until their set-up is done: a reload that caught
    # one there would wait out uWSGI's mercy.
    old_workers = wait_accepting(s, 2)
    send_ok(s, 7)
    s.wait_requests(7 + PROBE)

    s.signal(signal.SIGHUP)
    wait_for(lambda: len(lines_with(s, "gpx: serving metrics")) == 2, 30, what="metrics served again")
    new_workers = wait_workers(s, 2, exclude=old_workers)
    s.wait_ready()
    assert s.master_pid == master == popen_pid
    assert s.proc.poll() is None
    assert not set(new_workers) & set(old_workers)
    assert len(lines_with(s, "(reload: counters continue)")) == 1

    send_ok(s, 5)
    s.wait_requests(7 + 5 + 2 * PROBE)
    m = s.scrape()
    assert m.value("gunicorn_requests_total", method="GET", status="200") == 7 + 5 + 2 * PROBE
    assert sum(per_worker(m).values()) == 7 + 5 + 2 * PROBE
    wait_accepting(s, 2)


# -- 4. full restart, gpx-cleanup-db-files ---------------------------------------------

@pytest.mark.smoke
def test_restart_on_same_dir_continues(build, server_factory):
    a = server_factory(build, "--processes", "1").start()
    send_ok(a, 4)
    a.wait_requests(4 + PROBE)
    a.stop()

    b = server_factory(build, "--processes", "1", multiproc_dir=a.multiproc_dir, metrics_port=a.metrics_port).start()
    b.wait_requests(4 + 2 * PROBE)
    send_ok(b, 3)
    b.wait_requests(4 + 3 + 2 * PROBE)
    assert not lines_with(b, "cold start")


def test_cleanup_db_files_cold_start_and_reload(build, server_factory):
    cleanup = ("--processes", "1", "--gpx-cleanup-db-files", "true")
    a = server_factory(build, *cleanup).start()
    send_ok(a, 4)
    a.wait_requests(4 + PROBE)
    a.stop()

    d = Path(a.multiproc_dir)
    (d / "counter_1.db").write_bytes(b"\0" * 64)
    (d / "histogram_7.db").write_bytes(b"\0" * 64)
    (d / "notes.txt").write_text("keep me\n")
    (d / "keep.db.bak").write_text("keep me too\n")

    b = server_factory(build, *cleanup, multiproc_dir=a.multiproc_dir, metrics_port=a.metrics_port).start()
    b.wait_requests(PROBE)  # a cold start begins at zero
    assert not (d / "counter_1.db").exists()
    assert not (d / "histogram_7.db").exists()
    assert (d / "notes.txt").read_text() == "keep me\n"
    assert (d / "keep.db.bak").read_text() == "keep me too\n"
    assert scoreboard_path(b).exists()
    assert lines_with(b, f"removed 3 file(s) from {d}"), b.output()

    send_ok(b, 6)
    b.wait_requests(6 + PROBE)
    old_workers = wait_accepting(b, 1)
    b.signal(signal.SIGHUP)
    wait_for(lambda: len(lines_with(b, "gpx: serving metrics")) == 2, 30, what="metrics served again")
    wait_workers(b, 1, exclude=old_workers)
    b.wait_ready()
    wait_accepting(b, 1)
    send_ok(b, 2)
    b.wait_requests(6 + 2 + 2 * PROBE)  # a reload is not a cold start
    assert len(lines_with(b, "cold start with gpx-cleanup-db-files")) == 1


# -- 5. layout changes ----------------------------------------------------------------

def test_layout_grow_and_fold_keep_counts(build, server_factory):
    a = server_factory(build, "--processes", "2").start()
    wait_accepting(a, 2)
    send_ok(a, 10)
    a.wait_requests(10 + PROBE)
    before = per_worker(a.scrape())
    assert set(before) == {"1", "2"} and sum(before.values()) == 10 + PROBE
    a.stop()
    board = scoreboard_path(a)
    same = dict(multiproc_dir=a.multiproc_dir, metrics_port=a.metrics_port)

    # More workers: the file grows, new slots start at 0.
    b = server_factory(build, "--processes", "4", **same).start(wait=False)
    wait_metrics(b)
    wait_accepting(b, 4)
    m = b.scrape()
    assert per_worker(m) == {**before, "3": 0, "4": 0}
    assert m.sum("gunicorn_requests_total") == 10 + PROBE
    assert lines_with(b, f"gpx: {board} grown from 2 to 4 workers"), b.output()
    b.stop()

    # Threads: one cell per thread now, each worker's counts folded into its first.
    c = server_factory(build, "--processes", "4", "--threads", "4", **same).start(wait=False)
    wait_metrics(c)
    wait_accepting(c, 4)
    m = c.scrape()
    assert per_worker(m) == {**before, "3": 0, "4": 0}
    assert m.value("gunicorn_requests_total", method="GET", status="200") == 10 + PROBE
    assert lines_with(c, f"gpx: {board} folded from 4 workers x 1 cores to 4 x 4 (counts kept)"), c.output()
    assert not Path(f"{board}.tmp").exists()
    c.wait_ready()
    send_ok(c, 3)
    c.wait_requests(10 + 3 + 2 * PROBE)
    c.stop()

    # Fewer workers: the retired slots' counts stay in the totals.
    d = server_factory(build, "--processes", "1", **same).start(wait=False)
    wait_metrics(d)
    wait_accepting(d, 1)
    m = d.scrape()
    assert m.sum("gunicorn_requests_total") == 10 + 3 + 2 * PROBE
    assert sum(per_worker(m).values()) == 10 + 3 + 2 * PROBE


# The scoreboard layout this gpx writes (GPX_LAYOUT_VERSION in src/gpx_scoreboard.h).
LAYOUT_VERSION = 4


@pytest.mark.parametrize("damage", ["garbage", "layout_version"])
def test_foreign_scoreboard_is_refused(build, server_factory, damage):
    if damage == "garbage":
        s = server_factory(build, "--processes", "1")
        board = scoreboard_path(s)
        board.parent.mkdir(parents=True, exist_ok=True)
        board.write_bytes(b"x" * 8192)
        expected = f"gpx: {board} is not a gpx scoreboard (bad magic); move it away or set gpx-cleanup-db-files = true"
    else:
        first = server_factory(build, "--processes", "1").start()
        first.stop()
        board = scoreboard_path(first)
        data = bytearray(board.read_bytes())
        # A file of a later layout (a gpx downgraded under its file). The
        # previous one, gpx 0.1's layout 3, is read: test_upgrade.py.
        assert data[:8] == b"GPXBOARD" and struct.unpack_from("<I", data, 8)[0] == LAYOUT_VERSION
        struct.pack_into("<I", data, 8, LAYOUT_VERSION + 1)
        board.write_bytes(bytes(data))
        s = server_factory(build, "--processes", "1", multiproc_dir=first.multiproc_dir,
                           metrics_port=first.metrics_port)
        expected = f"gpx: {board} was written by another gpx layout (version {LAYOUT_VERSION + 1}, "
    content = board.read_bytes()

    rc = s.run_to_exit()
    out = s.output()
    assert rc != 0, out
    named = lines_with(s, str(board))
    assert len(named) == 1, out
    assert named[0].startswith(expected), named
    if damage == "layout_version":
        assert f"this gpx writes version {LAYOUT_VERSION}" in named[0], named
    assert "spawned uWSGI worker" not in out
    assert "serving metrics" not in out
    assert board.read_bytes() == content  # refused, not rewritten
    with pytest.raises(requests.ConnectionError):
        requests.get(s.metrics_url, timeout=2)


# -- 6. bad values stop start-up ------------------------------------------------------

def _not_a_dir(tmp: Path) -> str:
    (tmp / "plain_file").write_text("not a directory\n")
    return str(tmp / "plain_file" / "multiproc")


BAD_VALUES = [
    # id, extra args, env, (option, variable, value, source, expected); value None = the helper's
    ("port-abc", ["--gpx-port", "abc"], {}, ("gpx-port", "PROMETHEUS_METRICS_PORT", "abc", "the option",
                                              "a port number from 1 to 65535")),
    ("port-0", ["--gpx-port", "0"], {}, ("gpx-port", "PROMETHEUS_METRICS_PORT", "0", "the option",
                                          "a port number from 1 to 65535")),
    ("port-70000", ["--gpx-port", "70000"], {}, ("gpx-port", "PROMETHEUS_METRICS_PORT", "70000", "the option",
                                                  "a port number from 1 to 65535")),
    ("env-port-abc", None, {"PROMETHEUS_METRICS_PORT": "abc"},
     ("gpx-port", "PROMETHEUS_METRICS_PORT", "abc", "the environment", "a port number from 1 to 65535")),
    ("cleanup-maybe", ["--gpx-cleanup-db-files", "maybe"], {},
     ("gpx-cleanup-db-files", "CLEANUP_DB_FILES", "maybe", "the option", "true/false, 1/0, yes/no or on/off")),
    ("env-cleanup-maybe", [], {"CLEANUP_DB_FILES": "maybe"},
     ("gpx-cleanup-db-files", "CLEANUP_DB_FILES", "maybe", "the environment", "true/false, 1/0, yes/no or on/off")),
    ("dir-under-file", "not-a-dir", {},
     ("gpx-multiproc-dir", "PROMETHEUS_MULTIPROC_DIR", None, "the option",
      "a directory that can be created (Not a directory)")),
    ("bind-not-an-address", ["--gpx-bind", "not an address!"], {},
     ("gpx-bind", "PROMETHEUS_BIND_ADDRESS", "not an address!", "the option",
      "an IP address or a host name this machine resolves")),
    ("redis-port-0", ["--gpx-redis-port", "0"], {},
     ("gpx-redis-port", "REDIS_PORT", "0", "the option", "a port number from 1 to 65535")),
    ("redis-db-minus-1", ["--gpx-redis-db=-1"], {},
     ("gpx-redis-db", "REDIS_DB", "-1", "the option", "a database number, 0 or more")),
    ("env-redis-perhaps", [], {"REDIS_ENABLED": "perhaps"},
     ("gpx-redis", "REDIS_ENABLED", "perhaps", "the environment", "true/false, 1/0, yes/no or on/off")),
]


@pytest.mark.parametrize("args,env,want", [case[1:] for case in BAD_VALUES], ids=[case[0] for case in BAD_VALUES])
def test_bad_value_stops_start_up(build, server_factory, tmp_path, args, env, want):
    option, variable, value, source, expected = want
    multiproc = str(tmp_path / "multiproc")
    if args is None:  # from the environment: no --gpx-port at all
        s = server_factory(build, "--processes", "1", "--gpx-bind", "127.0.0.1", "--gpx-multiproc-dir", multiproc,
                           env=env, with_gpx_port=False)
    elif args == "not-a-dir":
        value = _not_a_dir(tmp_path)
        s = server_factory(build, "--processes", "1", env=env, multiproc_dir=value)
    else:
        s = server_factory(build, "--processes", "1", *args, env=env)
    rc = s.run_to_exit()
    out = s.output()
    assert rc != 0, out
    errors = [line for line in out.splitlines() if line.startswith("gpx:")]
    assert errors == [f'gpx: invalid {option} / {variable} "{value}" (from {source}): expected {expected}'], out
    assert "spawned uWSGI worker" not in out
    assert "spawned uWSGI master" not in out


# -- 7. the metrics port is in use ------------------------------------------------------

@pytest.mark.slow
def test_busy_metrics_port_is_retried(build, server_factory):
    blocker = socket.socket()
    try:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(1)
        port = blocker.getsockname()[1]
        s = server_factory(build, "--processes", "1", metrics_port=port)
        started = time.monotonic()
        s.start(wait=False)
        wait_for(lambda: requests.get(s.url("/"), timeout=10).status_code == 200, 30, what="the app")
        wanted = f"gpx: cannot serve metrics on 127.0.0.1:{port}: "
        wait_for(lambda: lines_with(s, wanted), 14, what="the busy-port line")
        assert time.monotonic() - started < 14
        assert len(lines_with(s, wanted)) == 1, s.output()
        assert len(lines_with(s, "cannot serve metrics")) == 1
        get_ok(s)  # the app keeps serving
    finally:
        blocker.close()
    freed = time.monotonic()
    wait_for(lambda: requests.get(s.metrics_url, timeout=2).status_code == 200, 15, what="metrics after the port freed")
    assert time.monotonic() - freed < 15
    assert lines_with(s, f"gpx: serving metrics on http://127.0.0.1:{port}/metrics (the port is free again)")
    s.wait_requests(2)  # both answered requests were counted while the port was busy
    assert len(lines_with(s, "cannot serve metrics")) == 1


# -- 8. valgrind -----------------------------------------------------------------------

VG_KINDS = ("Invalid read", "Invalid write", "Invalid free", "uninitialised")


def gpx_errors_in(log: str) -> list[str]:
    """Error blocks of one valgrind log whose kind is in VG_KINDS and whose
    stack has a gpx_ frame."""
    found, block = [], []
    for line in log.splitlines() + ["==0== "]:
        body = re.sub(r"^==\d+==\s?", "", line)
        if not body.strip():
            frames = [b for b in block if re.match(r"\s+(at|by) 0x", b)]
            if block and any(k in block[0] for k in VG_KINDS) and any("gpx_" in f for f in frames):
                found.append("\n".join(block))
            block = []
        elif line.startswith("=="):
            block.append(body)
    return found


def test_valgrind_finds_no_gpx_memory_errors(server_factory, tmp_path):
    build = BUILDS["system"]
    if not Path(build.plugin).exists():
        pytest.fail(f"{build.plugin} is missing: run `make all pypi` first")
    vg_dir = tmp_path / "valgrind"
    vg_dir.mkdir()
    s = server_factory(build, "--processes", "1", env={"PYTHONMALLOC": "malloc"})
    s.cmd = ["valgrind", "--trace-children=yes", "--track-fds=no", "--num-callers=30",
             f"--log-file={vg_dir}/vg.%p", *s.cmd]
    s.start(wait=False)
    # No readiness probe: under valgrind its 2 s timeouts would make it retry
    # (and count) GET / more than once. A request sent before the worker is up
    # waits in the listen queue.
    wait_metrics(s, timeout=180)
    for _ in range(20):
        get_ok(s, timeout=120)
    s.wait_requests(20, timeout=60)
    text = s.scrape_text()
    assert "gunicorn_worker_requests_total" in text
    s.proc.send_signal(signal.SIGINT)
    s.proc.wait(120)
    s.stop()

    logs = sorted(vg_dir.glob("vg.*"))
    assert len(logs) >= 2, logs  # the master and its worker
    summaries = [p.read_text(errors="replace") for p in logs]
    assert any("ERROR SUMMARY" in t for t in summaries)
    errors = [f"{p.name}:\n{e}" for p, t in zip(logs, summaries, strict=True) for e in gpx_errors_in(t)]
    assert not errors, "\n\n".join(errors)


# -- 9. a worker killed while holding a request ---------------------------------------------

def test_worker_killed_mid_request(build, server_factory):
    s = server_factory(build, "--processes", "1").start()
    send_ok(s, 3)
    s.wait_requests(3 + PROBE)
    [worker] = s.worker_pids()
    outcome = {}

    def slow():
        try:
            outcome["status"] = requests.get(s.url("/sleep?s=5"), timeout=15).status_code
        except requests.RequestException as exc:
            outcome["error"] = exc

    t = threading.Thread(target=slow)
    t.start()
    try:
        wait_for(lambda: in_progress(s) == 1, 10, what="the request in progress")
        m = s.scrape()
        assert m.value("gunicorn_worker_state", worker_id="1", state="busy") == 1
        os.kill(worker, signal.SIGKILL)
        wait_workers(s, 1, exclude=[worker])
    finally:
        t.join(20)
    assert "status" not in outcome, outcome  # never answered
    wait_for(lambda: in_progress(s) == 0, 10, what="in progress back to 0")
    m = s.scrape()
    assert m.value("gunicorn_worker_state", worker_id="1", state="busy") == 0
    assert m.sum("gunicorn_requests_total") == 3 + PROBE
    assert per_worker(m) == {"1": 3 + PROBE}
    get_ok(s)
    s.wait_requests(4 + PROBE)
    assert per_worker(s.scrape()) == {"1": 4 + PROBE}
    wait_accepting(s, 1)
