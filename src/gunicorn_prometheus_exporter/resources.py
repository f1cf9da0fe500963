"""Memory, CPU time and start time of each slot's worker process, read from the OS at scrape time.

The master asks the operating system (through psutil) when it is scraped,
so nothing is measured on the request path and nothing runs between
scrapes. Figures are by slot, like every per-worker series.

CPU time is a counter, and counters must not go down when a slot's process
is replaced, so a slot's CPU time is that of its current process plus what
its earlier processes used: the figure a worker leaves in its exit note
when it exits cleanly, or, for one killed outright, the last figure sampled
(its CPU since the previous scrape is then not counted).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import psutil


@dataclass
class SlotSample:
    slot: str
    cpu_seconds: float
    memory_bytes: float | None = None  # None while the slot has no running process
    start_time: float | None = None


class SlotResources:
    """Per-slot process figures.

    ``process_ended`` runs in the master's main thread when it reaps a
    worker, before the slot is marked free; ``sample`` runs in scrape threads
    (its lock orders concurrent scrapes, the main thread never takes it). A
    scrape reads a slot's ended-process total before the slot's worker, so a
    release between the two reads can only make it see too little, which the
    ``reported`` floor absorbs until the next scrape, never count a process twice.
    """

    def __init__(self):
        self._ended_cpu: dict[str, float] = {}  # written by the main thread only
        self._reported_cpu: dict[str, float] = {}
        self._processes: dict[object, psutil.Process] = {}  # by worker object: pids get reused
        self._lock = threading.Lock()

    def process_ended(self, slot: str, worker, exit_cpu: float) -> None:
        ended = max(exit_cpu, getattr(worker, "metrics_last_cpu", 0.0))
        self._ended_cpu[slot] = self._ended_cpu.get(slot, 0.0) + ended

    def sample(self, slots) -> list[SlotSample]:
        """``slots``: objects with ``name`` and ``worker`` (the live worker or None)."""
        samples = []
        with self._lock:
            seen = set()
            for slot in slots:
                ended = self._ended_cpu.get(slot.name, 0.0)
                worker = slot.worker
                sample = SlotSample(slot.name, 0.0)
                current = 0.0
                pid = getattr(worker, "pid", None)
                if worker is not None and isinstance(pid, int):
                    seen.add(worker)
                    current = self._read(worker, pid, sample)
                reported = max(self._reported_cpu.get(slot.name, 0.0), ended + current)
                self._reported_cpu[slot.name] = sample.cpu_seconds = reported
                samples.append(sample)
            for gone in self._processes.keys() - seen:
                del self._processes[gone]
        return samples

    def _read(self, worker, pid: int, sample: SlotSample) -> float:
        last = getattr(worker, "metrics_last_cpu", 0.0)
        try:
            process = self._processes.get(worker)
            if process is None:
                process = self._processes[worker] = psutil.Process(pid)
            with process.oneshot():
                cpu = process.cpu_times()
                memory = process.memory_info().rss
                started = process.create_time()
        except (psutil.Error, OSError):
            return last  # exited since the slot table was read; reaped soon
        current = max(last, cpu.user + cpu.system)
        worker.metrics_last_cpu = current
        sample.memory_bytes = float(memory)
        sample.start_time = started
        return current
