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

from gunicorn.workers.geventlet import EventletWorker  # noqa: E402

from .base import PrometheusWorkerMixin  # noqa: E402


class PrometheusEventletWorker(PrometheusWorkerMixin, EventletWorker):
    """Gunicorn's eventlet worker (Gunicorn < 26), measured.

    As with gevent, the slot's block and its lock are set up before eventlet
    patches the process in ``init_process``; the lock is held only across a
    few memory stores, with no switch point inside.
    """
