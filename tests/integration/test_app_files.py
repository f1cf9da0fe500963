"""Whatever prometheus_client files the directory holds, the page is valid.

- Files of the Gunicorn exporter (gpx's own family names, its label sets,
  written by the real prometheus_client, their processes gone) next to
  gpx: their families are left out, counted by reason and logged once per
  family naming the file; gpx's own counts stay exact; /metrics and the
  fleet view pass promtool (text) and prometheus_client's OpenMetrics
  parser.
- Names prometheus_client 0.26 accepts (`app.dotted`, a label `my.label`,
  a space, a newline) are rendered as it renders them; what no page can
  carry is left out, counted, logged once.
- Every file layout of the releases distributions ship: Debian 12's
  python3-prometheus-client 0.16 (the value alone) under Debian's uWSGI,
  PyPI's 0.26 (value and timestamp) under PyPI's, both in one directory;
  exact values, with the files of ended workers folded.
- A file gpx cannot read is counted and logged once, never silently
  skipped; one of an ended worker is left in place, not folded.
"""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
from pathlib import Path

import prometheus_client
import requests
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.openmetrics import exposition as openmetrics
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from conftest import (
    app_headers,
    app_samples,
    free_port,
    get_text,
    lines_with,
    parse_metrics,
    valid_text,
    wait_accepting,
    wait_for,
)

APPS = Path(__file__).resolve().parent / "apps"
APP_METRICS = APPS / "app_metrics.py"
APP_NAMES = APPS / "app_names.py"
SITE_PACKAGES = str(Path(prometheus_client.__file__).resolve().parents[1])
DEBIAN_PYTHON = "/usr/bin/python3"
DEBIAN_SITE = "/usr/lib/python3/dist-packages/"
OPENMETRICS = {"Accept": "application/openmetrics-text;version=1.0.0"}
SUFFIXES = ("_total", "_created", "_bucket", "_count", "_sum")


# -- pages ---------------------------------------------------------------------------


def scrape(s, path="/metrics", openmetrics_format=False) -> str:
    r = requests.get(f"http://127.0.0.1:{s.metrics_port}{path}", headers=OPENMETRICS if openmetrics_format else {},
                     timeout=10)
    r.raise_for_status()
    return r.text


def valid_openmetrics(text: str) -> dict:
    """prometheus_client's strict OpenMetrics parser reads every family."""
    return {f.name: f for f in text_string_to_metric_families(text)}


def types(text: str) -> dict:
    """{family: type} of the page's TYPE lines; each must be unique."""
    found = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert name not in found, f"two TYPE lines for {name}"
            found[name] = kind
    return found


def reserved_forms(page_types: dict) -> set:
    forms = set()
    for name, kind in page_types.items():
        base = name[:-6] if kind == "counter" and name.endswith("_total") else name
        forms |= {base} | {base + s for s in SUFFIXES}
    return forms


def clashes(base: str, forms: set) -> bool:
    """The rule gpx applies to its own names (docs/app-metrics.md)."""
    return base in forms or any(base + s in forms for s in SUFFIXES)


def dropped(text: str, reason: str) -> float:
    return parse_metrics(text).value("gunicorn_exporter_app_families_dropped", reason=reason)


def unreadable(text: str) -> float:
    return parse_metrics(text).value("gunicorn_exporter_app_files_unreadable")


def write_with(python: str, directory, script: str, *args) -> None:
    """Runs `script` in a process of its own that writes prometheus_client
    files into `directory` and ends: the files of a dead pid."""
    env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=str(directory))
    for var in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"):
        env.pop(var, None)
    subprocess.run([python, "-c", script, *args], env=env, check=True)


def layout_of(path) -> str:
    """The layout that reads a whole file, as gpx decides it."""
    data = Path(path).read_bytes()
    used = struct.unpack_from("i", data)[0]
    for numbers, label in ((16, "value and timestamp"), (8, "value")):
        pos = 8
        while pos < used:
            (n,) = struct.unpack_from("i", data, pos)
            key = data[pos + 4:pos + 4 + n]
            if n < 2 or key[:1] != b"[" or key[-1:] != b"]":
                break
            pos += 4 + n + (8 - (n + 4) % 8) + numbers
        if pos == used:
            return label
    return "unknown"


