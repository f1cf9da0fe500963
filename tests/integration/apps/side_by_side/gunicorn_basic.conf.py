# The configuration guide's "Basic Setup" scenario for
# gunicorn-prometheus-exporter 0.2.4, as written there, plus the hooks that
# start its metrics server (below).
import os

# Environment variables must be set before imports
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", "/tmp/prometheus_multiproc")
os.environ.setdefault("PROMETHEUS_METRICS_PORT", "9090")
os.environ.setdefault("PROMETHEUS_BIND_ADDRESS", "0.0.0.0")
os.environ.setdefault("GUNICORN_WORKERS", "2")

# Gunicorn settings
bind = "0.0.0.0:8000"
workers = 2
worker_class = "gunicorn_prometheus_exporter.PrometheusWorker"

# Not in the guide's Basic scenario: without `when_ready = default_when_ready`
# 0.2.4 never opens its metrics port (the workers write their files, nothing
# serves them). These are the hooks of the exporter's own README and of the
# guide's "With CLI" scenario.
from gunicorn_prometheus_exporter.hooks import (  # noqa: E402
    default_on_exit,
    default_on_starting,
    default_post_fork,
    default_when_ready,
    default_worker_int,
)

when_ready = default_when_ready
on_starting = default_on_starting
worker_int = default_worker_int
on_exit = default_on_exit
post_fork = default_post_fork
