"""The app's own prometheus_client metrics on gpx's /metrics.

The app (apps/app_metrics.py) uses prometheus_client in multiprocess mode in
the directory gpx uses. gpx must show its counters, gauges (every mode),
histograms and summaries exactly as prometheus_client's MultiProcessCollector
renders the same directory, fold the files of ended workers into its store
(the directory stays small however many respawns happen) without losing or
doubling a count, across recycling, SIGHUP reloads, restarts, and with Redis
storage across hosts.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from conftest import (
    app_headers,
    app_samples,
    epoll_waiting,
    get_text,
    lines_with,
    parse_metrics,
    wait_accepting,
    wait_for,
    wsgi_server,
)

APP = Path(__file__).resolve().parent / "apps" / "app_metrics.py"
MODES = ("all", "liveall", "min", "livemin", "max", "livemax", "sum", "livesum", "mostrecent", "livemostrecent")


def app_server(server_factory, build, *args, env=None, multiproc_dir=None):
    return wsgi_server(server_factory, build, APP, *args, with_prometheus_client=True, env=env,
                       multiproc_dir=multiproc_dir)


def reference(directory) -> str:
    """prometheus_client's own rendering of a directory."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))
    return generate_latest(registry).decode()


def hits(s) -> float:
    return s.scrape().get("app_hits_total", path="/hit") or 0.0


def files(s) -> list[str]:
    return sorted(os.listdir(s.multiproc_dir))


def send_hits(s, count):
    for _ in range(count):
        get_text(s, "/hit")


# -- the exact merge over recycled workers -------------------------------------------


@pytest.mark.slow
def test_counter_exact_over_recycled_workers(build, server_factory):
    s = app_server(server_factory, build, "--processes", "2", "--max-requests", "10",
                   "--min-worker-lifetime", "0").start()
    wait_accepting(s, 2)
    for i in range(300):
        get_text(s, "/hit")
        if i % 20 == 0:
            assert len(files(s)) < 12, files(s)
    seen = {line.split("(pid ")[1].split(")")[0] for line in lines_with(s, "takes slot")}
    # 300 requests with max-requests 10 over 2 workers: about 30 recycles.
    assert len(seen) >= 25, len(seen)
    wait_for(lambda: hits(s) == 300, 10, what="300 hits")
    assert hits(s) == 300
    wait_for(lambda: len(files(s)) < 12, 10, what="the ended workers' files folded")
    # Every prometheus_client file left belongs to a live process.
    live = {str(p) for p in s.worker_pids()} | {str(s.master_pid)}
    for name in files(s):
        if name.endswith(".db"):
            assert name.rsplit("_", 1)[1][:-3] in live, (name, live)
    assert hits(s) == 300


# -- every gauge mode, histograms, summaries: as MultiProcessCollector ----------------


def drive(s, values):
    for v in values:
        get_text(s, f"/gauge?v={v}")
        get_text(s, f"/observe?v={v / 10}")
    get_text(s, "/hit?n=2.5")
    get_text(s, "/odd")


def gauge_in_both_workers(s, value):
    """Sets the gauges in each of two single-threaded workers. The kernel may
    hand every sequential connection to the same worker; a request left
    half-sent keeps one worker reading it, so the next one goes to the other."""
    port = s.app_port
    with socket.create_connection(("127.0.0.1", port), timeout=10) as held:
        held.sendall(f"GET /gauge?v={value} HTTP/1.0\r\n".encode())
        wait_for(lambda: sum(1 for p in s.worker_pids() if not epoll_waiting(p)) == 1, 10,
                 what="one worker reading the half-sent request")
        get_text(s, f"/gauge?v={value}")
        held.sendall(b"Host: localhost\r\n\r\n")
        assert held.makefile("rb").readline().split()[1] == b"200"


