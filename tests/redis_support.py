"""Redis for the tests: the shared server on 127.0.0.1:6379 with a key prefix per
test (deleted after), and private ``redis-server`` processes for outages."""

from __future__ import annotations

import shutil
import signal
import subprocess
import uuid
from pathlib import Path

import pytest
import redis
from harness import Scrape, free_port, wait_until
from prometheus_client import CollectorRegistry, generate_latest

from gunicorn_prometheus_exporter.backend.core import RedisMultiProcessCollector, RedisStorageClient

SHARED_PORT = 6379


def delete_prefix(client: redis.Redis, prefix: str) -> None:
    keys = list(client.scan_iter(match=f"{prefix}:*", count=500))
    if keys:
        client.delete(*keys)


@pytest.fixture(scope="session", name="_redis_prefixes")
def redis_prefixes_fixture():
    """Every prefix the session used, deleted once more at its end: a server stopped after a
    test's own clean-up (fixtures are torn down in reverse order) writes its final totals late."""
    prefixes: list[str] = []
    yield prefixes
    client = redis.Redis(port=SHARED_PORT)
    for prefix in prefixes:
        delete_prefix(client, prefix)
    client.close()


@pytest.fixture(name="redis_prefix")
def redis_prefix_fixture(_redis_prefixes):
    """A key prefix of the test's own on the shared Redis; its keys are deleted afterwards."""
    prefix = f"gpe-test-{uuid.uuid4().hex[:12]}"
    _redis_prefixes.append(prefix)
    client = redis.Redis(port=SHARED_PORT)
    yield prefix
    delete_prefix(client, prefix)
    client.close()


def redis_env(prefix: str, instance: str = "host-a", port: int = SHARED_PORT, interval: float = 0.2, **extra) -> dict:
    env = {
        "REDIS_ENABLED": "true",
        "REDIS_HOST": "127.0.0.1",
        "REDIS_PORT": str(port),
        "REDIS_KEY_PREFIX": prefix,
        "REDIS_INSTANCE": instance,
        "REDIS_FLUSH_INTERVAL": str(interval),
        "PROMETHEUS_MULTIPROC_DIR": None,
    }
    env.update(extra)
    return env


def storage_client(prefix: str, instance: str = "host-a", port: int = SHARED_PORT, password=None) -> RedisStorageClient:
    return RedisStorageClient(redis.Redis(port=port, password=password, socket_timeout=5), prefix, instance)


def scrape_redis(
    prefix: str, instance: str = "host-a", port: int = SHARED_PORT, instances=None, password=None
) -> Scrape:
    """What Redis holds for an instance, aggregated as the master aggregates, as a parsed exposition."""
    client = storage_client(prefix, instance, port, password)
    try:
        registry = CollectorRegistry(auto_describe=False)
        RedisMultiProcessCollector(registry, client=client, instances=instances)
        return Scrape(generate_latest(registry).decode())
    finally:
        client.close()


def redis_total(prefix: str, name: str = "gunicorn_requests_total", **kwargs) -> float:
    return scrape_redis(prefix, **kwargs).total(name)


def wait_redis_total(prefix: str, expected: float, name: str = "gunicorn_requests_total", timeout=30.0, **kwargs):
    return wait_until(
        lambda: redis_total(prefix, name, **kwargs) == expected,
        timeout,
        message=f"Redis to hold {name} == {expected}",
    )


class PrivateRedis:
    """A redis-server of the test's own, on a free port, that can be frozen, killed and restarted."""

    def __init__(self, directory: Path, password: str | None = None, port: int | None = None):
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.password = password
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None

    def start(self) -> PrivateRedis:
        command = [
            shutil.which("redis-server") or "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.directory),
        ]
        if self.password:
            command += ["--requirepass", self.password]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: self.client().ping(), 20, message=f"redis-server on {self.port}")
        return self

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, password=self.password, socket_timeout=5)

    def freeze(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
            self.process.wait(10)

    def commands_processed(self) -> int:
        return int(self.client().info("stats")["total_commands_processed"])


@pytest.fixture(name="private_redis")
def private_redis_fixture(tmp_path):
    """Factory of private redis-server processes, all killed after the test."""
    servers = []

    def make(**kwargs) -> PrivateRedis:
        server = PrivateRedis(tmp_path / f"redis-{len(servers)}", **kwargs)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.kill()
