"""The request metrics of the catalogue, recorded with plain stores into the slot's block.

Going through prometheus_client's metric objects would cost a label lookup
and a lock per update, about 8 us per request; here every cell is resolved
once and a request costs about seven float stores. The stores are made by
the compiled ``_hotpath.Writer`` where it was built (with no lock, on
gthread too: see ``_hotpath.c``), else by the Python ``record`` below (which
takes the slot's lock on gthread). The keys use the same encoding as ``values.SlotValue``,
so the master aggregates these like the application's own metrics; the
requests counter is not stored at all but derived from the duration
histogram's buckets (see ``collector``).
"""

from __future__ import annotations

from bisect import bisect_left

from prometheus_client.utils import INF, floatToGoString

from .store import Block
from .values import encode_key

try:
    from . import _hotpath
except ImportError:  # installed without a C compiler: the Python path below does the same
    _hotpath = None

METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"))
# The method label of each request method; ``METHOD_LABELS.get(m, "OTHER")`` is
# the one rule, a dict lookup so the WSGI path can apply it without a call.
METHOD_LABELS = {method: method for method in METHODS}
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, INF)
SIZE_BUCKETS = (100.0, 1_000.0, 10_000.0, 100_000.0, 1_000_000.0, 10_000_000.0, 100_000_000.0, INF)
# Distinct exception class names one slot records before the rest count as "other".
MAX_EXCEPTION_NAMES = 50
# Distinct (method, status line) pairs a slot remembers the series of.
MAX_CACHED_LINES = 256

