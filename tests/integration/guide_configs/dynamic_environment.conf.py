# Not from the guide: a Gunicorn config whose values come from the environment
# it runs in, in the forms teams write: os.environ.get with a default, a branch
# on a variable, assignments under an `if`, and a setdefault whose value is
# another variable. tools/gpx-convert must keep each decision for the
# environment uWSGI starts in, not take the converting environment's.
import os

bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WORKERS", "2"))
timeout = 60 if os.environ.get("APP_ENV") == "production" else 300
preload_app = os.environ.get("APP_ENV") == "production"
if os.environ.get("APP_ENV") == "production":
    os.environ["REDIS_ENABLED"] = "true"
os.environ.setdefault("PROMETHEUS_METRICS_PORT", os.environ.get("METRICS_PORT", "9091"))
if "CI" not in os.environ:
    os.environ["CLEANUP_DB_FILES"] = "true"
