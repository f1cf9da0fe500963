"""Redis storage, low level: the key layout and the few pipelined operations on it.

Workers never talk to Redis. The master publishes each owner's block (a
worker slot or the master itself) as ABSOLUTE values, so a write that failed,
or a Redis that restarted empty, is made whole by the next write. Keys::

    {prefix}:instances            set   the instance names that have published
    {prefix}:{instance}:meta      hash  owners (JSON [[owner, live], ...]), updated (unix time),
                                        interval, state (running|stopped), run, pid, host
    {prefix}:{instance}:{owner}   hash  series key (JSON, as in values.encode_key) -> "value timestamp"

``owner`` is ``master`` or a worker slot (``0`` to ``N-1``), so an instance
holds at most ``workers + 3`` keys however often its workers are replaced.
No key has a TTL: a counter stays part of its total until the instance is
deleted on purpose (``RedisStorageClient.delete_instance``).

The names the configuration guide lists for this layer are fronts on this
machinery: ``RedisStorageClient`` (publishing and reading instances),
``RedisDict`` (one owner's hash), ``RedisStorageDict`` (one instance, owner ->
``RedisDict``), ``RedisValue`` (the metric value class used with Redis storage)
and ``RedisMultiProcessCollector`` (a prometheus_client collector reading
instances from Redis and aggregating them like the master does).
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
import weakref
from collections.abc import Iterable, Iterator, Mapping

from ..collector import KeyCache, aggregate
from ..config import Settings
from ..values import SlotValue

CONNECT_TIMEOUT = 0.5  # seconds to open a connection: an unreachable Redis fails fast
SOCKET_TIMEOUT = 1.0  # seconds for an answer: a frozen Redis fails fast too
RUNNING, STOPPED = "running", "stopped"

Entries = list[tuple[bytes, float, float]]
OwnerEntries = tuple[str, bool, Entries]

# The value class of every metric when Redis storage is on: values live in the
# slot's shared memory (no round trip per update) and reach Redis when the
# master publishes. Same class as file storage, so both aggregate identically.
RedisValue = SlotValue


def encode_entry(value: float, timestamp: float) -> bytes:
    return f"{value!r} {timestamp!r}".encode()


def decode_entry(raw: bytes) -> tuple[float, float]:
    value, _, timestamp = raw.partition(b" ")
    return float(value), float(timestamp or 0.0)


def new_run_id() -> str:
    """Identifies one master's run; starts with its start time, so the newer of two runs is known."""
    return f"{time.time():.6f}-{uuid.uuid4().hex[:12]}"


def run_started(run: str) -> float:
    try:
        return float(run.partition("-")[0])
    except ValueError:
        return 0.0


def stale_after(interval: float) -> float:
    """Seconds without a write after which an instance counts as gone (its live gauges end)."""
    return max(3 * interval, interval + 5.0)


# Sockets of the master's Redis connections. A forked worker inherits them and
# closes its copies at once (the parent's connections are unaffected): a worker
# never talks to Redis. A WeakSet, because an at-fork handler must take no lock
# another thread might have held during the fork.
_sockets: weakref.WeakSet = weakref.WeakSet()


def _close_inherited_sockets() -> None:
    for sock in list(_sockets):
        try:
            sock.close()
        except OSError:
            pass
    _sockets.clear()


os.register_at_fork(after_in_child=_close_inherited_sockets)


def _connection_class(ssl: bool):
    import redis

    base = redis.SSLConnection if ssl else redis.Connection

    class Connection(base):
        def _connect(self):
            sock = super()._connect()
            _sockets.add(sock)
            return sock

    return Connection


def connect(settings: Settings):
    """A ``redis.Redis`` for the settings: short timeouts and no silent retries.

    A failed operation fails once and fast; the caller decides when to try
    again (the publisher, next interval), so nothing ever waits long on Redis.
    """
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    kwargs = settings.redis_connection_kwargs()
    ssl = kwargs.pop("ssl", False)
    pool = redis.ConnectionPool(
        connection_class=_connection_class(ssl),
        **kwargs,
        socket_connect_timeout=CONNECT_TIMEOUT,
        socket_timeout=SOCKET_TIMEOUT,
        retry=Retry(NoBackoff(), 0),
        client_name=f"gunicorn-exporter-{os.getpid()}",
    )
    return redis.Redis(connection_pool=pool)


