"""Liveness and the local page never wait for the fleet view or for idle
clients, on both builds.

- A redis-server frozen with SIGSTOP: eight parallel /metrics/fleet scrapes
  each get 503 within the fleet read's deadline, while /healthz and /metrics
  keep answering in well under a second (before, the single serving thread
  read Redis for each fleet scrape in turn: /healthz waited 7.9 s).
- 2,000 idle connections: /healthz and /metrics answer at once, because a
  new connection at the limit closes the oldest idle one (before, they
  waited in the listen queue for the idle ones' 10 s timeout).

Latencies are asserted with generous bounds (1 s where the failure took
4 to 10 s); they are not benchmarks.
"""

from __future__ import annotations

import resource
import socket
import threading
import time

import requests
from test_redis import by_label, make, settle, wait_fleet, wait_storage_up

from conftest import Server, connection_closed, lines_with, start, wait_for

FLEET_SCRAPES = 8
FLEET_DEADLINE = 2.0  # the fleet read's own deadline, seconds (connecting included)
PROMPT = 1.0  # what "promptly" means for /healthz and /metrics here
IDLE = 2000
EVICTING = "gpx: the metrics port is at its limit of "


def timed_get(url: str, timeout: float = 15.0) -> tuple[int, float, str]:
    t0 = time.monotonic()
    r = requests.get(url, timeout=timeout)
    return r.status_code, time.monotonic() - t0, r.text


def fleet_url(s: Server) -> str:
    return f"http://127.0.0.1:{s.metrics_port}/metrics/fleet"


def healthz_url(s: Server) -> str:
    return f"http://127.0.0.1:{s.metrics_port}/healthz"


class Scrapes:
    """`n` parallel GETs of `url`, each on its own connection."""

    def __init__(self, url: str, n: int):
        self.results: list[tuple[int, float, str] | Exception] = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._one, args=(url,), daemon=True) for _ in range(n)]

    def _one(self, url):
        try:
            res = timed_get(url)
        except Exception as exc:  # noqa: BLE001 (recorded and asserted on)
            res = exc
        with self.lock:
            self.results.append(res)

    def start(self) -> Scrapes:
        for t in self.threads:
            t.start()
        return self

    def running(self) -> bool:
        return any(t.is_alive() for t in self.threads)

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.0, deadline - time.monotonic()))


def fleet_errors(s: Server) -> float:
    return s.scrape().value("gunicorn_exporter_storage_errors_total", operation="fleet")


def test_frozen_redis_holds_neither_healthz_nor_metrics(build, redis_factory, server_factory):
    r = redis_factory()
    s = start(make(server_factory, build, "--processes", "2", *r.gpx_args("stalled")), 2)
    wait_storage_up(s, 1)
    m = settle(s)
    wait_fleet(s, {"stalled": by_label(m)})
    errors_before = fleet_errors(s)

    r.freeze()
    try:
        scrapes = Scrapes(fleet_url(s), FLEET_SCRAPES).start()
        # Probe liveness and the local page for as long as the fleet scrapes
        # wait on the frozen Redis: each probe must answer promptly.
        probes = []
        while scrapes.running():
            for url in (healthz_url(s), s.metrics_url):
                status, elapsed, _ = timed_get(url, timeout=10)
                probes.append((url.rsplit("/", 1)[1], status, elapsed))
        scrapes.join(10)
    finally:
        r.thaw()

    assert len(probes) >= 4, probes  # the fleet scrapes were pending that long
    assert {(p, st) for p, st, _ in probes} == {("healthz", 200), ("metrics", 200)}
    slowest = max(e for _, _, e in probes)
    assert slowest < PROMPT, f"a probe took {slowest:.3f} s while the fleet view waited"

    # Every fleet scrape got a clear 503 within the read's own deadline.
    assert len(scrapes.results) == FLEET_SCRAPES
    assert [x for x in scrapes.results if isinstance(x, Exception)] == []
    assert sorted(st for st, _, _ in scrapes.results) == [503] * FLEET_SCRAPES
    assert all("Redis" in body for _, _, body in scrapes.results)
    longest = max(e for _, e, _ in scrapes.results)
    assert longest < 2 * FLEET_DEADLINE + 1, f"a fleet scrape waited {longest:.3f} s"
    # Fleet reads are one at a time and share a failure: fewer reads than scrapes.
    reads = fleet_errors(s) - errors_before
    assert 1 <= reads < FLEET_SCRAPES, reads

    # Redis answers again: so does the fleet view, with the exact counts.
    m = settle(s)
    wait_fleet(s, {"stalled": by_label(m)}, timeout=10)


def raise_open_files(needed: int) -> None:
    """The test's and the server's descriptors: uwsgi inherits the limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(needed, hard), hard))


def test_idle_connections_hold_neither_healthz_nor_metrics(build, server_factory):
    raise_open_files(2 * IDLE + 1024)
    s = server_factory(build, "--processes", "1")
    s.start()
    s.wait_workers_started(1)
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    limit = 1024 if soft == resource.RLIM_INFINITY else min(1024, max(64, soft // 2))

    idle = []
    try:
        for _ in range(IDLE):
            c = socket.create_connection(("127.0.0.1", s.metrics_port), timeout=5)
            idle.append(c)
        opened = time.monotonic()
        probes = []
        for _ in range(5):
            for url in (healthz_url(s), s.metrics_url):
                status, elapsed, text = timed_get(url, timeout=15)
                probes.append((status, elapsed))
        waited = time.monotonic() - opened
        assert [st for st, _ in probes] == [200] * 10
        slowest = max(e for _, e in probes)
        assert slowest < PROMPT, f"a probe took {slowest:.3f} s behind {IDLE} idle connections"
        assert waited < 5, waited  # well before the idle ones' 10 s timeout

        # The server made room by closing idle connections, the oldest
        # first; it says so once.
        wait_for(lambda: sum(connection_closed(c) for c in idle) >= IDLE - limit + 1, 5, what="idle connections closed")
        assert connection_closed(idle[0]) and not connection_closed(idle[-1])
        assert len(lines_with(s, EVICTING)) == 1
    finally:
        for c in idle:
            c.close()
    assert s.proc.poll() is None
