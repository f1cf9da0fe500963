"""Every worker mode and language: exact request metrics from real processes.

One test per mode or language, each with real uwsgi processes and real HTTP:
exact counts by method and status, the duration histograms' counts equal to
the requests, requests in progress and busy/idle workers while requests are
held, and 0 in progress afterwards. docs/modes.md tabulates the results.

Held requests (`/hold?NAME`) wait until the test creates the file NAME in the
app's $MODES_DIR, so the test, not a sleep, decides when they end. The apps
are in apps/modes/: modes_app.py for every Python mode (how it waits depends
on $MODES_ENGINE), and one app per language with the same routes.

Python modes run on both builds where the build has the loop engine; the
language plugins and the greenlet, asyncio and tornado loop engines are
Debian's (plugins of the 2.0.21 binary), so those run on the system build
only. PyPI's uwsgi has gevent built in but its venv has no gevent module: the
pypi gevent test runs with Debian's python3-gevent (built for the same
CPython 3.11) on PYTHONPATH.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import requests

from conftest import (
    SPAWNED,
    Build,
    Metrics,
    Server,
    exchange,
    failures_by_class,
    free_port,
    logged_requests,
    per_worker,
    probes,
    requests_by_label,
    start,
    wait_for,
)

MODES = Path(__file__).resolve().parent / "apps" / "modes"
MODES_APP = MODES / "modes_app.py"
DEBIAN_PLUGINS = Path("/usr/lib/uwsgi/plugins")
DEBIAN_PYTHON = "/usr/lib/python3/dist-packages"

POST_BODY = b"p" * 3000
STATES = ("idle", "busy", "cheap", "paused", "stopping")


# -- helpers -------------------------------------------------------------------
def needs_debian_plugin(build: Build, *names: str):
    """Loop engines and languages of Debian's packages exist for its 2.0.21
    binary only; scripts/setup installs them."""
    if build.name != "system":
        pytest.skip(f"{', '.join(names)}: Debian's plugin is built for Debian's uWSGI 2.0.21; PyPI's uwsgi 2.0.31 "
                    "has no such plugin built in")
    for name in names:
        if not (DEBIAN_PLUGINS / f"{name}_plugin.so").exists():
            pytest.fail(f"{DEBIAN_PLUGINS}/{name}_plugin.so is missing: run scripts/setup")


def mode_server(server_factory, build: Build, tmp_path: Path, *args, app=("--wsgi-file", str(MODES_APP)),
                engine="sync", env=None, python=True) -> Server:
    """A server of the modes app (or `app`) on its own port; `python=False`
    leaves the system build's python3 plugin out (other languages)."""
    port = free_port()
    if not python:
        build = Build(build.name, build.uwsgi, build.plugin, ())
    return server_factory(build, "--http-socket", f"127.0.0.1:{port}", *app, *args, app_port=port, with_app=False,
                          env={"MODES_DIR": str(tmp_path), "MODES_ENGINE": engine, **(env or {})})


def workers_by_state(m: Metrics) -> dict[str, float]:
    return m.by("gunicorn_workers", "state")


def assert_histograms_agree(m: Metrics, total: int, slots: list[str]):
    """Per worker slot: the counter, the duration, request and response size
    histograms' counts and +Inf buckets agree; their sum is `total`; by method,
    the duration histogram counts what gunicorn_requests_total counts."""
    assert sorted(per_worker(m)) == slots
    for wid, n in per_worker(m).items():
        for family in ("gunicorn_worker_request_duration_seconds", "gunicorn_worker_request_size_bytes",
                       "gunicorn_worker_response_size_bytes"):
            assert m.value(f"{family}_count", worker_id=wid) == n, (family, wid)
            assert m.value(f"{family}_bucket", worker_id=wid, le="+Inf") == n, (family, wid)
    assert sum(per_worker(m).values()) == total
    by_method = Counter()
    for (method, _), v in requests_by_label(m).items():
        by_method[method] += v
    assert m.by("gunicorn_request_duration_seconds_count", "method") == dict(by_method)
    for method, n in by_method.items():
        assert m.value("gunicorn_request_duration_seconds_bucket", method=method, le="+Inf") == n
    assert sum(by_method.values()) == total


def assert_at_rest(m: Metrics, workers: int):
    assert m.value("gunicorn_requests_in_progress") == 0
    assert workers_by_state(m) == {"idle": workers, "busy": 0, "cheap": 0, "paused": 0, "stopping": 0}


