"""Request metrics end to end: exact counts after real traffic on both builds.

Every test starts its own uwsgi (the `build` fixture runs it on Debian's
2.0.21 and on PyPI's 2.0.31) and asserts exact values. The harness's
readiness probe sends GET / (one per start, more if the metrics port came up
after the app's): `probes()` counts them from uWSGI's request log so that no
test depends on how many there were.
"""

from __future__ import annotations

import random
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from conftest import (
    APPS,
    BUILDS,
    SPAWNED,
    Build,
    Server,
    free_port,
    lines_with,
    logged_requests,
    parse_metrics,
    probes,
    requests_by_label,
    send,
    start,
    wait_accepting,
    wait_for,
    wsgi_server,
)

ENV_APP = APPS / "env_app.py"



# -- helpers -------------------------------------------------------------------
def worker_ids(m) -> list[str]:
    return sorted(dict(ls)["worker_id"] for ls in m.series("gunicorn_worker_requests_total"))


# -- 1. a thousand mixed requests ------------------------------------------------
MIX = {"get": 400, "missing": 200, "raise": 100, "post": 300}
POST_BODY = b"p" * 3000


@pytest.mark.smoke
def test_thousand_mixed_requests(build, server_factory):
    s = start(server_factory(build, "--processes", "2", "--threads", "4"), 2)
    p = probes(s)

    kinds = [kind for kind, n in MIX.items() for _ in range(n)]
    random.Random(20240611).shuffle(kinds)
    assert len(kinds) == 1000

    def one(kind):
        if kind == "get":
            return kind, send(s, "GET", "/")
        if kind == "missing":
            return kind, send(s, "GET", "/missing")
        if kind == "raise":
            return kind, send(s, "GET", "/raise")
        return kind, send(s, "POST", "/", POST_BODY)

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(one, kinds))
    expected_answer = {"get": 200, "missing": 404, "raise": None, "post": 200}
    assert Counter((k, st) for k, st in answers) == Counter({(k, expected_answer[k]): n for k, n in MIX.items()})

    total = 1000 + p
    s.wait_requests(total)
    m = s.scrape()

    # By method and status: exactly these series, exactly these counts.
    assert requests_by_label(m) == {
        ("GET", "200"): MIX["get"] + p,
        ("GET", "404"): MIX["missing"],
        ("GET", "500"): MIX["raise"],
        ("POST", "200"): MIX["post"],
    }
    assert m.value("gunicorn_request_duration_seconds_count", method="POST") == MIX["post"]
    assert m.value("gunicorn_request_duration_seconds_count", method="GET") == total - MIX["post"]
    assert m.value("gunicorn_request_duration_seconds_bucket", method="POST", le="+Inf") == MIX["post"]
    assert {dict(ls)["method"] for ls in m.series("gunicorn_request_duration_seconds_count")} == {"GET", "POST"}

    # Per worker: the counter, the duration histogram's count and +Inf bucket agree.
    assert worker_ids(m) == ["1", "2"]
    per_worker = {}
    for wid in worker_ids(m):
        n = m.value("gunicorn_worker_requests_total", worker_id=wid)
        assert m.value("gunicorn_worker_request_duration_seconds_count", worker_id=wid) == n
        assert m.value("gunicorn_worker_request_duration_seconds_bucket", worker_id=wid, le="+Inf") == n
        assert m.value("gunicorn_worker_request_size_bytes_count", worker_id=wid) == n
        assert m.value("gunicorn_worker_response_size_bytes_count", worker_id=wid) == n
        per_worker[wid] = n
    assert sum(per_worker.values()) == total

    # Which worker served what: gpx's per-slot counts are uWSGI's own request log's.
    slot_of_pid = {int(pid): wid for wid, pid in SPAWNED.findall(s.output())}
    assert sorted(set(slot_of_pid.values())) == ["1", "2"], "a worker was respawned"
    logged = logged_requests(s)
    assert len(logged) == total
    assert dict(Counter(slot_of_pid[pid] for pid, _, _, _ in logged)) == {
        wid: n for wid, n in per_worker.items() if n}

    # Request sizes: the POSTs' 3,000 bytes land in le=4096 and not le=1024; the rest have no body.
    assert m.sum("gunicorn_worker_request_size_bytes_bucket", le="1024.0") == total - MIX["post"]
    assert m.sum("gunicorn_worker_request_size_bytes_bucket", le="4096.0") == total
    assert m.sum("gunicorn_worker_request_size_bytes_bucket", le="+Inf") == total
    assert m.sum("gunicorn_worker_request_size_bytes_sum") == 3000 * MIX["post"]

    # Failures: one per /raise, all GET on the app's mountpoint, error_type the class the app raised.
    failed = m.series("gunicorn_worker_failed_requests_total")
    assert sum(failed.values()) == MIX["raise"]
    for ls in failed:
        labels = dict(ls)
        assert labels["worker_id"] in ("1", "2")
        assert (labels["method"], labels["endpoint"], labels["error_type"]) == ("GET", "/", "RuntimeError"), labels
    raised_by_slot = Counter(slot_of_pid[pid] for pid, _, path, _ in logged if path == "/raise")
    assert {dict(ls)["worker_id"]: v for ls, v in failed.items()} == dict(raised_by_slot)
    assert m.sum("gunicorn_worker_error_handling_total") == 0

    assert m.value("gunicorn_requests_in_progress") == 0
    assert m.value("gunicorn_workers", state="idle") == 2
    assert m.value("gunicorn_workers", state="busy") == 0


