"""Every variable gunicorn-prometheus-exporter 0.2.4 reads works under gpx,
on both builds: REDIS_TTL_SECONDS, REDIS_TTL_DISABLED,
PROMETHEUS_SSL_CLIENT_CAPATH and PROMETHEUS_SSL_CLIENT_AUTH_REQUIRED, each
beside its gpx-* option, validated like the others.

- REDIS_TTL_SECONDS sets gpx-redis-ttl unless the option or GPX_REDIS_TTL
  does; REDIS_TTL_DISABLED=true makes the keys live for ever (no EX, no trim
  of the index) and says so when a TTL was also given.
- PROMETHEUS_SSL_CLIENT_CAPATH is a directory of CA files (c_rehash's links
  followed, other files skipped), beside or instead of the CA file.
- PROMETHEUS_SSL_CLIENT_AUTH_REQUIRED: unset, a client certificate is
  required once CAs are given (gpx's safer default); false checks one only
  when offered (the exporter's default); true without CAs is refused.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import requests
from test_endpoint import start_fails, start_secured
from test_redis import by_label, fleet, index, key, make, settle, wait_fleet, wait_storage_up

from conftest import Server, lines_with, start, wait_for

TLS_VARIABLES = ("PROMETHEUS_SSL_CERTFILE", "PROMETHEUS_SSL_KEYFILE", "PROMETHEUS_SSL_CLIENT_CAFILE",
                 "PROMETHEUS_SSL_CLIENT_CAPATH", "PROMETHEUS_SSL_CLIENT_AUTH_REQUIRED")


# -- Redis expiry ------------------------------------------------------------------
def test_redis_ttl_seconds_and_its_precedence(build, redis_factory, server_factory):
    r = redis_factory()
    s = start(make(server_factory, build, "--processes", "1", *r.gpx_args("short"),
                   env={"REDIS_TTL_SECONDS": "300"}), 1)
    wait_storage_up(s, 1)
    assert lines_with(s, "every 1 s (expires after 300 s), no files")
    wait_for(lambda: 0 < r.ttl(key("short")) <= 300, 5, what="the key expiring within 300 s")

    # GPX_REDIS_TTL, gpx's own variable, wins over the exporter's.
    s2 = start(make(server_factory, build, "--processes", "1", *r.gpx_args("both"),
                    env={"REDIS_TTL_SECONDS": "300", "GPX_REDIS_TTL": "900"}), 1)
    wait_storage_up(s2, 1)
    assert lines_with(s2, "(expires after 900 s)")
    wait_for(lambda: 300 < r.ttl(key("both")) <= 900, 5, what="the key expiring within 900 s")

    # ... and the option wins over both.
    s3 = start(make(server_factory, build, "--processes", "1", *r.gpx_args("option"), "--gpx-redis-ttl", "600",
                    env={"REDIS_TTL_SECONDS": "300", "GPX_REDIS_TTL": "900"}), 1)
    wait_storage_up(s3, 1)
    assert lines_with(s3, "(expires after 600 s)")
    wait_for(lambda: 300 < r.ttl(key("option")) <= 600, 5, what="the key expiring within 600 s")


def test_redis_ttl_disabled_keeps_keys_and_index_entries(build, redis_factory, server_factory):
    r = redis_factory()
    s = start(make(server_factory, build, "--processes", "1", *r.gpx_args("forever"),
                   env={"REDIS_TTL_DISABLED": "true", "REDIS_TTL_SECONDS": "300"}), 1)
    wait_storage_up(s, 1)
    assert lines_with(s, "every 1 s (never expires), no files")
    assert lines_with(s, "gpx: REDIS_TTL_DISABLED = true: keys never expire, REDIS_TTL_SECONDS = 300 is not used")
    m = settle(s)
    wait_fleet(s, {"forever": by_label(m)})
    assert r.ttl(key("forever")) == -1  # no expiry at all

    # An instance that published long ago stays in the index and the fleet
    # view: nothing is trimmed when nothing expires.
    assert r.cli("COPY", key("forever"), key("ancient")) == "1"
    assert r.cli("ZADD", index(), "1", "ancient") == "1"
    wait_for(lambda: by_label(fleet(s), "ancient") == by_label(m), 5, what="the ancient instance in the fleet view")
    # Later publishes (the index scores their time) leave it where it is.
    score = int(r.cli("ZSCORE", index(), "forever"))
    wait_for(lambda: int(r.cli("ZSCORE", index(), "forever")) >= score + 2, 5, what="two more publishes")
    assert "ancient" in r.zrange(index()) and r.ttl(key("forever")) == -1

    # With a TTL the stale entry is trimmed at the next publish, and the
    # fleet view no longer lists it.
    s2 = start(make(server_factory, build, "--processes", "1", *r.gpx_args("mortal")), 1)
    wait_storage_up(s2, 1)
    wait_for(lambda: "ancient" not in r.zrange(index()), 5, what="the ancient entry trimmed")
    assert by_label(fleet(s2), "ancient") == by_label(fleet(s2), "no such instance")


def test_redis_ttl_disabled_by_the_option(build, redis_factory, server_factory):
    r = redis_factory()
    s = start(make(server_factory, build, "--processes", "1", *r.gpx_args("opt"), "--gpx-redis-ttl-disabled",
                   "yes", "--gpx-redis-ttl", "600"), 1)
    wait_storage_up(s, 1)
    assert lines_with(s, "gpx: gpx-redis-ttl-disabled = true: keys never expire, gpx-redis-ttl = 600 is not used")
    wait_for(lambda: r.ttl(key("opt")) == -1, 5, what="a key without expiry")


def test_bad_expiry_values_stop_start_up(build, server_factory):
    cases = [
        ({"REDIS_TTL_SECONDS": "5m"}, (),
         'gpx: invalid gpx-redis-ttl / REDIS_TTL_SECONDS "5m" (from the environment): expected a number of seconds '
         'above gpx-redis-interval (5), at most 31536000'),
        ({"REDIS_TTL_DISABLED": "maybe"}, (),
         'gpx: invalid gpx-redis-ttl-disabled / REDIS_TTL_DISABLED "maybe" (from the environment): expected '
         'true/false, 1/0, yes/no or on/off'),
        ({}, ("--gpx-redis-ttl-disabled", "2"),
         'gpx: invalid gpx-redis-ttl-disabled / REDIS_TTL_DISABLED "2" (from the option): expected true/false, 1/0, '
         'yes/no or on/off'),
    ]
    for env, args, line in cases:
        s = make(server_factory, build, *args, env=env)
        assert start_fails(s) == [line]
        assert "spawned uWSGI worker" not in s.output()


# -- client certificates -------------------------------------------------------------
def tls_server(server_factory, build, pki, env) -> Server:
    """A server with TLS from the environment, and no other TLS variable
    than `env`'s."""
    s = server_factory(build)
    for var in TLS_VARIABLES:
        s.env.pop(var, None)
    s.env.update({"PROMETHEUS_SSL_CERTFILE": str(pki / "server.pem"), "PROMETHEUS_SSL_KEYFILE": str(pki / "server.key"),
                  **env})
    return start_secured(s, "https", verify=str(pki / "server.pem"))


