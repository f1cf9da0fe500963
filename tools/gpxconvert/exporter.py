"""gunicorn-prometheus-exporter 0.2.4 as a config uses it: its variables, its
hooks and managers, and what gpx does for each."""

# -- gunicorn-prometheus-exporter ----------------------------------------------------------------
# Its variables and the gpx option each one becomes (docs/options.md).
GPX_VARIABLES = {
    "PROMETHEUS_MULTIPROC_DIR": "gpx-multiproc-dir",
    "PROMETHEUS_METRICS_PORT": "gpx-port",
    "PROMETHEUS_BIND_ADDRESS": "gpx-bind",
    "CLEANUP_DB_FILES": "gpx-cleanup-db-files",
    "GPX_INSTANCE": "gpx-instance",
    "REDIS_ENABLED": "gpx-redis",
    "REDIS_HOST": "gpx-redis-host",
    "REDIS_PORT": "gpx-redis-port",
    "REDIS_DB": "gpx-redis-db",
    "REDIS_PASSWORD": "gpx-redis-password",
    "REDIS_KEY_PREFIX": "gpx-redis-key-prefix",
    "GPX_REDIS_INTERVAL": "gpx-redis-interval",
    "GPX_REDIS_TTL": "gpx-redis-ttl",
    "REDIS_TTL_SECONDS": "gpx-redis-ttl",
    "REDIS_TTL_DISABLED": "gpx-redis-ttl-disabled",
    "GPX_DEBUG": "gpx-debug",
    # the metrics endpoint's TLS and basic auth: gpx's, not the app's
    "PROMETHEUS_SSL_CERTFILE": "gpx-ssl-certfile",
    "PROMETHEUS_SSL_KEYFILE": "gpx-ssl-keyfile",
    "PROMETHEUS_SSL_CLIENT_CAFILE": "gpx-ssl-client-cafile",
    "PROMETHEUS_SSL_CLIENT_CAPATH": "gpx-ssl-client-capath",
    "PROMETHEUS_SSL_CLIENT_AUTH_REQUIRED": "gpx-ssl-client-auth-required",
    "PROMETHEUS_BASIC_AUTH_FILE": "gpx-basic-auth-file",
}
# Variables that configured Gunicorn for the exporter: uWSGI's own options decide.
GUNICORN_VARIABLES = {
    "GUNICORN_WORKERS": "processes",
    "GUNICORN_KEEPALIVE": "http-keepalive",
    "GUNICORN_BIND": "the first socket",
    "GUNICORN_WORKER_CLASS": "the mode",
}

# What gpx does where the exporter's own hooks ran (docs/migration.md, Hooks).
EXPORTER_HOOKS = {
    "default_on_starting": "gpx checks its options and prepares storage at start",
    "default_when_ready": "gpx starts its metrics server once the workers run",
    "redis_when_ready": "gpx starts its metrics server once the workers run, and with gpx-redis = true keeps "
                        "the counters in Redis",
    "default_post_fork": "each worker takes its gpx slot, and gpx sets GUNICORN_WORKERS, GUNICORN_BIND and "
                         "GUNICORN_WORKER_CLASS for the app",
    "default_worker_int": "gpx marks the worker's slot stopping and keeps its counts",
    "default_on_exit": "at exit gpx writes its counters to disk (file storage) or publishes them to Redis a "
                       "last time (gpx-redis = true); they continue at the next start",
}
EXPORTER_MANAGERS = ("HookContext", "HookManager", "EnvironmentManager", "MetricsServerManager", "WorkerManager",
                     "ProcessManager")
