"""Gunicorn hooks for the exporter, and the managers they are made of.

The exporter needs no hook: the Prometheus worker classes start it from
``check_config``, which Gunicorn calls before ``when_ready``. The hooks add
what a Gunicorn user may want around it: lifecycle lines in the log,
Gunicorn's effective settings in the workers' environment, and an explicit
release of the metrics port at shutdown. Assign them in a config file::

    from gunicorn_prometheus_exporter.hooks import default_when_ready
    when_ready = default_when_ready

or call them from hooks of your own. The manager classes are thin fronts on
the package's own machinery (``master.start_exporter``/``get_exporter``/
``stop_exporter``, ``server.MetricsServer``, ``config.Settings``, ``logs``),
so a custom hook built from them behaves as the defaults do. A manager is
created when a hook runs, never at import.

Importing this module has no side effects: it configures no logging, starts
no thread and patches nothing in Gunicorn or prometheus_client.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import MutableMapping
from typing import Any

from .config import ConfigError, Settings
from .logs import route_to_gunicorn
from .master import MasterExporter, get_exporter, start_exporter, stop_exporter

_logger = logging.getLogger(__name__)

__all__ = [
    "HookContext",
    "HookManager",
    "EnvironmentManager",
    "MetricsServerManager",
    "WorkerManager",
    "ProcessManager",
    "default_on_starting",
    "default_when_ready",
    "default_worker_int",
    "default_on_exit",
    "default_post_fork",
    "redis_when_ready",
]

_WORKER_PACKAGE = __name__.rsplit(".", 1)[0] + ".workers"


@dataclasses.dataclass
class HookContext:
    """What a hook was called with: Gunicorn's arbiter (``server``), the worker
    for worker hooks, and the logger the hook writes to."""

    server: Any = None
    worker: Any = None
    logger: logging.Logger = dataclasses.field(default_factory=lambda: _logger)

    @property
    def cfg(self):
        """Gunicorn's effective configuration (config file, then command line)."""
        source = self.worker if self.worker is not None else self.server
        return getattr(source, "cfg", None)


class HookManager:
    """Runs hook steps so that a metrics problem never takes Gunicorn down.

    A configuration error still stops start-up (Gunicorn prints its one line);
    any other failure of a step is logged with its traceback and the hook
    carries on, so the application keeps serving.
    """

    def __init__(self, logger: logging.Logger | None = None):
        self.logger = logger or _logger

    def route_logs(self, server) -> None:
        """Send the package's log lines to Gunicorn's error log (see ``logs``)."""
        route_to_gunicorn(getattr(server, "log", None))

    def run(self, step: str, func, *args, **kwargs):
        """``func(*args, **kwargs)``, or None after logging why it failed."""
        try:
            return func(*args, **kwargs)
        except ConfigError:
            raise
        except Exception:
            self.logger.exception("%s failed; Gunicorn carries on without it", step)
            return None


class EnvironmentManager:
    """Publishes the settings Gunicorn actually runs with as environment variables.

    Gunicorn's ``--workers``, ``--bind`` and ``--worker-class`` (command line
    over config file) set no environment variable; application code reading
    ``GUNICORN_WORKERS``, ``GUNICORN_BIND`` or ``GUNICORN_WORKER_CLASS`` gets
    the effective values once ``update_from_config`` has run in its process.
    """

    VARIABLES = ("GUNICORN_WORKERS", "GUNICORN_BIND", "GUNICORN_WORKER_CLASS")

    def __init__(self, logger: logging.Logger | None = None, environ: MutableMapping[str, str] | None = None):
        self.logger = logger or _logger
        self.environ = os.environ if environ is None else environ

    @staticmethod
    def values_from(cfg) -> dict[str, str]:
        """The variables' values for a Gunicorn ``Config``."""
        return {
            "GUNICORN_WORKERS": str(cfg.workers),
            "GUNICORN_BIND": ",".join(cfg.bind),
            "GUNICORN_WORKER_CLASS": cfg.worker_class_str,
        }

    def update_from_config(self, cfg) -> dict[str, str]:
        """Set each variable whose value differs; returns (and logs) what changed."""
        changed = {}
        for name, value in self.values_from(cfg).items():
            if self.environ.get(name) == value:
                self.logger.debug("%s already %s", name, value)
                continue
            self.environ[name] = value
            changed[name] = value
            self.logger.info("Updated %s from CLI: %s", name, value)
        return changed