DURATION = "gunicorn_request_duration_seconds"
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

    def __init__(self, block: Block, threaded: bool = False, compiled: bool = True):
        self.block = block
        self.busy_cell = block.cell(BUSY_KEY)
        self._request_buckets, self._request_sum = _histogram_cells(
            block, "gunicorn_request_size_bytes", REQUEST_SIZE_HELP, (), (), SIZE_BUCKETS
        )
        self._response_buckets, self._response_sum = _histogram_cells(
            block, "gunicorn_response_size_bytes", RESPONSE_SIZE_HELP, (), (), SIZE_BUCKETS
        )
        # (method, status) -> (duration bucket cells, duration sum cell)
        self._series: dict[tuple[str, str], tuple[tuple, int]] = {}
        self._exceptions: dict[str, int] = {}
        # (method, status line) as the server passes them -> the same cells
        self.series_by_line: dict[tuple[str, str], tuple[tuple, int]] = {}
        # The compiled writer, or None: then Python stores, and only a worker that
        # runs requests on several OS threads needs a lock for its read-modify-write
        # updates (greenlets and event loops never preempt one another between a
        # read and its write). Every request-cell update goes through the one
        # chosen here, so the two never interleave.
        self.writer = None
        self.lock = None
        if compiled and _hotpath is not None:
            self.writer = _hotpath.Writer(
                block,
                self.busy_cell,
                DURATION_BUCKETS,
                SIZE_BUCKETS,
                self._request_buckets,
                self._request_sum,
                self._response_buckets,
                self._response_sum,
            )
            self.record = self.writer.record
        else:
            self.lock = block.lock if threaded else None
            self.record = self._make_record()

    def _new_series(self, method: str, status: str) -> tuple[tuple, int]:
        # The duration histogram is stored by method and status: its count is
        # gunicorn_requests_total, derived when scraped (one store fewer per
        # request), and the exposed histogram sums the statuses of a method.
        series = self._series[(method, status)] = _histogram_cells(
            self.block,
            DURATION,
            DURATION_HELP,
            ("method", "status"),
            (method, status),
            DURATION_BUCKETS,
        )
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

    def series_for_line(self, method: str, status_line: str) -> tuple[tuple, int]:
        """The series of a request method and a status line (``"200 OK"``) as a server has them.

        Servers pass the same method and status-line objects request after
        request, so a cache keyed by them spares the hot path normalizing the
        method and cutting the status code out of the line. Both come from
        outside (clients choose methods), so the cache is bounded.
        """
        series = self.series_by_line.get((method, status_line))
        if series is None:
            label, code = METHOD_LABELS.get(method, "OTHER"), status_line[:3]
            series = self._series.get((label, code)) or self._new_series(label, code)
            if len(self.series_by_line) < MAX_CACHED_LINES:
                self.series_by_line[(method, status_line)] = series
        return series

    # record() runs on every request: it is written flat (no helper calls,
    # every cell and constant a local) because on a server each Python-level
    # step costs several times what it costs in a loop: between two requests
    # the caches have held the server's and the kernel's work. (Gunicorn's
    # workers count the busy start in their pre_request hook, without started().)

    def started(self) -> None:
        self._count_busy(1.0)

    def abandoned(self) -> None:
        """A request that ``started()`` counted as busy ends without being recorded."""
        self._count_busy(-1.0)

    def _count_busy(self, change: float) -> None:
        if self.writer is not None:
            self.writer.add(self.busy_cell, change)
            return
        lock = self.lock
        if lock is not None:
            lock.acquire()
        try:
            cells = self.block.cells
            cells[self.busy_cell] += change
        finally:
            if lock is not None:
                lock.release()

    def finished(
        self,
        method: str,
        status: str,
        duration: float,
        request_bytes: int,
        response_bytes: int,
        exception: str | None = None,
    ) -> None:
        """Record one request that ``started()`` counted as busy: its method label, 3-digit status, figures."""
        # Every cell is resolved before the stores: only a new series appends to the block.
        series = self._series.get((method, status)) or self._new_series(method, status)
        failed_cell = self._exception_cell(exception) if exception else None
        self.record(series, duration, request_bytes, response_bytes, failed_cell)

    def _make_record(self):
        request_buckets, response_buckets = self._request_buckets, self._response_buckets

        def record(
            series: tuple[tuple, int],
            duration: float,
            request_bytes: int,
            response_bytes: int,
            failed_cell: int | None,
            _block=self.block,
            _lock=self.lock,
            _busy=self.busy_cell,
            _request_buckets=request_buckets,
            _first_request_bucket=request_buckets[0],
            _request_sum=self._request_sum,
            _response_buckets=response_buckets,
            _first_response_bucket=response_buckets[0],
            _response_sum=self._response_sum,
            _bisect=bisect_left,
            _durations=DURATION_BUCKETS,
            _shortest=DURATION_BUCKETS[0],
            _sizes=SIZE_BUCKETS,
            _smallest=SIZE_BUCKETS[0],
        ) -> None:
            """The stores of one finished request, into cells resolved beforehand.

            Constants are default arguments, so they are locals of the call (no
            closure cells or attributes to fetch), and the first bucket of each
            histogram, where most requests land, is tested before any search.
            """
            duration_buckets, duration_sum = series
            if _lock is not None:
                _lock.acquire()
            try:
                cells = _block.cells
                if duration <= _shortest:
                    cells[duration_buckets[0]] += 1.0
                else:
                    cells[duration_buckets[_bisect(_durations, duration)]] += 1.0
                cells[duration_sum] += duration
                if request_bytes <= _smallest:
                    cells[_first_request_bucket] += 1.0
                else:
                    cells[_request_buckets[_bisect(_sizes, request_bytes)]] += 1.0
                if request_bytes:
                    cells[_request_sum] += request_bytes
                if response_bytes <= _smallest:
                    cells[_first_response_bucket] += 1.0
                else:
                    cells[_response_buckets[_bisect(_sizes, response_bytes)]] += 1.0
                if response_bytes:
                    cells[_response_sum] += response_bytes
                if failed_cell is not None:
                    cells[failed_cell] += 1.0
                cells[_busy] -= 1.0
            finally:
                if _lock is not None:
                    _lock.release()

        return record