def statuses(s: Server, pki: Path) -> dict:
    """The status of a scrape with no certificate, with the CA's client's
    and with the other CA's client's (None: refused in the handshake)."""
    url = f"https://127.0.0.1:{s.metrics_port}/metrics"
    out = {}
    for name, cert in (("none", None), ("ca", "client_ca"), ("other", "client_other_ca")):
        try:
            r = requests.get(url, verify=str(pki / "server.pem"), timeout=5,
                             cert=(str(pki / f"{cert}.pem"), str(pki / f"{cert}.key")) if cert else None)
            out[name] = r.status_code
        except requests.exceptions.SSLError:
            out[name] = None
    return out


def ca_directory(tmp_path: Path, pki: Path, *cas: str) -> Path:
    """A directory as c_rehash leaves it: <hash>.0 links to the CA files
    (kept elsewhere), beside files that are no certificates."""
    store = tmp_path / "ca-store"
    store.mkdir(exist_ok=True)
    d = tmp_path / "ca-dir"
    d.mkdir()
    for ca in cas:
        (store / f"{ca}.pem").write_bytes((pki / f"{ca}.pem").read_bytes())
        h = subprocess.run(["openssl", "x509", "-hash", "-noout", "-in", str(pki / f"{ca}.pem")], check=True,
                           capture_output=True, text=True).stdout.strip()
        os.symlink(store / f"{ca}.pem", d / f"{h}.0")
    (d / "README").write_text("CAs of the scrapers\n")
    (d / ".hidden.pem").write_text("-----BEGIN CERTIFICATE-----\nnot one\n-----END CERTIFICATE-----\n")
    os.symlink(store / f"{cas[0]}.pem", d / "again.pem")  # the same file twice: read once
    return d


