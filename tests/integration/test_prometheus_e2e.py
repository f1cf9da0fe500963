"""A real Prometheus scrapes gpx, on both uWSGI builds.

Debian's Prometheus (2.42) scrapes every second and asks for OpenMetrics
first, text 0.0.4 next; its target is up and a query returns the exact
number of requests sent. `promtool check metrics` accepts the page. Through
TLS with a client certificate and basic auth, Prometheus reads the same
exact counts, the app's own prometheus_client counter included.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import requests
from test_app_metrics import app_server
from test_endpoint import start_secured

from conftest import Server, probes, start, wsgi_server

APP = Path(__file__).resolve().parent / "apps" / "uwsgi_metrics_app.py"


def metrics_app(server_factory, build) -> Server:
    """The app that sets uWSGI metrics, with two of its own, on two workers."""
    return start(wsgi_server(server_factory, build, APP, "--processes", "2", "--threads", "2", "--enable-metrics",
                             "--metric", "name=app.jobs,type=counter", "--metric", "name=app.queue-depth,type=gauge"),
                 2)


@pytest.mark.slow
def test_prometheus_scrapes_the_exact_count(build, server_factory, prometheus_factory):
    s = metrics_app(server_factory, build)
    base = probes(s)  # the harness's readiness requests
    jobs = 41
    for _ in range(jobs):
        assert requests.get(s.url("/inc"), timeout=5).status_code == 200
    sent = base + jobs
    s.wait_requests(sent)

    prom = prometheus_factory([f"127.0.0.1:{s.metrics_port}"], job="gpx")
    prom.wait_value('up{job="gpx"}', 1)
    prom.wait_value('sum(gunicorn_worker_requests_total{job="gpx"})', sent)
    assert prom.value('sum(gunicorn_requests_total{job="gpx"})') == sent
    # uWSGI's metrics subsystem through Prometheus: the app's counter, and
    # slot 0 (uWSGI's total over its workers) once its collector ran.
    assert prom.value('uwsgi_app_jobs_total{job="gpx"}') == jobs
    prom.wait_value('uwsgi_worker_requests_total{job="gpx",worker="0"}', sent)
    assert prom.value('sum(uwsgi_worker_requests_total{job="gpx",worker!="0"})') == sent

    [target] = prom.targets()
    assert target["health"] == "up" and target["lastError"] == "", target
    assert target["labels"]["instance"] == f"127.0.0.1:{s.metrics_port}"


def test_promtool_accepts_the_page(build, server_factory):
    s = metrics_app(server_factory, build)
    for path in ("/", "/inc", "/set?3", "/no/such/path"):
        requests.get(s.url(path), timeout=5)
    body = s.scrape_text()
    assert "uwsgi_app_jobs_total 1" in body.splitlines()
    check = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout + check.stderr == ""


@pytest.mark.slow
def test_prometheus_scrapes_through_tls_client_certificates_and_basic_auth(build, server_factory, prometheus_factory,
                                                                           pki, users):
    """The secured endpoint end to end: Prometheus verifies gpx's certificate,
    shows its own client certificate and a password, negotiates OpenMetrics,
    and reads gpx's counts and the app's prometheus_client counter exactly;
    a Prometheus with a wrong password sees the target down."""
    s = app_server(server_factory, build, "--processes", "2", "--gpx-ssl-certfile", str(pki / "server.pem"),
                   "--gpx-ssl-keyfile", str(pki / "server.key"), "--gpx-ssl-client-cafile", str(pki / "ca.pem"),
                   env={"PROMETHEUS_BASIC_AUTH_FILE": str(users)})
    start_secured(s, "https", verify=str(pki / "server.pem"))
    hits = 23
    for _ in range(hits):
        assert requests.post(s.url("/hit"), timeout=5).status_code == 200  # the readiness probes are GETs

    tls = {"ca_file": str(pki / "server.pem"), "cert_file": str(pki / "client_ca.pem"),
           "key_file": str(pki / "client_ca.key")}
    prom = prometheus_factory([f"127.0.0.1:{s.metrics_port}"], job="gpx", scheme="https", tls_config=tls,
                              basic_auth={"username": "prom", "password": "s3cret"})
    prom.wait_value('up{job="gpx"}', 1)
    prom.wait_value('sum(gunicorn_requests_total{job="gpx",method="POST"})', hits)
    assert prom.value('sum(app_hits_total{job="gpx",path="/hit"})') == hits
    [target] = prom.targets()
    assert target["health"] == "up" and target["lastError"] == "", target

    refused = prometheus_factory([f"127.0.0.1:{s.metrics_port}"], job="gpx", scheme="https", tls_config=tls,
                                 basic_auth={"username": "prom", "password": "wrong"})
    refused.wait_value('up{job="gpx"}', 0)
    [target] = refused.targets()
    assert "401" in target["lastError"], target
    assert refused.value('count(gunicorn_requests_total{job="gpx"})') is None
