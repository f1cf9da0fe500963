from . import require

require("uvicorn_worker", "uvicorn", "PrometheusUvicornWorker")

from uvicorn_worker import UvicornWorker  # noqa: E402

from ..instrument_asgi import instrument_asgi  # noqa: E402
from .base import PrometheusWorkerMixin  # noqa: E402


class PrometheusUvicornWorker(PrometheusWorkerMixin, UvicornWorker):
    """The ``uvicorn-worker`` package's worker, measured at the ASGI level.

    Uvicorn serves ``self.wsgi`` (the loaded ASGI app); the wrapper is an
    ASGI 3 coroutine function, which uvicorn recognises as such.
    """

    def instrument(self, app):
        return instrument_asgi(app, self.metrics_recorder)
