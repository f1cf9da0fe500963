"""Small things a hostile client (or a broken neighbour) could use, on both
builds.

- A NUL in the request target, raw or as %00, is refused with 400: it never
  reaches a page (/metrics%00anything is not /metrics).
- With gpx-debug, refused and answered requests are logged with their
  target escaped: no request can write a line of its own into the log.
- The connection limit is exactly the documented one (1024, or half the
  open-file limit when that is lower), and docs/endpoint.md and
  docs/options.md say so.
- A Redis key of gpx's with the wrong type (written by something else) is
  reported once and repaired, and the fleet view and the counters recover.
"""

from __future__ import annotations

import re
import resource
import socket
import ssl

import requests
from test_redis import by_label, fleet, index, key, make, settle, wait_fleet, wait_storage_up

from conftest import ROOT, Server, connection_closed, lines_with, start, wait_for

LIMIT = 1024  # the documented connection limit


def raw_request(s: Server, target: bytes, wrap=None) -> tuple[int, bytes]:
    """Sends one GET with `target` exactly as given; returns (status, body)."""
    with socket.create_connection(("127.0.0.1", s.metrics_port), timeout=10) as sock:
        if wrap is not None:
            sock = wrap(sock)
        sock.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


# -- a NUL in the target ---------------------------------------------------------
def test_a_nul_in_the_target_is_refused(build, server_factory):
    s = server_factory(build).start()
    for target in (b"/metrics%00anything", b"/metrics\x00anything", b"/metrics%00", b"/metrics\x00",
                   b"/healthz%00", b"/healthz\x00x", b"/metrics?x=%00", b"/%00/metrics"):
        status, body = raw_request(s, target)
        assert (status, b"gunicorn" in body) == (400, False), target
    # Neighbours that hold no NUL are served as before.
    assert raw_request(s, b"/metrics%2500")[0] == 404  # decodes to the text "/metrics%00"
    assert raw_request(s, b"/metrics?x=0")[0] == 200
    assert raw_request(s, b"/healthz") == (200, b"ok\n")
    assert raw_request(s, b"/metrics")[0] == 200


# -- what gpx-debug logs of a target ---------------------------------------------
FORGED = (b"/metrics%0agpx:%20forged%20line", b"/metrics%0d%0aFORGED", b"/x\x1b[31mred\x1b[0m",
          b'/q"uote\\back')


def test_debug_log_escapes_targets(build, server_factory, pki, users):
    s = server_factory(build, "--gpx-debug", "true", "--gpx-ssl-certfile", str(pki / "server.pem"),
                       "--gpx-ssl-keyfile", str(pki / "server.key"), "--gpx-ssl-client-cafile", str(pki / "ca.pem"),
                       "--gpx-basic-auth-file", str(users))
    s.start(wait=False)
    verify = str(pki / "server.pem")
    wait_for(lambda: requests.get(s.url("/"), timeout=2).ok and requests.get(
        f"https://127.0.0.1:{s.metrics_port}/healthz", verify=verify, timeout=2).ok, 30, what="uwsgi with TLS")

    def tls(cert: bool):
        ctx = ssl.create_default_context(cafile=verify)
        if cert:
            ctx.load_cert_chain(str(pki / "client_ca.pem"), str(pki / "client_ca.key"))
        return lambda sock: ctx.wrap_socket(sock, server_hostname="127.0.0.1")

    for target in FORGED:
        assert raw_request(s, target, tls(cert=False))[0] == 403  # no client certificate
        assert raw_request(s, target, tls(cert=True))[0] == 401  # no credentials
    assert raw_request(s, b"/metrics?%0a%0dx", tls(cert=True))[0] == 401

    log = s.output().splitlines()
    assert not [line for line in log if "forged" in line and not line.startswith("gpx: debug: GET ")]
    assert not [line for line in log if line.startswith(("FORGED", "gpx: forged"))]
    for target, logged in ((FORGED[0], r"/metrics%0agpx:%20forged%20line"), (FORGED[1], r"/metrics%0d%0aFORGED"),
                           (FORGED[2], r"/x\x1b[31mred\x1b[0m"), (FORGED[3], r"/q\x22uote\x5cback")):
        assert len(lines_with(s, f'gpx: debug: GET "{logged}" refused: no verified client certificate')) == 1, target
        assert len(lines_with(s, f'gpx: debug: GET "{logged}" refused: missing or wrong credentials')) == 1, target
    assert not [line for line in log if "\x1b" in line]