# -- 2. methods ------------------------------------------------------------------
NAMED = {"HEAD": 1, "PUT": 2, "DELETE": 3, "PATCH": 4, "OPTIONS": 5, "TRACE": 6, "POST": 7}
OTHERS = {"PROPFIND": 2, "get": 1, "Post": 1, "MKCOL": 1}


def test_methods(build, server_factory):
    s = start(server_factory(build, "--processes", "1", "--threads", "2"), 1)
    p = probes(s)

    sent = [method for method, n in {**NAMED, **OTHERS}.items() for _ in range(n)]
    for method in sent:
        assert send(s, method, "/") == 200, method
    s.wait_requests(p + len(sent))
    # uWSGI passed every method on as the client spelled it.
    logged = Counter(method for _, method, _, _ in logged_requests(s))
    assert logged == Counter({"GET": p, **NAMED, **OTHERS})

    m = s.scrape()
    expected = {("GET", "200"): p, ("OTHER", "200"): sum(OTHERS.values())}
    expected.update({(method, "200"): n for method, n in NAMED.items()})
    assert requests_by_label(m) == expected
    for method, n in {"GET": p, "OTHER": sum(OTHERS.values()), **NAMED}.items():
        assert m.value("gunicorn_request_duration_seconds_count", method=method) == n
    assert m.value("gunicorn_worker_requests_total", worker_id="1") == p + len(sent)


