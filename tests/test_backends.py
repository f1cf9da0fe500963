"""The same assertions against file storage and Redis storage.

The app (``tests/apps/allmetrics.py``) has every prometheus_client metric type
and a gauge in every multiprocess mode; both backends must aggregate them
with prometheus_client's multiprocess semantics, before and after a worker
is killed. With Redis, what Redis holds must aggregate to the same answer.
"""

import os
import signal

import pytest
from harness import http_request, wait_until
from redis_support import redis_env, redis_prefix_fixture, redis_prefixes_fixture, scrape_redis  # noqa: F401 - fixture

MODES = ("all", "liveall", "min", "livemin", "max", "livemax", "sum", "livesum", "mostrecent", "livemostrecent")


@pytest.fixture(params=["files", "redis"])
def backend(request, redis_prefix):
    """(name, environment) of a storage backend; Redis under the test's own key prefix."""
    if request.param == "files":
        return "files", {}
    return "redis", redis_env(redis_prefix)


def _app_samples(s):
    return sorted(
        (sample.name, tuple(sorted(sample.labels.items())), sample.value)
        for sample in s.samples
        if sample.name.startswith("test_")
    )


def _set_gauges_in_both_workers(server):
    """Set the gauges with increasing values until both workers have set one; returns pid -> last value."""
    last: dict[int, float] = {}
    value = 0.0
    while len(last) < 2:
        value += 1
        assert value < 500, "one worker never got a request"
        status, body = http_request(server.port, f"/set?v={value}")
        assert status == 200
        last[int(body)] = value
    return last, value


def test_every_metric_type_and_gauge_mode_aggregates_the_same(gunicorn, backend, redis_prefix):
    name, env = backend
    server = gunicorn(app="allmetrics:app", workers=2, env=env).start()
    assert server.send(10, "/count", concurrency=4) == {200: 10}
    last, newest = _set_gauges_in_both_workers(server)
    values = sorted(last.values())

    s = server.scrape()
    assert s.value("test_things_total", kind="a") == 10
    assert s.value("test_things_total", kind="b") == 20
    assert s.value("test_latency_seconds_count") == 10
    assert s.value("test_latency_seconds_sum") == 5.0
    assert s.value("test_latency_seconds_bucket", le="0.1") == 0
    assert s.value("test_latency_seconds_bucket", le="1.0") == 10
    assert s.value("test_latency_seconds_bucket", le="+Inf") == 10
    assert s.value("test_size_bytes_count") == 10
    assert s.value("test_size_bytes_sum") == 1000
    for mode in ("all", "liveall"):
        per_worker = s.by_label(f"test_gauge_{mode}", "worker")
        assert set(per_worker) == {"0", "1"} and sorted(per_worker.values()) == values, (mode, per_worker)
    for mode in ("min", "livemin"):
        assert s.value(f"test_gauge_{mode}") == values[0]
    for mode in ("max", "livemax"):
        assert s.value(f"test_gauge_{mode}") == values[1]
    for mode in ("sum", "livesum"):
        assert s.value(f"test_gauge_{mode}") == sum(values)
    for mode in ("mostrecent", "livemostrecent"):
        assert s.value(f"test_gauge_{mode}") == newest
    slot_of = {
        pid: next(w for w, v in s.by_label("test_gauge_all", "worker").items() if v == last[pid]) for pid in last
    }
    if name == "redis":
        wait_until(lambda: _app_samples(scrape_redis(redis_prefix)) == _app_samples(server.scrape()), message="Redis")

    # Kill the worker that set the newest value: live modes forget it, the others keep it.
    victim = next(pid for pid, value in last.items() if value == newest)
    survivor = next(pid for pid in last if pid != victim)
    os.kill(victim, signal.SIGKILL)
    server.wait_workers(2, exclude=[victim])
    s = wait_until(lambda: (x := server.scrape()).value("test_gauge_livesum") == last[survivor] and x, message="reaped")
    assert s.value("test_things_total", kind="a") == 10
    assert s.value("test_latency_seconds_count") == 10
    assert s.value("test_size_bytes_sum") == 1000
    assert sorted(s.by_label("test_gauge_all", "worker").values()) == values
    assert s.by_label("test_gauge_liveall", "worker") == {slot_of[victim]: 0.0, slot_of[survivor]: last[survivor]}
    assert s.value("test_gauge_min") == values[0]
    assert s.value("test_gauge_max") == values[1]
    assert s.value("test_gauge_sum") == sum(values)
    assert s.value("test_gauge_mostrecent") == newest
    # The replacement worker in the victim's slot starts its live gauges at 0.
    assert s.value("test_gauge_livemin") == 0
    assert s.value("test_gauge_livemax") == last[survivor]
    assert s.value("test_gauge_livesum") == last[survivor]
    assert s.value("test_gauge_livemostrecent") == last[survivor]
    if name == "redis":
        wait_until(lambda: _app_samples(scrape_redis(redis_prefix)) == _app_samples(server.scrape()), message="Redis")


def test_request_catalogue_is_counted_the_same(gunicorn, backend, redis_prefix):
    name, env = backend
    server = gunicorn(workers=2, env=env).start()
    assert server.send(40, concurrency=4) == {200: 40}
    assert server.send(6, "/missing") == {404: 6}
    assert server.send(3, "/raise") == {500: 3}
    assert server.send(5, "/event") == {200: 5}

    # Complete once both workers have started (they may still be booting on a
    # loaded machine) and, for Redis, once a write after the last response landed.
    def complete(s):
        return s.total("gunicorn_requests_total") == 54 and len(s.by_label("gunicorn_worker_busy", "worker")) == 2

    sources = [wait_until(lambda: complete(x := server.scrape()) and x, message="both workers")]
    if name == "redis":
        sources.append(wait_until(lambda: complete(x := scrape_redis(redis_prefix)) and x, message="Redis"))
    for s in sources:
        assert s.value("gunicorn_requests_total", method="GET", status="200") == 45
        assert s.value("gunicorn_requests_total", method="GET", status="404") == 6
        assert s.value("gunicorn_requests_total", method="GET", status="500") == 3
        assert s.value("gunicorn_request_exceptions_total", exception="AppError") == 3
        assert s.value("gunicorn_request_duration_seconds_count", method="GET") == 54
        assert sum(s.by_label("gunicorn_worker_requests_total", "worker").values()) == 54
        assert s.value("app_events_total", kind="event") == 5
        assert s.value("gunicorn_requests_in_progress") == 0
        assert s.by_label("gunicorn_worker_busy", "worker") == {"0": 0, "1": 0}