@pytest.mark.smoke
def test_same_as_multiprocess_collector(build, server_factory, tmp_path):
    s = app_server(server_factory, build, "--processes", "2").start()
    pids = wait_accepting(s, 2)
    drive(s, [3, -1, 7, 0.25, 12, 4, 9, 1e-7, 15000000, 2])
    gauge_in_both_workers(s, 5)
    text = s.scrape_text()
    expected = reference(s.multiproc_dir)
    assert app_samples(text) == app_samples(expected)
    assert app_headers(text) == app_headers(expected)
    # Both workers served, each wrote its own gauges: `all` has a series per pid.
    assert len([k for k in app_samples(text) if k[0] == "app_all_level"]) == 2
    assert parse_metrics(text).value("app_latency_seconds_count", route="/observe") == 10
    assert parse_metrics(text).value("app_size_bytes_count") == 10

    # A worker ends: its counters, histograms, summaries and min/max/sum/
    # mostrecent gauges are kept, its live* and `all` gauges dropped.
    before = tmp_path / "before"
    shutil.copytree(s.multiproc_dir, before)
    victim = pids[0]
    os.kill(victim, signal.SIGKILL)
    wait_accepting(s, 2, exclude=[victim])
    wait_for(lambda: not any(name.endswith(f"_{victim}.db") for name in files(s)), 10, what="the files folded")
    for name in os.listdir(before):
        if name.startswith(("gauge_live", "gauge_all_")) and name.endswith(f"_{victim}.db"):
            os.remove(before / name)
    for name in files(s):  # what the new worker wrote meanwhile, if anything
        if name.endswith(".db") and not (before / name).exists():
            shutil.copy(Path(s.multiproc_dir) / name, before / name)
    text = s.scrape_text()
    assert app_samples(text) == app_samples(reference(before))
    assert len([k for k in app_samples(text) if k[0] == "app_all_level"]) == 1


def test_counter_family_named_with_total_in_the_text_format(build, server_factory):
    # As generate_latest: the family and its sample both end in _total.
    s = app_server(server_factory, build, "--processes", "1").start()
    get_text(s, "/hit")
    text = s.scrape_text()
    assert "# TYPE app_hits_total counter" in text
    assert 'app_hits_total{path="/hit"} 1.0' in text


