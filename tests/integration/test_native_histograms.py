"""Native histograms of gunicorn_request_duration_seconds, on both uWSGI builds.

The app (apps/sleep_app.py) sleeps what each request asks and writes down
what it measured. With a distribution of 80 POST durations whose true
quantiles are known:

- Debian's Prometheus 2.42 with `--enable-feature=native-histograms` asks
  for protobuf and stores the native histogram alone (2.42 drops the
  classic buckets of a histogram that has native ones);
  `histogram_count` and `histogram_sum` equal gpx's classic `_count` and
  `_sum` exactly, as its text page and a second Prometheus without the
  flag have them;
- `histogram_quantile(0.5|0.9|0.99, ...)` of the native histogram is within
  schema 3's relative error (one bucket, 2^(1/8): 9.05 %) of the true
  quantile, while the classic buckets' quantile of the same data, from the
  Prometheus without the flag, is off by more (about 50 %: the
  distribution sits where the classic buckets are wide).

On the protobuf page itself (decoded by protobuf_page.py): schema 3 by
default, buckets that merge into those of the lower schemas,
`gpx-native-histogram-schema = 0` (or GPX_NATIVE_HISTOGRAM_SCHEMA) serves
schema 0 with the exact bucket counts, `gpx-native-histograms = false` (or
GPX_NATIVE_HISTOGRAMS) serves none, and a schema out of -4..3 stops uWSGI.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from protobuf_page import families, is_native, metric, native_buckets

from conftest import APPS, start, wait_for, wsgi_server

APP = APPS / "sleep_app.py"
FAMILY = "gunicorn_request_duration_seconds"
PROTOBUF = "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"
# Schema 3: a bucket's upper bound is 2^(1/8) times its lower one, so an
# estimate inside the bucket of the true value is within 9.05 % of it.
SCHEMA3_ERROR = 2 ** (1 / 8) - 1
# gpx times a request from uWSGI's start of it to its end, the app only its
# sleep: the difference (parsing, the answer, the hook) is allowed on top,
# and checked to be smaller on average.
OVERHEAD = 0.002


def sleep_server(server_factory, build, tmp_path, *args, env=None):
    """The sleeping app on 2 processes of 4 threads, writing its measured
    durations to a file: (server, that file)."""
    durations = tmp_path / f"durations-{build.name}-{len(list(tmp_path.glob('durations-*')))}.txt"
    s = wsgi_server(server_factory, build, APP, "--processes", "2", "--threads", "4", *args,
                    env={"DURATIONS": str(durations), **(env or {})})
    return start(s, 2), durations


def measured(durations: Path, method: str = "POST") -> list[float]:
    """The durations the app measured for `method`, in seconds."""
    out = []
    for line in durations.read_text().splitlines():
        m, _, took = line.split()
        if m == method:
            out.append(float(took))
    return out


def post_all(s, sleeps_ms: list[float], parallel: int = 8) -> None:
    def one(ms):
        r = requests.post(s.url(f"/?ms={ms:.3f}"), timeout=30)
        assert r.status_code == 200, r.text

    with ThreadPoolExecutor(parallel) as pool:
        list(pool.map(one, sleeps_ms))


def wait_posts(s, count: int) -> None:
    wait_for(lambda: s.scrape().get(f"{FAMILY}_count", method="POST") == count, 20,
             what=f"{count} POSTs in {FAMILY}")


def protobuf_histogram(s, method="POST") -> dict:
    r = requests.get(s.metrics_url, headers={"Accept": PROTOBUF}, timeout=5)
    assert r.status_code == 200 and r.headers["Content-Type"] == PROTOBUF
    family = families(r.content)[FAMILY]
    assert family["type"] == "histogram"
    return metric(family, method=method)["histogram"]


# 80 durations in four groups, each inside one classic bucket and away from
# its bounds (0.05, 0.1, 0.25, 0.5, 1.0, 2.5), so that the classic
# interpolation is far from the truth: 20 from 2 to 40 ms (log-spaced), 30
# from 110 to 130 ms, 24 from 550 to 650 ms, 6 from 1.2 to 1.5 s. The
# ranks of the quantiles (40, 72, 79.2 of 80) fall inside the groups, not at
# their edges.
DISTRIBUTION_MS = ([2 * 20 ** (i / 19) for i in range(20)] + [110 + 20 * i / 29 for i in range(30)]
                   + [550 + 100 * i / 23 for i in range(24)] + [1200 + 60 * i for i in range(6)])


def true_quantile(values: list[float], q: float) -> float:
    """The smallest value with at least q of the values at or below it: the
    one whose bucket histogram_quantile interpolates in."""
    ordered = sorted(values)
    return ordered[math.ceil(q * len(ordered)) - 1]


@pytest.mark.slow
def test_prometheus_native_quantiles_are_within_the_schema_error(build, server_factory, prometheus_factory,
                                                                  tmp_path):
    s, durations = sleep_server(server_factory, build, tmp_path)
    post_all(s, DISTRIBUTION_MS)
    n = len(DISTRIBUTION_MS)
    wait_posts(s, n)
    slept = measured(durations)
    assert len(slept) == n
    page = s.scrape()
    count, total = page.value(f"{FAMILY}_count", method="POST"), page.value(f"{FAMILY}_sum", method="POST")
    assert count == n
    # The allowance for what gpx times beyond the sleep holds on average.
    assert 0 <= (total - sum(slept)) / n < OVERHEAD, (total, sum(slept))

    target = [f"127.0.0.1:{s.metrics_port}"]
    native = prometheus_factory(target, job="gpx", flags=["--enable-feature=native-histograms"])
    classic = prometheus_factory(target, job="gpx")
    sel = f'{FAMILY}{{job="gpx",method="POST"}}'
    native.wait_value(f"histogram_count({sel})", n)
    classic.wait_value(f'{FAMILY}_count{{job="gpx",method="POST"}}', n)

    # Count and sum: exactly the classic ones, from the text page and from a
    # Prometheus that reads the classic buckets.
    assert native.value(f"histogram_sum({sel})") == total
    assert classic.value(f'{FAMILY}_sum{{job="gpx",method="POST"}}') == total
    # Prometheus 2.42 keeps only the native histogram when there is one.
    assert native.query(f'{FAMILY}_count{{job="gpx"}}') == []
    assert native.query(f'{FAMILY}_bucket{{job="gpx"}}') == []

    for q in (0.5, 0.9, 0.99):
        true = true_quantile(slept, q)
        estimate = native.value(f"histogram_quantile({q}, {sel})")
        from_classic = classic.value(f'histogram_quantile({q}, {FAMILY}_bucket{{job="gpx",method="POST"}})')
        native_error = abs(estimate - true) / true
        classic_error = abs(from_classic - true) / true
        assert native_error <= SCHEMA3_ERROR + OVERHEAD / true, (q, true, estimate)
        assert classic_error > 0.3 and classic_error > native_error, (q, true, from_classic, estimate)


# Durations in three schema-0 buckets, each just above the lower bound of
# both its schema-0 bucket and its classic bucket: gpx's duration is the
# sleep plus whatever uWSGI and a loaded machine add, never less, so it has
# room to grow before the next bound (9 ms, 36 ms, 240 ms). 16 ms is in
# (2^-6, 2^-5] = (15.6, 31.25] ms, index -5, classic le 0.025; 64 ms in
# (62.5, 125] ms, index -3, le 0.1; 260 ms in (250, 500] ms, index -1, le 0.5.
SLEEPS_MS = [16, 16, 16, 64, 64, 260]
SCHEMA0_BUCKETS = {-5: 3, -3: 2, -1: 1}
# Classic cumulative counts of those durations, by upper bound.
CLASSIC = {0.005: 0, 0.01: 0, 0.025: 3, 0.05: 3, 0.1: 5, 0.25: 5, 0.5: 6, 1.0: 6, 2.5: 6, 5.0: 6, 10.0: 6, 30.0: 6,
           60.0: 6}


def merged(buckets: dict[int, int], from_schema: int, to_schema: int) -> dict[int, int]:
    """Buckets of one schema merged into a lower one: bucket i of schema s
    lies in bucket ceil(i / 2^(s - t)) of schema t."""
    factor = 2 ** (from_schema - to_schema)
    out: dict[int, int] = {}
    for index, count in buckets.items():
        j = -((-index) // factor)
        out[j] = out.get(j, 0) + count
    return out


def check_classic_part(s, h: dict) -> None:
    """The classic part of the Histogram message: count, sum and the
    finite buckets, as the text page has them."""
    page = s.scrape()
    assert h["sample_count"] == page.value(f"{FAMILY}_count", method="POST") == len(SLEEPS_MS)
    assert h["sample_sum"] == page.value(f"{FAMILY}_sum", method="POST")
    assert {b["upper_bound"]: b["cumulative_count"] for b in h["bucket"]} == CLASSIC


def test_protobuf_page_serves_schema_3_by_default(build, server_factory, tmp_path):
    s, _ = sleep_server(server_factory, build, tmp_path)
    post_all(s, SLEEPS_MS, parallel=1)
    wait_posts(s, len(SLEEPS_MS))
    h = protobuf_histogram(s)
    check_classic_part(s, h)
    assert h["schema"] == 3
    assert h.get("zero_count", 0) == 0
    buckets = native_buckets(h)
    assert sum(buckets.values()) == len(SLEEPS_MS)
    assert native_buckets(h, "negative") == {}
    assert merged(buckets, 3, 0) == SCHEMA0_BUCKETS
    # No bucket below a duration's sleep: the lowest one holds 16 ms.
    assert 2 ** (min(buckets) / 8) >= 0.016
    # The text and OpenMetrics pages cannot carry it: nothing of it there.
    text = s.scrape_text()
    om = requests.get(s.metrics_url, headers={"Accept": "application/openmetrics-text; version=1.0.0"}, timeout=5).text
    for page in (text, om):
        assert "NATIVE" not in page and "schema" not in page
        assert [line for line in page.splitlines() if line.startswith(f"{FAMILY}_bucket")] != []


@pytest.mark.parametrize("how", ["option", "env"])
def test_schema_0_serves_schema_0(build, server_factory, tmp_path, how):
    if how == "option":
        s, _ = sleep_server(server_factory, build, tmp_path, "--gpx-native-histogram-schema", "0")
    else:
        s, _ = sleep_server(server_factory, build, tmp_path, env={"GPX_NATIVE_HISTOGRAM_SCHEMA": "0"})
    post_all(s, SLEEPS_MS, parallel=1)
    wait_posts(s, len(SLEEPS_MS))
    h = protobuf_histogram(s)
    check_classic_part(s, h)
    assert h["schema"] == 0
    assert h.get("zero_count", 0) == 0
    assert native_buckets(h) == SCHEMA0_BUCKETS
    assert native_buckets(h, "negative") == {}


@pytest.mark.parametrize("schema", ["-4", "-2", "1", "2"])
def test_every_schema_merges_the_same_durations(build, server_factory, tmp_path, schema):
    s, _ = sleep_server(server_factory, build, tmp_path, "--gpx-native-histogram-schema", schema)
    post_all(s, SLEEPS_MS, parallel=1)
    wait_posts(s, len(SLEEPS_MS))
    h = protobuf_histogram(s)
    assert h["schema"] == int(schema)
    buckets = native_buckets(h)
    assert sum(buckets.values()) == len(SLEEPS_MS)
    if int(schema) >= 0:
        assert merged(buckets, int(schema), 0) == SCHEMA0_BUCKETS
    else:
        assert buckets == merged(SCHEMA0_BUCKETS, 0, int(schema))


@pytest.mark.parametrize("how", ["option", "env"])
def test_native_histograms_off_serves_classic_only(build, server_factory, tmp_path, how):
    if how == "option":
        s, _ = sleep_server(server_factory, build, tmp_path, "--gpx-native-histograms", "false")
    else:
        s, _ = sleep_server(server_factory, build, tmp_path, env={"GPX_NATIVE_HISTOGRAMS": "false"})
    post_all(s, SLEEPS_MS, parallel=1)
    wait_posts(s, len(SLEEPS_MS))
    h = protobuf_histogram(s)
    check_classic_part(s, h)
    assert not is_native(h), h
    assert "exemplars" not in h


@pytest.mark.parametrize("schema", ["4", "-5", "three"])
def test_a_schema_out_of_range_stops_uwsgi(build, server_factory, tmp_path, schema):
    s = wsgi_server(server_factory, build, APP, "--gpx-native-histogram-schema", schema)
    assert s.run_to_exit() == 1
    # docs/options.md, "Bad values": one line naming the option, its
    # variable, the value and where it came from.
    prefix = f'gpx: invalid gpx-native-histogram-schema / GPX_NATIVE_HISTOGRAM_SCHEMA "{schema}" (from the option): '
    assert any(line.startswith(prefix) for line in s.output().splitlines()), s.output()[-2000:]


@pytest.mark.slow
def test_prometheus_keeps_the_classic_buckets_with_native_histograms_off(build, server_factory, prometheus_factory,
                                                                          tmp_path):
    """The way to keep classic `_bucket` dashboards and rules on a
    Prometheus 2.42 that has native histograms on for other targets."""
    s, _ = sleep_server(server_factory, build, tmp_path, "--gpx-native-histograms", "false")
    post_all(s, SLEEPS_MS, parallel=1)
    wait_posts(s, len(SLEEPS_MS))
    prom = prometheus_factory([f"127.0.0.1:{s.metrics_port}"], job="gpx",
                              flags=["--enable-feature=native-histograms"])
    prom.wait_value(f'{FAMILY}_count{{job="gpx",method="POST"}}', len(SLEEPS_MS))
    assert prom.value(f'{FAMILY}_bucket{{job="gpx",method="POST",le="0.1"}}') == 5
    assert prom.query(f'histogram_count({FAMILY}{{job="gpx"}})') == []
