"""Worker restarts by reason, worker states and saturation, with exact values.

Every test (but the storm, one build) runs on both builds and drives uWSGI
into one restart reason for real: max-requests, harakiri, SIGKILL, a crash,
reload-on-rss/as and their evil variants, max-worker-lifetime, the cheaper
subsystem, SIGHUP, chain and workers reloads. Expected counts come from what
uWSGI itself logged, so a test fails if gpx counts a restart under another
reason, twice, or not at all. The app is apps/lifecycle_app.py.
"""

from __future__ import annotations

import os
import random
import re
import signal
import socket
import threading
import time
from pathlib import Path

import pytest
import requests

from conftest import APPS, BUILDS, Server, lines_with, parse_metrics, wait_accepting, wait_for, wsgi_server

LIFECYCLE_APP = APPS / "lifecycle_app.py"
REASONS = ("max_requests", "timeout", "memory", "lifetime", "idle", "crash", "signal", "reload")
# The exporter's restart_type of each reason (gunicorn_worker_restart_count_total and its master twin).
RESTART_TYPE = {"max_requests": "graceful", "lifetime": "graceful", "idle": "graceful", "reload": "graceful",
                "timeout": "forced", "memory": "forced", "crash": "forced", "signal": "forced"}
MB = 1024 * 1024
# gpx's line for every worker that ended: "gpx: worker 1 (pid 123) ended (exit code 0): max_requests"
ENDED = re.compile(r"^gpx: worker (\d+) \(pid (\d+)\) ended "
                   r"\((exit code|signal|reaped before read, last state) (\d+)\): (\w+)$", re.MULTILINE)


# -- helpers -------------------------------------------------------------------

def app_server(server_factory, build, *args, **kw) -> Server:
    """A server running apps/lifecycle_app.py (not the demo app)."""
    return wsgi_server(server_factory, build, LIFECYCLE_APP, *args, **kw)


def restarts(m) -> dict[str, float]:
    """gunicorn_master_worker_restart_total by reason."""
    return m.by("gunicorn_master_worker_restart_total", "reason")


def worker_restarts(m) -> dict[tuple[str, str], float]:
    """gunicorn_worker_restart_total by (worker_id, reason)."""
    return m.by("gunicorn_worker_restart_total", "worker_id", "reason")


def restart_counts(m) -> dict[str, dict[tuple[str, str, str], float]]:
    """The exporter's second pair, each as {(worker_id, reason, restart_type): value}."""
    out = {}
    for family in ("gunicorn_worker_restart_count_total", "gunicorn_master_worker_restart_count_total"):
        out[family] = m.by(family, "worker_id", "reason", "restart_type")
    return out


def check_restart_counts(m):
    """Both families of the exporter's second pair hold exactly the counts of
    gunicorn_worker_restart_total: every (slot, reason) once, with the
    reason's restart_type, and no other series."""
    expected = {(w, r, RESTART_TYPE[r]): v for (w, r), v in worker_restarts(m).items()}
    for family, counts in restart_counts(m).items():
        assert counts == expected, (family, counts, expected)


def only(**counts) -> dict[str, float]:
    """Every reason, 0 but the given ones."""
    assert set(counts) <= set(REASONS), counts
    return {r: float(counts.get(r, 0)) for r in REASONS}


def per_slot(workers: int, **by_slot) -> dict[tuple[str, str], float]:
    """Every (worker_id, reason), 0 but by_slot: {"w1": {"timeout": 3}}."""
    out = {(str(w), r): 0.0 for w in range(1, workers + 1) for r in REASONS}
    for key, counts in by_slot.items():
        for reason, v in counts.items():
            out[(key[1:], reason)] = float(v)
    return out


def ended(s: Server) -> list[tuple[int, int, str, int, str]]:
    """(worker, pid, how, code, reason) of every gpx "ended" line."""
    return [(int(w), int(p), how, int(c), r) for w, p, how, c, r in ENDED.findall(s.output())]


def ended_reasons(s: Server) -> dict[str, int]:
    out = {r: 0 for r in REASONS}
    for *_, reason in ended(s):
        out[reason] += 1
    return out


