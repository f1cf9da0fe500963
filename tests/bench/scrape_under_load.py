#!/usr/bin/env python3
"""A scrape under load: /metrics latency while every worker is busy.

Starts uWSGI with gpx and tests/bench/apps/busy.py (each request burns
--busy-ms of CPU, or sleeps that long with --sleep), times `--scrapes`
GETs of /metrics on an idle server, then again while wrk keeps far more
connections open than the workers have cores, so that every worker is busy
and requests queue. The master's metrics thread answers on its own port,
whatever the workers do: the target (issue 19) is that it keeps
answering, quickly. Beside the scrapes, the latency of app requests
during the load shows that the workers were indeed saturated.

    .venv/bin/python tests/bench/scrape_under_load.py
    .venv/bin/python tests/bench/scrape_under_load.py --sleep --busy-ms 50
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scrape_scale import with_plugin  # noqa: E402

from common import (  # noqa: E402
    APPS,
    SYSTEM_UWSGI,
    Server,
    conditions,
    free_port,
    gpx_args,
    mode_args,
    parse_wrk,
    scrape_series,
    summary_ms,
    uwsgi_version,
    wait_port,
    write_json,
    wrk_cmd,
)


def app_latencies(port: int, count: int) -> list[float]:
    out = []
    for _ in range(count):
        start = time.perf_counter()
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=60).read()
        out.append(time.perf_counter() - start)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--processes", type=int, default=4)
    ap.add_argument("--mode", choices=("processes", "threads", "gevent"), default="processes")
    ap.add_argument("--cores", type=int, default=1)
    ap.add_argument("--busy-ms", type=float, default=5.0, help="CPU (or sleep) per request (default 5)")
    ap.add_argument("--sleep", action="store_true", help="requests sleep instead of burning CPU")
    ap.add_argument("--connections", type=int, default=0, help="wrk connections (default 4 per core)")
    ap.add_argument("--scrapes", type=int, default=200)
    ap.add_argument("--master-nice", type=int, default=None,
                    help="experiment: set this nice value on every thread of the master (e.g. -10)")
    ap.add_argument("--uwsgi", default=SYSTEM_UWSGI)
    ap.add_argument("--plugin", help="this gpx_plugin.so instead of the build's (e.g. an older commit's, "
                    "to compare in one run)")
    ap.add_argument("--json", help="write the results to this file")
    args = ap.parse_args(argv)
    connections = args.connections or max(8, 4 * args.processes * args.cores)

    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        mp = tmp / "multiproc"
        mp.mkdir()
        metrics_port = free_port()
        env = {"BUSY_MS": str(args.busy_ms), "BUSY_SLEEP": "1" if args.sleep else "0"}
        server = Server("busy", args.uwsgi, APPS / "busy.py", tmp, args.processes,
                        [*mode_args(args.mode, args.cores),
                         *with_plugin(gpx_args(args.uwsgi, mp, metrics_port), args.plugin),
                         "--listen", "1024"], gevent=args.mode == "gevent", env=env)
        try:
            wait_port(metrics_port)
            if args.master_nice is not None:
                for tid in Path(f"/proc/{server.master}/task").iterdir():
                    os.setpriority(os.PRIO_PROCESS, int(tid.name), args.master_nice)
            idle = scrape_series(metrics_port, args.scrapes)
            idle_app = app_latencies(server.port, 10)
            load = subprocess.Popen(wrk_cmd(server.port, 600, connections), stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True)
            try:
                time.sleep(2)  # the queue fills
                loaded = scrape_series(metrics_port, args.scrapes)
                loaded_app = app_latencies(server.port, 10)
            finally:
                load.send_signal(signal.SIGINT)  # wrk prints its summary on SIGINT
                out, _ = load.communicate(30)
            try:
                rps, _ = parse_wrk(out)
            except AttributeError:
                rps = float("nan")
        finally:
            server.stop()

    version = uwsgi_version(args.uwsgi)
    rows = {"idle": summary_ms(idle["latencies"]), "loaded": summary_ms(loaded["latencies"]),
            "idle_render": summary_ms(idle["renders"]), "loaded_render": summary_ms(loaded["renders"]),
            "idle_app": summary_ms(idle_app), "loaded_app": summary_ms(loaded_app)}
    work = f"{'sleeps' if args.sleep else 'burns CPU'} {args.busy_ms:g} ms"
    nice = f", master's threads at nice {args.master_nice}" if args.master_nice is not None else ""
    print(f"uWSGI {version}, {args.processes} processes, mode {args.mode} x {args.cores}, each request {work}, "
          f"wrk -c{connections} ({rps:.0f} req/s during the load){nice}")
    for name, label in (("idle", "scrape, idle"), ("loaded", "scrape, workers saturated"),
                        ("idle_render", "render (gpx), idle"), ("loaded_render", "render (gpx), saturated"),
                        ("idle_app", "app request, idle"), ("loaded_app", "app request, saturated")):
        r = rows[name]
        print(f"{label:28s} median {r['median_ms']:8.2f} ms  p99 {r['p99_ms']:8.2f} ms  max {r['max_ms']:8.2f} ms"
              f"  (n={r['n']})")
    write_json(args.json, {"benchmark": "scrape_under_load", "uwsgi": version, "processes": args.processes,
                           "mode": args.mode, "cores": args.cores, "busy_ms": args.busy_ms, "sleep": args.sleep,
                           "connections": connections, "load_rps": rps, "master_nice": args.master_nice,
                           "results": rows,
                           "conditions": conditions()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
