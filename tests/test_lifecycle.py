"""Worker restarts by reason and the master's signals: real signals, a real timeout, a 30 s storm."""

import http.client
import os
import random
import signal
import threading
import time

import pytest
from harness import APPS, Scrape, http_request, scrape_text, wait_until

from gunicorn_prometheus_exporter.lifecycle import RESTART_REASONS, SIGNALS


@pytest.fixture
def server_for(gunicorn):
    def make(workers=2, args=(), **kwargs):
        server = gunicorn(app="saturation_app:app", workers=workers, args=list(args), **kwargs).start()
        server.wait_workers(workers)
        return server

    return make


def restarts(server) -> dict[str, float]:
    return server.scrape().by_label("gunicorn_worker_restarts_total", "reason")


def signals(server) -> dict[str, float]:
    return server.scrape().by_label("gunicorn_master_signals_total", "signal")


def only(**counts) -> dict[str, float]:
    """Every restart reason at 0 except the ones given."""
    return {reason: counts.get(reason, 0) for reason in RESTART_REASONS}


def wait_restarts(server, **counts):
    expected = only(**counts)
    return wait_until(lambda: restarts(server) == expected, message=f"restarts {expected}")


def settle(server, count):
    """The master has replaced what it will replace: ``count`` workers, all of them live in the slot table."""
    server.wait_workers(count)
    wait_until(
        lambda: sum(server.scrape().by_label("gunicorn_workers", "state").values()) == count,
        message=f"{count} live workers",
    )


def test_every_reason_and_signal_is_exposed_from_the_start(server_for):
    server = server_for(workers=1)
    assert restarts(server) == only()
    assert signals(server) == dict.fromkeys(SIGNALS, 0)


def test_a_worker_reaching_max_requests_counts_max_requests(server_for):
    server = server_for(workers=1, args=["--max-requests", "10"])
    for _ in range(25):  # one at a time: the worker leaves after its 10th and 20th
        assert server.request()[0] == 200
    wait_restarts(server, max_requests=2)
    settle(server, 1)
    assert restarts(server) == only(max_requests=2)
    assert server.scrape().value("gunicorn_requests_total", method="GET", status="200") == 25


def test_a_worker_killed_for_exceeding_the_timeout_counts_timeout(server_for):
    server = server_for(workers=1, args=["--timeout", "4"])
    result = {}
    held = threading.Thread(target=lambda: result.update(r=_try(lambda: server.request("/sleep?s=60"))))
    held.start()
    wait_restarts(server, timeout=1)
    held.join(30)
    # Killed mid-request: Gunicorn's SIGABRT handler may still answer 500 on the way out.
    assert isinstance(result["r"], OSError) or result["r"][0] == 500
    settle(server, 1)
    assert restarts(server) == only(timeout=1)
    assert "WORKER TIMEOUT" in server.log()


def _try(call):
    try:
        return call()
    except OSError as exc:
        return exc


def test_a_worker_that_exits_with_an_error_or_is_killed_from_outside_counts_crash(server_for):
    server = server_for(workers=2)
    assert isinstance(_try(lambda: server.request("/exit")), OSError)  # os._exit(1) mid-request
    wait_restarts(server, crash=1)
    settle(server, 2)

    victim = server.worker_pids()[0]
    os.kill(victim, signal.SIGKILL)
    wait_restarts(server, crash=2)
    settle(server, 2)
    assert restarts(server) == only(crash=2)


def test_a_worker_stopped_by_a_signal_from_outside_counts_signal(server_for):
    server = server_for(workers=2)
    first, second = server.worker_pids()
    os.kill(first, signal.SIGTERM)
    wait_restarts(server, signal=1)
    settle(server, 2)
    os.kill(second, signal.SIGQUIT)
    wait_restarts(server, signal=2)
    settle(server, 2)
    assert restarts(server) == only(signal=2)


def test_workers_replaced_by_hup_count_reload(server_for):
    server = server_for(workers=3)
    old = server.worker_pids()
    server.send_signal(signal.SIGHUP)
    server.wait_workers(3, exclude=old)
    wait_restarts(server, reload=3)
    settle(server, 3)
    assert restarts(server) == only(reload=3)
    assert signals(server)["hup"] == 1


