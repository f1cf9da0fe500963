"""The uwsgi-exporter profile against uWSGI's own stats server, on both builds.

uwsgi_exporter builds every series from the stats server's JSON; with
`gpx-profile = uwsgi-exporter` gpx serves the same families from the master.
After traffic that moves every field (requests on two sockets' worth of
workers, exceptions, a harakiri, a worker that exits and is respawned, a
cache with hits, misses and a full store), the stats server's JSON and gpx's
page are read at one moment and compared series by series, with the
sidecar's unit conversions. Then a SIGHUP reload: the stats server's
counters start again from zero, gpx's continue.
"""

from __future__ import annotations

import json
import signal
import socket
from pathlib import Path

import pytest
import requests
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from conftest import (
    Server,
    free_port,
    get_ok,
    lines_with,
    parse_metrics,
    send,
    valid_text,
    wait_accepting,
    wait_for,
)

APP = Path(__file__).resolve().parent / "apps" / "stats_app.py"
URI = "unix:///run/uwsgi/stats.sock"
OPENMETRICS = {"Accept": "application/openmetrics-text;version=1.0.0"}
# The sidecar's cache counters are named without _total: promtool's lint
# says so of each, and nothing else.
CACHE_COUNTERS = ("uwsgi_cache_hits", "uwsgi_cache_misses", "uwsgi_cache_full")


def profile_server(server_factory, build, *args, cores=True, workers=2) -> tuple[Server, int]:
    port, stats = free_port(), free_port()
    s = server_factory(build, "--http-socket", f"127.0.0.1:{port}", "--socket", f"127.0.0.1:{free_port()}",
                       "--wsgi-file", str(APP), "--processes", str(workers), "--stats", f"127.0.0.1:{stats}",
                       "--cache2", "name=gpxcache,items=4", "--memory-report", "--gpx-profile", "uwsgi-exporter",
                       "--gpx-stats-uri", URI, "--gpx-collect-cores", "true" if cores else "false", *args,
                       app_port=port, with_app=False, env={"CACHE": "gpxcache"})
    s.start()
    wait_accepting(s, workers)
    return s, stats


def read_stats(port: int) -> dict:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
        data = b""
        while chunk := c.recv(65536):
            data += chunk
    return json.loads(data)


def expected(stats: dict, cores: bool) -> dict:
    """The sidecar's series of one stats JSON: {(name, labels): value}."""
    out = {}

    def add(family, value, **labels):
        out[(family, tuple(sorted({"stats_uri": URI, **labels}.items())))] = float(value)

    add("uwsgi_listen_queue_length", stats["listen_queue"])
    add("uwsgi_listen_queue_errors", stats["listen_queue_errors"])
    add("uwsgi_signal_queue_length", stats["signal_queue"])
    workers = [w for w in stats["workers"] if w["id"] != 0]
    add("uwsgi_workers", len(workers))
    seen = set()
    for s in stats["sockets"]:
        if (s["name"], s["proto"]) in seen:
            continue
        seen.add((s["name"], s["proto"]))
        for family, field in (("queue_length", "queue"), ("max_queue_length", "max_queue"), ("shared", "shared"),
                              ("can_offload", "can_offload")):
            add(f"uwsgi_socket_{family}", s[field], name=s["name"], proto=s["proto"])
    for w in workers:
        wid = str(w["id"])
        for family, value in (
                ("accepting", w["accepting"]), ("delta_requests", w["delta_requests"]),
                ("signal_queue_length", w["signal_queue"]), ("rss_bytes", w["rss"]), ("vsz_bytes", w["vsz"]),
                ("running_time_seconds", w["running_time"] / 1e6), ("last_spawn_time_seconds", w["last_spawn"]),
                ("average_response_time_seconds", w["avg_rt"] / 1e6),
                ("busy", w["status"] == "busy"), ("idle", w["status"] == "idle"), ("cheap", w["status"] == "cheap"),
                ("requests_total", w["requests"]), ("exceptions_total", w["exceptions"]),
                ("harakiri_count_total", w["harakiri_count"]), ("signals_total", w["signals"]),
                ("respawn_count_total", w["respawn_count"]), ("transmitted_bytes_total", w["tx"]),
                ("apps", len(w["apps"])), ("cores", len(w["cores"]))):
            add(f"uwsgi_worker_{family}", value, worker_id=wid)
        for a in w["apps"]:
            labels = {"worker_id": wid, "app_id": str(a["id"]), "mountpoint": a["mountpoint"], "chdir": a["chdir"]}
            add("uwsgi_worker_app_startup_time_seconds", a["startup_time"], **labels)
            add("uwsgi_worker_app_requests_total", a["requests"], **labels)
            add("uwsgi_worker_app_exceptions_total", a["exceptions"], **labels)
        for c in w["cores"] if cores else ():
            labels = {"worker_id": wid, "core_id": str(c["id"])}
            add("uwsgi_worker_core_busy", c["in_request"], **labels)
            for field in ("requests", "static_requests", "routed_requests", "offloaded_requests", "write_errors",
                          "read_errors"):
                add(f"uwsgi_worker_core_{field}_total", c[field], **labels)
    for c in stats.get("caches", ()):
        add("uwsgi_cache_hits", c["hits"], name=c["name"])
        add("uwsgi_cache_misses", c["miss"], name=c["name"])
        add("uwsgi_cache_full", c["full"], name=c["name"])
        add("uwsgi_cache_items", c["items"], name=c["name"])
        add("uwsgi_cache_max_items", c["max_items"], name=c["name"])
    return out


