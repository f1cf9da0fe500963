"""The metrics endpoint: formats, gzip, health, TLS, client certificates,
basic auth and the start-up errors of their options, on both builds.

Requests the tests count go to /missing (404), which the readiness probe
(GET /, 200) never sends, so every count is exact. Certificates are made
with openssl and the password file with htpasswd when the tests run.
"""

from __future__ import annotations

import gzip
import http.client
import socket
import subprocess
import time

import pytest
import requests
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from conftest import Server, lines_with, parse_metrics, send_missing, wait_for

PROMETHEUS_2_ACCEPT = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
                       "text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
PROMETHEUS_3_ACCEPT = ("application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,"
                       "application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;"
                       "q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1")
TEXT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"
MISSING = 'gunicorn_requests_total{method="GET",status="404"}'
# Families whose values move between two scrapes on their own.
VOLATILE = ("gunicorn_worker_cpu_", "gunicorn_worker_memory_bytes", "gunicorn_worker_uptime_seconds",
            "gunicorn_exporter_scrape_duration_seconds", "gunicorn_listen_", "gunicorn_worker_state",
            "gunicorn_workers{", "gunicorn_requests_in_progress")


# -- helpers -------------------------------------------------------------------
def start_secured(s: Server, scheme: str, **kw) -> Server:
    """Starts and waits for the app and /healthz (which needs no credentials)."""
    s.start(wait=False)

    def ready():
        if s.proc.poll() is not None:
            raise AssertionError(f"uwsgi exited with {s.proc.returncode}:\n{s.output()}")
        requests.get(s.url("/"), timeout=2).raise_for_status()
        r = requests.get(f"{scheme}://127.0.0.1:{s.metrics_port}/healthz", timeout=2, **kw)
        return r.status_code == 200

    wait_for(ready, 30, what="uwsgi with a secured endpoint")
    return s


def sample_value(text: str, prefix: str) -> float:
    values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix + " ")]
    assert len(values) == 1, f"{prefix} found {len(values)} times"
    return values[0]


def stable_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if not line.startswith(VOLATILE)]


