from . import require

require("tornado", "tornado", "PrometheusTornadoWorker")

import tornado.web  # noqa: E402
from gunicorn.workers.gtornado import TornadoWorker  # noqa: E402
from tornado.wsgi import WSGIContainer  # noqa: E402

from ..instrument import instrument_wsgi  # noqa: E402
from ..instrument_tornado import MeasuredApplication  # noqa: E402
from .base import PrometheusWorkerMixin  # noqa: E402


class PrometheusTornadoWorker(PrometheusWorkerMixin, TornadoWorker):
    """Gunicorn's Tornado worker, measured.

    The worker calls no request hooks, so the application is wrapped: a WSGI
    app with the generic WSGI wrapper (Tornado's ``WSGIContainer`` then runs it
    one request at a time), a native ``tornado.web.Application`` (or a
    ``WSGIContainer`` the app built itself) at its HTTP connection.
    """

    def instrument(self, app):
        if isinstance(app, (tornado.web.Application, WSGIContainer)):
            return MeasuredApplication(app, self.metrics_recorder)
        return instrument_wsgi(app, self.metrics_recorder)