def profile_series(text: str) -> dict:
    """gpx's series that carry stats_uri: the sidecar's families."""
    return {k: v for k, v in parse_metrics(text).items() if any(name == "stats_uri" for name, _ in k[1])}


def same_moment(s: Server, stats_port: int, cores: bool) -> tuple[dict, dict, str]:
    """The stats JSON and gpx's page, read until the JSON did not change
    around the page (a worker's memory report or the master's cycle can move
    a field between two reads)."""

    def read():
        before = read_stats(stats_port)
        text = s.scrape_text()
        after = read_stats(stats_port)
        if expected(before, cores) != expected(after, cores):
            return None
        return before, profile_series(text), text

    return wait_for(read, what="a stats JSON unchanged around gpx's page")


def traffic(s: Server) -> None:
    for _ in range(9):
        get_ok(s, "/")
    for _ in range(3):
        assert send(s, "GET", "/raise") is None
    for key in ("a", "b", "c", "d", "e", "f"):  # items=4: the last ones find it full
        get_ok(s, f"/cache/set?k={key}")
    for key in ("a", "b", "zz"):
        get_ok(s, f"/cache/get?k={key}")


def test_every_series_equals_the_stats_server(build, server_factory):
    s, stats_port = profile_server(server_factory, build, "--harakiri", "1")
    old = s.worker_pids()
    traffic(s)
    assert send(s, "GET", "/sleep?s=10", timeout=20) is None  # harakiri ends it
    assert send(s, "GET", "/exit") is None
    wait_for(lambda: len(lines_with(s, "HARAKIRI ON WORKER")) == 1, 20, what="the harakiri")
    wait_for(lambda: len(set(s.worker_pids()) - set(old)) == 2, 30, what="two workers respawned")
    wait_accepting(s, 2)

    stats, page, text = same_moment(s, stats_port, cores=True)
    want = expected(stats, cores=True)
    assert page == want
    # The traffic moved what it should: the comparison is not of zeros.
    workers = stats["workers"]
    assert sum(w["exceptions"] for w in workers) == 3
    assert sum(w["harakiri_count"] for w in workers) == 1
    assert sum(w["respawn_count"] for w in workers) == 4  # two spawns, two respawns
    assert sum(w["requests"] for w in workers) > 0
    cache = stats["caches"][0]
    assert (cache["name"], cache["hits"], cache["miss"]) == ("gpxcache", 2, 1) and cache["full"] >= 2
    assert len(stats["sockets"]) == 2
    # The sidecar's own families, answered by gpx.
    m = parse_metrics(text)
    assert m.value("uwsgi_up") == 1
    assert m.value("uwsgi_exporter_scrape_errors_total") == 0
    assert m.value("uwsgi_exporter_scrapes_total") >= 1
    # gpx's own families stay; uWSGI's metrics subsystem is not served.
    names = {name for name, _ in m}
    assert "gunicorn_exporter_build_info" in names and "gunicorn_requests_total" in names
    assert "uwsgi_core_busy_workers" not in names
    valid_text(text, lint_ok=CACHE_COUNTERS)
    om = requests.get(s.metrics_url, headers=OPENMETRICS, timeout=10).text
    families = {f.name: f.type for f in text_string_to_metric_families(om)}
    assert families["uwsgi_worker_requests"] == "counter"
    assert families["uwsgi_cache_hits"] == "unknown"
    assert families["uwsgi_worker_core_busy"] == "gauge"


