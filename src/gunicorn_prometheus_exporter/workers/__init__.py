"""One short module per worker type over the shared ``base.PrometheusWorkerMixin``."""
