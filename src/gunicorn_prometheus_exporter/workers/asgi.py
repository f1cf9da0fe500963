import importlib.util

import gunicorn

from . import MissingLibrary

if importlib.util.find_spec("gunicorn.workers.gasgi") is None:
    raise MissingLibrary(
        f"PrometheusASGIWorker needs Gunicorn's ASGI worker, which Gunicorn {gunicorn.__version__} does not have: "
        "upgrade Gunicorn, or use PrometheusUvicornWorker"
    )

from gunicorn.workers.gasgi import ASGIWorker  # noqa: E402

from ..instrument_asgi import instrument_asgi  # noqa: E402
from .base import PrometheusWorkerMixin  # noqa: E402


class PrometheusASGIWorker(PrometheusWorkerMixin, ASGIWorker):
    """Gunicorn's own ASGI worker, measured at the ASGI level."""

    app_attribute = "asgi"

    def instrument(self, app):
        return instrument_asgi(app, self.metrics_recorder)
