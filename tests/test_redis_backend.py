"""The guide's backend names (backend.core, backend.service) against the real Redis."""

import json
import subprocess
import sys
import textwrap
import time

from harness import ROOT, Scrape, free_port
from prometheus_client import CollectorRegistry, generate_latest
from redis_support import redis_prefix_fixture, redis_prefixes_fixture, storage_client  # noqa: F401 - fixture

from gunicorn_prometheus_exporter import backend
from gunicorn_prometheus_exporter.backend.core import (
    RedisDict,
    RedisMultiProcessCollector,
    RedisStorageDict,
    RedisValue,
    stale_after,
)
from gunicorn_prometheus_exporter.store import open_memory_block
from gunicorn_prometheus_exporter.values import SlotValue, encode_key

COUNTER = encode_key("counter", "", "jobs", "jobs_total", ("kind",), ("x",), "Jobs.")
GAUGE_ALL = encode_key("gauge", "all", "temp", "temp", (), (), "Temperature.")
GAUGE_LIVE = encode_key("gauge", "livesum", "busy", "busy", (), (), "Busy.")


def _aggregate(client, instances=None) -> Scrape:
    registry = CollectorRegistry(auto_describe=False)
    RedisMultiProcessCollector(registry, client=client, instances=instances)
    return Scrape(generate_latest(registry).decode())


def test_the_guides_names_exist():
    for name in (
        "RedisStorageManager",
        "setup_redis_metrics",
        "teardown_redis_metrics",
        "get_redis_storage_manager",
        "RedisStorageClient",
        "RedisStorageDict",
        "RedisValue",
        "RedisMultiProcessCollector",
        "RedisDict",
    ):
        assert getattr(backend, name) is not None
    from gunicorn_prometheus_exporter.backend import core, service

    assert service.get_redis_storage_manager() is service.get_redis_storage_manager()
    assert isinstance(service.get_redis_storage_manager(), service.RedisStorageManager)
    assert core.RedisValue is SlotValue  # the value class used with Redis storage: shared memory, no round trip


def test_client_publishes_absolute_values_and_reads_them_back(redis_prefix):
    client = storage_client(redis_prefix, "unit")
    owners = [
        ("master", True, [(COUNTER, 1.0, 0.0)]),
        ("0", True, [(COUNTER, 5.0, 0.0), (GAUGE_ALL, 21.5, 0.0), (GAUGE_LIVE, 1.0, 0.0)]),
        ("1", False, [(COUNTER, 7.0, 0.0), (GAUGE_LIVE, 1.0, 0.0)]),
    ]
    assert client.publish(owners, run="1.0-a", interval=1.0, replace=True) is None
    read = {owner: (live, sorted(entries)) for owner, live, entries in client.read_instance("unit")}
    assert read == {owner: (live, sorted(entries)) for owner, live, entries in owners}

    # Absolute values: a second write replaces, it does not add.
    owners[1] = ("0", True, [(COUNTER, 6.0, 0.0), (GAUGE_ALL, 20.0, 0.0), (GAUGE_LIVE, 0.0, 0.0)])
    assert client.publish(owners, run="1.0-a", interval=1.0) == "1.0-a"
    s = _aggregate(client)
    assert s.value("jobs_total", kind="x") == 1 + 6 + 7
    assert s.by_label("temp", "worker") == {"0": 20.0}
    assert s.value("busy") == 0  # slot 1's live gauge ended with its worker
    keys = sorted(client.redis.scan_iter(match=f"{redis_prefix}:*"))
    assert [k.decode() for k in keys] == [
        f"{redis_prefix}:instances",
        f"{redis_prefix}:unit:0",
        f"{redis_prefix}:unit:1",
        f"{redis_prefix}:unit:master",
        f"{redis_prefix}:unit:meta",
    ]
    assert all(client.redis.ttl(key) == -1 for key in keys)

    # A new run of the instance replaces what the last one left.
    assert client.publish([("0", True, [(COUNTER, 2.0, 0.0)])], run="2.0-b", interval=1.0, replace=True) == "1.0-a"
    assert not client.redis.exists(f"{redis_prefix}:unit:1")
    assert _aggregate(client).value("jobs_total", kind="x") == 2
    client.delete_instance()
    assert list(client.redis.scan_iter(match=f"{redis_prefix}:*")) == []


def test_stopped_or_silent_instances_keep_counters_but_not_live_gauges(redis_prefix):
    client = storage_client(redis_prefix, "gone")
    entries = [(COUNTER, 3.0, 0.0), (GAUGE_LIVE, 1.0, 0.0)]
    client.publish([("0", True, entries)], run="r", interval=1.0, replace=True)
    assert _aggregate(client).value("busy") == 1
    client.redis.hset(client.meta_key(), "updated", repr(time.time() - stale_after(1.0) - 1))
    s = _aggregate(client)
    assert not s.has("busy") and s.value("jobs_total", kind="x") == 3
    client.publish([("0", True, entries)], run="r", interval=1.0, state="stopped")
    s = _aggregate(client)
    assert not s.has("busy") and s.value("jobs_total", kind="x") == 3


