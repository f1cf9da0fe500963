"""The eventlet leg: PrometheusEventletWorker under the newest Gunicorn that still has an eventlet worker.

Gunicorn removed its eventlet worker in 26.0, so these tests run the
gunicorn of a second virtual environment, ``.venv-eventlet`` (Gunicorn < 26,
eventlet and this package; scripts/setup-env creates it).
"""

from __future__ import annotations

import subprocess

import pytest
from harness import APPS, EVENTLET_GUNICORN
from test_workers import PACKAGE, assert_concurrency, assert_mixed_traffic_counted_exactly, gated

EVENTLET = f"{PACKAGE}.PrometheusEventletWorker"


@pytest.fixture(scope="module")
def eventlet_gunicorn():
    assert EVENTLET_GUNICORN.exists(), f"{EVENTLET_GUNICORN} is missing: run scripts/setup-env"
    return EVENTLET_GUNICORN


def test_the_eventlet_environment_has_a_gunicorn_with_an_eventlet_worker(eventlet_gunicorn):
    python = eventlet_gunicorn.with_name("python")
    code = "import gunicorn, eventlet, gunicorn.workers.geventlet; print(gunicorn.version_info[0])"
    major = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True).stdout
    assert int(major) < 26


def test_eventlet_counts_every_request_and_the_apps_own_metrics_exactly(gunicorn, eventlet_gunicorn):
    server = gunicorn(worker_class=EVENTLET, gunicorn_bin=eventlet_gunicorn).start()
    assert_mixed_traffic_counted_exactly(server)


def test_eventlet_50_concurrent_requests_are_all_in_progress_at_once(gunicorn, tmp_path, eventlet_gunicorn):
    server = gated(gunicorn, tmp_path, app="gate_app:app", worker_class=EVENTLET, gunicorn_bin=eventlet_gunicorn)
    assert_concurrency(server, 50)


def test_eventlet_missing_stops_startup_with_one_line_naming_the_extra(gunicorn, eventlet_gunicorn):
    server = gunicorn(
        worker_class=EVENTLET,
        gunicorn_bin=eventlet_gunicorn,
        env={"PYTHONPATH": str(APPS / "hide"), "HIDE_MODULES": "eventlet"},
    )
    code, log = server.run_to_exit()
    assert code != 0
    lines = [line for line in log.splitlines() if "PrometheusEventletWorker" in line]
    expected = 'Error: PrometheusEventletWorker needs eventlet, which is not installed: pip install "gunicorn-prometheus-exporter[eventlet]"'
    assert lines == [expected], log
    assert "Traceback" not in log and "Booting worker" not in log
