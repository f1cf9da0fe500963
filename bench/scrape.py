"""Scrape cost: /metrics latency with 1, 4 and 16 workers and an app with 500 series of its own.

.venv/bin/python bench/scrape.py [--scrapes 50] [--storages files,redis]
"""

from __future__ import annotations

import argparse
import statistics
import time

from common import OURS, server, versions
from harness import scrape_text


def scrape_times(port: int, count: int) -> list[float]:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        scrape_text(port, timeout=10)
        times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scrapes", type=int, default=50)
    parser.add_argument("--workers", default="1,4,16")
    parser.add_argument("--storages", default="files,redis")
    opts = parser.parse_args()

    print(f"# Scrape latency ({versions()})\n")
    print("| storage | workers | series in output | scrape ms: median (p90, max) |")
    print("| --- | --- | --- | --- |")
    for storage in opts.storages.split(","):
        for workers in map(int, opts.workers.split(",")):
            with server(OURS + "PrometheusWorker", app="series500:app", workers=workers, storage=storage) as g:
                # Let every worker import the app and (Redis) the publisher flush once.
                g.send(workers * 4, concurrency=workers)
                time.sleep(2.5)
                text = scrape_text(g.metrics_port, timeout=10)
                series = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
                scrape_times(g.metrics_port, 5)  # warm-up
                times = sorted(scrape_times(g.metrics_port, opts.scrapes))
                p90 = times[int(len(times) * 0.9) - 1]
                print(
                    f"| {storage} | {workers} | {series} | {statistics.median(times):.2f} ({p90:.2f}, {times[-1]:.2f}) |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
