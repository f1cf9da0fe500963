"""The Gunicorn exporter guide's 16 scenarios as examples/<scenario>.ini, run as a user would.

Each examples/<scenario>.ini is the uWSGI + gpx equivalent of one config of the
exporter's configuration guide (the configs themselves are in guide_configs/). Every
file starts with `strict`, `die-on-term` and `need-app`, loads Python as a plugin only
where it is one (Debian's uwsgi) and gpx from build/system or build/pypi, so the same
file runs with both uWSGI builds: every test here runs on both (`build`), from the
repository root, like `uwsgi --strict --ini examples/x.ini`.

- test_guide_values reads each file through uWSGI itself (`--show-config`, then an
  `exit` hook before anything binds): with no variable set it must give the guide's
  values (ports, addresses, directory, worker model, timeouts, recycling, hooks) and the
  service lines, and with the guide's variables set it must leave every gpx setting to
  the environment, as the guide's os.environ.setdefault() does. On Debian's 2.0.21,
  which has no max-requests-delta, the files leave it out; PyPI's 2.0.31 gets it.
- test_example starts each file under --strict with the environment moving what a test
  must not take (the app's socket through GPX_APP_BIND, the metrics port and address,
  the counters directory, Redis through REDIS_HOST/REDIS_PORT to a private
  redis-server), sends known requests and checks the exact counts by method and status,
  the worker model that really runs, the storage, and each scenario's own promise
  (cleanup, log files, reloader, debug logging, the user's hooks, a command-line
  override). Then it stops uWSGI with SIGTERM, as systemd and container runtimes do:
  uWSGI must be gone within seconds, with the counters on disk (or published to Redis),
  and a second start with the same instance name must show exactly the counts of the
  first before it counts on.
- test_example_needs_its_app: a missing app stops each file at start, with no worker
  left running.

tornado.ini needs Debian's tornado loop engine: PyPI's uwsgi refuses it with one
strict-mode line, which the tests check. Gevent on PyPI's uwsgi runs with Debian's
python3-gevent on PYTHONPATH (the venv has no gevent module). Servers that outlive a
test have their process group killed at teardown.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from conftest import ROOT, Build, Server, request_log, requests_by_label, wait_for

EXAMPLES = ROOT / "examples"
DEBIAN_PLUGINS = Path("/usr/lib/uwsgi/plugins")
DEBIAN_PYTHON = "/usr/lib/python3/dist-packages"
STOP_SECONDS = 10  # Docker's grace period between SIGTERM and SIGKILL

# Variables that would configure a server behind a test's back.
FOREIGN = ("PROMETHEUS_", "REDIS_", "GPX_", "GUNICORN_", "UWSGI_", "CLEANUP_DB_FILES", "VIRTUAL_ENV", "PYTHONHOME",
           "PYTHONPATH")
SPAWNED = re.compile(r"spawned uWSGI worker (\d+) \(pid: (\d+), cores: (\d+)\)")

# -- what each file must say, with no variable set: the guide's values ---------------
SERVICE = [("strict", "true"), ("die-on-term", "true"), ("need-app", "true")]
# Plugins Debian's uwsgi loads from its own packages; PyPI's has them built in (or,
# for tornado, not at all).
DEBIAN_ONLY = {("plugin", "python3"), ("plugin", "gevent_python3"), ("plugin", "logfile"),
               ("plugin", "greenlet_python3"), ("plugin", "tornado_python3")}


def common(build: Build) -> list[tuple[str, str]]:
    plugins = [("plugin", "python3"), ("plugins-dir", "build/system")] if build.name == "system" else [
        ("plugins-dir", "build/pypi")]
    return [*SERVICE, *plugins, ("plugin", "gpx"), ("http-socket", "0.0.0.0:8000"),
            ("wsgi-file", "examples/demo_app.py")]


def files(directory="/tmp/prometheus_multiproc", port="9090", bind="0.0.0.0"):
    return [("gpx-multiproc-dir", directory), ("gpx-port", port), ("gpx-bind", bind)]


def redis(port, prefix=None):
    out = [("gpx-port", port), ("gpx-bind", "0.0.0.0"), ("gpx-redis", "true"), ("gpx-redis-host", "localhost"),
           ("gpx-redis-port", "6379"), ("gpx-redis-db", "0")]
    return out + ([("gpx-redis-key-prefix", prefix)] if prefix else [])


def recycling(delta):
    """max_requests = 1000 with max_requests_jitter: max-requests-delta = jitter // (workers - 1),
    on a uWSGI that has the option (2.0.22 and later: not Debian 12's 2.0.21)."""
    return [("max-requests", "1000"), ("max-requests-delta", str(delta))]


GEVENT = [("plugin", "gevent_python3"), ("gevent", "1000"), ("gevent-early-monkey-patch", "true")]
LOG_DIR = "(GPX_LOG_DIR)"  # production's log directory: the test's, as /var/log/gunicorn may not exist

GUIDE = {
    "basic": [("processes", "2"), *files()],
    "high_performance": [("processes", "8"), ("enable-threads", "true"), *recycling(7), ("harakiri", "60"),
                         *files(), ("gpx-cleanup-db-files", "true")],
    "async": [("processes", "4"), *GEVENT, *recycling(33), *files()],
    "production": [("plugin", "logfile"), ("processes", "4"), *recycling(16), ("harakiri", "60"),
                   ("logto", f"{LOG_DIR}/error.log"), ("req-logger", f"file:{LOG_DIR}/access.log"),
                   *files("/var/tmp/prometheus_multiproc", bind="127.0.0.1"), ("gpx-cleanup-db-files", "true")],
    "redis_storage": [("processes", "4"), *recycling(16), ("harakiri", "60"), *redis("9092")],
    "development": [("processes", "2"), ("py-autoreload", "1"), ("touch-reload", "examples/demo_app.py"),
                    ("touch-reload", "examples/development.ini"), ("show-config", "true"),
                    ("gpx-debug", "true"), *files()],
    "sync": [("processes", "4"), *files()],
    "thread": [("processes", "2"), ("threads", "4"), *files()],
    "eventlet": [("processes", "4"), *GEVENT, *files()],
    "gevent": [("processes", "4"), *GEVENT, *files()],
    "tornado": [("plugin", "greenlet_python3"), ("plugin", "tornado_python3"), ("processes", "4"),
                ("tornado", "1000"), ("greenlet", "true"), *files()],
    "custom_hooks": [("processes", "4"),
                     ("hook-pre-app", "print:Starting uWSGI with the Prometheus exporter (gpx)..."),
                     ("hook-accepting1-once", "print:uWSGI is ready to accept connections"),
                     ("import", "examples/hooks/custom_hooks.py"),
                     ("hook-as-user-atexit", "print:uWSGI shutting down..."), *files()],
    "advanced_custom_hooks": [("processes", "4"), ("harakiri", "300"), ("import", "examples/hooks/advanced_hooks.py"),
                              ("hook-accepting1-once", "rpc:custom_when_ready"), *files()],
    "with_cli": [("processes", "4"), ("harakiri", "300"), *files()],
    "debug": [("processes", "2"), ("import", "examples/hooks/debug_logging.py"), ("show-config", "true"),
              ("gpx-debug", "true"), *files()],
    "redis_backend": [("processes", "4"), *recycling(16), ("harakiri", "60"),
                      *redis("9091", prefix="gunicorn")],
}
assert {p.stem for p in EXAMPLES.glob("*.ini")} == set(GUIDE) | {"demo"}


def expected_settings(name: str, build: Build) -> list[tuple[str, str]]:
    out = common(build) + GUIDE[name]
    if build.name == "pypi":
        out = [s for s in out if s not in DEBIAN_ONLY]
    if build.version().startswith("2.0.21"):
        out = [s for s in out if s[0] != "max-requests-delta"]
    return out


# Set, every guide variable leaves its setting to the environment.
GUIDE_VARIABLES = {
    "PROMETHEUS_METRICS_PORT": "9999", "PROMETHEUS_BIND_ADDRESS": "127.0.0.1", "CLEANUP_DB_FILES": "false",
    "REDIS_ENABLED": "false", "REDIS_HOST": "127.0.0.1", "REDIS_PORT": "6380", "REDIS_DB": "1",
    "REDIS_KEY_PREFIX": "other", "GPX_APP_BIND": "127.0.0.1:8999", "GPX_DEBUG": "false",
}
# Lines of uWSGI's config logic, placeholders and the test itself, not settings.
NOT_SETTINGS = {"ini", "if-env", "if-not-env", "if-plugin", "if-not-plugin", "if-opt", "if-not-opt", "endif",
                "set-placeholder", "log_dir", "running_uwsgi", "hook-pre-jail"}


def refused_here(name: str, build: Build) -> bool:
    """tornado.ini on PyPI's uwsgi, which has no tornado loop engine."""
    return name == "tornado" and build.name == "pypi"


def needs(name: str, build: Build) -> dict:
    """What the file needs on this build: Debian's plugins, or the environment gevent
    needs under PyPI's uwsgi. Returns extra environment variables."""
    if not Path(build.plugin).exists():
        pytest.fail(f"{build.plugin} is missing: run `make all pypi` first")
    engines = {value.removesuffix("_python3") for key, value in GUIDE[name]
               if key == "plugin" and value.endswith("_python3")}
    if build.name == "system":
        for engine in engines:
            if not (DEBIAN_PLUGINS / f"{engine}_python3_plugin.so").exists():
                pytest.fail(f"{DEBIAN_PLUGINS}/{engine}_python3_plugin.so is missing: run scripts/setup")
    for engine in engines & {"gevent", "tornado"}:
        if not Path(DEBIAN_PYTHON, engine).is_dir():
            pytest.fail(f"Python's {engine} module is missing: run scripts/setup (python3-{engine})")
    if build.name == "pypi" and "gevent" in engines:
        # PyPI's uwsgi has the gevent loop built in; its venv has no gevent module.
        return {"PYTHONPATH": DEBIAN_PYTHON}
    return {}


def clean_environment(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(FOREIGN)}
    env.update(extra)
    return env


def shown_config(name: str, build: Build, tmp: Path, env: dict) -> list[tuple[str, str]]:
    """The settings uWSGI takes from examples/<name>.ini in `env`, from its own
    --show-config; an `exit` hook stops it before it binds or forks anything."""
    log_dir = tmp / "log"
    log_dir.mkdir(exist_ok=True)
    env = {**env, "GPX_LOG_DIR": str(log_dir)}
    out = subprocess.run([build.uwsgi, "--ini", f"examples/{name}.ini", "--show-config", "--hook-pre-jail", "exit:0"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    text = out.stdout + out.stderr
    error_log = log_dir / "error.log"  # production logs to a file from the start
    if error_log.exists():
        text += error_log.read_text(errors="replace")
        error_log.unlink()
    assert out.returncode == 0, text
    assert "UNABLE to load" not in text, text
    block = re.search(r"^;uWSGI instance configuration\n(.*?)^;end of configuration$", text, re.M | re.S)
    assert block, text
    settings = []
    for line in block.group(1).splitlines():
        if line.startswith("[") or not line.strip():
            continue
        key, _, value = line.partition(" = ")
        if key not in NOT_SETTINGS:
            settings.append((key, value.strip().replace(str(log_dir), LOG_DIR)))
    settings.remove(("show-config", "true"))  # the test's own
    return settings


def assert_refused(build: Build, name: str, tmp: Path):
    """tornado.ini on PyPI's uwsgi: one strict-mode line, exit 1, nothing started."""
    out = subprocess.run([build.uwsgi, "--strict", "--ini", f"examples/{name}.ini"], cwd=ROOT, timeout=60,
                         env=clean_environment(GPX_LOG_DIR=str(tmp)), capture_output=True, text=True,
                         stdin=subprocess.DEVNULL)
    text = out.stdout + out.stderr
    assert out.returncode == 1, text
    assert text.splitlines()[-1] == "[strict-mode] unknown config directive: tornado", text
    assert "UNABLE to load" not in text and "spawned uWSGI" not in text, text


@pytest.mark.parametrize("name", sorted(GUIDE))
def test_guide_values(name, build, tmp_path):
    needs(name, build)
    text = (EXAMPLES / f"{name}.ini").read_text()
    assert text.startswith("; The guide's "), "a header naming the guide's scenario"
    if refused_here(name, build):
        assert_refused(build, name, tmp_path)
        return

    # No variable set: the guide's values and the service lines, and nothing else.
    settings = shown_config(name, build, tmp_path, clean_environment())
    assert sorted(settings) == sorted(expected_settings(name, build))
    assert settings[:3] == SERVICE  # before anything else, so strict checks every line
    # Debian's plugins load before plugins-dir (searched first), gpx after it.
    keys = [f"{k}={v}" for k, v in settings if k in ("plugin", "plugins-dir")]
    assert keys[-2:] == [f"plugins-dir=build/{build.name}", "plugin=gpx"]
    if build.name == "system":
        assert keys[0] == "plugin=python3"
    if name == "production":
        assert "set-placeholder = log_dir=/var/log/gunicorn" in text

    # The guide's variables set: they win, as with os.environ.setdefault().
    variables = {**GUIDE_VARIABLES, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "elsewhere")}
    settings = shown_config(name, build, tmp_path, clean_environment(**variables))
    assert [s for s in settings if s[0].startswith("gpx-")] == []
    assert [v for k, v in settings if k == "http-socket"] == [GUIDE_VARIABLES["GPX_APP_BIND"]]


# -- running each file ---------------------------------------------------------------
@dataclass
class Run:
    workers: int
    cores: int = 1  # per worker: threads, or async cores
    engine: str | None = None  # uWSGI's loop engine
    redis: bool = False
    cleanup: bool = False
    log_files: bool = False
    args: tuple = ()  # after --ini: the command line overriding the file

    @property
    def cells(self) -> int:  # gpx's counters per worker: one per thread
        return 1 if self.engine else self.cores

    @property
    def mode(self) -> str:
        return "preforking+async" if self.engine else "preforking+threaded" if self.cores > 1 else "preforking"


RUNS = {
    "basic": Run(2),
    "high_performance": Run(8, cleanup=True),
    "async": Run(4, cores=1000, engine="gevent"),
    "production": Run(4, cleanup=True, log_files=True),
    "redis_storage": Run(4, redis=True),
    "development": Run(2),
    "sync": Run(4),
    "thread": Run(2, cores=4),
    "eventlet": Run(4, cores=1000, engine="gevent"),
    "gevent": Run(4, cores=1000, engine="gevent"),
    "tornado": Run(4, cores=1000, engine="tornado"),
    "custom_hooks": Run(4),
    "advanced_custom_hooks": Run(4),
    "with_cli": Run(3, args=("--processes", "3")),  # the guide's `gunicorn ... --workers N`
    "debug": Run(2),
    "redis_backend": Run(4, redis=True),
}
assert set(RUNS) == set(GUIDE)


class ExampleServer(Server):
    """uwsgi --strict --ini examples/<name>.ini, from the repository root."""

    def __init__(self, name: str, build: Build, tmp: Path, env: dict, args=(), log_dir: Path | None = None,
                 ports: tuple[int, int] | None = None):
        app_port, metrics_port = ports or (None, None)
        super().__init__(build, tmp, app_port=app_port, metrics_port=metrics_port)
        self.name = name
        self.log_dir = log_dir
        self.cmd = [build.uwsgi, "--strict", "--ini", f"examples/{name}.ini", "--pidfile", str(self.pidfile), *args]
        self.env = clean_environment(GPX_APP_BIND=f"127.0.0.1:{self.app_port}",
                                     PROMETHEUS_METRICS_PORT=str(self.metrics_port),
                                     PROMETHEUS_BIND_ADDRESS="127.0.0.1",
                                     PROMETHEUS_MULTIPROC_DIR=self.multiproc_dir, **env)

    def start(self, wait=True):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.cmd, cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        return self

    def output(self) -> str:
        """uWSGI's log: the terminal's, or production's error.log."""
        text = super().output()
        if self.log_dir and (self.log_dir / "error.log").exists():
            text += (self.log_dir / "error.log").read_text(errors="replace")
        return text

    def wait_metrics(self, timeout=60.0):
        """gpx serves once the workers run; no request reaches the app meanwhile."""

        def up():
            if self.proc.poll() is not None:
                raise AssertionError(f"uwsgi exited with {self.proc.returncode}:\n{self.output()}")
            return requests.get(self.metrics_url, timeout=2).status_code == 200

        wait_for(up, timeout, what=f"{self.name}'s metrics on {self.metrics_port}")


def lines(text: str, needle: str) -> list[str]:
    return [line for line in text.splitlines() if needle in line]


@pytest.mark.parametrize("name", sorted(RUNS))
def test_example(name, build, request, tmp_path):
    env = needs(name, build)
    if refused_here(name, build):
        assert_refused(build, name, tmp_path)
        return
    run = RUNS[name]
    r = None
    if run.redis:
        r = request.getfixturevalue("redis_factory")()  # torn down after the servers below
        env.update(REDIS_HOST="127.0.0.1", REDIS_PORT=str(r.port))
    log_dir = None
    if run.log_files:
        log_dir = tmp_path / "log"
        log_dir.mkdir()
        env["GPX_LOG_DIR"] = str(log_dir)
    s = ExampleServer(name, build, tmp_path, env, run.args, log_dir)
    mp = Path(s.multiproc_dir)
    stale = mp / "counter_4242.db"  # a prometheus_client file an earlier run left
    if run.cleanup:
        mp.mkdir()
        stale.write_bytes(b"\0" * 64)

    expected = {("GET", "200"): 2, ("GET", "404"): 1, ("POST", "200"): 1}
    try:
        s.start()
        s.wait_metrics()
        s.wait_workers_started(run.workers, timeout=30)

        # The readiness probe, then known requests; each on its own connection.
        assert requests.get(s.url("/"), timeout=30).status_code == 200
        assert requests.get(s.url("/"), timeout=30).status_code == 200
        assert requests.get(s.url("/missing"), timeout=30).status_code == 404
        assert requests.post(s.url("/"), data=b"p" * 1000, timeout=30).status_code == 200
        s.wait_requests(4)
        m = s.scrape()
        assert requests_by_label(m) == expected
        assert m.sum("gunicorn_worker_requests_total") == 4

        # The worker model that runs: slots, cores per worker, uWSGI's mode and engine.
        slots = {dict(ls)["worker_id"] for ls in m.series("gunicorn_worker_state")}
        assert slots == {str(i) for i in range(1, run.workers + 1)}
        assert m.value("gunicorn_workers_desired") == run.workers
        out = s.output()
        spawned = SPAWNED.findall(out)
        assert sorted(int(w) for w, _, _ in spawned) == list(range(1, run.workers + 1)), out
        assert {int(c) for _, _, c in spawned} == {run.cores}
        assert f"*** Operational MODE: {run.mode} ***" in out
        assert f"gpx: {run.workers} worker slot(s) x {run.cells} cell(s), metrics on 127.0.0.1:{s.metrics_port}" in out
        if run.engine:
            assert f"*** running {run.engine} loop engine" in out
        assert "UNABLE to load" not in out
        assert not lines(out, "GUNICORN_"), "nothing in the file sets a variable gpx would have to explain"

        # The storage.
        storage = "redis" if run.redis else "files"
        assert m.sum("gunicorn_exporter_build_info", storage=storage) == 1
        assert len(m.series("gunicorn_exporter_build_info")) == 1
        if run.redis:
            assert not mp.exists(), "Redis storage creates no directory"
            assert lines(out, f"gpx: storage redis 127.0.0.1:{r.port} db 0, key gunicorn:gpx:instance:")
            wait_for(lambda: s.scrape().value("gunicorn_exporter_storage_up") == 1, 15, what="Redis in use")
        else:
            assert [p.name for p in mp.glob("*.scoreboard")] == [f"gpx_{socket.gethostname()}:{s.metrics_port}"
                                                                 ".scoreboard"]
        if run.cleanup:
            assert not stale.exists()
            assert lines(out, f"gpx: cold start with gpx-cleanup-db-files: removed 1 file(s) from {mp}")
    except BaseException:
        s.stop()
        raise

    # SIGTERM stops it, within seconds, with the counts kept.
    took = s.terminate(STOP_SECONDS * 3)
    out = s.output()
    print(f"\n{build.name} {name}: SIGTERM to exit {took:.2f} s")
    assert s.proc.returncode == 0 and took < STOP_SECONDS, (took, s.proc.returncode, out[-3000:])
    assert lines(out, "SIGINT/SIGTERM received...killing workers...") and lines(out, "goodbye to uWSGI"), out
    assert subprocess.run(["pgrep", "-g", str(s.proc.pid)], capture_output=True).stdout == b""
    if run.redis:
        assert lines(out, "gpx: final totals published to Redis")
    else:
        kept = rf"^gpx: counters kept in {re.escape(str(mp))}/gpx_[^/ ]+\.scoreboard for the next start$"
        assert len(re.findall(kept, out, re.M)) == 1, out
    pids = [int(p) for _, p, _ in SPAWNED.findall(out)]
    CHECKS.get(name, lambda *a: None)(s, out, pids, r)

    # The next start, same instance name: exactly the first run's counts, then more.
    # (The cleanup scenarios start from zero by design: the variable turns that off.)
    again_env = {**env, "CLEANUP_DB_FILES": "false"} if run.cleanup else env
    t = ExampleServer(name, build, tmp_path, again_env, run.args, log_dir, ports=(s.app_port, s.metrics_port))
    try:
        t.start()
        t.wait_metrics()
        t.wait_workers_started(run.workers, timeout=30)
        if run.redis:  # the totals restored from Redis before they are served
            wait_for(lambda: t.scrape().value("gunicorn_exporter_storage_up") == 1, 15, what="the totals restored")
        m = t.scrape()
        assert requests_by_label(m) == expected
        assert m.sum("gunicorn_worker_requests_total") == 4
        assert requests.get(t.url("/"), timeout=30).status_code == 200
        t.wait_requests(5)
        assert requests_by_label(t.scrape()) == {**expected, ("GET", "200"): 3}
    except BaseException:
        t.stop()
        raise
    took = t.terminate(STOP_SECONDS * 3)
    assert t.proc.returncode == 0 and took < STOP_SECONDS, (took, t.output()[-3000:])


@pytest.mark.parametrize("name", sorted(RUNS))
def test_example_needs_its_app(name, build, tmp_path):
    """A file whose app cannot be loaded stops at start (need-app), as Gunicorn does,
    instead of running without it and answering 500."""
    env = needs(name, build)
    if refused_here(name, build):
        return  # refused before it gets to the app: test_guide_values
    log_dir = tmp_path / "log"
    log_dir.mkdir()
    missing = tmp_path / "no_such_app.py"
    s = ExampleServer(name, build, tmp_path, {**env, "GPX_LOG_DIR": str(log_dir)},
                      (*RUNS[name].args, "--wsgi-file", str(missing)), log_dir)
    rc = s.run_to_exit(timeout=60)  # stops it, whatever happens
    out = s.output()
    assert rc != 0, out
    assert lines(out, "no app loaded"), out
    assert not SPAWNED.search(out), out
    with pytest.raises(requests.ConnectionError):
        requests.get(s.url("/"), timeout=2)


def test_sigterm_cuts_a_request_the_master_fifo_waits_for_it(build, tmp_path):
    """What docs/migration.md says of stopping: SIGTERM with die-on-term stops
    the workers at once (a request in flight gets no answer, as with SIGINT),
    where Gunicorn's SIGTERM lets it finish; the master FIFO's `q` is uWSGI's
    graceful stop: the request finishes, then uWSGI exits. Both keep the counts."""
    needs("basic", build)
    for graceful in (False, True):
        fifo = tmp_path / f"master-{graceful}.fifo"
        s = ExampleServer("basic", build, tmp_path, {}, ("--master-fifo", str(fifo)))
        s.start()
        try:
            s.wait_metrics()
            s.wait_workers_started(2, timeout=30)
            s._wait_handlers()
            answers = []

            def slow(s=s, answers=answers):
                try:
                    answers.append(requests.get(s.url("/sleep?s=3"), timeout=30).status_code)
                except requests.RequestException as exc:
                    answers.append(type(exc).__name__)

            t = threading.Thread(target=slow)
            t.start()
            wait_for(lambda s=s: s.scrape().value("gunicorn_requests_in_progress") == 1, 10,
                     what="the request in flight")
            started = time.monotonic()
            if graceful:
                fifo.write_text("q")
            else:
                s.proc.send_signal(signal.SIGTERM)
            assert s.proc.wait(30) == 0
            took = time.monotonic() - started
            t.join(30)
        finally:
            s.stop()
        out = s.output()
        if graceful:
            assert answers == [200] and 2.0 < took < 10, (answers, took)
            assert lines(out, "graceful shutdown triggered...")
        else:
            # the request in flight is cut (no answer), well inside the grace period
            assert answers == ["ConnectionError"] and took < STOP_SECONDS, (answers, took)
            assert lines(out, "SIGINT/SIGTERM received...killing workers...")
        assert lines(out, "gpx: counters kept in")


# -- each scenario's own promise, checked after the server stopped -------------------
def check_redis(s, out, pids, r):
    keys = r.keys("gunicorn:gpx:instance:*")
    assert keys == [f"gunicorn:gpx:instance:{socket.gethostname()}:{s.metrics_port}"]
    assert r.strlen(keys[0]) > 0, "the last publish at exit"
    assert r.zrange("gunicorn:gpx:instances") == [f"{socket.gethostname()}:{s.metrics_port}"]


def check_production(s, out, pids, r):
    # accesslog: uWSGI's request lines in access.log, and only there.
    access = (s.log_dir / "access.log").read_text()
    assert sorted((method, path, status) for _, method, path, status in request_log(access)) == sorted(
        [("GET", "/", 200)] * 2 + [("GET", "/missing", 404), ("POST", "/", 200)])
    assert len(access.splitlines()) == 4
    # errorlog: everything else, nothing on the terminal past the config line.
    error = (s.log_dir / "error.log").read_text()
    assert lines(error, "gpx: serving metrics on http://127.0.0.1:") and not request_log(error)
    assert "gpx:" not in Path(s.log_path).read_text()


def check_development(s, out, pids, r):
    assert lines(out, "Python auto-reloader enabled")  # reload = True
    assert ";uWSGI instance configuration" in out  # loglevel = debug: the configuration at start
    assert lines(out, "touch-reload = examples/development.ini")


def check_debug(s, out, pids, r):
    # logging.basicConfig(level=DEBUG, format=...) from the guide, in uWSGI's log.
    assert re.search(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} - \S+ - DEBUG - Python debug logging enabled",
                     out, re.M), out
    assert ";uWSGI instance configuration" in out


def check_custom_hooks(s, out, pids, r):
    log = out.splitlines()
    starting = log.index("Starting uWSGI with the Prometheus exporter (gpx)...")  # on_starting
    ready = log.index("uWSGI is ready to accept connections")  # when_ready
    first_spawn = next(i for i, line in enumerate(log) if "spawned uWSGI worker" in line)
    assert starting < first_spawn and starting < ready, out  # in the master before any worker forks
    assert log.count("uWSGI is ready to accept connections") == 1
    for pid in pids:  # worker_int, in each worker the master's SIGINT stopped
        assert log.count(f"Worker {pid} interrupted") == 1, out
    goodbye = next(i for i, line in enumerate(log) if "goodbye to uWSGI" in line)
    assert log.index("uWSGI shutting down...") > goodbye  # on_exit
    assert lines(out, "gpx: counters kept in")  # default_on_exit, by gpx


def check_advanced_custom_hooks(s, out, pids, r):
    # custom_when_ready, once; gpx's own metrics server in place of MetricsServerManager.
    when_ready = lines(out, f"Custom when_ready: the app accepts requests; gpx serves the metrics on port "
                            f"{s.metrics_port}")
    assert len(when_ready) == 1 and " - INFO - " in when_ready[0]
    assert lines(out, f"gpx: serving metrics on http://127.0.0.1:{s.metrics_port}/metrics")


def check_with_cli(s, out, pids, r):
    # `--processes 3` after --ini overrode the file's processes = 4, as --workers does.
    assert lines(out, "gpx: 3 worker slot(s)") and len(pids) == 3


CHECKS = {
    "redis_storage": check_redis,
    "redis_backend": check_redis,
    "production": check_production,
    "development": check_development,
    "debug": check_debug,
    "custom_hooks": check_custom_hooks,
    "advanced_custom_hooks": check_advanced_custom_hooks,
    "with_cli": check_with_cli,
}
