#!/usr/bin/env python3
"""Memory gpx adds: USS and PSS of the master and of each worker, with and
without gpx, in one run.

Starts plain uWSGI and uWSGI with gpx side by side (same binary, same
hello-world app, same layout), loads both with wrk so that every worker
has served requests and gpx's master has rendered /metrics, then reads
each process's USS (memory only it holds) and PSS (its share of what it
shares) with psutil's memory_full_info. The difference of the medians over
workers is what gpx adds per worker; the master's difference is what it
adds in the master. Target (issue 19): under 1 MiB per worker.

    .venv/bin/python tests/bench/memory.py
    .venv/bin/python tests/bench/memory.py --processes 8 --mode threads --cores 16
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    HELLO,
    SYSTEM_UWSGI,
    Server,
    conditions,
    gpx_args,
    gpx_storage,
    mode_args,
    scrape_series,
    uwsgi_version,
    wait_port,
    write_json,
    wrk,
)

MIB = 1024 * 1024


def measure(server: Server) -> dict:
    def info(pid: int) -> dict:
        m = psutil.Process(pid).memory_full_info()
        return {"rss": m.rss, "uss": m.uss, "pss": m.pss}

    workers = [info(pid) for pid in server.workers()]
    return {"master": info(server.master), "workers": workers,
            "worker_median": {k: statistics.median(w[k] for w in workers) for k in ("rss", "uss", "pss")}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--processes", type=int, default=4)
    ap.add_argument("--mode", choices=("processes", "threads", "gevent"), default="processes")
    ap.add_argument("--cores", type=int, default=1)
    ap.add_argument("--storage", choices=("files", "redis"), default="files")
    ap.add_argument("--load-seconds", type=float, default=3)
    ap.add_argument("--uwsgi", default=SYSTEM_UWSGI)
    ap.add_argument("--json", help="write the results to this file")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        mp, metrics_port, redis = gpx_storage(tmp, args.storage)
        layout = mode_args(args.mode, args.cores)
        gevent = args.mode == "gevent"
        plain = gpx = None
        try:
            plain = Server("plain", args.uwsgi, HELLO, tmp, args.processes, layout, gevent=gevent)
            gpx = Server("gpx", args.uwsgi, HELLO, tmp, args.processes,
                         [*layout, *gpx_args(args.uwsgi, mp, metrics_port, redis)], gevent=gevent)
            wait_port(metrics_port)
            for s in (plain, gpx):
                wrk(s.port, args.load_seconds, max(16, args.processes * 2))
            scrape_series(metrics_port, 20)
            time.sleep(1)
            result = {"plain": measure(plain), "gpx": measure(gpx)}
        finally:
            for s in (gpx, plain):
                if s:
                    s.stop()
            if redis:
                redis.stop()

    version = uwsgi_version(args.uwsgi)
    added = {
        "master": {k: result["gpx"]["master"][k] - result["plain"]["master"][k] for k in ("rss", "uss", "pss")},
        "worker": {k: result["gpx"]["worker_median"][k] - result["plain"]["worker_median"][k]
                   for k in ("rss", "uss", "pss")},
    }
    print(f"uWSGI {version}, {args.processes} processes, mode {args.mode} x {args.cores}, storage {args.storage}")
    print(f"{'':16s} {'plain':>10s} {'gpx':>10s} {'added':>10s}   (MiB)")
    for who, key in (("master", "master"), ("worker (median)", "worker_median")):
        for k in ("uss", "pss", "rss"):
            p, g = result["plain"][key][k] / MIB, result["gpx"][key][k] / MIB
            print(f"{who + ' ' + k.upper():22s} {p:10.3f} {g:10.3f} {g - p:+10.3f}")
    write_json(args.json, {"benchmark": "memory", "uwsgi": version, "processes": args.processes,
                           "mode": args.mode, "cores": args.cores, "storage": args.storage, "result": result,
                           "added_bytes": added, "conditions": conditions()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