# -- the Gunicorn exporter's files ------------------------------------------------------

# The exporter's families with their label sets, as its prometheus_client
# stored them (counters without _total), and a family of another server.
EXPORTER = r'''
import sys
from prometheus_client import Counter, Gauge, Histogram
w = sys.argv[1]
Counter("gunicorn_worker_requests", "Requests.", ["worker_id"]).labels(w).inc(1000)
Counter("gunicorn_worker_failed_requests", "Failed.", ["worker_id", "method", "endpoint", "error_type"]).labels(
    w, "GET", "/", "KeyError").inc(3)
Counter("gunicorn_worker_error_handling", "Errors.", ["worker_id", "method", "endpoint", "error_type"]).labels(
    w, "GET", "/", "read").inc(2)
Counter("gunicorn_worker_restart", "Restarts.", ["worker_id", "reason"]).labels(w, "max_requests").inc()
Counter("gunicorn_master_worker_restart", "Restarts.", ["reason"]).labels("max_requests").inc()
Counter("gunicorn_worker_restart_count", "Restarts.", ["worker_id", "restart_type", "reason"]).labels(
    w, "graceful", "max_requests").inc()
Counter("gunicorn_master_worker_restart_count", "Restarts.", ["worker_id", "reason", "restart_type"]).labels(
    w, "max_requests", "graceful").inc()
for name in ("gunicorn_worker_request_duration_seconds", "gunicorn_worker_request_size_bytes",
             "gunicorn_worker_response_size_bytes"):
    Histogram(name, "Sizes.", ["worker_id"]).labels(w).observe(0.2)
for name in ("gunicorn_worker_memory_bytes", "gunicorn_worker_cpu_percent", "gunicorn_worker_uptime_seconds"):
    Gauge(name, "Resources.", ["worker_id"]).labels(w).set(12)
Gauge("gunicorn_worker_state", "State.", ["worker_id", "state", "timestamp"]).labels(w, "idle", "1700000000").set(1)
Counter("gunicorn_requests", "Another server's requests.", ["method", "status"]).labels("GET", "200").inc(500)
Counter("app_jobs", "The app's own.", ["queue"]).labels("mail").inc(4)
'''

EXPORTER_FAMILIES = {
    "gunicorn_worker_requests": "counter", "gunicorn_worker_failed_requests": "counter",
    "gunicorn_worker_error_handling": "counter", "gunicorn_worker_restart": "counter",
    "gunicorn_master_worker_restart": "counter", "gunicorn_worker_restart_count": "counter",
    "gunicorn_master_worker_restart_count": "counter", "gunicorn_worker_request_duration_seconds": "histogram",
    "gunicorn_worker_request_size_bytes": "histogram", "gunicorn_worker_response_size_bytes": "histogram",
    "gunicorn_worker_memory_bytes": "gauge", "gunicorn_worker_cpu_percent": "gauge",
    "gunicorn_worker_uptime_seconds": "gauge", "gunicorn_worker_state": "gauge", "gunicorn_requests": "counter",
}

KIND_FILE = {"counter": "counter_", "histogram": "histogram_", "gauge": "gauge_all_"}


def exporter_dir(directory) -> list[int]:
    """Two ended processes of the old exporter wrote their files."""
    pids = []
    for worker in ("1", "2"):
        before = set(os.listdir(directory))
        write_with(sys.executable, directory, EXPORTER, worker)
        pids += {int(n[:-3].rsplit("_", 1)[1]) for n in set(os.listdir(directory)) - before}
    return sorted(set(pids))


