"""Aggregation of per-slot samples into the metric families /metrics serves.

The semantics are prometheus_client's multiprocess ones (counters and
histograms summed, gauges by their multiprocess mode), applied with
prometheus_client's own accumulation code; the only difference is that the
per-process label is the stable worker slot (``worker``), not a pid.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector

from .values import decode_key

WORKER_LABEL = "worker"
LIVE_MODES = frozenset(("liveall", "livesum", "livemin", "livemax", "livemostrecent"))
# prometheus_client's accumulation keys per-process gauge samples by this label.
_PID_LABEL = "pid"


def is_live_gauge_key(key: bytes) -> bool:
    """Whether a key belongs to a gauge that must vanish with its process."""
    return key.startswith(b'["gauge","live')


class KeyCache:
    """Decoded keys, kept because the same few keys are read at every scrape."""

    def __init__(self):
        self._decoded: dict[bytes, tuple] = {}

    def decode(self, key: bytes):
        decoded = self._decoded.get(key)
        if decoded is None:
            decoded = self._decoded[key] = decode_key(key)
        return decoded


def aggregate(owners: Iterable[tuple[str, bool, Iterable[tuple[bytes, float, float]]]], keys: KeyCache) -> list[Metric]:
    """Merge ``(owner, live, entries)`` into metric families.

    ``owner`` is the slot name ("0", "1", ... or "master"); entries of live
    gauge modes are skipped for owners that are not live.
    """
    metrics: dict[str, Metric] = {}
    for owner, live, entries in owners:
        for key, value, timestamp in entries:
            typ, mode, metric_name, name, labels, help_text = keys.decode(key)
            if mode in LIVE_MODES and not live:
                continue
            metric = metrics.get(metric_name)
            if metric is None:
                metric = metrics[metric_name] = Metric(metric_name, help_text, typ)
                metric._multiprocess_mode = mode
            # prometheus_client's accumulator takes labels as tuples of pairs.
            if typ == "gauge":
                metric.add_sample(name, (*labels, (_PID_LABEL, owner)), value, timestamp)
            else:
                metric.add_sample(name, labels, value)
    families = list(MultiProcessCollector._accumulate_metrics(metrics, True))
    for metric in families:
        if metric.type == "gauge":
            metric.samples = [
                s._replace(labels={(WORKER_LABEL if k == _PID_LABEL else k): v for k, v in s.labels.items()})
                for s in metric.samples
            ]
    return families
