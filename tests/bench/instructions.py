#!/usr/bin/env python3
"""Instructions gpx's after-request hook costs per request, counted by callgrind.

Runs a one-process uWSGI with gpx under `valgrind --tool=callgrind`, sends
50 warm-up requests, zeroes the counters of its own processes
(callgrind_control), sends N hello-world requests, stops it, and divides
the hook's inclusive instruction count by the number of times the hook ran
(callgrind's own call count, not the number of requests sent).
Instruction counts do not depend on the machine's load, so the figure
repeats from run to run. --breakdown lists the instructions of each
function of gpx_plugin.so per request; --cache-sim adds callgrind's cache
simulation (first-level and last-level misses in the hook).
--whole-worker runs plain uWSGI and uWSGI with gpx in turn and compares
everything the worker process executes per request (all its threads:
accept, parsing, the app, the hook, the loop engine): the noise-free form
of the requests/s ratio. --mode threads / gevent runs the worker with 4
threads or 100 gevent cores.

    .venv/bin/python tests/bench/instructions.py --requests 1000 --breakdown
    .venv/bin/python tests/bench/instructions.py --requests 1000 --client curl
    .venv/bin/python tests/bench/instructions.py --requests 1000 --cache-sim
    .venv/bin/python tests/bench/instructions.py --requests 1000 --whole-worker

Clients: urllib (one connection per request, from this script), curl (one
curl process per request), curl-one (one curl process for all requests;
uWSGI's http-socket closes each connection all the same).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import HELLO, SYSTEM_PLUGIN, SYSTEM_UWSGI, conditions, free_port, mode_args, wait_http, write_json  # noqa: E402

HOOK = "gpx_after_request"
# The function ending every request in every loop engine.
REQUEST_END = "uwsgi_close_request"
WARMUP = 50


def send(client: str, port: int, count: int) -> None:
    url = f"http://127.0.0.1:{port}/"
    if client == "urllib":
        for _ in range(count):
            urllib.request.urlopen(url, timeout=30).read()
    elif client == "curl":
        for _ in range(count):
            subprocess.run(["curl", "-s", "-o", "/dev/null", url], check=True)
    elif client == "curl-one":  # one curl process, many requests
        subprocess.run(["curl", "-s", *(["-o", "/dev/null", url] * count)], check=True)
    else:
        raise ValueError(client)


def annotate(out: Path, inclusive: bool, events: str | None = None) -> str:
    cmd = ["callgrind_annotate", f"--inclusive={'yes' if inclusive else 'no'}", "--threshold=100"]
    if events:
        cmd.append(f"--show={events}")
    return subprocess.run([*cmd, str(out)], capture_output=True, text=True).stdout


def hook_calls(out: Path, function: str = HOOK) -> int:
    """How many times `function` was called, from the profile's call records."""
    calls = 0
    current_fn = None
    names: dict[str, str] = {}
    target = False
    for line in out.read_text(errors="replace").splitlines():
        m = re.match(r"^cfn=\((\d+)\)(?: (.*))?$", line)
        if m:
            if m.group(2):
                names[m.group(1)] = m.group(2)
            target = names.get(m.group(1), "") == function
            continue
        m = re.match(r"^fn=\((\d+)\)(?: (.*))?$", line)
        if m:
            if m.group(2):
                names[m.group(1)] = m.group(2)
            current_fn = names.get(m.group(1))
            target = False
            continue
        m = re.match(r"^calls=(\d+) ", line)
        if m and target:
            calls += int(m.group(1))
            target = False
    del current_fn
    return calls


def run_profiled(tmp: Path, with_gpx: bool, client: str, requests: int, cache_sim: bool,
                 mode: str = "processes") -> None:
    """Runs uWSGI (one worker, with or without gpx) under callgrind and sends it `requests` requests."""
    port = free_port()
    gpx = ["--plugin", str(SYSTEM_PLUGIN), "--gpx-port", str(free_port()), "--gpx-bind", "127.0.0.1",
           "--gpx-multiproc-dir", str(tmp / "mp")] if with_gpx else []
    cmd = ["valgrind", "--tool=callgrind", "--trace-children=yes", f"--callgrind-out-file={tmp}/cg.%p",
           *(["--cache-sim=yes"] if cache_sim else []),
           SYSTEM_UWSGI, "--plugin", "python3,gevent_python3" if mode == "gevent" else "python3", *gpx,
           "--master", "--http-socket", f"127.0.0.1:{port}", "--wsgi-file", str(HELLO), "--processes", "1",
           "--disable-logging", *mode_args(mode, {"processes": 1, "threads": 4, "gevent": 100}[mode])]
    log = open(tmp / "log", "wb")
    # A fixed hash seed: the same dict layouts in both runs, fewer instructions that differ by chance.
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                            env={**os.environ, "PYTHONHASHSEED": "0"})
    try:
        wait_http(f"http://127.0.0.1:{port}/", timeout=120)
        # Warm up (Python's first requests import and allocate), then count from zero.
        send("urllib", port, WARMUP)
        ours = [str(proc.pid), *subprocess.run(["ps", "-o", "pid=", "--ppid", str(proc.pid)], capture_output=True,
                                                text=True).stdout.split()]
        subprocess.run(["callgrind_control", "--zero", *ours], capture_output=True, check=True)
        send(client, port, requests)
        time.sleep(1)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(120)
        log.close()