def check_foreign_left_out(s, own: dict, pids: list[int], requests_sent: int) -> None:
    forms = reserved_forms(own)
    expected = {name for name in EXPORTER_FAMILIES if clashes(name, forms)}
    assert {"gunicorn_worker_requests", "gunicorn_worker_request_duration_seconds", "gunicorn_worker_state",
            "gunicorn_requests"} <= expected
    for openmetrics_format in (False, True, False):
        text = scrape(s, openmetrics_format=openmetrics_format)
        if openmetrics_format:
            families = valid_openmetrics(text)
            assert families["app_jobs"].samples[0].value == 8.0
        else:
            valid_text(text)
            page = types(text)
            # gpx's own families once each; of the foreign ones only those
            # that claim none of gpx's names, and the app's own.
            assert set(page) == set(own) | {n + "_total" for n in set(EXPORTER_FAMILIES) - expected} | {
                "app_jobs_total"}
            m = parse_metrics(text)
            assert m.sum("gunicorn_requests_total") == requests_sent
            assert m.sum("gunicorn_worker_requests_total") == requests_sent
            assert m.value("app_jobs_total", queue="mail") == 8.0
        assert dropped(text, "gpx_name") == len(expected)
        assert dropped(text, "duplicate_name") == 0
        assert unreadable(text) == 0
    # Logged once per family, naming one of its files.
    for name in expected:
        lines = lines_with(s, f"the app's {EXPORTER_FAMILIES[name]} \"{name}\" (in ")
        assert len(lines) == 1, (name, lines)
        assert any(f"(in {KIND_FILE[EXPORTER_FAMILIES[name]]}{pid}.db)" in lines[0] for pid in pids), lines[0]
        assert "gunicorn_exporter_app_families_dropped{reason=\"gpx_name\"}" in lines[0]


def test_exporter_files_never_break_the_page(build, server_factory, tmp_path):
    directory = tmp_path / "multiproc"
    directory.mkdir()
    s = server_factory(build, "--processes", "2", multiproc_dir=str(directory)).start()
    own = types(s.scrape_text())  # gpx's families, the directory still empty
    assert dropped(s.scrape_text(), "gpx_name") == 0
    pids = exporter_dir(directory)
    assert len(pids) == 2 and not any(Path(f"/proc/{pid}").exists() for pid in pids)
    sent = int(s.requests_total())  # the readiness probe's
    for _ in range(7):
        requests.get(s.url("/"), timeout=5).raise_for_status()
    s.wait_requests(sent + 7)
    check_foreign_left_out(s, own, pids, sent + 7)
    # Files of processes that are not gpx's are never folded or removed.
    assert all(any(n.endswith(f"_{pid}.db") for n in os.listdir(directory)) for pid in pids)


def test_exporter_files_with_redis_storage_and_the_fleet_view(build, redis_factory, server_factory, tmp_path):
    r = redis_factory()
    directory = tmp_path / "multiproc"
    directory.mkdir()
    where = (["--gpx-redis-host", r.unixsocket] if r.unixsocket else
             ["--gpx-redis-host", "127.0.0.1", "--gpx-redis-port", str(r.port)])
    s = server_factory(build, "--processes", "2", "--gpx-redis", "true", "--gpx-redis-interval", "1",
                       "--gpx-instance", "fleet-a", *where, env={"PROMETHEUS_MULTIPROC_DIR": str(directory)},
                       multiproc_dir=str(directory)).start()
    wait_for(lambda: s.scrape().value("gunicorn_exporter_storage_up") == 1, 15, what="storage up")
    own = types(s.scrape_text())
    pids = exporter_dir(directory)
    sent = int(s.requests_total())
    for _ in range(5):
        requests.get(s.url("/"), timeout=5).raise_for_status()
    sent += 5
    s.wait_requests(sent)
    check_foreign_left_out(s, own, pids, sent)

    def fleet_counts():
        m = parse_metrics(scrape(s, "/metrics/fleet"))
        return m.get("gunicorn_requests_total", gpx_instance="fleet-a", method="GET", status="200") == sent

    wait_for(fleet_counts, 10, what=f"{sent} requests in the fleet view")
    text = scrape(s, "/metrics/fleet")
    valid_text(text)
    m = parse_metrics(text)
    assert m.sum("gunicorn_worker_requests_total", gpx_instance="fleet-a") == sent
    assert m.value("gunicorn_requests_total", method="GET", status="200") == sent
    families = valid_openmetrics(scrape(s, "/metrics/fleet", openmetrics_format=True))
    assert sum(x.value for x in families["gunicorn_requests"].samples
               if x.labels.get("gpx_instance") == "fleet-a") == sent
    assert not any(name.startswith("app_") for name in families)


