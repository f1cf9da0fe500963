"""The endpoint's operations, on both builds: certificate, key, client CAs
and password file re-read while serving, TLS version bounds, the client
certificate name allow-list, the answers' headers and the per-client rate
limit.

Certificates are made with openssl when the tests run: one CA signs two
server certificates for 127.0.0.1 (gpx-a and gpx-b) and client certificates
with subject alternative names of each kind. Files are replaced as rotation
tools do it: written beside, then renamed over.
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import threading
from pathlib import Path

import pytest
import requests
from test_endpoint import start_fails, start_secured

from conftest import lines_with, openssl, parse_metrics, wait_for

RELOAD_ERRORS = "gunicorn_exporter_endpoint_reload_errors_total"


# -- certificates ----------------------------------------------------------------
def signed(d: Path, name: str, subject: str, san: str | None, ca: str = "ca") -> None:
    """name.key and name.pem, signed by ca, with the SAN extension `san`."""
    args = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.pem",
            "-days", "2", "-subj", subject, "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key"]
    if san:
        args += ["-addext", f"subjectAltName={san}"]
    openssl(*args, cwd=d)


@pytest.fixture(scope="module")
def ops_pki(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("ops_pki")
    for ca in ("ca", "other_ca"):
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{ca}.key", "-out", f"{ca}.pem",
                "-days", "2", "-subj", f"/CN={ca}", cwd=d)
    for name in ("gpx-a", "gpx-b"):
        signed(d, name, f"/CN={name}", "IP:127.0.0.1,DNS:localhost")
    signed(d, "client_uri", "/CN=scraper", "URI:spiffe://example.org/prometheus")
    signed(d, "client_ip", "/CN=scraper", "IP:10.1.2.3")
    signed(d, "client_email", "/CN=scraper", "email:prom@example.org")
    signed(d, "client_dns", "/CN=scraper", "DNS:Scraper.Example.org")
    signed(d, "client_other_dns", "/CN=scraper", "DNS:other.example.org,IP:10.1.2.4")
    signed(d, "client_none", "/CN=10.1.2.3", None)
    signed(d, "client_of_other_ca", "/CN=scraper", "URI:spiffe://example.org/prometheus", ca="other_ca")
    return d


def install(src: Path, dst: Path) -> None:
    """Replaces dst with src's bytes at once (written beside, renamed over)."""
    tmp = dst.with_name(dst.name + ".new")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def served_cn(port: int, cafile: Path) -> str:
    """The CN of the certificate a new connection is served."""
    ctx = ssl.create_default_context(cafile=str(cafile))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
            ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        subject = dict(x[0] for x in tls.getpeercert()["subject"])
    return subject["commonName"]


def handshake(port: int, minimum=None, maximum=None, ciphers=None) -> str:
    """The TLS version a client limited to minimum..maximum gets, or the
    SSLError's reason."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if ciphers:
        ctx.set_ciphers(ciphers)
    if minimum:
        ctx.minimum_version = minimum
    if maximum:
        ctx.maximum_version = maximum
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
                ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            return tls.version()
    except (ssl.SSLError, ConnectionResetError) as e:
        return f"refused: {e}"


def tls_server(build, server_factory, ops_pki: Path, d: Path, *args, **kw):
    """A server on HTTPS from d/live.pem and d/live.key, first gpx-a's (which a test may then replace)."""
    cert, key = d / "live.pem", d / "live.key"
    install(ops_pki / "gpx-a.pem", cert)
    install(ops_pki / "gpx-a.key", key)
    return server_factory(build, "--gpx-ssl-certfile", str(cert), "--gpx-ssl-keyfile", str(key), *args, **kw)


def reload_errors(s, verify, **kw) -> float:
    r = requests.get(f"https://127.0.0.1:{s.metrics_port}/metrics", verify=verify, timeout=5, **kw)
    r.raise_for_status()
    return parse_metrics(r.text).value(RELOAD_ERRORS)


