import importlib.util

import gunicorn

from . import MissingLibrary, require

# Gunicorn dropped its eventlet worker in 26.0.
if importlib.util.find_spec("gunicorn.workers.geventlet") is None:
    raise MissingLibrary(
        f"PrometheusEventletWorker needs Gunicorn's eventlet worker, which Gunicorn {gunicorn.__version__} "
        "no longer has (removed in 26.0): use PrometheusGeventWorker, or install Gunicorn < 26"
    )

require("eventlet", "eventlet", "PrometheusEventletWorker")

import eventlet  # noqa: E402


def _import_without_patching_the_master():
    # Gunicorn 25 monkey-patches when its eventlet module is imported, which
    # happens in the master: the master's threads (the /metrics server) would
    # become green threads that run only when the arbiter's loop yields, and it
    # never does while it waits for signals. The worker patches after the fork
    # instead (``patch`` below), as Gunicorn did before 25.
    monkey_patch = eventlet.monkey_patch
    eventlet.monkey_patch = lambda *args, **kwargs: None
    try:
        from gunicorn.workers.geventlet import EventletWorker
    finally:
        eventlet.monkey_patch = monkey_patch
    return EventletWorker


EventletWorker = _import_without_patching_the_master()

from .base import PrometheusWorkerMixin  # noqa: E402


class PrometheusEventletWorker(PrometheusWorkerMixin, EventletWorker):
    """Gunicorn's eventlet worker (Gunicorn < 26), measured.

    As with gevent: a request's metric updates are plain stores with no
    switch point between them, and the mixin's ``init_process`` creates the
    slot's lock (a real OS lock, taken by the app's own metrics) before
    ``patch`` runs.
    """

    def patch(self):
        eventlet.monkey_patch()
        super().patch()