# -- names prometheus_client 0.26 accepts -------------------------------------------------


def names_server(server_factory, build, *args, directory=None):
    port = free_port()
    path = ("--pythonpath", SITE_PACKAGES) if build.name == "system" else ()
    return server_factory(build, *path, "--http-socket", f"127.0.0.1:{port}", "--wsgi-file", str(APP_NAMES), *args,
                          app_port=port, with_app=False, multiproc_dir=directory)


def reference_lines(directory, openmetrics_format: bool) -> set:
    """prometheus_client's own rendering of the directory (PyPI's 0.26)."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))
    render = openmetrics.generate_latest if openmetrics_format else generate_latest
    return {line for line in render(registry).decode().splitlines() if line != "# EOF"}


CRAFTED = r'''
from prometheus_client import Counter
Counter("crafted name\nnext", "Help\nwith \"quotes\".", ["a b"]).labels(**{"a b": "v\n"}).inc(3)
'''


def test_app_names_rendered_as_prometheus_client_renders_them(build, server_factory, tmp_path):
    directory = tmp_path / "multiproc"
    s = names_server(server_factory, build, "--processes", "2", directory=str(directory)).start()
    wait_accepting(s, 2)
    for _ in range(6):
        requests.get(s.url("/work"), timeout=5).raise_for_status()
    # A crafted file: a space and a newline in the names, written by
    # prometheus_client itself in a process that has ended.
    write_with(sys.executable, directory, CRAFTED)
    for openmetrics_format in (False, True):
        page = scrape(s, openmetrics_format=openmetrics_format)
        if openmetrics_format:
            valid_openmetrics(page)
        else:
            valid_text(page)
        lines = set(page.splitlines())
        expected = reference_lines(directory, openmetrics_format)
        # Every line prometheus_client writes, gpx writes (sample and header).
        assert expected <= lines, sorted(expected - lines)
        assert "app_dotted_total{my_label=\"v \\\"quoted\\\"\"} 6.0" in lines
        assert "crafted_name_next_total{a_b=\"v\\n\"} 3.0" in lines
        assert not any(line.startswith("next") for line in lines)
        assert dropped(page, "invalid_labels") == 0 and dropped(page, "duplicate_name") == 0


TROUBLE = r'''
import os
from prometheus_client import Counter, Gauge
from prometheus_client.mmap_dict import MmapedDict, mmap_key
Counter("app_dotted", "The same name once escaped.").inc(1)
Counter("app:colon", "A colon.").inc(2)
Gauge("uwsgi_core_total_rss", "A name of uWSGI's metrics.", multiprocess_mode="max").set(3)
# Label names prometheus_client refuses to create, written as its files hold keys.
f = MmapedDict(os.path.join(os.environ["PROMETHEUS_MULTIPROC_DIR"], f"counter_{os.getpid()}.db"))
f.write_value(mmap_key("app_reserved", "app_reserved_total", ["__x"], ["v"], "A reserved label."), 1.0, 0.0)
f.write_value(mmap_key("app_twice", "app_twice_total", ["my.label", "my_label"], ["a", "b"], "Alike."), 1.0, 0.0)
f.close()
'''


def test_what_no_page_can_carry_is_left_out_and_logged_once(build, server_factory, tmp_path):
    directory = tmp_path / "multiproc"
    s = names_server(server_factory, build, "--processes", "1", "--enable-metrics", directory=str(directory)).start()
    requests.get(s.url("/work"), timeout=5).raise_for_status()
    write_with(sys.executable, directory, TROUBLE)
    for openmetrics_format in (False, True, False, True):
        page = scrape(s, openmetrics_format=openmetrics_format)
        if openmetrics_format:
            families = valid_openmetrics(page)
            # prometheus_client writes "a_b_total" under "# TYPE a:b counter",
            # which its own parser reads as two families; gpx keeps the name.
            assert [x.name for x in families["app:colon"].samples] == ["app:colon_total"]
            assert "app:colon_total 2.0" in page.splitlines()
        else:
            valid_text(page, lint_ok=("app:colon_total",))
            assert "app:colon_total 2.0" in page.splitlines()
        # app_dotted, valid as it is, keeps its name: the app's app.dotted,
        # escaped to it, is left out.
        assert "app_dotted_total 1.0" in page.splitlines()
        assert dropped(page, "duplicate_name") == 1
        assert dropped(page, "invalid_labels") == 2
        # uWSGI's metrics subsystem has the gauge's name: uWSGI's is served.
        assert dropped(page, "gpx_name") == 1
        assert page.count("# TYPE uwsgi_core_total_rss gauge") == 1
        assert "app_reserved" not in page and "app_twice" not in page
    assert len(lines_with(s, "the app's counter \"app.dotted\" (in counter_")) == 1
    assert len(lines_with(s, "the app's counter \"app_reserved\" (in counter_")) == 1
    assert len(lines_with(s, "the app's counter \"app_twice\" (in counter_")) == 1
    assert len(lines_with(s, "the app's gauge \"uwsgi_core_total_rss\" (in gauge_max_")) == 1


# -- every layout: Debian 12's 0.16 under Debian's uWSGI, PyPI's 0.26 under PyPI's ----------

# Which prometheus_client each build's app imports: Debian's uWSGI runs
# Debian's python3 and its dist-packages, PyPI's the venv's.
STACKS = {
    "system": {"version": "0.16.0", "where": DEBIAN_SITE, "python": DEBIAN_PYTHON, "layout": "value"},
    "pypi": {"version": "0.26.0", "where": "site-packages/prometheus_client", "python": sys.executable,
             "layout": "value and timestamp"},
}


def stack_server(server_factory, build, *args, directory=None):
    port = free_port()
    s = server_factory(build, "--http-socket", f"127.0.0.1:{port}", "--wsgi-file", str(APP_METRICS), *args,
                       app_port=port, with_app=False, multiproc_dir=directory)
    for var in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"):
        s.env.pop(var, None)
    return s


REFERENCE = r'''
import sys
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
registry = CollectorRegistry()
MultiProcessCollector(registry, path=sys.argv[1])
sys.stdout.write(generate_latest(registry).decode())
'''


def stack_reference(python: str, directory) -> str:
    """The same release's MultiProcessCollector over the directory."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    return subprocess.run([python, "-c", REFERENCE, str(directory)], env=env, check=True, capture_output=True,
                          text=True).stdout