def test_client_ca_directory(build, server_factory, pki, tmp_path):
    d = ca_directory(tmp_path, pki, "ca")
    s = tls_server(server_factory, build, pki, {"PROMETHEUS_SSL_CLIENT_CAPATH": str(d)})
    assert lines_with(s, f"https://127.0.0.1:{s.metrics_port}/metrics (client certificates)")
    got = statuses(s, pki)
    assert (got["none"], got["ca"], got["other"] in (403, None)) == (403, 200, True), got

    # With the CA file too, both CAs are trusted.
    s2 = tls_server(server_factory, build, pki, {"PROMETHEUS_SSL_CLIENT_CAPATH": str(d),
                                                 "PROMETHEUS_SSL_CLIENT_CAFILE": str(pki / "other_ca.pem")})
    assert statuses(s2, pki) == {"none": 403, "ca": 200, "other": 200}


def test_client_ca_directory_errors(build, server_factory, pki, tmp_path):
    cert = ("--gpx-ssl-certfile", str(pki / "server.pem"), "--gpx-ssl-keyfile", str(pki / "server.key"))
    expected = "expected a readable directory of PEM files with the CA certificates that sign client certificates"
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("nothing here\n")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "a.pem").write_bytes((pki / "ca.pem").read_bytes())
    (broken / "b.pem").write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    missing = tmp_path / "missing"
    for path, why, source in ((empty, "no PEM certificate in it", "option"),
                              (broken, "b.pem: ", "option"),
                              (missing, "cannot read it: No such file or directory", "environment")):
        if source == "option":
            s = server_factory(build, *cert, "--gpx-ssl-client-capath", str(path))
        else:
            s = server_factory(build, *cert, env={"PROMETHEUS_SSL_CLIENT_CAPATH": str(path)})
        [line] = start_fails(s)
        assert line.startswith(f'gpx: invalid gpx-ssl-client-capath / PROMETHEUS_SSL_CLIENT_CAPATH "{path}" '
                               f"(from the {source}): {expected} ({why}"), line

    s = server_factory(build, "--gpx-ssl-client-capath", str(empty))
    assert start_fails(s) == [
        'gpx: invalid gpx-ssl-certfile / PROMETHEUS_SSL_CERTFILE "" (from the default): expected a PEM certificate: '
        "gpx-ssl-client-capath needs TLS (gpx-ssl-certfile and gpx-ssl-keyfile)"]


def test_client_auth_required_false_checks_only_offered_certificates(build, server_factory, pki):
    s = tls_server(server_factory, build, pki, {"PROMETHEUS_SSL_CLIENT_CAFILE": str(pki / "ca.pem"),
                                                "PROMETHEUS_SSL_CLIENT_AUTH_REQUIRED": "false"})
    assert lines_with(s, "/metrics (client certificates when offered)")
    got = statuses(s, pki)
    assert (got["none"], got["ca"], got["other"] in (403, None)) == (200, 200, True), got
    r = requests.get(f"https://127.0.0.1:{s.metrics_port}/metrics", verify=str(pki / "server.pem"), timeout=5,
                     cert=(str(pki / "client_other_ca.pem"), str(pki / "client_other_ca.key")))
    assert (r.status_code, r.text) == (403, "Forbidden: the client certificate does not verify\n")

    # Explicitly true, by the option: as when unset.
    s2 = server_factory(build, "--gpx-ssl-certfile", str(pki / "server.pem"), "--gpx-ssl-keyfile",
                        str(pki / "server.key"), "--gpx-ssl-client-cafile", str(pki / "ca.pem"),
                        "--gpx-ssl-client-auth-required", "true",
                        env={"PROMETHEUS_SSL_CLIENT_AUTH_REQUIRED": "false"})
    start_secured(s2, "https", verify=str(pki / "server.pem"))
    got = statuses(s2, pki)
    assert (got["none"], got["ca"], got["other"] in (403, None)) == (403, 200, True), got


@pytest.mark.parametrize("value", ["true", "maybe"])
def test_bad_client_auth_required_stops_start_up(build, server_factory, pki, value):
    s = server_factory(build, "--gpx-ssl-certfile", str(pki / "server.pem"), "--gpx-ssl-keyfile",
                       str(pki / "server.key"), env={"PROMETHEUS_SSL_CLIENT_AUTH_REQUIRED": value})
    expected = ("false, or client CAs to check certificates against (gpx-ssl-client-cafile or gpx-ssl-client-capath)"
                if value == "true" else "true/false, 1/0, yes/no or on/off")
    assert start_fails(s) == [
        f'gpx: invalid gpx-ssl-client-auth-required / PROMETHEUS_SSL_CLIENT_AUTH_REQUIRED "{value}" '
        f"(from the environment): expected {expected}"]
    assert "spawned uWSGI worker" not in s.output()


def test_client_auth_required_false_without_cas_is_the_exporters_default(build, server_factory):
    s = server_factory(build, env={"PROMETHEUS_SSL_CLIENT_AUTH_REQUIRED": "false"}).start()
    assert requests.get(s.metrics_url, timeout=5).status_code == 200
