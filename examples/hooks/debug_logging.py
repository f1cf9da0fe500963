"""The guide's Debug scenario (gunicorn_debug.conf.py): debug logging.

The guide turns on Python's DEBUG logging with a timestamped format so that the
exporter's hooks log their lifecycle. examples/debug.ini imports this file in uWSGI's
master before the workers fork, as Gunicorn runs its config file, so the app's and any
hook's Python logging gets the guide's level and format. gpx's own lifecycle lines
(storage, worker slots, serving metrics, each worker taking its slot, a worker ending and
why, the counters kept or published at exit) are always in uWSGI's log; gpx logs nothing per
request.
"""

import logging

logging.basicConfig(level=logging.DEBUG, format="%(asctime)s - %(name)s - %(levelname)s - %(message)s")
logging.getLogger(__name__).debug("Python debug logging enabled for the app and its hooks")
