"""The Redis backend's public names, as the configuration guide lists them.

``backend.service`` manages the running master's Redis storage;
``backend.core`` holds the key layout and the operations on it.
"""

from .core import RedisDict, RedisMultiProcessCollector, RedisStorageClient, RedisStorageDict, RedisValue
from .service import (
    RedisStorageManager,
    get_redis_storage_manager,
    setup_redis_metrics,
    teardown_redis_metrics,
)

__all__ = [
    "RedisDict",
    "RedisMultiProcessCollector",
    "RedisStorageClient",
    "RedisStorageDict",
    "RedisStorageManager",
    "RedisValue",
    "get_redis_storage_manager",
    "setup_redis_metrics",
    "teardown_redis_metrics",
]
