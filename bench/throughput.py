"""Request cost: throughput with the exporter divided by plain Gunicorn's, same app and worker type.

Each round runs plain Gunicorn and the exporter's worker back to back, in
alternating order (ABBA), so drift of the machine cancels; the ratio of a
round is exporter / plain, and the table gives the median and spread of the
rounds. Beside throughput, the workers' CPU time per request (from the
kernel's accounting, over the same wrk run) gives a second ratio that is less
disturbed by scheduling noise on a shared machine. A hand-wired prometheus_client multiprocess middleware runs as a
second reference.

    .venv/bin/python bench/throughput.py [--rounds 5] [--seconds 5] [--only sync,gthread]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics

import psutil
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


def workers_cpu_seconds(g) -> float:
    total = 0.0
    for pid in g.worker_pids():
        times = psutil.Process(pid).cpu_times()
        total += times.user + times.system
    return total


def measure(worker_class, args, seconds, storage="files", app="hello:app", env=None) -> tuple[float, float]:
    """Requests per second, and the workers' CPU microseconds per request, in one wrk run."""
    with server(worker_class, app=app, args=args, storage=storage, env=env) as g:
        wrk(g.port, seconds=1)  # warm-up: imports, first connections
        cpu_before = workers_cpu_seconds(g)
        rate = wrk(g.port, seconds=seconds)
        cpu = workers_cpu_seconds(g) - cpu_before
        return rate, cpu / (rate * seconds) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--only", default=",".join(PAIRS), help="comma-separated worker types")
    parser.add_argument("--storages", default="files,redis")
    parser.add_argument("--reference", action=argparse.BooleanOptionalAction, default=True)
    opts = parser.parse_args()

    print(f"# Throughput ratios ({versions()})\n")
    print(
        "| worker | storage | throughput exporter/plain: median (min-max) | plain req/s | "
        "worker CPU per request, plain/exporter: median (min-max) | plain / exporter CPU us per request |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for name in opts.only.split(","):
        plain_class, ours_class, args, needs = PAIRS[name]
        if needs and importlib.util.find_spec(needs) is None:
            print(f"| {name} | - | skipped: {needs} not installed | |")
            continue
        for storage in opts.storages.split(","):
            ratios, plains, cpu_ratios, cpu_plain, cpu_ours = [], [], [], [], []
            for round_no in range(opts.rounds):
                order = [(plain_class, "files"), (ours_class, storage)]
                if round_no % 2:
                    order.reverse()
                results = {cls: measure(cls, args, opts.seconds, st) for cls, st in order}
                plains.append(results[plain_class][0])
                ratios.append(results[ours_class][0] / results[plain_class][0])
                cpu_plain.append(results[plain_class][1])
                cpu_ours.append(results[ours_class][1])
                cpu_ratios.append(results[plain_class][1] / results[ours_class][1])
            print(
                f"| {name} | {storage} | {summary(ratios)} | {statistics.median(plains):.0f} | {summary(cpu_ratios)} "
                f"| {statistics.median(cpu_plain):.1f} / {statistics.median(cpu_ours):.1f} |",
                flush=True,
            )
        if opts.reference and name == "sync":
            ratios, cpu_ratios = [], []
            for round_no in range(opts.rounds):
                order = [("plain", "hello:app"), ("reference", "hello_multiprocess:app")]
                if round_no % 2:
                    order.reverse()
                results = {label: measure("sync", ["--reuse-port"], opts.seconds, app=app) for label, app in order}
                ratios.append(results["reference"][0] / results["plain"][0])
                cpu_ratios.append(results["plain"][1] / results["reference"][1])
            print(
                f"| sync, prometheus_client multiprocess middleware | files | {summary(ratios)} | | "
                f"{summary(cpu_ratios)} | |",
                flush=True,
            )


if __name__ == "__main__":
    main()
