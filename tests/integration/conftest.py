"""Harness for integration tests: real uwsgi processes, real HTTP.

Every test that takes the `build` fixture runs once per uWSGI binary:
Debian's 2.0.21 (`uwsgi` with `--plugin python3`) and PyPI's 2.0.31
(`.venv/bin/uwsgi`, Python built in), each loading the gpx_plugin.so that
binary built. Servers are stopped with SIGINT (SIGTERM would reload them) and
their whole process group is killed if anything is left.
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import prometheus_client
import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
DEMO_APP = ROOT / "examples" / "demo_app.py"
APPS = Path(__file__).resolve().parent / "apps"
# Debian's uWSGI runs the system Python (the same 3.11): it finds
# prometheus_client where the test's own Python has it.
SITE_PACKAGES = str(Path(prometheus_client.__file__).resolve().parents[1])


@dataclass(frozen=True)
class Build:
    """One uWSGI binary and the gpx plugin it built."""

    name: str  # "system" or "pypi"
    uwsgi: str
    plugin: str
    python_args: tuple  # what loads Python into this binary

    def version(self) -> str:
        return subprocess.run([self.uwsgi, "--version"], capture_output=True, text=True).stdout.strip()


BUILDS = {
    "system": Build("system", "/usr/bin/uwsgi-core", str(ROOT / "build/system/gpx_plugin.so"), ("--plugin", "python3")),
    "pypi": Build("pypi", str(ROOT / ".venv/bin/uwsgi"), str(ROOT / "build/pypi/gpx_plugin.so"), ()),
}


def pytest_configure(config):
    # The tiers (docs/hacking.md): no -m runs every test, as ./scripts/test does.
    config.addinivalue_line("markers", "smoke: a few fast tests that cover each storage and the request path on "
                            "each build with exact counts; `make smoke` (part of `make check`) runs only these")
    config.addinivalue_line("markers", "slow: tests that take about 8 s or more each (Prometheus, harakiri, "
                            "reload storms, waits for retries and timeouts); -m 'not slow' skips them")
    config.addinivalue_line("markers", "packaging: the slower tests that build and install gpx the ways users do "
                            "(the Debian package, PyPI's uWSGI with gpx compiled in); -m 'not packaging' skips them")


@pytest.fixture(params=sorted(BUILDS), ids=lambda name: name)
def build(request) -> Build:
    b = BUILDS[request.param]
    if not Path(b.plugin).exists():
        pytest.fail(f"{b.plugin} is missing: run `make all pypi` first")
    return b


def build_plugin(build, dest, **env):
    """Runs `<uwsgi> --build-plugin ROOT` in dest; returns (returncode, output)."""
    dest.mkdir(parents=True, exist_ok=True)
    uwsgi = "uwsgi" if build.name == "system" else build.uwsgi
    out = subprocess.run([uwsgi, "--build-plugin", str(ROOT)], cwd=dest, capture_output=True, text=True,
                         env={**os.environ, "PYTHON": "python3", **env})
    return out.returncode, out.stdout + out.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout=15.0, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except (requests.RequestException, OSError) as exc:
            last = exc
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


class Metrics(dict):
    """Samples of one scrape: {(name, ((label, value), ...)): float}."""

    def get(self, name, default=None, **labels):
        return super().get((name, tuple(sorted(labels.items()))), default)

    def value(self, name, **labels) -> float:
        key = (name, tuple(sorted(labels.items())))
        if key not in self:
            raise KeyError(f"no sample {name}{labels}")
        return self[key]

    def sum(self, name, **labels) -> float:
        """Sum over every series of `name` whose labels include `labels`."""
        total = 0.0
        for (n, ls), v in self.items():
            if n == name and all(dict(ls).get(k) == val for k, val in labels.items()):
                total += v
        return total

    def series(self, name):
        return {ls: v for (n, ls), v in self.items() if n == name}

    def by(self, name, *keys, **labels) -> dict:
        """The series of `name` whose labels include `labels` (None: the label
        is absent), by the values of the labels `keys`: {value: v} for one
        key, {(value, ...): v} for several; series that differ only in other
        labels are summed."""
        out: dict = {}
        for (n, ls), v in self.items():
            d = dict(ls)
            if n == name and all(d.get(k) == val for k, val in labels.items()):
                key = d[keys[0]] if len(keys) == 1 else tuple(d[k] for k in keys)
                out[key] = out.get(key, 0.0) + v
        return out


def requests_by_label(m: Metrics) -> dict[tuple[str, str], float]:
    """gunicorn_requests_total by (method, status)."""
    return m.by("gunicorn_requests_total", "method", "status")


def per_worker(m: Metrics, name="gunicorn_worker_requests_total") -> dict[str, float]:
    """A per-slot family (the requests by default) by worker_id."""
    return m.by(name, "worker_id")


def failures_by_class(m: Metrics) -> dict[str, float]:
    """gunicorn_worker_failed_requests_total by error_type, the slots summed."""
    return m.by("gunicorn_worker_failed_requests_total", "error_type")



def stop_process(proc: subprocess.Popen, sig: int, timeout: float) -> None:
    """Asks `proc` to stop with `sig`, waits up to `timeout` seconds, then
    kills its whole process group (started with start_new_session) so that
    nothing it forked outlives the test."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()

