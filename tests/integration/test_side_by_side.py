"""Side by side: Gunicorn + gunicorn-prometheus-exporter 0.2.4 and uWSGI + gpx.

The same traffic (200 GET /, 30 GET /missing answered 404, 20 POST / with a
3,000-byte body; shuffled, 4 at a time) goes at the same time to (a) Gunicorn
23.0.0 with gunicorn-prometheus-exporter 0.2.4, configured as the
configuration guide's Basic scenario (2 sync workers, the exporter's metrics
port, a PROMETHEUS_MULTIPROC_DIR of its own) and (b) Debian's uWSGI 2.0.21
with gpx, 2 processes; both serve examples/demo_app.py. A real Prometheus
scrapes both every second (jobs `gunicorn` and `gpx`), and the queries of the
exporter's Grafana dashboard (DASHBOARD below, [30s] for [5m]) run against
each job through Prometheus's HTTP API, evaluated at the end of a 30 s window
that holds all of the traffic.

Set-up findings (gunicorn-prometheus-exporter 0.2.4 as published):

- The guide's Basic scenario, as written, serves no metrics: the workers
  write their prometheus_client files but nothing listens on
  PROMETHEUS_METRICS_PORT unless `when_ready = default_when_ready` is set.
  apps/side_by_side/gunicorn_basic.conf.py is the scenario plus the hooks of
  the exporter's README.
- It declares `gunicorn>=21.2.0` but runs only on Gunicorn up to 23.0.0: on
  24.0.0, 24.1.1, 25.3.0, 26.2.0 and 27.0.1 (what pip picks today) the master
  dies at start with `AttributeError: 'list' object has no attribute 'get'`
  (SIG_QUEUE, gunicorn/arbiter.py). tests/requirements.txt pins 23.0.0.

What is the same (asserted):

- Request counts are exact on both: the sum over workers of
  `gunicorn_worker_requests_total` equals the requests the app port
  received. Neither counts Prometheus's scrapes (about 30 per target here):
  both serve /metrics from the master, on a port of their own. Both count
  every request to the app port, the test's own included: one readiness
  probe (GET /) and two warm-up requests (GET /sleep) per server before the
  window, which the test counts and adds: 253 = 250 + 3 on both.
- `rate(gunicorn_worker_requests_total[30s])`, summed over the workers, is
  between N/30 s and N/(sampled interval) on both (Prometheus extrapolates
  the interval its samples span to the window), N = 250: measured 8.59 to
  8.61 req/s on Gunicorn and 8.44 to 8.62 on gpx over five runs, for 8.33
  true, and the two within that spread of each other. The servers received
  the same requests at the same time: the difference is where each one's
  scrapes fell.
- `histogram_quantile(0.5 | 0.95, rate(..._bucket[30s]))` has a value for
  each worker on both. Every bucket bound of the exporter is one of gpx's,
  spelled alike ("0.1", "1.0", ...), so gpx's buckets at the exporter's
  bounds give the exporter's numbers: 0.050 and 0.095 on both.
- `gunicorn_worker_memory_bytes` and `gunicorn_worker_cpu_percent` have one
  series per worker on both.

What differs, and why:

- `worker_id`: the exporter's is `worker_<age>_<unix time>`, a new value
  (so new series) for every worker process; gpx's is the uWSGI slot, "1"
  and "2", reused by the worker that replaces one.
- Latency resolution: the exporter's duration buckets start at 0.1 s, so
  for requests faster than that its p50 is 0.05 and its p95 0.095, whatever
  the real latency (Prometheus interpolates inside the first bucket). gpx
  has 0.005, 0.01, 0.025 and 0.05 below it: p50 about 0.0026 s and p95
  0.005 to 0.009 s here, 20 times closer to the truth, though still an
  interpolation inside gpx's own first bucket (the real mean is below 1 ms).
- Latency itself: mean (sum / count) 1.3 to 2.7 ms on Gunicorn, 0.3 to
  0.7 ms on uWSGI, over five runs. The servers differ (uWSGI parses HTTP
  in C), and so do the clocks: gpx's runs from the worker accepting the
  connection to uWSGI's request end.
- Memory: gpx's is each worker's resident memory (equal to /proc's VmRSS,
  about 12 MB per uWSGI worker). The exporter reports one value for both
  workers, equal to the Gunicorn master's VmRSS (about 31 MB) rather than
  the workers' own (about 25 MB).
- CPU percent: gpx's, sampled by the master once a second from /proc, rose
  to 1 to 3 % per worker during the traffic and was 0 at the end. The
  exporter's stayed 0.0 for both workers throughout (not asserted).
- A worker's first requests: an exporter worker's series appears with its
  first request, already above 0, so rate() and increase() cannot see that
  first step (hence the warm-up before the window); gpx's series exist from
  the start at 0.
- Status: the exporter has no status label on any family; gpx adds
  `gunicorn_requests_total{method, status}`: exactly GET 200, GET 404 = 30
  and POST 200 = 20 here. Neither counts a 404 as a failed request (no
  `gunicorn_worker_failed_requests_total` series on either).
- Sizes: the exporter declares `gunicorn_worker_request_size_bytes` and
  `gunicorn_worker_response_size_bytes` but renders no sample of them; gpx
  counts every request (20 x 3,000 request body bytes here).
- Labels the exporter adds: `pid` on memory, CPU, uptime and state, and
  `timestamp` on `gunicorn_worker_state`, which starts a new series each
  second a worker is updated (6 to 9 state series in this run); gpx has a
  fixed 5 states x 2 slots = 10.

The restart families, after the dashboard's window: one request per server
runs past its timeout (Gunicorn's `timeout`, uWSGI's `harakiri`, 5 s) and the
worker is replaced. Then:

- `sum by (restart_type) (gunicorn_worker_restart_count_total)` is exactly
  `forced` = 1 on both, and `sum by (worker_id) (...)` 1 over one worker.
- The `reason` differs: the exporter's is `abort` (Gunicorn's SIGABRT of a
  timed-out worker), gpx's `timeout`. gpx renders every (reason,
  restart_type) from the start at 0; the exporter's series appears with the
  restart, at 1, so `rate(...[30s])` of it is 0 while gpx's shows the step.
- `gunicorn_master_worker_restart_count_total`: gpx has `timeout`/`forced` =
  1; the exporter 0.2.4 declares the family (HELP and TYPE) but rendered no
  sample of it here, nor after a worker kill, a SIGHUP or max_requests
  recycling (checked by hand: its master counted those under
  `gunicorn_master_worker_restart_total{reason="chld"|"hup"}` only).

Runs once, on Debian's uWSGI (the exporter's side does not depend on the
uWSGI build), in about 50 seconds; `pytest -s` prints the measured values.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from conftest import BUILDS, ROOT, Server, free_port, stop_process, wait_for

HERE = Path(__file__).resolve().parent
GUNICORN_CONF = HERE / "apps" / "side_by_side" / "gunicorn_basic.conf.py"
GUNICORN = ROOT / ".venv" / "bin" / "gunicorn"
PROMETHEUS = "/usr/bin/prometheus"

# The traffic: the same list, in the same (shuffled) order, to both servers.
BODY = b"x" * 3000
TRAFFIC = [("GET", "/", None)] * 200 + [("GET", "/missing", None)] * 30 + [("POST", "/", BODY)] * 20
random.Random(20251030).shuffle(TRAFFIC)
CONCURRENCY = 4  # client threads per server: both workers of each get traffic

WINDOW = 30  # seconds: the dashboard's [5m] shortened so that it has data
# The exporter's Grafana dashboard, with a job selector (one Prometheus scrapes
# both servers) and [30s] for [5m].
DASHBOARD = {
    "requests_rate": 'rate(gunicorn_worker_requests_total{{job="{job}"}}[30s])',
    "latency_p95": 'histogram_quantile(0.95, rate(gunicorn_worker_request_duration_seconds_bucket{{job="{job}"}}'
                   '[30s]))',
    "latency_p50": 'histogram_quantile(0.5, rate(gunicorn_worker_request_duration_seconds_bucket{{job="{job}"}}'
                   '[30s]))',
    "memory": 'gunicorn_worker_memory_bytes{{job="{job}"}}',
    "cpu": 'gunicorn_worker_cpu_percent{{job="{job}"}}',
}
# The restart families' queries, after one request ran past the timeout on each server
# (Gunicorn's `timeout`, uWSGI's `harakiri`): the worker replaced, a forced restart.
REQUEST_TIMEOUT = 5  # seconds
RESTART_QUERIES = {
    "worker_count_by_type": 'sum by (restart_type) (gunicorn_worker_restart_count_total{{job="{job}"}})',
    "worker_count_by_reason": 'sum by (restart_type, reason) (gunicorn_worker_restart_count_total{{job="{job}"}})',
    "worker_count_rate": 'sum by (restart_type) (rate(gunicorn_worker_restart_count_total{{job="{job}"}}[30s]))',
    "master_count_by_reason":
        'sum by (reason, restart_type) (gunicorn_master_worker_restart_count_total{{job="{job}"}})',
    "worker_count_by_worker": 'sum by (worker_id) (gunicorn_worker_restart_count_total{{job="{job}"}})',
}
# The exporter's duration buckets, spelled as both render them.
EXPORTER_LE = ["0.1", "0.5", "1.0", "2.5", "5.0", "10.0", "30.0", "60.0", "+Inf"]
EXPORTER_LE_RE = "|".join(re.escape(le) for le in EXPORTER_LE)


# -- processes -----------------------------------------------------------------
class Gunicorn:
    """Gunicorn with gunicorn-prometheus-exporter, in its own process group."""

    def __init__(self, tmp: Path):
        self.app_port = free_port()
        self.metrics_port = free_port()
        self.multiproc_dir = tmp / "gunicorn-multiproc"
        self.multiproc_dir.mkdir()
        self.log_path = tmp / "gunicorn.log"
        self.cmd = [str(GUNICORN), "-c", str(GUNICORN_CONF), "--bind", f"127.0.0.1:{self.app_port}",
                    "--timeout", str(REQUEST_TIMEOUT), "--pythonpath", str(ROOT / "examples"),
                    "demo_app:application"]
        self.env = dict(os.environ)
        for var in ("CLEANUP_DB_FILES", "REDIS_ENABLED", "GUNICORN_KEEPALIVE"):
            self.env.pop(var, None)
        # The guide's config uses os.environ.setdefault: the environment wins.
        self.env.update(PROMETHEUS_MULTIPROC_DIR=str(self.multiproc_dir),
                        PROMETHEUS_METRICS_PORT=str(self.metrics_port),
                        PROMETHEUS_BIND_ADDRESS="127.0.0.1", GUNICORN_WORKERS="2")
        self.proc = None

    def start(self):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.cmd, env=self.env, cwd=self.multiproc_dir.parent, stdout=self.log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        return self

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def url(self, path="/") -> str:
        return f"http://127.0.0.1:{self.app_port}{path}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def worker_pids(self) -> list[int]:
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(self.proc.pid)], capture_output=True, text=True)
        return [int(p) for p in out.stdout.split()]

    def alive(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"gunicorn exited with {self.proc.returncode}:\n{self.output()[-4000:]}")

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # Gunicorn's graceful stop
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        self.log.close()


class Prometheus:
    def __init__(self, tmp: Path, targets: dict[str, int]):
        self.port = free_port()
        self.config = tmp / "prometheus.yml"
        # JSON is YAML.
        self.config.write_text(json.dumps({
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
            "scrape_configs": [{"job_name": job, "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}
                               for job, port in targets.items()],
        }))
        self.data = tmp / "prometheus-data"
        self.log_path = tmp / "prometheus.log"
        self.cmd = [PROMETHEUS, f"--config.file={self.config}", f"--storage.tsdb.path={self.data}",
                    f"--web.listen-address=127.0.0.1:{self.port}"]
        self.proc = None

    def start(self):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.cmd, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        wait_for(lambda: self._ready(), 60, what="prometheus ready")
        return self

    def _ready(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"prometheus exited:\n{self.log_path.read_text(errors='replace')[-4000:]}")
        return requests.get(f"http://127.0.0.1:{self.port}/-/ready", timeout=2).status_code == 200

    def query(self, promql: str, at: float | None = None) -> list[tuple[dict, float]]:
        params = {"query": promql}
        if at is not None:
            params["time"] = f"{at:.3f}"
        r = requests.get(f"http://127.0.0.1:{self.port}/api/v1/query", params=params, timeout=10)
        body = r.json()
        assert body.get("status") == "success", f"{promql}: {body}"
        assert body["data"]["resultType"] == "vector", body
        return [(res["metric"], float(res["value"][1])) for res in body["data"]["result"]]

    def scalar(self, promql: str, at: float | None = None) -> float | None:
        res = self.query(promql, at)
        assert len(res) <= 1, f"{promql}: {res}"
        return res[0][1] if res else None

    def stop(self):
        if self.proc is None:
            return
        stop_process(self.proc, signal.SIGTERM, 30)
        self.log.close()


# -- traffic -------------------------------------------------------------------
def send(base_url: str, method: str, path: str, body: bytes | None) -> int:
    r = requests.request(method, base_url + path, data=body, timeout=30)
    return r.status_code


def probe(base_url: str, timeout=60.0) -> int:
    """GET / until the app answers; returns how many reached the app (1).

    A refused connection never reaches a worker; a timeout might have, so it
    fails the test instead of being retried."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            r = requests.get(base_url + "/", timeout=30)
            assert r.status_code == 200, r.text
            return 1
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)  # polling until the deadline: a refused connection reached no worker