class Held:
    """`n` requests to `path` + `?name`, held until release() creates the file."""

    def __init__(self, server: Server, n: int, name: str, path="/hold"):
        self.server, self.n, self.name = server, n, name
        self.release_file = Path(server.env["MODES_DIR"]) / name
        self.answers: list = []
        self.threads = [threading.Thread(target=self._one, args=(f"{path}?{name}",)) for _ in range(n)]
        for t in self.threads:
            t.start()

    def _one(self, path):
        self.answers.append(exchange(self.server, "GET", path, timeout=90)[0])

    def wait_in_progress(self, timeout=30.0) -> Metrics:
        """The first scrape that shows all `n` in progress."""
        def all_in():
            m = self.server.scrape()
            return m if m.value("gunicorn_requests_in_progress") == self.n else None

        return wait_for(all_in, timeout, interval=0.05, what=f"{self.n} requests in progress")

    def release(self):
        self.release_file.touch()
        for t in self.threads:
            t.join(90)
        assert not any(t.is_alive() for t in self.threads)
        assert self.answers == [200] * self.n


def held_load(server: Server, n: int, workers: int, name="release", expect_busy=None, path="/hold") -> Metrics:
    """Holds `n` requests: all `n` in progress and nothing finished; the
    workers that served them busy, the others idle; after release, 0 in
    progress and every worker idle. Returns the scrape after release."""
    before = server.scrape()
    held = Held(server, n, name, path)
    try:
        during = held.wait_in_progress()
        assert requests_by_label(during) == requests_by_label(before)  # none finished yet
        states = workers_by_state(during)
    finally:
        held.release()
    server.wait_requests(before.sum("gunicorn_requests_total") + n)
    after = server.scrape()
    # Which workers held requests: those whose count moved by the held ones.
    moved = {wid for wid, v in per_worker(after).items() if v != per_worker(before).get(wid, 0)}
    assert sum(per_worker(after).values()) - sum(per_worker(before).values()) == n
    if expect_busy is not None:
        assert len(moved) == expect_busy
    assert states == {"idle": workers - len(moved), "busy": len(moved), "cheap": 0, "paused": 0, "stopping": 0}
    for wid in range(1, workers + 1):
        w = during.by("gunicorn_worker_state", "state", worker_id=str(wid))
        assert w == {s: float(s == ("busy" if str(wid) in moved else "idle")) for s in STATES}, (wid, w)
    assert_at_rest(after, workers)
    diff = Counter(requests_by_label(after))
    diff.subtract(requests_by_label(before))
    assert +diff == Counter({("GET", "200"): n})
    return after


# The same mix for every mode and language: GETs, 404s, POSTs with a body, raises.
MIX = {"get": 5, "missing": 3, "post": 4, "raise": 2}


def send_mix(server: Server, paths=None, raise_answer=None) -> dict:
    """Sends MIX in a fixed interleaving; returns the client's answers by kind."""
    paths = {"get": "/", "missing": "/missing", "post": "/", "raise": "/raise", **(paths or {})}
    kinds = [kind for kind, n in MIX.items() for _ in range(n)]
    kinds = kinds[::2] + kinds[1::2]
    answers = Counter()
    for kind in kinds:
        method = "POST" if kind == "post" else "GET"
        status, _, _ = exchange(server, method, paths[kind], POST_BODY if kind == "post" else None)
        answers[(kind, status)] += 1
    assert answers == Counter({("get", 200): MIX["get"], ("missing", 404): MIX["missing"], ("post", 200): MIX["post"],
                               ("raise", raise_answer): MIX["raise"]})
    return answers


def assert_mix(server: Server, p: int, slots: list[str], failures: int = MIX["raise"], extra_get_200=0,
               error_type="RuntimeError") -> Metrics:
    """Exact metrics after probes + (held requests) + MIX."""
    total = p + extra_get_200 + sum(MIX.values())
    server.wait_requests(total)
    m = server.scrape()
    assert requests_by_label(m) == {
        ("GET", "200"): p + extra_get_200 + MIX["get"],
        ("GET", "404"): MIX["missing"],
        ("GET", "500"): MIX["raise"],
        ("POST", "200"): MIX["post"],
    }
    assert_histograms_agree(m, total, slots)
    # Request sizes: only the POSTs have a body (3,000 bytes: le=4096, not le=1024).
    assert m.sum("gunicorn_worker_request_size_bytes_sum") == len(POST_BODY) * MIX["post"]
    assert m.sum("gunicorn_worker_request_size_bytes_bucket", le="1024.0") == total - MIX["post"]
    assert m.sum("gunicorn_worker_request_size_bytes_bucket", le="4096.0") == total
    failed = m.series("gunicorn_worker_failed_requests_total")
    assert sum(failed.values()) == failures
    for ls in failed:
        labels = dict(ls)
        assert (labels["method"], labels["endpoint"], labels["error_type"]) == ("GET", "/", error_type)
    assert m.sum("gunicorn_worker_error_handling_total") == 0
    # Every request gpx counted is one uWSGI logged, and the other way round.
    assert len(logged_requests(server)) == total
    return m


