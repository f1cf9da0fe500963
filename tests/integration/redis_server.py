"""A private redis-server per test, and redis-cli to look into it.

Every test that takes `redis_factory` starts its own redis-server on a free
port (or only on a Unix socket), never the one on 6379, with no persistence;
each is killed at teardown. Checks go through `redis-cli`, never through
hiredis (what gpx itself uses).
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
    if shutil.which("redis-server") and shutil.which("redis-cli"):
        return
    subprocess.run(["apt-get", "install", "-y", "redis-server"], check=True, capture_output=True,
                   env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


class RedisServer:
    """One redis-server process: start, freeze, kill, restart, and redis-cli."""

    def __init__(self, tmp: Path, port: int | None = None, unixsocket: str | None = None,
                 password: str | None = None):
        self.tmp = tmp
        self.unixsocket = unixsocket
        self.port = 0 if unixsocket else (port or free_port())
        self.password = password
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
            cmd += ["--requirepass", self.password]
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

    def cli_set(self, key: str, value: bytes) -> str:
        """SET key to exact bytes (redis-cli -x reads the last argument from stdin)."""
        cmd = ["redis-cli", "--no-auth-warning", "-x"]
        cmd += ["-s", self.unixsocket] if self.unixsocket else ["-h", "127.0.0.1", "-p", str(self.port)]
        if self.password:
            cmd += ["-a", self.password]
        out = subprocess.run([*cmd, "SET", key], input=value, capture_output=True, timeout=10)
        return out.stdout.decode(errors="replace").strip()

    def get_bytes(self, key: str) -> bytes:
        """A key's exact bytes (redis-cli ends raw output with one newline)."""
        out = self.cli_bytes("--raw", "GET", key)
        return out[:-1] if out.endswith(b"\n") else out

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
