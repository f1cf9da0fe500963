#!/usr/bin/env python3
"""Instructions gpx's after-request hook costs per request, counted by callgrind.

Runs a one-process uWSGI with gpx under `valgrind --tool=callgrind
--toggle-collect=gpx_after_request` (callgrind counts only while the hook
runs: its own code, what the compiler inlined into it and what it calls),
sends 50 warm-up requests, zeroes the counters of its own processes
(callgrind_control), sends N hello-world requests, stops it, and divides
the profile's total by the number of times the hook ran (callgrind's own
call count, not the number of requests sent): the whole count.
--count inclusive reads the hook's inclusive line of callgrind_annotate
instead, the method used before, which misses the code inlined from
src/gpx_scoreboard.h and src/gpx_catalog.h (callgrind files it under
entries of its own); it is kept to show the difference.
Instruction counts do not depend on the machine's load, so the figure
repeats from run to run. --breakdown lists the instructions of each
function of gpx_plugin.so per request; --lines the instructions of each
source line of gpx per request (callgrind_annotate --auto=yes); --cache-sim
adds callgrind's cache simulation (first-level and last-level misses in the
hook) and the cache lines the hook writes per request.
--whole-worker runs plain uWSGI and uWSGI with gpx in turn and compares
everything the worker process executes per request (all its threads:
accept, parsing, the app, the hook, the loop engine): the noise-free form
of the requests/s ratio; --diff adds the functions whose instructions per
request differ most between the two. --mode threads / gevent runs the worker with 4
threads or 100 gevent cores. --uwsgi-arg passes one more argument to
uWSGI with gpx (an option of gpx's, say), --header sends a header with
every request (the warm-up's too): the exemplar cases,

    .venv/bin/python tests/bench/instructions.py --requests 1000 --uwsgi-arg=--gpx-exemplars --uwsgi-arg=true \
        --header 'traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'

    .venv/bin/python tests/bench/instructions.py --requests 1000 --breakdown
    .venv/bin/python tests/bench/instructions.py --requests 1000 --client curl
    .venv/bin/python tests/bench/instructions.py --requests 1000 --cache-sim
    .venv/bin/python tests/bench/instructions.py --requests 1000 --whole-worker

    .venv/bin/python tests/bench/instructions.py --requests 1000 --uwsgi .venv/bin/uwsgi --client keepalive

Clients: urllib (one connection per request, from this script), curl (one
curl process per request), curl-one (one curl process for all requests;
uWSGI's http-socket closes each connection all the same), keepalive (one
HTTP/1.1 connection for all requests, to an --http11-socket). --uwsgi
picks the binary: Debian's /usr/bin/uwsgi-core (default, with
build/system) or .venv/bin/uwsgi (PyPI's, with build/pypi); --plugin
another gpx_plugin.so for it.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    APPS,
    HELLO,
    ROOT,
    SYSTEM_UWSGI,
    conditions,
    free_port,
    is_system,
    mode_args,
    plugin_for,
    python_args,
    wait_http,
    write_json,
)

HOOK = "gpx_after_request"
# The function ending every request in every loop engine.
REQUEST_END = "uwsgi_close_request"
WARMUP = 50


# What --method POST sends: a small form, as a login or a search would.
BODY = b"q=" + b"x" * 98


def send(client: str, port: int, count: int, method: str = "GET", status: int = 200,
         headers: dict[str, str] | None = None) -> None:
    path = "/404" if status == 404 else "/"
    url = f"http://127.0.0.1:{port}{path}"
    body = BODY if method == "POST" else None
    headers = headers or {}
    if client == "keepalive":  # one connection, every request on it
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for _ in range(count):
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            if response.status != status:
                raise RuntimeError(f"answered {response.status}, not {status}")
            if response.will_close:
                raise RuntimeError("the server closed a keep-alive connection")
        conn.close()
    elif client == "urllib":
        for _ in range(count):
            try:
                urllib.request.urlopen(urllib.request.Request(url, data=body, method=method, headers=headers),
                                       timeout=30).read()
            except urllib.error.HTTPError as e:
                if e.code != status:
                    raise
                e.read()
    elif client == "curl":
        h = [a for k, v in headers.items() for a in ("-H", f"{k}: {v}")]
        for _ in range(count):
            subprocess.run(["curl", "-s", *h, "-o", "/dev/null", url], check=True)
    elif client == "curl-one":  # one curl process, many requests
        h = [a for k, v in headers.items() for a in ("-H", f"{k}: {v}")]
        subprocess.run(["curl", "-s", *h, *(["-o", "/dev/null", url] * count)], check=True)
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


def calls_inside(out: Path, function: str = HOOK) -> int:
    """Calls made from gpx's code to other functions while the hook ran (in a
    profile collected only inside the hook): the out-of-line helpers' calls."""
    names: dict[str, str] = {}
    caller = callee = ""
    total = 0
    for line in out.read_text(errors="replace").splitlines():
        m = re.match(r"^(c?fn)=\((\d+)\)(?: (.*))?$", line)
        if m:
            if m.group(3):
                names[m.group(2)] = m.group(3)
            if m.group(1) == "fn":
                caller = names.get(m.group(2), "")
            else:
                callee = names.get(m.group(2), "")
            continue
        m = re.match(r"^calls=(\d+) ", line)
        if m and caller.startswith("gpx_") and callee != function:
            total += int(m.group(1))
    return total