def test_a_worker_stopped_by_gunicorns_code_reloader_counts_reload(gunicorn, tmp_path):
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    module = app_dir / "reloading_app.py"
    module.write_text((APPS / "saturation_app.py").read_text())
    server = gunicorn(app="reloading_app:app", workers=1, args=["--reload"], cwd=app_dir).start()
    (first,) = server.wait_workers(1)
    assert server.request()[0] == 200
    time.sleep(1.5)  # a changed modification time, whatever the file system's resolution
    module.write_text(module.read_text() + "\n# changed\n")
    server.wait_workers(1, exclude=[first])
    wait_restarts(server, reload=1)


def test_shrinking_the_pool_with_ttou_is_not_a_restart(server_for):
    server = server_for(workers=3)
    server.send_signal(signal.SIGTTOU)
    settle(server, 2)
    s = server.scrape()
    assert s.value("gunicorn_workers_desired") == 2
    assert s.by_label("gunicorn_worker_restarts_total", "reason") == only()
    assert s.value("gunicorn_master_signals_total", signal="ttou") == 1


def test_each_signal_the_master_handles_is_counted(server_for):
    server = server_for(workers=2)
    sent = {}
    for name, sig, workers in (
        ("ttin", signal.SIGTTIN, 3),
        ("ttou", signal.SIGTTOU, 2),
        ("usr1", signal.SIGUSR1, 2),
        ("winch", signal.SIGWINCH, 2),  # ignored unless daemonized, but handled
        ("hup", signal.SIGHUP, 2),
        ("ttin", signal.SIGTTIN, 3),
    ):
        server.send_signal(sig)
        sent[name] = sent.get(name, 0) + 1
        # One at a time: the kernel merges a signal sent again before the first is handled.
        wait_until(lambda name=name: signals(server)[name] == sent[name], message=f"{name} counted")
        settle(server, workers)
    counted = signals(server)
    assert {name: counted[name] for name in sent} == sent
    assert counted["chld"] >= 1  # the TTOU-retired and the HUP-replaced workers' exits
    assert counted["int"] == counted["term"] == counted["quit"] == counted["usr2"] == 0
    assert server.stop(signal.SIGTERM) == 0


# -- the storm --------------------------------------------------------------------

STORM_SECONDS = 30.0
SCRAPES_PER_SECOND = 20


