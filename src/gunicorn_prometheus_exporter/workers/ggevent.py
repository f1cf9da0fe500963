from . import require

require("gevent", "gevent", "PrometheusGeventWorker")

from gunicorn.workers.ggevent import GeventWorker  # noqa: E402

from .base import PrometheusWorkerMixin  # noqa: E402


class PrometheusGeventWorker(PrometheusWorkerMixin, GeventWorker):
    """Gunicorn's gevent worker, measured.

    Requests run as greenlets of one OS thread, and a request's metric
    updates are plain stores with no switch point between them, so they
    need no lock. The mixin's ``init_process`` runs before gevent's, so the
    slot's lock (taken by the app's own metrics) is a real OS lock created
    before gevent patches the process: held only across a few stores,
    greenlets never wait on it, and the app's real threads, if any, are
    still excluded by it.
    """
