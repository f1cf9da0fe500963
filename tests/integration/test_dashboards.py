"""The Grafana dashboard and the Prometheus alert rules, checked for real.

- alerts/gpx-rules.yml passes `promtool check rules`, and its unit tests
  (alerts/gpx-rules.test.yml) pass `promtool test rules`, with every alert
  tested both firing and not firing;
- dashboards/gpx.json parses, every panel has its queries, and they include
  the queries of the Grafana dashboard of gunicorn-prometheus-exporter 0.2.4
  (GUNICORN_DASHBOARD_QUERIES below);
- every metric a panel or a rule reads is one gpx renders (its `# TYPE`
  lines on a live server with `gpx-profile = both`: the last row reads
  uwsgi_exporter's names), `up` aside for the exporter-down rules;
- end to end: a real Prometheus scrapes a gpx-enabled uwsgi (2 processes)
  every second while it serves traffic (200s, a 404, a 500 from /raise,
  POSTs, a slow request); every dashboard query, with its template variables
  filled in and its windows shortened to 30 s, returns data through
  Prometheus's HTTP API, and `sum(gunicorn_requests_total)` there equals
  what gpx counted, which equals what uWSGI logged. The rules load into that
  Prometheus and evaluate without errors. Run with file storage and with
  Redis storage (a private redis-server);
- the native histogram's panel returns data through a Prometheus that
  scrapes native histograms, and the panel with exemplars returns the
  trace ids of the requests sent through one with exemplar storage.

Runs on Debian's uWSGI 2.0.21 only: the names and queries do not depend on
the binary (test_requests.py covers both builds).
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import requests

from conftest import BUILDS, ROOT, logged_requests, send, wait_for
from prometheus_server import PROMETHEUS, Prometheus

DASHBOARD = ROOT / "dashboards" / "gpx.json"
RULES = ROOT / "alerts" / "gpx-rules.yml"
RULE_TESTS = ROOT / "alerts" / "gpx-rules.test.yml"

# The queries of the Gunicorn exporter's Grafana dashboard
# (gunicorn-prometheus-exporter 0.2.4), plus the request rate by status.
GUNICORN_DASHBOARD_QUERIES = [
    "rate(gunicorn_worker_requests_total[5m])",
    "histogram_quantile(0.95, rate(gunicorn_worker_request_duration_seconds_bucket[5m]))",
    "histogram_quantile(0.5, rate(gunicorn_worker_request_duration_seconds_bucket[5m]))",
    "gunicorn_worker_memory_bytes",
    "gunicorn_worker_cpu_percent",
    "sum by (status) (rate(gunicorn_requests_total[5m]))",
]

# The dashboard's last row reads uwsgi_exporter's names beside gpx's: the
# servers here serve both.
PROFILE = ("--gpx-profile", "both")

# Metrics the rules may read that Prometheus makes, not gpx.
PROMETHEUS_SERIES = {"up"}

# The template variables' values in the end-to-end test; windows are cut to
# 30 s so that a few seconds of scrapes fill them.
JOB = "gpx"
WINDOW = "30s"

# Panels that read the native histogram: only a Prometheus that scrapes
# native histograms has their data (2.42: --enable-feature=native-histograms,
# which then stores no classic buckets of that family), so they are checked
# against such a Prometheus, the others against a plain one.
NATIVE_PANELS = {"Latency p99 by method (native histogram)"}
EXEMPLAR_PANELS = {"Latency p99 by method, with exemplars"}
NATIVE_P99 = "histogram_quantile(0.99, sum by (method) (rate(gunicorn_request_duration_seconds[5m])))"
CLASSIC_P99 = "histogram_quantile(0.99, sum by (method, le) (rate(gunicorn_request_duration_seconds_bucket[5m])))"



# -- helpers -------------------------------------------------------------------
def _ensure_prometheus() -> None:
    if shutil.which("promtool") and Path(PROMETHEUS).exists():
        return
    subprocess.run(["apt-get", "install", "-y", "prometheus"], check=True, capture_output=True,
                   env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


def promtool(*args: str) -> subprocess.CompletedProcess:
    _ensure_prometheus()
    return subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=120)


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def all_panels(panels: list) -> list:
    """Every panel, rows' nested panels (collapsed rows) included."""
    out = []
    for p in panels:
        out.append(p)
        out.extend(all_panels(p.get("panels", [])))
    return out


def query_panels(d: dict) -> list:
    return [p for p in all_panels(d["panels"]) if p.get("type") != "row"]


