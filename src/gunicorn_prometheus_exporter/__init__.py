"""Prometheus metrics for Gunicorn: set ``worker_class`` to one of the worker classes below.

The worker classes are imported on first use, so importing the package never
imports Gunicorn's optional worker libraries (gevent, eventlet, tornado,
uvicorn); choosing a class whose library is missing stops start-up with one
line naming the extra to install.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_WORKERS = {
    "PrometheusWorker": ".workers.sync",
    "PrometheusThreadWorker": ".workers.gthread",
    "PrometheusGeventWorker": ".workers.ggevent",
    "PrometheusEventletWorker": ".workers.geventlet",
    "PrometheusTornadoWorker": ".workers.gtornado",
    "PrometheusASGIWorker": ".workers.asgi",
    "PrometheusUvicornWorker": ".workers.uvicorn",
}

# Only the classes that need no optional library: a star import must not fail
# (or import gevent and the like) because one of them is missing.
__all__ = ["PrometheusWorker", "PrometheusThreadWorker", "__version__"]


def __getattr__(name):
    module = _WORKERS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)


def __dir__():
    return sorted({*globals(), *_WORKERS})