def test_cores_off_by_default_and_both_keeps_uwsgi_metrics_off_the_profile(build, server_factory):
    s, stats_port = profile_server(server_factory, build, "--gpx-profile", "both", "--enable-metrics", cores=False)
    get_ok(s, "/")
    stats, page, text = same_moment(s, stats_port, cores=False)
    assert page == expected(stats, cores=False)
    assert "uwsgi_worker_core_" not in "".join(name for name, _ in page)
    m = parse_metrics(text)
    # uWSGI's metrics subsystem: its names the profile does not serve stay
    # (uwsgi_worker_rss_size...), the ones it does are the profile's alone.
    names = {name for name, _ in m}
    assert "uwsgi_worker_rss_size" in names or "uwsgi_core_busy_workers" in names
    requests_series = [labels for name, labels in m if name == "uwsgi_worker_requests_total"]
    assert requests_series and all(dict(labels).get("stats_uri") == URI for labels in requests_series)
    valid_text(text, lint_ok=CACHE_COUNTERS)


@pytest.mark.parametrize("storage", ["files", "redis"])
def test_reload_resets_the_stats_server_not_gpx(build, storage, redis_factory, server_factory):
    args = redis_factory().gpx_args("reload") if storage == "redis" else ()
    s, stats_port = profile_server(server_factory, build, *args, cores=False)
    master = s.master_pid
    for _ in range(7):
        get_ok(s, "/")
    for _ in range(2):
        assert send(s, "GET", "/raise") is None
    stats, page, _ = same_moment(s, stats_port, cores=False)
    before = sum(w["requests"] for w in stats["workers"])
    before_exc = sum(w["exceptions"] for w in stats["workers"])
    assert before >= 9 and before_exc == 2

    old = wait_accepting(s, 2)
    s.signal(signal.SIGHUP)
    wait_for(lambda: len(lines_with(s, "gpx: serving metrics")) == 2, 30, what="metrics served again")
    wait_accepting(s, 2, exclude=old)
    assert s.master_pid == master
    for _ in range(5):
        get_ok(s, "/")

    # With Redis the new master restores the earlier totals once its
    # workers run: wait for them on the page.
    def continued():
        stats, page, text = same_moment(s, stats_port, cores=False)
        after = sum(w["requests"] for w in stats["workers"])
        return (stats, after, text) if parse_metrics(text).sum("uwsgi_worker_requests_total") == before + after \
            else None

    stats, after, text = wait_for(continued, what="the earlier master's counts on the page")
    # The sidecar's source started again from zero...
    assert 5 <= after < before
    assert sum(w["exceptions"] for w in stats["workers"]) == 0
    m = parse_metrics(text)
    # ...gpx's counters continue: what the earlier master counted, plus now.
    assert m.sum("uwsgi_worker_requests_total") == before + after
    assert m.sum("uwsgi_worker_exceptions_total") == before_exc
    assert m.sum("uwsgi_worker_app_requests_total") == before + after
    # Gauges are the stats server's own.
    for w in stats["workers"]:
        assert m.value("uwsgi_worker_last_spawn_time_seconds", stats_uri=URI, worker_id=str(w["id"])) == w[
            "last_spawn"]