# -- rotation ----------------------------------------------------------------------
def test_certificate_rotation_while_scraping(build, server_factory, ops_pki, tmp_path):
    d = tmp_path
    ca = ops_pki / "ca.pem"
    s = tls_server(build, server_factory, ops_pki, d)
    start_secured(s, "https", verify=str(ca))
    url = f"https://127.0.0.1:{s.metrics_port}/metrics"
    assert served_cn(s.metrics_port, ca) == "gpx-a"

    # A connection kept alive from before the rotation goes on after it.
    kept = requests.Session()
    assert kept.get(url, verify=str(ca), timeout=5).status_code == 200

    stop = threading.Event()
    results: list[int | str] = []

    def scrape_loop():
        while not stop.is_set():
            try:
                # A new connection each time: each is a new handshake.
                results.append(requests.get(url, verify=str(ca), timeout=5,
                                            headers={"Connection": "close"}).status_code)
            except requests.RequestException as e:
                results.append(repr(e))

    scraper = threading.Thread(target=scrape_loop)
    scraper.start()
    try:
        wait_for(lambda: len(results) >= 5, what="scrapes before the rotation")
        # As a rotation tool does it: the certificate, then its key.
        install(ops_pki / "gpx-b.pem", d / "live.pem")
        install(ops_pki / "gpx-b.key", d / "live.key")
        wait_for(lambda: served_cn(s.metrics_port, ca) == "gpx-b", timeout=10, what="the new certificate served")
        before = len(results)
        wait_for(lambda: len(results) >= before + 5, what="scrapes after the rotation")
    finally:
        stop.set()
        scraper.join()
    assert results and all(r == 200 for r in results), [r for r in results if r != 200][:5]
    assert kept.get(url, verify=str(ca), timeout=5).status_code == 200
    assert reload_errors(s, str(ca)) == 0
    assert len(lines_with(s, "gpx: the endpoint's TLS files changed: new connections get the certificate of "
                             f"{d / 'live.pem'}")) == 1


def test_broken_certificate_keeps_the_old_one(build, server_factory, ops_pki, tmp_path):
    d = tmp_path
    ca = ops_pki / "ca.pem"
    s = tls_server(build, server_factory, ops_pki, d)
    start_secured(s, "https", verify=str(ca))

    # Not PEM at all, then a certificate whose key is not the one in place.
    (d / "garbage").write_text("not a certificate\n")
    install(d / "garbage", d / "live.pem")
    wait_for(lambda: reload_errors(s, str(ca)) == 1, what="the broken file counted")
    [line] = lines_with(s, "TLS files changed but do not load")
    assert line == (
        "gpx: the endpoint's TLS files changed but do not load, so new connections keep the previous certificate, "
        f"key and client CAs ({RELOAD_ERRORS}): invalid gpx-ssl-certfile / PROMETHEUS_SSL_CERTFILE "
        f"\"{d / 'live.pem'}\" (from the option): expected a readable PEM file with the server's certificate "
        "(chain) (No certificate was found.)")
    assert served_cn(s.metrics_port, ca) == "gpx-a"

    install(ops_pki / "gpx-b.pem", d / "live.pem")
    wait_for(lambda: reload_errors(s, str(ca)) == 2, what="the mismatched key counted")
    assert lines_with(s, "TLS files changed but do not load")[1].endswith(
        "expected a readable PEM file with the certificate's unencrypted private key (The certificate and the "
        "given key do not match.)")
    assert served_cn(s.metrics_port, ca) == "gpx-a"

    # The key follows: the pair loads, and each broken state was said once.
    install(ops_pki / "gpx-b.key", d / "live.key")
    wait_for(lambda: served_cn(s.metrics_port, ca) == "gpx-b", timeout=10, what="the fixed pair served")
    assert reload_errors(s, str(ca)) == 2
    assert len(lines_with(s, "TLS files changed but do not load")) == 2