def dashboard_targets(d: dict) -> list[tuple[str, str]]:
    """(panel title, expr) of every target of every panel."""
    return [(p["title"], t["expr"]) for p in query_panels(d) for t in p.get("targets", [])]


def rule_checks() -> list[tuple[str, bool]]:
    """(alertname, whether alerts are expected) of every check in the rule
    tests. Read with a pattern, not a YAML parser (the test tools do not
    include one): every `alertname:` must be followed by its `exp_alerts:`."""
    text = RULE_TESTS.read_text()
    checks = re.findall(r"^\s*alertname:\s*(\S+)\s*\n\s*exp_alerts:\s*(\[\])?\s*$", text, re.MULTILINE)
    assert len(checks) == len(re.findall(r"^\s*alertname:", text, re.MULTILINE)), "an alertname without exp_alerts"
    return [(name, not empty) for name, empty in checks]


def unqualified(expr: str) -> str:
    """The query without the dashboard's job and instance matchers."""
    expr = expr.replace('{job=~"$job",instance=~"$instance"}', "")
    return expr.replace('job=~"$job",instance=~"$instance",', "")


KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool",
            "offset", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (identifiers that are not
    functions, keywords, label names or inside strings, matchers or ranges)."""
    s = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    s = re.sub(r"\{[^}]*\}", " ", s)
    s = re.sub(r"\[[^\]]*\]", " ", s)
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    names = set()
    for m in re.finditer(r"(?<![0-9.])[a-zA-Z_:][a-zA-Z0-9_:]*", s):
        if m.group(0).lower() in KEYWORDS or s[m.end():].lstrip().startswith("("):
            continue
        names.add(m.group(0))
    return names


def rendered_names(metrics_text: str) -> set[str]:
    """Every sample name gpx can render: families from `# TYPE`, histograms
    with their _bucket, _count and _sum."""
    names = set()
    for family, kind in re.findall(r"^# TYPE (\S+) (\S+)$", metrics_text, re.MULTILINE):
        names.add(family)
        if kind == "histogram":
            names.update(f"{family}{suffix}" for suffix in ("_bucket", "_count", "_sum"))
    return names


def for_test(expr: str, instance: str) -> str:
    """A dashboard query as Grafana would send it, with short windows."""
    expr = expr.replace("${job}", JOB).replace("$job", JOB)
    expr = expr.replace("${instance}", re.escape(instance).replace("\\", "\\\\"))
    expr = expr.replace("$instance", re.escape(instance).replace("\\", "\\\\"))
    expr = re.sub(r"\[\$__\w+\]|\[\d+[smhdwy]\]", f"[{WINDOW}]", expr)
    assert "$" not in expr, f"a template variable left in {expr}"
    return expr


@pytest.fixture(scope="module")
def rules(tmp_path_factory) -> list[dict]:
    """The rules of gpx-rules.yml as Prometheus loaded them (its rules API:
    name, query, duration, labels, annotations), from a Prometheus that
    scrapes nothing."""
    _ensure_prometheus()
    p = Prometheus(tmp_path_factory.mktemp("rules"), [], rule_files=[RULES])
    try:
        p.start()
        loaded = p.rules()
    finally:
        p.stop()
    assert loaded and all(r["type"] == "alerting" for r in loaded)
    return loaded


def system_build():
    b = BUILDS["system"]
    if not Path(b.plugin).exists():
        pytest.fail(f"{b.plugin} is missing: run `make` first")
    return b


# -- 1. the rules --------------------------------------------------------------
def test_promtool_check_rules(rules):
    r = promtool("check", "rules", str(RULES))
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"SUCCESS: {len(rules)} rules found" in r.stdout


def test_promtool_rule_unit_tests():
    r = promtool("test", "rules", str(RULE_TESTS))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout


def test_every_alert_is_tested_firing_and_not_firing(rules):
    alerts = {r["name"] for r in rules}
    assert alerts == {"GpxHighErrorRatio", "GpxLatencySLOBurnFast", "GpxLatencySLOBurnSlow", "GpxListenBacklogFilling",
                      "GpxWorkersSaturated", "GpxWorkerRestartStorm", "GpxStorageDown", "GpxEndpointReloadFailed",
                      "GpxExporterDown", "GpxExporterAbsent"}
    fired, quiet = set(), set()
    for name, fires in rule_checks():
        (fired if fires else quiet).add(name)
    assert alerts - fired == set(), "alerts never tested firing"
    assert alerts - quiet == set(), "alerts never tested not firing"
    assert fired | quiet == alerts, "tests of alerts that do not exist"
    for r in rules:
        assert r["labels"]["severity"] in ("warning", "critical"), r["name"]
        assert r["annotations"]["summary"] and r["annotations"]["description"], r["name"]


# -- 2. the dashboard ----------------------------------------------------------
def test_dashboard_parses_and_every_panel_has_queries():
    d = dashboard()
    assert 36 <= d["schemaVersion"] <= 41
    variables = {v["name"]: v for v in d["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for name in ("job", "instance"):
        assert variables[name]["type"] == "query"
        assert variables[name]["datasource"]["uid"] == "${datasource}"

    panels = query_panels(d)
    assert len({p["id"] for p in all_panels(d["panels"])}) == len(all_panels(d["panels"])), "panel ids repeat"
    for p in panels:
        assert p["targets"], f"panel {p['title']!r} has no query"
        assert p["datasource"]["uid"] == "${datasource}", p["title"]
        assert set(p["gridPos"]) == {"h", "w", "x", "y"} and p["gridPos"]["x"] + p["gridPos"]["w"] <= 24, p["title"]
        for t in p["targets"]:
            assert t["expr"].strip(), p["title"]
            assert t["datasource"]["uid"] == "${datasource}", p["title"]
            assert 'job=~"$job"' in t["expr"] and 'instance=~"$instance"' in t["expr"], (p["title"], t["expr"])
        assert len({t["refId"] for t in p["targets"]}) == len(p["targets"]), p["title"]

    titles = {p["title"] for p in panels}
    for wanted in ("Request rate by status", "Error ratio", "Latency percentiles by method", "Per-worker latency",
                   "Requests in progress", "Workers by state", "Workers desired", "Listen backlog vs limit",
                   "Worker restarts by reason", "Memory per worker", "CPU per worker", "Storage up", "Storage errors",
                   "Scrape duration"):
        assert wanted in titles

    exprs = [unqualified(e) for _, e in dashboard_targets(d)]
    for q in GUNICORN_DASHBOARD_QUERIES:
        assert any(q in e for e in exprs), f"the Gunicorn exporter's {q} is not on the dashboard"
    for q in (0.5, 0.95, 0.99):
        assert (f"histogram_quantile({q}, sum by (method, le) "
                "(rate(gunicorn_request_duration_seconds_bucket[5m])))") in exprs
    assert "sum by (reason) (increase(gunicorn_master_worker_restart_total[10m]))" in exprs

    # The native histogram's panel, and the exemplars' one (Grafana asks
    # Prometheus for exemplars of a target with "exemplar": true).
    by_title = {p["title"]: p for p in panels}
    [native] = [by_title[t] for t in NATIVE_PANELS]
    assert [unqualified(t["expr"]) for t in native["targets"]] == [NATIVE_P99]
    [with_exemplars] = [by_title[t] for t in EXEMPLAR_PANELS]
    assert [unqualified(t["expr"]) for t in with_exemplars["targets"]] == [CLASSIC_P99]
    assert [t.get("exemplar") for t in with_exemplars["targets"]] == [True]
    assert with_exemplars["type"] == "timeseries"
    assert sum(1 for p in panels for t in p["targets"] if t.get("exemplar")) == 1


def test_metric_names_helper():
    assert metric_names(
        'histogram_quantile(0.95, sum by (method, le) (rate(a_bucket{le="0.5",x=~"b(c)"}[5m])))') == {"a_bucket"}
    assert metric_names("time() - max by (instance) (b) / on (job) group_left (x) c > 0.5 and d") == {"b", "c", "d"}
    assert metric_names('(sum(rate(e{status=~"5.+"}[5m])) or vector(0)) / absent(up{job="gpx"})') == {"e", "up"}


def test_every_metric_read_is_one_gpx_renders(rules, server_factory):
    s = server_factory(system_build(), "--processes", "2", *PROFILE).start()
    names = rendered_names(s.scrape_text())
    for title, expr in dashboard_targets(dashboard()):
        assert metric_names(expr), (title, expr)
        assert metric_names(expr) <= names, f"panel {title!r} reads {metric_names(expr) - names}, not rendered by gpx"
    for r in rules:
        read = metric_names(r["query"])
        assert read, r["name"]
        assert read <= names | PROMETHEUS_SERIES, f"rule {r['name']} reads {read - names - PROMETHEUS_SERIES}"


# -- 3. end to end, through a real Prometheus -----------------------------------


@pytest.mark.parametrize("storage", ["files", "redis"])
@pytest.mark.slow
def test_every_dashboard_query_returns_data_from_prometheus(storage, rules, redis_factory, server_factory,
                                                            prometheus_factory):
    args = ["--processes", "2", *PROFILE]
    if storage == "redis":
        r = redis_factory()
        args += ["--gpx-redis", "true", "--gpx-redis-interval", "1", "--gpx-instance", "dashboards",
                 "--gpx-redis-host", "127.0.0.1", "--gpx-redis-port", str(r.port)]
    s = server_factory(system_build(), *args).start()
    s.wait_workers_started(2)
    wait_for(lambda: s.scrape().value("gunicorn_exporter_storage_up") == 1, what="storage up")
    # The readiness probes, counted.
    before = wait_for(lambda: (n := len(logged_requests(s))) and s.requests_total() == n and n,
                      what="the probes counted")
    assert s.scrape().sum("gunicorn_exporter_build_info", storage=storage) == 1

    _ensure_prometheus()
    target = f"127.0.0.1:{s.metrics_port}"
    prom = prometheus_factory([target], job=JOB, rule_files=[RULES])
    wait_for(lambda: prom.value(f'up{{job="{JOB}"}}') == 1, 20, interval=0.2, what="prometheus scraping gpx")

    # About 10 s of traffic, scraped every second: rates and quantiles have
    # samples on both sides of every request.
    sent = {"GET /": 0, "GET /missing": 0, "GET /raise": 0, "POST /": 0, "HEAD /": 0, "GET /sleep": 0}
    answers = {"GET /": 200, "GET /missing": 404, "GET /raise": None, "POST /": 200, "HEAD /": 200, "GET /sleep": 200}
    start = time.monotonic()
    tick = 0
    while time.monotonic() - start < 10:
        kinds = ["GET /"] * 3
        if tick % 4 == 0:
            kinds += ["GET /missing", "GET /raise", "POST /", "HEAD /"]
        if tick == 8:
            kinds.append("GET /sleep")  # one request slower than 0.5 s
        for kind in kinds:
            method, path = kind.split()
            path = "/sleep?seconds=0.6" if path == "/sleep" else path
            assert send(s, method, path, b"b" * 2000 if method == "POST" else None) == answers[kind], kind
            sent[kind] += 1
        tick += 1
        time.sleep(0.2)  # the scenario: traffic spread over 10 s, for Prometheus's rates
    total_sent = sum(sent.values())

    # Exact: what uWSGI logged, gpx counted, and Prometheus scraped.
    after = wait_for(lambda: (n := len(logged_requests(s))) == before + total_sent and s.requests_total() == n and n,
                     what="every request logged and counted")
    assert after == before + total_sent
    wait_for(lambda: prom.value("sum(gunicorn_requests_total)") == after, 10, interval=0.2,
             what=f"prometheus to scrape {after} requests")
    assert prom.value("sum(gunicorn_requests_total)") == after
    assert prom.value('sum(gunicorn_requests_total{status="404"})') == sent["GET /missing"]
    assert prom.value('sum(gunicorn_requests_total{status="500"})') == sent["GET /raise"]
    assert prom.value('sum(gunicorn_worker_failed_requests_total)') == sent["GET /raise"]
    assert prom.value('sum(gunicorn_worker_requests_total)') == after
    assert prom.value(f'count_over_time(up{{job="{JOB}"}}[{WINDOW}])') >= 8, "fewer than 8 scrapes in the window"

    # Every dashboard query, as Grafana would send it for this server.
    empty, no_number = [], []
    for title, expr in dashboard_targets(dashboard()):
        if title in NATIVE_PANELS:
            continue  # test_native_and_exemplar_panels_return_data
        q = for_test(expr, target)
        result = prom.query(q)
        values = [float(x["value"][1]) for x in result]
        if not result:
            empty.append((title, q))
        elif not any(math.isfinite(v) for v in values):
            no_number.append((title, q, values))
    assert empty == [], f"queries with no data: {empty}"
    assert no_number == [], f"queries with no finite value: {no_number}"

    # A few values the traffic makes certain.
    sel = f'{{job="{JOB}",instance="{target}"}}'
    assert prom.value(f"sum(gunicorn_workers{sel})") == 2
    assert prom.value(f"sum(gunicorn_workers_desired{sel})") == 2
    assert prom.value(f"min(gunicorn_exporter_storage_up{sel})") == 1
    assert 0 < prom.value(for_test('sum(rate(gunicorn_requests_total{status=~"5.+"}[5m])) '
                                    '/ sum(rate(gunicorn_requests_total[5m]))', target)) < 0.5
    assert prom.value(f"count(gunicorn_worker_memory_bytes{sel} > 0)") == 2
    assert prom.value(f'max(gunicorn_listen_backlog_limit{sel})') > 0
    slow = prom.value(for_test('sum(rate(gunicorn_request_duration_seconds_count[5m])) - '
                                'sum(rate(gunicorn_request_duration_seconds_bucket{le="0.5"}[5m]))', target))
    assert slow > 0, "the 0.6 s request is not slower than 0.5 s"
    operations = {"files": ["check", "write"], "redis": ["connect", "fleet", "publish", "restore"]}[storage]
    assert sorted(x["metric"]["operation"] for x in prom.query(f"gunicorn_exporter_storage_errors_total{sel}")) == \
        operations

    # The alert rules load into Prometheus and evaluate without errors.
    def evaluated():
        loaded = prom.rules()
        return loaded if len(loaded) == len(rules) and all(
            not r["lastEvaluation"].startswith("0001") for r in loaded) else None

    loaded = wait_for(evaluated, 10, interval=0.2, what="the rules evaluated")
    assert sorted((r["name"], r["health"], r.get("lastError", "")) for r in loaded) == sorted(
        (r["name"], "ok", "") for r in rules)
    firing = [a for a in requests.get(f"{prom.url}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
              if a["state"] == "firing"]
    assert firing == [], "no alert should fire on a healthy server within seconds"


@pytest.mark.slow
def test_native_and_exemplar_panels_return_data(server_factory, prometheus_factory):
    """The native histogram's panel through a Prometheus 2.42 with
    `--enable-feature=native-histograms`, the exemplars' panel through one
    with `--enable-feature=exemplar-storage`: each returns data for a server
    with `gpx-exemplars = true` under traffic with traceparent headers, and
    the exemplars of the second panel's query are the trace ids sent."""
    s = server_factory(system_build(), "--processes", "2", "--gpx-exemplars", "true", *PROFILE).start()
    s.wait_workers_started(2)
    target = f"127.0.0.1:{s.metrics_port}"
    native = prometheus_factory([target], job=JOB, flags=["--enable-feature=native-histograms"])
    exemplars = prometheus_factory([target], job=JOB, flags=["--enable-feature=exemplar-storage"])
    for prom in (native, exemplars):
        wait_for(lambda p=prom: p.value(f'up{{job="{JOB}"}}') == 1, 20, interval=0.2, what="prometheus scraping gpx")

    since = time.time()
    traces = set()
    start = time.monotonic()
    n = 0
    while time.monotonic() - start < 8:
        trace_id = f"{0x0AF7651916CD43DD8448EB211C80319C + n:032x}"
        traces.add(trace_id)
        headers = {"traceparent": f"00-{trace_id}-b7ad6b7169203331-01"}
        for method in ("GET", "POST"):
            assert requests.request(method, s.url("/"), headers=headers, timeout=5).status_code == 200
        n += 1
        time.sleep(0.2)  # traffic spread over the rate's window

    def ready(title_set, prom):
        for title, expr in dashboard_targets(dashboard()):
            if title in title_set:
                values = [float(x["value"][1]) for x in prom.query(for_test(expr, target))]
                if not any(math.isfinite(v) for v in values):
                    return False
        return True

    wait_for(lambda: ready(NATIVE_PANELS, native), 15, interval=0.5, what="the native panel's data")
    wait_for(lambda: ready(EXEMPLAR_PANELS, exemplars), 15, interval=0.5, what="the exemplar panel's data")
    [(title, expr)] = [(t, e) for t, e in dashboard_targets(dashboard()) if t in EXEMPLAR_PANELS]
    methods = {x["metric"]["method"] for x in native.query(for_test(
        [e for t, e in dashboard_targets(dashboard()) if t in NATIVE_PANELS][0], target))}
    assert methods == {"GET", "POST"}

    def stored():
        r = requests.get(f"{exemplars.url}/api/v1/query_exemplars",
                         params={"query": for_test(expr, target), "start": f"{since - 5:.3f}",
                                 "end": f"{time.time() + 5:.3f}"}, timeout=10)
        r.raise_for_status()
        return {e["labels"]["trace_id"] for series in r.json()["data"] for e in series["exemplars"]}

    found = wait_for(stored, 15, interval=0.5, what=f"exemplars for {title!r}")
    assert found <= traces, found - traces
