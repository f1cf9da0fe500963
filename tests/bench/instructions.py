#!/usr/bin/env python3
"""Instructions gpx's after-request hook costs per request, counted by callgrind.

Runs a one-process uWSGI with gpx under `valgrind --tool=callgrind`, sends N
hello-world requests, stops it, and divides the hook's inclusive instruction
count by the requests the worker served. Instruction counts do not depend on
the machine's load, so the figure repeats from run to run.

    .venv/bin/python tests/bench/instructions.py --requests 1000
"""

from __future__ import annotations

import argparse
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import HELLO, ROOT, free_port, wait_http  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=1000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        port, metrics_port = free_port(), free_port()
        cmd = ["valgrind", "--tool=callgrind", "--trace-children=yes", f"--callgrind-out-file={tmp}/cg.%p",
               "/usr/bin/uwsgi-core", "--plugin", "python3", "--plugin", str(ROOT / "build/system/gpx_plugin.so"),
               "--gpx-port", str(metrics_port), "--gpx-bind", "127.0.0.1", "--gpx-multiproc-dir", str(tmp / "mp"),
               "--http-socket", f"127.0.0.1:{port}", "--wsgi-file", str(HELLO), "--processes", "1",
               "--disable-logging"]
        log = open(tmp / "log", "wb")
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_http(f"http://127.0.0.1:{port}/", timeout=120)
            for _ in range(args.requests):
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30).read()
            time.sleep(1)
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(120)
            log.close()
        served = args.requests + 1  # the readiness probe
        for out in sorted(tmp.glob("cg.*")):
            text = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", str(out)],
                                  capture_output=True, text=True).stdout
            # The hook's inclusive count covers what it calls and what the
            # compiler inlined into it from the headers.
            m = re.search(r"^\s*([\d,]+) \([^)]*\)\s+\S*gpx_request\.c:gpx_after_request \[", text, re.M)
            if m:
                total = int(m.group(1).replace(",", ""))
                print(f"gpx_after_request: {total} instructions over {served} requests = "
                      f"{total / served:.0f} per request")
                return 0
    print("no worker profile mentions gpx_after_request", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
