"""The request metrics of the catalogue, recorded with plain stores into the slot's block.

Going through prometheus_client's metric objects would cost a label lookup
and a lock per update, about 8 us per request; here every cell is resolved
once and a request costs one lock and about eight float stores. The keys use
the same encoding as ``values.SlotValue``, so the master aggregates these
exactly like the application's own metrics.
"""

from __future__ import annotations

from bisect import bisect_left

from prometheus_client.utils import INF, floatToGoString

from .store import Block
from .values import encode_key

METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"))
# The method label of each request method; ``METHOD_LABELS.get(m, "OTHER")`` is
# the one rule, a dict lookup so the WSGI path can apply it without a call.
METHOD_LABELS = {method: method for method in METHODS}
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, INF)
SIZE_BUCKETS = (100.0, 1_000.0, 10_000.0, 100_000.0, 1_000_000.0, 10_000_000.0, 100_000_000.0, INF)
# Distinct exception class names one slot records before the rest count as "other".
MAX_EXCEPTION_NAMES = 50

REQUESTS_HELP = "Requests answered, by method and the status code sent."
DURATION_HELP = "Time from the request being parsed to the response being fully written."
EXCEPTIONS_HELP = "Exceptions that escaped the application, by class name."
REQUEST_SIZE_HELP = "Request body size in bytes."
RESPONSE_SIZE_HELP = "Response body size in bytes."
WORKER_BUSY_HELP = "Requests in progress in each worker slot's process now."


# The master reads this cell of every live slot to count busy and idle workers.
BUSY_KEY = encode_key("gauge", "liveall", "gunicorn_worker_busy", "gunicorn_worker_busy", (), (), WORKER_BUSY_HELP)


def normalize_method(method: str) -> str:
    return METHOD_LABELS.get(method, "OTHER")


def _histogram_cells(block: Block, name: str, help_text: str, labelnames, labelvalues, bounds):
    """Cells of one histogram series: (a non-cumulative count per bucket, the sum)."""
    buckets = tuple(
        block.cell(
            encode_key(
                "histogram",
                "",
                name,
                name + "_bucket",
                (*labelnames, "le"),
                (*labelvalues, floatToGoString(bound)),
                help_text,
            )
        )
        for bound in bounds
    )
    total = block.cell(encode_key("histogram", "", name, name + "_sum", labelnames, labelvalues, help_text))
    return buckets, total


class RequestRecorder:
    """Writes one worker's request metrics into its slot's block."""

    def __init__(self, block: Block, slot: str, threaded: bool = False):
        self.block = block
        self.slot = slot
        # Only a worker that runs requests on several OS threads needs a lock for
        # its read-modify-write updates; greenlets and event loops never preempt
        # one another between a read and its write. (A lock costs ~150 ns.)
        self._lock = block.lock if threaded else None
        cell = block.cell
        self._busy = cell(BUSY_KEY)
        self._request_buckets, self._request_sum = _histogram_cells(
            block, "gunicorn_request_size_bytes", REQUEST_SIZE_HELP, (), (), SIZE_BUCKETS
        )
        self._response_buckets, self._response_sum = _histogram_cells(
            block, "gunicorn_response_size_bytes", RESPONSE_SIZE_HELP, (), (), SIZE_BUCKETS
        )
        # (method, status) -> (requests cell, duration bucket cells, duration sum cell)
        self._series: dict[tuple[str, str], tuple[int, tuple, int]] = {}
        self._exceptions: dict[str, int] = {}
        self.finished = self._make_finished()

    def _new_series(self, method: str, status: str) -> tuple[int, tuple, int]:
        requests_cell = self.block.cell(
            encode_key(
                "counter",
                "",
                "gunicorn_requests",
                "gunicorn_requests_total",
                ("method", "status"),
                (method, status),
                REQUESTS_HELP,
            )
        )
        buckets, total = _histogram_cells(
            self.block, "gunicorn_request_duration_seconds", DURATION_HELP, ("method",), (method,), DURATION_BUCKETS
        )
        series = self._series[(method, status)] = (requests_cell, buckets, total)
        return series

    def _exception_cell(self, name: str) -> int:
        cell = self._exceptions.get(name)
        if cell is None:
            if len(self._exceptions) >= MAX_EXCEPTION_NAMES:
                return self._exception_cell("other")
            cell = self._exceptions[name] = self.block.cell(
                encode_key(
                    "counter",
                    "",
                    "gunicorn_request_exceptions",
                    "gunicorn_request_exceptions_total",
                    ("exception",),
                    (name,),
                    EXCEPTIONS_HELP,
                )
            )
        return cell

    # started() and finished() run on every request: they are written flat (no
    # helper calls, every cell and constant a local) because on a server each
    # Python-level step costs several times what it costs in a loop: between
    # two requests the caches have held the server's and the kernel's work.

    def started(self) -> None:
        lock = self._lock
        if lock is not None:
            lock.acquire()
        try:
            cells = self.block.cells
            cells[self._busy] += 1.0
        finally:
            if lock is not None:
                lock.release()

    def _make_finished(self):
        block = self.block
        series_cache = self._series
        new_series = self._new_series
        exception_cell = self._exception_cell
        lock = self._lock
        busy = self._busy
        request_buckets, request_sum = self._request_buckets, self._request_sum
        response_buckets, response_sum = self._response_buckets, self._response_sum
        first_request_bucket, first_response_bucket = request_buckets[0], response_buckets[0]
        smallest_size, shortest_duration = SIZE_BUCKETS[0], DURATION_BUCKETS[0]

        def finished(
            method: str,
            status: str,
            duration: float,
            request_bytes: int,
            response_bytes: int,
            exception: str | None = None,
            _bisect=bisect_left,
            _durations=DURATION_BUCKETS,
            _sizes=SIZE_BUCKETS,
        ) -> None:
            """Record one request that ``started()`` counted as busy."""
            # Every cell is resolved before the stores: only a new series appends to the block.
            requests_cell, duration_buckets, duration_sum = series_cache.get((method, status)) or new_series(
                method, status
            )
            failed_cell = exception_cell(exception) if exception else None
            if lock is not None:
                lock.acquire()
            try:
                cells = block.cells
                cells[requests_cell] += 1.0
                if duration <= shortest_duration:
                    cells[duration_buckets[0]] += 1.0
                else:
                    cells[duration_buckets[_bisect(_durations, duration)]] += 1.0
                cells[duration_sum] += duration
                if request_bytes <= smallest_size:
                    cells[first_request_bucket] += 1.0
                else:
                    cells[request_buckets[_bisect(_sizes, request_bytes)]] += 1.0
                if request_bytes:
                    cells[request_sum] += request_bytes
                if response_bytes <= smallest_size:
                    cells[first_response_bucket] += 1.0
                else:
                    cells[response_buckets[_bisect(_sizes, response_bytes)]] += 1.0
                if response_bytes:
                    cells[response_sum] += response_bytes
                if failed_cell is not None:
                    cells[failed_cell] += 1.0
                cells[busy] -= 1.0
            finally:
                if lock is not None:
                    lock.release()

        return finished
