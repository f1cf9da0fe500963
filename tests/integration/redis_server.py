"""A private redis-server per test, and redis-cli to look into it.

Every test that takes `redis_factory` starts its own redis-server on a free
port (or only on a Unix socket), never the one on 6379, with no persistence;
each is killed at teardown. Checks go through `redis-cli`, never through
hiredis (what gpx itself uses).

`sentinel_factory` starts a monitored pair instead: a master, a replica of
it and three redis-sentinel processes on free ports, with a failover that
takes a few seconds (down-after-milliseconds 1000).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from conftest import free_port, wait_for


def _ensure_installed() -> None:
    if shutil.which("redis-server") and shutil.which("redis-cli") and shutil.which("redis-sentinel"):
        return
    subprocess.run(["apt-get", "install", "-y", "redis-server", "redis-sentinel"], check=True, capture_output=True,
                   env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


class RedisServer:
    """One redis-server process: start, freeze, kill, restart, and redis-cli."""

    def __init__(self, tmp: Path, port: int | None = None, unixsocket: str | None = None,
                 password: str | None = None, replicaof: int | None = None):
        self.tmp = tmp
        self.unixsocket = unixsocket
        self.port = 0 if unixsocket else (port or free_port())
        self.password = password
        self.replicaof = replicaof  # the master's port: start as its replica
        self.proc = None
        self.frozen = False
        self.starts = 0

    @property
    def where(self) -> str:
        return self.unixsocket or f"127.0.0.1:{self.port}"

    def start(self) -> RedisServer:
        cmd = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
               "--daemonize", "no", "--dir", str(self.tmp)]
        if self.unixsocket:
            cmd += ["--unixsocket", self.unixsocket, "--unixsocketperm", "700"]
        if self.password:
            # masterauth too: a master may become a replica after a failover.
            cmd += ["--requirepass", self.password, "--masterauth", self.password]
        if self.replicaof:
            cmd += ["--replicaof", "127.0.0.1", str(self.replicaof)]
        self.starts += 1
        self.log = open(self.tmp / f"redis-{self.port or 'unix'}-{self.starts}.log", "ab")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        self.frozen = False

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"redis-server exited with {self.proc.returncode}")
            return self.cli("PING") == "PONG"

        wait_for(ready, 10, what=f"redis-server at {self.where}")
        return self

    # -- signals -------------------------------------------------------------
    def freeze(self) -> None:
        self.proc.send_signal(signal.SIGSTOP)
        self.frozen = True

    def thaw(self) -> None:
        self.proc.send_signal(signal.SIGCONT)
        self.frozen = False

    def kill(self) -> None:
        """SIGKILL: the data is gone (nothing is persisted)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.log.close()
        self.proc = None
        self.frozen = False

    def restart(self) -> RedisServer:
        """Killed and started again, empty, on the same port."""
        self.kill()
        return self.start()

    # -- redis-cli -----------------------------------------------------------
    def cli_bytes(self, *args: str) -> bytes:
        cmd = ["redis-cli", "--no-auth-warning"]
        cmd += ["-s", self.unixsocket] if self.unixsocket else ["-h", "127.0.0.1", "-p", str(self.port)]
        if self.password:
            cmd += ["-a", self.password]
        out = subprocess.run([*cmd, *args], capture_output=True, timeout=10)
        return out.stdout

    def cli(self, *args: str) -> str:
        return self.cli_bytes(*args).decode(errors="replace").strip()

    def strlen(self, key: str) -> int:
        return int(self.cli("STRLEN", key) or 0)

    def exists(self, key: str) -> bool:
        return self.cli("EXISTS", key) == "1"

    def keys(self, pattern: str = "*") -> list[str]:
        return sorted(k for k in self.cli("KEYS", pattern).splitlines() if k)

    def zrange(self, key: str) -> list[str]:
        return [k for k in self.cli("ZRANGE", key, "0", "-1").splitlines() if k]

    def ttl(self, key: str) -> int:
        return int(self.cli("TTL", key))

    # -- gpx's options for this server -----------------------------------------
    def gpx_args(self, instance: str, interval: int = 1, prefix: str | None = None) -> tuple:
        """uwsgi options that make gpx publish here as `instance`."""
        args = ["--gpx-redis", "true", "--gpx-redis-interval", str(interval), "--gpx-instance", instance]
        if self.unixsocket:
            args += ["--gpx-redis-host", self.unixsocket]
        else:
            args += ["--gpx-redis-host", "127.0.0.1", "--gpx-redis-port", str(self.port)]
        if self.password:
            args += ["--gpx-redis-password", self.password]
        if prefix:
            args += ["--gpx-redis-key-prefix", prefix]
        return tuple(args)


@pytest.fixture
def redis_factory(tmp_path):
    """Makes RedisServer objects (started); all are killed at teardown.

    Take it before `server_factory` in a test's arguments so that the uwsgi
    servers stop (and publish a last time) before their Redis goes."""
    _ensure_installed()
    servers = []

    def make(**kw) -> RedisServer:
        r = RedisServer(tmp_path, **kw)
        servers.append(r)
        return r.start()

    yield make
    for r in servers:
        if r.proc is not None and r.frozen:
            r.thaw()
        r.kill()