# -- the connection limit ---------------------------------------------------------
def test_the_connection_limit_is_the_documented_one(build, server_factory):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < 4 * LIMIT:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(4 * LIMIT, hard), hard))
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    limit = LIMIT if soft == resource.RLIM_INFINITY else min(LIMIT, max(64, soft // 2))
    s = server_factory(build, "--processes", "1")
    s.start()
    s.wait_workers_started(1)
    idle = [socket.create_connection(("127.0.0.1", s.metrics_port), timeout=5) for _ in range(limit - 1)]
    try:
        # These fit: the server holds every one of them.
        assert requests.get(s.metrics_url, timeout=5).status_code == 200
        wait_for(lambda: sum(connection_closed(c) for c in idle) == 1, 5, what="the oldest idle connection closed")
        # ... but the scrape above came as the limit-th connection, and made
        # room by closing the oldest idle one (the one and only).
        assert connection_closed(idle[0]) and sum(connection_closed(c) for c in idle) == 1
        assert len(lines_with(s, f"gpx: the metrics port is at its limit of {limit} connections")) == 1
    finally:
        for c in idle:
            c.close()

    endpoint = (ROOT / "docs/endpoint.md").read_text()
    options = (ROOT / "docs/options.md").read_text()
    assert re.search(rf"At most {LIMIT} connections at a time", endpoint)
    assert re.search(rf"At most {LIMIT} connections at a time", options)
    assert not re.search(r"At most (?!1024)\d+ connections", endpoint + options)


# -- gpx's Redis keys of the wrong type ---------------------------------------------
REPAIRED = "not the sorted set of instances gpx keeps there; gpx deleted it"


def test_an_index_of_the_wrong_type_is_repaired(build, redis_factory, server_factory):
    r = redis_factory()
    r.cli("SET", index(), "not a sorted set")
    s = start(make(server_factory, build, "--processes", "2", *r.gpx_args("repaired")), 2)
    wait_storage_up(s, 1)
    wait_for(lambda: len(lines_with(s, REPAIRED)) == 1, 10, what="the repair logged")
    assert lines_with(s, REPAIRED)[0].startswith(f"gpx: the Redis key {index()} held a string, ")
    assert r.cli("TYPE", index()) == "zset" and r.zrange(index()) == ["repaired"]
    m = settle(s)
    wait_fleet(s, {"repaired": by_label(m)})

    # Damaged again while running: the next publish or fleet read repairs
    # it, once, and the fleet view recovers.
    r.cli("DEL", index())
    r.cli("RPUSH", index(), "a", "b")
    wait_for(lambda: len(lines_with(s, REPAIRED)) == 2, 10, what="the second repair logged")
    assert f"gpx: the Redis key {index()} held a list, " in lines_with(s, REPAIRED)[1]
    m = settle(s)
    wait_fleet(s, {"repaired": by_label(m)}, timeout=10)
    assert r.cli("TYPE", index()) == "zset"
    assert len(lines_with(s, REPAIRED)) == 2
    assert s.scrape().value("gunicorn_exporter_storage_up") == 1


def test_a_snapshot_key_of_the_wrong_type_is_replaced(build, redis_factory, server_factory):
    r = redis_factory()
    r.cli("HSET", key("hashed"), "field", "value")
    s = start(make(server_factory, build, "--processes", "1", *r.gpx_args("hashed")), 1)
    wait_storage_up(s, 1)
    lines = lines_with(s, f"gpx: the Redis key {key('hashed')} holds a hash, not totals gpx wrote")
    assert len(lines) == 1 and lines[0].endswith("the counters begin from zero and the next publish replaces it")
    m = settle(s)
    wait_fleet(s, {"hashed": by_label(m)})
    assert r.cli("TYPE", key("hashed")) == "string"
    assert by_label(fleet(s), "hashed") == by_label(m)
