from . import require

require("gevent", "gevent", "PrometheusGeventWorker")

from gunicorn.workers.ggevent import GeventWorker  # noqa: E402

from .base import PrometheusWorkerMixin  # noqa: E402


class PrometheusGeventWorker(PrometheusWorkerMixin, GeventWorker):
    """Gunicorn's gevent worker, measured.

    The mixin's ``init_process`` runs before gevent's, so the slot's block and
    its lock (a real OS lock) are set up before gevent patches the process.
    The lock is held only across a few memory stores with no switch point
    inside, so greenlets never wait on it, and the app's real threads, if
    any, are still excluded by it.
    """