def test_collector_over_every_instance_sums_counters_and_names_each_process(redis_prefix):
    a = storage_client(redis_prefix, "a")
    b = storage_client(redis_prefix, "b")
    a.publish([("0", True, [(COUNTER, 4.0, 0.0), (GAUGE_ALL, 10.0, 0.0)])], run="ra", interval=1.0, replace=True)
    b.publish([("0", True, [(COUNTER, 5.0, 0.0), (GAUGE_ALL, 12.0, 0.0)])], run="rb", interval=1.0, replace=True)
    assert a.instances() == ["a", "b"]
    fleet = _aggregate(a, instances="*")
    assert fleet.value("jobs_total", kind="x") == 9
    assert fleet.by_label("temp", "worker") == {"a/0": 10.0, "b/0": 12.0}
    assert _aggregate(a).value("jobs_total", kind="x") == 4
    assert _aggregate(a, instances=["b"]).value("jobs_total", kind="x") == 5


def test_redis_dict_and_storage_dict(redis_prefix):
    client = storage_client(redis_prefix, "dicts")
    client.publish([("master", True, []), ("0", True, [(COUNTER, 2.0, 0.0)])], run="r", interval=1.0, replace=True)
    storage = RedisStorageDict(client)
    assert list(storage) == ["master", "0"] and len(storage) == 2 and "7" not in storage
    slot = storage["0"]
    assert isinstance(slot, RedisDict)
    assert slot[COUNTER] == (2.0, 0.0) and list(slot) == [COUNTER] and len(slot) == 1
    slot.write_value(GAUGE_ALL, 36.6, 1700000000.5)
    assert slot.read_value(GAUGE_ALL) == (36.6, 1700000000.5)
    assert slot.read_value(b"missing") == (0.0, 0.0)
    assert sorted(slot.read_all_values()) == sorted([(COUNTER, 2.0, 0.0), (GAUGE_ALL, 36.6, 1700000000.5)])


def test_redis_value_writes_shared_memory_that_the_client_publishes(redis_prefix):
    from gunicorn_prometheus_exporter import values

    block = open_memory_block("test")
    values.adopt_block(block, carry_values=False)
    value = RedisValue("counter", "orders", "orders_total", ("shop",), ("berlin",), "Orders.")
    value.inc(3)
    value.inc(4)
    client = storage_client(redis_prefix, "values")
    client.publish([("0", True, list(block.items()))], run="r", interval=1.0, replace=True)
    assert _aggregate(client).value("orders_total", shop="berlin") == 7


MANAGER_SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    from prometheus_client import Counter
    from gunicorn_prometheus_exporter import values
    from gunicorn_prometheus_exporter.backend import (
        get_redis_storage_manager, setup_redis_metrics, teardown_redis_metrics,
    )

    values.install()
    manager = get_redis_storage_manager()
    result = {"before": manager.is_active, "setup": setup_redis_metrics(), "active": manager.is_active}
    Counter("script_events", "Events of the script.").inc(4)
    result["flush"] = manager.flush()
    result["stored"] = [
        s.value for f in manager.get_collector().collect() for s in f.samples if s.name == "script_events_total"
    ]
    teardown_redis_metrics()
    result["state"] = manager.get_client().redis.hget(manager.get_client().meta_key(), "state").decode()
    print(json.dumps(result))
    """
)


def _run_manager_script(env_extra):
    env = {
        "PROMETHEUS_METRICS_PORT": str(free_port()),
        "PROMETHEUS_BIND_ADDRESS": "127.0.0.1",
        "REDIS_HOST": "127.0.0.1",
        **env_extra,
    }
    import os

    result = subprocess.run(
        [sys.executable, "-c", MANAGER_SCRIPT],
        env={**os.environ, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_manager_sets_up_flushes_and_tears_down_redis_storage(redis_prefix):
    result = _run_manager_script(
        {"REDIS_ENABLED": "true", "REDIS_KEY_PREFIX": redis_prefix, "REDIS_INSTANCE": "script"}
    )
    assert result == {
        "before": False,
        "setup": True,
        "active": True,
        "flush": True,
        "stored": [4.0],
        "state": "stopped",
    }


def test_manager_setup_is_a_no_op_without_redis_enabled(redis_prefix):
    script_env = {"REDIS_ENABLED": "false", "REDIS_KEY_PREFIX": redis_prefix}
    env = {**__import__("os").environ, "PROMETHEUS_METRICS_PORT": str(free_port()), **script_env}
    code = (
        "from gunicorn_prometheus_exporter.backend import setup_redis_metrics, get_redis_storage_manager;"
        "print(setup_redis_metrics(), get_redis_storage_manager().is_active)"
    )
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False"]
