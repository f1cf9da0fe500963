"""Storage under worker churn: size and scrape time against the number of worker restarts.

Workers run with ``--max-requests 1``, so every request replaces a worker.
At each checkpoint the script records the storage size (the multiprocess
directory's bytes on disk, or the Redis keys and their memory) and the
median /metrics time. The reference is prometheus_client's own multiprocess
mode (a hand-wired middleware, files keyed by pid, collected with
``MultiProcessCollector`` as a user's /metrics view would).

    .venv/bin/python bench/churn.py [--restarts 10000] [--storages files,redis,multiprocess]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from common import OURS, server, versions
from harness import scrape_text


def disk_bytes(directory: Path) -> int:
    """Bytes the directory's files occupy on disk (sparse files count what they use)."""
    return sum(entry.stat().st_blocks * 512 for entry in os.scandir(directory) if entry.is_file())


def redis_usage(prefix: str) -> tuple[int, int]:
    import redis

    client = redis.Redis(host="127.0.0.1", port=6379)
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    return len(keys), sum(client.memory_usage(k) or 0 for k in keys)


def reference_scrape(directory: Path) -> str:
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))
    return generate_latest(registry).decode()


def timed(scrape, count: int = 5) -> float:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        scrape()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def run(storage: str, restarts: int, checkpoints: list[int]) -> None:
    reference = storage == "multiprocess"
    worker_class = "sync" if reference else OURS + "PrometheusWorker"
    app = "hello_multiprocess:app" if reference else "hello:app"
    with server(worker_class, app=app, workers=4, args=["--max-requests", "1"], storage=storage) as g:
        directory = g.multiproc_dir
        prefix = g.env.get("REDIS_KEY_PREFIX", "")
        scrape = (lambda: reference_scrape(directory)) if reference else (lambda: scrape_text(g.metrics_port, 30))
        done = 0
        started = time.monotonic()
        for checkpoint in checkpoints:
            if checkpoint > restarts:
                break
            if checkpoint > done:
                statuses = g.send(checkpoint - done, concurrency=4)
                assert statuses == {200: checkpoint - done}, statuses
                done = checkpoint
            time.sleep(1.5)  # let the last replacements boot and Redis flush
            if storage == "redis":
                keys, memory = redis_usage(prefix)
                size = f"{keys} keys, {memory / 1024:.0f} KiB"
            else:
                size = f"{disk_bytes(directory) / 1024:.0f} KiB in {len(os.listdir(directory))} files"
            print(
                f"| {storage} | {done} | {size} | {timed(scrape):.2f} | {time.monotonic() - started:.0f} |",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--restarts", type=int, default=10_000)
    parser.add_argument("--reference-restarts", type=int, default=2_000, help="prometheus_client grows 1 MiB a pid")
    parser.add_argument("--storages", default="files,redis,multiprocess")
    opts = parser.parse_args()
    checkpoints = [0, 1, 100, 1_000, 2_000, 5_000, 10_000, 20_000]

    print(f"# Worker churn ({versions()})\n")
    print("| storage | restarts | storage size | scrape ms (median of 5) | elapsed s |")
    print("| --- | --- | --- | --- | --- |")
    for storage in opts.storages.split(","):
        limit = opts.reference_restarts if storage == "multiprocess" else opts.restarts
        run(storage, limit, [c for c in checkpoints if c <= limit])


if __name__ == "__main__":
    main()