SENTINEL_MASTER = "mymaster"


class RedisSentinel:
    """One redis-sentinel process monitoring SENTINEL_MASTER."""

    def __init__(self, tmp: Path, master_port: int, password: str | None, sentinel_password: str | None):
        self.tmp = tmp
        self.port = free_port()
        self.sentinel_password = sentinel_password
        self.conf = tmp / f"sentinel-{self.port}.conf"
        lines = [f"port {self.port}", "bind 127.0.0.1", "daemonize no", f"dir {tmp}",
                 f"sentinel monitor {SENTINEL_MASTER} 127.0.0.1 {master_port} 2",
                 f"sentinel down-after-milliseconds {SENTINEL_MASTER} 1000",
                 f"sentinel failover-timeout {SENTINEL_MASTER} 5000",
                 f"sentinel parallel-syncs {SENTINEL_MASTER} 1"]
        if password:
            lines.append(f"sentinel auth-pass {SENTINEL_MASTER} {password}")
        if sentinel_password:
            lines += [f"requirepass {sentinel_password}", f"sentinel sentinel-pass {sentinel_password}"]
        self.conf.write_text("\n".join(lines) + "\n")  # rewritten by the Sentinel as it learns
        self.log = open(tmp / f"sentinel-{self.port}.log", "ab")
        self.proc = subprocess.Popen(["redis-sentinel", str(self.conf)], stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)

    @property
    def where(self) -> str:
        return f"127.0.0.1:{self.port}"

    def cli(self, *args: str) -> str:
        cmd = ["redis-cli", "--no-auth-warning", "-h", "127.0.0.1", "-p", str(self.port)]
        if self.sentinel_password:
            cmd += ["-a", self.sentinel_password]
        out = subprocess.run([*cmd, *args], capture_output=True, timeout=10)
        return out.stdout.decode(errors="replace").strip()

    def master_port(self) -> int | None:
        """The master's port this Sentinel names now."""
        lines = self.cli("SENTINEL", "get-master-addr-by-name", SENTINEL_MASTER).splitlines()
        return int(lines[1]) if len(lines) == 2 and lines[1].isdigit() else None

    def knows(self) -> tuple[int, int]:
        """(other Sentinels, replicas) this Sentinel knows of the master."""
        fields = self.cli("SENTINEL", "master", SENTINEL_MASTER).splitlines()
        info = dict(zip(fields[::2], fields[1::2], strict=False))
        return int(info.get("num-other-sentinels", 0)), int(info.get("num-slaves", 0))

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.log.close()


class SentinelSet:
    """A master, its replica and three Sentinels; `password` is the data
    password (requirepass and masterauth of both servers)."""

    def __init__(self, make_server, tmp: Path, password: str | None = None, sentinel_password: str | None = None):
        self.master = make_server(password=password)
        self.replica = make_server(password=password, replicaof=self.master.port)
        self.servers = [self.master, self.replica]
        self.password = password
        self.sentinel_password = sentinel_password
        self.sentinels = [RedisSentinel(tmp, self.master.port, password, sentinel_password) for _ in range(3)]

    def wait_ready(self) -> SentinelSet:
        """Until the replica is in sync and every Sentinel knows the other
        two and the replica: a failover can then happen."""
        wait_for(lambda: "master_link_status:up" in self.replica.cli("INFO", "replication"), 15,
                 what="the replica in sync")
        wait_for(lambda: all(s.knows() == (2, 1) for s in self.sentinels), 30,
                 what="every Sentinel knowing the two others and the replica")
        return self

    def by_port(self, port: int) -> RedisServer:
        return next(r for r in self.servers if r.port == port)

    def current_master(self) -> RedisServer | None:
        """The server every live Sentinel names as the master, or None."""
        ports = {s.master_port() for s in self.sentinels if s.proc.poll() is None}
        return self.by_port(ports.pop()) if len(ports) == 1 and None not in ports else None

    @property
    def addresses(self) -> str:
        return ",".join(s.where for s in self.sentinels)

    def gpx_args(self, instance: str, interval: int = 1, db: int | None = None) -> tuple:
        """uwsgi options that make gpx publish through the Sentinels."""
        args = ["--gpx-redis", "true", "--gpx-redis-interval", str(interval), "--gpx-instance", instance,
                "--gpx-redis-sentinels", self.addresses, "--gpx-redis-sentinel-master", SENTINEL_MASTER]
        if self.password:
            args += ["--gpx-redis-password", self.password]
        if self.sentinel_password:
            args += ["--gpx-redis-sentinel-password", self.sentinel_password]
        if db is not None:
            args += ["--gpx-redis-db", str(db)]
        return tuple(args)

    def kill(self) -> None:
        for s in self.sentinels:
            s.kill()


@pytest.fixture
def sentinel_factory(redis_factory, tmp_path):
    """Makes SentinelSet objects, ready for a failover; their Sentinels are
    killed at teardown, their servers with redis_factory's. Take it before
    `server_factory`, like redis_factory."""
    sets = []

    def make(**kw) -> SentinelSet:
        s = SentinelSet(redis_factory, tmp_path, **kw)
        sets.append(s)
        return s.wait_ready()

    yield make
    for s in sets:
        s.kill()