def slots(n: int) -> list[str]:
    return sorted(str(i) for i in range(1, n + 1))


def p_of(server: Server, wid: str) -> int:
    """How many of the readiness probes worker `wid` served (from the log)."""
    slot_of_pid = {int(pid): w for w, pid in SPAWNED.findall(server.output())}
    return sum(1 for pid, method, path, _ in logged_requests(server)
               if (method, path) == ("GET", "/") and slot_of_pid[pid] == wid)


# -- 1. preforked ---------------------------------------------------------------
@pytest.mark.parametrize("lazy", [False, True], ids=["preforked", "lazy-apps"])
def test_preforked(build, server_factory, tmp_path, lazy):
    s = start(mode_server(server_factory, build, tmp_path, "--processes", "3", *(["--lazy-apps"] if lazy else [])), 3)
    p = probes(s)
    # One held request per worker: a sync worker takes one at a time, so all three are busy.
    held_load(s, 3, 3, expect_busy=3)
    send_mix(s)
    m = assert_mix(s, p, slots(3), extra_get_200=3)
    assert_at_rest(m, 3)
    assert m.value("gunicorn_workers_desired") == 3
    if lazy:
        assert s.output().count("WSGI app 0 (mountpoint='') ready") == 3  # loaded by each worker
    else:
        assert s.output().count("WSGI app 0 (mountpoint='') ready") == 1  # loaded by the master


# -- 2. threads ------------------------------------------------------------------
def test_threads(build, server_factory, tmp_path):
    s = start(mode_server(server_factory, build, tmp_path, "--processes", "2", "--threads", "4"), 2)
    p = probes(s)
    # 8 held requests on 2 x 4 threads: each worker holds 4, both busy.
    after = held_load(s, 8, 2, expect_busy=2)
    assert per_worker(after) == {"1": p_of(s, "1") + 4, "2": p_of(s, "2") + 4}
    send_mix(s)
    m = assert_mix(s, p, slots(2), extra_get_200=8)
    assert_at_rest(m, 2)


# -- 3. loop engines: gevent, ugreen, greenlet, asyncio, tornado -------------------
def gevent_env(build: Build) -> dict:
    """The environment a gevent worker needs on this build."""
    if build.name == "system":
        needs_debian_plugin(build, "gevent_python3")
        return {}
    if "--gevent " not in subprocess.run([build.uwsgi, "--help"], capture_output=True, text=True).stdout:
        pytest.skip(f"{build.uwsgi} has no gevent loop engine built in")
    # PyPI's uwsgi has gevent built in; its venv does not have the module.
    if not Path(DEBIAN_PYTHON, "gevent").is_dir():
        pytest.fail("python3-gevent is not installed: run scripts/setup")
    env = {"PYTHONPATH": DEBIAN_PYTHON}
    python = Path(build.uwsgi).parent / "python"
    check = subprocess.run([str(python), "-c", "import gevent"], env={**os.environ, **env}, capture_output=True,
                           text=True)
    if check.returncode != 0:
        pytest.skip(f"PyPI's uwsgi has gevent built in, but its Python cannot import Debian's python3-gevent "
                    f"(built for Debian's CPython 3.11): {check.stderr.strip().splitlines()[-1]}")
    return env


LOOPS = {
    # id: (Debian plugins on the system build, uwsgi arguments, $MODES_ENGINE, cores per worker)
    "gevent": (("gevent_python3",), ("--gevent", "100"), "gevent", 100),
    "ugreen": (("ugreen",), ("--async", "10", "--ugreen"), "suspend", 10),
    "greenlet": (("greenlet_python3",), ("--async", "10", "--greenlet"), "suspend", 10),
    # uWSGI's asyncio and tornado loops need greenlet as the suspend engine
    "asyncio": (("greenlet_python3", "asyncio_python3"), ("--asyncio", "10", "--greenlet"), "asyncio", 10),
    "tornado": (("greenlet_python3", "tornado_python3"), ("--tornado", "10", "--greenlet"), "tornado", 10),
}