def test_each_release_layout_exact_and_folded(build, server_factory, tmp_path):
    stack = STACKS[build.name]
    directory = tmp_path / "multiproc"
    s = stack_server(server_factory, build, "--processes", "2", directory=str(directory)).start()
    pids = wait_accepting(s, 2)
    version, where = get_text(s, "/version").split()
    assert version == stack["version"] and stack["where"] in where, (version, where)
    for v in (3, -1, 7, 0.25, 12, 4, 9, 1e-7, 15000000, 2):
        get_text(s, f"/gauge?v={v}")
        get_text(s, f"/observe?v={v / 10}")
    get_text(s, "/hit?n=2.5")
    get_text(s, "/odd")
    for name in os.listdir(directory):
        if name.endswith(".db") and name.startswith("counter_"):
            assert layout_of(directory / name) == stack["layout"], name
    text = s.scrape_text()
    valid_text(text)
    valid_openmetrics(scrape(s, openmetrics_format=True))
    expected = stack_reference(stack["python"], directory)
    assert app_samples(text) == app_samples(expected)
    assert app_headers(text) == app_headers(expected)
    assert parse_metrics(text).value("app_latency_seconds_count", route="/observe") == 10
    assert unreadable(text) == 0

    # A worker ends: its files are folded and removed, nothing lost.
    victim = pids[0]
    os.kill(victim, signal.SIGKILL)
    wait_accepting(s, 2, exclude=[victim])
    wait_for(lambda: not any(n.endswith(f"_{victim}.db") for n in os.listdir(directory)), 10,
             what="the ended worker's files folded")
    text = s.scrape_text()
    m = parse_metrics(text)
    assert m.value("app_hits_total", path="/hit") == 2.5
    assert m.value("app_latency_seconds_count", route="/observe") == 10
    assert m.value("app_size_bytes_count") == 10
    assert not lines_with(s, "cannot be read whole")


