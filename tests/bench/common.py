"""What the benchmark scripts share: ports, uWSGI command lines, servers,
wrk, a private redis-server, keep-alive scrapes and result files.

Every server is started in its own session (process group) and stopped with
SIGINT, then SIGKILL to the group if it does not stop, so that no uwsgi or
redis-server outlives a script.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "tests" / "bench"
APPS = BENCH / "apps"
HELLO = BENCH / "hello.py"
SYSTEM_UWSGI = "/usr/bin/uwsgi-core"
SYSTEM_PLUGIN = ROOT / "build" / "system" / "gpx_plugin.so"
PYPI_UWSGI = str(ROOT / ".venv" / "bin" / "uwsgi")
PYPI_PLUGIN = ROOT / "build" / "pypi" / "gpx_plugin.so"
# The venv's packages (prometheus_client, Flask, prometheus-flask-exporter)
# for apps run by Debian's uWSGI, whose Python is the system one.
VENV_SITE = next((ROOT / ".venv" / "lib").glob("python3*/site-packages"), None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def wait_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def is_system(uwsgi: str) -> bool:
    """Debian's binary loads Python (and gevent) as plugins; PyPI's has them built in."""
    return uwsgi.startswith("/usr/")


def plugin_for(uwsgi: str) -> Path:
    return SYSTEM_PLUGIN if is_system(uwsgi) else PYPI_PLUGIN


def python_args(uwsgi: str, gevent: bool = False) -> list[str]:
    if not is_system(uwsgi):
        return []
    return ["--plugin", "python3,gevent_python3" if gevent else "python3"]


def mode_args(mode: str, cores: int) -> list[str]:
    """uWSGI options for `cores` request slots per worker: processes, threads or gevent."""
    if mode == "processes" or cores <= 1 and mode != "gevent":
        return []
    if mode == "threads":
        return ["--threads", str(cores)]
    if mode == "gevent":
        return ["--gevent", str(cores)]
    raise ValueError(f"unknown mode {mode}")


def gpx_args(uwsgi: str, tmp: Path, metrics_port: int, redis: RedisServer | None = None,
             prefix: str = "gpxbench") -> list[str]:
    args = ["--plugin", str(plugin_for(uwsgi)), "--gpx-port", str(metrics_port), "--gpx-bind", "127.0.0.1",
            "--gpx-multiproc-dir", str(tmp)]
    if redis is not None:
        args += ["--gpx-redis", "true", "--gpx-redis-host", "127.0.0.1", "--gpx-redis-port", str(redis.port),
                 "--gpx-redis-key-prefix", prefix]
    return args


class Server:
    """One uWSGI master with its workers, on a free port, app on `/`."""

    def __init__(self, name: str, uwsgi: str, app: Path, tmp: Path, processes: int, extra: list[str],
                 cpus: str | None = None, gevent: bool = False, env: dict[str, str] | None = None,
                 ready_path: str = "/", ready_timeout: float = 60.0):
        self.name = name
        self.port = free_port()
        self.pidfile = tmp / f"{name}.pid"
        self.logpath = tmp / f"{name}.log"
        self.cmd = [*(["taskset", "-c", cpus] if cpus else []), uwsgi, *python_args(uwsgi, gevent),
                    "--http-socket", f"127.0.0.1:{self.port}", "--wsgi-file", str(app), "--master",
                    "--processes", str(processes), "--disable-logging", "--pidfile", str(self.pidfile),
                    "--die-on-term", *extra]
        self.log = open(self.logpath, "wb")
        self.proc = subprocess.Popen(self.cmd, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
                                     env={**os.environ, **(env or {})})
        try:
            wait_http(f"http://127.0.0.1:{self.port}{ready_path}", timeout=ready_timeout)
        except OSError:
            self.stop()
            tail = self.logpath.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{name} did not answer; its log ends with:\n{tail}") from None

    @property
    def master(self) -> int:
        return int(self.pidfile.read_text())

    def workers(self) -> list[int]:
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(self.master)], capture_output=True,
                             text=True).stdout
        return [int(p) for p in out.split()]

    def cpu_ns(self) -> int:
        """CPU time the master and the workers have run, every thread, in ns
        (the scheduler's own count: no tick rounding)."""
        total = 0
        for pid in [self.master, *self.workers()]:
            try:
                tasks = list(Path(f"/proc/{pid}/task").iterdir())
            except OSError:
                continue
            for task in tasks:
                try:
                    total += int((task / "schedstat").read_text().split()[0])
                except (OSError, ValueError, IndexError):
                    continue
        return total

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # stray workers of the group, if any
        except ProcessLookupError:
            pass
        self.proc.wait()
        self.log.close()


class RedisServer:
    """A private redis-server on a free port, without persistence."""

    def __init__(self, tmp: Path):
        self.port = free_port()
        self.log = open(tmp / "redis.log", "wb")
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", str(tmp)], stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        wait_port(self.port)

    def cli(self, *args: str) -> str:
        return subprocess.run(["redis-cli", "-p", str(self.port), *args], capture_output=True, text=True,
                              check=True).stdout

    def key_count(self) -> int:
        return len(self.cli("--scan").split())

    def used_memory(self) -> int:
        return int(re.search(r"used_memory:(\d+)", self.cli("info", "memory")).group(1))

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def gpx_storage(tmp: Path, storage: str) -> tuple[Path, int, RedisServer | None]:
    """gpx's multiproc directory under `tmp`, a free metrics port, and a
    private redis-server when `storage` is "redis" (else None)."""
    mp = tmp / "multiproc"
    mp.mkdir()
    return mp, free_port(), RedisServer(tmp) if storage == "redis" else None


def wrk_cmd(port: int, seconds: float, connections: int, cpus: str | None = None, path: str = "/") -> list[str]:
    return [*(["taskset", "-c", cpus] if cpus else []), "wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s",
            f"http://127.0.0.1:{port}{path}"]


def parse_wrk(out: str) -> tuple[float, int]:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    return rps, total


def wrk(port: int, seconds: float, connections: int, cpus: str | None = None, path: str = "/") -> tuple[float, int]:
    out = subprocess.run(wrk_cmd(port, seconds, connections, cpus, path), capture_output=True, text=True,
                         check=True).stdout
    return parse_wrk(out)


SCRAPE_DURATION = re.compile(rb"^gunicorn_exporter_scrape_duration_seconds (\S+)$", re.M)


def scrape_series(port: int, count: int, pause: float = 0.0) -> dict:
    """Times `count` GETs of /metrics over one keep-alive connection.

    Returns the client-side latencies (seconds), the body sizes, and the
    render times gpx reports in gunicorn_exporter_scrape_duration_seconds
    (each body carries the previous rendering's time, so the first is 0)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    latencies, sizes, renders = [], [], []
    last = b""
    try:
        for _ in range(count):
            start = time.perf_counter()
            conn.request("GET", "/metrics")
            resp = conn.getresponse()
            body = resp.read()
            latencies.append(time.perf_counter() - start)
            if resp.status != 200:
                raise RuntimeError(f"/metrics answered {resp.status}")
            sizes.append(len(body))
            last = body
            m = SCRAPE_DURATION.search(body)
            if m:
                renders.append(float(m.group(1)))
            if pause:
                time.sleep(pause)
    finally:
        conn.close()
    # The bytes of the uwsgi_* families (HELP and TYPE lines included): the
    # uwsgi-exporter profile's share of the page (or uWSGI's metrics subsystem's).
    uwsgi_bytes = sum(len(line) + 1 for line in last.split(b"\n")
                      if line.startswith((b"uwsgi_", b"# HELP uwsgi_", b"# TYPE uwsgi_")))
    return {"latencies": latencies, "sizes": sizes, "renders": renders[1:], "uwsgi_bytes": uwsgi_bytes}


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100), nearest rank."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def summary_ms(values: list[float]) -> dict:
    return {"median_ms": statistics.median(values) * 1e3 if values else float("nan"),
            "p99_ms": percentile(values, 99) * 1e3, "max_ms": max(values) * 1e3 if values else float("nan"),
            "n": len(values)}


def uwsgi_version(uwsgi: str) -> str:
    return subprocess.run([uwsgi, "--version"], capture_output=True, text=True).stdout.strip()


def conditions() -> dict:
    """What the numbers depend on: the machine, its load while measuring."""
    return {"cpus": os.cpu_count(), "loadavg_at_start": os.getloadavg(), "python": sys.version.split()[0],
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def write_json(path: str | None, result: dict) -> None:
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(result, indent=2, default=str) + "\n")
