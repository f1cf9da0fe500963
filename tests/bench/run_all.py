#!/usr/bin/env python3
"""Runs the whole benchmark suite and writes its results, dated, as JSON and
as a markdown summary that docs/benchmarks.md can quote.

    .venv/bin/python tests/bench/run_all.py                 # full size, about 70 minutes on 2 cores
    .venv/bin/python tests/bench/run_all.py --quick         # every benchmark at small sizes, a few minutes
    .venv/bin/python tests/bench/run_all.py --only scrape_scale,memory

Results go to build/bench/<date-time>/ (one JSON and one log per step,
summary.md); --out names another directory. A step that fails is reported
as failed in the summary and the others still run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parents[1]
ALTERNATIVES = "plain,plain-again,gpx,prom-client,flask,flask-exporter"


def steps(quick: bool) -> list[tuple[str, str, list[str]]]:
    """(name, script, arguments) of every step, full size or --quick."""
    rounds, seconds = ("2", "1") if quick else ("20", "3")
    tp = ["--rounds", rounds, "--seconds", seconds, "--pin", "--restart-every", "1"]
    out = []
    # gpx against plain (and plain-again, the zero): all loaded together
    # (CPU per request), then one at a time (requests/s of each alone).
    # The alternatives get their own together step: six servers on one CPU
    # evict each other's caches far more than three do.
    gpx_only = "plain,plain-again,gpx"
    for form, extra in (("together", ["--together"]), ("alternating", [])):
        for mode in ("processes", "threads", "gevent"):
            for storage in ("files", "redis"):
                out.append((f"throughput_{form}_{mode}_{storage}", "throughput.py",
                            [*tp, *extra, "--mode", mode, "--storage", storage, "--variants", gpx_only]))
    for mode in ("processes", "threads"):
        out.append((f"throughput_alternatives_{mode}", "throughput.py",
                    [*tp, "--together", "--mode", mode, "--variants", ALTERNATIVES]))
    requests = "300" if quick else "1000"
    out.append(("instructions_urllib", "instructions.py", ["--requests", requests, "--lines"]))
    out.append(("instructions_keepalive", "instructions.py", ["--requests", requests, "--client", "keepalive"]))
    out.append(("instructions_pypi", "instructions.py", ["--requests", requests, "--uwsgi", ".venv/bin/uwsgi"]))
    out.append(("instructions_curl", "instructions.py", ["--requests", requests, "--client", "curl"]))
    out.append(("instructions_cache", "instructions.py", ["--requests", requests, "--cache-sim"]))
    for mode in ("processes", "threads", "gevent"):
        out.append((f"instructions_whole_worker_{mode}", "instructions.py",
                    ["--requests", requests, "--whole-worker", "--mode", mode]))
    if quick:
        out.append(("scrape_scale", "scrape_scale.py", ["--workers", "8,64", "--scrapes", "50", "--load-seconds", "1"]))
        out.append(("churn_files", "churn.py", ["--respawns", "300", "--max-seconds", "60", "--scrapes", "20"]))
        out.append(("churn_redis", "churn.py", ["--respawns", "300", "--max-seconds", "60", "--scrapes", "20",
                                                "--storage", "redis"]))
    else:
        out.append(("scrape_scale", "scrape_scale.py", []))
        out.append(("churn_files", "churn.py", ["--respawns", "10000"]))
        out.append(("churn_redis", "churn.py", ["--respawns", "10000", "--storage", "redis"]))
    out.append(("fleet_scale", "fleet_scale.py", ["--instances", "20", "--scrapes", "5"] if quick else []))
    out.append(("memory_processes", "memory.py", []))
    out.append(("memory_threads", "memory.py", ["--mode", "threads", "--cores", "16"]))
    out.append(("scrape_under_load_cpu", "scrape_under_load.py", []))
    out.append(("scrape_under_load_sleep", "scrape_under_load.py", ["--sleep", "--busy-ms", "50", "--mode",
                                                                     "threads", "--cores", "4"]))
    return out


def md_throughput(r: dict) -> list[str]:
    lines = ["| variant | median req/s | CPU us/request | median ratio to baseline, req/s (min, max) "
             "| baseline / variant, CPU per request | both plain / variant, CPU | baseline |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, e in r["summary"].items():
        ratio = (f"{e['median_ratio']:.3f} ({e['min_ratio']:.3f}, {e['max_ratio']:.3f})"
                 if "median_ratio" in e else "-")
        cpu = f"{e['median_cpu_ratio']:.3f}" if "median_cpu_ratio" in e else "-"
        both = f"{e['median_cpu_ratio_both_plain']:.3f}" if "median_cpu_ratio_both_plain" in e else "-"
        lines.append(f"| {name} | {e['median_rps']:.0f} | {e['median_cpu_us_per_request']:.1f} | {ratio} | {cpu} | "
                     f"{both} | {e.get('baseline', '-')} |")
    return lines


def md_scale(r: dict) -> list[str]:
    lines = ["| workers x cores | scrape median ms | scrape p99 ms | render median ms (gpx) | render p99 ms "
             "| body bytes |", "| --- | --- | --- | --- | --- | --- |"]
    for row in r["rows"]:
        lines.append(f"| {row['workers']} x {row['cores']} | {row['latency']['median_ms']:.2f} | "
                     f"{row['latency']['p99_ms']:.2f} | {row['render']['median_ms']:.2f} | "
                     f"{row['render']['p99_ms']:.2f} | {row['body_bytes']:.0f} |")
    return lines


def md_churn(r: dict) -> list[str]:
    lines = [f"{r['respawns']} respawns in {r['seconds']:.0f} s ({r['rate_per_s']:.1f}/s), target {r['target']}", "",
             "| measure | before | after | change |", "| --- | --- | --- | --- |"]
    for key, before in r["before"].items():
        lines.append(f"| {key} | {before:.6g} | {r['after'][key]:.6g} | {r['change_percent'][key]:.1f}% |")
    return lines


def md_memory(r: dict) -> list[str]:
    mib = 1024 * 1024
    a = r["added_bytes"]
    return ["| added by gpx | USS MiB | PSS MiB | RSS MiB |", "| --- | --- | --- | --- |",
            *(f"| {who} | {a[who]['uss'] / mib:+.3f} | {a[who]['pss'] / mib:+.3f} | {a[who]['rss'] / mib:+.3f} |"
              for who in ("worker", "master"))]


def md_load(r: dict) -> list[str]:
    lines = ["| what | median ms | p99 ms | max ms |", "| --- | --- | --- | --- |"]
    for name, e in r["results"].items():
        lines.append(f"| {name} | {e['median_ms']:.2f} | {e['p99_ms']:.2f} | {e['max_ms']:.2f} |")
    return lines


def md_instructions(r: dict) -> list[str]:
    if "added_per_request" in r:
        return [f"whole worker per request: plain {r['plain']['per_request']:.0f}, gpx {r['gpx']['per_request']:.0f} "
                f"instructions; gpx adds {r['added_per_request']:.0f} (ratio plain/gpx "
                f"{r['ratio_plain_over_gpx']:.4f})"]
    lines = [f"{r['per_request']:.1f} instructions per request, counted {r.get('count', 'whole')} "
             f"({r['instructions']} over {r['hook_calls']} calls, client {r['client']}, mode {r['mode']})"]
    for name, v in r.get("misses", {}).items():
        lines.append(f"- {name}: {v / r['hook_calls']:.3f} per request")
    return lines


def md_fleet(r: dict) -> list[str]:
    lines = [f"{r['instances']} instances x {r['workers']} workers, snapshot {r['snapshot_bytes']} bytes", "",
             "| page | scrape median ms | scrape p99 ms | body bytes | series |", "| --- | --- | --- | --- | --- |"]
    for name, e in r["results"].items():
        lines.append(f"| {name} | {e['latency']['median_ms']:.2f} | {e['latency']['p99_ms']:.2f} | "
                     f"{e['body_bytes']} | {e['series']} |")
    return lines


RENDER = {"throughput": md_throughput, "scrape_scale": md_scale, "churn": md_churn, "memory": md_memory,
          "scrape_under_load": md_load, "fleet_scale": md_fleet}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes: checks that every benchmark works")
    ap.add_argument("--only", help="comma-separated step names or prefixes (e.g. throughput,churn_files)")
    ap.add_argument("--out", help="result directory (default build/bench/<date-time>)")
    args = ap.parse_args()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = Path(args.out) if args.out else ROOT / "build" / "bench" / (stamp + ("-quick" if args.quick else ""))
    out.mkdir(parents=True, exist_ok=True)
    chosen = steps(args.quick)
    if args.only:
        prefixes = args.only.split(",")
        chosen = [s for s in chosen if any(s[0].startswith(p) for p in prefixes)]
    summary = [f"# gpx benchmarks, {stamp}{' (quick sizes)' if args.quick else ''}", "",
               f"Machine: {subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} CPUs, "
               f"load average at start {' '.join(open('/proc/loadavg').read().split()[:3])}.", ""]
    failed = 0
    for name, script, extra in chosen:
        cmd = [sys.executable, str(BENCH / script), *extra, "--json", str(out / f"{name}.json")]
        shown = " ".join(["tests/bench/" + script, *extra])
        print(f"== {name}: {shown}", flush=True)
        started = time.monotonic()
        with open(out / f"{name}.log", "w") as log:
            rc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT).returncode
        took = time.monotonic() - started
        summary += [f"## {name}", "", f"    .venv/bin/python {shown}", ""]
        if rc != 0 or not (out / f"{name}.json").exists():
            failed += 1
            print(f"   FAILED (exit {rc}), see {out / (name + '.log')}", flush=True)
            summary += [f"FAILED (exit {rc}); log: {name}.log", ""]
            continue
        result = json.loads((out / f"{name}.json").read_text())
        render = RENDER.get(result.get("benchmark", ""), md_instructions)
        summary += [*render(result), "", f"({took:.0f} s; load average after: "
                                          f"{' '.join(open('/proc/loadavg').read().split()[:3])})", ""]
        print(f"   done in {took:.0f} s", flush=True)
    (out / "summary.md").write_text("\n".join(summary) + "\n")
    print(f"\n{len(chosen) - failed} steps passed, {failed} failed; summary: {out / 'summary.md'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