def raw_get(port: int, path: str, headers: dict) -> http.client.HTTPResponse:
    """A GET whose body is left as sent (no automatic gunzip)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", path, headers=headers)
    r = conn.getresponse()
    r.body = r.read()
    conn.close()
    return r


# -- formats -------------------------------------------------------------------
def test_openmetrics_and_text(build, server_factory):
    s = server_factory(build).start()
    send_missing(s, 3)
    wait_for(lambda: s.scrape().value("gunicorn_requests_total", method="GET", status="404") == 3,
             what="3 requests counted")

    text = requests.get(s.metrics_url, headers={"Accept": "*/*"}, timeout=5)
    assert text.headers["Content-Type"] == TEXT_TYPE
    assert sample_value(text.text, MISSING) == 3
    assert "# EOF" not in text.text
    assert "# TYPE gunicorn_requests_total counter" in text.text.splitlines()
    check = subprocess.run(["promtool", "check", "metrics"], input=text.text, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr

    for accept in (PROMETHEUS_2_ACCEPT, PROMETHEUS_3_ACCEPT, "application/openmetrics-text"):
        om = requests.get(s.metrics_url, headers={"Accept": accept}, timeout=5)
        assert om.headers["Content-Type"] == OPENMETRICS_TYPE
        assert om.text.endswith("\n# EOF\n")
        lines = om.text.splitlines()
        assert "# TYPE gunicorn_requests counter" in lines
        assert "# TYPE gunicorn_requests_total counter" not in lines
        assert sample_value(om.text, MISSING) == 3
        assert "_created" not in om.text
        # prometheus_client's parser is strict: any deviation raises.
        families = {f.name: f for f in text_string_to_metric_families(om.text)}
        requests_family = families["gunicorn_requests"]
        assert requests_family.type == "counter"
        assert {(smp.labels["method"], smp.labels["status"]): smp.value
                for smp in requests_family.samples if smp.name == "gunicorn_requests_total"}[("GET", "404")] == 3
        assert families["gunicorn_request_duration_seconds"].type == "histogram"
        # the same samples as the text page
        om_samples = [line for line in stable_lines(om.text) if not line.startswith("#")]
        text_samples = [line for line in stable_lines(text.text) if not line.startswith("#")]
        assert om_samples == text_samples

    # OpenMetrics 0.0.1 only, or text preferred: text
    for accept in ("application/openmetrics-text;version=0.0.1", "text/plain;version=0.0.4;q=1,*/*;q=0.1"):
        assert requests.get(s.metrics_url, headers={"Accept": accept}, timeout=5).headers["Content-Type"] == TEXT_TYPE


def test_gzip(build, server_factory):
    s = server_factory(build).start()
    send_missing(s, 2)
    wait_for(lambda: s.scrape().value("gunicorn_requests_total", method="GET", status="404") == 2,
             what="2 requests counted")

    plain = raw_get(s.metrics_port, "/metrics", {"Accept-Encoding": "identity"})
    assert plain.getheader("Content-Encoding") is None
    packed = raw_get(s.metrics_port, "/metrics", {"Accept-Encoding": "gzip, deflate"})
    assert packed.getheader("Content-Encoding") == "gzip"
    assert packed.getheader("Vary") == "Accept, Accept-Encoding"
    assert packed.getheader("Content-Type") == TEXT_TYPE
    assert packed.body[:2] == b"\x1f\x8b"
    assert len(packed.body) < len(plain.body) / 3
    unpacked = gzip.decompress(packed.body).decode()
    assert sample_value(unpacked, MISSING) == 2
    assert stable_lines(unpacked) == stable_lines(plain.body.decode())

    om = raw_get(s.metrics_port, "/metrics", {"Accept-Encoding": "gzip", "Accept": PROMETHEUS_2_ACCEPT})
    assert om.getheader("Content-Encoding") == "gzip"
    assert om.getheader("Content-Type") == OPENMETRICS_TYPE
    om_text = gzip.decompress(om.body).decode()
    assert om_text.endswith("\n# EOF\n")
    assert sample_value(om_text, MISSING) == 2
    list(text_string_to_metric_families(om_text))

    for refused in ("gzip;q=0", "br", "*;q=0", ""):
        r = raw_get(s.metrics_port, "/metrics", {"Accept-Encoding": refused})
        assert r.getheader("Content-Encoding") is None, refused
        assert sample_value(r.body.decode(), MISSING) == 2
    assert raw_get(s.metrics_port, "/metrics", {"Accept-Encoding": "*"}).getheader("Content-Encoding") == "gzip"


def test_healthz(build, server_factory):
    s = server_factory(build).start()
    r = requests.get(f"http://127.0.0.1:{s.metrics_port}/healthz", timeout=5)
    assert (r.status_code, r.text, r.headers["Content-Type"]) == (200, "ok\n", "text/plain; charset=utf-8")
    assert requests.post(f"http://127.0.0.1:{s.metrics_port}/healthz", timeout=5).status_code == 405
    assert requests.get(f"http://127.0.0.1:{s.metrics_port}/healthz/x", timeout=5).status_code == 404


# -- TLS -----------------------------------------------------------------------
@pytest.mark.slow
def test_tls(build, server_factory, pki):
    s = server_factory(build, "--gpx-ssl-certfile", str(pki / "server.pem"), "--gpx-ssl-keyfile",
                       str(pki / "server.key"))
    start_secured(s, "https", verify=str(pki / "server.pem"))
    assert lines_with(s, f"gpx: serving metrics on https://127.0.0.1:{s.metrics_port}/metrics")
    send_missing(s, 4)
    url = f"https://127.0.0.1:{s.metrics_port}/metrics"

    def counted():
        r = requests.get(url, verify=str(pki / "server.pem"), timeout=5)
        return r.status_code == 200 and parse_metrics(r.text).value("gunicorn_requests_total", method="GET",
                                                                     status="404") == 4

    wait_for(counted, what="4 requests counted over TLS")
    r = requests.get(url, verify=str(pki / "server.pem"), headers={"Accept": PROMETHEUS_2_ACCEPT}, timeout=5)
    assert r.headers["Content-Type"] == OPENMETRICS_TYPE and sample_value(r.text, MISSING) == 4

    # Plain HTTP to the TLS port: no metrics, only a TLS alert or a closed connection.
    with socket.create_connection(("127.0.0.1", s.metrics_port), timeout=5) as sock:
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        received = b""
        try:
            while chunk := sock.recv(4096):
                received += chunk
        except (TimeoutError, ConnectionResetError):
            pass
    assert b"gunicorn" not in received and b"HTTP/1." not in received
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"http://127.0.0.1:{s.metrics_port}/metrics", timeout=5)

    # A client that opens a connection and never sends its handshake is
    # closed after the connection timeout (10 s), like an idle one.
    with socket.create_connection(("127.0.0.1", s.metrics_port), timeout=30) as sock:
        began = time.monotonic()
        try:
            while sock.recv(4096):
                pass
        except ConnectionResetError:
            pass
        assert 8 < time.monotonic() - began < 15


def test_client_certificates(build, server_factory, pki):
    s = server_factory(build, "--gpx-ssl-certfile", str(pki / "server.pem"), "--gpx-ssl-keyfile",
                       str(pki / "server.key"), "--gpx-ssl-client-cafile", str(pki / "ca.pem"))
    verify = str(pki / "server.pem")
    start_secured(s, "https", verify=verify)
    send_missing(s, 2)
    url = f"https://127.0.0.1:{s.metrics_port}/metrics"
    good = (str(pki / "client_ca.pem"), str(pki / "client_ca.key"))

    def counted():
        r = requests.get(url, verify=verify, cert=good, timeout=5)
        return r.status_code == 200 and sample_value(r.text, MISSING) == 2

    wait_for(counted, what="2 requests counted with a client certificate")

    r = requests.get(url, verify=verify, timeout=5)
    assert r.status_code == 403 and "gunicorn" not in r.text
    try:
        r = requests.get(url, verify=verify, cert=(str(pki / "client_other_ca.pem"), str(pki / "client_other_ca.key")),
                         timeout=5)
        assert r.status_code == 403 and "gunicorn" not in r.text
    except requests.exceptions.SSLError:
        pass  # refused in the handshake: no metrics either


# -- basic auth ----------------------------------------------------------------
def test_basic_auth(build, server_factory, users):
    s = server_factory(build, env={"PROMETHEUS_BASIC_AUTH_FILE": str(users)})
    start_secured(s, "http")
    assert lines_with(s, "(basic auth)")
    send_missing(s, 5)

    def counted():
        r = requests.get(s.metrics_url, auth=("prom", "s3cret"), timeout=5)
        return r.status_code == 200 and sample_value(r.text, MISSING) == 5

    wait_for(counted, what="5 requests counted with credentials")
    assert requests.get(s.metrics_url, auth=("grafana", "other"), timeout=5).status_code == 200

    for auth in (None, ("prom", "wrong"), ("nobody", "s3cret"), ("grafana", "s3cret"), ("prom", "")):
        r = requests.get(s.metrics_url, auth=auth, timeout=5)
        assert r.status_code == 401, auth
        assert r.headers["WWW-Authenticate"] == 'Basic realm="gpx"'
        assert "gunicorn" not in r.text
    r = requests.get(s.metrics_url, headers={"Authorization": "Basic !!!notbase64"}, timeout=5)
    assert r.status_code == 401
    r = requests.get(s.metrics_url.replace("/metrics", "/elsewhere"), timeout=5)
    assert r.status_code == 401  # unauthenticated clients learn nothing of the paths
    r = requests.get(s.metrics_url.replace("/metrics", "/healthz"), timeout=5)
    assert (r.status_code, r.text) == (200, "ok\n")
    # Probes carry no credentials (the master decides readiness once a cycle).
    wait_for(lambda: requests.get(s.metrics_url.replace("/metrics", "/readyz"), timeout=5).text
             == "ok: 0 of 1 workers busy, 0 connections waiting\n", 5, what="/readyz ok without credentials")


# -- bad options ---------------------------------------------------------------
def start_fails(s: Server) -> list[str]:
    assert s.run_to_exit() != 0
    return lines_with(s, "gpx: invalid")


def test_bad_security_options(build, server_factory, tmp_path, pki):
    missing = tmp_path / "missing.pem"
    s = server_factory(build, "--gpx-ssl-certfile", str(missing), "--gpx-ssl-keyfile", str(pki / "server.key"))
    assert start_fails(s) == [
        f'gpx: invalid gpx-ssl-certfile / PROMETHEUS_SSL_CERTFILE "{missing}" (from the option): expected a readable '
        "PEM file with the server's certificate (chain) (cannot open it: No such file or directory)"]

    s = server_factory(build, env={"PROMETHEUS_SSL_CERTFILE": str(pki / "server.pem"),
                                   "PROMETHEUS_SSL_KEYFILE": str(pki / "client_ca.key")})
    assert start_fails(s) == [
        f'gpx: invalid gpx-ssl-keyfile / PROMETHEUS_SSL_KEYFILE "{pki / "client_ca.key"}" (from the environment): '
        "expected a readable PEM file with the certificate's unencrypted private key (The certificate and the given "
        "key do not match.)"]

    s = server_factory(build, "--gpx-ssl-certfile", str(pki / "server.key"), "--gpx-ssl-keyfile",
                       str(pki / "server.key"))
    [line] = start_fails(s)
    assert line.startswith(f'gpx: invalid gpx-ssl-certfile / PROMETHEUS_SSL_CERTFILE "{pki / "server.key"}" '
                           "(from the option): expected a readable PEM file with the server's certificate (chain) (")

    s = server_factory(build, "--gpx-ssl-keyfile", str(pki / "server.key"))
    assert start_fails(s) == [
        'gpx: invalid gpx-ssl-certfile / PROMETHEUS_SSL_CERTFILE "" (from the default): expected the PEM certificate '
        "of gpx-ssl-keyfile (both or neither)"]

    plain = tmp_path / "plain.htpasswd"
    subprocess.run(["htpasswd", "-cbp", str(plain), "prom", "s3cret"], check=True, capture_output=True)
    s = server_factory(build, "--gpx-basic-auth-file", str(plain))
    assert start_fails(s) == [
        f'gpx: invalid gpx-basic-auth-file / PROMETHEUS_BASIC_AUTH_FILE "{plain}" (from the option): expected a '
        "readable htpasswd file of user:bcrypt-hash lines (htpasswd -B): line 1: not a hash (plain text or crypt DES) "
        "where a bcrypt hash ($2y$, $2b$ or $2a$, htpasswd -B) belongs"]

    md5 = tmp_path / "md5.htpasswd"
    subprocess.run(["htpasswd", "-cbm", str(md5), "prom", "s3cret"], check=True, capture_output=True)
    s = server_factory(build, env={"PROMETHEUS_BASIC_AUTH_FILE": str(md5)})
    assert start_fails(s) == [
        f'gpx: invalid gpx-basic-auth-file / PROMETHEUS_BASIC_AUTH_FILE "{md5}" (from the environment): expected a '
        "readable htpasswd file of user:bcrypt-hash lines (htpasswd -B): line 1: an Apache MD5 hash (htpasswd -m) "
        "where a bcrypt hash ($2y$, $2b$ or $2a$, htpasswd -B) belongs"]