class MetricsServerManager:
    """The master's /metrics server: prepared, started and stopped through ``master``.

    There is one server per master. The Prometheus worker classes start it
    before ``when_ready``; ``setup_server`` and ``start_server`` then find it
    and start nothing more, and when nothing started it yet (a worker class
    of Gunicorn's own) they start it. A taken port is retried in the
    background with backoff (``server.MetricsServer``).
    """

    def __init__(self, logger: logging.Logger | None = None):
        self.logger = logger or _logger

    @property
    def exporter(self) -> MasterExporter | None:
        return get_exporter()

    def setup_server(self, server=None) -> tuple[int, Any] | None:
        """Prepare the exporter; returns ``(port, registry)``, or None if it could not be prepared.

        ``server`` is Gunicorn's arbiter when the caller has it. A bad setting
        raises ``ConfigError``, which stops Gunicorn's start-up with one line.
        """
        exporter = get_exporter()
        if exporter is None:
            worker_class = getattr(getattr(server, "cfg", None), "worker_class_str", "")
            try:
                exporter = start_exporter(worker_class, arbiter=server, serve=False)
            except ConfigError:
                raise
            except Exception as exc:
                self.logger.error("Metrics server setup failed: %s", exc)
                return None
        return exporter.server.port, exporter.registry

    def start_server(self, port: int, registry) -> bool:
        """Serve ``registry`` on ``port``: True once serving, False while it cannot.

        Only the exporter's own registry and port (from ``setup_server``) are
        served: the master has one metrics server. False with a taken port
        means the server keeps trying in the background.
        """
        exporter = get_exporter()
        if exporter is None:
            self.logger.error("Metrics server not set up: call setup_server() first")
            return False
        server = exporter.server
        if registry is not exporter.registry or port != server.port:
            self.logger.error(
                "Metrics server serves the exporter's registry on PROMETHEUS_METRICS_PORT=%s only; "
                "use the (port, registry) setup_server() returns",
                server.port,
            )
            return False
        if server.running:
            self.logger.debug("Metrics server already running on %s:%s", server.address, server.port)
            return True
        if not server.waiting:
            self.logger.info("Starting Prometheus multiprocess metrics server on %s:%s", server.address, server.port)
            if exporter.start_server():
                return True
        self.logger.warning(
            "Metrics server waiting for %s:%s to be free, retrying in the background; the application serves meanwhile",
            server.address,
            server.port,
        )
        return False

    def stop_server(self) -> None:
        """Stop serving and free the port; the exporter's storage stays open."""
        exporter = get_exporter()
        if exporter is not None:
            exporter.server.stop()


class WorkerManager:
    """What the hooks do in and about a worker."""

    def __init__(self, logger: logging.Logger | None = None):
        self.logger = logger or _logger

    @staticmethod
    def describe(worker) -> str:
        cfg = worker.cfg
        slot = getattr(getattr(worker, "metrics_slot", None), "name", None)
        return (
            f"pid={worker.pid} slot={slot} worker_class={cfg.worker_class_str} workers={cfg.workers} "
            f"bind={','.join(cfg.bind)} timeout={cfg.timeout} max_requests={cfg.max_requests}"
        )

    def log_configuration(self, worker) -> None:
        self.logger.debug("Worker configuration: %s", self.describe(worker))

    def handle_interrupt(self, worker) -> None:
        """Log the interrupt; in a process that runs the exporter, release it too.

        A worker holds nothing of the exporter's to release: the master frees
        its slot when it reaps the worker, and every count is already in the
        slot's shared memory.
        """
        self.logger.info("Worker %s received interrupt signal", getattr(worker, "pid", os.getpid()))
        stop_exporter()


