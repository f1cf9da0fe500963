#!/usr/bin/env python3
"""Churn: gpx's footprint before and after many worker respawns.

Starts uWSGI with gpx, `max-requests = 1` and `min-worker-lifetime = 0`
(the defaults, 60 s in 2.0.21 and 10 s in 2.0.31, would throttle it) and
`forkbomb-delay = 0` (otherwise the master sleeps 2 s whenever more workers
than `processes` die within a second), then loads it with wrk until the
master has respawned `--respawns` workers, counted from its log. Before and
after: the scoreboard file's size and the multiproc directory's file count,
Redis keys and memory (with --storage redis, on a private redis-server),
the master's RSS, USS, mappings and open files, and the /metrics scrape
time (the lowest median of three series), body size, number of series and
characters of sample values. Target (issue 19): unchanged within 5%.

    .venv/bin/python tests/bench/churn.py --respawns 10000
    .venv/bin/python tests/bench/churn.py --respawns 10000 --storage redis

A respawn costs about 20-40 ms of CPU (the worker's Python teardown, the
fork), so 2 shared cores manage some tens per second; by default workers
skip Python's atexit teardown (`--skip-atexit-teardown`; gpx has no worker
exit hook, the master records each exit) to go faster: --full-teardown
turns that off. When --max-seconds runs out first, the report gives the
rate reached and the extrapolated time for the target.

--app prom-client runs tests/bench/apps/prom_client_app.py with its
prometheus_client files in gpx's multiproc directory, for the churn of
*.db files (one set per worker pid).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    APPS,
    HELLO,
    SYSTEM_UWSGI,
    VENV_SITE,
    RedisServer,
    Server,
    conditions,
    gpx_args,
    gpx_storage,
    scrape_series,
    summary_ms,
    uwsgi_version,
    wait_port,
    write_json,
    wrk_cmd,
)


def respawns(server: Server) -> int:
    return server.logpath.read_bytes().count(b"Respawned uWSGI worker")


def snapshot(server: Server, mp: Path, metrics_port: int, redis: RedisServer | None, scrapes: int) -> dict:
    master = psutil.Process(server.master)
    mem = master.memory_full_info()
    files = list(mp.iterdir())
    # Three series, the least disturbed one counts: on a shared machine the
    # median of one series moves by ±30% from series to series.
    runs = [scrape_series(metrics_port, scrapes) for _ in range(3)]
    series = min(runs, key=lambda r: statistics.median(r["latencies"]))
    body = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=30).read().decode()
    samples = [line for line in body.splitlines() if line and not line.startswith("#")]
    snap = {
        "scoreboard_bytes": sum(f.stat().st_size for f in files if f.name.endswith(".scoreboard")),
        "dir_files": len(files),
        "dir_bytes": sum(f.stat().st_size for f in files),
        "db_files": sum(1 for f in files if f.name.endswith(".db")),
        "master_rss": mem.rss, "master_uss": mem.uss, "master_pss": mem.pss, "master_vms": mem.vms,
        "master_maps": len(master.memory_maps(grouped=False)), "master_fds": master.num_fds(),
        "master_threads": master.num_threads(),
        "scrape_median_ms": summary_ms(series["latencies"])["median_ms"],
        "render_median_ms": min(summary_ms(r["renders"])["median_ms"] for r in runs),
        "body_bytes": statistics.median(series["sizes"]),
        # The body grows while counters gain digits; the number of series must not.
        "series": len(samples),
        "value_chars": sum(len(line.rsplit(" ", 1)[1]) for line in samples),
    }
    if redis:
        snap["redis_keys"] = redis.key_count()
        snap["redis_used_memory"] = redis.used_memory()
    return snap


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--respawns", type=int, default=10000)
    ap.add_argument("--processes", type=int, default=16)
    ap.add_argument("--max-seconds", type=float, default=1200, help="stop loading after this long (default 1200)")
    ap.add_argument("--storage", choices=("files", "redis"), default="files")
    ap.add_argument("--app", choices=("hello", "prom-client"), default="hello")
    ap.add_argument("--full-teardown", action="store_true", help="let workers run Python's atexit teardown")
    ap.add_argument("--scrapes", type=int, default=50, help="scrapes timed before and after (default 50)")
    ap.add_argument("--uwsgi", default=SYSTEM_UWSGI)
    ap.add_argument("--uwsgi-arg", action="append", default=[], metavar="ARG")
    ap.add_argument("--json", help="write the results to this file")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        mp, metrics_port, redis = gpx_storage(tmp, args.storage)
        extra = [*gpx_args(args.uwsgi, mp, metrics_port, redis), "--max-requests", "1",
                 "--min-worker-lifetime", "0", "--forkbomb-delay", "0", "--listen", "1024", *args.uwsgi_arg]
        if not args.full_teardown:
            extra.append("--skip-atexit-teardown")
        if redis:
            extra += ["--gpx-redis-interval", "1"]
        app = HELLO
        if args.app == "prom-client":
            app = APPS / "prom_client_app.py"
            extra += ["--pythonpath", str(VENV_SITE), "--env", f"PROMETHEUS_MULTIPROC_DIR={mp}"]
        server = Server("churn", args.uwsgi, app, tmp, args.processes, extra, ready_timeout=120)
        try:
            wait_port(metrics_port)
            time.sleep(3 if redis else 1)  # the first publish
            before = snapshot(server, mp, metrics_port, redis, args.scrapes)
            start_respawns = respawns(server)
            started = time.monotonic()
            while respawns(server) - start_respawns < args.respawns:
                left = args.max_seconds - (time.monotonic() - started)
                if left <= 0:
                    break
                subprocess.run(wrk_cmd(server.port, min(10.0, max(1.0, left)), args.processes),
                               capture_output=True, text=True)
                done = respawns(server) - start_respawns
                elapsed = time.monotonic() - started
                print(f"{done:6d} respawns in {elapsed:6.0f} s ({done / elapsed:5.1f}/s)", flush=True)
            elapsed = time.monotonic() - started
            done = respawns(server) - start_respawns
            time.sleep(3 if redis else 1)  # the workers settle, Redis gets a publish
            after = snapshot(server, mp, metrics_port, redis, args.scrapes)
        finally:
            server.stop()
            if redis:
                redis.stop()

    rate = done / elapsed if elapsed else 0.0
    version = uwsgi_version(args.uwsgi)
    print(f"\nuWSGI {version}, {args.processes} processes, app {args.app}, storage {args.storage}, "
          f"{'full teardown' if args.full_teardown else '--skip-atexit-teardown'}")
    print(f"respawns: {done} in {elapsed:.0f} s ({rate:.1f}/s)")
    if done < args.respawns:
        print(f"target {args.respawns} not reached within --max-seconds; at this rate it takes "
              f"{args.respawns / rate:.0f} s" if rate else "no respawns")
    changes = {}
    print(f"{'':22s} {'before':>14s} {'after':>14s} {'change':>8s}")
    for key in before:
        b, a = before[key], after[key]
        change = (a - b) / b * 100 if b else (0.0 if a == b else float("inf"))
        changes[key] = change
        print(f"{key:22s} {b:14.6g} {a:14.6g} {change:7.1f}%")
    write_json(args.json, {"benchmark": "churn", "uwsgi": version, "processes": args.processes, "app": args.app,
                           "storage": args.storage, "full_teardown": args.full_teardown, "target": args.respawns,
                           "respawns": done, "seconds": elapsed, "rate_per_s": rate, "before": before,
                           "after": after, "change_percent": changes, "conditions": conditions()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
