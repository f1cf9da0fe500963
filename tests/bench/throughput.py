#!/usr/bin/env python3
"""Requests/s of a hello-world app on plain uWSGI, with gpx and with the
alternatives, in one run.

Every variant runs side by side for the whole run (same binary, same
worker layout). By default wrk loads one at a time, and the order rotates
from round to round so that drift of the machine hits all alike. With
--together every round loads all variants at once, each with its own wrk,
so that they meet the same moment of the machine; with --pin they then
share one CPU. The result is the median of the per-round ratios variant /
baseline, of requests/s and of CPU time per request (the master's and the
workers' threads, from the scheduler's nanosecond count).

Variants (--variants, comma-separated):
  plain           tests/bench/hello.py on plain uWSGI (the baseline)
  plain-again     a second, identical plain server: the method's own zero
                  (any ratio other than 1 it shows is the measurement's error)
  gpx             the same app with gpx (files, or Redis with --storage redis)
  gpx-redis       gpx with Redis storage, beside gpx with files in the same rounds
  gpx-b           gpx from another build (--gpx-b-plugin PATH, e.g. an earlier
                  commit's build/system/gpx_plugin.so): two versions in the
                  same rounds
  prom-client     hello world in prometheus_client's multiprocess mode
                  (a counter and a histogram per request, /metrics on the app)
  flask           a Flask hello world (the baseline of flask-exporter)
  flask-exporter  the same with prometheus-flask-exporter's UWsgiPrometheusMetrics

Modes: --mode processes (one request at a time per worker), threads
(--cores threads per worker) or gevent (--cores async cores per worker;
Debian's uwsgi-core with its gevent_python3 plugin and python3-gevent).

    .venv/bin/python tests/bench/throughput.py --rounds 10 --seconds 5 --pin
    .venv/bin/python tests/bench/throughput.py --mode threads --storage redis
    .venv/bin/python tests/bench/throughput.py --variants plain,gpx,prom-client,flask,flask-exporter
    .venv/bin/python tests/bench/throughput.py --together --pin --variants plain,plain-again,gpx

Needs wrk (Debian package) and the plugin (`make all pypi`).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    APPS,
    HELLO,
    SYSTEM_UWSGI,
    VENV_SITE,
    RedisServer,
    Server,
    conditions,
    free_port,
    gpx_args,
    mode_args,
    parse_wrk,
    uwsgi_version,
    write_json,
    wrk,
    wrk_cmd,
)

VARIANTS = {
    # name: (app, baseline, uses the venv's packages, is a prometheus_client multiprocess app)
    "plain": (HELLO, None, False, False),
    "plain-again": (HELLO, "plain", False, False),
    "gpx": (HELLO, "plain", False, False),
    "gpx-redis": (HELLO, "plain", False, False),
    "gpx-b": (HELLO, "plain", False, False),
    "prom-client": (APPS / "prom_client_app.py", "plain", True, True),
    "flask": (APPS / "flask_app.py", "plain", True, False),
    "flask-exporter": (APPS / "flask_exporter_app.py", "flask", True, True),
}
ALL = "plain,plain-again,gpx,gpx-redis,gpx-b,prom-client,flask,flask-exporter"


def start(name: str, args, tmp: Path, redis: RedisServer | None, cpus: str | None) -> Server:
    app, _, venv, multiproc = VARIANTS[name]
    extra = [*mode_args(args.mode, args.cores), *args.uwsgi_arg]
    if venv:
        extra += ["--pythonpath", str(VENV_SITE)]
    if multiproc:
        mp = tmp / f"{name}-multiproc"
        mp.mkdir(exist_ok=True)
        extra += ["--env", f"PROMETHEUS_MULTIPROC_DIR={mp}", "--env", f"prometheus_multiproc_dir={mp}"]
    if name in ("gpx", "gpx-redis", "gpx-b"):
        mp = tmp / f"{name}-multiproc"
        mp.mkdir(exist_ok=True)
        store = redis if name == "gpx-redis" or args.storage == "redis" else None
        plugin_args = gpx_args(args.uwsgi, mp, free_port(), store)
        if name == "gpx-b":
            plugin_args[plugin_args.index("--plugin") + 1] = args.gpx_b_plugin
        extra += [*plugin_args, *args.gpx_arg]
    return Server(name, args.uwsgi, app, tmp, args.processes, extra, cpus, gevent=args.mode == "gevent")


def measure_alone(server: Server, args, wrk_cpus: str | None) -> tuple[float, float]:
    """Loads one server: its requests/s and CPU µs per request."""
    before = server.cpu_ns()
    rps, total = wrk(server.port, args.seconds, args.connections, wrk_cpus)
    return rps, (server.cpu_ns() - before) / 1e3 / max(total, 1)


def measure_together(servers: dict[str, Server], order: list[str], args,
                     wrk_cpus: str | None) -> dict[str, tuple[float, float]]:
    """Loads every server at once, one wrk each, started in `order`."""
    before = {n: servers[n].cpu_ns() for n in order}
    clients = {n: subprocess.Popen(wrk_cmd(servers[n].port, args.seconds, args.connections, wrk_cpus),
                                   stdout=subprocess.PIPE, text=True) for n in order}
    outputs = {n: clients[n].communicate()[0] for n in order}
    result = {}
    for n in order:
        if clients[n].returncode:
            raise RuntimeError(f"wrk failed against {n}")
        rps, total = parse_wrk(outputs[n])
        result[n] = (rps, (servers[n].cpu_ns() - before[n]) / 1e3 / max(total, 1))
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=10, help="rounds, each loading every variant once (default 10)")
    ap.add_argument("--seconds", type=float, default=5, help="seconds per wrk run (default 5)")
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--mode", choices=("processes", "threads", "gevent"), default="processes")
    ap.add_argument("--cores", type=int, default=0,
                    help="threads or async cores per worker (default 4 for threads, 100 for gevent)")
    ap.add_argument("--threads", type=int, default=0, help="the same as --mode threads --cores N")
    ap.add_argument("--storage", choices=("files", "redis"), default="files",
                    help="gpx's storage; redis starts a private redis-server")
    ap.add_argument("--variants", default="plain,gpx", help=f"comma-separated, from {ALL} (default plain,gpx)")
    ap.add_argument("--uwsgi", default=SYSTEM_UWSGI)
    ap.add_argument("--uwsgi-arg", action="append", default=[], metavar="ARG",
                    help="an option for every server, e.g. --uwsgi-arg=--lazy-apps (repeatable)")
    ap.add_argument("--gpx-arg", action="append", default=[], metavar="ARG",
                    help="an option for the gpx server only, e.g. --gpx-arg=--gpx-redis-interval=1 (repeatable)")
    ap.add_argument("--gpx-b-plugin", metavar="PATH", help="the gpx_plugin.so of the gpx-b variant")
    ap.add_argument("--pin", action="store_true",
                    help="run wrk on CPU 0 and the servers on CPU 1 (taskset): less scheduler noise on 2 cores")
    ap.add_argument("--together", action="store_true",
                    help="load all variants at once in every round, each with its own wrk (with --pin: the "
                         "servers share CPU 1, the clients CPU 0)")
    ap.add_argument("--restart-every", type=int, default=0, metavar="N",
                    help="start every server afresh every N rounds (0: never). One server instance can be "
                         "steadily faster or slower than an identical one by a few percent (memory layout, "
                         "Python's hash seed: plain-again shows it); fresh instances average that out")
    ap.add_argument("--json", help="write the results to this file")
    args = ap.parse_args(argv)
    if args.threads > 1:
        args.mode, args.cores = "threads", args.threads
    if not args.cores:
        args.cores = {"processes": 1, "threads": 4, "gevent": 100}[args.mode]
    names = [n.strip() for n in args.variants.split(",") if n.strip()]
    if "gpx-b" in names and not (args.gpx_b_plugin and Path(args.gpx_b_plugin).is_file()):
        ap.error("the gpx-b variant needs --gpx-b-plugin naming a built gpx_plugin.so")
    ordered: list[str] = []
    for n in names:  # every variant's baseline runs too, listed before it
        if n not in VARIANTS:
            ap.error(f"unknown variant {n}; known: {ALL}")
        chain = []
        while n:
            chain.insert(0, n)
            n = VARIANTS[n][1]
        ordered += [c for c in chain if c not in ordered]
    names = ordered
    wrk_cpus, server_cpus = ("0", "1") if args.pin else (None, None)

    rows = []
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        uses_redis = "gpx-redis" in names or (args.storage == "redis" and {"gpx", "gpx-b"} & set(names))
        redis = RedisServer(tmp) if uses_redis else None
        servers: dict[str, Server] = {}

        def start_all() -> None:
            for s in servers.values():
                s.stop()
            for n in names:
                servers[n] = start(n, args, tmp, redis, server_cpus)
            for s in servers.values():  # warm every server
                wrk(s.port, 1, args.connections, wrk_cpus)

        try:
            for r in range(args.rounds):
                if r == 0 or (args.restart_every and r % args.restart_every == 0):
                    start_all()
                order = names[r % len(names):] + names[:r % len(names)]
                if r % 2:
                    order.reverse()
                result = measure_together(servers, order, args, wrk_cpus) if args.together else {
                    n: measure_alone(servers[n], args, wrk_cpus) for n in order}
                rows.append(result)
                print(f"round {r + 1:2d}: " + "  ".join(
                    f"{n} {result[n][0]:7.0f} req/s {result[n][1]:5.1f} us" for n in names), flush=True)
            redis_keys = redis.key_count() if redis else None
        finally:
            for s in servers.values():
                s.stop()
            if redis:
                redis.stop()

    version = uwsgi_version(args.uwsgi)
    layout = f"processes {args.processes}, mode {args.mode}" + (f" x {args.cores}" if args.mode != "processes" else "")
    print()
    print(f"uWSGI {version}, {layout}, storage {args.storage}, {args.rounds} rounds x {args.seconds:g} s, "
          f"wrk -t1 -c{args.connections}, all: {' '.join(args.uwsgi_arg) or '-'}, "
          f"gpx only: {' '.join(args.gpx_arg) or '-'}{', pinned (wrk CPU 0, servers CPU 1)' if args.pin else ''}, "
          f"{'all variants loaded together' if args.together else 'one variant loaded at a time'}"
          f"{f', servers started afresh every {args.restart_every} round(s)' if args.restart_every else ''}")
    summary = {}
    for n in names:
        rps = [row[n][0] for row in rows]
        cpu = [row[n][1] for row in rows]
        entry = {"median_rps": statistics.median(rps), "median_cpu_us_per_request": statistics.median(cpu)}
        base = VARIANTS[n][1]
        if base:
            ratios = [row[n][0] / row[base][0] for row in rows]
            cpu_ratios = [row[base][1] / row[n][1] if row[n][1] else float("nan") for row in rows]
            entry.update(baseline=base, median_ratio=statistics.median(ratios), min_ratio=min(ratios),
                         max_ratio=max(ratios), median_cpu_ratio=statistics.median(cpu_ratios))
            print(f"{n:15s} median {entry['median_rps']:7.0f} req/s, {entry['median_cpu_us_per_request']:5.1f} us "
                  f"CPU/request; median ratio {n}/{base} requests/s: {entry['median_ratio']:.3f} "
                  f"(min {entry['min_ratio']:.3f}, max {entry['max_ratio']:.3f}); "
                  f"{base}/{n} CPU per request: {entry['median_cpu_ratio']:.3f}")
        else:
            print(f"{n:15s} median {entry['median_rps']:7.0f} req/s, {entry['median_cpu_us_per_request']:5.1f} us "
                  f"CPU/request (baseline)")
        if base == "plain" and n != "plain-again" and "plain-again" in names:
            # Two identical baselines in every round: their mean halves the
            # baseline's own share of the spread.
            pooled = [(row["plain"][1] + row["plain-again"][1]) / 2 / row[n][1] for row in rows if row[n][1]]
            entry["median_cpu_ratio_both_plain"] = statistics.median(pooled)
            print(f"{'':15s} CPU per request, mean of plain and plain-again / {n}: "
                  f"{entry['median_cpu_ratio_both_plain']:.3f}")
        summary[n] = entry
    if redis_keys is not None:
        print(f"Redis keys at the end: {redis_keys}")
    write_json(args.json, {"benchmark": "throughput", "uwsgi": version, "mode": args.mode, "cores": args.cores,
                           "processes": args.processes, "storage": args.storage, "rounds": args.rounds,
                           "seconds": args.seconds, "pinned": args.pin, "together": args.together,
                           "restart_every": args.restart_every, "connections": args.connections,
                           "uwsgi_args": args.uwsgi_arg, "gpx_args": args.gpx_arg, "conditions": conditions(),
                           "rows": rows, "summary": summary, "redis_keys": redis_keys})
    return 0


if __name__ == "__main__":
    sys.exit(main())