def test_client_ca_and_password_file_reload(build, server_factory, ops_pki, users, tmp_path):
    d = tmp_path
    install(ops_pki / "ca.pem", d / "clients.pem")
    shutil.copyfile(users, d / "users")
    ca = str(ops_pki / "ca.pem")
    ours = (str(ops_pki / "client_uri.pem"), str(ops_pki / "client_uri.key"))
    theirs = (str(ops_pki / "client_of_other_ca.pem"), str(ops_pki / "client_of_other_ca.key"))
    s = tls_server(build, server_factory, ops_pki, d, "--gpx-ssl-client-cafile", str(d / "clients.pem"),
                   "--gpx-basic-auth-file", str(d / "users"))
    start_secured(s, "https", verify=ca, cert=ours)
    url = f"https://127.0.0.1:{s.metrics_port}/metrics"

    def status(cert, auth=("prom", "s3cret")):
        try:
            return requests.get(url, verify=ca, cert=cert, auth=auth, timeout=5).status_code
        except requests.exceptions.SSLError:
            return "handshake refused"

    assert (status(ours), status(theirs)) == (200, 403)

    # The other CA replaces the first: its clients get in, the first's do not.
    install(ops_pki / "other_ca.pem", d / "clients.pem")
    wait_for(lambda: status(theirs) == 200, timeout=10, what="the new client CA trusted")
    assert status(ours) == 403

    # A new password file: a new user, the old one gone.
    new_users = d / "users.next"
    subprocess.run(["htpasswd", "-cbB", "-C", "5", str(new_users), "vmagent", "n3w"], check=True,
                   capture_output=True)
    os.replace(new_users, d / "users")
    wait_for(lambda: status(theirs, ("vmagent", "n3w")) == 200, timeout=10, what="the new user accepted")
    assert status(theirs) == 401
    assert lines_with(s, "gpx: gpx-basic-auth-file changed: scrapes are checked against its 1 user(s) now")

    # A plain-text password file is refused; the users in place stay.
    plain = d / "users.plain"
    subprocess.run(["htpasswd", "-cbp", str(plain), "prom", "s3cret"], check=True, capture_output=True)
    os.replace(plain, d / "users")
    wait_for(lambda: reload_errors(s, ca, cert=theirs, auth=("vmagent", "n3w")) == 1, what="the bad file counted")
    assert lines_with(s, "gpx: gpx-basic-auth-file / PROMETHEUS_BASIC_AUTH_FILE") == [
        f"gpx: gpx-basic-auth-file / PROMETHEUS_BASIC_AUTH_FILE \"{d / 'users'}\" changed but does not load, so "
        f"scrapes are checked against the previous users ({RELOAD_ERRORS}): line 1: not a hash (plain text or "
        "crypt DES) where a bcrypt hash ($2y$, $2b$ or $2a$, htpasswd -B) belongs"]
    assert (status(theirs, ("vmagent", "n3w")), status(theirs)) == (200, 401)


def test_client_ca_directory_reload(build, server_factory, ops_pki, tmp_path):
    d = tmp_path
    (d / "cas").mkdir()
    install(ops_pki / "ca.pem", d / "cas" / "ca.pem")
    ca = str(ops_pki / "ca.pem")
    ours = (str(ops_pki / "client_uri.pem"), str(ops_pki / "client_uri.key"))
    theirs = (str(ops_pki / "client_of_other_ca.pem"), str(ops_pki / "client_of_other_ca.key"))
    s = tls_server(build, server_factory, ops_pki, d, "--gpx-ssl-client-capath", str(d / "cas"))
    start_secured(s, "https", verify=ca, cert=ours)
    url = f"https://127.0.0.1:{s.metrics_port}/metrics"

    def status(cert):
        return requests.get(url, verify=ca, cert=cert, timeout=5).status_code

    assert (status(ours), status(theirs)) == (200, 403)
    # A CA file added to the directory is trusted beside the first.
    install(ops_pki / "other_ca.pem", d / "cas" / "other_ca.pem")
    wait_for(lambda: status(theirs) == 200, timeout=10, what="the added CA trusted")
    assert status(ours) == 200
    # A directory left without certificates does not load: both stay trusted.
    for f in (d / "cas").iterdir():
        f.unlink()
    wait_for(lambda: reload_errors(s, ca, cert=ours) == 1, what="the empty directory counted")
    assert (status(ours), status(theirs)) == (200, 200)
    assert lines_with(s, "TLS files changed but do not load")[0].endswith(
        "expected a readable directory of PEM files with the CA certificates that sign client certificates (no PEM "
        "certificate in it)")


