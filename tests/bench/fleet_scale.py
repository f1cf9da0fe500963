#!/usr/bin/env python3
"""The fleet view at scale: /metrics/fleet render time and size for many
instances of many workers.

Starts one real uWSGI with gpx (hello-world app, `--workers` processes)
publishing to a private redis-server, loads it with wrk so that its
counters hold data, waits for a publish, and copies its snapshot (written
by gpx's own encoder, counters and the extension of what the master saw)
to `--instances` - 1 more instance names, each added to the index as a
publishing instance would be. Then times `--scrapes` GETs of /metrics/fleet
over one keep-alive connection, in the text format and in OpenMetrics, and
with gzip: client-side median and p99 (reading every snapshot from Redis
included), the body size, and the page's series count. Checks the page:
every instance shown, the fleet's sums `--instances` times one instance's.

    .venv/bin/python tests/bench/fleet_scale.py
    .venv/bin/python tests/bench/fleet_scale.py --instances 200 --workers 16 --scrapes 30
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    HELLO,
    SYSTEM_UWSGI,
    RedisServer,
    Server,
    conditions,
    free_port,
    gpx_args,
    summary_ms,
    uwsgi_version,
    wait_port,
    write_json,
    wrk,
)

PREFIX = "gpxbench"


def redis_bytes(redis: RedisServer, *args: str, data: bytes | None = None) -> bytes:
    cmd = ["redis-cli", "-p", str(redis.port), *(["-x"] if data is not None else []), *args]
    return subprocess.run(cmd, input=data, capture_output=True, check=True).stdout


def publish_copies(redis: RedisServer, blob: bytes, names: list[str]) -> None:
    """Each name's key holds the blob, and the index lists it as just published."""
    now = str(int(time.time()))
    for name in names:
        redis_bytes(redis, "SET", f"{PREFIX}:gpx:instance:{name}", data=blob)
    redis.cli("ZADD", f"{PREFIX}:gpx:instances", *[x for name in names for x in (now, name)])


def scrapes(port: int, count: int, headers: dict) -> tuple[list[float], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    latencies, body = [], b""
    try:
        for _ in range(count):
            start = time.perf_counter()
            conn.request("GET", "/metrics/fleet", headers=headers)
            resp = conn.getresponse()
            body = resp.read()
            latencies.append(time.perf_counter() - start)
            if resp.status != 200:
                raise RuntimeError(f"/metrics/fleet answered {resp.status}")
    finally:
        conn.close()
    return latencies, body


# What the extension of the snapshot adds to the view (the rest: the counter families).
LIVE_FAMILIES = ("gunicorn_worker_memory_bytes", "gunicorn_worker_cpu_percent", "gunicorn_worker_uptime_seconds",
                 "gunicorn_worker_cpu_seconds_total", "gunicorn_worker_state", "gunicorn_workers_desired",
                 "gunicorn_workers", "gunicorn_listen_backlog", "gunicorn_listen_backlog_limit",
                 "gunicorn_requests_in_progress", "gunicorn_exporter_storage_up",
                 "gunicorn_exporter_storage_errors_total", "gunicorn_exporter_fleet_snapshots_skipped")


def bytes_by_family(text: str) -> dict[str, int]:
    out: dict[str, int] = {}
    family = ""
    for line in text.splitlines(keepends=True):
        if line.startswith("# HELP "):
            family = line.split(" ", 3)[2]
        out[family] = out.get(family, 0) + len(line.encode())
    return out


def value(text: str, line_start: str) -> float:
    for line in text.splitlines():
        if line.startswith(line_start + " "):
            return float(line.rsplit(" ", 1)[1])
    raise RuntimeError(f"no {line_start!r} on the page")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--instances", type=int, default=200)
    ap.add_argument("--workers", type=int, default=16)
    ap.add_argument("--scrapes", type=int, default=30)
    ap.add_argument("--load-seconds", type=float, default=3)
    ap.add_argument("--uwsgi", default=SYSTEM_UWSGI)
    ap.add_argument("--json", help="write the results to this file")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        (tmp / "multiproc").mkdir()
        redis = RedisServer(tmp)
        metrics_port = free_port()
        extra = [*gpx_args(args.uwsgi, tmp / "multiproc", metrics_port, redis, prefix=PREFIX),
                 "--gpx-redis-interval", "1", "--gpx-instance", "bench-000", "--listen", "1024"]
        server = Server("fleet", args.uwsgi, HELLO, tmp, args.workers, extra, ready_timeout=300)
        try:
            wait_port(metrics_port)
            deadline = time.monotonic() + 300
            while len(server.workers()) < args.workers and time.monotonic() < deadline:
                time.sleep(0.2)
            _, sent = wrk(server.port, args.load_seconds, max(16, args.workers))
            time.sleep(2.5)  # two publishes after the load
            own = redis_bytes(redis, "--raw", "GET", f"{PREFIX}:gpx:instance:bench-000")[:-1]
            if not own.startswith(b"GPXSNAP1") or b"GPXSNAPX" not in own:
                raise RuntimeError("the instance's snapshot is not of this gpx")
            names = [f"bench-{i:03d}" for i in range(1, args.instances)]
            publish_copies(redis, own, names)
            results = {}
            for label, headers in (("text", {}),
                                   ("openmetrics", {"Accept": "application/openmetrics-text; version=1.0.0"}),
                                   ("text, gzip", {"Accept-Encoding": "gzip"})):
                latencies, body = scrapes(metrics_port, args.scrapes, headers)
                text = gzip.decompress(body).decode() if label.endswith("gzip") else body.decode()
                series = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
                results[label] = {"latency": summary_ms(latencies), "body_bytes": len(body), "series": series}
                if label == "text":
                    page = text
            one = value(page, 'gunicorn_requests_total{gpx_instance="bench-000",method="GET",status="200"}')
            fleet = value(page, 'gunicorn_requests_total{method="GET",status="200"}')
            assert value(page, "gunicorn_fleet_instances") == args.instances
            assert fleet == one * args.instances, (fleet, one)
            assert value(page, 'gunicorn_workers{state="idle"}') == args.instances * args.workers
        finally:
            server.stop()
            redis.stop()
    version = uwsgi_version(args.uwsgi)
    print(f"uWSGI {version}; {args.instances} instances x {args.workers} workers, snapshot {len(own)} bytes, "
          f"{sent} requests counted by each; {args.scrapes} keep-alive scrapes of /metrics/fleet each:")
    for label, r in results.items():
        lat = r["latency"]
        print(f"  {label:12s} median {lat['median_ms']:8.2f} ms, p99 {lat['p99_ms']:8.2f} ms; "
              f"body {r['body_bytes']} bytes, {r['series']} series", flush=True)
    sizes = bytes_by_family(page)
    live = sum(v for k, v in sizes.items() if k in LIVE_FAMILIES)
    print(f"text page by family: the snapshot extension's families {live} bytes "
          f"({live / len(page.encode()) * 100:.1f}%); largest:")
    for family, size in sorted(sizes.items(), key=lambda kv: -kv[1])[:6]:
        print(f"  {family:45s} {size:9d} bytes")

    write_json(args.json, {"benchmark": "fleet_scale", "uwsgi": version, "instances": args.instances,
                           "workers": args.workers, "snapshot_bytes": len(own), "scrapes": args.scrapes,
                           "conditions": conditions(), "results": results,
                           "bytes_by_family": sizes})
    return 0


if __name__ == "__main__":
    sys.exit(main())
