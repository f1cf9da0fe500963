"""Why workers end, and which signals the master handled.

Some reasons a worker stops only the worker knows (it reached
``max_requests``, it was asked to stop by a signal, Gunicorn's reloader saw
code change); others only the master knows (it killed the worker for
exceeding ``timeout``, it retired it on ``HUP`` or to shrink the pool after
``TTOU``, it is shutting down). The worker leaves its own reason in an
``ExitNote``, a page of shared memory the master creates for it before the
fork; the master reads the note when it reaps the worker and adds what only
it knows. A worker that left no note died without a clean exit: a crash.

Restart reasons (``gunicorn_worker_restarts_total{reason}``) count workers
the master replaces while it keeps running:

``max_requests``  the worker served its ``max_requests`` (plus jitter) and left
``timeout``       the master killed it for not notifying within ``timeout``
``reload``        retired by a ``HUP`` (or Gunicorn's ``--reload`` seeing code change)
``signal``        it stopped cleanly on a TERM, INT or QUIT the master did not
                  send: someone ran ``kill -TERM <worker pid>``
``crash``         it exited with an error or an exception, or was killed by a
                  signal it does not handle (SIGKILL, the OOM killer, SIGSEGV)

Workers the master stops without replacing them (shrinking after ``TTOU``,
``WINCH``, shutting down) are not restarts and are not counted.

Everything here runs in the master's main loop (Gunicorn 24 and later queue
every signal, SIGCHLD included): counting is a dictionary increment, nothing
takes a lock or does I/O.
"""

from __future__ import annotations

import logging
import mmap
import signal
import struct
import time

logger = logging.getLogger(__name__)

RESTART_REASONS = ("max_requests", "timeout", "crash", "signal", "reload")
# The signals Gunicorn's master handles, as its handle_<name> methods are named.
SIGNALS = ("hup", "ttin", "ttou", "usr1", "usr2", "winch", "int", "term", "quit", "chld")
_HANDLER_LABELS = {name: name for name in SIGNALS} | {"cld": "chld"}  # SIGCLD is SIGCHLD's alias
_STOPPING_SIGNALS = frozenset(("int", "term", "quit"))
# What a worker can know about its own end; the master knows the rest.
_NOTE_REASONS = ("max_requests", "signal", "reload")
_NOTE = struct.Struct("dd")  # reason code (0: none), CPU seconds the process used


class ExitNote:
    """A page of shared memory, made in the master before the fork, where a worker leaves its exit reason.

    ``mmap(-1, ...)`` is anonymous ``MAP_SHARED`` memory: the forked worker
    writes the same page the master reads after reaping it, no file needed.
    """

    __slots__ = ("_map",)

    def __init__(self):
        self._map = mmap.mmap(-1, mmap.PAGESIZE)

    def write(self, reason: str | None, cpu_seconds: float) -> None:
        code = _NOTE_REASONS.index(reason) + 1 if reason in _NOTE_REASONS else 0
        if not self._map.closed:
            _NOTE.pack_into(self._map, 0, float(code), cpu_seconds)

    def read(self) -> tuple[str | None, float]:
        """``(reason or None, CPU seconds)``; ``(None, 0.0)`` if the worker wrote nothing."""
        if self._map.closed:
            return None, 0.0
        code, cpu_seconds = _NOTE.unpack_from(self._map, 0)
        index = int(code) - 1
        return (_NOTE_REASONS[index] if 0 <= index < len(_NOTE_REASONS) else None), cpu_seconds

    def close(self) -> None:
        self._map.close()


def own_exit_reason(worker, clean: bool) -> str | None:
    """The reason a worker gives for its own exit (in the worker, as it leaves).

    ``clean`` is False when the worker leaves on an exception or a non-zero
    exit (Gunicorn's SIGABRT handler exits with 1): that is the master's to
    classify (timeout) or a crash.
    """
    if not clean:
        return None
    if getattr(worker, "nr", 0) >= getattr(worker, "max_requests", float("inf")):
        return "max_requests"
    if getattr(worker, "metrics_stop_signal", None) is not None:
        return "signal"
    if getattr(worker, "reloader", None) is not None:
        return "reload"  # Gunicorn's --reload stopped the worker because a file changed
    return None


def process_cpu_seconds() -> float:
    return time.process_time()  # user and system time of every thread of this process


class Lifecycle:
    """The master's counts of worker restarts by reason and of the signals it handled.

    Plain integers written by the master's main thread and read by the scrape
    thread; they only ever go up.
    """

    def __init__(self):
        self.signals: dict[str, int] = dict.fromkeys(SIGNALS, 0)
        self.restarts: dict[str, int] = dict.fromkeys(RESTART_REASONS, 0)
        self.stopping = False
        self._reload_age = 0  # workers of this age or older were retired by a reload
        self._stopped_by_master: set[int] = set()  # pids the master sent TERM or QUIT

    # -- hooks on Gunicorn's arbiter ---------------------------------------

    def attach(self, arbiter) -> None:
        """Wrap the arbiter's signal handlers and ``kill_worker`` on this instance.

        Gunicorn's main loop looks the handlers up by name (``handle_<name>``)
        each time it dispatches a queued signal, so instance attributes take
        effect; the wrappers count and note, then call Gunicorn's own code.
        They report to whichever Lifecycle attached last, so an exporter
        stopped and started again in the same master wraps nothing twice.
        """
        already_wrapped = hasattr(arbiter, "_metrics_lifecycle")
        arbiter._metrics_lifecycle = self
        if already_wrapped:
            return
        for name, label in _HANDLER_LABELS.items():
            handler = getattr(arbiter, f"handle_{name}", None)
            if handler is not None:
                setattr(arbiter, f"handle_{name}", _counting(arbiter, label, handler))
        kill_worker = getattr(arbiter, "kill_worker", None)
        if kill_worker is not None:
            arbiter.kill_worker = _noting_kill(arbiter, kill_worker)

    def signal_handled(self, label: str, arbiter) -> None:
        self.signals[label] += 1
        if label in _STOPPING_SIGNALS:
            self.stopping = True
        elif label == "hup":
            # reload() spawns younger workers and retires every older one.
            self._reload_age = getattr(arbiter, "worker_age", 0)

    def stop_sent(self, pid: int, sig: int) -> None:
        if sig in (signal.SIGTERM, signal.SIGQUIT):
            self._stopped_by_master.add(pid)

    # -- a worker has been reaped ------------------------------------------

    def classify(self, worker, noted: str | None) -> str | None:
        """The restart reason for a reaped worker, or None if it is not a restart."""
        stopped_by_master = self._stopped_by_master
        by_master = worker.pid in stopped_by_master
        stopped_by_master.discard(worker.pid)
        if self.stopping:
            return None
        if getattr(worker, "aborted", False):
            return "timeout"
        if getattr(worker, "age", 0) <= self._reload_age:
            return "reload"
        if by_master:
            return None  # the pool shrank (TTOU, WINCH): nobody replaces it
        return noted or "crash"

    def worker_exited(self, worker, noted: str | None) -> str | None:
        reason = self.classify(worker, noted)
        if reason is not None:
            self.restarts[reason] += 1
        return reason


def _counting(arbiter, label: str, handler):
    def handle():
        arbiter._metrics_lifecycle.signal_handled(label, arbiter)
        return handler()

    handle.__wrapped__ = handler
    return handle


def _noting_kill(arbiter, kill_worker):
    def kill(pid, sig):
        arbiter._metrics_lifecycle.stop_sent(pid, sig)
        return kill_worker(pid, sig)

    kill.__wrapped__ = kill_worker
    return kill
