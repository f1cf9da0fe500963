"""What gpx's build decides, on both uWSGI builds: the version (one place,
VERSION), and TLS and basic auth left out of a build without GnuTLS or
libcrypt (GPX_TLS=no, GPX_BCRYPT=no), whose options then stop start-up with
one line while everything else works.

The variants are built here, into temporary directories, by the same uwsgi
binaries as build/system and build/pypi. Counted requests go to /missing
(404), which the readiness probe never sends.
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess

import pytest
import requests

from conftest import BUILDS, ROOT, Server, lines_with, send_missing, wait_for

VERSION = (ROOT / "VERSION").read_text().strip()
MISSING = 'gunicorn_requests_total{method="GET",status="404"}'


def build_plugin(build, dest, **env):
    """Runs `<uwsgi> --build-plugin ROOT` in dest; returns (returncode, output)."""
    dest.mkdir(parents=True, exist_ok=True)
    uwsgi = "uwsgi" if build.name == "system" else build.uwsgi
    out = subprocess.run([uwsgi, "--build-plugin", str(ROOT)], cwd=dest, capture_output=True, text=True,
                         env={**os.environ, "PYTHON": "python3", **env})
    return out.returncode, out.stdout + out.stderr


def needed_libraries(path) -> list[str]:
    out = subprocess.run(["readelf", "-d", str(path)], capture_output=True, text=True, check=True).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)


VARIANTS = {
    # name: (environment, the build's summary line, libraries it must not link)
    "no-tls": ({"GPX_TLS": "no", "GPX_BCRYPT": "no"}, "TLS no, basic auth (bcrypt) no", ("libgnutls", "libcrypt")),
    "no-bcrypt": ({"GPX_BCRYPT": "no"}, "TLS yes, basic auth (bcrypt) no", ("libcrypt",)),
}


@pytest.fixture(scope="module")
def variants(tmp_path_factory):
    """{(build name, variant): Build of that variant}, built on first use."""
    root = tmp_path_factory.mktemp("variants")
    built = {}

    def get(build, variant):
        key = (build.name, variant)
        if key not in built:
            env, summary, _ = VARIANTS[variant]
            dest = root / f"{build.name}-{variant}"
            rc, output = build_plugin(build, dest, **env)
            assert rc == 0, output
            assert f"gpx {VERSION}, gpx_plugin.so for the uwsgi binary that builds it: {summary}" in output
            built[key] = dataclasses.replace(build, plugin=str(dest / "gpx_plugin.so"))
        return built[key]

    return get


def refused(s: Server) -> list[str]:
    """Runs s to its exit; returns its gpx lines, checking that no worker was
    spawned."""
    assert s.run_to_exit() == 1
    assert "spawned uWSGI worker" not in s.output()
    return lines_with(s, "gpx: ")


# -- the version -----------------------------------------------------------------
def test_one_version(build, server_factory):
    """VERSION is the one place: the build passes it to gpx's build_info, the
    Debian changelog and CHANGELOG.md carry the same."""
    assert re.fullmatch(r"\d+\.\d+\.\d+", VERSION)
    s = server_factory(build).start()
    info = s.scrape().series("gunicorn_exporter_build_info")
    assert [dict(labels)["version"] for labels in info] == [VERSION]
    changelog = (ROOT / "debian" / "changelog").read_text().splitlines()[0]
    assert re.match(rf"^gpx \({re.escape(VERSION)}-\d+\) ", changelog), changelog
    assert f"\n## {VERSION} (" in (ROOT / "CHANGELOG.md").read_text()


def test_bad_feature_choice_stops_the_build(tmp_path):
    rc, output = build_plugin(BUILDS["system"], tmp_path, GPX_TLS="maybe")
    assert rc != 0
    assert "gpx: GPX_TLS=maybe: expected auto, yes or no" in output
    rc, output = build_plugin(BUILDS["system"], tmp_path, GPX_TLS="no", GPX_BCRYPT="yes")
    assert rc != 0
    assert "gpx: GPX_BCRYPT=yes but basic auth needs GnuTLS too, and GPX_TLS=no leaves it out" in output
    assert not (tmp_path / "gpx_plugin.so").exists()


# -- a build without TLS or bcrypt -------------------------------------------------
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_left_out_libraries_are_not_linked(build, variants, variant):
    needed = needed_libraries(variants(build, variant).plugin)
    assert "libmicrohttpd.so.12" in needed and "libhiredis.so.0.14" in needed
    for lib in VARIANTS[variant][2]:
        assert not [n for n in needed if n.startswith(lib)], needed
    full = needed_libraries(build.plugin)
    assert [n for n in full if n.startswith("libgnutls")] and [n for n in full if n.startswith("libcrypt")]


def test_without_tls_the_options_are_refused(build, variants, server_factory, pki, users):
    b = variants(build, "no-tls")
    s = server_factory(b, "--gpx-ssl-certfile", str(pki / "server.pem"), "--gpx-ssl-keyfile", str(pki / "server.key"))
    assert refused(s) == [
        f'gpx: gpx-ssl-certfile / PROMETHEUS_SSL_CERTFILE "{pki / "server.pem"}" (from the option) needs TLS, which '
        "this gpx was built without: rebuild it with GnuTLS's headers (Debian: libgnutls28-dev), or leave the option "
        "unset"]

    s = server_factory(b, env={"PROMETHEUS_BASIC_AUTH_FILE": str(users)})
    assert refused(s) == [
        f'gpx: gpx-basic-auth-file / PROMETHEUS_BASIC_AUTH_FILE "{users}" (from the environment) needs basic auth '
        "(bcrypt), which this gpx was built without: rebuild it with libcrypt's and GnuTLS's headers (Debian: "
        "libcrypt-dev, libgnutls28-dev), or leave the option unset"]

    # The TLS versions have nothing to bound.
    s = server_factory(b, "--gpx-ssl-min-version", "TLS13")
    assert s.run_to_exit() != 0
    assert lines_with(s, "gpx: invalid") == [
        'gpx: invalid gpx-ssl-min-version / PROMETHEUS_SSL_MIN_VERSION "TLS13" (from the option): expected TLS10, '
        "TLS11, TLS12 or TLS13, with TLS (gpx-ssl-certfile)"]


def test_without_tls_the_rest_works(build, variants, server_factory):
    # The headers and the rate limit need no TLS.
    s = server_factory(variants(build, "no-tls"), "--processes", "2", "--gpx-http-headers",
                       "Cache-Control: no-store", "--gpx-rate-limit", "1000").start()
    send_missing(s, 7)
    wait_for(lambda: s.scrape().get("gunicorn_requests_total", method="GET", status="404") == 7,
             what="7 requests counted")
    r = requests.get(s.metrics_url, headers={"Accept-Encoding": "gzip"}, timeout=5)
    assert r.headers.get("Content-Encoding") == "gzip"
    assert (r.headers["Cache-Control"], r.headers["X-Frame-Options"]) == ("no-store", "deny")
    assert MISSING + " 7" in r.text
    info = s.scrape().series("gunicorn_exporter_build_info")
    assert [dict(labels)["version"] for labels in info] == [VERSION]


def test_tls_without_bcrypt(build, variants, server_factory, pki, users):
    """TLS alone: the endpoint serves HTTPS, basic auth is refused."""
    b = variants(build, "no-bcrypt")
    s = server_factory(b, "--gpx-basic-auth-file", str(users))
    assert refused(s) == [
        f'gpx: gpx-basic-auth-file / PROMETHEUS_BASIC_AUTH_FILE "{users}" (from the option) needs basic auth '
        "(bcrypt), which this gpx was built without: rebuild it with libcrypt's and GnuTLS's headers (Debian: "
        "libcrypt-dev, libgnutls28-dev), or leave the option unset"]

    s = server_factory(b, "--gpx-ssl-certfile", str(pki / "server.pem"), "--gpx-ssl-keyfile",
                       str(pki / "server.key"))
    s.start(wait=False)
    url = f"https://127.0.0.1:{s.metrics_port}/metrics"
    verify = str(pki / "server.pem")

    def ready():
        if s.proc.poll() is not None:
            raise AssertionError(f"uwsgi exited with {s.proc.returncode}:\n{s.output()}")
        requests.get(s.url("/"), timeout=2).raise_for_status()
        return requests.get(url, verify=verify, timeout=2).status_code == 200

    wait_for(ready, 30, what="uwsgi with TLS")
    send_missing(s, 3)
    wait_for(lambda: MISSING + " 3" in requests.get(url, verify=verify, timeout=5).text, what="3 requests counted")
