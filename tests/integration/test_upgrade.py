"""Upgrading from gpx 0.1: its counters continue, on both uWSGI builds.

gpx 0.1 kept its counters in scoreboard layout 3; this gpx writes layout 4
(cells with native histograms). The bytes in gpx_0_1/ are what gpx 0.1
itself left (see its README): a board file and a Redis snapshot, with the
request families it served for them. Started on them, this gpx says once
that it read layout 3, serves every classic count as gpx 0.1 did plus what
it counts now, and fills the native histograms from the classic buckets:
each bucket's count in the native bucket of its upper bound. What it
counts from then on lands in its exact native bucket, and a restart reads
back the layout-4 file it wrote, native histograms included. The fleet
view reads an instance still on gpx 0.1 beside an upgraded one.
"""

from __future__ import annotations

import math
import shutil
import struct
import time
from pathlib import Path

import requests
from protobuf_page import families, metric, native_buckets

from conftest import logged_requests, parse_metrics, send, start, wait_for

FIXTURES = Path(__file__).resolve().parent / "gpx_0_1"
PROTOBUF = "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"
UPGRADED = "read from gpx 0.1's layout 3"
RESTORED = "stored totals of gpx 0.1's layout 3 read"
DURATION = "gunicorn_request_duration_seconds"


def native_index(seconds: float) -> int:
    """The schema-3 native bucket that holds `seconds`: (2^((i-1)/8), 2^(i/8)]."""
    return math.ceil(8 * math.log2(seconds))


def native_from_classic(page, method: str) -> dict[int, int]:
    """What a gpx 0.1 histogram becomes: each classic bucket's count at the
    native bucket of its upper bound, the +Inf bucket's a microsecond
    above the last bound."""
    buckets = page.series(f"{DURATION}_bucket").items()
    cumulative = sorted((float(dict(labels)["le"]), value) for labels, value in buckets
                        if dict(labels)["method"] == method)
    out, below = {}, 0
    for bound, count in cumulative:
        index = native_index(60.000001 if math.isinf(bound) else bound)
        if count > below:
            out[index] = out.get(index, 0) + int(count - below)
        below = count
    return out


def fixture_page(name: str):
    return parse_metrics((FIXTURES / f"{name}.page").read_text())


def probes_counted(s, before: int) -> int:
    """The readiness probes (GET /) of this start, once gpx counted them on
    top of the `before` requests it continued from."""

    def settled():
        n = sum(1 for r in logged_requests(s) if r[1:3] == ("GET", "/"))
        return n if n >= 1 and s.requests_total() == before + n else None

    n = wait_for(settled, timeout=20, what="the readiness probes counted")
    time.sleep(0.1)
    assert s.requests_total() == before + n
    return n


def native_of(s, method: str) -> tuple[dict[int, int], int]:
    """The protobuf page's native buckets and count of `method`."""
    r = requests.get(s.metrics_url, headers={"Accept": PROTOBUF}, timeout=5)
    assert r.status_code == 200 and r.headers["Content-Type"] == PROTOBUF
    h = metric(families(r.content)[DURATION], method=method)["histogram"]
    assert h.get("schema") == 3
    buckets = native_buckets(h)
    assert h.get("zero_count", 0) + sum(buckets.values()) == h["sample_count"]
    return buckets, h["sample_count"]


def assert_continues(s, old, probes: int) -> None:
    """The classic counts are gpx 0.1's plus this start's probes, and the
    native histograms hold gpx 0.1's requests at their classic bounds."""
    m = s.scrape()
    assert m.value("gunicorn_requests_total", method="POST", status="200") == 3
    assert m.value("gunicorn_requests_total", method="GET", status="200") == 8 + probes
    assert m.value(f"{DURATION}_count", method="POST") == 3
    # Exact to the microsecond: gpx 0.1's sum, nothing added.
    assert m.value(f"{DURATION}_sum", method="POST") == old.value(f"{DURATION}_sum", method="POST")
    assert m.value(f"{DURATION}_bucket", method="GET", le="+Inf") == 8 + probes
    post, count = native_of(s, "POST")
    assert post == native_from_classic(old, "POST") and count == 3
    get, count = native_of(s, "GET")
    old_get = native_from_classic(old, "GET")
    assert count == 8 + probes
    # gpx 0.1's requests where their classic buckets put them, and this
    # start's probes beside them.
    new = {i: c - old_get.get(i, 0) for i, c in get.items() if c != old_get.get(i, 0)}
    assert all(c > 0 for c in new.values()) and sum(new.values()) == probes, (get, old_get)


