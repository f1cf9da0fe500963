"""Real Gunicorn processes on free ports, real HTTP, and parsed /metrics.

Every end-to-end test goes through ``Gunicorn``: it starts ``gunicorn`` as a
subprocess (the same command a user types), waits until both the
application port and the metrics port answer, and stops it with a real
signal. ``Scrape`` parses the exposition with prometheus_client's parser so
tests assert exact values.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import psutil
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parent.parent
APPS = ROOT / "tests" / "apps"
EXAMPLES = ROOT / "examples"
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
# The eventlet leg runs a second environment with the newest Gunicorn that still has its eventlet worker.
EVENTLET_GUNICORN = ROOT / ".venv-eventlet" / "bin" / "gunicorn"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout: float = 20.0, interval: float = 0.05, message: str = "condition"):
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            result = predicate()
            if result:
                return result
        except Exception as exc:  # the thing waited for is not there yet
            last_error = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message} (last error: {last_error!r})")


def http_request(port: int, path: str = "/", method: str = "GET", body: bytes | None = None, timeout: float = 30.0):
    """One request on a fresh connection; returns (status, body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def send_requests(
    port: int, count: int, path: str = "/", method: str = "GET", concurrency: int = 8, body: bytes | None = None
) -> dict[int, int]:
    """Send ``count`` requests; returns how many responses of each status the clients received."""
    statuses: dict[int, int] = {}
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        for status, _ in pool.map(lambda _: http_request(port, path, method, body), range(count)):
            statuses[status] = statuses.get(status, 0) + 1
    return statuses


class Scrape:
    """One parsed /metrics answer."""

    def __init__(self, text: str):
        self.text = text
        self.families = {f.name: f for f in text_string_to_metric_families(text)}
        self.samples = [s for f in self.families.values() for s in f.samples]

    def matching(self, name: str, **labels) -> list:
        return [s for s in self.samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]

    def value(self, name: str, **labels) -> float:
        """The one sample with exactly these labels (a missing sample is an error)."""
        found = [s for s in self.matching(name, **labels) if len(s.labels) == len(labels)]
        assert len(found) == 1, f"expected one {name}{labels}, found {found}"
        return found[0].value

    def total(self, name: str, **labels) -> float:
        """Sum of every sample of ``name`` whose labels include ``labels`` (0 if none)."""
        return sum(s.value for s in self.matching(name, **labels))

    def has(self, name: str, **labels) -> bool:
        return bool(self.matching(name, **labels))

    def by_label(self, name: str, label: str) -> dict[str, float]:
        return {s.labels[label]: s.value for s in self.matching(name) if label in s.labels}


def scrape_text(port: int, timeout: float = 5.0, headers: dict | None = None) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", "/metrics", headers=headers or {})
        response = conn.getresponse()
        body = response.read().decode()
        assert response.status == 200, f"/metrics answered {response.status}: {body[:200]}"
        return body
    finally:
        conn.close()


def scrape(port: int, timeout: float = 5.0) -> Scrape:
    return Scrape(scrape_text(port, timeout))


class Gunicorn:
    """A real ``gunicorn`` master with its workers, stopped by a real signal."""

    def __init__(
        self,
        tmp_path: Path,
        app: str = "app:app",
        args: Iterable[str] = (),
        env: dict | None = None,
        config: str | Path | None = None,
        workers: int | None = 2,
        worker_class: str | None = "gunicorn_prometheus_exporter.PrometheusWorker",
        cwd: Path = APPS,
        bind_port: int | None = None,
        metrics_port: int | None = None,
        gunicorn_bin: str | Path = GUNICORN,
    ):
        self.port = bind_port or free_port()
        self.metrics_port = metrics_port or free_port()
        self.multiproc_dir = tmp_path / "multiproc"
        self.log_path = tmp_path / f"gunicorn-{self.port}.log"
        self.env = {
            **os.environ,
            "PROMETHEUS_MULTIPROC_DIR": str(self.multiproc_dir),
            "PROMETHEUS_METRICS_PORT": str(self.metrics_port),
            "PROMETHEUS_BIND_ADDRESS": "127.0.0.1",
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        self.env = {k: v for k, v in self.env.items() if v is not None}
        command = [str(gunicorn_bin)]
        if config is not None:
            command += ["-c", str(config)]
        command += ["--bind", f"127.0.0.1:{self.port}", "--control-socket", str(tmp_path / f"ctl-{self.port}.sock")]
        if workers is not None:
            command += ["--workers", str(workers)]
        if worker_class is not None:
            command += ["--worker-class", worker_class]
        command += [*args, app]
        self.command = command
        self.expected_workers = workers
        # The exporter's worker classes, and the tests' own subclasses of them (apps/python_path.py).
        self.measured = bool(
            worker_class and worker_class.startswith(("gunicorn_prometheus_exporter.", "python_path."))
        )
        self.cwd = cwd
        self.process: subprocess.Popen | None = None

    # -- lifecycle -----------------------------------------------------------

    def start(self, wait: bool = True, wait_metrics: bool = True) -> Gunicorn:
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            self.command, cwd=self.cwd, env=self.env, stdout=self._log, stderr=subprocess.STDOUT
        )
        if wait:
            self.wait_ready(wait_metrics)
        return self

    def wait_ready(self, wait_metrics: bool = True, timeout: float = 30.0) -> None:
        # A bare connection, not a request: requests queue in the backlog until a
        # worker accepts them, and tests count every request they send exactly.
        def app_answers():
            self._check_alive()
            socket.create_connection(("127.0.0.1", self.port), timeout=2).close()
            return True

        wait_until(app_answers, timeout, message=f"gunicorn on {self.port}\n{self.log()}")
        if wait_metrics:
            wait_until(lambda: scrape_text(self.metrics_port, 2), timeout, message=f"/metrics on {self.metrics_port}")
            if self.expected_workers and self.measured:
                # Every worker has booted once its slot shows a busy series: per-slot
                # assertions then see every slot, however slowly a busy machine forks.
                wait_until(
                    lambda: (
                        len(scrape(self.metrics_port).by_label("gunicorn_worker_busy", "worker"))
                        >= self.expected_workers
                    ),
                    timeout,
                    message=f"{self.expected_workers} workers booted",
                )

    def _check_alive(self) -> None:
        if self.process.poll() is not None:
            raise AssertionError(f"gunicorn exited with {self.process.returncode}:\n{self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def send_signal(self, sig: int) -> None:
        self.process.send_signal(sig)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill_tree()
        self._log.close()
        return self.process.returncode

    def kill_tree(self) -> None:
        try:
            children = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            children = []
        for proc in [*children]:
            proc.kill()
        self.process.kill()
        self.process.wait(10)

    def run_to_exit(self, timeout: float = 30.0) -> tuple[int, str]:
        """Start and wait for the master to exit on its own (start-up errors)."""
        self.start(wait=False)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill_tree()
            raise AssertionError(f"gunicorn did not exit:\n{self.log()}") from None
        self._log.close()
        return self.process.returncode, self.log()

    def __enter__(self) -> Gunicorn:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- inspection ----------------------------------------------------------

    def worker_pids(self) -> list[int]:
        return sorted(p.pid for p in psutil.Process(self.process.pid).children() if p.status() != psutil.STATUS_ZOMBIE)

    def wait_workers(self, count: int, timeout: float = 30.0, exclude: Iterable[int] = ()) -> list[int]:
        excluded = set(exclude)

        def ready():
            pids = [p for p in self.worker_pids() if p not in excluded]
            return pids if len(pids) == count else None

        return wait_until(ready, timeout, message=f"{count} workers")

    def request(self, path: str = "/", method: str = "GET", body: bytes | None = None):
        return http_request(self.port, path, method, body)

    def send(self, count: int, path: str = "/", method: str = "GET", concurrency: int = 8, body=None) -> dict[int, int]:
        """Send ``count`` requests, and return once the workers have recorded them.

        A client has its whole response a moment before the worker records the
        request: Gunicorn calls ``post_request`` after the last byte is sent.
        The requests sent here have been recorded once the in-progress gauge
        is back where it was (the record's last store takes a request out of it).
        """
        before = self._in_progress()
        statuses = send_requests(self.port, count, path, method, concurrency, body)
        if before is not None:
            try:
                wait_until(lambda: self._in_progress() <= before, timeout=10, message="the requests recorded")
            except AssertionError:
                pass  # the exact assertions that follow say what is missing
        return statuses

    def _in_progress(self) -> float | None:
        if not self.measured:
            return None
        try:
            return scrape(self.metrics_port).value("gunicorn_requests_in_progress")
        except Exception:
            return None

    def scrape(self) -> Scrape:
        return scrape(self.metrics_port)

    def scrape_text(self) -> str:
        return scrape_text(self.metrics_port)