class ProcessManager:
    """Release of the master's exporter when Gunicorn exits."""

    def __init__(self, logger: logging.Logger | None = None):
        self.logger = logger or _logger

    def cleanup(self) -> None:
        """Stop the metrics server, its threads and storage, freeing the port at once."""
        self.logger.info("Server shutting down - cleaning up Prometheus metrics server")
        stop_exporter()


def _is_prometheus_worker(server) -> bool:
    worker_class = getattr(server, "worker_class", None)
    return any(cls.__module__.startswith(_WORKER_PACKAGE) for cls in getattr(worker_class, "__mro__", ()))


def _ensure_metrics_server(server) -> MasterExporter | None:
    """The ``when_ready`` steps: find (or start) the exporter and say where /metrics is."""
    metrics = MetricsServerManager()
    result = metrics.setup_server(server)
    if result is None:
        return None
    metrics.start_server(*result)
    exporter = metrics.exporter
    if server is not None and not _is_prometheus_worker(server):
        _logger.warning(
            "Worker class %s is not a Prometheus worker: its requests are not measured",
            server.cfg.worker_class_str,
        )
    settings = exporter.settings
    if exporter.server.running:
        _logger.info(
            "Prometheus metrics served on %s:%s (%s storage)",
            settings.bind_address,
            settings.metrics_port,
            settings.storage_name,
        )
    return exporter


def default_on_starting(server) -> None:
    """``on_starting``: route the package's log lines and check the settings before sockets are bound."""
    hooks = HookManager()
    hooks.route_logs(server)
    _logger.info("Server starting - initializing PrometheusMaster metrics")
    settings = Settings.from_environ()  # a bad value stops start-up here, with one line
    _logger.debug(
        "Exporter settings: metrics on %s:%s, %s storage",
        settings.bind_address,
        settings.metrics_port,
        settings.storage_name,
    )


def default_when_ready(server) -> None:
    """``when_ready``: make sure the metrics server runs (started once, at start-up) and log where."""
    HookManager().run("Metrics server start", _ensure_metrics_server, server)


def redis_when_ready(server) -> None:
    """``when_ready`` for Redis storage: as ``default_when_ready``, and say which Redis is used.

    Storage follows the environment (``REDIS_ENABLED``), as everywhere else.
    """
    exporter = HookManager().run("Metrics server start", _ensure_metrics_server, server)
    if exporter is None:
        return
    settings = exporter.settings
    if settings.redis_enabled:
        _logger.info(
            "Redis storage in use: %s, key prefix %r",
            settings.describe_redis(),
            settings.redis_key_prefix,
        )
    else:
        _logger.warning(
            "redis_when_ready is set but REDIS_ENABLED is not true: metrics are stored in files under %s",
            settings.multiproc_dir,
        )


def default_post_fork(server, worker) -> None:
    """``post_fork``: publish Gunicorn's effective settings in the worker's environment and log them."""
    hooks = HookManager()
    hooks.run("Environment update", EnvironmentManager().update_from_config, server.cfg)
    hooks.run("Worker configuration logging", WorkerManager().log_configuration, worker)


def default_worker_int(worker) -> None:
    """``worker_int`` (a worker got SIGINT or SIGQUIT): log it; release the exporter if this process runs it."""
    HookManager().run("Worker interrupt handling", WorkerManager().handle_interrupt, worker)


def default_on_exit(server) -> None:
    """``on_exit``: stop the metrics server and its threads and close storage, so the port is free at once."""
    HookManager().run("Metrics cleanup", ProcessManager().cleanup)
