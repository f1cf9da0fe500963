"""The one compiled module; optional, so that a machine without a C compiler installs the pure-Python path."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "gunicorn_prometheus_exporter._hotpath",
            ["src/gunicorn_prometheus_exporter/_hotpath.c"],
            optional=True,
        )
    ]
)
