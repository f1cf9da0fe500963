"""Every configuration example of the guide runs unchanged from ``examples/``.

The files are the guide's own; a test only supplies from outside what the
test machine lacks or must keep apart (ports through the environment and
``--bind``, log files under /var/log through the command line).
"""

import pytest
from harness import EVENTLET_GUNICORN, EXAMPLES, GUNICORN

# example file -> (extra command-line arguments, worker slots it starts)
FILE_STORAGE_EXAMPLES = {
    "gunicorn_basic.conf.py": ([], 2),
    "gunicorn_high_performance.conf.py": ([], 8),
    "gunicorn_production.conf.py": (["--error-logfile", "-", "--access-logfile", "{tmp}/access.log"], 4),
    "gunicorn_development.conf.py": ([], 2),
    "gunicorn_sync.conf.py": ([], 4),
    "gunicorn_thread.conf.py": ([], 2),
}


def run_example(gunicorn, tmp_path, name, args=(), env=None):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    return gunicorn(config=EXAMPLES / name, workers=None, worker_class=None, args=args, env=env).start()


@pytest.mark.parametrize("name", sorted(FILE_STORAGE_EXAMPLES))
def test_file_storage_example_runs_unchanged(gunicorn, tmp_path, name):
    args, slots = FILE_STORAGE_EXAMPLES[name]
    server = run_example(gunicorn, tmp_path, name, args)
    server.wait_workers(slots)
    assert server.send(60, concurrency=6) == {200: 60}
    assert server.send(12, "/event", concurrency=6) == {200: 12}
    s = server.scrape()
    assert s.value("gunicorn_requests_total", method="GET", status="200") == 72
    assert sum(s.by_label("gunicorn_worker_requests_total", "worker").values()) == 72
    assert s.value("app_events_total", kind="event") == 12
    assert len(s.by_label("gunicorn_worker_busy", "worker")) == slots


# The guide's examples for the other worker types, run with the test app (a WSGI app).
# Eventlet ones run under the eventlet environment's Gunicorn (< 26, which still has the worker).
WORKER_EXAMPLES = {
    "gunicorn_gevent.conf.py": GUNICORN,
    "gunicorn_tornado.conf.py": GUNICORN,
    "gunicorn_async.conf.py": EVENTLET_GUNICORN,
    "gunicorn_eventlet.conf.py": EVENTLET_GUNICORN,
}


@pytest.mark.parametrize("name", sorted(WORKER_EXAMPLES))
def test_worker_type_example_runs_unchanged(gunicorn, name):
    server = gunicorn(
        config=EXAMPLES / name, workers=None, worker_class=None, gunicorn_bin=WORKER_EXAMPLES[name]
    ).start()
    server.wait_workers(4)
    assert server.send(60, concurrency=6) == {200: 60}
    assert server.send(12, "/event", concurrency=6) == {200: 12}
    s = server.scrape()
    assert s.value("gunicorn_requests_total", method="GET", status="200") == 72
    assert sum(s.by_label("gunicorn_worker_requests_total", "worker").values()) == 72
    assert s.value("app_events_total", kind="event") == 12
    assert len(s.by_label("gunicorn_worker_busy", "worker")) == 4
    assert s.value("gunicorn_requests_in_progress") == 0
