"""The exporter's side of the Gunicorn master: slots, storage, and what /metrics serves.

Gunicorn constructs each worker object in the master before forking it. The
worker's constructor asks ``MasterExporter.claim_slot`` for the lowest free
slot; the slot's block is prepared (live gauges reset) before the fork, and
the slot is released when the master reaps the worker. A replacement worker
takes over a free slot and continues its counters, so storage is bounded by
the number of concurrent workers, not by how many have ever run.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
import time

from prometheus_client import CollectorRegistry

from . import values
from .collector import KeyCache, aggregate, is_live_gauge_key
from .config import Settings
from .server import MetricsServer
from .storage import storage_for
from .store import Block

logger = logging.getLogger(__name__)

MASTER_OWNER = "master"


class Slot:
    """A worker slot: a block that outlives the worker processes using it in turn."""

    __slots__ = ("name", "block", "worker")

    def __init__(self, name: str, block: Block):
        self.name = name
        self.block = block
        self.worker = None  # the live worker object, or None while the slot is free

    @property
    def live(self) -> bool:
        return self.worker is not None


class MasterExporter:
    def __init__(self, settings: Settings, worker_class: str = "", arbiter=None):
        self.settings = settings
        self.worker_class = worker_class
        self.arbiter = arbiter  # Gunicorn's Arbiter, when found; master-side metrics read it
        self.pid = os.getpid()
        self.storage = storage_for(settings, logger)
        self.slots: list[Slot] = []
        self.master_block: Block | None = None
        self.keys = KeyCache()
        # Held by the main thread (claim/release) and the scrape thread (collect).
        # Re-entrant because Gunicorn before 24 reaped workers inside the SIGCHLD
        # handler, which can interrupt the main thread while it holds the lock.
        # Nothing forked uses it: a child never touches the master's slot table.
        self._lock = threading.RLock()
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)
        self.extra_collectors: list = []
        self.server = MetricsServer(settings.bind_address, settings.metrics_port, self.registry)
        self.started_at = time.time()

    # -- lifecycle -----------------------------------------------------------

    def open(self) -> None:
        """Prepare storage and the master's own block; raises ConfigError."""
        self.storage.open()
        self.master_block = self.storage.new_block(MASTER_OWNER)
        values.adopt_block(self.master_block, carry_values=True)
        for owner in self.storage.leftover_owners():
            self._slot(int(owner))
        if self.storage.name == "redis":
            from .storage.redis import StorageStatusCollector

            self.extra_collectors.append(StorageStatusCollector(self.storage))
        self.storage.attach(self.snapshot)

    def start_server(self) -> bool:
        return self.server.start()

    def close(self) -> None:
        """Release the port, threads and storage. Safe to call more than once."""
        if os.getpid() != self.pid:
            return
        self.server.stop()
        self.storage.close()

    # -- slots ---------------------------------------------------------------

    def _slot(self, index: int) -> Slot:
        while len(self.slots) <= index:
            name = str(len(self.slots))
            self.slots.append(Slot(name, self.storage.new_block(name)))
        return self.slots[index]

    def claim_slot(self, worker) -> Slot:
        with self._lock:
            index = next((i for i, slot in enumerate(self.slots) if not slot.live), len(self.slots))
            slot = self._slot(index)
            # The previous worker may have died mid-request: its live gauges end with it.
            slot.block.zero(is_live_gauge_key)
            slot.worker = worker
            return slot

    def release_slot(self, slot: Slot) -> None:
        if os.getpid() != self.pid:
            return  # a worker closing its siblings' handles after fork
        with self._lock:
            if slot.worker is None:
                return
            slot.worker = None
            slot.block.zero(is_live_gauge_key)

    def live_workers(self) -> list:
        with self._lock:
            return [slot.worker for slot in self.slots if slot.live]

    # -- collection ----------------------------------------------------------

    def owners(self) -> list[tuple[str, bool, Block]]:
        """``(owner, live, block)`` for the master and every slot, for storage to read."""
        with self._lock:
            owners = [(MASTER_OWNER, True, self.master_block)]
            owners.extend((slot.name, slot.live, slot.block) for slot in self.slots)
            return owners

    def snapshot(self) -> list[tuple[str, bool, list]]:
        """``(owner, live, entries)`` for every owner, read under the slot-table lock.

        Blocks are read (and re-indexed) only under the lock; what storage then
        does with the values (aggregate them, send them to Redis) happens
        outside it, so the main thread never waits on a network round trip.
        """
        with self._lock:
            return [(owner, live, list(block.items())) for owner, live, block in self.owners()]

    def collect(self):
        families = aggregate(self.storage.read(self.snapshot()), self.keys)
        yield from families
        for collector in self.extra_collectors:
            yield from collector.collect()


_exporter: MasterExporter | None = None
_exporter_lock = threading.Lock()


def get_exporter() -> MasterExporter | None:
    """The running master's exporter, or None in a worker or before start-up."""
    exporter = _exporter
    if exporter is None or exporter.pid != os.getpid():
        return None
    return exporter


def find_arbiter(depth: int = 2):
    """Gunicorn's Arbiter from the call stack (``check_config`` is called by ``Arbiter.start``)."""
    from gunicorn.arbiter import Arbiter

    frame = sys._getframe(depth)
    while frame is not None:
        candidate = frame.f_locals.get("self")
        if isinstance(candidate, Arbiter):
            return candidate
        frame = frame.f_back
    return None


def start_exporter(worker_class: str = "", arbiter=None, serve: bool = True) -> MasterExporter:
    """Create, open and (with ``serve``) serve the master's exporter once; later calls return it.

    Raises ConfigError (one line, naming the variable) for a bad setting.
    ``serve=False`` prepares storage and the registry without binding the
    port, for a caller that starts the server itself (``start_server``).
    """
    global _exporter
    with _exporter_lock:
        if _exporter is not None and _exporter.pid == os.getpid():
            exporter = _exporter
        else:
            settings = Settings.from_environ()
            exporter = MasterExporter(settings, worker_class, arbiter or find_arbiter())
            exporter.open()
            _exporter = exporter
            atexit.register(exporter.close)
            os.register_at_fork(after_in_child=exporter.server.close_in_child)
    if serve:
        exporter.start_server()
    return exporter


def stop_exporter() -> None:
    """Release this master's exporter (port, threads, storage); a later start makes a new one.

    Does nothing in a process that does not run the exporter (a worker).
    """
    global _exporter
    if get_exporter() is None:
        return  # checked before taking the lock, which a forked worker must never wait for
    with _exporter_lock:
        exporter = get_exporter()
        if exporter is None:
            return
        _exporter = None
    atexit.unregister(exporter.close)
    exporter.close()


def python_version() -> str:
    return ".".join(map(str, sys.version_info[:3]))