@pytest.mark.parametrize("loop", sorted(LOOPS))
def test_loop_engines(build, server_factory, tmp_path, loop):
    plugins, args, engine, cores = LOOPS[loop]
    env, plugin_args = {}, []
    if build.name == "pypi" and loop == "gevent":
        env = gevent_env(build)  # built into PyPI's uwsgi
    elif build.name == "pypi" and loop == "ugreen":
        # Built into PyPI's uwsgi, but there it deadlocks (without gpx too): as
        # soon as two requests of a worker are suspended at once, the worker
        # waits forever on the GIL's futex and every client times out.
        pytest.skip("ugreen on PyPI's uWSGI 2.0.31 with the venv's Python 3.11 deadlocks on the GIL once two "
                    "requests of a worker are suspended at once, with or without gpx")
    else:
        needs_debian_plugin(build, *plugins)
        for name in plugins:
            plugin_args += ["--plugin", name]
    s = start(mode_server(server_factory, build, tmp_path, *plugin_args, "--processes", "2", *args,
                          engine=engine, env=env), 2)
    assert f"cores: {cores})" in s.output()
    p = probes(s)
    # More held requests than one worker's cores: both workers hold some. gevent
    # holds 50 on 2 x 100 cores: how they spread is the kernel's choice, so the
    # busy count is checked against the workers that served them.
    n = 50 if loop == "gevent" else 16
    held_load(s, n, 2, expect_busy=None if loop == "gevent" else 2)
    send_mix(s)
    m = assert_mix(s, p, slots(2), extra_get_200=n)
    assert_at_rest(m, 2)


# -- 4. cheaper ------------------------------------------------------------------
@pytest.mark.slow
def test_cheaper_spare(build, server_factory, tmp_path):
    """Workers spawned under load and cheaped when idle: every count stays in
    its slot, gunicorn_workers_desired follows the cheaper subsystem."""
    s = start(mode_server(server_factory, build, tmp_path, "--processes", "4", "--cheaper", "1",
                          "--cheaper-initial", "1", "--cheaper-algo", "spare",
                          # one cycle (a second) of overload spawns, one of idleness cheaps
                          "--cheaper-overload", "1"), 1)
    p = probes(s)
    m = s.scrape()
    assert m.value("gunicorn_workers_desired") == 1
    assert workers_by_state(m) == {"idle": 1, "busy": 0, "cheap": 3, "paused": 0, "stopping": 0}
    assert per_worker(m) == {"1": p, "2": 0, "3": 0, "4": 0}

    seen = []

    def record():
        m = s.scrape()
        desired = m.value("gunicorn_workers_desired")
        # One scrape is consistent: the slots not cheaped are the desired ones.
        assert workers_by_state(m)["cheap"] == 4 - desired
        if not seen or seen[-1] != desired:
            seen.append(desired)
        return m

    # Four held requests on one sync worker: it stays busy, so the master
    # spawns a worker per overloaded cycle, each taking the next queued one.
    held = Held(s, 4, "ramp")
    try:
        during = wait_for(lambda: (lambda m: m if m.value("gunicorn_requests_in_progress") == 4 else None)(record()),
                          timeout=60, interval=0.1, what="4 workers each holding a request")
        assert during.value("gunicorn_workers_desired") == 4
        assert workers_by_state(during) == {"idle": 0, "busy": 4, "cheap": 0, "paused": 0, "stopping": 0}
        assert requests_by_label(during) == {("GET", "200"): p}
    finally:
        held.release()
    assert seen == [1, 2, 3, 4], seen
    assert len(SPAWNED.findall(s.output())) == 4
    s.wait_requests(p + 4)
    loaded = s.scrape()
    assert per_worker(loaded) == {"1": p + 1, "2": 1, "3": 1, "4": 1}

    # Idle: the spare algorithm cheaps one worker per cycle down to one.
    seen.clear()
    idle = wait_for(lambda: (lambda m: m if m.value("gunicorn_workers_desired") == 1 else None)(record()),
                    timeout=60, interval=0.1, what="cheaped down to 1 worker")
    assert seen[0] == 4 and seen[-1] == 1 and seen == sorted(seen, reverse=True), seen
    wait_for(lambda: s.output().count("cheaped.") == 3, what="3 workers cheaped")
    idle = s.scrape()
    assert workers_by_state(idle) == {"idle": 1, "busy": 0, "cheap": 3, "paused": 0, "stopping": 0}
    live = [wid for wid in slots(4)
            if dict(idle.series("gunicorn_worker_state"))[(("state", "cheap"), ("worker_id", wid))] == 0]
    assert len(live) == 1
    # The cheaped slots keep their counts; resource gauges only for the live worker.
    assert per_worker(idle) == per_worker(loaded)
    assert requests_by_label(idle) == requests_by_label(loaded)
    wait_for(lambda: sorted(per_worker(s.scrape(), "gunicorn_worker_memory_bytes")) == live,
             what="memory series of the live worker only")

    # Traffic to the one worker left: still exact, over all four slots.
    send_mix(s)
    m = assert_mix(s, p, slots(4), extra_get_200=4)
    assert {wid: v - per_worker(loaded)[wid] for wid, v in per_worker(m).items()} == \
        {wid: (sum(MIX.values()) if wid == live[0] else 0) for wid in slots(4)}
    assert m.value("gunicorn_workers_desired") == 1


