"""The metrics only the master can see: saturation, worker lifecycle, resources, and the exporter itself.

Everything is read when /metrics is scraped, from what the master already
holds: the slot table and its shared-memory busy gauges, Gunicorn's arbiter
(desired worker count, listening sockets), the lifecycle counts its main
loop keeps, and the operating system's figures for each worker process.
Nothing here runs on the request path or in a signal handler.

These describe this master and its workers; with Redis storage and
``REDIS_SCOPE=all`` each master still reports only its own.
"""

from __future__ import annotations

import logging
import platform

import gunicorn
import psutil
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from . import __version__
from .backlog import listener_queues
from .lifecycle import Lifecycle
from .resources import SlotResources

logger = logging.getLogger(__name__)


def scrape_duration(seconds: float) -> GaugeMetricFamily:
    """The collection's own duration; the master yields it last, after every other family."""
    return GaugeMetricFamily(
        "gunicorn_exporter_scrape_duration_seconds",
        "How long the last collection of /metrics took (reading every slot, aggregating, master-side figures).",
        value=seconds,
    )


class MasterMetrics:
    """A prometheus_client collector over the master's own state."""

    def __init__(self, exporter):
        self.exporter = exporter
        self.lifecycle = Lifecycle()
        self.resources = SlotResources()
        try:
            self.master_start_time = psutil.Process(exporter.pid).create_time()
        except psutil.Error:
            self.master_start_time = exporter.started_at
        self.build_labels = {
            "version": __version__,
            "gunicorn_version": gunicorn.__version__,
            "python_version": platform.python_version(),
            "worker_class": exporter.worker_class,
            "storage": exporter.settings.storage_name,
        }

    def install(self) -> None:
        exporter = self.exporter
        exporter.extra_collectors.append(self)
        exporter.worker_exit_listeners.append(self.worker_exited)
        if exporter.arbiter is not None:
            self.lifecycle.attach(exporter.arbiter)
        else:
            logger.debug("Gunicorn's arbiter not found: no desired-worker, backlog or signal figures")

    # -- the master reaped a worker (main loop) -----------------------------

    def worker_exited(self, slot, worker) -> None:
        note = getattr(worker, "metrics_exit_note", None)
        reason, cpu_seconds = note.read() if note is not None else (None, 0.0)
        self.resources.process_ended(slot.name, worker, cpu_seconds)
        self.lifecycle.worker_exited(worker, reason)

    # -- scrape ------------------------------------------------------------

    def collect(self):
        exporter = self.exporter
        arbiter = exporter.arbiter

        busy_states = exporter.busy_states()
        workers = GaugeMetricFamily("gunicorn_workers", "Live workers by state.", labels=["state"])
        busy = sum(busy_states)
        workers.add_metric(["busy"], busy)
        workers.add_metric(["idle"], len(busy_states) - busy)
        yield workers

        if arbiter is not None:
            desired = getattr(arbiter, "num_workers", None)
            if isinstance(desired, int):
                yield GaugeMetricFamily(
                    "gunicorn_workers_desired",
                    "The worker count the master aims for (follows TTIN/TTOU).",
                    value=desired,
                )
            yield from self._backlog(arbiter)
            # Only counted through the arbiter's handlers: without them, no figure beats a false 0.
            signals = CounterMetricFamily(
                "gunicorn_master_signals", "Signals the master handled, by signal.", labels=["signal"]
            )
            for name, count in list(self.lifecycle.signals.items()):
                signals.add_metric([name], count)
            yield signals

        restarts = CounterMetricFamily("gunicorn_worker_restarts", "Workers replaced, by why.", labels=["reason"])
        for reason, count in list(self.lifecycle.restarts.items()):
            restarts.add_metric([reason], count)
        yield restarts

        yield from self._resources()

        yield GaugeMetricFamily(
            "gunicorn_master_start_time_seconds",
            "Unix time the master started.",
            value=self.master_start_time,
        )
        info = GaugeMetricFamily(
            "gunicorn_exporter_build_info",
            "The exporter's version and what it runs with; always 1.",
            labels=list(self.build_labels),
        )
        info.add_metric(list(self.build_labels.values()), 1)
        yield info

        storage = exporter.storage
        yield GaugeMetricFamily(
            "gunicorn_exporter_storage_up",
            "1 while the metric storage (directory or Redis) can be read and written.",
            value=1 if getattr(storage, "up", True) else 0,
        )
        errors = CounterMetricFamily(
            "gunicorn_exporter_storage_errors", "Failed storage operations, by operation.", labels=["operation"]
        )
        for operation, count in sorted(dict(getattr(storage, "errors", {})).items()):
            errors.add_metric([operation], count)
        yield errors

    def _backlog(self, arbiter):
        cfg = getattr(arbiter, "cfg", None)
        queues = listener_queues(list(getattr(arbiter, "LISTENERS", ())), getattr(cfg, "backlog", None))
        length = GaugeMetricFamily(
            "gunicorn_listen_backlog",
            "Connections accepted by the kernel and waiting for a worker.",
            labels=["listener"],
        )
        limit = GaugeMetricFamily(
            "gunicorn_listen_backlog_limit", "The listen queue's configured size.", labels=["listener"]
        )
        for listener, waiting, size in queues:
            length.add_metric([listener], waiting)
            if size is not None:
                limit.add_metric([listener], size)
        yield length
        yield limit

    def _resources(self):
        memory = GaugeMetricFamily(
            "gunicorn_worker_memory_bytes", "Resident memory of each slot's worker process.", labels=["worker"]
        )
        cpu = CounterMetricFamily(
            "gunicorn_worker_cpu_seconds",
            "CPU time (user and system) of each slot's worker processes.",
            labels=["worker"],
        )
        started = GaugeMetricFamily(
            "gunicorn_worker_start_time_seconds",
            "Unix time each slot's current worker process started.",
            labels=["worker"],
        )
        for sample in self.resources.sample(list(self.exporter.slots)):
            cpu.add_metric([sample.slot], sample.cpu_seconds)
            if sample.memory_bytes is not None:
                memory.add_metric([sample.slot], sample.memory_bytes)
                started.add_metric([sample.slot], sample.start_time)
        yield memory
        yield cpu
        yield started


def install_master_metrics(exporter) -> MasterMetrics:
    metrics = MasterMetrics(exporter)
    metrics.install()
    exporter.master_metrics = metrics
    return metrics