# -- TLS versions ----------------------------------------------------------------------
TLS11 = ssl.TLSVersion.TLSv1_1
TLS12 = ssl.TLSVersion.TLSv1_2
TLS13 = ssl.TLSVersion.TLSv1_3
# OpenSSL 3 refuses TLS 1.1 at its default security level: the client lowers it.
OLD_CIPHERS = "DEFAULT:@SECLEVEL=0"


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
@pytest.mark.parametrize("bounds, answers", [
    ((), {"1.1": "refused", "1.2": "TLSv1.2", "1.3": "TLSv1.3"}),
    (("--gpx-ssl-min-version", "TLS13"), {"1.1": "refused", "1.2": "refused", "1.3": "TLSv1.3"}),
    (("--gpx-ssl-min-version", "TLS11", "--gpx-ssl-max-version", "TLS12"),
     {"1.1": "TLSv1.1", "1.2": "TLSv1.2", "1.3": "refused"}),
], ids=["default", "min13", "min11-max12"])
def test_tls_versions(build, server_factory, ops_pki, tmp_path, bounds, answers):
    s = tls_server(build, server_factory, ops_pki, tmp_path, *bounds)
    start_secured(s, "https", verify=str(ops_pki / "ca.pem"))
    got = {
        "1.1": handshake(s.metrics_port, TLS11, TLS11, OLD_CIPHERS),
        "1.2": handshake(s.metrics_port, TLS12, TLS12),
        "1.3": handshake(s.metrics_port, TLS13, TLS13),
    }
    assert {k: "refused" if v.startswith("refused") else v for k, v in got.items()} == answers, got


# -- client certificate names ---------------------------------------------------------
def test_allowed_client_names(build, server_factory, ops_pki, tmp_path):
    ca = str(ops_pki / "ca.pem")
    s = tls_server(build, server_factory, ops_pki, tmp_path, "--gpx-ssl-client-cafile", ca,
                   "--gpx-ssl-client-allowed-sans",
                   "spiffe://example.org/prometheus,10.1.2.3,prom@example.org,scraper.example.org")
    start_secured(s, "https", verify=ca)
    url = f"https://127.0.0.1:{s.metrics_port}/metrics"

    def get(name):
        return requests.get(url, verify=ca, cert=(str(ops_pki / f"{name}.pem"), str(ops_pki / f"{name}.key")),
                            timeout=5)

    for name in ("client_uri", "client_ip", "client_email", "client_dns"):
        r = get(name)
        assert r.status_code == 200 and "gunicorn_requests_total" in r.text, name
    # Another name, no SAN at all (a CN equal to an allowed name is not a SAN).
    for name in ("client_other_dns", "client_none"):
        r = get(name)
        assert (r.status_code, r.text) == (403, "Forbidden: the client certificate carries none of the allowed "
                                                 "names\n"), name
    r = get("client_of_other_ca")
    assert (r.status_code, r.text) == (403, "Forbidden: the client certificate does not verify\n")


# -- headers ------------------------------------------------------------------------
def test_security_headers(build, server_factory, ops_pki, users, tmp_path):
    s = server_factory(build, "--gpx-basic-auth-file", str(users))
    start_secured(s, "http")
    base = f"http://127.0.0.1:{s.metrics_port}"
    for path, auth, code in (("/metrics", ("prom", "s3cret"), 200), ("/metrics", None, 401),
                             ("/healthz", None, 200), ("/nothing", ("prom", "s3cret"), 404)):
        r = requests.get(base + path, auth=auth, timeout=5)
        assert r.status_code == code
        assert (r.headers["X-Content-Type-Options"], r.headers["X-Frame-Options"]) == ("nosniff", "deny"), path
        assert "Strict-Transport-Security" not in r.headers
    s.stop()

    s = tls_server(build, server_factory, ops_pki, tmp_path, "--gpx-http-headers",
                   "X-Frame-Options: sameorigin|Cache-Control: no-store|X-Content-Type-Options:")
    start_secured(s, "https", verify=str(ops_pki / "ca.pem"))
    for path in ("/metrics", "/healthz", "/nothing"):
        r = requests.get(f"https://127.0.0.1:{s.metrics_port}{path}", verify=str(ops_pki / "ca.pem"), timeout=5)
        assert r.headers["X-Frame-Options"] == "sameorigin"
        assert r.headers["Cache-Control"] == "no-store"
        assert r.headers["Strict-Transport-Security"] == "max-age=31536000"
        assert "X-Content-Type-Options" not in r.headers


