"""Every configuration example of the guide runs unchanged from ``examples/``.

The files are the guide's own; a test only supplies from outside what the
test machine lacks or must keep apart (ports through the environment and
``--bind``, log files under /var/log through the command line).
"""

import pytest
from harness import EXAMPLES

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