def wait_restarts(s: Server, expected: dict[str, float], timeout=15.0):
    """Waits until the restart counters are exactly `expected`; the last scrape."""
    last = {}

    def match():
        nonlocal last
        m = s.scrape()
        last = restarts(m)
        if last != expected:
            return None
        check_restart_counts(m)
        return m

    try:
        return wait_for(match, timeout, what=f"restarts {expected}")
    except AssertionError:
        raise AssertionError(f"restarts {last} != {expected}\n{s.output()[-6000:]}") from None


def get(s: Server, path="/", timeout=10.0):
    """The status, or None when the worker died without an answer."""
    try:
        return requests.get(s.url(path), timeout=timeout).status_code
    except requests.ConnectionError:
        return None


# -- 0. every reason is there from the start -----------------------------------------

def test_every_reason_rendered_at_zero(build, server_factory):
    launched = time.time()
    s = app_server(server_factory, build, "--processes", "2").start()
    wait_accepting(s, 2)
    m = s.scrape()
    assert restarts(m) == only()
    assert worker_restarts(m) == per_slot(2)
    check_restart_counts(m)
    assert len(restart_counts(m)["gunicorn_worker_restart_count_total"]) == 2 * 8
    assert m.value("gunicorn_workers_desired") == 2
    info = m.series("gunicorn_exporter_build_info")
    assert len(info) == 1
    labels = dict(next(iter(info)))
    assert labels["storage"] == "files"
    assert labels["uwsgi_version"] == build.version()
    assert m.value("gunicorn_exporter_build_info", **labels) == 1
    assert launched - 1 <= m.value("gunicorn_master_start_time_seconds") <= time.time()
    assert set(m.series("gunicorn_workers")) == {(("state", st),) for st in
                                                 ("idle", "busy", "cheap", "paused", "stopping")}
    assert m.value("gunicorn_workers", state="idle") == 2
    assert m.sum("gunicorn_workers") == 2
    assert m.value("gunicorn_exporter_scrape_duration_seconds") >= 0
    assert not ended(s)


# -- 1. max-requests ----------------------------------------------------------------

def test_max_requests(build, server_factory):
    # uWSGI recycles only workers older than min-worker-lifetime (10 s by default in 2.0.31).
    s = app_server(server_factory, build, "--processes", "1", "--max-requests", "5",
                   "--min-worker-lifetime", "1").start()
    wait_accepting(s, 1)
    deadline = time.monotonic() + 30
    while len(lines_with(s, "Seeya!")) < 3:
        assert time.monotonic() < deadline, s.output()
        assert get(s) == 200
        time.sleep(0.05)  # a client's pace, not a wait
    # The last answer may still end its worker: once one worker waits for
    # requests again, no recycle is under way.
    wait_accepting(s, 1)
    k = len(lines_with(s, "Seeya!"))
    assert k >= 3
    m = wait_restarts(s, only(max_requests=k))
    assert worker_restarts(m) == per_slot(1, w1={"max_requests": k})
    counts = restart_counts(m)
    assert counts["gunicorn_worker_restart_count_total"][("1", "max_requests", "graceful")] == k
    assert counts["gunicorn_master_worker_restart_count_total"][("1", "max_requests", "graceful")] == k
    assert sum(v for (_, _, t), v in counts["gunicorn_worker_restart_count_total"].items() if t == "forced") == 0
    assert ended_reasons(s) == only(max_requests=k)
    assert all(how == "exit code" for _, _, how, _, _ in ended(s)), ended(s)
    wait_accepting(s, 1)


# -- 2. harakiri ----------------------------------------------------------------------

@pytest.mark.slow
def test_harakiri_timeouts(build, server_factory):
    s = app_server(server_factory, build, "--processes", "1", "--harakiri", "1", "--harakiri-verbose").start()
    before = wait_accepting(s, 1)
    for _ in range(3):
        assert get(s, "/sleep?s=3", timeout=15) is None  # killed, never answered
        before = wait_accepting(s, 1, exclude=before)
    harakiried = set(re.findall(r"HARAKIRI ON WORKER 1 \(pid: (\d+)", s.output()))
    assert len(harakiried) == 3, s.output()
    m = wait_restarts(s, only(timeout=3))
    assert worker_restarts(m) == per_slot(1, w1={"timeout": 3})
    assert ended_reasons(s) == only(timeout=3)
    # The exporter's second pair: forced, exactly 3, in each family's label order, in text and OpenMetrics.
    text = s.scrape_text()
    assert 'gunicorn_worker_restart_count_total{worker_id="1",restart_type="forced",reason="timeout"} 3' in \
        text.splitlines()
    assert 'gunicorn_master_worker_restart_count_total{worker_id="1",reason="timeout",restart_type="forced"} 3' in \
        text.splitlines()
    om = requests.get(s.metrics_url, headers={"Accept": "application/openmetrics-text; version=1.0.0"}, timeout=5)
    assert om.headers["Content-Type"].startswith("application/openmetrics-text")
    om_lines = om.text.splitlines()
    assert "# TYPE gunicorn_worker_restart_count counter" in om_lines
    assert "# TYPE gunicorn_master_worker_restart_count counter" in om_lines
    assert 'gunicorn_worker_restart_count_total{worker_id="1",restart_type="forced",reason="timeout"} 3' in om_lines
    assert sum(float(line.rsplit(" ", 1)[1]) for line in om_lines
               if line.startswith("gunicorn_worker_restart_count_total{")) == 3
    assert get(s) == 200


