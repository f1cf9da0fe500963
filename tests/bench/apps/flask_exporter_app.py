"""Flask hello world with prometheus-flask-exporter's uWSGI class.

UWsgiPrometheusMetrics keeps prometheus_client's multiprocess files and
serves them on /metrics. Needs PROMETHEUS_MULTIPROC_DIR set before the
import (the benchmark passes it with uWSGI's --env).
"""

from flask import Flask
from prometheus_flask_exporter.multiprocess import UWsgiPrometheusMetrics

app = Flask(__name__)
metrics = UWsgiPrometheusMetrics(app)
metrics.register_endpoint("/metrics")
application = app


@app.route("/")
def hello():
    return "Hello World\n"
