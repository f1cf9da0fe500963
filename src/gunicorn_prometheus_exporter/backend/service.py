"""Redis storage, high level: the lifecycle of this Gunicorn master's Redis storage.

Redis storage runs inside the master's exporter (``REDIS_ENABLED=true`` makes
its storage ``storage.redis.RedisStorage``). The worker classes start the
exporter on their own, so a config needs none of this; these functions are
for hooks and scripts that want to start it early, write the final totals at
a moment of their choosing, or reach the client and collector.
"""

from __future__ import annotations

import logging

from ..config import Settings
from ..master import get_exporter, start_exporter
from .core import RedisMultiProcessCollector, RedisStorageClient

logger = logging.getLogger(__name__)


class RedisStorageManager:
    """Starts, reaches and shuts down the running master's Redis storage."""

    @property
    def storage(self):
        """The running master's ``RedisStorage``, or None (not started, file storage, or not the master)."""
        exporter = get_exporter()
        if exporter is None or exporter.storage.name != "redis":
            return None
        return exporter.storage

    @property
    def is_active(self) -> bool:
        return self.storage is not None

    def setup(self) -> bool:
        """Start the exporter (idempotent) when ``REDIS_ENABLED`` is true; True if Redis storage runs.

        Raises ``ConfigError`` (one line naming the variable) for a bad setting.
        """
        if not Settings.from_environ().redis_enabled:
            logger.debug("REDIS_ENABLED is not true: metrics use file storage")
            return False
        start_exporter()
        return self.is_active

    def flush(self) -> bool:
        """Write every owner's totals to Redis now; False if Redis did not take them."""
        storage = self.storage
        return storage.flush() if storage is not None else False

    def teardown(self) -> None:
        """Stop publishing and write the final totals (for ``on_exit``; idempotent)."""
        storage = self.storage
        if storage is not None:
            storage.close()

    def get_client(self) -> RedisStorageClient:
        """The storage's client while it runs; otherwise a new one from the environment."""
        storage = self.storage
        if storage is not None and storage.client is not None:
            return storage.client
        return RedisStorageClient.from_settings()

    def get_collector(self, instances=None) -> RedisMultiProcessCollector:
        """A collector reading this instance (or ``instances``, or ``"*"`` for all) from Redis."""
        return RedisMultiProcessCollector(client=self.get_client(), instances=instances)


_manager = RedisStorageManager()


def get_redis_storage_manager() -> RedisStorageManager:
    return _manager


def setup_redis_metrics() -> bool:
    """Start Redis storage now (the worker class would start it anyway); see ``RedisStorageManager.setup``."""
    return _manager.setup()


def teardown_redis_metrics() -> None:
    """Write the final totals and stop publishing; see ``RedisStorageManager.teardown``."""
    _manager.teardown()