# -- 3. SIGKILL from outside --------------------------------------------------------------

def test_sigkill_from_outside(build, server_factory):
    s = app_server(server_factory, build, "--processes", "2").start()
    pids = wait_accepting(s, 2)
    victims = []
    for _ in range(2):
        victim = min(pids)
        os.kill(victim, signal.SIGKILL)
        victims.append(victim)
        pids = wait_accepting(s, 2, exclude=victims)
    m = wait_restarts(s, only(signal=2))
    assert sum(v for (w, r), v in worker_restarts(m).items() if r == "signal") == 2
    assert sum(worker_restarts(m).values()) == 2
    assert sorted((p, how, code, r) for _, p, how, code, r in ended(s)) == \
        sorted((v, "signal", 9, "signal") for v in victims)


def busy(s: Server, worker_id: str) -> bool:
    return s.scrape().value("gunicorn_worker_state", worker_id=worker_id, state="busy") == 1


def _state(pid: int) -> str:
    """The process's state letter in /proc (R, S, Z...), "" when gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


@pytest.mark.slow
def test_sigkill_past_harakiri_deadline_is_a_signal(build, server_factory):
    """Killed from outside in the middle of a request just after its harakiri
    deadline, before the master's once-a-second check got to it: a signal, not
    a timeout. The master wakes when a worker dies and, on its first turn in a
    new second, checks deadlines before it reaps: it then logs a HARAKIRI for
    the dead process, and its kill does nothing."""
    s = app_server(server_factory, build, "--processes", "1", "--harakiri", "2").start()
    pid = wait_accepting(s, 1)[0]
    expected = []
    for _ in range(3):
        # uWSGI's deadline is time(NULL) at the request's start + 2: start the
        # request just after a second begins, so that the deadline is known.
        time.sleep(1.05 - time.time() % 1)
        deadline = int(time.time()) + 2
        t = threading.Thread(target=get, args=(s, "/sleep?s=5"))
        t.start()
        wait_for(lambda: busy(s, "1"), 0.8, what="worker 1 busy")
        time.sleep(max(0.0, deadline + 0.05 - time.time()))
        # The master's own check may have come first (its turn fell in those
        # 50 ms): then the harakiri is what ended it.
        first = _state(pid) in ("Z", "") or any(f"(pid: {pid}," in line for line in lines_with(s, "HARAKIRI ON"))
        os.kill(pid, signal.SIGKILL)
        expected.append("timeout" if first else "signal")
        t.join(10)
        pid = wait_accepting(s, 1, exclude=[pid])[0]
    m = wait_restarts(s, only(**{r: expected.count(r) for r in set(expected)}))
    assert worker_restarts(m) == per_slot(1, w1={r: expected.count(r) for r in set(expected)})
    assert [r for *_, r in ended(s)] == expected
    assert "signal" in expected, expected  # the case under test happened at least once


@pytest.mark.slow
def test_sigkill_during_chain_reload(build, server_factory, tmp_path):
    """A chain reload takes one worker at a time: another worker killed from
    outside meanwhile ended by a signal, not by the reload."""
    fifo = tmp_path / "master.fifo"
    s = app_server(server_factory, build, "--processes", "2", "--master-fifo", str(fifo)).start()
    pids = wait_accepting(s, 2)
    slow = [threading.Thread(target=get, args=(s, "/sleep?s=3")) for _ in range(2)]
    for t in slow:
        t.start()
    wait_for(lambda: busy(s, "1") and busy(s, "2"), 5, what="both workers busy")
    with open(fifo, "w") as f:
        f.write("c")  # worker 1 first: it ends after its request
    wait_for(lambda: lines_with(s, "chain next victim is worker 1"), 5, what="the chain at worker 1")
    assert busy(s, "2")  # still in its request, not cursed
    # Worker 2's pid: the one uWSGI logged as spawned for slot 2.
    victim = int(re.findall(r"spawned uWSGI worker 2 \(pid: (\d+)", s.output())[-1])
    os.kill(victim, signal.SIGKILL)
    for t in slow:
        t.join(10)
    wait_for(lambda: len(lines_with(s, "chain reloading complete")) == 1, 20, what="the chain reload")
    wait_accepting(s, 2, exclude=pids)
    m = wait_restarts(s, only(reload=2, signal=1))
    assert worker_restarts(m) == per_slot(2, w1={"reload": 1}, w2={"reload": 1, "signal": 1})
    assert [(p, how, code, r) for w, p, how, code, r in ended(s) if p == victim] == [(victim, "signal", 9, "signal")]


# -- 4. a crash --------------------------------------------------------------------------

def test_worker_exit_with_error_is_a_crash(build, server_factory):
    s = app_server(server_factory, build, "--processes", "1").start()
    before = wait_accepting(s, 1)
    assert get(s, "/exit?code=3") is None
    wait_accepting(s, 1, exclude=before)
    m = wait_restarts(s, only(crash=1))
    assert worker_restarts(m) == per_slot(1, w1={"crash": 1})
    assert [(w, p, how, code, r) for w, p, how, code, r in ended(s)] == [(1, before[0], "exit code", 3, "crash")]
    assert get(s) == 200


def test_worker_exit_zero_unasked_is_a_crash(build, server_factory):
    s = app_server(server_factory, build, "--processes", "1").start()
    before = wait_accepting(s, 1)
    assert get(s, "/exit?code=0") is None
    wait_accepting(s, 1, exclude=before)
    m = wait_restarts(s, only(crash=1))
    assert worker_restarts(m) == per_slot(1, w1={"crash": 1})
    assert [(p, how, code, r) for _, p, how, code, r in ended(s)] == [(before[0], "exit code", 0, "crash")]


def test_restart_counters_persist_across_a_restart(build, server_factory):
    a = app_server(server_factory, build, "--processes", "1").start()
    before = wait_accepting(a, 1)
    assert get(a, "/exit?code=3") is None
    wait_accepting(a, 1, exclude=before)
    wait_restarts(a, only(crash=1))
    a.stop()  # a stop is no restart: nothing counted at exit

    b = app_server(server_factory, build, "--processes", "1", multiproc_dir=a.multiproc_dir,
                   metrics_port=a.metrics_port).start()
    before = wait_accepting(b, 1)
    assert restarts(b.scrape()) == only(crash=1)
    os.kill(before[0], signal.SIGKILL)
    wait_accepting(b, 1, exclude=before)
    m = wait_restarts(b, only(crash=1, signal=1))
    assert worker_restarts(m) == per_slot(1, w1={"crash": 1, "signal": 1})


# -- 5. memory ----------------------------------------------------------------------------

# A worker starts with about 13 MB resident and 75 MB of address space.
@pytest.mark.parametrize("limit", [("--reload-on-rss", "150"), ("--reload-on-as", "250")], ids=["rss", "as"])
def test_reload_on_memory(build, server_factory, limit):
    s = app_server(server_factory, build, "--processes", "1", *limit, "--min-worker-lifetime", "1").start()
    before = wait_accepting(s, 1)
    time.sleep(1.1)  # the scenario: the worker must be older than min-worker-lifetime (1 s) to recycle
    assert get(s, "/alloc?mb=300", timeout=30) == 200  # answered, then the worker recycles
    wait_accepting(s, 1, exclude=before)
    m = wait_restarts(s, only(memory=1))
    assert worker_restarts(m) == per_slot(1, w1={"memory": 1})
    assert [(p, r) for _, p, _, _, r in ended(s)] == [(before[0], "memory")]
    assert get(s) == 200


@pytest.mark.parametrize("limit", [("--evil-reload-on-rss", "150"), ("--evil-reload-on-as", "250")],
                         ids=["rss", "as"])
def test_evil_reload_on_memory(build, server_factory, limit):
    """The master kills the worker (SIGKILL) and resets the size it read in
    the same step, usually before gpx's next look at it."""
    s = app_server(server_factory, build, "--processes", "1", *limit).start()
    before = wait_accepting(s, 1)
    get(s, "/alloc?mb=300", timeout=30)  # the master may kill it before or after the answer
    wait_accepting(s, 1, exclude=before)
    what = "RSS" if limit[0].endswith("rss") else "ADDRESS SPACE"
    assert len(lines_with(s, f"EVIL RELOAD ON WORKER 1 {what}")) == 1, s.output()
    m = wait_restarts(s, only(memory=1))
    assert worker_restarts(m) == per_slot(1, w1={"memory": 1})
    assert [(p, how, code, r) for _, p, how, code, r in ended(s)] == [(before[0], "signal", 9, "memory")]


