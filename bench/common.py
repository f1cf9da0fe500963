"""Shared pieces of the benchmarks: servers (the test suite's harness), wrk, statistics."""

from __future__ import annotations

import contextlib
import datetime
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from harness import Gunicorn  # noqa: E402  (the harness lives with the tests)

APPS = ROOT / "bench" / "apps"
OURS = "gunicorn_prometheus_exporter."


@contextlib.contextmanager
def server(worker_class: str, app: str = "hello:app", workers: int = 2, args=(), env=None, storage: str = "files"):
    """A running Gunicorn; ``storage`` is files or redis (ignored for plain Gunicorn)."""
    env = dict(env or {})
    if storage == "redis":
        env.setdefault("REDIS_ENABLED", "true")
        env.setdefault("REDIS_KEY_PREFIX", f"bench-{next(tempfile._get_candidate_names())}")
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        tmp_path = Path(tmp)
        (tmp_path / "multiproc").mkdir()
        g = Gunicorn(tmp_path, app=app, args=args, env=env, workers=workers, worker_class=worker_class, cwd=APPS)
        g.start(wait_metrics=g.measured)
        g.wait_workers(workers)
        try:
            yield g
        finally:
            g.stop()
            if storage == "redis":
                _delete_redis_prefix(env["REDIS_KEY_PREFIX"])


def _delete_redis_prefix(prefix: str) -> None:
    try:
        import redis

        client = redis.Redis(host="127.0.0.1", port=6379)
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
    except Exception:
        pass


def wrk(port: int, seconds: float = 5.0, connections: int = 8, threads: int = 1, path: str = "/", cpus=None) -> float:
    """Requests per second wrk measured (errors make the run invalid); ``cpus`` pins wrk to those CPUs."""
    wrk_bin = shutil.which("wrk")
    if wrk_bin is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    out = subprocess.run(
        [wrk_bin, f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", f"http://127.0.0.1:{port}{path}"],
        capture_output=True,
        text=True,
        check=True,
        preexec_fn=None if cpus is None else lambda: os.sched_setaffinity(0, cpus),
    ).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"wrk saw {errors.group(1)} error responses:\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def summary(values: list[float]) -> str:
    """Median with the spread (min-max) of a list of measurements."""
    med = statistics.median(values)
    return f"{med:.3f} ({min(values):.3f}-{max(values):.3f})"


def versions() -> str:
    import gunicorn
    import prometheus_client

    import gunicorn_prometheus_exporter

    try:
        from importlib.metadata import version

        pc = version("prometheus_client")
    except Exception:
        pc = getattr(prometheus_client, "__version__", "?")
    return (
        f"{datetime.date.today().isoformat()}, {platform.machine()}, {_cpu()}, {_cores()} cores, "
        f"Python {platform.python_version()}, Gunicorn {gunicorn.__version__}, prometheus_client {pc}, "
        f"exporter {gunicorn_prometheus_exporter.__version__}"
    )


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0))


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"