def gevent_env(uwsgi: str, mode: str) -> dict[str, str]:
    """PyPI's uwsgi has gevent built in, its venv not the module: Debian's
    python3-gevent (built for the same CPython) on PYTHONPATH."""
    return {"PYTHONPATH": "/usr/lib/python3/dist-packages"} if mode == "gevent" and not is_system(uwsgi) else {}


def run_profiled(tmp: Path, with_gpx: bool, client: str, requests: int, cache_sim: bool,
                 mode: str = "processes", uwsgi: str = SYSTEM_UWSGI, plugin: str | None = None,
                 whole_hook: bool = False, method: str = "GET", status: int = 200,
                 uwsgi_args: list[str] | None = None, headers: dict[str, str] | None = None) -> None:
    """Runs uWSGI (one worker, with or without gpx) under callgrind and sends it `requests` requests.
    whole_hook: count only inside the hook (--toggle-collect). uwsgi_args: more arguments for uWSGI
    (gpx's options with gpx, e.g. --gpx-exemplars true); headers: sent with every request, the
    warm-up's included."""
    port = free_port()
    app = HELLO if (method, status) == ("GET", 200) else APPS / "status_app.py"
    gpx = ["--plugin", plugin or str(plugin_for(uwsgi)), "--gpx-port", str(free_port()), "--gpx-bind",
           "127.0.0.1", "--gpx-multiproc-dir", str(tmp / "mp")] if with_gpx else []
    socket = "--http11-socket" if client == "keepalive" else "--http-socket"
    engine = {"gevent": ["--plugin", "gevent_python3"],
              "asyncio": ["--plugin", "asyncio_python3,greenlet_python3"]}.get(mode, [])
    cores = {"processes": 1, "threads": 4, "gevent": 100, "asyncio": 100}[mode]
    cmd = ["valgrind", "--tool=callgrind", "--trace-children=yes", f"--callgrind-out-file={tmp}/cg.%p",
           *([f"--toggle-collect={HOOK}"] if whole_hook else []),
           *(["--cache-sim=yes"] if cache_sim else []),
           uwsgi, *python_args(uwsgi), *(engine if is_system(uwsgi) else []), *gpx,
           "--master", socket, f"127.0.0.1:{port}", "--wsgi-file", str(app), "--processes", "1",
           "--disable-logging",
           *(["--asyncio", str(cores), "--greenlet"] if mode == "asyncio" else mode_args(mode, cores)),
           *(uwsgi_args or [])]
    log = open(tmp / "log", "wb")
    # A fixed hash seed: the same dict layouts in both runs, fewer instructions that differ by chance.
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                            env={**os.environ, "PYTHONHASHSEED": "0", **gevent_env(uwsgi, mode)})
    try:
        wait_http(f"http://127.0.0.1:{port}/", timeout=120)
        # Warm up (Python's first requests import and allocate), then count from zero.
        send("urllib", port, WARMUP, method, status, headers)
        ours = [str(proc.pid), *subprocess.run(["ps", "-o", "pid=", "--ppid", str(proc.pid)], capture_output=True,
                                                text=True).stdout.split()]
        subprocess.run(["callgrind_control", "--zero", *ours], capture_output=True, check=True)
        send(client, port, requests, method, status, headers)
        time.sleep(1)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(120)
        log.close()