# -- 6. max-worker-lifetime ---------------------------------------------------------------

def test_max_worker_lifetime(build, server_factory):
    s = app_server(server_factory, build, "--processes", "1", "--max-worker-lifetime", "2",
                   "--min-worker-lifetime", "1").start()
    wait_accepting(s, 1)
    started = time.monotonic()
    while time.monotonic() - started < 4.5:  # the scenario: two lifetimes (2 s) pass under traffic
        assert get(s) == 200
        time.sleep(0.2)
    wait_for(lambda: lines_with(s, "lifetime reached"), 10, what="a lifetime recycle")
    # Settle: no recycle between the count and the scrape (the next is > 2 s away).
    wait_for(lambda: len(ended(s)) == len(lines_with(s, "lifetime reached")), 10, what="every recycle counted")
    n = len(lines_with(s, "lifetime reached"))
    m = s.scrape()
    if restarts(m)["lifetime"] != n:  # a recycle between the two readings
        n = len(lines_with(s, "lifetime reached"))
        m = wait_restarts(s, only(lifetime=n))
    assert n >= 1
    assert restarts(m) == only(lifetime=n)
    assert worker_restarts(m) == per_slot(1, w1={"lifetime": n})
    assert ended_reasons(s) == only(lifetime=n)
    wait_accepting(s, 1)


