"""Request cost: throughput with the exporter divided by plain Gunicorn's, same app and worker type.

Each round runs plain Gunicorn and the exporter's worker back to back, in
alternating order (ABBA), so drift of the machine cancels; the ratio of a
round is exporter / plain, and the table gives the median and spread of the
rounds. A hand-wired prometheus_client multiprocess middleware runs as a
second reference.

    .venv/bin/python bench/throughput.py [--rounds 5] [--seconds 5] [--only sync,gthread]
"""

from __future__ import annotations

import argparse
import importlib.util

from common import OURS, server, summary, versions, wrk

# name -> (plain worker class, exporter worker class, extra args, module the pair needs)
# Every run uses --reuse-port: each worker then has its own listening socket and
# the kernel spreads wrk's connections evenly over the workers. Without it, a
# keep-alive worker (gthread, gevent) may take most connections in one run and
# few in the next, and that alone moves throughput by a third.
PAIRS = {
    "sync": ("sync", OURS + "PrometheusWorker", ["--reuse-port"], None),
    "gthread": ("gthread", OURS + "PrometheusThreadWorker", ["--reuse-port", "--threads", "4"], None),
    "gevent": ("gevent", OURS + "PrometheusGeventWorker", ["--reuse-port", "--worker-connections", "100"], "gevent"),
}


def measure(worker_class, args, seconds, storage="files", app="hello:app", env=None) -> float:
    with server(worker_class, app=app, args=args, storage=storage, env=env) as g:
        wrk(g.port, seconds=1)  # warm-up: imports, first connections
        return wrk(g.port, seconds=seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--only", default=",".join(PAIRS), help="comma-separated worker types")
    parser.add_argument("--storages", default="files,redis")
    parser.add_argument("--reference", action=argparse.BooleanOptionalAction, default=True)
    opts = parser.parse_args()

    print(f"# Throughput ratios ({versions()})\n")
    print("| worker | storage | exporter/plain: median (min-max) | plain req/s (median) |")
    print("| --- | --- | --- | --- |")
    for name in opts.only.split(","):
        plain_class, ours_class, args, needs = PAIRS[name]
        if needs and importlib.util.find_spec(needs) is None:
            print(f"| {name} | - | skipped: {needs} not installed | |")
            continue
        for storage in opts.storages.split(","):
            ratios, plains = [], []
            for round_no in range(opts.rounds):
                order = [(plain_class, "files"), (ours_class, storage)]
                if round_no % 2:
                    order.reverse()
                results = {cls: measure(cls, args, opts.seconds, st) for cls, st in order}
                plains.append(results[plain_class])
                ratios.append(results[ours_class] / results[plain_class])
            print(f"| {name} | {storage} | {summary(ratios)} | {sorted(plains)[len(plains) // 2]:.0f} |", flush=True)
        if opts.reference and name == "sync":
            ratios = []
            for round_no in range(opts.rounds):
                order = [("plain", "hello:app"), ("reference", "hello_multiprocess:app")]
                if round_no % 2:
                    order.reverse()
                results = {label: measure("sync", ["--reuse-port"], opts.seconds, app=app) for label, app in order}
                ratios.append(results["reference"] / results["plain"])
            print(f"| sync, prometheus_client multiprocess middleware | files | {summary(ratios)} | |", flush=True)


if __name__ == "__main__":
    main()
