"""Redis storage: blocks in anonymous shared memory, published to Redis by the master.

Workers write their slot's block in shared memory exactly as with file
storage (a memfd: no file anywhere) and never talk to Redis. A daemon thread
in the master writes every owner's absolute values to Redis in one pipeline
each ``REDIS_FLUSH_INTERVAL`` seconds, and once more when the master exits.
A failed write marks the storage down, is counted, and is simply repeated
next interval: the data waits in shared memory, and absolute values make an
outage, or a Redis that restarted empty, heal on the next write.

``/metrics`` with ``REDIS_SCOPE=instance`` (the default) answers from this
master's own blocks: the same values it publishes, exact and never waiting on
Redis. With ``REDIS_SCOPE=all`` it adds every other instance found under the
key prefix, read in three pipelined round trips (see ``backend.core``).
"""

from __future__ import annotations

import threading

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from ..config import ConfigError, Settings
from ..store import Block, open_memory_block


class RedisStorage:
    name = "redis"

    def __init__(self, settings: Settings, log):
        self.settings = settings
        self.log = log
        self.instance = settings.instance
        self.scope = settings.redis_scope
        self.interval = settings.redis_flush_interval
        self.where = settings.describe_redis()
        self.client = None  # backend.core.RedisStorageClient, made in open()
        self.errors: dict[str, int] = {}  # failed operations by name, for storage_errors_total
        self.run = None  # this run's id, made in open(): tells its writes from another master's
        self.superseded = False  # a newer master writes this instance now; this one has stopped writing
        self._snapshot = None
        self._published = False
        self._failing: set[str] = set()  # operations whose last attempt failed
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Serialises the publisher thread and the final write at exit, both in
        # the master. No forked worker ever uses it.
        self._write_lock = threading.Lock()

    # -- storage interface -------------------------------------------------

    def open(self) -> None:
        from ..backend.core import RedisStorageClient, new_run_id

        try:
            self.client = RedisStorageClient.from_settings(self.settings)
        except ImportError:  # the redis extra is not installed
            raise ConfigError(
                "REDIS_ENABLED='true' is not valid: the redis package is not installed; expected "
                "pip install 'gunicorn-prometheus-exporter[redis]'"
            ) from None
        self.run = new_run_id()
        self.log.info(
            "Redis storage: instance %r under key prefix %r at %s, written every %ss",
            self.instance,
            self.settings.redis_key_prefix,
            self.where,
            self.interval,
        )

    def new_block(self, owner: str) -> Block:
        return open_memory_block(owner)

    def leftover_owners(self) -> list[str]:
        """Shared memory dies with the master that made it: a new run starts from its own blocks."""
        return []

    def attach(self, snapshot) -> None:
        """Write once now (a bounded try, so the log says at once whether Redis answers), then every interval."""
        self._snapshot = snapshot
        self.flush()
        self._thread = threading.Thread(target=self._publish_forever, name="redis-publisher", daemon=True)
        self._thread.start()

    def read(self, owners):
        if self.scope != "all":
            return owners
        local = [(f"{self.instance}/{owner}", live, entries) for owner, live, entries in owners]
        try:
            others = [name for name in self.client.instances() if name != self.instance]
            remote = self.client.read_instances(others)
        except Exception as exc:  # noqa: BLE001 - any failure: answer with what this host has
            self._failed("read", exc)
            return local
        self._recovered("read")
        for name in others:
            local.extend((f"{name}/{owner}", live, entries) for owner, live, entries in remote[name])
        return local

    def close(self) -> None:
        """Stop the publisher and write the final totals (the workers have stopped by now)."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        if self._snapshot is not None:
            if self.flush(final=True):
                self.log.info("Redis storage: final totals of instance %r written", self.instance)
            self._snapshot = None
        if self.client is not None:
            self.client.close()

    # -- publishing --------------------------------------------------------

    def _publish_forever(self) -> None:
        while not self._stop.wait(self.interval):
            self.flush()

    def flush(self, final: bool = False) -> bool:
        """Write every owner's absolute values to Redis in one pipeline; False if nothing was written."""
        from ..backend.core import RUNNING, STOPPED, run_started

        with self._write_lock:
            if self.superseded:
                return False
            try:
                owners = self._snapshot()
                if final:
                    owners = [(owner, False, entries) for owner, _, entries in owners]
                previous = self.client.publish(
                    owners,
                    run=self.run,
                    interval=self.interval,
                    state=STOPPED if final else RUNNING,
                    replace=not self._published,
                    only_if_ours=final and self._published,
                )
            except Exception as exc:  # noqa: BLE001 - never let the publisher die; retry next interval
                self._failed("write", exc)
                return False
            self._recovered("write")
            if self._published and previous not in (None, self.run):
                if run_started(previous) > run_started(self.run):
                    # A newer master writes this instance (after USR2, or a second server
                    # given the same name): the newer one wins, this one stops writing.
                    self.superseded = True
                    self.errors["conflict"] = self.errors.get("conflict", 0) + 1
                    self.log.warning(
                        "Redis storage: a newer Gunicorn master now writes instance %r under prefix %r; this "
                        "master stops writing to Redis (if both should run, give each its own REDIS_INSTANCE)",
                        self.instance,
                        self.settings.redis_key_prefix,
                    )
                    return False
                self.log.info("Redis storage: instance %r taken over from an older master", self.instance)
            self._published = True
            return True

    # -- status ------------------------------------------------------------

    @property
    def up(self) -> bool:
        """True while the last write (and, with REDIS_SCOPE=all, the last read) succeeded."""
        return not self._failing

    def _failed(self, operation: str, exc: Exception) -> None:
        self.errors[operation] = self.errors.get(operation, 0) + 1
        if operation not in self._failing:
            self._failing.add(operation)
            self.log.warning(
                "Redis storage at %s: %s failed (%s); metrics stay in shared memory and are written when it answers",
                self.where,
                operation,
                self._describe(exc),
            )

    def _recovered(self, operation: str) -> None:
        if operation in self._failing:
            self._failing.discard(operation)
            self.log.info("Redis storage at %s answers again (%s)", self.where, operation)

    def _describe(self, exc: Exception) -> str:
        text = f"{type(exc).__name__}: {exc}"
        secret = self.settings.redis_connection_kwargs().get("password")
        return text.replace(secret, "<hidden>") if secret else text


class StorageStatusCollector:
    """``gunicorn_exporter_storage_up`` and ``gunicorn_exporter_storage_errors_total`` from a storage."""

    def __init__(self, storage):
        self.storage = storage

    def collect(self):
        up = GaugeMetricFamily(
            "gunicorn_exporter_storage_up", "1 while the storage (directory or Redis) can be read and written."
        )
        up.add_metric([], 1.0 if self.storage.up else 0.0)
        yield up
        errors = CounterMetricFamily(
            "gunicorn_exporter_storage_errors", "Failed storage operations.", labels=["operation"]
        )
        for operation, count in sorted(self.storage.errors.items()):
            errors.add_metric([operation], count)
        yield errors