def parse_metrics(text: str) -> Metrics:
    out = Metrics()
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, f"unparsable line: {line!r}"
        name, labels, value = m.groups()
        key = tuple(sorted(LABEL.findall(labels or "")))
        out[(name, key)] = float(value)
    return out


def valid_text(text: str, lint_ok=()) -> None:
    """promtool parses the page and lints it clean, but for the lint of the
    families named in lint_ok (an app's own naming: a colon, say)."""
    check = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
    if check.returncode == 3:  # lint problems only
        problems = [line for line in (check.stdout + check.stderr).splitlines() if line.strip()]
        assert all(line.split()[0] in lint_ok for line in problems), problems
        return
    assert check.returncode == 0, check.stdout + check.stderr


def _catches(pid: int, sig: int) -> bool:
    """Whether process `pid` has a handler for `sig` (/proc's SigCgt mask)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (sig - 1) & 1)
    return False


class Server:
    """A uwsgi master with gpx, started in its own process group."""

    def __init__(self, build: Build, tmp: Path, args=(), env=None, app_port=None, metrics_port=None,
                 multiproc_dir=None, with_app=True, with_gpx_port=True):
        self.build = build
        self.tmp = tmp
        self.app_port = app_port or free_port()
        self.metrics_port = metrics_port or free_port()
        self.multiproc_dir = multiproc_dir or str(tmp / "multiproc")
        self.pidfile = tmp / f"uwsgi-{self.app_port}.pid"
        self.log_path = tmp / f"uwsgi-{self.app_port}.log"
        self.proc = None
        self.cwd = None  # the directory uwsgi starts in; None: the test's
        cmd = [build.uwsgi, *build.python_args, "--plugin", build.plugin]
        if with_app:
            cmd += ["--http-socket", f"127.0.0.1:{self.app_port}", "--wsgi-file", str(DEMO_APP)]
        if with_gpx_port:
            cmd += ["--gpx-port", str(self.metrics_port), "--gpx-bind", "127.0.0.1",
                    "--gpx-multiproc-dir", self.multiproc_dir]
        cmd += ["--pidfile", str(self.pidfile), "--die-on-term", *args]
        self.cmd = cmd
        self.env = dict(os.environ)
        for var in ("PROMETHEUS_METRICS_PORT", "PROMETHEUS_BIND_ADDRESS", "PROMETHEUS_MULTIPROC_DIR",
                    "CLEANUP_DB_FILES", "REDIS_ENABLED", "GUNICORN_WORKERS", "GUNICORN_KEEPALIVE"):
            self.env.pop(var, None)
        self.env.update(env or {})

    # -- life ---------------------------------------------------------------
    def start(self, wait=True):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.cmd, env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True, cwd=self.cwd)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=30.0):
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"uwsgi exited with {self.proc.returncode}:\n{self.output()}")
            requests.get(f"http://127.0.0.1:{self.app_port}/", timeout=2).raise_for_status()
            requests.get(self.metrics_url, timeout=2).raise_for_status()
            return True

        wait_for(ready, timeout, what=f"uwsgi on {self.app_port}/{self.metrics_port}")

    def wait_workers_started(self, count, timeout=15.0):
        """Waits until `count` workers run, each with its own signal handlers.

        Ready (one worker answered) is not enough before stop(): a worker
        forked a moment later still has the master's SIGINT handler, which
        swallows the master's SIGINT, and stop() then waits out its whole
        timeout (a uWSGI startup race). A worker catches SIGUSR2, the master
        does not."""

        def started():
            pids = self.worker_pids()
            return len(pids) == count and all(_catches(pid, signal.SIGUSR2) for pid in pids)

        wait_for(started, timeout, what=f"{count} workers with their signal handlers")

    def run_to_exit(self, timeout=30.0) -> int:
        """Starts and waits for the process to exit by itself (bad config)."""
        self.start(wait=False)
        try:
            return self.proc.wait(timeout)
        finally:
            self.stop()

    def stop(self, timeout=20.0):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self._wait_handlers()
        stop_process(self.proc, signal.SIGINT, timeout)
        self.log.close()

    def terminate(self, timeout: float = 30.0) -> float:
        """SIGTERM, as systemd and container runtimes stop a service (with
        die-on-term); the seconds until uWSGI exited. Its process group is
        killed if it did not within `timeout`."""
        self._wait_handlers()
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
        took = time.monotonic() - started
        stop_process(self.proc, signal.SIGKILL, 0)
        self.log.close()
        return took

    def _wait_handlers(self, timeout=5.0):
        """Best effort before a stop: every current worker has its own
        handlers (see wait_workers_started), so SIGINT is not swallowed."""
        def settled():
            return all(_catches(pid, signal.SIGUSR2) for pid in self.worker_pids())

        try:
            wait_for(settled, timeout, what="workers' signal handlers")
        except (AssertionError, OSError, ValueError):
            pass

    def signal(self, sig):
        os.kill(self.master_pid, sig)

    @property
    def master_pid(self) -> int:
        return int(self.pidfile.read_text().strip())

    def worker_pids(self) -> list[int]:
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(self.master_pid)], capture_output=True, text=True)
        return [int(p) for p in out.stdout.split()]

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    # -- http ---------------------------------------------------------------
    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def url(self, path="/") -> str:
        return f"http://127.0.0.1:{self.app_port}{path}"

    def scrape_text(self) -> str:
        r = requests.get(self.metrics_url, timeout=5)
        r.raise_for_status()
        return r.text

    def scrape(self) -> Metrics:
        return parse_metrics(self.scrape_text())

    def requests_total(self) -> float:
        return self.scrape().sum("gunicorn_requests_total")

    def wait_requests(self, count, timeout=30.0):
        """Waits until gpx counted `count` requests (the hook runs after the
        client already has its answer)."""
        return wait_for(lambda: self.requests_total() == count, timeout, what=f"{count} requests counted")


# -- requests to the app, and uWSGI's log of them -------------------------------------
# uWSGI's request log line: "[pid: 123|app: 0|req: 1/1] ... GET /x => generated ... (HTTP/1.1 200) ...".
# Requests no app handled (static files, routes, the PHP plugin) log "app: -1|req: -1/N".
REQUEST_LOG = re.compile(
    r"\[pid: (\d+)\|app: -?\d+\|req: -?\d+/\d+\] .*?\] (\S+) (\S+) => generated .*?\(HTTP/1\.[01] (\d{3})\)",
    re.MULTILINE)
# "spawned uWSGI worker 2 (pid: 123, cores: 4)": the worker id and its pid.
SPAWNED = re.compile(r"spawned uWSGI worker (\d+) \(pid: (\d+), cores: \d+\)")


def request_log(text: str) -> list[tuple[int, str, str, int]]:
    """(pid, method, path, status) of every request line in a uWSGI log."""
    return [(int(pid), method, path, int(status)) for pid, method, path, status in REQUEST_LOG.findall(text)]


def logged_requests(server: Server) -> list[tuple[int, str, str, int]]:
    """(pid, method, path, status) of every request this server's uWSGI logged."""
    return request_log(server.output())


