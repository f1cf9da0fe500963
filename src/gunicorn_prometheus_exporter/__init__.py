"""Prometheus metrics for Gunicorn: set ``worker_class`` to one of the worker classes below.

The worker classes are imported on first use, so importing the package never
imports Gunicorn's optional worker libraries (gevent, eventlet, tornado).
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_WORKERS = {
    "PrometheusWorker": ".workers.sync",
    "PrometheusThreadWorker": ".workers.gthread",
}

__all__ = [*_WORKERS, "__version__"]


def __getattr__(name):
    module = _WORKERS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)