def test_openmetrics_page_with_the_app_and_uwsgi_metrics_is_valid(build, server_factory):
    """gpx's families, uWSGI's metrics subsystem and the app's metrics on one
    page: prometheus_client's strict OpenMetrics parser and promtool (text)
    accept it, with the app's values exact in both."""
    s = app_server(server_factory, build, "--processes", "2", "--enable-metrics").start()
    send_hits(s, 5)
    get_text(s, "/odd")
    get_text(s, "/gauge?v=3")
    get_text(s, "/observe?v=0.2")
    wait_for(lambda: hits(s) == 5, what="5 hits")

    r = requests.get(s.metrics_url, headers={"Accept": "application/openmetrics-text;version=1.0.0"}, timeout=5)
    assert r.headers["Content-Type"] == "application/openmetrics-text; version=1.0.0; charset=utf-8"
    assert r.text.endswith("\n# EOF\n") and r.text.count("# EOF") == 1
    families = {f.name: f for f in text_string_to_metric_families(r.text)}
    assert families["app_hits"].type == "counter"
    assert [(x.name, x.labels, x.value) for x in families["app_hits"].samples] == [
        ("app_hits_total", {"path": "/hit"}, 5.0)]
    assert families["app_latency_seconds"].type == "histogram"
    assert {x.labels["le"]: x.value for x in families["app_latency_seconds"].samples
            if x.name == "app_latency_seconds_bucket"}["0.5"] == 1.0
    assert families["gunicorn_requests"].type == "counter"
    assert "uwsgi_worker_requests" in families

    check = subprocess.run(["promtool", "check", "metrics"], input=s.scrape_text(), capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


# -- SIGHUP reload and a cold restart: nothing lost, nothing doubled -----------------


@pytest.mark.slow
def test_reload_and_restart_continue_exactly(build, server_factory):
    args = ("--processes", "2", "--max-requests", "10", "--min-worker-lifetime", "0", "--worker-reload-mercy", "5",
            "--gpx-instance", "reloaded")
    s = app_server(server_factory, build, *args).start()
    old = wait_accepting(s, 2)
    send_hits(s, 45)
    s.signal(signal.SIGHUP)
    wait_for(lambda: len(lines_with(s, "gpx: serving metrics")) == 2, 30, what="metrics served again")
    wait_accepting(s, 2, exclude=old)
    assert hits(s) == 45
    send_hits(s, 55)
    wait_for(lambda: hits(s) == 100, 10, what="100 hits")
    s.stop()

    again = app_server(server_factory, build, *args, multiproc_dir=s.multiproc_dir).start()
    wait_accepting(again, 2)
    assert hits(again) == 100
    send_hits(again, 20)
    wait_for(lambda: hits(again) == 120, 10, what="120 hits")
    assert len(files(again)) < 12, files(again)


def test_cleanup_on_cold_start_resets_the_store(build, server_factory):
    s = app_server(server_factory, build, "--processes", "1", "--gpx-instance", "clean").start()
    send_hits(s, 5)
    s.stop()
    again = app_server(server_factory, build, "--processes", "1", "--gpx-instance", "clean",
                       "--gpx-cleanup-db-files", "true", multiproc_dir=s.multiproc_dir).start()
    assert hits(again) == 0
    send_hits(again, 3)
    assert hits(again) == 3


def test_files_of_unknown_processes_are_left_alone(build, server_factory, tmp_path):
    # A process of another server that shares the directory, now ended: its
    # values are shown, its file is never folded or removed.
    directory = tmp_path / "shared"
    directory.mkdir()
    script = ("from prometheus_client import Counter\n"
              "Counter('app_hits', 'Hits of the app.', ['path']).labels(path='/hit').inc(7)\n")
    subprocess.run([sys.executable, "-c", script], env=dict(os.environ, PROMETHEUS_MULTIPROC_DIR=str(directory)),
                   check=True)
    (foreign,) = os.listdir(directory)
    s = app_server(server_factory, build, "--processes", "1", "--max-requests", "2", "--min-worker-lifetime", "0",
                   multiproc_dir=str(directory)).start()
    old = wait_accepting(s, 1)
    send_hits(s, 4)
    s.signal(signal.SIGHUP)
    wait_for(lambda: len(lines_with(s, "gpx: serving metrics")) == 2, 30, what="metrics served again")
    wait_accepting(s, 1, exclude=old)
    wait_for(lambda: hits(s) == 11, 10, what="11 hits")
    assert (directory / foreign).exists()


# -- Redis storage ----------------------------------------------------------------------


def redis_server(server_factory, build, r, directory: Path):
    directory.mkdir(exist_ok=True)
    s = app_server(server_factory, build, "--processes", "2", "--max-requests", "10", "--min-worker-lifetime", "0",
                   *r.gpx_args("app-r"), env={"PROMETHEUS_MULTIPROC_DIR": str(directory)},
                   multiproc_dir=str(directory))
    s.start()
    wait_for(lambda: s.scrape().value("gunicorn_exporter_storage_up") == 1, 15, what="storage up")
    return s


@pytest.mark.slow
def test_redis_publishes_and_restores_the_app_metrics(build, redis_factory, server_factory, tmp_path):
    r = redis_factory()
    host_a, host_b = tmp_path / "host-a", tmp_path / "host-b"

    a = redis_server(server_factory, build, r, host_a)
    send_hits(a, 50)
    wait_for(lambda: hits(a) == 50, 10, what="50 hits")
    a.stop()
    assert r.exists("gunicorn:gpx:app:app-r")

    # Another host, same instance name: the counts continue.
    b = redis_server(server_factory, build, r, host_b)
    wait_for(lambda: hits(b) == 50, 15, what="50 hits restored")
    send_hits(b, 30)
    wait_for(lambda: hits(b) == 80, 10, what="80 hits")
    old = wait_accepting(b, 2)
    b.signal(signal.SIGHUP)
    wait_for(lambda: len(lines_with(b, "gpx: serving metrics")) == 2, 30, what="metrics served again")
    wait_accepting(b, 2, exclude=old)
    wait_for(lambda: b.scrape().value("gunicorn_exporter_storage_up") == 1, 15, what="storage up")
    assert hits(b) == 80
    send_hits(b, 5)
    wait_for(lambda: hits(b) == 85, 10, what="85 hits")
    b.stop()

    # The first host again, its own store older than what Redis holds.
    a2 = redis_server(server_factory, build, r, host_a)
    wait_for(lambda: hits(a2) == 85, 15, what="85 hits restored")
    send_hits(a2, 15)
    wait_for(lambda: hits(a2) == 100, 10, what="100 hits")
    assert len(os.listdir(host_a)) < 12, os.listdir(host_a)