class RedisStorageClient:
    """Publishes one instance's owners and reads any instance back, in bounded round trips."""

    def __init__(self, redis_client, prefix: str = "gunicorn", instance: str | None = None):
        self.redis = redis_client
        self.prefix = prefix
        self.instance = instance or socket.gethostname()

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> RedisStorageClient:
        settings = settings or Settings.from_environ()
        return cls(connect(settings), settings.redis_key_prefix, settings.instance)

    # -- keys ------------------------------------------------------------

    @property
    def instances_key(self) -> str:
        return f"{self.prefix}:instances"

    def meta_key(self, instance: str | None = None) -> str:
        return f"{self.prefix}:{instance or self.instance}:meta"

    def owner_key(self, owner: str, instance: str | None = None) -> str:
        return f"{self.prefix}:{instance or self.instance}:{owner}"

    # -- writing ---------------------------------------------------------

    def publish(
        self,
        owners: Iterable[OwnerEntries],
        *,
        run: str,
        interval: float,
        state: str = RUNNING,
        replace: bool = False,
        only_if_ours: bool = False,
    ) -> str | None:
        """Write every owner's absolute values in one MULTI/EXEC; returns the run id it replaced.

        ``replace`` (a run's first write) first deletes what an earlier run of
        this instance left, so the instance's keys mirror this run exactly.
        ``only_if_ours`` (a master's final write) writes nothing if a newer run
        has taken the instance over since (a new master after USR2, say).
        """
        owners = list(owners)
        if only_if_ours:
            current = self.redis.hget(self.meta_key(), "run")
            if current is not None and run_started(current.decode()) > run_started(run):
                return current.decode()
        pipe = self.redis.pipeline(transaction=True)
        pipe.hget(self.meta_key(), "run")
        if replace:
            old = self.redis.hget(self.meta_key(), "owners")
            stale = {owner for owner, _ in json.loads(old)} if old else set()
            stale.update(owner for owner, _, _ in owners)
            if stale:
                pipe.delete(*(self.owner_key(owner) for owner in sorted(stale)))
        for owner, _, entries in owners:
            if entries:
                pipe.hset(self.owner_key(owner), mapping={key: encode_entry(v, ts) for key, v, ts in entries})
        pipe.hset(
            self.meta_key(),
            mapping={
                "owners": json.dumps([[owner, live] for owner, live, _ in owners]),
                "updated": repr(time.time()),
                "interval": repr(interval),
                "state": state,
                "run": run,
                "pid": os.getpid(),
                "host": socket.gethostname(),
            },
        )
        pipe.sadd(self.instances_key, self.instance)
        previous = pipe.execute()[0]
        return previous.decode() if previous is not None else None

    def delete_instance(self, instance: str | None = None) -> None:
        """Forget an instance's data (its counters leave every total): a deliberate clean-up."""
        instance = instance or self.instance
        owners = self.redis.hget(self.meta_key(instance), "owners")
        keys = [self.meta_key(instance)]
        keys += [self.owner_key(owner, instance) for owner, _ in json.loads(owners or "[]")]
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(*keys)
        pipe.srem(self.instances_key, instance)
        pipe.execute()

    # -- reading ---------------------------------------------------------

    def instances(self) -> list[str]:
        return sorted(member.decode() for member in self.redis.smembers(self.instances_key))

    def read_instances(self, instances: Iterable[str], now: float | None = None) -> dict[str, list[OwnerEntries]]:
        """``instance -> [(owner, live, entries)]`` in two round trips whatever the count.

        An owner is live if its instance said so in its last write, that write
        is recent (``stale_after``) and the instance has not stopped.
        """
        instances = list(instances)
        now = time.time() if now is None else now
        pipe = self.redis.pipeline(transaction=False)
        for instance in instances:
            pipe.hgetall(self.meta_key(instance))
        metas = pipe.execute() if instances else []
        wanted: list[tuple[str, str, bool]] = []
        for instance, meta in zip(instances, metas, strict=True):
            if not meta or b"owners" not in meta:
                continue  # not written yet (or Redis lost it; the next write brings it back)
            interval = float(meta.get(b"interval", b"1"))
            running = meta.get(b"state") == RUNNING.encode()
            fresh = now - float(meta.get(b"updated", b"0")) <= stale_after(interval)
            for owner, live in json.loads(meta[b"owners"]):
                wanted.append((instance, owner, bool(live) and running and fresh))
        pipe = self.redis.pipeline(transaction=False)
        for instance, owner, _ in wanted:
            pipe.hgetall(self.owner_key(owner, instance))
        hashes = pipe.execute() if wanted else []
        result: dict[str, list[OwnerEntries]] = {instance: [] for instance in instances}
        for (instance, owner, live), fields in zip(wanted, hashes, strict=True):
            entries = [(key, *decode_entry(raw)) for key, raw in fields.items()]
            result[instance].append((owner, live, entries))
        return result

    def read_instance(self, instance: str | None = None) -> list[OwnerEntries]:
        instance = instance or self.instance
        return self.read_instances([instance])[instance]

    def ping(self) -> bool:
        return bool(self.redis.ping())

    def close(self) -> None:
        self.redis.close()


