"""Request cost: throughput with the exporter divided by plain Gunicorn's, same app and worker type.

Two ways to compare, both printing the median and spread (min-max) of the
rounds' ratios, for throughput and for the workers' CPU time per request
(from the kernel's accounting over the same wrk runs):

- ``side-by-side`` (default): both servers run one worker, pinned to the same
  CPU, and wrk loads both at once from the other CPU. The two workers share
  that CPU fairly, so each round compares them under the same conditions
  at the same moment: on a shared virtual machine, whose speed moves by 10-30 %
  from one second to the next, this is the only way to see a few percent.
- ``alternate``: the servers (2 workers each, unpinned) take turns under wrk,
  in alternating order (ABBA), so slow drift cancels; closer to a real
  deployment, but each ratio carries the machine's moment-to-moment noise.

A hand-wired prometheus_client multiprocess middleware runs as a second reference.
``--request-path python`` measures the exporter's Python request path (what
an install without a C compiler runs) instead of the compiled one.

    .venv/bin/python bench/throughput.py [--mode side-by-side|alternate] [--rounds 10] [--seconds 3]
        [--only sync,gthread] [--storages files] [--request-path compiled|python]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import importlib.util
import os
import statistics

import psutil
from common import OURS, ROOT, server, summary, versions, wrk

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


# The same worker classes on the Python request path (the test suite's subclasses).
PYTHON_PATH = {
    "sync": "python_path.PythonPathWorker",
    "gthread": "python_path.PythonPathThreadWorker",
    "gevent": "python_path.PythonPathGeventWorker",
}
PYTHON_PATH_ENV = {"PYTHONPATH": str(ROOT / "tests" / "apps")}


def workers_cpu_seconds(g) -> float:
    total = 0.0
    for pid in g.worker_pids():
        times = psutil.Process(pid).cpu_times()
        total += times.user + times.system
    return total


def compare(baseline: dict, candidate: dict, rounds: int, seconds: float, mode: str) -> dict[str, list[float]]:
    """Run ``rounds`` comparisons of two servers (``server()`` arguments) and collect the ratios."""
    if mode == "side-by-side":
        baseline = {**baseline, "workers": 1}
        candidate = {**candidate, "workers": 1}
    with server(**baseline) as base, server(**candidate) as cand:
        wrk_cpus = None
        if mode == "side-by-side":
            server_cpu = max(os.sched_getaffinity(0))
            wrk_cpus = set(os.sched_getaffinity(0)) - {server_cpu} or None
            for g in (base, cand):
                for pid in (g.process.pid, *g.worker_pids()):
                    os.sched_setaffinity(pid, {server_cpu})
        for g in (base, cand):
            wrk(g.port, seconds=1, cpus=wrk_cpus)  # warm-up: imports, first connections
        rows = {"ratio": [], "base_rate": [], "cpu_ratio": [], "base_cpu": [], "cand_cpu": []}
        for round_no in range(rounds):
            order = [base, cand] if round_no % 2 == 0 else [cand, base]
            if mode == "side-by-side":
                cpu_before = {id(g): workers_cpu_seconds(g) for g in order}
                with concurrent.futures.ThreadPoolExecutor(2) as pool:
                    runs = {id(g): pool.submit(wrk, g.port, seconds, cpus=wrk_cpus) for g in order}
                rates = {key: run.result() for key, run in runs.items()}
            else:
                rates, cpu_before = {}, {}
                for g in order:
                    cpu_before[id(g)] = workers_cpu_seconds(g)
                    rates[id(g)] = wrk(g.port, seconds=seconds)
            cpu = {id(g): (workers_cpu_seconds(g) - cpu_before[id(g)]) / (rates[id(g)] * seconds) * 1e6 for g in order}
            rows["ratio"].append(rates[id(cand)] / rates[id(base)])
            rows["base_rate"].append(rates[id(base)])
            rows["cpu_ratio"].append(cpu[id(base)] / cpu[id(cand)])
            rows["base_cpu"].append(cpu[id(base)])
            rows["cand_cpu"].append(cpu[id(cand)])
        return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--only", default=",".join(PAIRS), help="comma-separated worker types")
    parser.add_argument("--storages", default="files,redis")
    parser.add_argument("--reference", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--mode", choices=("side-by-side", "alternate"), default="side-by-side")
    parser.add_argument("--request-path", choices=("compiled", "python"), default="compiled")
    opts = parser.parse_args()

    print(
        f"# Throughput ratios, {opts.mode}, {opts.rounds} rounds of {opts.seconds:g} s, "
        f"{opts.request_path} request path ({versions()})\n"
    )
    print(
        "| worker | storage | throughput exporter/plain: median (min-max) | plain req/s | "
        "worker CPU per request, plain/exporter: median (min-max) | plain / exporter CPU us per request |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for name in opts.only.split(","):
        plain_class, ours_class, args, needs = PAIRS[name]
        ours_env = {}
        if opts.request_path == "python":
            ours_class, ours_env = PYTHON_PATH[name], PYTHON_PATH_ENV
        if needs and importlib.util.find_spec(needs) is None:
            print(f"| {name} | - | skipped: {needs} not installed | |")
            continue
        for storage in opts.storages.split(","):
            rows = compare(
                {"worker_class": plain_class, "args": args},
                {"worker_class": ours_class, "args": args, "storage": storage, "env": ours_env},
                opts.rounds,
                opts.seconds,
                opts.mode,
            )
            print(
                f"| {name} | {storage} | {summary(rows['ratio'])} | {statistics.median(rows['base_rate']):.0f} "
                f"| {summary(rows['cpu_ratio'])} "
                f"| {statistics.median(rows['base_cpu']):.1f} / {statistics.median(rows['cand_cpu']):.1f} |",
                flush=True,
            )
        if opts.reference and name == "sync":
            rows = compare(
                {"worker_class": "sync", "args": ["--reuse-port"]},
                {"worker_class": "sync", "args": ["--reuse-port"], "app": "hello_multiprocess:app"},
                opts.rounds,
                opts.seconds,
                opts.mode,
            )
            print(
                f"| sync, prometheus_client multiprocess middleware | files | {summary(rows['ratio'])} | | "
                f"{summary(rows['cpu_ratio'])} "
                f"| {statistics.median(rows['base_cpu']):.1f} / {statistics.median(rows['cand_cpu']):.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