def process_total(out: Path) -> int:
    """Every instruction the process executed since the counters were zeroed (all its threads)."""
    m = re.search(r"^(?:summary|totals):\s+(\d+)", out.read_text(errors="replace"), re.M)
    return int(m.group(1))


def self_counts(out: Path) -> dict[str, int]:
    """Each function's self instructions in a profile, by "function [object]", read from
    the profile itself: a cost line counts for the current function unless it follows a
    calls= line (then it is the call's inclusive cost)."""
    names: dict[str, dict[str, str]] = {"ob": {}, "fn": {}}
    counts: dict[str, int] = {}
    ob = fn = ""
    after_call = False
    for line in out.read_text(errors="replace").splitlines():
        m = re.match(r"^(ob|fn|cob|cfn)=\((\d+)\)(?: (.*))?$", line)
        if m:
            kind = m.group(1).lstrip("c")
            if m.group(3):
                names[kind][m.group(2)] = m.group(3)
            if m.group(1) == "ob":
                ob = Path(names["ob"].get(m.group(2), "?")).name
            elif m.group(1) == "fn":
                fn = names["fn"].get(m.group(2), "?")
            continue
        if line.startswith("calls="):
            after_call = True
            continue
        m = re.match(r"^[+-]?\d+ (\d+)", line) or re.match(r"^\* (\d+)", line)
        if m:
            if not after_call:
                key = f"{fn} [{ob}]"
                counts[key] = counts.get(key, 0) + int(m.group(1))
            after_call = False
    return counts


def whole_worker(args) -> int:
    """Everything the worker executes per request (uWSGI's request loop, the
    app, the hook), with and without gpx: the instruction-count form of the
    requests/s ratio, free of the machine's noise."""
    result = {"client": args.client, "mode": args.mode, "uwsgi": args.uwsgi, "requests_sent": args.requests,
              "conditions": conditions()}
    selves: dict[str, dict[str, float]] = {}
    for name, with_gpx in (("plain", False), ("gpx", True)):
        with tempfile.TemporaryDirectory() as tmpdir:
            tmp = Path(tmpdir)
            run_profiled(tmp, with_gpx, args.client, args.requests, False, args.mode, args.uwsgi_path, args.plugin,
                         uwsgi_args=args.uwsgi_arg if with_gpx else args.uwsgi_arg_plain, headers=args.headers)
            best = max(tmp.glob("cg.*"), key=lambda out: hook_calls(out, REQUEST_END))
            served = hook_calls(best, REQUEST_END)
            total = process_total(best)
            result[name] = {"requests": served, "instructions": total, "per_request": total / served}
            if args.diff:
                selves[name] = {f: n / served for f, n in self_counts(best).items()}
            if args.keep:
                Path(args.keep).mkdir(parents=True, exist_ok=True)
                shutil.copy(best, Path(args.keep) / f"callgrind.{name}")
            print(f"{name:6s} worker: {total} instructions over {served} requests = "
                  f"{total / served:.0f} per request", flush=True)
    if args.diff:
        # Where the two workers' instructions differ, function by function.
        names = set(selves["plain"]) | set(selves["gpx"])
        rows = sorted(((selves["gpx"].get(f, 0.0) - selves["plain"].get(f, 0.0), f) for f in names),
                      key=lambda r: -abs(r[0]))
        result["diff"] = [{"function": f, "gpx_minus_plain_per_request": d} for d, f in rows[:40]]
        print("  self instructions per request, gpx minus plain, the largest differences:")
        for d, f in rows[:25]:
            print(f"    {d:+10.1f}  {f}")
    added = result["gpx"]["per_request"] - result["plain"]["per_request"]
    result["added_per_request"] = added
    result["ratio_plain_over_gpx"] = result["plain"]["per_request"] / result["gpx"]["per_request"]
    print(f"gpx adds {added:.0f} instructions per request to the worker's "
          f"{result['plain']['per_request']:.0f} (ratio plain/gpx {result['ratio_plain_over_gpx']:.4f})")
    write_json(args.json, result)
    return 0