# -- 3. in progress and busy -----------------------------------------------------
def test_in_progress_and_busy(build, server_factory):
    s = start(server_factory(build, "--processes", "2", "--threads", "2"), 2)
    p = probes(s)

    statuses = []
    threads = [threading.Thread(target=lambda: statuses.append(send(s, "GET", "/sleep?s=3"))) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        # Two threads per worker: three held requests keep both workers busy.
        m = wait_for(lambda: (lambda m: m if m.value("gunicorn_requests_in_progress") == 3 else None)(s.scrape()),
                     timeout=2.5, interval=0.02, what="3 requests in progress")
        assert m.value("gunicorn_workers", state="busy") == 2
        assert m.value("gunicorn_workers", state="idle") == 0
        for wid in ("1", "2"):
            states = m.by("gunicorn_worker_state", "state", worker_id=wid)
            assert states == {"idle": 0, "busy": 1, "cheap": 0, "paused": 0, "stopping": 0}, (wid, states)
        assert m.sum("gunicorn_requests_total") == p  # nothing finished yet
    finally:
        for t in threads:
            t.join(15)
    assert statuses == [200, 200, 200]

    s.wait_requests(p + 3)
    m = s.scrape()
    assert m.value("gunicorn_requests_in_progress") == 0
    assert m.value("gunicorn_workers", state="busy") == 0
    assert m.value("gunicorn_workers", state="idle") == 2
    assert m.sum("gunicorn_worker_state", state="busy") == 0
    assert m.sum("gunicorn_worker_state", state="idle") == 2
    assert m.value("gunicorn_requests_total", method="GET", status="200") == p + 3
    # Each took three seconds: in the (2.5, 5] bucket.
    assert m.value("gunicorn_request_duration_seconds_bucket", method="GET", le="2.5") == p
    assert m.value("gunicorn_request_duration_seconds_bucket", method="GET", le="5.0") == p + 3


# -- 4. the routing action ------------------------------------------------------
def test_route_action_serves_metrics_on_the_app_port(build, server_factory):
    s = start(server_factory(build, "--processes", "2", "--threads", "2", "--route", "^/metrics$ gpx:"), 2)
    p = probes(s)
    for _ in range(5):
        assert send(s, "GET", "/") == 200
    for _ in range(3):
        assert send(s, "GET", "/missing") == 404
    assert send(s, "POST", "/", b"x" * 10) == 200
    s.wait_requests(p + 9)

    before = s.scrape()
    r = requests.get(s.url("/metrics"), timeout=5)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    routed = parse_metrics(r.text)
    # The route renders while its own request is in flight: not counted yet.
    assert requests_by_label(routed) == requests_by_label(before) == {
        ("GET", "200"): p + 5, ("GET", "404"): 3, ("POST", "200"): 1}
    assert routed.value("gunicorn_requests_in_progress") == 1
    assert routed.series("gunicorn_worker_requests_total") == before.series("gunicorn_worker_requests_total")

    # Once answered, the route's request counts as a GET 200.
    s.wait_requests(p + 10)
    after = s.scrape()
    assert requests_by_label(after) == {("GET", "200"): p + 6, ("GET", "404"): 3, ("POST", "200"): 1}
    assert after.value("gunicorn_requests_in_progress") == 0
    # The app still serves every other path.
    assert send(s, "GET", "/metricsx") == 200


# -- 5. promtool ------------------------------------------------------------------
@pytest.mark.smoke
def test_promtool_accepts_the_exposition(build, server_factory):
    s = start(server_factory(build, "--processes", "2", "--threads", "2"), 2)
    p = probes(s)
    sent = [("GET", "/", None), ("GET", "/missing", None), ("GET", "/raise", None), ("POST", "/", b"y" * 5000),
            ("PROPFIND", "/", None), ("DELETE", "/", None), ("GET", "/sleep?s=0.03", None)] * 3
    for method, path, body in sent:
        send(s, method, path, body)
    s.wait_requests(p + len(sent))
    text = s.scrape_text()
    assert "gunicorn_worker_failed_requests_total{" in text
    check = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
    assert (check.returncode, check.stdout, check.stderr) == (0, "", "")


# -- 6. the metrics port's other answers ----------------------------------------
def test_metrics_port_paths_and_methods(build, server_factory):
    s = start(server_factory(build, "--processes", "1"), 1)
    p = probes(s)
    base = f"http://127.0.0.1:{s.metrics_port}"
    assert requests.get(base + "/", timeout=5).status_code == 404
    assert requests.get(base + "/metricsx", timeout=5).status_code == 404
    assert requests.get(base + "/metrics/", timeout=5).status_code == 404
    assert requests.post(base + "/metrics", data=b"x", timeout=5).status_code == 405
    assert requests.post(base + "/metrics", timeout=5).status_code == 405
    ok = requests.get(base + "/metrics", timeout=5)
    assert ok.status_code == 200
    assert ok.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    head = requests.head(base + "/metrics", timeout=5)
    assert head.status_code == 200 and head.content == b""
    # None of these reached the app: a quiet spell in which a count would land.
    time.sleep(0.2)
    assert s.scrape().sum("gunicorn_requests_total") == p


# -- 7. configuration by environment --------------------------------------------
def scoreboard_name(port: int) -> str:
    return f"gpx_{socket.gethostname()}:{port}.scoreboard"


def test_environment_alone_configures_gpx(build, server_factory, tmp_path):
    port = free_port()
    env_dir = tmp_path / "from-env"
    s = server_factory(build, "--processes", "1", with_gpx_port=False, metrics_port=port, env={
        "PROMETHEUS_METRICS_PORT": str(port),
        "PROMETHEUS_BIND_ADDRESS": "127.0.0.1",
        "PROMETHEUS_MULTIPROC_DIR": str(env_dir),
    })
    assert not any(arg.startswith("--gpx-") for arg in s.cmd)
    start(s, 1)
    p = probes(s)
    assert s.scrape().value("gunicorn_requests_total", method="GET", status="200") == p
    assert (env_dir / scoreboard_name(port)).is_file()
    assert [f.name for f in env_dir.iterdir()] == [scoreboard_name(port)]
    assert f"metrics on 127.0.0.1:{port}, instance {socket.gethostname()}:{port}" in s.output()


def test_options_beat_environment(build, server_factory, tmp_path):
    env_port, opt_port = free_port(), free_port()
    env_dir, opt_dir = tmp_path / "from-env", tmp_path / "from-option"
    s = server_factory(build, "--processes", "1", metrics_port=opt_port, multiproc_dir=str(opt_dir), env={
        "PROMETHEUS_METRICS_PORT": str(env_port),
        "PROMETHEUS_BIND_ADDRESS": "127.0.0.2",  # the option's 127.0.0.1 must win
        "PROMETHEUS_MULTIPROC_DIR": str(env_dir),
    })
    start(s, 1)
    p = probes(s)
    assert s.scrape().value("gunicorn_requests_total", method="GET", status="200") == p
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{env_port}/metrics", timeout=2)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.2:{opt_port}/metrics", timeout=2)
    assert (opt_dir / scoreboard_name(opt_port)).is_file()
    assert not env_dir.exists()