def start(server: Server, workers: int) -> Server:
    """Starts the server and waits until its `workers` run with their own
    signal handlers (see Server.wait_workers_started)."""
    server.start()
    server.wait_workers_started(workers)
    return server


def start_together(*servers: tuple[Server, int]) -> None:
    """Starts each (server, workers) at once, then waits for each as start
    does: side by side, they start in the time of the slowest."""
    for server, _ in servers:
        server.start(wait=False)
    for server, workers in servers:
        server.wait_ready()
        server.wait_workers_started(workers)


def probes(server: Server) -> int:
    """How many GET / the readiness probe (Server.wait_ready) sent, once gpx
    counted all of them."""

    def settled():
        n = sum(1 for _, method, path, _ in logged_requests(server) if (method, path) == ("GET", "/"))
        return n if n >= 1 and server.requests_total() == n else None

    n = wait_for(settled, timeout=20, what="the readiness probes counted")
    # No more may come: a short quiet spell catches one still between its log
    # line and the hook (the absence of an event has no condition to wait for).
    time.sleep(0.1)
    assert server.requests_total() == n == sum(1 for r in logged_requests(server) if r[1:3] == ("GET", "/"))
    return n


def exchange(server: Server, method: str, path: str = "/", body: bytes | None = None, timeout: float = 30.0,
             headers=None) -> tuple[int | None, bytes, dict]:
    """One request to the app on a fresh connection: (status, body, headers),
    status None when uWSGI closed the connection without an answer (the app
    raised)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.app_port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, data, dict(resp.getheaders())
    except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
        return None, b"", {}
    finally:
        conn.close()


def send(server: Server, method: str, path: str = "/", body: bytes | None = None, timeout: float = 10.0):
    """One request to the app on a fresh connection: its status, or None (see exchange)."""
    return exchange(server, method, path, body, timeout)[0]


def get_ok(server: Server, path: str = "/", timeout: float = 10.0) -> None:
    r = requests.get(server.url(path), timeout=timeout)
    assert r.status_code == 200, r.text


def send_ok(server: Server, count: int) -> None:
    """`count` GET / answered 200."""
    for _ in range(count):
        get_ok(server)


def send_missing(server: Server, count: int) -> None:
    """`count` GET /missing answered 404."""
    for _ in range(count):
        assert requests.get(server.url("/missing"), timeout=5).status_code == 404


def get_text(server: Server, path: str) -> str:
    r = requests.get(server.url(path), timeout=5)
    r.raise_for_status()
    return r.text


# -- the app's own prometheus_client metrics (tests/integration/apps/app_metrics.py) ----
def app_samples(text: str) -> dict:
    """The app_* samples of a page."""
    return {k: v for k, v in parse_metrics(text).items() if k[0].startswith("app_")}


def app_headers(text: str) -> set:
    """The HELP and TYPE lines of the app_* families of a page."""
    return {line for line in text.splitlines() if line.startswith(("# HELP app_", "# TYPE app_"))}


def connection_closed(c: socket.socket) -> bool:
    """Whether the peer closed this connection (a read would see EOF or an
    error), without blocking or consuming anything."""
    c.setblocking(False)
    try:
        return c.recv(1, socket.MSG_PEEK) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        c.setblocking(True)


def lines_with(s: Server, text: str) -> list[str]:
    """The lines of the server's log that contain `text`."""
    return [line for line in s.output().splitlines() if text in line]