def process_total(out: Path) -> int:
    """Every instruction the process executed since the counters were zeroed (all its threads)."""
    m = re.search(r"^(?:summary|totals):\s+(\d+)", out.read_text(errors="replace"), re.M)
    return int(m.group(1))


def whole_worker(args) -> int:
    """Everything the worker executes per request (uWSGI's request loop, the
    app, the hook), with and without gpx: the instruction-count form of the
    requests/s ratio, free of the machine's noise."""
    result = {"client": args.client, "mode": args.mode, "requests_sent": args.requests, "conditions": conditions()}
    for name, with_gpx in (("plain", False), ("gpx", True)):
        with tempfile.TemporaryDirectory() as tmpdir:
            tmp = Path(tmpdir)
            run_profiled(tmp, with_gpx, args.client, args.requests, False, args.mode)
            best = max(tmp.glob("cg.*"), key=lambda out: hook_calls(out, REQUEST_END))
            served = hook_calls(best, REQUEST_END)
            total = process_total(best)
            result[name] = {"requests": served, "instructions": total, "per_request": total / served}
            print(f"{name:6s} worker: {total} instructions over {served} requests = "
                  f"{total / served:.0f} per request", flush=True)
    added = result["gpx"]["per_request"] - result["plain"]["per_request"]
    result["added_per_request"] = added
    result["ratio_plain_over_gpx"] = result["plain"]["per_request"] / result["gpx"]["per_request"]
    print(f"gpx adds {added:.0f} instructions per request to the worker's "
          f"{result['plain']['per_request']:.0f} (ratio plain/gpx {result['ratio_plain_over_gpx']:.4f})")
    write_json(args.json, result)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--client", choices=("urllib", "curl", "curl-one"), default="urllib")
    ap.add_argument("--breakdown", action="store_true", help="instructions per gpx function per request")
    ap.add_argument("--cache-sim", action="store_true", help="simulate caches (slower): report misses")
    ap.add_argument("--mode", choices=("processes", "threads", "gevent"), default="processes",
                    help="one worker, alone (default), with 4 threads, or with 100 gevent cores")
    ap.add_argument("--whole-worker", action="store_true",
                    help="compare everything the worker executes per request with and without gpx")
    ap.add_argument("--json", help="write the results to this file")
    args = ap.parse_args(argv)
    if args.whole_worker:
        return whole_worker(args)
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        run_profiled(tmp, True, args.client, args.requests, args.cache_sim, args.mode)
        for out in sorted(tmp.glob("cg.*")):
            calls = hook_calls(out)
            if not calls:
                continue
            events = "Ir,D1mr,D1mw,DLmr,DLmw,I1mr,ILmr" if args.cache_sim else None
            text = annotate(out, True, events)
            # The hook's inclusive count covers what it calls and what the
            # compiler inlined into it from the headers.
            line = next(ln for ln in text.splitlines() if re.search(r":gpx_after_request \[", ln))
            # "27,270 (0.00%)  12 (0.00%) ...  file:function [object]": one count per event.
            # callgrind_annotate prints a zero count as ".".
            counts = [0 if x == "." else int(x.replace(",", "")) for x in
                      re.sub(r"\([^)]*\)", " ", line.rsplit(" ", 2)[0]).split() if re.fullmatch(r"[\d,]+|\.", x)]
            total = counts[0]  # Ir is shown first
            result = {"client": args.client, "mode": args.mode, "requests_sent": args.requests, "hook_calls": calls,
                      "instructions": total, "per_request": total / calls, "conditions": conditions()}
            print(f"{HOOK}: {total} instructions over {calls} calls = {total / calls:.1f} per request "
                  f"(client {args.client}, {args.requests} requests sent)")
            if args.cache_sim:
                shown = re.search(r"^Events shown:\s+(.*)$", text, re.M).group(1).split()
                by_event = dict(zip(shown, counts, strict=False))
                names = [n for n in shown if n != "Ir"]
                misses = [by_event[n] for n in names]
                result["misses"] = dict(zip(names, misses, strict=True))
                print("  cache misses in the hook: " + ", ".join(
                    f"{n} {v} ({v / calls:.3f}/request)" for n, v in zip(names, misses, strict=True)))
            if args.breakdown:
                self_text = annotate(out, False, "Ir")
                rows = []
                for line in self_text.splitlines():
                    fm = re.match(r"^\s*([\d,]+) \([^)]*\)\s+(\S+) \[(\S+)\]", line)
                    if fm and "gpx_plugin" in fm.group(3):
                        rows.append((int(fm.group(1).replace(",", "")), fm.group(2), fm.group(3)))
                result["breakdown"] = [{"self": n, "per_request": n / calls, "function": f, "object": o}
                                       for n, f, o in rows]
                print("  self instructions of gpx_plugin.so's functions per hook call, over the counted requests:")
                for n, f, o in rows[:25]:
                    print(f"    {n / calls:10.1f}  {n:12d}  {f}  [{Path(o).name}]")
            write_json(args.json, result)
            return 0
    print(f"no worker profile mentions {HOOK}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