# -- rate limit -----------------------------------------------------------------------
def test_rate_limit(build, server_factory):
    s = server_factory(build, "--gpx-rate-limit", "2", "--gpx-rate-limit-burst", "5")
    s.start(wait=False)
    wait_for(lambda: requests.get(s.url("/"), timeout=2).ok and
             requests.get(f"http://127.0.0.1:{s.metrics_port}/healthz", timeout=2).ok, what="uwsgi")
    codes = [requests.get(s.metrics_url, timeout=5).status_code for _ in range(12)]
    # The burst, perhaps a token or two earned meanwhile, then 429.
    assert codes[:5] == [200] * 5 and codes[-1] == 429, codes
    r = requests.get(s.metrics_url, timeout=5)
    assert (r.status_code, r.headers["Retry-After"], r.text) == (429, "1", "Too Many Requests: past gpx-rate-limit\n")
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    # Probes are never limited.
    assert requests.get(f"http://127.0.0.1:{s.metrics_port}/healthz", timeout=5).status_code == 200
    # The bucket fills again: 2 per second.
    wait_for(lambda: requests.get(s.metrics_url, timeout=5).status_code == 200, interval=0.2, what="a token again")
    assert len(lines_with(s, "past gpx-rate-limit (2/s, burst 5) and gets 429 (said once)")) == 1


# -- bad options ------------------------------------------------------------------------
def test_bad_operation_options(build, server_factory, ops_pki):
    tls = ("--gpx-ssl-certfile", str(ops_pki / "gpx-a.pem"), "--gpx-ssl-keyfile", str(ops_pki / "gpx-a.key"))
    cases = [
        ((*tls, "--gpx-ssl-min-version", "TLS1.2"),
         'gpx: invalid gpx-ssl-min-version / PROMETHEUS_SSL_MIN_VERSION "TLS1.2" (from the option): expected '
         "TLS10, TLS11, TLS12 or TLS13, with TLS (gpx-ssl-certfile)"),
        ((*tls, "--gpx-ssl-max-version", "TLS11"),
         'gpx: invalid gpx-ssl-max-version / PROMETHEUS_SSL_MAX_VERSION "TLS11" (from the option): expected '
         "TLS10, TLS11, TLS12 or TLS13, at least gpx-ssl-min-version (TLS12), with TLS (gpx-ssl-certfile)"),
        ((*tls, "--gpx-ssl-client-allowed-sans", "prometheus"),
         'gpx: invalid gpx-ssl-client-allowed-sans / PROMETHEUS_SSL_CLIENT_ALLOWED_SANS "prometheus" (from the '
         "option): expected a comma-separated list of DNS names, e-mail addresses, URIs or IP addresses without "
         "spaces, with client CAs (gpx-ssl-client-cafile or gpx-ssl-client-capath)"),
        (("--gpx-http-headers", "Server: gpx"),
         'gpx: invalid gpx-http-headers / PROMETHEUS_HTTP_HEADERS "Server: gpx" (from the option): expected Name: '
         "value entries separated by '|' (Server is not a header gpx-http-headers sets (Cache-Control, "
         "Content-Security-Policy, Cross-Origin-Opener-Policy, Cross-Origin-Resource-Policy, Permissions-Policy, "
         "Referrer-Policy, Strict-Transport-Security, X-Content-Type-Options, X-Frame-Options, X-XSS-Protection))"),
        (("--gpx-rate-limit-burst", "10"),
         'gpx: invalid gpx-rate-limit-burst / PROMETHEUS_RATE_LIMIT_BURST "10" (from the option): expected a '
         "number of requests from 1 to 1000000, with gpx-rate-limit above 0"),
    ]
    for args, line in cases:
        s = server_factory(build, *args)
        assert start_fails(s) == [line]
    s = server_factory(build, env={"PROMETHEUS_SSL_MIN_VERSION": "TLS13"})
    assert start_fails(s) == [
        'gpx: invalid gpx-ssl-min-version / PROMETHEUS_SSL_MIN_VERSION "TLS13" (from the environment): expected '
        "TLS10, TLS11, TLS12 or TLS13, with TLS (gpx-ssl-certfile)"]
