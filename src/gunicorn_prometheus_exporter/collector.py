"""Aggregation of per-slot samples into the metric families /metrics serves.

The semantics are prometheus_client's multiprocess ones: counters, summaries
and histograms are summed over processes (histogram buckets made cumulative),
gauges follow their ``multiprocess_mode`` (all, min, max, sum, mostrecent, and
the live variants that only count live processes). The per-process label of
``all`` gauges is the stable worker slot, ``worker``, not a pid.

prometheus_client's own merge builds a Sample per entry and regroups them;
with 16 workers and 500 series that alone costs ~10 ms a scrape, so this
module decodes each key once (``KeyCache``) and folds values into plain dicts.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.metrics_core import Metric
from prometheus_client.utils import floatToGoString

from .request_metrics import DURATION
from .values import decode_key

WORKER_LABEL = "worker"
REQUESTS = "gunicorn_requests"
REQUESTS_HELP = "Requests answered, by method and the status code sent."
BUSY = "gunicorn_worker_busy"
IN_PROGRESS_HELP = "Requests being handled right now, over all live workers."
WORKER_REQUESTS_HELP = "Requests handled by each worker slot."
LIVE_MODES = frozenset(("liveall", "livesum", "livemin", "livemax", "livemostrecent"))

# How an entry folds into the result.
_SUM, _BUCKET, _ALL, _MIN, _MAX, _RECENT = range(6)
_GAUGE_FOLD = {
    "all": _ALL,
    "liveall": _ALL,
    "sum": _SUM,
    "livesum": _SUM,
    "min": _MIN,
    "livemin": _MIN,
    "max": _MAX,
    "livemax": _MAX,
    "mostrecent": _RECENT,
    "livemostrecent": _RECENT,
}


def is_live_gauge_key(key: bytes) -> bool:
    """Whether a key belongs to a gauge that must vanish with its process."""
    return key.startswith(b'["gauge","live')


class _Entry:
    """Everything aggregation needs from one key, decoded once."""

    __slots__ = (
        "typ",
        "metric_name",
        "help",
        "fold",
        "live_only",
        "sample",
        "series",
        "le",
        "requests_sample",
        "per_owner",
    )

    def __init__(self, key: bytes):
        typ, mode, metric_name, name, labels, help_text = decode_key(key)
        self.typ = typ
        self.metric_name = metric_name
        self.help = help_text
        self.live_only = mode in LIVE_MODES
        self.series = None
        self.le = None
        # The request duration histogram is stored by method and status: a
        # bucket also counts into gunicorn_requests_total{method, status}, and
        # the histogram itself is exposed by method.
        self.requests_sample = None
        if metric_name == DURATION and any(pair[0] == "status" for pair in labels):
            if name.endswith("_bucket"):
                self.requests_sample = (REQUESTS + "_total", tuple(pair for pair in labels if pair[0] != "le"))
            labels = tuple(pair for pair in labels if pair[0] != "status")
        self.sample = (name, labels)
        # Requests are also totalled per owner, for gunicorn_worker_requests_total.
        # (A stored requests counter is what exporters before the derived one wrote.)
        self.per_owner = self.requests_sample is not None or metric_name == REQUESTS
        if typ == "gauge":
            self.fold = _GAUGE_FOLD.get(mode, _ALL)
        elif typ == "histogram" and name.endswith("_bucket"):
            self.fold = _BUCKET
            self.series = tuple(pair for pair in labels if pair[0] != "le")
            self.le = float(dict(labels)["le"])
        else:
            self.fold = _SUM


class KeyCache:
    """Decoded keys, kept because the same keys are read at every scrape."""

    def __init__(self):
        self._entries: dict[bytes, _Entry] = {}

    def get(self, key: bytes) -> _Entry:
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = _Entry(key)
        return entry


def aggregate(owners: Iterable[tuple[str, bool, Iterable[tuple[bytes, float, float]]]], keys: KeyCache) -> list[Metric]:
    """Merge ``(owner, live, entries)`` into metric families.

    ``owner`` is the slot name ("0", "1", ...) or "master"; entries of live
    gauge modes are skipped for owners that are not live.
    """
    families: dict[str, tuple[str, str]] = {}  # metric name -> (help, type)
    values: dict[str, dict] = {}  # metric name -> {(sample name, labels): value}
    buckets: dict[str, dict] = {}  # metric name -> {series labels: {le: count}}
    recent: dict[tuple, float] = {}  # (metric, sample) -> timestamp of the value kept
    owner_requests: dict[str, float] = {}
    for owner, live, entries in owners:
        for key, value, timestamp in entries:
            entry = keys.get(key)
            if entry.live_only and not live:
                continue
            name = entry.metric_name
            samples = values.get(name)
            if samples is None:
                samples = values[name] = {}
                families[name] = (entry.help, entry.typ)
            if entry.per_owner:
                owner_requests[owner] = owner_requests.get(owner, 0.0) + value
            if entry.requests_sample is not None:
                requests = values.get(REQUESTS)
                if requests is None:
                    requests = values[REQUESTS] = {}
                    families[REQUESTS] = (REQUESTS_HELP, "counter")
                requests[entry.requests_sample] = requests.get(entry.requests_sample, 0.0) + value
            fold = entry.fold
            if fold == _SUM:
                samples[entry.sample] = samples.get(entry.sample, 0.0) + value
            elif fold == _BUCKET:
                series = buckets.setdefault(name, {}).setdefault(entry.series, {})
                series[entry.le] = series.get(entry.le, 0.0) + value
            elif fold == _ALL:
                sample_name, labels = entry.sample
                samples[(sample_name, (*labels, (WORKER_LABEL, owner)))] = value
            elif fold == _MIN:
                current = samples.get(entry.sample)
                if current is None or value < current:
                    samples[entry.sample] = value
            elif fold == _MAX:
                current = samples.get(entry.sample)
                if current is None or value > current:
                    samples[entry.sample] = value
            else:  # _RECENT: the value written last, by its timestamp
                marker = (name, entry.sample)
                if entry.sample not in samples or timestamp > recent[marker]:
                    samples[entry.sample] = value
                    recent[marker] = timestamp

    result = []
    for name, (help_text, typ) in families.items():
        metric = Metric(name, help_text, typ)
        for series, counts in buckets.get(name, {}).items():
            cumulative = 0.0
            for le in sorted(counts):
                cumulative += counts[le]
                metric.add_sample(name + "_bucket", dict((*series, ("le", floatToGoString(le)))), cumulative)
            metric.add_sample(name + "_count", dict(series), cumulative)
        for (sample_name, labels), value in values[name].items():
            metric.add_sample(sample_name, dict(labels), value)
        result.append(metric)
    result.extend(_derived(values.get(BUSY, {}), owner_requests))
    return result


def _derived(busy: dict, owner_requests: dict[str, float]) -> list[Metric]:
    """Figures the workers do not store twice, so their request path writes less.

    In progress is the sum of the live slots' busy gauges; a slot's requests
    are the sum of its requests by method and status.
    """
    in_progress = Metric("gunicorn_requests_in_progress", IN_PROGRESS_HELP, "gauge")
    in_progress.add_sample("gunicorn_requests_in_progress", {}, sum(busy.values()))
    per_worker = Metric("gunicorn_worker_requests", WORKER_REQUESTS_HELP, "counter")
    for (_, labels), _value in busy.items():
        owner_requests.setdefault(dict(labels)[WORKER_LABEL], 0.0)
    for owner, total in owner_requests.items():
        per_worker.add_sample("gunicorn_worker_requests_total", {WORKER_LABEL: owner}, total)
    return [in_progress, per_worker] if per_worker.samples else [in_progress]
