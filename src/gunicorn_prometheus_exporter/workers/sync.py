from gunicorn.workers.sync import SyncWorker

from .base import PrometheusWorkerMixin


class PrometheusWorker(PrometheusWorkerMixin, SyncWorker):
    """Gunicorn's sync worker, measured."""
