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
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, INF)
SIZE_BUCKETS = (100.0, 1_000.0, 10_000.0, 100_000.0, 1_000_000.0, 10_000_000.0, 100_000_000.0, INF)
# Distinct exception class names one slot records before the rest count as "other".
MAX_EXCEPTION_NAMES = 50

REQUESTS_HELP = "Requests answered, by method and the status code sent."
DURATION_HELP = "Time from the request being parsed to the response being fully written."
IN_PROGRESS_HELP = "Requests being handled right now, over all live workers."
EXCEPTIONS_HELP = "Exceptions that escaped the application, by class name."
REQUEST_SIZE_HELP = "Request body size in bytes."
RESPONSE_SIZE_HELP = "Response body size in bytes."
WORKER_REQUESTS_HELP = "Requests handled by each worker slot."
WORKER_BUSY_HELP = "Requests in progress in each worker slot's process now."


# The master reads this cell of every live slot to count busy and idle workers.
BUSY_KEY = encode_key("gauge", "liveall", "gunicorn_worker_busy", "gunicorn_worker_busy", (), (), WORKER_BUSY_HELP)


def normalize_method(method: str) -> str:
    return method if method in METHODS else "OTHER"


class _Histogram:
    """Cells of one histogram series: a non-cumulative count per bucket, and the sum."""

    __slots__ = ("bounds", "buckets", "sum")

    def __init__(self, block: Block, name: str, help_text: str, labelnames, labelvalues, bounds):
        self.bounds = bounds
        self.buckets = [
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
        ]
        self.sum = block.cell(encode_key("histogram", "", name, name + "_sum", labelnames, labelvalues, help_text))

    def observe(self, cells, value: float) -> None:
        cells[self.buckets[bisect_left(self.bounds, value)]] += 1.0
        cells[self.sum] += value


class RequestRecorder:
    """Writes one worker's request metrics into its slot's block."""

    def __init__(self, block: Block, slot: str):
        self.block = block
        self.slot = slot
        cell = block.cell
        self._in_progress = cell(
            encode_key(
                "gauge",
                "livesum",
                "gunicorn_requests_in_progress",
                "gunicorn_requests_in_progress",
                (),
                (),
                IN_PROGRESS_HELP,
            )
        )
        self._busy = cell(BUSY_KEY)
        self._worker_requests = cell(
            encode_key(
                "counter",
                "",
                "gunicorn_worker_requests",
                "gunicorn_worker_requests_total",
                ("worker",),
                (slot,),
                WORKER_REQUESTS_HELP,
            )
        )
        self._request_size = _Histogram(block, "gunicorn_request_size_bytes", REQUEST_SIZE_HELP, (), (), SIZE_BUCKETS)
        self._response_size = _Histogram(
            block, "gunicorn_response_size_bytes", RESPONSE_SIZE_HELP, (), (), SIZE_BUCKETS
        )
        self._requests: dict[tuple[str, str], int] = {}
        self._durations: dict[str, _Histogram] = {}
        self._exceptions: dict[str, int] = {}

    def _requests_cell(self, method: str, status: str) -> int:
        key = (method, status)
        cell = self._requests.get(key)
        if cell is None:
            cell = self._requests[key] = self.block.cell(
                encode_key(
                    "counter",
                    "",
                    "gunicorn_requests",
                    "gunicorn_requests_total",
                    ("method", "status"),
                    key,
                    REQUESTS_HELP,
                )
            )
        return cell

    def _duration(self, method: str) -> _Histogram:
        histogram = self._durations.get(method)
        if histogram is None:
            histogram = self._durations[method] = _Histogram(
                self.block, "gunicorn_request_duration_seconds", DURATION_HELP, ("method",), (method,), DURATION_BUCKETS
            )
        return histogram

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

    def started(self) -> None:
        block = self.block
        with block.lock:
            cells = block.cells
            cells[self._in_progress] += 1.0
            cells[self._busy] += 1.0

    def finished(
        self,
        method: str,
        status: str,
        duration: float,
        request_bytes: int,
        response_bytes: int,
        exception: str | None = None,
    ) -> None:
        requests_cell = self._requests_cell(method, status)
        duration_histogram = self._duration(method)
        exception_cell = self._exception_cell(exception) if exception else None
        block = self.block
        with block.lock:
            cells = block.cells
            cells[requests_cell] += 1.0
            cells[self._worker_requests] += 1.0
            duration_histogram.observe(cells, duration)
            self._request_size.observe(cells, request_bytes)
            self._response_size.observe(cells, response_bytes)
            if exception_cell is not None:
                cells[exception_cell] += 1.0
            cells[self._in_progress] -= 1.0
            cells[self._busy] -= 1.0
