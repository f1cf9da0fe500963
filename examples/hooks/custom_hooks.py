"""The guide's Custom Hooks (gunicorn_custom_hooks.conf.py): the part that needs Python.

examples/custom_hooks.ini imports this file (`import = examples/hooks/custom_hooks.py`).
The guide's on_starting, when_ready and on_exit only print a line, so the ini does them
with uWSGI's `print:` hooks. worker_int prints the worker's pid, which takes Python: here.

What the guide's hooks called from gunicorn_prometheus_exporter.hooks (default_when_ready,
default_worker_int, default_on_exit) gpx does by itself: nothing to call.
"""

import os

import uwsgi


def worker_int():
    """Gunicorn's worker_int: called in a worker interrupted by SIGINT or SIGQUIT.

    The guide's docstring calls it an initialization hook, but Gunicorn runs it when the
    worker is interrupted. Under uWSGI the master sends SIGINT to its workers when it
    stops, and a worker runs `uwsgi.atexit` on its way out (also when it is recycled or
    reloaded; not in a worker busy with a request, nor under the tornado loop engine).
    gpx has already marked the slot `stopping` (the guide's default_worker_int). The
    worker's own start is uWSGI's post-fork point: `hook-post-fork`, or
    `uwsgidecorators.postfork` (python3-uwsgidecorators on Debian; PyPI's uwsgi ships it).
    """
    if uwsgi.worker_id() == 0:  # uwsgi.atexit can run in the master too
        return
    print(f"Worker {os.getpid()} interrupted", flush=True)


uwsgi.atexit = worker_int
