#!/usr/bin/env python3
"""Scrape cost at scale: /metrics render time and size by workers x cores.

For each layout, starts uWSGI with gpx (hello-world app), N workers of T
threads (or T gevent async cores), loads it with wrk so that the workers'
tables hold data, then times `--scrapes` GETs of /metrics over one
keep-alive connection: client-side median and p99, the body size, and the
render time gpx reports itself in gunicorn_exporter_scrape_duration_seconds.
The target (issue 19): under 5 ms at 64 workers x 16 cores, and a body size
that does not grow with the core count.

    .venv/bin/python tests/bench/scrape_scale.py
    .venv/bin/python tests/bench/scrape_scale.py --workers 8,64 --cores 1,16 --scrapes 50
    .venv/bin/python tests/bench/scrape_scale.py --workers 150 --cores 256 --mode gevent \
        --uwsgi-arg=--gpx-profile --uwsgi-arg=uwsgi-exporter --uwsgi-arg=--gpx-collect-cores --uwsgi-arg=true

Many workers on few CPUs is fine here: the workers are idle while scraped.
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import sys
import tempfile
import time
from pathlib import Path

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
    summary_ms,
    uwsgi_version,
    wait_port,
    write_json,
    wrk,
)


def with_plugin(args: list[str], plugin: str | None) -> list[str]:
    """gpx's arguments with `plugin` loaded instead of the build's."""
    if plugin is None:
        return args
    at = args.index("--plugin") + 1
    return [*args[:at], str(Path(plugin).resolve()), *args[at + 1:]]


PROTOBUF_ACCEPT = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"


def protobuf_series(port: int, count: int) -> dict:
    """Times `count` protobuf GETs of /metrics over one keep-alive connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    latencies, sizes = [], []
    try:
        for _ in range(count):
            start = time.perf_counter()
            conn.request("GET", "/metrics", headers={"Accept": PROTOBUF_ACCEPT})
            resp = conn.getresponse()
            body = resp.read()
            latencies.append(time.perf_counter() - start)
            if resp.status != 200 or not resp.getheader("Content-Type", "").startswith("application/vnd.google"):
                raise RuntimeError(f"/metrics answered {resp.status} {resp.getheader('Content-Type')}")
            sizes.append(len(body))
    finally:
        conn.close()
    return {"latencies": latencies, "sizes": sizes}


def one_layout(args, workers: int, cores: int) -> dict:
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        mp, metrics_port, redis = gpx_storage(tmp, args.storage)
        extra = [*with_plugin(gpx_args(args.uwsgi, mp, metrics_port, redis), args.plugin), *mode_args(args.mode, cores),
                 "--listen", "1024", *args.uwsgi_arg]
        if redis:
            extra += ["--gpx-redis-interval", "1"]
        started = time.monotonic()
        server = Server(f"scale-{workers}x{cores}", args.uwsgi, HELLO, tmp, workers, extra,
                        gevent=args.mode == "gevent", ready_timeout=300)
        try:
            wait_port(metrics_port)
            # Every worker must be up before the load, or the late ones hold no data.
            deadline = time.monotonic() + 300
            while len(server.workers()) < workers and time.monotonic() < deadline:
                time.sleep(0.2)
            startup = time.monotonic() - started
            _, sent = wrk(server.port, args.load_seconds, min(256, max(16, workers)))
            if redis:
                time.sleep(2.5)  # two publishes after the load
            series = scrape_series(metrics_port, args.scrapes)
            proto = protobuf_series(metrics_port, args.scrapes) if args.protobuf else None
        finally:
            server.stop()
            if redis:
                redis.stop()
    lat = summary_ms(series["latencies"])
    render = summary_ms(series["renders"])
    row = {"workers": workers, "cores": cores, "requests_sent": sent, "startup_s": round(startup, 1),
           "body_bytes": statistics.median(series["sizes"]), "body_bytes_min": min(series["sizes"]),
           "body_bytes_max": max(series["sizes"]), "uwsgi_bytes": series["uwsgi_bytes"], "latency": lat,
           "render": render}
    if proto is not None:
        row["protobuf"] = {"latency": summary_ms(proto["latencies"]), "body_bytes": statistics.median(proto["sizes"])}
    print(f"{workers:4d} workers x {cores:2d} {args.mode:9s}: scrape median {lat['median_ms']:7.2f} ms, "
          f"p99 {lat['p99_ms']:7.2f} ms; render (gpx) median {render['median_ms']:7.2f} ms, p99 "
          f"{render['p99_ms']:7.2f} ms; body {row['body_bytes']:.0f} bytes ({row['uwsgi_bytes']} of uwsgi_*); "
          f"{sent} requests before",
          flush=True)
    if proto is not None:
        p = row["protobuf"]
        print(f"{'':25s}  protobuf: scrape median {p['latency']['median_ms']:7.2f} ms, p99 "
              f"{p['latency']['p99_ms']:7.2f} ms; body {p['body_bytes']:.0f} bytes", flush=True)
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", default="8,64,256", help="comma-separated worker counts (default 8,64,256)")
    ap.add_argument("--cores", default="1,16", help="comma-separated cores per worker (default 1,16)")
    ap.add_argument("--mode", choices=("threads", "gevent"), default="threads",
                    help="what a core is when cores > 1 (default threads)")
    ap.add_argument("--storage", choices=("files", "redis"), default="files")
    ap.add_argument("--scrapes", type=int, default=200)
    ap.add_argument("--protobuf", action="store_true", help="also time as many protobuf scrapes")
    ap.add_argument("--load-seconds", type=float, default=3, help="wrk before the scrapes (default 3)")
    ap.add_argument("--uwsgi", default=SYSTEM_UWSGI)
    ap.add_argument("--plugin", help="this gpx_plugin.so instead of the build's (e.g. an older commit's, "
                    "to compare in one run)")
    ap.add_argument("--uwsgi-arg", action="append", default=[], metavar="ARG")
    ap.add_argument("--json", help="write the results to this file")
    args = ap.parse_args(argv)
    rows = []
    for workers in (int(w) for w in args.workers.split(",")):
        for cores in (int(c) for c in args.cores.split(",")):
            rows.append(one_layout(args, workers, cores))
    version = uwsgi_version(args.uwsgi)
    print(f"\nuWSGI {version}, storage {args.storage}, {args.scrapes} keep-alive scrapes per layout")
    for workers in sorted({r["workers"] for r in rows}):
        sizes = {r["cores"]: r["body_bytes"] for r in rows if r["workers"] == workers}
        if len(sizes) > 1:
            lo, hi = min(sizes.values()), max(sizes.values())
            print(f"{workers} workers: body size over cores {sorted(sizes)}: {lo:.0f}..{hi:.0f} bytes "
                  f"({(hi - lo) / lo * 100:.1f}% spread)")
    write_json(args.json, {"benchmark": "scrape_scale", "uwsgi": version, "mode": args.mode,
                           "storage": args.storage, "scrapes": args.scrapes, "conditions": conditions(),
                           "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
