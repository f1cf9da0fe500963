"""Exemplars of gunicorn_request_duration_seconds, on both uWSGI builds.

With `gpx-exemplars = true` (or GPX_EXEMPLARS), a request that carries a
valid W3C `traceparent` header leaves its trace and span ids as the
exemplar of the classic bucket its duration fell in, per method; the
newest one per bucket is served. The app (apps/sleep_app.py) sleeps what
each request asks, so each request lands in a chosen bucket; the traffic
mixes valid headers, malformed ones and none:

- the OpenMetrics page carries exactly the newest valid one per bucket
  (`... # {trace_id="..",span_id=".."} <seconds> <end time>`), with the
  duration in its bucket and the time the request ended, and
  prometheus_client's strict OpenMetrics parser reads it;
- the protobuf page carries the same ones in Bucket.exemplar, and in
  Histogram.exemplars with the native histogram;
- Debian's Prometheus 2.42 with `--enable-feature=exemplar-storage`
  (OpenMetrics) returns exactly those trace ids from
  /api/v1/query_exemplars, on the `_bucket` series of the right method and
  `le`; a second target without the option, scraped by the same
  Prometheus, has none;
- without the option (the default, or `gpx-exemplars = false`), no page has
  an exemplar; a trace its caller did not sample (trace-flags 00) leaves
  none, and a higher version with a field more is read as W3C says;
- Prometheus 2.42 with native histograms on as well reads protobuf and
  keeps a single exemplar per scrape with the native histogram (that of the
  lowest bucket that has one), as docs/metrics.md says; with
  `gpx-native-histograms = false` it keeps every bucket's from protobuf.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest
import requests
from prometheus_client.openmetrics.parser import text_string_to_metric_families
from protobuf_page import families
from test_native_histograms import APP, FAMILY, PROTOBUF, measured

from conftest import start, wait_for, wsgi_server

OPENMETRICS = "application/openmetrics-text; version=1.0.0"
BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, float("inf")]


def traceparent(n: int) -> tuple[str, str, str]:
    """A valid, sampled traceparent of version 00 and its trace and span ids."""
    trace_id, span_id = f"{0x4BF92F3577B34DA6A3CE929D0E0E4736 + n:032x}", f"{0x00F067AA0BA902B7 + n:016x}"
    return f"00-{trace_id}-{span_id}-01", trace_id, span_id


GOOD_TRACE, GOOD_SPAN = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
# Headers no exemplar may come from (W3C Trace Context, section 3.2).
MALFORMED = [
    f"ff-{GOOD_TRACE}-{GOOD_SPAN}-01",  # version ff is invalid
    f"00-{'0' * 32}-{GOOD_SPAN}-01",  # all-zero trace id
    f"00-{GOOD_TRACE}-{'0' * 16}-01",  # all-zero parent id
    f"00-{GOOD_TRACE.upper()}-{GOOD_SPAN}-01",  # upper-case hex
    f"00-{GOOD_TRACE[:-1]}-{GOOD_SPAN}-01",  # a trace id one digit short
    f"00-{GOOD_TRACE}-{GOOD_SPAN}",  # no flags
    f"00-{GOOD_TRACE}-{GOOD_SPAN}-01-extra",  # version 00 is exactly 55 characters
    f"00-{GOOD_TRACE[:-1]}g-{GOOD_SPAN}-01",  # not hex
    f"00_{GOOD_TRACE}_{GOOD_SPAN}_01",  # not dashes
    "",
]


@dataclass
class Sent:
    method: str
    ms: float
    header: str | None  # the traceparent, None: no header
    before: float = 0.0  # wall-clock time around the request
    after: float = 0.0


def bucket_of(seconds: float) -> str:
    """The `le` of the classic bucket a duration falls in, as gpx writes it."""
    for bound in BOUNDS:
        if seconds <= bound:
            return "+Inf" if bound == float("inf") else repr(bound)
    raise AssertionError(seconds)


def traffic() -> list[Sent]:
    """The requests, in order. Each sleep is just above the lower bound of
    its classic bucket (0 ms in le 0.005, 11 ms in 0.025, 51 ms in 0.1, 110
    ms in 0.25, 260 ms in 0.5, 510 ms in 1.0): a duration only ever
    exceeds its sleep, so it has room to grow on a loaded machine."""
    ids = iter(range(1, 100))
    plan: list[Sent] = []

    def valid(method, ms):
        header, _, _ = traceparent(next(ids))
        plan.append(Sent(method, ms, header))

    valid("POST", 0)
    valid("POST", 11)
    valid("POST", 51)
    valid("POST", 260)
    valid("POST", 11)  # the newest in POST le=0.025: the one before is not served
    plan.append(Sent("POST", 0, MALFORMED[0]))  # after a valid one: it stays
    plan.append(Sent("POST", 51, None))  # no header: the valid one stays
    plan += [Sent("POST", 110, h) for h in MALFORMED]  # le=0.25: none valid, no exemplar
    valid("GET", 11)
    valid("GET", 510)
    plan.append(Sent("GET", 11, MALFORMED[3]))
    plan.append(Sent("GET", 11, None))
    return plan


def slept(durations) -> dict[str, float]:
    """{traceparent: seconds the app measured} of the requests with a header."""
    out = {}
    for line in durations.read_text().splitlines():
        _, header, took = line.split()
        out[header] = float(took)
    return out


def expected_exemplars(plan: list[Sent], durations) -> dict:
    """{(method, le): (trace_id, span_id)}: the newest valid one per bucket,
    each request in the bucket of the duration the app measured (the sleep
    as it really went: on a loaded machine it can overrun into the next
    bucket)."""
    took = slept(durations)
    expected = {}
    for sent in plan:
        if sent.header is not None and sent.header not in MALFORMED:
            _, trace_id, span_id, _ = sent.header.split("-")
            expected[(sent.method, bucket_of(took[sent.header]))] = (trace_id, span_id)
    return expected


def send_traffic(s, plan: list[Sent]) -> None:
    """One request after the other (the newest one per bucket is then the
    last one sent), each timed in wall-clock time."""
    for sent in plan:
        headers = {} if sent.header is None else {"traceparent": sent.header}
        sent.before = time.time()
        r = requests.request(sent.method, s.url(f"/?ms={sent.ms}"), headers=headers, timeout=10)
        sent.after = time.time()
        assert r.status_code == 200, r.text


def sleep_server(server_factory, build, tmp_path, *args, env=None):
    durations = tmp_path / f"durations-{build.name}-{len(list(tmp_path.glob('durations-*')))}.txt"
    s = wsgi_server(server_factory, build, APP, "--processes", "2", *args,
                    env={"DURATIONS": str(durations), **(env or {})})
    return start(s, 2), durations


def served(s, plan: list[Sent]) -> None:
    """Waits until gpx counted every request of the plan."""
    posts = sum(1 for p in plan if p.method == "POST")
    wait_for(lambda: s.scrape().get(f"{FAMILY}_count", method="POST") == posts, 20, what=f"{posts} POSTs counted")


def openmetrics_exemplars(s) -> dict:
    """{(method, le): Exemplar} of the family's buckets on the OpenMetrics
    page, read by prometheus_client's parser (which raises on anything
    OpenMetrics forbids)."""
    r = requests.get(s.metrics_url, headers={"Accept": OPENMETRICS}, timeout=5)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
    out = {}
    for family in text_string_to_metric_families(r.text):
        for sample in family.samples:
            if sample.exemplar is not None:
                assert sample.name == f"{FAMILY}_bucket", sample
                out[(sample.labels["method"], sample.labels["le"])] = sample.exemplar
    return out


def protobuf_exemplars(s) -> tuple[dict, dict]:
    """The family's exemplars on the protobuf page: {(method, le): Exemplar
    message} of the classic buckets, and {method: [Exemplar message]} of
    Histogram.exemplars."""
    r = requests.get(s.metrics_url, headers={"Accept": PROTOBUF}, timeout=5)
    assert r.status_code == 200 and r.headers["Content-Type"] == PROTOBUF
    page = families(r.content)
    buckets, native = {}, {}
    for name, family in page.items():
        for m in family["metric"]:
            h = m.get("histogram") or {}
            counter = m.get("counter") or {}
            assert name == FAMILY or ("exemplars" not in h and "exemplar" not in counter and not any(
                "exemplar" in b for b in h.get("bucket", []))), f"an exemplar in {name}"
            if name != FAMILY:
                continue
            for b in h.get("bucket", []):
                if "exemplar" in b:
                    le = "+Inf" if b["upper_bound"] == float("inf") else repr(b["upper_bound"])
                    buckets[(m["label"]["method"], le)] = b["exemplar"]
            if "exemplars" in h:
                native[m["label"]["method"]] = h["exemplars"]
    return buckets, native


def pb_time(exemplar: dict) -> float:
    ts = exemplar["timestamp"]
    return ts.get("seconds", 0) + ts.get("nanos", 0) / 1e9


def check_pages(s, durations, plan, expected) -> dict:
    """The exemplars of both pages are exactly `expected`, each with the
    duration and end of its own request; returns the OpenMetrics ones."""
    om = openmetrics_exemplars(s)
    assert {k: (e.labels["trace_id"], e.labels["span_id"]) for k, e in om.items()} == expected
    took = slept(durations)
    by_trace = {p.header.split("-")[1]: p for p in plan if p.header and p.header not in MALFORMED}
    for (method, le), e in om.items():
        assert set(e.labels) == {"trace_id", "span_id"}
        sent = by_trace[e.labels["trace_id"]]
        assert sent.method == method
        # Its own request's duration: at least what the app slept, and in
        # the bucket the exemplar is on.
        assert took[sent.header] <= e.value < took[sent.header] + 0.25, (e, took[sent.header])
        assert bucket_of(e.value) == le, e
        # Its timestamp: the end of that request (gpx's hook runs once the
        # client has its answer, hence the allowance after it).
        assert sent.before <= float(e.timestamp) <= sent.after + 2, (e, sent)

    buckets, native = protobuf_exemplars(s)
    assert set(buckets) == set(om)
    for key, e in buckets.items():
        assert e["label"] == om[key].labels
        assert e["value"] == pytest.approx(om[key].value, abs=1e-6)
        assert pb_time(e) == pytest.approx(float(om[key].timestamp), abs=1e-6)
    # With the native histogram, the same exemplars in Histogram.exemplars
    # (readers of native histograms take them from there).
    for method in {m for m, _ in expected}:
        assert sorted(e["label"]["trace_id"] for e in native.get(method, [])) == sorted(
            t for (m, _), (t, _) in expected.items() if m == method)
        for e in native[method]:
            assert "timestamp" in e, e
    assert set(native) <= {m for m, _ in expected}
    return om


def test_pages_carry_the_newest_valid_exemplar_per_bucket(build, server_factory, tmp_path):
    s, durations = sleep_server(server_factory, build, tmp_path, "--gpx-exemplars", "true")
    plan = traffic()
    send_traffic(s, plan)
    served(s, plan)
    assert len(measured(durations)) == sum(1 for p in plan if p.method == "POST")
    expected = expected_exemplars(plan, durations)
    assert len(expected) == 6
    check_pages(s, durations, plan, expected)
    # The text page (0.0.4) cannot carry exemplars: unchanged.
    assert " # {" not in s.scrape_text()


def test_env_turns_exemplars_on(build, server_factory, tmp_path):
    s, _ = sleep_server(server_factory, build, tmp_path, env={"GPX_EXEMPLARS": "true"})
    header, trace_id, span_id = traceparent(7)
    assert requests.post(s.url("/?ms=11"), headers={"traceparent": header}, timeout=10).status_code == 200
    served(s, [Sent("POST", 11, header)])
    [(key, e)] = openmetrics_exemplars(s).items()
    assert key == ("POST", bucket_of(e.value))
    assert (e.labels["trace_id"], e.labels["span_id"]) == (trace_id, span_id)


@pytest.mark.parametrize("args", [(), ("--gpx-exemplars", "false")], ids=["default", "false"])
def test_no_exemplars_without_the_option(build, server_factory, tmp_path, args):
    s, durations = sleep_server(server_factory, build, tmp_path, *args)
    plan = traffic()
    send_traffic(s, plan)
    served(s, plan)
    assert openmetrics_exemplars(s) == {}
    assert protobuf_exemplars(s) == ({}, {})
    r = requests.get(s.metrics_url, headers={"Accept": OPENMETRICS}, timeout=5)
    assert " # {" not in r.text


def query_exemplars(prom, expr: str, since: float) -> list[dict]:
    r = requests.get(f"{prom.url}/api/v1/query_exemplars",
                     params={"query": expr, "start": f"{since - 60:.3f}", "end": f"{time.time() + 60:.3f}"},
                     timeout=10)
    r.raise_for_status()
    body = r.json()
    assert body["status"] == "success", body
    return body["data"]


@pytest.mark.slow
def test_prometheus_stores_exactly_the_exemplars_sent(build, server_factory, prometheus_factory, tmp_path):
    on, durations = sleep_server(server_factory, build, tmp_path, "--gpx-exemplars", "true", "--gpx-debug", "true")
    off, _ = sleep_server(server_factory, build, tmp_path)
    since = time.time()
    plan = traffic()
    send_traffic(on, plan)
    send_traffic(off, traffic())  # the same requests, timed apart
    served(on, plan)
    served(off, plan)
    expected = expected_exemplars(plan, durations)
    om = check_pages(on, durations, plan, expected)

    targets = [f"127.0.0.1:{on.metrics_port}", f"127.0.0.1:{off.metrics_port}"]
    prom = prometheus_factory(targets, job="gpx", flags=["--enable-feature=exemplar-storage"])
    for target in targets:
        prom.wait_value(f'{FAMILY}_count{{job="gpx",instance="{target}",method="POST"}}',
                        sum(1 for p in plan if p.method == "POST"))

    def stored():
        out = {}
        for series in query_exemplars(prom, f'{FAMILY}_bucket{{job="gpx"}}', since):
            labels = series["seriesLabels"]
            assert labels["instance"] == targets[0], f"an exemplar from the target without the option: {series}"
            for e in series["exemplars"]:
                key = (labels["method"], labels["le"])
                assert key not in out or out[key] == e, f"two exemplars on {key}: {out[key]}, {e}"
                out[key] = e
        return out

    wait_for(lambda: set(stored()) == set(expected), 20, interval=0.25, what="every exemplar in Prometheus")
    # A few more scrapes: nothing else arrives, the same ones stay (one
    # stored exemplar per bucket: unchanged exemplars are not stored again).
    time.sleep(3)
    found = stored()
    assert {k: (e["labels"]["trace_id"], e["labels"]["span_id"]) for k, e in found.items()} == expected
    for key, e in found.items():
        assert set(e["labels"]) == {"trace_id", "span_id"}
        assert float(e["value"]) == om[key].value
        # Prometheus keeps milliseconds.
        assert abs(float(e["timestamp"]) - float(om[key].timestamp)) < 0.001, (e, om[key])
    # It scraped OpenMetrics: the text format has no exemplars.
    assert any("answered with" in line and "(OpenMetrics" in line for line in on.output().splitlines())
    assert query_exemplars(prom, f'{FAMILY}_bucket{{instance="{targets[1]}"}}', since) == []


def stored_by_series(prom, expr: str, since: float) -> dict:
    """{(instance, method, le or None): {trace_id}} of the exemplars Prometheus holds."""
    out: dict = {}
    for series in query_exemplars(prom, expr, since):
        labels = series["seriesLabels"]
        key = (labels["instance"], labels["method"], labels.get("le"))
        out.setdefault(key, set()).update(e["labels"]["trace_id"] for e in series["exemplars"])
    return out


@pytest.mark.slow
def test_prometheus_with_native_histograms_keeps_one_exemplar_per_scrape(build, server_factory, prometheus_factory,
                                                                          tmp_path):
    """What Prometheus 2.42 does with both flags: the native histogram, and
    with it only the exemplar of the lowest bucket that has one. A target
    with `gpx-native-histograms = false` keeps an exemplar on each bucket."""
    native, native_durations = sleep_server(server_factory, build, tmp_path, "--gpx-exemplars", "true")
    classic, classic_durations = sleep_server(server_factory, build, tmp_path, "--gpx-exemplars", "true",
                                              "--gpx-native-histograms", "false")
    since = time.time()
    plan = traffic()
    for s in (native, classic):
        send_traffic(s, plan)
        served(s, plan)
    targets = [f"127.0.0.1:{native.metrics_port}", f"127.0.0.1:{classic.metrics_port}"]
    prom = prometheus_factory(targets, job="gpx",
                              flags=["--enable-feature=native-histograms,exemplar-storage"])
    prom.wait_value(f'histogram_count({FAMILY}{{instance="{targets[0]}",method="POST"}})',
                    sum(1 for p in plan if p.method == "POST"))
    lowest = {}
    for (method, le), (trace_id, _) in expected_exemplars(plan, native_durations).items():
        if method not in lowest or float(le) < float(lowest[method][0]):
            lowest[method] = (le, trace_id)
    want_native = {(targets[0], method, None): {trace_id} for method, (_, trace_id) in lowest.items()}
    want_classic = {(targets[1], method, le): {trace_id}
                    for (method, le), (trace_id, _) in expected_exemplars(plan, classic_durations).items()}

    def both():
        found = {**stored_by_series(prom, f'{FAMILY}{{job="gpx"}}', since),
                 **stored_by_series(prom, f'{FAMILY}_bucket{{job="gpx"}}', since)}
        return found if set(found) == set(want_native) | set(want_classic) else None

    found = wait_for(both, 20, interval=0.25, what="the exemplars of both targets")
    assert found == {**want_native, **want_classic}


def test_only_sampled_traces_leave_their_ids(build, server_factory, tmp_path):
    """docs/metrics.md: a trace its caller did not sample (flags 00) would
    lead to a trace no backend kept, so it leaves no exemplar (its request is
    counted as usual); a version above 00 with a field more, as W3C Trace
    Context has readers of version 00 accept, leaves its ids like any valid
    sampled header."""
    s, _ = sleep_server(server_factory, build, tmp_path, "--gpx-exemplars", "true")
    _, trace_id, span_id = traceparent(11)
    _, later_trace, later_span = traceparent(12)
    for method, header in (("POST", f"00-{trace_id}-{span_id}-00"), ("PUT", f"01-{later_trace}-{later_span}-01-00")):
        assert requests.request(method, s.url("/?ms=11"), headers={"traceparent": header},
                                timeout=10).status_code == 200
    wait_for(lambda: s.scrape().get(f"{FAMILY}_count", method="PUT") == 1, 20, what="the PUT counted")
    assert s.scrape().get(f"{FAMILY}_count", method="POST") == 1
    found = {k[0]: (e.labels["trace_id"], e.labels["span_id"]) for k, e in openmetrics_exemplars(s).items()}
    assert found == {"PUT": (later_trace, later_span)}