# -- 5. emperor --------------------------------------------------------------------
VASSAL_INI = """[uwsgi]
{plugins}
plugin = {gpx}
http-socket = 127.0.0.1:{port}
wsgi-file = {app}
processes = 2
env = MODES_DIR={modes_dir}
; each vassal names its own metrics port: gpx's default instance name is
; <hostname>:<gpx-port>, so the two scoreboards in the shared directory differ
gpx-port = {metrics_port}
gpx-bind = 127.0.0.1
gpx-multiproc-dir = {multiproc}
pidfile = {dir}/uwsgi-{port}.pid
logto = {dir}/uwsgi-{port}.log
"""


def test_emperor_two_vassals(build, server_factory, tmp_path):
    vassals_dir = tmp_path / "vassals"
    vassals_dir.mkdir()
    shared = tmp_path / "shared-multiproc"
    vassals = {}
    for name in ("alpha", "beta"):
        d = tmp_path / name
        d.mkdir()
        port, metrics_port = free_port(), free_port()
        (vassals_dir / f"{name}.ini").write_text(VASSAL_INI.format(
            plugins="plugins = python3" if build.name == "system" else "", gpx=build.plugin, port=port,
            app=MODES_APP, modes_dir=d, metrics_port=metrics_port, multiproc=shared, dir=d))
        # A Server only to read this vassal: its pidfile, log, ports.
        vassals[name] = Server(build, d, app_port=port, metrics_port=metrics_port, env={"MODES_DIR": str(d)})

    emperor = server_factory(build, with_app=False, with_gpx_port=False,
                             app_port=vassals["alpha"].app_port, metrics_port=vassals["alpha"].metrics_port)
    # The emperor itself runs without gpx: only the vassals load it.
    emperor.cmd = [build.uwsgi, "--emperor", str(vassals_dir), "--pidfile", str(emperor.pidfile)]
    emperor.worker_pids = lambda: []  # its children are vassal masters, not workers
    emperor.start(wait=False)
    try:
        for v in vassals.values():
            wait_for(lambda v=v: v.pidfile.exists() and v.log_path.exists(), timeout=30, what="the vassal's pidfile")
            wait_for(lambda v=v: requests.get(v.url("/"), timeout=2).ok and requests.get(v.metrics_url, timeout=2).ok,
                     timeout=30, what="the vassal's app and metrics")
            v.wait_workers_started(2)
        p = {name: probes(v) for name, v in vassals.items()}

        # Different traffic to each.
        alpha, beta = vassals["alpha"], vassals["beta"]
        for _ in range(3):
            assert exchange(alpha, "GET", "/")[0] == 200
        for _ in range(4):
            assert exchange(beta, "POST", "/", POST_BODY)[0] == 200
        for _ in range(2):
            assert exchange(beta, "GET", "/missing")[0] == 404
        held_load(beta, 2, 2, expect_busy=2)
        assert alpha.scrape().value("gunicorn_requests_in_progress") == 0

        alpha.wait_requests(p["alpha"] + 3)
        beta.wait_requests(p["beta"] + 8)
        ma, mb = alpha.scrape(), beta.scrape()
        assert requests_by_label(ma) == {("GET", "200"): p["alpha"] + 3}
        assert requests_by_label(mb) == {("GET", "200"): p["beta"] + 2, ("POST", "200"): 4, ("GET", "404"): 2}
        assert_histograms_agree(ma, p["alpha"] + 3, slots(2))
        assert_histograms_agree(mb, p["beta"] + 8, slots(2))
        assert ma.sum("gunicorn_worker_request_size_bytes_sum") == 0
        assert mb.sum("gunicorn_worker_request_size_bytes_sum") == 4 * len(POST_BODY)
        for v in vassals.values():
            assert_at_rest(v.scrape(), 2)
            assert f"instance {socket.gethostname()}:{v.metrics_port}" in v.output()
        assert sorted(f.name for f in shared.iterdir()) == sorted(
            f"gpx_{socket.gethostname()}:{v.metrics_port}.scoreboard" for v in vassals.values())
        # Each vassal's workers handle SIGINT themselves before the emperor's SIGINT.
        for v in vassals.values():
            v.wait_workers_started(2)
        masters = [v.master_pid for v in vassals.values()]
    finally:
        emperor.stop()
    assert emperor.proc.returncode == 0, emperor.output()
    for pid in masters:
        assert not Path(f"/proc/{pid}").exists()
    for v in vassals.values():
        assert "goodbye to uWSGI." in v.output()
        assert f"gpx: counters kept in {shared}" in v.output()
    out = emperor.output()
    assert "[emperor] *** RAGNAROK EVOKED ***" in out and "The Emperor is buried." in out
    for name in vassals:
        assert f"[emperor] stop the uwsgi instance {name}.ini" in out
        assert f"[emperor] removed uwsgi instance {name}.ini" in out
        assert "SIGINT/SIGTERM received" in vassals[name].output()