def test_board_file_of_gpx_0_1_continues(build, server_factory, tmp_path):
    multiproc = tmp_path / "multiproc"
    multiproc.mkdir()
    shutil.copy(FIXTURES / "gpx_upgrade.scoreboard", multiproc / "gpx_upgrade.scoreboard")
    old = fixture_page("gpx_upgrade")
    s = start(server_factory(build, "--processes", "2", "--gpx-instance", "upgrade", multiproc_dir=str(multiproc)), 2)
    probes = probes_counted(s, 11)
    assert sum(UPGRADED in line for line in s.output().splitlines()) == 1, s.output()
    assert_continues(s, old, probes)

    # Counted from now on: beside gpx 0.1's counts, never in place of them.
    before, _ = native_of(s, "POST")
    for _ in range(2):
        assert send(s, "POST", "/", body=b"abc") == 200
    s.wait_requests(11 + probes + 2)
    after, count = native_of(s, "POST")
    assert count == 5
    added = {i: c - before.get(i, 0) for i, c in after.items() if c != before.get(i, 0)}
    assert all(c > 0 for c in added.values()) and sum(added.values()) == 2, (before, after)

    # The file is layout 4 now: a restart reads it back as it is.
    s.stop()
    header = (multiproc / "gpx_upgrade.scoreboard").read_bytes()[:12]
    assert header[:8] == b"GPXBOARD" and struct.unpack_from("<I", header, 8)[0] == 4
    again = start(server_factory(build, "--processes", "2", "--gpx-instance", "upgrade",
                                 multiproc_dir=str(multiproc)), 2)
    probes_counted(again, 11 + probes + 2)
    assert UPGRADED not in again.output()
    assert native_of(again, "POST") == (after, 5)


def test_redis_snapshot_of_gpx_0_1_continues(build, server_factory, redis_factory):
    r = redis_factory()
    blob = (FIXTURES / "upgrade-redis.snapshot").read_bytes()
    r.cli_set("upgradefixture:gpx:instance:upgrade-redis", blob)
    old = fixture_page("upgrade-redis")
    s = start(server_factory(build, "--processes", "2", *r.gpx_args("upgrade-redis", prefix="upgradefixture")), 2)
    probes = probes_counted(s, 11)
    assert sum(RESTORED in line for line in s.output().splitlines()) == 1, s.output()
    assert_continues(s, old, probes)

    # Published again in layout 4, which the next start reads as it is.
    def republished():
        data = r.get_bytes("upgradefixture:gpx:instance:upgrade-redis")
        return data[:8] == b"GPXSNAP1" and struct.unpack_from("<I", data, 8)[0] == 4

    wait_for(republished, 10, interval=0.2, what="the totals published in layout 4")
    s.stop()
    again = start(server_factory(build, "--processes", "2", *r.gpx_args("upgrade-redis", prefix="upgradefixture")), 2)
    probes_counted(again, 11 + probes)
    assert RESTORED not in again.output()
    assert native_of(again, "POST") == (native_from_classic(old, "POST"), 3)


def test_fleet_reads_an_instance_still_on_gpx_0_1(build, server_factory, redis_factory):
    r = redis_factory()
    r.cli_set("upgradefixture:gpx:instance:still-0.1", (FIXTURES / "upgrade-redis.snapshot").read_bytes())
    r.cli("ZADD", "upgradefixture:gpx:instances", str(int(time.time()) + 3600), "still-0.1")
    old = fixture_page("upgrade-redis")
    s = start(server_factory(build, "--processes", "2", *r.gpx_args("upgraded", prefix="upgradefixture")), 2)
    url = f"http://127.0.0.1:{s.metrics_port}/metrics/fleet"

    def both():
        m = parse_metrics(requests.get(url, timeout=5).text)
        return m if m.value("gunicorn_fleet_instances") == 2 else None

    m = wait_for(both, 15, interval=0.2, what="both instances in the fleet view")
    assert m.value("gunicorn_exporter_fleet_snapshots_skipped", reason="layout") == 0
    assert m.value("gunicorn_requests_total", gpx_instance="still-0.1", method="POST", status="200") == 3
    assert m.value(f"{DURATION}_sum", gpx_instance="still-0.1", method="POST") == \
        old.value(f"{DURATION}_sum", method="POST")
    pb = requests.get(url, headers={"Accept": PROTOBUF}, timeout=5)
    assert pb.status_code == 200
    h = metric(families(pb.content)[DURATION], gpx_instance="still-0.1", method="POST")["histogram"]
    assert native_buckets(h) == native_from_classic(old, "POST") and h["sample_count"] == 3
