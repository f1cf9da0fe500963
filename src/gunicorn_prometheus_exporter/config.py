"""Every environment variable the exporter reads, declared once with its parser.

Gunicorn config files set these with ``os.environ.setdefault`` while they run,
so they are read when the master starts (``Settings.from_environ``), never at
import. A bad value raises ``ConfigError`` whose one-line message names the
variable, the value and what is expected; Gunicorn prints it and exits 1.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import socket
from collections.abc import Callable, Mapping
from urllib.parse import unquote, urlsplit


class ConfigError(RuntimeError):
    """A configuration value the exporter cannot use. Subclasses RuntimeError so
    Gunicorn's launcher prints it as one ``Error:`` line and exits non-zero."""


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _bad(name: str, raw: str, expected: str) -> ConfigError:
    shown = "<hidden>" if "PASSWORD" in name else raw
    return ConfigError(f"{name}={shown!r} is not valid: expected {expected}")


def parse_bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise _bad(name, raw, "true or false (also 1/0, yes/no, on/off)")


def _int_parser(minimum: int, maximum: int | None, expected: str) -> Callable[[str, str], int]:
    def parse(name: str, raw: str) -> int:
        try:
            value = int(raw.strip())
        except ValueError:
            raise _bad(name, raw, expected) from None
        if value < minimum or (maximum is not None and value > maximum):
            raise _bad(name, raw, expected)
        return value

    return parse


parse_port = _int_parser(1, 65535, "a port number from 1 to 65535")
parse_positive = _int_parser(1, None, "a whole number of at least 1")
parse_non_negative = _int_parser(0, None, "a whole number of at least 0")


def parse_seconds(name: str, raw: str) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        raise _bad(name, raw, "a number of seconds greater than 0") from None
    if not value > 0 or value == float("inf"):
        raise _bad(name, raw, "a number of seconds greater than 0")
    return value


def parse_bind_address(name: str, raw: str) -> str:
    value = raw.strip()
    try:
        ipaddress.ip_address(value.strip("[]"))
        return value.strip("[]")
    except ValueError:
        pass
    if value and all(part.replace("-", "").isalnum() for part in value.split(".")):
        return value  # a host name, resolved when the server binds
    raise _bad(name, raw, "an IP address such as 0.0.0.0 or 127.0.0.1, or a host name")


def parse_text(name: str, raw: str) -> str:
    return raw


def parse_key_prefix(name: str, raw: str) -> str:
    value = raw.strip()
    if not value or any(ch.isspace() for ch in value):
        raise _bad(name, raw, "a non-empty key prefix without spaces")
    return value


def parse_instance(name: str, raw: str) -> str:
    value = raw.strip()
    if not value or any(ch.isspace() for ch in value):
        raise _bad(name, raw, "a name for this server without spaces, such as web-1")
    return value


def parse_scope(name: str, raw: str) -> str:
    value = raw.strip().lower()
    if value not in ("instance", "all"):
        raise _bad(name, raw, "instance (this server's data only) or all (every instance in Redis)")
    return value


def parse_redis_url(name: str, raw: str) -> str:
    parts = urlsplit(raw.strip())
    if parts.scheme not in ("redis", "rediss") or not parts.hostname:
        raise ConfigError(f"{name} is not valid: expected redis://[user:password@]host[:port][/db] or rediss://...")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise ConfigError(f"{name} is not valid: its port is not a number from 1 to 65535") from None
    return raw.strip()


@dataclasses.dataclass(frozen=True)
class Variable:
    name: str
    parse: Callable[[str, str], object]
    default: object
    field: str


# The guide's variables first, then the exporter's own additions.
VARIABLES = (
    Variable("PROMETHEUS_MULTIPROC_DIR", parse_text, "/tmp/prometheus_multiproc", "multiproc_dir"),
    Variable("PROMETHEUS_METRICS_PORT", parse_port, 9090, "metrics_port"),
    Variable("PROMETHEUS_BIND_ADDRESS", parse_bind_address, "0.0.0.0", "bind_address"),
    Variable("GUNICORN_WORKERS", parse_positive, 1, "workers"),
    Variable("GUNICORN_KEEPALIVE", parse_non_negative, 2, "keepalive"),
    Variable("CLEANUP_DB_FILES", parse_bool, False, "cleanup_db_files"),
    Variable("REDIS_ENABLED", parse_bool, False, "redis_enabled"),
    Variable("REDIS_HOST", parse_text, "localhost", "redis_host"),
    Variable("REDIS_PORT", parse_port, 6379, "redis_port"),
    Variable("REDIS_DB", parse_non_negative, 0, "redis_db"),
    Variable("REDIS_PASSWORD", parse_text, None, "redis_password"),
    Variable("REDIS_KEY_PREFIX", parse_key_prefix, "gunicorn", "redis_key_prefix"),
    Variable("REDIS_URL", parse_redis_url, None, "redis_url"),
    Variable("REDIS_INSTANCE", parse_instance, None, "redis_instance"),
    Variable("REDIS_SCOPE", parse_scope, "instance", "redis_scope"),
    Variable("REDIS_FLUSH_INTERVAL", parse_seconds, 1.0, "redis_flush_interval"),
)


@dataclasses.dataclass(frozen=True)
class Settings:
    multiproc_dir: str
    metrics_port: int
    bind_address: str
    workers: int
    keepalive: int
    cleanup_db_files: bool
    redis_enabled: bool
    redis_host: str
    redis_port: int
    redis_db: int
    redis_password: str | None
    redis_key_prefix: str
    redis_url: str | None
    redis_instance: str | None
    redis_scope: str
    redis_flush_interval: float

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        values = {}
        for var in VARIABLES:
            raw = environ.get(var.name)
            # An empty value means "not set": the guide's configs write REDIS_PASSWORD="".
            values[var.field] = var.default if raw is None or raw.strip() == "" else var.parse(var.name, raw)
        return cls(**values)

    @property
    def storage_name(self) -> str:
        return "redis" if self.redis_enabled else "files"

    @property
    def instance(self) -> str:
        return self.redis_instance or socket.gethostname()

    def redis_connection_kwargs(self) -> dict:
        """Arguments for ``redis.Redis``; REDIS_URL, when given, wins over the parts."""
        if self.redis_url:
            parts = urlsplit(self.redis_url)
            db = parts.path.lstrip("/")
            return {
                "host": parts.hostname,
                "port": parts.port or 6379,
                "db": int(db) if db.isdigit() else self.redis_db,
                "username": unquote(parts.username) if parts.username else None,
                "password": unquote(parts.password) if parts.password else None,
                "ssl": parts.scheme == "rediss",
            }
        return {
            "host": self.redis_host,
            "port": self.redis_port,
            "db": self.redis_db,
            "password": self.redis_password,
        }

    def describe_redis(self) -> str:
        """Where Redis is, for log lines: never the password."""
        kwargs = self.redis_connection_kwargs()
        return f"{kwargs['host']}:{kwargs['port']}/{kwargs['db']}"