# -- 6. mules and a spooler ------------------------------------------------------------
def workers_from_log(server: Server):
    """worker_pids() that leaves mules and spoolers out: the master's children
    named by uWSGI's "spawned uWSGI worker" lines, still alive."""

    def pids():
        latest = {}
        for wid, pid in SPAWNED.findall(server.output()):
            latest[wid] = int(pid)
        return [pid for pid in latest.values() if Path(f"/proc/{pid}").exists()]

    return pids


def test_mules_and_spooler_are_not_workers(build, server_factory, tmp_path):
    spool = tmp_path / "spool"
    spool.mkdir()
    s = mode_server(server_factory, build, tmp_path, "--processes", "2", f"--mule={MODES / 'mule.py'}", "--mule",
                    "--spooler", str(spool), "--spooler-frequency", "1")
    s.worker_pids = workers_from_log(s)
    start(s, 2)
    out = s.output()
    assert "spawned uWSGI mule 1" in out and "spawned uWSGI mule 2" in out
    assert f"spawned the uWSGI spooler on dir {spool}" in out
    assert "gpx: 2 worker slot(s) x 1 cell(s)" in out
    p = probes(s)

    held_load(s, 2, 2, expect_busy=2)
    for i in range(3):
        assert exchange(s, "GET", f"/mule?m{i}")[0] == 200
    for i in range(2):
        assert exchange(s, "GET", f"/spool?t{i}")[0] == 200
    # The mule and the spooler did their work; none of it is a request.
    wait_for(lambda: (tmp_path / "mule").exists() and sorted((tmp_path / "mule").read_text().split()) ==
             ["m0", "m1", "m2"], timeout=30, what="the mule's messages")
    wait_for(lambda: (tmp_path / "spooled").exists() and sorted((tmp_path / "spooled").read_text().split()) ==
             ["t0", "t1"], timeout=30, what="the spooler's tasks")
    send_mix(s)
    m = assert_mix(s, p, slots(2), extra_get_200=2 + 3 + 2)
    assert_at_rest(m, 2)
    # Worker series: slots 1 and 2, nothing for the mules or the spooler.
    for family in ("gunicorn_worker_requests_total", "gunicorn_worker_uptime_seconds",
                   "gunicorn_worker_request_duration_seconds_count"):
        assert sorted(per_worker(m, family)) == ["1", "2"], family
    wait_for(lambda: sorted(per_worker(s.scrape(), "gunicorn_worker_memory_bytes")) == ["1", "2"],
             what="memory series of the 2 workers")
    assert {dict(ls)["worker_id"] for ls in m.series("gunicorn_worker_state")} == {"1", "2"}
    assert sum(workers_by_state(m).values()) == 2
    assert m.value("gunicorn_workers_desired") == 2


