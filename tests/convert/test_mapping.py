"""Each Gunicorn setting and exporter variable to its uWSGI and gpx lines
(gpxconvert.mapping), on reports built in memory."""

from .helpers import has_block, render, report, values

VARIABLES = {"PROMETHEUS_MULTIPROC_DIR": "gpx-multiproc-dir", "PROMETHEUS_METRICS_PORT": "gpx-port",
             "PROMETHEUS_BIND_ADDRESS": "gpx-bind", "CLEANUP_DB_FILES": "gpx-cleanup-db-files",
             "REDIS_ENABLED": "gpx-redis", "REDIS_HOST": "gpx-redis-host", "REDIS_PORT": "gpx-redis-port",
             "REDIS_DB": "gpx-redis-db", "REDIS_KEY_PREFIX": "gpx-redis-key-prefix"}


def test_the_service_lines_come_first():
    ini, flags = render(report())
    assert ini.splitlines()[0] == "[uwsgi]"
    assert values(ini, "strict") == values(ini, "die-on-term") == values(ini, "need-app") == ["true"]
    assert has_block(ini, "if-not-plugin = python", "plugin = python3", "endif =")
    assert values(ini, "plugin")[-1] == "gpx"
    # Gunicorn's own defaults follow $PORT and $WEB_CONCURRENCY: so does the ini
    assert flags == [
        "gpx-convert: Gunicorn's default bind = '127.0.0.1:8000' depends on $PORT: written with uWSGI's if-env, "
        "decided where uWSGI starts",
        "gpx-convert: workers = 1 depends on $WEB_CONCURRENCY: written with uWSGI's if-env, decided where uWSGI starts"]


def test_gunicorns_defaults():
    ini, _ = render(report())
    assert values(ini, "wsgi-file") == ["app.py"]
    assert has_block(ini, "if-env = GPX_APP_BIND", "set-placeholder = gunicorn_http_socket=%(_)", "endif =")
    assert values(ini, "harakiri") == ["30"] and values(ini, "worker-reload-mercy") == ["30"]
    assert values(ini, "lazy-apps") == ["true"] and values(ini, "disable-logging") == ["true"]
    assert values(ini, "max-requests") == []
    assert "; keepalive = 2 (Gunicorn's default) is not carried: Gunicorn's sync worker does not keep connections " \
           "alive, nor does uWSGI's http-socket" in ini.splitlines()


def test_the_app_as_a_module():
    ini, _ = render(report(), app="app:application", wsgi_file=None)
    assert values(ini, "module") == ["app:application"] and values(ini, "wsgi-file") == []


def test_plugin_dir():
    ini, _ = render(report(), plugin_dir="/opt/gpx")
    assert has_block(ini, "plugins-dir = /opt/gpx", "plugin = gpx")


def test_sync_workers_and_their_limits():
    ini, _ = render(report({"bind": ["127.0.0.1:9000"], "workers": 4, "timeout": 60, "graceful_timeout": 10,
                            "max_requests": 1000, "max_requests_jitter": 50, "preload_app": True}))
    assert has_block(ini, "if-not-env = GPX_APP_BIND", "http-socket = 127.0.0.1:9000", "endif =")
    assert values(ini, "processes") == ["4"] and values(ini, "threads") == []
    assert values(ini, "harakiri") == ["60"] and values(ini, "worker-reload-mercy") == ["10"]
    assert values(ini, "max-requests") == ["1000"]
    assert values(ini, "max-requests-delta") == ["16"]  # 50 // (workers - 1)
    assert values(ini, "lazy-apps") == []


def test_threads_and_async_workers():
    ini, _ = render(report({"workers": 2, "worker_class": "gthread", "threads": 4}))
    assert values(ini, "processes") == ["2"] and values(ini, "threads") == ["4"]
    ini, _ = render(report({"worker_class": "gevent", "worker_connections": 500}))
    assert values(ini, "gevent") == ["500"]
    assert has_block(ini, "if-not-plugin = gevent", "plugin = gevent_python3", "endif =")
    ini, _ = render(report({"worker_class": "tornado"}))
    assert values(ini, "tornado") == ["1000"]
    assert has_block(ini, "if-opt = plugin=python3", "plugin = greenlet_python3", "plugin = tornado_python3",
                     "endif =")


def test_logs():
    ini, _ = render(report({"accesslog": "-", "errorlog": "/var/log/app/error.log"}))
    assert values(ini, "disable-logging") == []
    assert values(ini, "logto") == ["/var/log/app/error.log"]


def test_every_setting_says_where_it_went_or_why_not():
    ini, _ = render(report({"workers": 3, "spew": True, "limit_request_line": 8190}))
    comments = [line for line in ini.splitlines() if line.startswith("; ")]
    assert "; workers = 3 -> processes" in comments
    assert any(c.startswith("; not mapped: spew = True: ") for c in comments)
    assert any(c.startswith("; not mapped: limit_request_line = 8190: ") for c in comments)


