"""Where the package's log lines go.

Every module logs through ``logging.getLogger(__name__)``. When the user has
configured no logging of their own, the package's lines are sent to
Gunicorn's error log at its ``--log-level``; when they have (the guide's
debug config calls ``logging.basicConfig``), the lines propagate to theirs.
No module configures logging at import.
"""

from __future__ import annotations

import logging

PACKAGE_LOGGER = "gunicorn_prometheus_exporter"


def route_to_gunicorn(gunicorn_log) -> None:
    """Attach the package logger to Gunicorn's error log unless the user set up logging."""
    package = logging.getLogger(PACKAGE_LOGGER)
    error_log = getattr(gunicorn_log, "error_log", None)
    if error_log is None or package.handlers or logging.getLogger().handlers:
        return
    for handler in error_log.handlers:
        package.addHandler(handler)
    package.setLevel(error_log.level)
    package.propagate = False