# -- 7. other languages ------------------------------------------------------------------
LANGUAGES = {
    # id: (Debian plugin, app arguments, modifier1, paths, client's answer to a raise, failures counted)
    # Only Rack reports exceptions to uWSGI, and with their class (ModesAppError).
    "psgi": ("psgi", ("--psgi", str(MODES / "app.pl")), 5, {}, 500, 0),
    "rack": ("rack_ruby31", ("--rack", str(MODES / "config.ru")), 7, {}, None, MIX["raise"]),
    "lua": ("lua51", ("--lua", str(MODES / "app.lua")), 6, {}, None, 0),
    "php": ("php", ("--php-docroot", str(MODES / "www"), "--php-index", "index.php"), 14,
            {"missing": "/missing.php", "raise": "/raise.php", "hold": "/hold.php"}, 500, 0),
}


@pytest.mark.parametrize("language", sorted(LANGUAGES))
def test_languages(build, server_factory, tmp_path, language):
    plugin, app, modifier1, paths, raise_answer, failures = LANGUAGES[language]
    needs_debian_plugin(build, plugin)
    s = start(mode_server(server_factory, build, tmp_path, "--plugin", plugin, *app,
                          "--http-socket-modifier1", str(modifier1), "--processes", "2", app=(), python=False), 2)
    p = probes(s)
    held_load(s, 2, 2, expect_busy=2, path=paths.get("hold", "/hold"))
    send_mix(s, paths, raise_answer=raise_answer)
    m = assert_mix(s, p, slots(2), failures=failures, extra_get_200=2, error_type="ModesAppError")
    assert_at_rest(m, 2)
    # uWSGI's own count of exceptions is what gpx reports.
    assert m.sum("gunicorn_worker_failed_requests_total") == failures


# -- 7b. exception classes ------------------------------------------------------------
RAISES = (("/raise/zero", 3), ("/raise/key", 2), ("/raise", 1))


@pytest.mark.parametrize("threads", [1, 2], ids=["processes", "threads"])
def test_exception_classes(build, server_factory, tmp_path, threads):
    s = start(mode_server(server_factory, build, tmp_path, "--processes", "2", "--threads", str(threads)), 2)
    p = probes(s)
    for path, n in RAISES:
        for _ in range(n):
            assert exchange(s, "GET", path)[0] is None  # the app raised: no answer
    s.wait_requests(p + sum(n for _, n in RAISES))
    m = s.scrape()
    assert failures_by_class(m) == {"ZeroDivisionError": 3, "KeyError": 2, "RuntimeError": 1}
    for ls in m.series("gunicorn_worker_failed_requests_total"):
        labels = dict(ls)
        assert (labels["method"], labels["endpoint"]) == ("GET", "/"), labels
        assert labels["worker_id"] in ("1", "2"), labels
    # A request after a failure carries no class over: no new failure.
    assert exchange(s, "GET", "/")[0] == 200
    s.wait_requests(p + sum(n for _, n in RAISES) + 1)
    assert failures_by_class(s.scrape()) == {"ZeroDivisionError": 3, "KeyError": 2, "RuntimeError": 1}


