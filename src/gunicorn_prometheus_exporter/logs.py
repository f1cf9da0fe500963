"""Where the package's log lines go.

Every module logs through ``logging.getLogger(__name__)``. When the user has
configured no logging of their own, the package's lines are handed to
Gunicorn's error log and follow its ``--log-level``; when they have (the
guide's debug config calls ``logging.basicConfig``), the lines propagate to
theirs, in their format. No module configures logging at import.
"""

from __future__ import annotations

import logging

PACKAGE_LOGGER = "gunicorn_prometheus_exporter"


class GunicornErrorLogHandler(logging.Handler):
    """Hands each record to Gunicorn's error logger.

    Forwarding, rather than copying Gunicorn's handlers, keeps working when
    Gunicorn replaces its handlers (a configuration reload) or reopens its
    files (USR1).
    """

    def __init__(self, error_log: logging.Logger):
        super().__init__()
        self.error_log = error_log

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= self.error_log.getEffectiveLevel():
            self.error_log.handle(record)


def route_to_gunicorn(gunicorn_log) -> None:
    """Send the package's lines to Gunicorn's error log unless the user set up logging.

    Safe to call more than once (the ``on_starting`` hook and the worker
    class's ``check_config`` both call it).
    """
    package = logging.getLogger(PACKAGE_LOGGER)
    error_log = getattr(gunicorn_log, "error_log", None)
    if error_log is None or package.handlers or logging.getLogger().handlers:
        return
    package.addHandler(GunicornErrorLogHandler(error_log))
    package.setLevel(error_log.getEffectiveLevel())
    package.propagate = False