# -- 8. GUNICORN_* for the application ------------------------------------------
def env_app_server(build, server_factory, *args, env=None) -> Server:
    return wsgi_server(server_factory, build, ENV_APP, *args, env=env)


def test_gunicorn_environment_for_the_app(build, server_factory):
    s = start(env_app_server(build, server_factory, "--processes", "3", "--threads", "2"), 3)
    seen = requests.get(s.url("/"), timeout=5).json()
    assert seen == {
        "GUNICORN_WORKERS": "3",
        "GUNICORN_WORKER_CLASS": "gthread",
        "GUNICORN_BIND": f"127.0.0.1:{s.app_port}",
        "PROMETHEUS_MULTIPROC_DIR": s.multiproc_dir,  # only --gpx-multiproc-dir gave it
    }
    assert "GUNICORN_WORKERS" not in s.output()


def test_guide_variables_uwsgi_does_not_run_are_explained_once(build, server_factory):
    """GUNICORN_WORKERS and GUNICORN_KEEPALIVE left in the environment from
    Gunicorn: one line each, saying what uWSGI runs and what to do, at the
    cold start; a SIGHUP reload does not repeat them."""
    s = start(env_app_server(build, server_factory, "--processes", "3",
                             env={"GUNICORN_WORKERS": "5", "GUNICORN_KEEPALIVE": "5"}), 3)
    seen = requests.get(s.url("/"), timeout=5).json()
    assert seen["GUNICORN_WORKERS"] == "3"  # uWSGI's value is the one in effect
    assert seen["GUNICORN_WORKER_CLASS"] == "sync"
    expected = [
        "gpx: GUNICORN_WORKERS=5 in the environment was Gunicorn's worker count; uWSGI runs processes = 3, and gpx "
        "sets GUNICORN_WORKERS=3 for the app. Set processes = 5 for that many workers, or remove GUNICORN_WORKERS "
        "from uWSGI's environment",
        "gpx: GUNICORN_KEEPALIVE=5 in the environment was Gunicorn's keep-alive; this uWSGI closes each connection "
        "after its answer (http-socket), as Gunicorn's sync worker does, and has no such setting. Remove "
        "GUNICORN_KEEPALIVE from uWSGI's environment; for keep-alive, put uWSGI's HTTP router (http = ..., "
        "http-keepalive = 5) or a proxy in front",
    ]
    assert lines_with(s, "GUNICORN_") == expected
    old = wait_accepting(s, 3)
    s.signal(signal.SIGHUP)
    wait_for(lambda: len(lines_with(s, "gpx: serving metrics")) == 2, 30, what="metrics served after the reload")
    wait_accepting(s, 3, exclude=old)
    assert lines_with(s, "GUNICORN_") == expected