def test_setdefault_is_an_if_not_env_block_for_each_exporter_variable():
    ops = [("setdefault", var, value) for var, value in (
        ("PROMETHEUS_MULTIPROC_DIR", "/tmp/mp"), ("PROMETHEUS_METRICS_PORT", "9091"),
        ("PROMETHEUS_BIND_ADDRESS", "127.0.0.1"), ("CLEANUP_DB_FILES", "true"), ("REDIS_ENABLED", "true"),
        ("REDIS_HOST", "redis.internal"), ("REDIS_PORT", "6380"), ("REDIS_DB", "2"), ("REDIS_KEY_PREFIX", "app"))]
    ini, _ = render(report(env_ops=ops))
    for _, var, value in ops:
        assert has_block(ini, f"if-not-env = {var}", f"{VARIABLES[var]} = {value}", "endif ="), var
        assert len(values(ini, VARIABLES[var])) == 1


def test_an_assignment_wins_over_the_environment():
    ini, _ = render(report(env_ops=[("set", "PROMETHEUS_METRICS_PORT", "9191")]))
    assert values(ini, "gpx-port") == ["9191"]
    assert not has_block(ini, "if-not-env = PROMETHEUS_METRICS_PORT", "gpx-port = 9191")


def test_other_variables_are_the_apps_environment():
    ini, _ = render(report(env_ops=[("setdefault", "APP_SETTING", "50%"), ("setdefault", "GUNICORN_WORKERS", "4")]))
    assert has_block(ini, "if-not-env = APP_SETTING", "env = APP_SETTING=50%%", "endif =")
    assert not [v for v in values(ini, "env") if v.startswith("GUNICORN_")]


def test_the_exporters_hooks_are_gpxs_work():
    hook = {"t": "callable", "name": "gunicorn_prometheus_exporter.hooks.default_when_ready",
            "stub": "gunicorn_prometheus_exporter.hooks.default_when_ready", "file": "<string>", "line": 1,
            "names": []}
    rep = report()
    rep["settings"]["when_ready"] = hook
    ini, _ = render(rep)
    assert ("; when_ready = gunicorn_prometheus_exporter.hooks.default_when_ready -> nothing to write: gpx starts "
            "its metrics server once the workers run") in ini.splitlines()


def test_a_value_from_the_cpu_count_is_uwsgi_math():
    deps = {"settings": {"workers": {"kind": "cpu", "a": 2, "b": 1, "here": 5, "cpus": 2}}, "env": {}, "cpus": 2}
    ini, flags = render(report({"bind": ["127.0.0.1:8000"], "workers": 5}, deps=deps))
    assert values(ini, "processes") == ["%(%k * 2 + 1)"]
    assert flags == ["gpx-convert: workers = 5 depends on this machine's CPU count (2): written as processes = "
                     "%(%k * 2 + 1), computed where uWSGI starts"]


def test_a_value_from_a_variable_is_an_if_env_pair():
    deps = {"settings": {"workers": {"kind": "direct", "var": "WORKERS", "default": 2, "required": False}},
            "env": {}, "inputs": ["WORKERS"]}
    ini, flags = render(report({"bind": ["127.0.0.1:8000"], "workers": 2}, deps=deps))
    assert has_block(ini, "if-env = WORKERS", "processes = %(_)", "endif =", "if-not-env = WORKERS", "processes = 2",
                     "endif =")
    assert flags == ["gpx-convert: workers = 2 depends on $WORKERS: written with uWSGI's if-env, decided where uWSGI "
                     "starts"]


def test_a_switch_from_a_variable_is_frozen_and_said_so():
    deps = {"settings": {"preload_app": {"kind": "cases", "var": "APP_ENV", "cases": [["production", True]],
                                         "default": False}}, "env": {}, "inputs": ["APP_ENV"]}
    ini, flags = render(report({"bind": ["127.0.0.1:8000"], "workers": 1, "preload_app": False}, deps=deps))
    assert values(ini, "lazy-apps") == ["true"]
    assert flags == ["gpx-convert: preload_app = False depends on $APP_ENV (APP_ENV='production': True; otherwise "
                     "False): frozen in the ini at its value with $APP_ENV unset"]
    assert any(line.startswith("; (!) preload_app depends on $APP_ENV") for line in ini.splitlines())


def test_a_variable_set_by_a_branch_is_a_placeholder_chain():
    deps = {"settings": {}, "env": {"APP_MODE": {"kind": "cases", "var": "APP_ENV",
                                                 "cases": [["production", ["set", "fast"]]],
                                                 "default": ["set", "slow"]}}, "inputs": ["APP_ENV"]}
    ini, flags = render(report({"bind": ["127.0.0.1:8000"], "workers": 1}, env_ops=[("set", "APP_MODE", "slow")],
                               deps=deps))
    assert has_block(ini, "if-env = APP_ENV=production", "set-placeholder = gunicorn_app_mode=fast", "endif =",
                     "set-placeholder = gunicorn_app_mode=slow", "env = APP_MODE=%(gunicorn_app_mode)")
    assert flags == ["gpx-convert: APP_MODE depends on $APP_ENV (APP_ENV='production': 'fast'; otherwise 'slow'): "
                     "written with uWSGI's if-env (env), decided where uWSGI starts"]
