"""Flask hello world without metrics: the baseline for flask_exporter_app."""

from flask import Flask

app = Flask(__name__)
application = app


@app.route("/")
def hello():
    return "Hello World\n"