def warm_up(base_url: str) -> int:
    """Two requests at once that each hold a sync worker for 0.3 s, so each of
    the two workers serves one. Returns how many were sent (2)."""
    with ThreadPoolExecutor(2) as pool:
        codes = list(pool.map(lambda _: send(base_url, "GET", "/sleep?s=0.3", None), range(2)))
    assert codes == [200, 200]
    return 2


def drive(base_url: str, out: dict):
    """The traffic, CONCURRENCY requests at a time; records status counts."""
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        codes = list(pool.map(lambda req: send(base_url, *req), TRAFFIC))
    out["codes"] = codes
    out["end"] = time.time()


def scrape_worker_ids(url: str) -> set[str]:
    text = requests.get(url, timeout=5).text
    return set(re.findall(r'^gunicorn_worker_requests_total\{[^}]*worker_id="([^"]+)"', text, re.M))


def vm_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


def by_worker(result) -> dict[str, float]:
    return {labels["worker_id"]: value for labels, value in result}


def _settle(predicate, timeout) -> bool:
    """Whether `predicate` holds within `timeout` seconds."""
    try:
        wait_for(predicate, timeout, what="")
        return True
    except AssertionError:
        return False


# -- the test ------------------------------------------------------------------
@pytest.mark.slow
def test_dashboard_queries_side_by_side(tmp_path):
    if not GUNICORN.exists():
        pytest.fail(f"{GUNICORN} is missing: run ./scripts/setup "
                    "(tests/requirements.txt pins gunicorn and the exporter)")
    build = BUILDS["system"]
    if not Path(build.plugin).exists():
        pytest.fail(f"{build.plugin} is missing: run `make` first")
    started = time.monotonic()

    gunicorn = Gunicorn(tmp_path)
    uwsgi = Server(build, tmp_path, args=("--processes", "2", "--harakiri", str(REQUEST_TIMEOUT)))
    prometheus = Prometheus(tmp_path, {"gunicorn": gunicorn.metrics_port, "gpx": uwsgi.metrics_port})
    jobs = {"gunicorn": gunicorn, "gpx": uwsgi}
    sent = {"gunicorn": 0, "gpx": 0}  # requests that reached each app port, probes and warm-ups included
    try:
        gunicorn.start()
        uwsgi.start(wait=False)
        prometheus.start()

        # Ready: the metrics ports answer (requests that no worker sees) ...
        def metrics_up(server):
            if isinstance(server, Gunicorn):
                server.alive()
            elif server.proc.poll() is not None:
                raise AssertionError(f"uwsgi exited:\n{server.output()}")
            return requests.get(server.metrics_url, timeout=2).status_code == 200

        for server in jobs.values():
            wait_for(lambda server=server: metrics_up(server), 60, what=f"{server.metrics_url}")
        # ... both workers of each run, then one counted probe each.
        wait_for(lambda: len(gunicorn.worker_pids()) == 2, 60, what="gunicorn's 2 workers")
        uwsgi.wait_workers_started(2, timeout=60)
        for job, server in jobs.items():
            sent[job] += probe(server.url(""))

        # Warm-up: until each exporter worker has its series (see docstring),
        # the same requests to both servers.
        for _ in range(10):
            for job, server in jobs.items():
                sent[job] += warm_up(server.url(""))
            if _settle(lambda: len(scrape_worker_ids(gunicorn.metrics_url)) == 2, 3):
                break
        else:
            raise AssertionError(f"the exporter never showed 2 workers: {scrape_worker_ids(gunicorn.metrics_url)}")

        # Baseline: Prometheus has each job's count of probes and warm-ups.
        def baseline_scraped():
            return all(prometheus.scalar(f'sum(gunicorn_worker_requests_total{{job="{job}"}})') == sent[job]
                       and prometheus.scalar(f'count(gunicorn_worker_requests_total{{job="{job}"}})') == 2
                       for job in jobs)

        wait_for(baseline_scraped, 60, interval=0.2, what=f"prometheus to scrape the baseline {sent}")
        baseline = dict(sent)
        time.sleep(1.5)  # more samples of the baseline value
        window_start = time.time() - 1.0  # at least one baseline sample after this
        at = window_start + WINDOW  # the instant the dashboard queries are evaluated at

        # The traffic, to both servers at once.
        results = {job: {} for job in jobs}
        threads = [threading.Thread(target=drive, args=(server.url(""), results[job])) for job, server in jobs.items()]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for job in jobs:
            codes = results[job]["codes"]
            assert codes.count(200) == 220 and codes.count(404) == 30, (job, codes)
            sent[job] += len(TRAFFIC)
        traffic_end = max(r["end"] for r in results.values())
        assert traffic_end < at - 4, (
            f"the traffic took {traffic_end - window_start - 1:.1f} s: it must end well inside the {WINDOW} s window")

        wait_for(lambda: all(prometheus.scalar(f'sum(gunicorn_worker_requests_total{{job="{job}"}})') == sent[job]
                             for job in jobs), 60, interval=0.2, what=f"prometheus to scrape the totals {sent}")
        rss = {"gunicorn": {str(pid): vm_rss(pid) for pid in gunicorn.worker_pids()},
               "gpx": {str(pid): vm_rss(pid) for pid in uwsgi.worker_pids()}}
        master_rss = {"gunicorn": vm_rss(gunicorn.proc.pid), "gpx": vm_rss(uwsgi.master_pid)}
        while time.time() < at + 2.5:  # samples at and after `at` are in
            time.sleep(0.2)

        # -- the dashboard's queries, per job ------------------------------
        measured = {}
        for job in jobs:
            q = {name: prometheus.query(expr.format(job=job), at) for name, expr in DASHBOARD.items()}
            m = measured[job] = {}

            # Request counts, exactly: traffic plus the probe and warm-ups.
            m["requests_total"] = prometheus.scalar(f'sum(gunicorn_worker_requests_total{{job="{job}"}})', at)
            assert m["requests_total"] == sent[job] == baseline[job] + 250, (job, m["requests_total"], sent)
            m["worker_ids"] = sorted(by_worker(q["requests_rate"]))
            assert len(m["worker_ids"]) == 2, (job, q["requests_rate"])

            # Rate: N requests in the window; Prometheus extrapolates the
            # sampled interval (at least WINDOW - 3 s here) towards the window.
            m["rate"] = sum(v for _, v in q["requests_rate"])
            n = len(TRAFFIC)
            assert n / WINDOW * 0.999 <= m["rate"] <= n / (WINDOW - 3), (job, m["rate"], n / WINDOW)
            increase = prometheus.scalar(f'sum(increase(gunicorn_worker_requests_total{{job="{job}"}}[30s]))', at)
            m["increase"] = increase

            # Latency quantiles: one per worker, finite and plausible.
            for name in ("latency_p50", "latency_p95"):
                values = by_worker(q[name])
                assert sorted(values) == m["worker_ids"], (job, name, q[name])
                assert all(math.isfinite(v) and 0 < v < 60 for v in values.values()), (job, name, values)
                m[name] = values
            # The same quantiles from the buckets the exporter has.
            for name, quantile in (("coarse_p50", 0.5), ("coarse_p95", 0.95)):
                expr = (f'histogram_quantile({quantile}, rate(gunicorn_worker_request_duration_seconds_bucket'
                        f'{{job="{job}",le=~`{EXPORTER_LE_RE}`}}[30s]))')
                m[name] = by_worker(prometheus.query(expr, at))
            mean = prometheus.query(
                f'sum(rate(gunicorn_worker_request_duration_seconds_sum{{job="{job}"}}[30s])) / '
                f'sum(rate(gunicorn_worker_request_duration_seconds_count{{job="{job}"}}[30s]))', at)
            m["mean_latency"] = mean[0][1]
            les = {labels["le"] for labels, _ in prometheus.query(
                f'gunicorn_worker_request_duration_seconds_bucket{{job="{job}"}}', at)}
            m["le"] = les

            # Memory and CPU: one series per worker.
            memory = by_worker(q["memory"])
            cpu = by_worker(q["cpu"])
            assert sorted(memory) == m["worker_ids"] and sorted(cpu) == m["worker_ids"], (job, q["memory"], q["cpu"])
            assert all(1 << 20 < v < 1 << 30 for v in memory.values()), (job, memory)
            assert all(0 <= v < 400 for v in cpu.values()), (job, cpu)
            m["memory"], m["cpu"] = memory, cpu
            m["cpu_max"] = by_worker(
                prometheus.query(f'max_over_time(gunicorn_worker_cpu_percent{{job="{job}"}}[30s])', at))
            m["memory_vs_rss"] = sum(memory.values()) / sum(rss[job].values())
            m["memory_vs_master_rss"] = [v / master_rss[job] for v in memory.values()]
            m["workers_rss"], m["master_rss"] = sorted(rss[job].values()), master_rss[job]

            # Other families, for the differences in the docstring.
            m["state_series"] = prometheus.scalar(
                f'count(count_over_time(gunicorn_worker_state{{job="{job}"}}[{int(at - window_start) + 20}s]))', at)
            m["status_series"] = prometheus.query(f'{{job="{job}",status!=""}}', at)
            m["request_size_sum"] = prometheus.scalar(f'sum(gunicorn_worker_request_size_bytes_sum{{job="{job}"}})', at)
            m["response_size_count"] = prometheus.scalar(
                f'sum(gunicorn_worker_response_size_bytes_count{{job="{job}"}})', at)
            m["failed"] = prometheus.scalar(f'sum(gunicorn_worker_failed_requests_total{{job="{job}"}})', at)
            m["scrapes"] = prometheus.scalar(f'count_over_time(up{{job="{job}"}}[{int(at - window_start) + 20}s])', at)
            m["up"] = prometheus.scalar(f'up{{job="{job}"}}', at)

        g, x = measured["gunicorn"], measured["gpx"]
        print(f"\nside by side, measured at the window's end ({WINDOW} s window, {len(TRAFFIC)} requests in it):")
        for key in ("requests_total", "increase", "rate", "latency_p50", "latency_p95", "coarse_p50", "coarse_p95",
                    "mean_latency", "memory", "workers_rss", "master_rss", "memory_vs_rss", "cpu", "cpu_max",
                    "worker_ids", "state_series",
                    "request_size_sum", "response_size_count", "failed", "scrapes"):
            print(f"  {key:20} gunicorn: {g[key]!r}\n  {'':20} gpx:      {x[key]!r}")

        # Both scraped fine all along, neither counted Prometheus's scrapes.
        for job in jobs:
            assert measured[job]["up"] == 1
            assert measured[job]["scrapes"] >= WINDOW, (job, measured[job]["scrapes"])

        # The rates agree as closely as their sampling allows.
        spread = len(TRAFFIC) / (WINDOW - 3) - len(TRAFFIC) / WINDOW
        assert abs(g["rate"] - x["rate"]) <= spread + 1e-9, (g["rate"], x["rate"])

        # worker_id: the exporter's carries a time, gpx's is the slot.
        assert all(re.fullmatch(r"worker_\d+_\d{10}", w) for w in g["worker_ids"]), g["worker_ids"]
        assert x["worker_ids"] == ["1", "2"]

        # Buckets: every bound of the exporter is one of gpx's, spelled alike.
        assert g["le"] == set(EXPORTER_LE), g["le"]
        assert set(EXPORTER_LE) < x["le"], x["le"]
        # The demo app answers well under 0.1 s on both, so the exporter's
        # quantiles are pinned inside its first bucket; at the exporter's
        # bounds gpx's buckets give the same kind of number.
        for quantile_name, coarse_name in (("latency_p50", "coarse_p50"), ("latency_p95", "coarse_p95")):
            for w in g["worker_ids"]:
                # the dashboard query on the exporter is the coarse quantile
                assert g[quantile_name][w] == pytest.approx(g[coarse_name][w])
            for w in x["worker_ids"]:
                # gpx at the exporter's bounds: within a generous factor of the exporter's
                ratio = x[coarse_name][w] / max(g[coarse_name].values())
                assert 1 / 5 <= ratio <= 5, (quantile_name, x[coarse_name], g[coarse_name])
                # gpx at full resolution: within a generous factor of the mean latency
                assert x["mean_latency"] / 10 <= x[quantile_name][w] <= max(0.025, x["mean_latency"] * 20), (
                    quantile_name, x[quantile_name], x["mean_latency"])
        assert g["mean_latency"] / 20 <= x["mean_latency"] <= g["mean_latency"] * 20, (
            g["mean_latency"], x["mean_latency"])

        # Memory: gpx's is each worker's resident memory. The exporter's is
        # one value for every worker, the master's resident memory, not the
        # workers' (whose RSS is lower).
        assert 0.8 <= x["memory_vs_rss"] <= 1.2, (x["memory_vs_rss"], rss["gpx"])
        assert len(set(g["memory"].values())) == 1, g["memory"]
        assert all(0.85 <= r <= 1.15 for r in g["memory_vs_master_rss"]), (g["memory"], master_rss, rss["gunicorn"])
        # gpx's CPU gauge saw the traffic.
        assert max(x["cpu_max"].values()) > 0, x["cpu_max"]

        # Status: only gpx has it, and exactly.
        assert g["status_series"] == []
        status = {(labels["method"], labels["status"]): v for labels, v in x["status_series"]
                  if labels["__name__"] == "gunicorn_requests_total"}
        assert status == {("GET", "200"): sent["gpx"] - 50, ("GET", "404"): 30, ("POST", "200"): 20}, status
        # Sizes: only gpx renders them.
        assert g["request_size_sum"] is None and g["response_size_count"] is None
        assert x["request_size_sum"] == 20 * len(BODY)
        assert x["response_size_count"] == sent["gpx"]
        # A 404 is no failure on either.
        assert g["failed"] is None and x["failed"] is None
        # gpx's state series are fixed: 5 states x 2 slots; the exporter's
        # `timestamp` label makes more than one per worker.
        assert x["state_series"] == 10
        assert g["state_series"] > 2, g["state_series"]

        # -- the restart families, after one forced restart on each -------
        def timed_out(server):
            try:
                r = requests.get(server.url(f"/sleep?s={3 * REQUEST_TIMEOUT}"), timeout=6 * REQUEST_TIMEOUT)
            except requests.RequestException:
                return True  # uWSGI: the worker was killed, no answer
            return r.status_code == 500  # Gunicorn: the aborted worker's error page

        with ThreadPoolExecutor(2) as pool:
            assert list(pool.map(timed_out, jobs.values())) == [True, True]
        wait_for(lambda: all(prometheus.scalar(f'sum(gunicorn_worker_restart_count_total{{job="{job}"}})') == 1
                             for job in jobs), 60, interval=0.2, what="prometheus to scrape one restart on each")
        time.sleep(2)  # a few samples of it, for rate()
        restarts = {job: {name: prometheus.query(expr.format(job=job)) for name, expr in RESTART_QUERIES.items()}
                    for job in jobs}
        for job in jobs:
            print(f"  restarts {job:8}", {name: [(labels, v) for labels, v in res]
                                          for name, res in restarts[job].items()})
        for job in jobs:
            q = restarts[job]
            # One forced restart, and the same label keys on both.
            by_type = {labels["restart_type"]: v for labels, v in q["worker_count_by_type"]}
            assert by_type.get("forced") == 1 and sum(by_type.values()) == 1, (job, by_type)
            assert {labels["restart_type"] for labels, _ in q["worker_count_rate"]} >= {"forced"}, (job, q)
            assert sum(v for _, v in q["worker_count_by_worker"]) == 1, (job, q["worker_count_by_worker"])
        # The reason's value differs: the exporter calls a worker timeout "abort", gpx "timeout".
        g_reasons = {(lb["restart_type"], lb["reason"]): v for lb, v in restarts["gunicorn"]["worker_count_by_reason"]}
        x_reasons = {(lb["restart_type"], lb["reason"]): v for lb, v in restarts["gpx"]["worker_count_by_reason"]}
        assert g_reasons == {("forced", "abort"): 1}, g_reasons
        assert x_reasons == {("forced", "timeout"): 1, **{(t, r): 0 for t, r in (
            ("graceful", "max_requests"), ("graceful", "lifetime"), ("graceful", "idle"), ("graceful", "reload"),
            ("forced", "memory"), ("forced", "crash"), ("forced", "signal"))}}, x_reasons
        # gpx's series exist from the start, so rate() sees the step; the exporter's appear at 1.
        x_rate = {labels["restart_type"]: v for labels, v in restarts["gpx"]["worker_count_rate"]}
        assert x_rate["forced"] > 0 and x_rate["graceful"] == 0, x_rate
        # The master's family: gpx fills it; 0.2.4 declares it and renders no sample.
        assert restarts["gunicorn"]["master_count_by_reason"] == []
        x_master = {(lb["reason"], lb["restart_type"]): v for lb, v in restarts["gpx"]["master_count_by_reason"]}
        assert x_master[("timeout", "forced")] == 1 and sum(x_master.values()) == 1, x_master
        assert "# TYPE gunicorn_master_worker_restart_count_total counter" in requests.get(
            gunicorn.metrics_url, timeout=5).text.splitlines()

        print(f"  runtime {time.monotonic() - started:.1f} s")
    finally:
        for p in (prometheus, gunicorn, uwsgi):
            p.stop()
