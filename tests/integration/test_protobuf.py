"""The protobuf exposition, on both uWSGI builds.

A scrape that asks for `application/vnd.google.protobuf;
proto=io.prometheus.client.MetricFamily; encoding=delimited` gets
length-delimited MetricFamily messages with exactly that Content-Type
(gzip-compressed when asked), for /metrics and for the fleet view
(/metrics/fleet); other Accept headers get text or OpenMetrics as before.
Debian's Prometheus (2.42) with `--enable-feature=native-histograms` asks
for protobuf first: gpx's debug log shows it served protobuf, and the
query API returns the exact counts of gpx's families (counters, the
classic histograms' _bucket, the per-method durations' native histogram),
uWSGI's metrics subsystem and the app's own prometheus_client counter, as
the text page has them.
"""

from __future__ import annotations

import gzip

import pytest
import requests
from protobuf_page import varint
from test_app_metrics import app_server

from conftest import probes, start, wait_for

PROTOBUF = "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"
# What Prometheus 2.42 sends with native histograms on.
PROMETHEUS_ACCEPT = ("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,"
                     "application/openmetrics-text;version=1.0.0;q=0.8,application/openmetrics-text;version=0.0.1;"
                     "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")


def family_names(body: bytes) -> list[str]:
    """The name (field 1, the first field gpx writes) of every delimited
    MetricFamily, checking that the messages fill the body exactly."""
    names, at = [], 0
    while at < len(body):
        size, at = varint(body, at)
        message = body[at:at + size]
        assert len(message) == size
        assert message[0] == 0x0A  # field 1 (name), length-delimited
        length, start = varint(message, 1)
        names.append(message[start:start + length].decode())
        at += size
    return names


def text_families(text: str) -> list[str]:
    return [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")]


def test_protobuf_page(build, server_factory):
    s = start(app_server(server_factory, build, "--processes", "2"), 2)
    for _ in range(5):
        assert requests.post(s.url("/hit"), timeout=5).status_code == 200
    r = requests.get(s.metrics_url, headers={"Accept": PROMETHEUS_ACCEPT, "Accept-Encoding": "identity"}, timeout=5)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == PROTOBUF
    names = family_names(r.content)
    # Every family of the text page, in its order: gpx's, uWSGI's, the app's.
    assert names == text_families(s.scrape_text())
    assert "gunicorn_requests_total" in names and "app_hits_total" in names

    zipped = requests.get(s.metrics_url, headers={"Accept": PROTOBUF, "Accept-Encoding": "gzip"}, timeout=5,
                          stream=True)
    assert zipped.headers["Content-Type"] == PROTOBUF
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert family_names(gzip.decompress(zipped.raw.read())) == names

    # Everyone else: unchanged.
    assert requests.get(s.metrics_url, timeout=5).headers["Content-Type"].startswith("text/plain; version=0.0.4")
    om = requests.get(s.metrics_url, headers={"Accept": "application/openmetrics-text;version=1.0.0"}, timeout=5)
    assert om.headers["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")


def test_protobuf_fleet_view(build, redis_factory, server_factory):
    """/metrics/fleet in protobuf: the fleet view's families, as its text."""
    r = redis_factory()
    s = start(app_server(server_factory, build, "--processes", "2", *r.gpx_args("alpha")), 2)
    for _ in range(5):
        assert requests.post(s.url("/hit"), timeout=5).status_code == 200
    url = f"http://127.0.0.1:{s.metrics_port}/metrics/fleet"

    def published():
        text = requests.get(url, timeout=5).text
        return text if "gunicorn_fleet_instances 1" in text.splitlines() else None

    text = wait_for(published, 15, interval=0.2, what="alpha in the fleet view")
    pb = requests.get(url, headers={"Accept": PROTOBUF}, timeout=5)
    assert pb.status_code == 200
    assert pb.headers["Content-Type"] == PROTOBUF
    names = family_names(pb.content)
    assert names == text_families(text)
    assert {"gunicorn_fleet_instances", "gunicorn_exporter_fleet_snapshots_skipped"} <= set(names)


@pytest.mark.slow
def test_prometheus_reads_protobuf(build, server_factory, prometheus_factory):
    s = start(app_server(server_factory, build, "--processes", "2", "--gpx-debug", "true"), 2)
    base = probes(s)  # the harness's readiness requests
    hits = 17
    for _ in range(hits):
        assert requests.post(s.url("/hit"), timeout=5).status_code == 200
    sent = base + hits
    s.wait_requests(sent)

    prom = prometheus_factory([f"127.0.0.1:{s.metrics_port}"], job="gpx",
                              flags=["--enable-feature=native-histograms"])
    prom.wait_value('up{job="gpx"}', 1)
    prom.wait_value('sum(gunicorn_requests_total{job="gpx"})', sent)
    assert prom.value('sum(gunicorn_requests_total{job="gpx",method="POST",status="200"})') == hits
    assert prom.value('sum(gunicorn_worker_requests_total{job="gpx"})') == sent
    # The per-method durations are a native histogram too (gpx-native-histograms
    # is on by default): 2.42 keeps the native one, not the classic series.
    assert prom.value('histogram_count(sum(gunicorn_request_duration_seconds{job="gpx"}))') == sent
    assert prom.value('sum(gunicorn_request_duration_seconds_count{job="gpx"})') is None
    assert prom.value('sum(gunicorn_worker_request_duration_seconds_bucket{job="gpx",le="60.0"})') == sent
    assert prom.value('histogram_count(gunicorn_request_duration_seconds{job="gpx",method="POST"})') == hits
    assert prom.value('sum(app_hits_total{job="gpx",path="/hit"})') == hits
    assert prom.value('count(gunicorn_worker_state{job="gpx"})') == 2 * 5
    [target] = prom.targets()
    assert target["health"] == "up" and target["lastError"] == "", target
    assert "bytes (protobuf" in s.output(), "Prometheus was not served protobuf"