# -- 7. cheaper -----------------------------------------------------------------------

@pytest.mark.slow
def test_cheaper_idle(build, server_factory):
    # The spare algorithm cheaps one idle worker per cheaper-overload cycle
    # (1 s) until exactly one is idle: 4 -> 1.
    s = app_server(server_factory, build, "--processes", "4", "--cheaper", "1", "--cheaper-initial", "4",
                   "--cheaper-step", "1", "--cheaper-overload", "1").start()
    wait_for(lambda: len(lines_with(s, "cheaped.")) == 3, 20, what="three workers cheaped")
    # No more: two more cheaper cycles (1 s each) pass without a fourth
    # (an absence has no event to wait for).
    time.sleep(2.5)
    cheaped = lines_with(s, "cheaped.")
    assert len(cheaped) == 3, s.output()
    cheaped_ids = sorted(re.search(r"worker (\d+) cheaped", line).group(1) for line in cheaped)
    m = wait_restarts(s, only(idle=3))
    assert worker_restarts(m) == per_slot(4, **{f"w{w}": {"idle": 1} for w in cheaped_ids})
    assert ended_reasons(s) == only(idle=3)
    assert m.value("gunicorn_workers", state="cheap") == 3
    assert m.value("gunicorn_workers", state="idle") == 1
    assert m.value("gunicorn_workers_desired") == 1
    for w in range(1, 5):
        want = "cheap" if str(w) in cheaped_ids else "idle"
        assert m.value("gunicorn_worker_state", worker_id=str(w), state=want) == 1, (w, want)
    assert len(s.worker_pids()) == 1

    # A burst of slow requests spawns workers again: desired follows.
    with_threads = [threading.Thread(target=get, args=(s, "/sleep?s=3")) for _ in range(3)]
    for t in with_threads:
        t.start()
    try:
        wait_for(lambda: s.scrape().value("gunicorn_workers_desired") >= 2, 15, what="a worker spawned back")
        m = s.scrape()
        assert m.value("gunicorn_workers_desired") == 4 - m.value("gunicorn_workers", state="cheap")
    finally:
        for t in with_threads:
            t.join(20)
    # Idle again: cheaped back down to one worker, each cheaping counted.
    wait_for(lambda: len(s.worker_pids()) == 1 and s.scrape().value("gunicorn_workers_desired") == 1, 20,
             what="cheaped back to one worker")
    n = len(lines_with(s, "cheaped."))
    assert n > 3
    m = wait_restarts(s, only(idle=n))
    assert ended_reasons(s) == only(idle=n)
    assert m.value("gunicorn_workers", state="cheap") == 3
    wait_accepting(s, 1)


