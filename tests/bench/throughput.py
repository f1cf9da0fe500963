#!/usr/bin/env python3
"""Requests/s of a hello-world app on plain uWSGI and with gpx, in one run.

Both servers run side by side for the whole run (same binary, same app,
`processes = 2`); wrk loads one at a time, alternating which goes first in
each pair of rounds, so drift of the machine hits both alike. The result is
the median of the per-round ratios gpx / plain, with CPU time per request of
the workers beside it.

    .venv/bin/python tests/bench/throughput.py --rounds 10 --seconds 5

Needs wrk (Debian package) and build/system/gpx_plugin.so (`make`).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HELLO = ROOT / "tests" / "bench" / "hello.py"
TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


class Server:
    def __init__(self, name: str, uwsgi: str, python_args: list[str], extra: list[str], tmp: Path, processes: int,
                 threads: int, cpus: str | None = None):
        self.name = name
        self.port = free_port()
        self.pidfile = tmp / f"{name}.pid"
        cmd = [*(["taskset", "-c", cpus] if cpus else []), uwsgi, *python_args, "--http-socket", f"127.0.0.1:{self.port}", "--wsgi-file", str(HELLO),
               "--master", "--processes", str(processes), "--disable-logging", "--pidfile", str(self.pidfile),
               "--die-on-term", *extra]
        if threads > 1:
            cmd += ["--threads", str(threads)]
        self.log = open(tmp / f"{name}.log", "wb")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_http(f"http://127.0.0.1:{self.port}/")

    def workers(self) -> list[int]:
        master = int(self.pidfile.read_text())
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(master)], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]

    def cpu_ticks(self) -> int:
        total = 0
        for pid in self.workers():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.log.close()


WRK_CPUS: str | None = None


def wrk(port: int, seconds: float, connections: int) -> tuple[float, int]:
    out = subprocess.run([*(["taskset", "-c", WRK_CPUS] if WRK_CPUS else []), "wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", f"http://127.0.0.1:{port}/"],
                         capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    return rps, total


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=10, help="paired rounds (default 10)")
    ap.add_argument("--seconds", type=float, default=5, help="seconds per wrk run (default 5)")
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--uwsgi", default="/usr/bin/uwsgi-core")
    ap.add_argument("--plugin", default=str(ROOT / "build/system/gpx_plugin.so"))
    ap.add_argument("--uwsgi-arg", action="append", default=[], metavar="ARG",
                    help="an option for both servers, e.g. --uwsgi-arg=--gevent=100 (repeatable)")
    ap.add_argument("--gpx-arg", action="append", default=[], metavar="ARG",
                    help="an option for the gpx server only, e.g. --gpx-arg=--gpx-redis=true (repeatable)")
    ap.add_argument("--pin", action="store_true",
                    help="run wrk on CPU 0 and both servers on CPU 1 (taskset): less scheduler noise on 2 cores")
    args = ap.parse_args()
    global WRK_CPUS
    server_cpus = None
    if args.pin:
        WRK_CPUS, server_cpus = "0", "1"

    # Debian's binary loads Python as a plugin; PyPI's has it built in.
    python_args = ["--plugin", "python3"] if args.uwsgi.startswith("/usr/") else []
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        gpx_extra = ["--plugin", args.plugin, "--gpx-port", str(free_port()), "--gpx-bind", "127.0.0.1",
                     "--gpx-multiproc-dir", str(tmp / "multiproc"), *args.uwsgi_arg, *args.gpx_arg]
        plain = Server("plain", args.uwsgi, python_args, list(args.uwsgi_arg), tmp, args.processes, args.threads,
                       server_cpus)
        gpx = Server("gpx", args.uwsgi, python_args, gpx_extra, tmp, args.processes, args.threads, server_cpus)
        try:
            for s in (plain, gpx):  # warm both
                wrk(s.port, 1, args.connections)
            ratios, cpu_ratios = [], []
            rows = []
            for r in range(args.rounds):
                order = (plain, gpx) if r % 2 == 0 else (gpx, plain)
                result = {}
                for s in order:
                    before = s.cpu_ticks()
                    rps, total = wrk(s.port, args.seconds, args.connections)
                    cpu_us = (s.cpu_ticks() - before) / TICKS * 1e6 / max(total, 1)
                    result[s.name] = (rps, cpu_us)
                ratio = result["gpx"][0] / result["plain"][0]
                cpu_ratio = result["plain"][1] / result["gpx"][1] if result["gpx"][1] else float("nan")
                ratios.append(ratio)
                cpu_ratios.append(cpu_ratio)
                rows.append((r + 1, result["plain"][0], result["gpx"][0], ratio, result["plain"][1],
                             result["gpx"][1]))
                print(f"round {r + 1:2d}: plain {result['plain'][0]:9.0f} req/s  gpx {result['gpx'][0]:9.0f} req/s"
                      f"  ratio {ratio:.3f}  cpu/req plain {result['plain'][1]:.1f} us gpx {result['gpx'][1]:.1f} us",
                      flush=True)
        finally:
            gpx.stop()
            plain.stop()
    version = subprocess.run([args.uwsgi, "--version"], capture_output=True, text=True).stdout.strip()
    print()
    print(f"uWSGI {version}, processes {args.processes}, threads {args.threads}, {args.rounds} rounds x "
          f"{args.seconds:g} s, wrk -t1 -c{args.connections}, both: {' '.join(args.uwsgi_arg) or '-'}, "
          f"gpx only: {' '.join(args.gpx_arg) or '-'}{', pinned (wrk CPU 0, servers CPU 1)' if args.pin else ''}")
    print(f"median ratio gpx/plain requests/s: {statistics.median(ratios):.3f} "
          f"(min {min(ratios):.3f}, max {max(ratios):.3f})")
    print(f"median ratio plain/gpx CPU per request: {statistics.median(cpu_ratios):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