def test_each_release_layout_over_recycled_workers(build, server_factory, tmp_path):
    stack = STACKS[build.name]
    directory = tmp_path / "multiproc"
    s = stack_server(server_factory, build, "--processes", "2", "--max-requests", "10", "--min-worker-lifetime", "0",
                     directory=str(directory)).start()
    wait_accepting(s, 2)
    assert get_text(s, "/version").split()[0] == stack["version"]
    for i in range(150):
        get_text(s, "/hit")
        if i % 25 == 0:
            assert len(os.listdir(directory)) < 16, os.listdir(directory)
    wait_for(lambda: s.scrape().get("app_hits_total", path="/hit") == 150, 10, what="150 hits")
    assert len(lines_with(s, "takes slot")) >= 10
    wait_for(lambda: len(os.listdir(directory)) < 16, 10, what="the ended workers' files folded")
    assert s.scrape().value("app_hits_total", path="/hit") == 150
    assert not lines_with(s, "cannot be read whole")


MIXED = r'''
from prometheus_client import Counter
Counter("app_hits", "Hits of the app.", ["path"]).labels(path="/hit").inc(float(__import__("sys").argv[1]))
'''


def test_both_layouts_in_one_directory(build, server_factory, tmp_path):
    directory = tmp_path / "multiproc"
    directory.mkdir()
    write_with(DEBIAN_PYTHON, directory, MIXED, "7")
    write_with(sys.executable, directory, MIXED, "5")
    assert sorted(layout_of(directory / n) for n in os.listdir(directory)) == ["value", "value and timestamp"]
    s = stack_server(server_factory, build, "--processes", "1", directory=str(directory)).start()
    for _ in range(3):
        get_text(s, "/hit")
    wait_for(lambda: s.scrape().get("app_hits_total", path="/hit") == 15, 10, what="7 + 5 + 3 hits")
    text = s.scrape_text()
    valid_text(text)
    assert unreadable(text) == 0


# -- files gpx cannot read ------------------------------------------------------------------


def test_unreadable_files_counted_logged_once_and_left_in_place(build, server_factory, tmp_path):
    directory = tmp_path / "multiproc"
    directory.mkdir()
    garbage = directory / "counter_4000000.db"
    garbage.write_bytes(struct.pack("i", 4096) + b"\x00" * 4 + b"\xff" * 200)
    s = stack_server(server_factory, build, "--processes", "1", directory=str(directory)).start()
    (worker,) = wait_accepting(s, 1)
    get_text(s, "/hit")
    for openmetrics_format in (False, True, False):
        page = scrape(s, openmetrics_format=openmetrics_format)
        assert unreadable(page) == 1
    valid_text(s.scrape_text())
    assert len(lines_with(s, "/counter_4000000.db cannot be read whole")) == 1

    # The worker's own counter file damaged, then the worker ends: its other
    # files are folded and removed, that one is left, said once.
    own = directory / f"counter_{worker}.db"
    with open(own, "r+b") as f:
        f.write(struct.pack("i", 1 << 20))  # "used" beyond the file
    os.kill(worker, signal.SIGKILL)
    wait_accepting(s, 1, exclude=[worker])
    wait_for(lambda: lines_with(s, f"/counter_{worker}.db of an ended process cannot be read whole"), 10,
             what="the damaged file left in place")
    assert own.exists() and garbage.exists()
    assert not any(n.endswith(f"_{worker}.db") and n != own.name for n in os.listdir(directory))
    for openmetrics_format in (False, True):
        page = scrape(s, openmetrics_format=openmetrics_format)
        assert unreadable(page) == 2
    valid_text(s.scrape_text())
    valid_openmetrics(scrape(s, openmetrics_format=True))
    assert len(lines_with(s, f"/counter_{worker}.db of an ended process cannot be read whole")) == 1
    assert len(lines_with(s, "/counter_4000000.db cannot be read whole")) == 1
