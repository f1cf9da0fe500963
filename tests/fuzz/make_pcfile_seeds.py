"""Writes the seeds of fuzz_pcfile from files the real prometheus_client
writes: PyPI's (the running Python's, value-and-timestamp layout) and,
when it is installed, Debian's python3-prometheus-client 0.16 run by
/usr/bin/python3 (value-only layout). A seed is two bytes (the file's kind
and gauge mode, whether gpx's names are reserved) then the used part of
the file.

    .venv/bin/python tests/fuzz/make_pcfile_seeds.py
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

SEEDS = Path(__file__).resolve().parent / "seeds" / "fuzz_pcfile"
KINDS = ("counter", "gauge", "histogram", "summary")
MODES = ("all", "liveall", "min", "livemin", "max", "livemax", "sum", "livesum", "mostrecent", "livemostrecent")

# Metrics of every type, names that need escaping, the names of gpx's own
# families (as the Gunicorn exporter wrote them), a help with quotes.
APP = r'''
import prometheus_client as pc
from prometheus_client import Counter, Gauge, Histogram, Summary
modes = [m for m in ("all", "max", "livesum", "mostrecent") if m in Gauge._MULTIPROC_MODES]
Counter("app_hits", 'Hits "quoted" \\ back.', ["path"]).labels(path='/a "b"\n').inc(3)
Counter("gunicorn_worker_requests", "Requests.", ["worker_id"]).labels(worker_id="1").inc(7)
Histogram("gunicorn_worker_request_duration_seconds", "D.", ["worker_id"]).labels(worker_id="1").observe(0.2)
Histogram("app_latency_seconds", "Latency.", buckets=(-1.0, 0.5, 2.0)).observe(-3)
Summary("app_size_bytes", "Sizes.").observe(12)
for m in modes:
    Gauge(f"app_{m}", "G.", ["k"], multiprocess_mode=m).labels(k="x").set(4)
try:
    Counter("app.dotted", "Dotted.", ["my.label"]).labels(**{"my.label": "v"}).inc()
    Gauge("app dotted\nline", "Odd.", multiprocess_mode="max").set(1)
except ValueError:
    pass  # releases that refuse such names
'''


def write_files(python: str, directory: str) -> None:
    env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=directory)
    env.pop("PYTHONPATH", None)
    subprocess.run([python, "-c", APP], env=env, check=True)


def seed_prefix(file_name: str) -> int:
    parts = file_name[:-3].split("_")
    kind = KINDS.index(parts[0])
    if parts[0] == "gauge":
        return kind + len(KINDS) * (MODES.index(parts[1]))
    return kind


def main() -> None:
    SEEDS.mkdir(parents=True, exist_ok=True)
    pythons = [("pypi", sys.executable)]
    debian = Path("/usr/lib/python3/dist-packages/prometheus_client")
    if debian.exists():
        pythons.append(("debian", "/usr/bin/python3"))
    for label, python in pythons:
        with tempfile.TemporaryDirectory() as d:
            write_files(python, d)
            for name in sorted(os.listdir(d)):
                data = Path(d, name).read_bytes()
                used = struct.unpack_from("i", data)[0]
                for reserve in (0, 1):
                    seed = bytes([seed_prefix(name), reserve]) + data[:used]
                    (SEEDS / f"{label}_{name[:-3].rsplit('_', 1)[0]}_{reserve}").write_bytes(seed)


if __name__ == "__main__":
    main()