@pytest.mark.parametrize("env, router_keepalive, explained", [
    ({"GUNICORN_KEEPALIVE": "0"}, None, None),  # no keep-alive: what an http-socket does
    ({"GUNICORN_WORKERS": "2"}, None, None),  # the same as processes
    ({"GUNICORN_KEEPALIVE": "5"}, "5", None),  # the HTTP router keeps connections as long
    ({"GUNICORN_KEEPALIVE": "5"}, "2",
     "gpx: GUNICORN_KEEPALIVE=5 in the environment was Gunicorn's keep-alive; uWSGI's HTTP router (http = ...) runs "
     "with http-keepalive = 2. Set http-keepalive = 5 for Gunicorn's, or remove GUNICORN_KEEPALIVE from uWSGI's "
     "environment"),
    ({"GUNICORN_WORKERS": "four"}, None,
     "gpx: GUNICORN_WORKERS=four in the environment is not a worker count; uWSGI runs processes = 2, and gpx sets "
     "GUNICORN_WORKERS=2 for the app. Remove GUNICORN_WORKERS from uWSGI's environment"),
])
def test_guide_variables_uwsgi_runs_are_quiet(build, server_factory, env, router_keepalive, explained):
    args = ["--processes", "2"]
    if router_keepalive is not None:
        # uWSGI's HTTP router in front of the workers (a plugin of Debian's uWSGI, built into PyPI's)
        args += (["--plugin", "http"] if build.name == "system" else []) + [
            "--http", f"127.0.0.1:{free_port()}", f"--http-keepalive={router_keepalive}"]
    s = env_app_server(build, server_factory, *args, env=env)
    if router_keepalive is None:
        start(s, 2)
    else:  # the router is one more child of the master
        s.start()
        wait_for(lambda: len(s.worker_pids()) == 3, 15, what="2 workers and the HTTP router")
    assert requests.get(s.url("/"), timeout=5).json()["GUNICORN_WORKERS"] == "2"
    assert lines_with(s, "GUNICORN_") == ([explained] if explained else [])


# -- 9. a plugin built by the other uWSGI ---------------------------------------
VERSIONS = {"system": "2.0.21-debian", "pypi": "2.0.31"}


def test_plugin_of_the_other_uwsgi_is_refused(build, tmp_path):
    other = "pypi" if build.name == "system" else "system"
    swapped = Build(build.name, build.uwsgi, BUILDS[other].plugin, build.python_args)
    s = Server(swapped, tmp_path, args=("--processes", "1"))
    try:
        rc = s.run_to_exit(timeout=30)
    finally:
        s.stop()
    assert rc != 0
    out = s.output()
    lines = [line for line in out.splitlines() if VERSIONS["system"] in line and VERSIONS["pypi"] in line]
    assert len(lines) == 1, out
    assert lines[0].startswith("gpx: ")
    assert f"built for uWSGI {VERSIONS[other]} but is loaded by uWSGI {VERSIONS[build.name]}" in lines[0]
    assert "spawned uWSGI" not in out
    with pytest.raises(requests.ConnectionError):
        requests.get(s.url("/"), timeout=2)