# -- 8. reloads ---------------------------------------------------------------------------

def test_sighup_reload(build, server_factory):
    s = app_server(server_factory, build, "--processes", "2").start()
    old = wait_accepting(s, 2)
    for n in (1, 2):
        s.signal(signal.SIGHUP)
        wait_for(lambda n=n: len(lines_with(s, "gpx: serving metrics")) == n + 1, 30, what="metrics served again")
        old = wait_accepting(s, 2, exclude=old)
        m = wait_restarts(s, only(reload=2 * n))
        assert worker_restarts(m) == per_slot(2, w1={"reload": n}, w2={"reload": n})
    assert ended_reasons(s) == only(reload=4)


@pytest.mark.slow
def test_chain_reload_via_fifo(build, server_factory, tmp_path):
    fifo = tmp_path / "master.fifo"
    s = app_server(server_factory, build, "--processes", "2", "--master-fifo", str(fifo)).start()
    old = wait_accepting(s, 2)
    for n in (1, 2):
        with open(fifo, "w") as f:
            f.write("c")
        wait_for(lambda n=n: len(lines_with(s, "chain reloading complete")) == n, 30, what="the chain reload")
        old = wait_accepting(s, 2, exclude=old)
        m = wait_restarts(s, only(reload=2 * n))
        assert worker_restarts(m) == per_slot(2, w1={"reload": n}, w2={"reload": n})
    assert ended_reasons(s) == only(reload=4)
    assert len(lines_with(s, "gpx: serving metrics")) == 1  # the master never re-executed
    assert get(s) == 200


def test_workers_reload_via_fifo(build, server_factory, tmp_path):
    fifo = tmp_path / "master.fifo"
    s = app_server(server_factory, build, "--processes", "2", "--master-fifo", str(fifo)).start()
    old = wait_accepting(s, 2)
    with open(fifo, "w") as f:
        f.write("r")  # graceful reload of the whole instance
    wait_for(lambda: len(lines_with(s, "gpx: serving metrics")) == 2, 30, what="metrics served again")
    old = wait_accepting(s, 2, exclude=old)
    wait_restarts(s, only(reload=2))
    with open(fifo, "w") as f:
        f.write("w")  # the workers only (the master stays)
    old = wait_accepting(s, 2, exclude=old)
    m = wait_restarts(s, only(reload=4))
    assert worker_restarts(m) == per_slot(2, w1={"reload": 2}, w2={"reload": 2})
    assert len(lines_with(s, "gpx: serving metrics")) == 2


# -- 9. listen backlog ---------------------------------------------------------------------

def test_listen_backlog(build, server_factory):
    s = app_server(server_factory, build, "--processes", "1", "--listen", "64").start()
    wait_accepting(s, 1)
    listener = f"127.0.0.1:{s.app_port}"
    m = s.scrape()
    assert m.value("gunicorn_listen_backlog", listener=listener) == 0
    assert m.value("gunicorn_listen_backlog_limit", listener=listener) == 64
    assert set(m.series("gunicorn_listen_backlog")) == {(("listener", listener),)}  # TCP listeners only
    assert m.value("gunicorn_workers", state="busy") == 0
    overflows = m.value("gunicorn_listen_overflows_total")
    assert overflows >= 0

    holder = threading.Thread(target=get, args=(s, "/sleep?s=4"))
    holder.start()
    socks = []
    try:
        wait_for(lambda: s.scrape().value("gunicorn_workers", state="busy") == 1, 5, what="the worker busy")
        for _ in range(20):
            c = socket.create_connection(("127.0.0.1", s.app_port), timeout=10)
            c.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
            socks.append(c)
        m = wait_for(lambda: (lambda m: m if m.value("gunicorn_listen_backlog", listener=listener) == 20 else None)
                     (s.scrape()), 5, what="20 queued connections")
        assert m.value("gunicorn_listen_backlog_limit", listener=listener) == 64
        assert m.value("gunicorn_workers", state="busy") == 1
        assert m.value("gunicorn_workers", state="idle") == 0
        assert m.value("gunicorn_worker_state", worker_id="1", state="busy") == 1
        assert m.value("gunicorn_requests_in_progress") == 1
        assert m.value("gunicorn_listen_overflows_total") >= overflows
        for c in socks:  # each is answered once the worker is free
            data = b""
            while chunk := c.recv(4096):
                data += chunk
            assert data.startswith(b"HTTP/1.0 200") or data.startswith(b"HTTP/1.1 200"), data[:100]
    finally:
        for c in socks:
            c.close()
        holder.join(15)
    m = wait_for(lambda: (lambda m: m if m.value("gunicorn_workers", state="busy") == 0 else None)(s.scrape()), 5,
                 what="the worker idle again")
    assert m.value("gunicorn_listen_backlog", listener=listener) == 0
    assert m.value("gunicorn_workers", state="idle") == 1