def _counter_samples(text: str) -> dict[tuple, float]:
    """Every sample that must never go down: counters and histogram buckets, counts and sums."""
    found = {}
    for family in Scrape(text).families.values():
        if family.type not in ("counter", "histogram"):
            continue
        for sample in family.samples:
            if sample.name.endswith("_created"):
                continue
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_a_storm_of_signals_and_kills_never_stalls_scrapes_or_lowers_a_counter(server_for):
    server = server_for(workers=3, args=["--graceful-timeout", "5", "--timeout", "30"])
    stop = threading.Event()
    scrapes: list[str] = []
    failures: list[str] = []
    sent: dict[str, int] = {}
    traffic = {"ok": 0}

    def scraper():
        interval = 1.0 / SCRAPES_PER_SECOND
        next_at = time.monotonic()
        while not stop.is_set():
            try:
                scrapes.append(scrape_text(server.metrics_port, timeout=10))
            except Exception as exc:
                failures.append(repr(exc))
            next_at += interval
            time.sleep(max(0.0, next_at - time.monotonic()))

    def client():
        while not stop.is_set():
            try:
                if http_request(server.port, "/", timeout=10)[0] == 200:
                    traffic["ok"] += 1
            except (OSError, http.client.HTTPException):
                pass  # its worker was killed under it, possibly mid-response
            time.sleep(0.01)

    def storm():
        rng = random.Random(66)
        desired = 3
        deadline = time.monotonic() + STORM_SECONDS
        while time.monotonic() < deadline:
            action = rng.choice(("ttin", "ttou", "hup", "kill", "kill"))
            if action == "ttin" and desired >= 6:
                action = "ttou"
            if action == "ttou" and desired <= 1:
                action = "ttin"
            if action == "kill":
                pids = _live_workers(server)
                if pids:
                    _kill(rng.choice(pids))
            else:
                server.send_signal({"ttin": signal.SIGTTIN, "ttou": signal.SIGTTOU, "hup": signal.SIGHUP}[action])
                desired = {"ttin": desired + 1, "ttou": desired - 1, "hup": 3}[action]
            sent[action] = sent.get(action, 0) + 1
            time.sleep(rng.uniform(0.05, 0.3))

    threads = [threading.Thread(target=f) for f in (scraper, client, client)]
    for thread in threads:
        thread.start()
    try:
        storm()
        # The master works through what is still queued, then the figures must be whole again.
        wait_until(lambda: _settled(server), timeout=120, interval=0.5, message="the pool to settle")
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)

    assert failures == [], f"{len(failures)} scrapes failed, first: {failures[:3]}"
    assert len(scrapes) >= STORM_SECONDS * SCRAPES_PER_SECOND / 4, len(scrapes)
    assert traffic["ok"] > 0

    previous = _counter_samples(scrapes[0])
    for number, text in enumerate(scrapes[1:], start=1):
        current = _counter_samples(text)
        lowered = {key: (previous[key], value) for key, value in current.items() if value < previous.get(key, value)}
        assert not lowered, f"scrape {number} lowered counters: {lowered}"
        previous = {**previous, **current}

    final = server.scrape()
    counted = final.by_label("gunicorn_master_signals_total", "signal")
    for name in ("ttin", "ttou", "hup"):
        if sent.get(name):
            # The kernel merges a signal sent again before the master handled the first.
            assert 1 <= counted[name] <= sent[name], (name, counted[name], sent[name])
    assert final.value("gunicorn_worker_restarts_total", reason="crash") >= 1
    assert final.value("gunicorn_worker_restarts_total", reason="reload") >= 1

    assert server.stop(signal.SIGTERM, timeout=60) == 0
    log = server.log()
    assert "Shutting down: Master" in log
    assert "Traceback" not in log


def _live_workers(server) -> list[int]:
    try:
        return server.worker_pids()
    except Exception:
        return []


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _settled(server) -> bool:
    s = server.scrape()
    desired = s.value("gunicorn_workers_desired")
    live = sum(s.by_label("gunicorn_workers", "state").values())
    return live == desired == len(server.worker_pids())


# -- the pieces, alone ------------------------------------------------------------


def test_an_exit_note_written_by_a_forked_child_is_read_by_its_parent():
    from gunicorn_prometheus_exporter.lifecycle import ExitNote

    note = ExitNote()
    assert note.read() == (None, 0.0)
    pid = os.fork()
    if pid == 0:
        note.write("max_requests", 1.25)
        os._exit(0)
    os.waitpid(pid, 0)
    assert note.read() == ("max_requests", 1.25)
    note.close()
    assert note.read() == (None, 0.0)


def test_what_the_master_knows_outranks_what_the_worker_noted():
    from types import SimpleNamespace

    from gunicorn_prometheus_exporter.lifecycle import Lifecycle

    lifecycle = Lifecycle()
    arbiter = SimpleNamespace(worker_age=3, handle_hup=lambda: None, kill_worker=lambda pid, sig: None)
    lifecycle.attach(arbiter)

    def worker(pid, age, aborted=False):
        return SimpleNamespace(pid=pid, age=age, aborted=aborted)

    assert lifecycle.classify(worker(10, 4, aborted=True), "signal") == "timeout"
    assert lifecycle.classify(worker(11, 4), None) == "crash"
    assert lifecycle.classify(worker(12, 4), "max_requests") == "max_requests"
    arbiter.kill_worker(13, signal.SIGTERM)  # the pool shrinking
    assert lifecycle.classify(worker(13, 4), "signal") is None
    arbiter.handle_hup()  # retires every worker up to age 3
    assert lifecycle.classify(worker(14, 3), "signal") == "reload"
    assert lifecycle.classify(worker(15, 4), "signal") == "signal"
    assert lifecycle.signals["hup"] == 1
    lifecycle.stopping = True
    assert lifecycle.classify(worker(16, 4), None) is None
