from gunicorn.workers.gthread import ThreadWorker

from .base import PrometheusWorkerMixin


class PrometheusThreadWorker(PrometheusWorkerMixin, ThreadWorker):
    """Gunicorn's gthread worker, measured; the slot's lock keeps threads' updates whole."""

    threaded_requests = True
