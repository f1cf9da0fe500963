"""Worker classes on the Python request path: what an install without a C compiler runs."""

from gunicorn_prometheus_exporter import PrometheusThreadWorker, PrometheusWorker


class PythonPathWorker(PrometheusWorker):
    compiled_request_path = False


class PythonPathThreadWorker(PrometheusThreadWorker):
    compiled_request_path = False