# -- 10. memory and other per-worker gauges --------------------------------------------------

def test_worker_memory_follows_allocation(build, server_factory):
    s = app_server(server_factory, build, "--processes", "1").start()
    [pid] = wait_accepting(s, 1)

    def sampled():
        m = s.scrape()
        return m if m.value("gunicorn_worker_memory_bytes", worker_id="1") > 0 else None

    m = wait_for(sampled, 5, what="a memory sample")
    before = m.value("gunicorn_worker_memory_bytes", worker_id="1")
    assert before < 100 * MB
    assert m.value("gunicorn_worker_uptime_seconds", worker_id="1") >= 0
    assert m.value("gunicorn_worker_cpu_percent", worker_id="1") >= 0
    assert get(s, "/alloc?mb=100", timeout=30) == 200
    m = wait_for(lambda: (lambda m: m if m.value("gunicorn_worker_memory_bytes", worker_id="1") >= before + 100 * MB
                          else None)(s.scrape()), 5, what="memory grown by 100 MB")
    rss = m.value("gunicorn_worker_memory_bytes", worker_id="1")
    # The kernel's own reading of the same process, now.
    status = Path(f"/proc/{pid}/status").read_text()
    vmrss = int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) * 1024
    assert abs(rss - vmrss) < 10 * MB, (rss, vmrss)
    assert m.value("gunicorn_worker_uptime_seconds", worker_id="1") >= 1
    assert restarts(m) == only()


# -- 11. storm -----------------------------------------------------------------------------

COUNTERS = ("gunicorn_requests_total", "gunicorn_worker_requests_total", "gunicorn_worker_restart_total",
            "gunicorn_master_worker_restart_total")


