"""The guide's Advanced Custom Hooks (gunicorn_advanced_hooks.conf.py): custom_when_ready.

examples/advanced_custom_hooks.ini imports this file and runs custom_when_ready at
uWSGI's when_ready point: `hook-accepting1-once = rpc:custom_when_ready` (once, when the
first worker accepts). A uWSGI hook cannot call Python directly; `rpc:` calls a function
that Python registered with uwsgi.register_rpc.

The guide's custom_when_ready drives MetricsServerManager: setup_server(), then
start_server() with its retry logic, logging the outcome. There is nothing to write for
that under gpx: the master starts the metrics server itself once the workers run and
logs `gpx: serving metrics on http://<bind>:<port>/metrics`; a busy port is retried every
second without holding up the app, and reported once (`gpx: cannot serve metrics on ...
retrying every 10 s, the app keeps serving`). What is left of the user's hook is its
logging, kept here.
"""

import logging
import os

import uwsgi

# The guide's hooks log with logging.getLogger(__name__) but configure no handler, so
# their INFO lines went nowhere; a level and a format make them visible in uWSGI's log.
logging.basicConfig(level=logging.INFO, format="%(asctime)s - %(name)s - %(levelname)s - %(message)s")
logger = logging.getLogger(__name__)


def _option(name):
    value = uwsgi.opt.get(name)
    if isinstance(value, list):  # an option given more than once
        value = value[-1]
    return value.decode() if isinstance(value, bytes) else value


def custom_when_ready():
    """Runs once, in the first worker that accepts requests."""
    # gpx's precedence: the option, then the guide's variable, then the default.
    port = _option("gpx-port") or os.environ.get("PROMETHEUS_METRICS_PORT") or "9090"
    logger.info("Custom when_ready: the app accepts requests; gpx serves the metrics on port %s", port)
    return b"ok"


uwsgi.register_rpc("custom_when_ready", custom_when_ready)