def gpx_lines(out: Path, calls: int) -> list[tuple[float, str, int, str]]:
    """Instructions of each line of gpx's sources per hook call: (per call, file, line, source)."""
    text = subprocess.run(["callgrind_annotate", "--auto=yes", "--show=Ir", "--threshold=100", "--context=0",
                           f"--include={ROOT}", str(out)], capture_output=True, text=True).stdout
    if os.environ.get("GPX_ANNOTATE_KEEP"):
        Path(os.environ["GPX_ANNOTATE_KEEP"]).write_text(text)
    rows = []
    current = None
    lineno = 0
    for line in text.splitlines():
        m = re.match(r"^-- (?:Auto-annotated source|annotated source): (.*)$", line.strip())
        if m:
            current = m.group(1).strip()
            continue
        m = re.match(r"^-- line (\d+) -+$", line.strip())
        if m:
            lineno = int(m.group(1))
            continue
        m = re.match(r"^\s*([\d,]+|\.)(?: \([^)]*\))?\s+(.*)$", line)
        if "events annotated" in line:
            current = None
            continue
        if current and m and Path(current).name.startswith("gpx_"):
            if m.group(1) != "." and not m.group(2).startswith("=>"):  # "=>": a call's inclusive count
                rows.append((int(m.group(1).replace(",", "")) / calls, Path(current).name, lineno, m.group(2).strip()))
            lineno += 1
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--client", choices=("urllib", "curl", "curl-one", "keepalive"), default="urllib")
    ap.add_argument("--method", choices=("GET", "POST"), default="GET",
                    help="POST sends a 100-byte body (urllib and keepalive clients)")
    ap.add_argument("--status", type=int, choices=(200, 404), default=200,
                    help="404: the app answers Not Found (urllib and keepalive clients)")
    ap.add_argument("--uwsgi", default=SYSTEM_UWSGI,
                    help="the uwsgi binary: Debian's (default, with build/system) or .venv/bin/uwsgi (build/pypi)")
    ap.add_argument("--plugin", help="another gpx_plugin.so for that uwsgi")
    ap.add_argument("--count", choices=("whole", "inclusive"), default="whole",
                    help="whole: everything run inside the hook (default); inclusive: the hook's inclusive "
                         "line of callgrind_annotate, which misses inlined code")
    ap.add_argument("--breakdown", action="store_true", help="instructions per gpx function per request")
    ap.add_argument("--lines", action="store_true", help="instructions per source line of gpx per request")
    ap.add_argument("--cache-sim", action="store_true", help="simulate caches (slower): report misses")
    ap.add_argument("--mode", choices=("processes", "threads", "gevent", "asyncio"), default="processes",
                    help="one worker, alone (default), with 4 threads, or with 100 gevent or asyncio cores")
    ap.add_argument("--whole-worker", action="store_true",
                    help="compare everything the worker executes per request with and without gpx")
    ap.add_argument("--diff", action="store_true",
                    help="with --whole-worker: the functions whose instructions differ most between the two")
    ap.add_argument("--keep", metavar="DIR", help="with --whole-worker: keep both profiles in DIR")
    ap.add_argument("--uwsgi-arg", action="append", default=[], metavar="ARG",
                    help="one more argument for uWSGI with gpx, repeatable: "
                         "--uwsgi-arg=--gpx-exemplars --uwsgi-arg=true")
    ap.add_argument("--uwsgi-arg-plain", action="append", default=[], metavar="ARG",
                    help="with --whole-worker: one more argument for the plain uWSGI (not gpx's options)")
    ap.add_argument("--header", action="append", default=[], metavar="NAME: VALUE",
                    help="a header sent with every request, repeatable: "
                         "--header 'traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'")
    ap.add_argument("--json", help="write the results to this file")
    args = ap.parse_args(argv)
    args.headers = {}
    for h in args.header:
        name, sep, value = h.partition(":")
        if not sep or not name.strip():
            ap.error(f"--header {h!r}: not NAME: VALUE")
        args.headers[name.strip()] = value.strip()
    args.uwsgi_path = args.uwsgi
    if (args.method, args.status) != ("GET", 200) and args.client.startswith("curl"):
        ap.error("--method and --status work with the urllib and keepalive clients")
    if args.whole_worker:
        return whole_worker(args)
    whole = args.count == "whole"
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        run_profiled(tmp, True, args.client, args.requests, args.cache_sim, args.mode, args.uwsgi_path,
                     args.plugin, whole_hook=whole, method=args.method, status=args.status,
                     uwsgi_args=args.uwsgi_arg, headers=args.headers)
        for out in sorted(tmp.glob("cg.*")):
            calls = hook_calls(out)
            if not calls:
                continue
            events = "Ir,D1mr,D1mw,DLmr,DLmw,I1mr,ILmr" if args.cache_sim else None
            text = annotate(out, True, events)
            if whole:
                # Collected only inside the hook: the profile's total is the hook, whole.
                line = next(ln for ln in text.splitlines() if re.match(r"^\s*[\d,]+ \(100\.0+%\).*PROGRAM TOTALS", ln))
            else:
                # The hook's inclusive line: its own code and its callees, but
                # not what was inlined from the headers (filed apart).
                line = next(ln for ln in text.splitlines() if re.search(r":gpx_after_request \[", ln))
            # "27,270 (0.00%)  12 (0.00%) ...  file:function [object]": one count per event.
            # callgrind_annotate prints a zero count as ".".
            counts = [0 if x == "." else int(x.replace(",", "")) for x in
                      re.sub(r"\([^)]*\)", " ", line.split("PROGRAM TOTALS")[0] if whole else line.rsplit(" ", 2)[0])
                      .split() if re.fullmatch(r"[\d,]+|\.", x)]
            total = counts[0]  # Ir is shown first
            result = {"client": args.client, "mode": args.mode, "uwsgi": args.uwsgi, "count": args.count,
                      "uwsgi_args": args.uwsgi_arg, "headers": args.headers,
                      "requests_sent": args.requests, "hook_calls": calls,
                      "instructions": total, "per_request": total / calls, "conditions": conditions()}
            print(f"{HOOK} ({args.count}): {total} instructions over {calls} calls = {total / calls:.1f} per request "
                  f"(uwsgi {args.uwsgi}, mode {args.mode}, client {args.client}, {args.requests} requests sent)")
            if whole:
                # The same profile's inclusive line of the hook (what the
                # method used before reads) and the calls made inside it.
                hook_line = next((ln for ln in text.splitlines() if re.search(r":gpx_after_request \[", ln)), None)
                inclusive = int(hook_line.split()[0].replace(",", "")) if hook_line else 0
                result["inclusive_line"] = inclusive
                result["inclusive_line_per_request"] = inclusive / calls
                result["calls_inside_per_request"] = calls_inside(out) / calls
                print(f"  the hook's inclusive line alone: {inclusive / calls:.1f} per request; calls made inside "
                      f"the hook: {result['calls_inside_per_request']:.1f} per request")
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
            if args.lines:
                rows = gpx_lines(out, calls)
                result["lines"] = [{"per_request": n, "file": f, "line": ln, "source": src} for n, f, ln, src in rows]
                print("  instructions per hook call by source line (lines of 0.5 or more):")
                for n, f, ln, src in rows:
                    if n >= 0.5:
                        print(f"    {n:6.1f}  {f}:{ln:<4d} {src}")
                print(f"    {sum(r[0] for r in rows):6.1f}  in all (gpx's lines)")
            write_json(args.json, result)
            return 0
    print(f"no worker profile mentions {HOOK}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