@pytest.mark.slow
def test_storm(server_factory, tmp_path):
    build = BUILDS["pypi"]
    if not Path(build.plugin).exists():
        pytest.fail(f"{build.plugin} is missing: run `make all pypi` first")
    fifo = tmp_path / "storm.fifo"
    s = app_server(server_factory, build, "--processes", "2", "--harakiri", "1", "--master-fifo", str(fifo),
                   "--max-requests", "50", "--min-worker-lifetime", "1",
                   # A worker SIGHUPed before its signal set-up ignores it: the
                   # reload would wait uWSGI's 60 s mercy for it.
                   "--worker-reload-mercy", "3").start()
    wait_accepting(s, 2)
    stop = threading.Event()
    scrapes: list[tuple[float, object]] = []  # (monotonic, Metrics or the exception)
    hups: list[float] = []
    actions: list = []  # (elapsed, what, detail): for failure messages
    answered = [0, 0, 0]

    def client(i):
        while not stop.is_set():
            try:
                if requests.get(s.url("/"), timeout=5).status_code == 200:
                    answered[i] += 1
            except requests.RequestException:
                time.sleep(0.01)  # a client's pause after a cut connection, not a wait

    def scraper():
        while not stop.is_set():
            at = time.monotonic()
            try:
                r = requests.get(s.metrics_url, timeout=3)
                r.raise_for_status()
                scrapes.append((at, parse_metrics(r.text)))
            except requests.RequestException as exc:
                scrapes.append((at, exc))
            time.sleep(max(0.0, 0.05 - (time.monotonic() - at)))  # a scraper's pace, not a wait

    def slow():
        while not stop.is_set():
            try:
                requests.get(s.url("/sleep?s=3"), timeout=6)
            except requests.RequestException:
                pass
            stop.wait(0.5)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(answered))]
    threads += [threading.Thread(target=scraper), threading.Thread(target=slow)]
    for t in threads:
        t.start()
    rng = random.Random(7)
    started = time.monotonic()
    try:
        while (elapsed := time.monotonic() - started) < 30:
            if elapsed >= 6 * (len(hups) + 1) and elapsed < 27:
                hups.append(time.monotonic())
                s.signal(signal.SIGHUP)
                actions.append((round(elapsed, 2), "SIGHUP", None))
                time.sleep(0.5)  # the storm's pace: its actions are spread over 30 s
                continue
            action = rng.choice(("kill", "kill", "chain"))
            if action == "kill":
                pids = s.worker_pids()
                if pids:
                    victim = rng.choice(pids)
                    try:
                        os.kill(victim, signal.SIGKILL)
                        actions.append((round(elapsed, 2), "kill", victim))
                    except ProcessLookupError:
                        pass
            else:
                try:
                    fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
                except OSError:  # ENXIO: the master re-executes, no reader yet
                    pass
                else:
                    try:
                        os.write(fd, b"c")
                        actions.append((round(elapsed, 2), "chain", None))
                    finally:
                        os.close(fd)
            time.sleep(rng.uniform(0.5, 1.5))  # the storm's pace
    finally:
        stop.set()
        for t in threads:
            t.join(15)
    (tmp_path / "storm-actions.txt").write_text("".join(f"{a}\n" for a in actions))
    assert s.proc.poll() is None, s.output()[-5000:]

    # Every scrape answered, but in the windows right after a SIGHUP (from a
    # scrape already on its way), and those refused, not left hanging.
    failures = [(at, exc) for at, exc in scrapes if isinstance(exc, Exception)]
    stray = [(at - started, exc) for at, exc in failures if not any(-0.5 <= at - h < 3 for h in hups)]
    assert not stray, stray[:3]
    assert all(isinstance(exc, requests.ConnectionError) for _, exc in failures), failures[:3]
    ok = [m for _, m in scrapes if not isinstance(m, Exception)]
    assert len(ok) >= 200, (len(ok), len(failures))  # 20 a second, but in the windows

    # No counter ever decreases.
    previous = None
    for i, m in enumerate(ok):
        now = {key: v for key, v in m.items() if key[0] in COUNTERS}
        if previous is not None:
            gone = set(previous) - set(now)
            assert not gone, f"scrape {i}: series vanished {sorted(gone)[:3]}"
            down = {k: (previous[k], now[k]) for k in previous if now[k] < previous[k]}
            assert not down, f"scrape {i}: counters decreased {down}"
        previous = now

    # The master is alive and answers at once.
    t0 = time.monotonic()
    final = parse_metrics(requests.get(s.metrics_url, timeout=2).text)
    assert time.monotonic() - t0 < 2
    assert len(lines_with(s, "binary reloading uWSGI")) == len(hups)
    assert len(lines_with(s, "chain reload starting")) >= 1

    # Once the storm has passed, the counters are exactly gpx's lines, and
    # there is one line per process uWSGI reaped: none missed, none twice.
    def reaped() -> int:
        return sum(len(lines_with(s, text)) for text in (
            "DAMN ! worker", "killed successfully (pid:", "buried after", "cheaped."))

    def settled():
        r = restarts(s.scrape())
        return r if r == {k: float(v) for k, v in ended_reasons(s).items()} and len(ended(s)) == reaped() else None

    try:
        r = wait_for(settled, 10, what="restart counters equal to gpx's lines")
    except AssertionError:
        raise AssertionError(f"{restarts(s.scrape())} vs lines {ended_reasons(s)}; "
                             f"{len(ended(s))} lines, {reaped()} reaped\n{actions}") from None
    pids = [p for _, p, *_ in ended(s)]
    assert len(pids) == len(set(pids)), [p for p in pids if pids.count(p) > 1]
    assert r["signal"] >= 1 and r["timeout"] >= 1 and r["reload"] >= 1 and r["max_requests"] >= 1, \
        f"{r}\n{actions}"
    assert r["crash"] == 0 and r["memory"] == 0 and r["idle"] == 0 and r["lifetime"] == 0, r
    assert final.sum("gunicorn_requests_total") >= sum(answered) - 20
    wait_accepting(s, 2)
    assert get(s) == 200