# -- 8. requests that never reach the app ---------------------------------------------------
@pytest.mark.parametrize("offload", [False, True], ids=["sendfile", "offload"])
def test_static_routes_and_offload(build, server_factory, tmp_path, offload):
    static = tmp_path / "static"
    static.mkdir()
    (static / "small.bin").write_bytes(os.urandom(5000))
    with open(static / "big.bin", "wb") as f:
        f.truncate(64 * 1024 * 1024)  # more than the loopback's socket buffers hold
    s = start(mode_server(server_factory, build, tmp_path, "--processes", "2", "--static-map", f"/static={static}",
                          "--route", "^/r$ return:403", "--route", "^/b$ break:404",
                          "--route", "^/h$ addheader:X-Gpx: yes", "--socket-timeout", "60",
                          *(["--offload-threads", "1"] if offload else [])), 2)
    p = probes(s)
    probe_body = len(exchange(s, "GET", "/")[1])  # one more GET / to learn the body size
    p += 1

    answers = []
    for path, n in (("/static/small.bin", 3), ("/static/absent", 1), ("/r", 2), ("/b", 2), ("/h", 2)):
        for _ in range(n):
            status, body, headers = exchange(s, "GET", path)
            answers.append((path, status, len(body), headers.get("X-Gpx")))
    assert Counter(answers) == Counter({
        ("/static/small.bin", 200, 5000, None): 3,  # the static map
        ("/static/absent", 200, probe_body, None): 1,  # no such file: the app answers
        ("/r", 403, 9, None): 2,  # "Forbidden"
        ("/b", 404, 0, None): 2,
        ("/h", 200, probe_body, "yes"): 2,  # a header added, then the app
    })
    total = p + 10
    s.wait_requests(total)
    time.sleep(0.2)  # a quiet spell: a second count of any of them would land in it (no event to wait for)
    m = s.scrape()
    # Each counted once, as uWSGI logged it; the app saw only /static/absent and /h.
    assert requests_by_label(m) == {("GET", "200"): p + 6, ("GET", "403"): 2, ("GET", "404"): 2}
    assert_histograms_agree(m, total, slots(2))
    assert len(logged_requests(s)) == total
    assert m.sum("gunicorn_worker_response_size_bytes_sum") == (p + 3) * probe_body + 3 * 5000 + 2 * 9
    via = "offload()" if offload else "sendfile()"
    assert len(re.findall(rf"GET /static/small\.bin => generated 5000 bytes in \d+ msecs via {re.escape(via)}",
                          s.output())) == 3
    assert_at_rest(m, 2)

    # A client that does not read a 64 MiB file. With offload the worker hands
    # the file to its offload thread and ends the request at once: counted
    # (all 64 MiB as the response size), not in progress, while the transfer
    # still runs. Without, the worker sends it itself: in progress, not
    # counted, until the client has read it all.
    before = s.scrape()
    big = socket.create_connection(("127.0.0.1", s.app_port), timeout=60)
    try:
        big.sendall(b"GET /static/big.bin HTTP/1.0\r\nHost: x\r\n\r\n")
        if offload:
            s.wait_requests(total + 1)
            during = s.scrape()
            assert during.value("gunicorn_requests_in_progress") == 0
            assert workers_by_state(during)["busy"] == 0
            assert during.sum("gunicorn_worker_response_size_bytes_sum") == \
                before.sum("gunicorn_worker_response_size_bytes_sum") + 64 * 1024 * 1024
        else:
            during = wait_for(lambda: (lambda m: m if m.value("gunicorn_requests_in_progress") == 1 else None)(
                s.scrape()), what="the big file in progress")
            time.sleep(1.0)  # the scenario: the transfer stays in progress (the client reads nothing yet)
            during = s.scrape()
            assert during.value("gunicorn_requests_in_progress") == 1
            assert workers_by_state(during)["busy"] == 1
            assert during.sum("gunicorn_requests_total") == total
        received = 0
        while chunk := big.recv(1 << 20):
            received += len(chunk)
    finally:
        big.close()
    assert received > 64 * 1024 * 1024  # headers and the whole body
    s.wait_requests(total + 1)
    time.sleep(0.2)  # a quiet spell: a second count would land in it
    after = s.scrape()
    assert requests_by_label(after) == {("GET", "200"): p + 7, ("GET", "403"): 2, ("GET", "404"): 2}
    assert after.sum("gunicorn_worker_response_size_bytes_sum") == \
        before.sum("gunicorn_worker_response_size_bytes_sum") + 64 * 1024 * 1024
    assert_at_rest(after, 2)


def test_request_for_a_plugin_not_loaded(build, server_factory, tmp_path):
    """A request for a modifier1 no loaded plugin serves (here 5, PSGI's): uWSGI
    closes the connection without parsing the request, logs no request line,
    and still ends the request: gpx counts it once, with no method (OTHER) and
    no status (000)."""
    s = mode_server(server_factory, build, tmp_path, "--http-socket-modifier1", "5", "--processes", "1")
    s.start(wait=False)
    wait_for(lambda: requests.get(s.metrics_url, timeout=2).ok, timeout=30, what="the metrics port")
    s.wait_workers_started(1)
    for _ in range(3):
        assert exchange(s, "GET", "/")[0] is None
    s.wait_requests(3)
    time.sleep(0.2)  # a quiet spell: a second count would land in it
    m = s.scrape()
    assert requests_by_label(m) == {("OTHER", "000"): 3}
    assert_histograms_agree(m, 3, ["1"])
    assert s.output().count("-- unavailable modifier requested: 5 --") == 3
    assert logged_requests(s) == []
    assert_at_rest(m, 1)