class RedisDict(Mapping):
    """One owner's hash: series key -> ``(value, timestamp)``, like prometheus_client's MmapedDict.

    Reads go to Redis on each call; ``write_value`` writes one series (tools
    and tests; the master publishes whole blocks through ``RedisStorageClient``).
    """

    def __init__(self, client: RedisStorageClient, owner: str, instance: str | None = None):
        self.client = client
        self.key = client.owner_key(owner, instance)

    def read_all_values(self) -> Iterator[tuple[bytes, float, float]]:
        for key, raw in self.client.redis.hgetall(self.key).items():
            yield (key, *decode_entry(raw))

    def read_value(self, key: bytes) -> tuple[float, float]:
        raw = self.client.redis.hget(self.key, key)
        return decode_entry(raw) if raw is not None else (0.0, 0.0)

    def write_value(self, key: bytes, value: float, timestamp: float = 0.0) -> None:
        self.client.redis.hset(self.key, key, encode_entry(value, timestamp))

    def __getitem__(self, key: bytes) -> tuple[float, float]:
        raw = self.client.redis.hget(self.key, key)
        if raw is None:
            raise KeyError(key)
        return decode_entry(raw)

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.client.redis.hkeys(self.key))

    def __len__(self) -> int:
        return self.client.redis.hlen(self.key)


class RedisStorageDict(Mapping):
    """One instance's storage as a mapping: owner (``master``, ``0``, ``1``, ...) -> ``RedisDict``."""

    def __init__(self, client: RedisStorageClient, instance: str | None = None):
        self.client = client
        self.instance = instance or client.instance

    def _owners(self) -> list[str]:
        raw = self.client.redis.hget(self.client.meta_key(self.instance), "owners")
        return [owner for owner, _ in json.loads(raw)] if raw else []

    def __getitem__(self, owner: str) -> RedisDict:
        if owner not in self._owners():
            raise KeyError(owner)
        return RedisDict(self.client, owner, self.instance)

    def __iter__(self) -> Iterator[str]:
        return iter(self._owners())

    def __len__(self) -> int:
        return len(self._owners())


class RedisMultiProcessCollector:
    """A prometheus_client collector serving what Gunicorn masters published to Redis.

    ``instances``: a list of instance names, or None for the client's own
    instance, or ``"*"`` for every instance under the prefix. Samples are
    aggregated with the master's own code (``collector.aggregate``): counters
    and histograms summed, gauges by their multiprocess mode; with more than
    one instance, the per-process gauge label is ``instance/slot``.
    Usable in any process (a sidecar, a test): ``registry.register(...)``.
    """

    def __init__(self, registry=None, client: RedisStorageClient | None = None, instances=None):
        self.client = client or RedisStorageClient.from_settings()
        self.instances = instances
        self.keys = KeyCache()
        if registry is not None:
            registry.register(self)

    def _names(self) -> list[str]:
        if self.instances == "*":
            return self.client.instances()
        return list(self.instances or [self.client.instance])

    def read(self) -> list[OwnerEntries]:
        names = self._names()
        data = self.client.read_instances(names)
        if len(names) == 1:
            return data[names[0]]
        return [(f"{name}/{owner}", live, entries) for name in names for owner, live, entries in data[name]]

    def collect(self):
        return aggregate(self.read(), self.keys)
