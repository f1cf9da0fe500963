"""Memory the exporter adds to each worker: worker RSS and USS with the exporter minus plain Gunicorn's.

.venv/bin/python bench/memory.py [--requests 2000]
"""

from __future__ import annotations

import argparse
import statistics

import psutil
from common import OURS, server, versions


def worker_memory(g) -> tuple[float, float]:
    """Median RSS and USS of the workers, in MiB."""
    rss, uss = [], []
    for pid in g.worker_pids():
        info = psutil.Process(pid).memory_full_info()
        rss.append(info.rss / 2**20)
        uss.append(info.uss / 2**20)
    return statistics.median(rss), statistics.median(uss)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--storages", default="files,redis")
    opts = parser.parse_args()

    print(f"# Worker memory ({versions()})\n")
    print("| worker class | storage | RSS MiB | USS MiB | added RSS MiB | added USS MiB |")
    print("| --- | --- | --- | --- | --- | --- |")
    with server("sync", workers=2) as g:
        g.send(opts.requests)
        base_rss, base_uss = worker_memory(g)
    print(f"| sync (plain) | - | {base_rss:.1f} | {base_uss:.1f} | | |")
    for storage in opts.storages.split(","):
        with server(OURS + "PrometheusWorker", workers=2, storage=storage) as g:
            g.send(opts.requests)
            rss, uss = worker_memory(g)
        print(
            f"| PrometheusWorker | {storage} | {rss:.1f} | {uss:.1f} | {rss - base_rss:.1f} | {uss - base_uss:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
