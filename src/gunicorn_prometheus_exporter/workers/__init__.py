"""One short module per worker type over the shared ``base.PrometheusWorkerMixin``."""

from __future__ import annotations

import importlib


class MissingLibrary(RuntimeError):
    """A worker class whose library is not installed. Subclasses RuntimeError so
    Gunicorn's launcher prints it as one ``Error:`` line and exits non-zero."""


def require(library: str, extra: str, worker_class: str) -> None:
    """Import ``library`` or stop start-up with one line saying which extra installs it."""
    try:
        importlib.import_module(library)
    except ImportError:
        raise MissingLibrary(
            f"{worker_class} needs {library}, which is not installed: "
            f'pip install "gunicorn-prometheus-exporter[{extra}]"'
        ) from None