def epoll_waiting(pid: int) -> bool:
    for wchan in Path(f"/proc/{pid}/task").glob("*/wchan"):
        try:
            if "epoll" in wchan.read_text():
                return True
        except OSError:
            pass
    return False


def wait_accepting(s: Server, count: int, exclude=(), timeout=30.0) -> list[int]:
    """Waits until the master has `count` workers (none in `exclude`), each
    blocked in epoll_wait, i.e. past uwsgi_worker_run()'s signal set-up.
    Before that point a worker has the handlers it inherited (SIGHUP ignored;
    SIGINT caught by CPython's flag-setter in the first workers, by the
    master's kill_them_all in respawned ones): the SIGINT of a stop or the
    SIGHUP of a reload is lost and uWSGI waits out its mercy (60 s)."""

    def ready():
        pids = s.worker_pids()
        ok = len(pids) == count and not set(pids) & set(exclude) and all(epoll_waiting(p) for p in pids)
        return pids if ok else None

    return wait_for(ready, timeout, what=f"{count} workers accepting")


@pytest.fixture
def server_factory(tmp_path):
    servers = []

    def make(build, *args, **kw):
        s = Server(build, tmp_path, args=args, **kw)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.stop()


def wsgi_server(server_factory, build: Build, app: Path, *args, with_prometheus_client=False, **kw) -> Server:
    """A server (not started) whose app is the WSGI file `app`, not the demo
    app, on an HTTP socket of its own. with_prometheus_client: the system
    build's Python is shown where prometheus_client is. `kw` goes to Server."""
    port = free_port()
    path = ("--pythonpath", SITE_PACKAGES) if with_prometheus_client and build.name == "system" else ()
    return server_factory(build, *path, "--http-socket", f"127.0.0.1:{port}", "--wsgi-file", str(app), *args,
                          app_port=port, with_app=False, **kw)


# -- certificates and passwords for the secured endpoint ---------------------------
def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    """A self-signed server certificate for 127.0.0.1, a client CA with one
    client certificate, and a client certificate from another CA."""
    d = tmp_path_factory.mktemp("pki")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.pem",
            "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", cwd=d)
    for ca in ("ca", "other_ca"):
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{ca}.key", "-out", f"{ca}.pem",
                "-days", "2", "-subj", f"/CN={ca}", cwd=d)
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"client_{ca}.key", "-out", f"client_{ca}.csr",
                "-subj", "/CN=scraper", cwd=d)
        openssl("x509", "-req", "-in", f"client_{ca}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
                "-CAcreateserial", "-out", f"client_{ca}.pem", "-days", "2", cwd=d)
    return d


@pytest.fixture(scope="module")
def users(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("auth") / "users.htpasswd"
    subprocess.run(["htpasswd", "-cbB", "-C", "5", str(path), "prom", "s3cret"], check=True, capture_output=True)
    subprocess.run(["htpasswd", "-bB", "-C", "5", str(path), "grafana", "other"], check=True, capture_output=True)
    return path


# The private redis-server and Prometheus of the tests that need one, as
# fixtures of every test module (they import this module's helpers).
from prometheus_server import prometheus_factory  # noqa: E402, F401
from redis_server import redis_factory, sentinel_factory  # noqa: E402, F401
