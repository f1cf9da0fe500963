"""Worker classes on the Python request path: what an install without a C compiler runs."""

import importlib.util

from gunicorn_prometheus_exporter import PrometheusThreadWorker, PrometheusWorker


class PythonPathWorker(PrometheusWorker):
    compiled_request_path = False


class PythonPathThreadWorker(PrometheusThreadWorker):
    compiled_request_path = False


if importlib.util.find_spec("gevent") is not None:
    from gunicorn_prometheus_exporter import PrometheusGeventWorker

    class PythonPathGeventWorker(PrometheusGeventWorker):
        compiled_request_path = False
