"""tools/gpx-convert: the guide's Gunicorn configs become uWSGI ini files that start.

For each of the 16 configs of gunicorn-prometheus-exporter's configuration
guide (guide_configs/, copied from the guide as published; the Debug fragment
completed from the Basic one in its own file) and for Gunicorn's own defaults
(an empty config):

- the converter runs and its output parses as an ini file;
- the option lines that carry the scenario are exactly there: the service
  lines (strict, die-on-term, need-app), the sockets, processes and the worker
  model, harakiri, max-requests and max-requests-delta (jitter // (workers -
  1)), and the exporter's variables as gpx options inside `if-not-env` blocks
  (gpx-redis for the two Redis scenarios); no http-keepalive, which an
  http-socket ignores;
- Gunicorn 23 itself (tests/requirements.txt), loading the same file, agrees
  on the values, and every setting the file names is accounted for by a
  `; NAME = ...` line saying where it went or a `; not mapped: NAME = ...`
  line saying why not;
- the ini starts under --strict with both uWSGI builds (Debian's 2.0.21 with
  gpx from build/system, PyPI's 2.0.31 with build/pypi), moved to free ports
  by environment variables only (GPX_APP_BIND for the app's socket,
  PROMETHEUS_METRICS_PORT and friends for gpx: the `if-not-env` blocks let
  them win, as setdefault did), serves one request, /metrics counts exactly
  that request, and SIGTERM stops it within seconds. The Redis scenarios run
  against a private redis-server on a free port; the Production one logs
  under tmp_path instead of /var/log/gunicorn. The gevent ones run on PyPI's
  uwsgi with Debian's python3-gevent on PYTHONPATH; the tornado one is refused
  there in one line (PyPI's uwsgi has no tornado loop engine). An ini whose app
  cannot be loaded stops at start, lazy-apps included.

Beyond the guide: setdefault against assignment, checked in the ini and in a
running uWSGI; values a config computes from the machine or the environment
(the CPU count, os.environ.get, branches on a variable, a conditional
os.environ assignment), each in uWSGI's run-time form or frozen, marked in
the ini and on stderr, and checked against Gunicorn's own reading of the same
config in the same environments; other forms Gunicorn accepts (worker
classes as objects, hooks as import paths, several binds, access log
formats); and configs that cannot be evaluated, each reported in one line.
"""

from __future__ import annotations

import configparser
import importlib.machinery
import importlib.util
import json
import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from conftest import BUILDS, DEMO_APP, ROOT, Build, Server, free_port, parse_metrics, wait_for
from redis_server import redis_factory  # noqa: F401 (the fixture)

CONVERTER = ROOT / "tools" / "gpx-convert"
CONFIGS = Path(__file__).resolve().parent / "guide_configs"
UWSGI = "/usr/bin/uwsgi-core"
PLUGIN_DIR = ROOT / "build" / "system"
DEBIAN_PYTHON = "/usr/lib/python3/dist-packages"
DEBIAN_PLUGINS = Path("/usr/lib/uwsgi/plugins")
DEBIAN_PACKAGES = ("uwsgi-plugin-gevent-python3", "uwsgi-plugin-tornado-python3", "uwsgi-plugin-greenlet-python3")

# Variables that would change what the converter writes or what uWSGI does
# behind a test's back.
VARIABLES = ("PROMETHEUS_MULTIPROC_DIR", "PROMETHEUS_METRICS_PORT", "PROMETHEUS_BIND_ADDRESS", "CLEANUP_DB_FILES",
             "GPX_INSTANCE", "REDIS_ENABLED", "REDIS_HOST", "REDIS_PORT", "REDIS_DB", "REDIS_PASSWORD",
             "REDIS_KEY_PREFIX", "GPX_REDIS_INTERVAL", "GPX_REDIS_TTL", "REDIS_TTL_SECONDS", "REDIS_TTL_DISABLED",
             "PROMETHEUS_SSL_CLIENT_CAPATH", "PROMETHEUS_SSL_CLIENT_AUTH_REQUIRED", "GUNICORN_WORKERS",
             "GUNICORN_KEEPALIVE", "GUNICORN_CMD_ARGS", "PORT", "WEB_CONCURRENCY", "GPX_APP_BIND", "GPX_APP_BIND_2",
             "APP_ENV", "WORKERS", "THREADS", "TIMEOUT", "BIND", "METRICS_PORT", "CI")

FILES = {"gpx-multiproc-dir": "/tmp/prometheus_multiproc", "gpx-port": "9090", "gpx-bind": "0.0.0.0"}
REDIS = {"gpx-redis": "true", "gpx-redis-host": "localhost", "gpx-redis-port": "6379", "gpx-redis-db": "0",
         "gpx-redis-password": ""}


@dataclass
class Scenario:
    """What the guide's config says, in uWSGI's terms."""

    file: str | None  # None: an empty config (Gunicorn's defaults)
    processes: int
    mode: str  # sync, threads, gevent, tornado
    cores: int = 0  # threads, or async cores
    gpx: dict = field(default_factory=dict)  # option -> value inside `if-not-env` blocks
    harakiri: int = 30
    max_requests: int | None = None
    delta: int | None = None
    lazy: bool = True
    keepalive: int | None = None
    bind: str = "0.0.0.0:8000"


SCENARIOS = {
    "basic": Scenario("gunicorn_basic.conf.py", 2, "sync", gpx=FILES),
    "high_performance": Scenario("gunicorn_high_performance.conf.py", 8, "threads", 1,
                                 gpx={**FILES, "gpx-cleanup-db-files": "true"}, harakiri=60, max_requests=1000,
                                 delta=7, lazy=False, keepalive=5),
    "async": Scenario("gunicorn_async.conf.py", 4, "gevent", 1000, gpx=FILES, max_requests=1000, delta=33,
                      keepalive=2),
    "production": Scenario("gunicorn_production.conf.py", 4, "sync",
                           gpx={"gpx-multiproc-dir": "/var/tmp/prometheus_multiproc", "gpx-port": "9090",
                                "gpx-bind": "127.0.0.1", "gpx-cleanup-db-files": "true"},
                           harakiri=60, max_requests=1000, delta=16, lazy=False, keepalive=5),
    "redis_storage": Scenario("gunicorn_redis_storage.conf.py", 4, "sync",
                              gpx={"gpx-port": "9092", "gpx-bind": "0.0.0.0", **REDIS}, harakiri=60,
                              max_requests=1000, delta=16, keepalive=5),
    "development": Scenario("gunicorn_development.conf.py", 2, "sync", gpx={**FILES, "gpx-debug": "true"}),
    "sync": Scenario("gunicorn_sync.conf.py", 4, "sync", gpx=FILES),
    "thread": Scenario("gunicorn_thread.conf.py", 2, "threads", 4, gpx=FILES, keepalive=2),
    "eventlet": Scenario("gunicorn_eventlet.conf.py", 4, "gevent", 1000, gpx=FILES, keepalive=2),
    "gevent": Scenario("gunicorn_gevent.conf.py", 4, "gevent", 1000, gpx=FILES, keepalive=2),
    "tornado": Scenario("gunicorn_tornado.conf.py", 4, "tornado", 1000, gpx=FILES, keepalive=2),
    "custom_hooks": Scenario("gunicorn_custom_hooks.conf.py", 4, "sync", gpx=FILES),
    "advanced_hooks": Scenario("gunicorn_advanced_hooks.conf.py", 4, "sync", gpx=FILES, harakiri=300),
    "with_cli": Scenario("gunicorn_with_cli.conf.py", 4, "sync", gpx=FILES, harakiri=300),
    "debug": Scenario("gunicorn_debug.conf.py", 2, "sync", gpx=FILES),
    "redis_backend": Scenario("gunicorn_redis_backend.conf.py", 4, "sync",
                              gpx={"gpx-port": "9091", "gpx-bind": "0.0.0.0", **REDIS,
                                   "gpx-redis-key-prefix": "gunicorn"},
                              harakiri=60, max_requests=1000, delta=16, keepalive=5),
    "gunicorn_defaults": Scenario(None, 1, "sync", bind="127.0.0.1:8000"),
}
IDS = sorted(SCENARIOS)


# -- helpers ---------------------------------------------------------------------------------------
def clean_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in VARIABLES}
    env.update(extra)
    return env


def config_path(name: str, tmp_path: Path) -> Path:
    scenario = SCENARIOS[name]
    if scenario.file is not None:
        return CONFIGS / scenario.file
    empty = tmp_path / "gunicorn_empty.conf.py"
    empty.write_text("# An empty Gunicorn config: Gunicorn's own defaults.\n")
    return empty


def convert(config: Path, *args: str, env=None, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([str(CONVERTER), str(config), *args], capture_output=True, text=True, timeout=120,
                          env=env if env is not None else clean_env(), cwd=cwd or ROOT)


def converted(name: str, tmp_path: Path, plugin_dir: Path = PLUGIN_DIR) -> str:
    out = convert(config_path(name, tmp_path), "--wsgi-file", str(DEMO_APP), "--plugin-dir", str(plugin_dir))
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("[uwsgi]\n")
    flagged = [line for line in out.stderr.splitlines() if line.startswith("gpx-convert: ")]
    if SCENARIOS[name].file is None:  # Gunicorn's defaults read $PORT and $WEB_CONCURRENCY
        assert len(flagged) == 2 and "$PORT" in flagged[0] and "$WEB_CONCURRENCY" in flagged[1], out.stderr
    else:  # the guide's configs compute nothing from the machine or the environment
        assert flagged == [], out.stderr
        assert not [line for line in out.stdout.splitlines() if line.startswith("; (!)")]
    return out.stdout


def option_lines(ini: str) -> list[str]:
    """The ini's option lines, in order, without comments and blank lines."""
    return [line for line in ini.splitlines() if line.strip() and not line.lstrip().startswith((";", "#", "["))]


def pairs(ini: str) -> list[tuple[str, str]]:
    out = []
    for line in option_lines(ini):
        key, eq, value = line.partition("=")
        assert eq, f"not an option line: {line!r}"
        out.append((key.strip(), value.strip()))
    return out


def values(ini: str, key: str) -> list[str]:
    return [v for k, v in pairs(ini) if k == key]


def has_block(ini: str, *lines: str) -> bool:
    """Whether these option lines follow each other in the ini."""
    opts = option_lines(ini)
    n = len(lines)
    return any(tuple(opts[i:i + n]) == lines for i in range(len(opts) - n + 1))


def load_converter():
    loader = importlib.machinery.SourceFileLoader("gpx_convert", str(CONVERTER))
    spec = importlib.util.spec_from_loader("gpx_convert", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


GUNICORN_LOADER = textwrap.dedent("""
    import json, os, sys
    stub_dir, path = sys.argv[1:3]
    sys.path.insert(0, stub_dir)
    from gunicorn.app.base import Application
    from gunicorn.config import Config

    class Loader(Application):
        def __init__(self):
            self.cfg = Config()
        def init(self, parser, opts, args):
            pass
        def load(self):
            pass

    app = Loader()
    names = app.load_config_from_module_name_or_filename(path)
    c = app.cfg
    print(json.dumps({
        "explicit": [k for k in names if k in c.settings],
        "bind": c.settings["bind"].get(), "workers": c.workers, "worker_class": c.worker_class_str,
        "threads": c.threads, "worker_connections": c.worker_connections, "timeout": c.timeout,
        "graceful_timeout": c.graceful_timeout, "max_requests": c.max_requests,
        "max_requests_jitter": c.max_requests_jitter, "keepalive": c.keepalive, "preload_app": c.preload_app,
        "accesslog": c.accesslog, "errorlog": c.errorlog, "reload": c.reload,
        "env": {k: os.environ.get(k) for k in ("PROMETHEUS_METRICS_PORT", "REDIS_ENABLED", "CLEANUP_DB_FILES")},
    }))
""")


def gunicorn_view(config: Path, tmp_path: Path, env: dict | None = None) -> dict:
    """Gunicorn 23's own reading of the config file, with the converter's
    stand-in exporter package on sys.path. It runs where the Development
    config's reload_extra_files exist, since Gunicorn refuses missing ones."""
    pytest.importorskip("gunicorn", reason="Gunicorn 23 is in tests/requirements.txt")
    stub = tmp_path / "stub"
    (stub / "gunicorn_prometheus_exporter").mkdir(parents=True, exist_ok=True)
    (stub / "gunicorn_prometheus_exporter" / "__init__.py").write_text(load_converter().STUB_INIT)
    cwd = tmp_path / "gunicorn_cwd"
    cwd.mkdir(exist_ok=True)
    for name in ("app.py", "config.py"):
        (cwd / name).touch()
    out = subprocess.run([sys.executable, "-c", GUNICORN_LOADER, str(stub), str(config)], capture_output=True,
                         text=True, cwd=cwd, env=clean_env(**(env or {})), timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def ensure_debian_plugins(names):
    """Debian's loop-engine plugins, installed if they can be; a skip if not."""
    missing = [n for n in names if not (DEBIAN_PLUGINS / f"{n}_plugin.so").exists()]
    if missing:
        subprocess.run(["apt-get", "install", "-y", *DEBIAN_PACKAGES], capture_output=True,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        missing = [n for n in names if not (DEBIAN_PLUGINS / f"{n}_plugin.so").exists()]
    if missing:
        pytest.skip(f"Debian's {', '.join(missing)} plugin(s) cannot be installed: {' '.join(DEBIAN_PACKAGES)}")


# -- conversion --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", IDS)
def test_conversion(name, tmp_path):
    scenario = SCENARIOS[name]
    ini = converted(name, tmp_path)

    # an ini file uWSGI and Python both read
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",),
                                       comment_prefixes=(";", "#"))
    parser.read_string(ini)
    assert parser.sections() == ["uwsgi"]
    pairs(ini)  # every option line is `key = value`

    # a service: strict, stopped by SIGTERM, refusing to run without its app; first, so strict sees every line
    assert pairs(ini)[:3] == [("strict", "true"), ("die-on-term", "true"), ("need-app", "true")]

    # plugins: the language and loop engines where uWSGI lacks them, then gpx from the build directory
    assert has_block(ini, "if-not-plugin = python", "plugin = python3", "endif =")
    assert values(ini, "plugin")[0] == "python3"
    assert values(ini, "plugin")[-1] == "gpx"
    assert values(ini, "plugins-dir") == [str(PLUGIN_DIR)]
    assert values(ini, "wsgi-file") == [str(DEMO_APP)]

    # the socket, movable by GPX_APP_BIND (Gunicorn's default bind also by $PORT, as Gunicorn's)
    if scenario.file is None:
        assert has_block(ini, "if-env = GPX_APP_BIND", "set-placeholder = gunicorn_http_socket=%(_)", "endif =",
                         "if-env = PORT", "set-placeholder = gunicorn_http_socket=0.0.0.0:%(_)", "endif =",
                         f"set-placeholder = gunicorn_http_socket={scenario.bind}",
                         "http-socket = %(gunicorn_http_socket)")
        assert has_block(ini, "if-env = WEB_CONCURRENCY", "processes = %(_)", "endif =",
                         "if-not-env = WEB_CONCURRENCY", f"processes = {scenario.processes}", "endif =")
    else:
        assert has_block(ini, "if-env = GPX_APP_BIND", "http-socket = %(_)", "endif =")
        assert has_block(ini, "if-not-env = GPX_APP_BIND", f"http-socket = {scenario.bind}", "endif =")
        assert values(ini, "http-socket") == ["%(_)", scenario.bind]
        assert values(ini, "processes") == [str(scenario.processes)]
    loop_keys = {"threads", "gevent", "tornado", "greenlet"}
    expected = {"sync": {}, "threads": {"threads": [str(scenario.cores)]},
                "gevent": {"gevent": [str(scenario.cores)]},
                "tornado": {"tornado": [str(scenario.cores)], "greenlet": ["true"]}}[scenario.mode]
    assert {k: values(ini, k) for k in loop_keys if values(ini, k)} == expected
    plugins = {"sync": [], "threads": [], "gevent": ["gevent_python3"],
               "tornado": ["greenlet_python3", "tornado_python3"]}[scenario.mode]
    assert [p for p in values(ini, "plugin") if p not in ("python3", "gpx", "logfile")] == plugins

    # limits and recycling
    assert values(ini, "harakiri") == [str(scenario.harakiri)]
    assert values(ini, "max-requests") == ([str(scenario.max_requests)] if scenario.max_requests else [])
    assert values(ini, "max-requests-delta") == ([str(scenario.delta)] if scenario.delta else [])
    if scenario.delta:  # left out on Debian 12's uWSGI 2.0.21, which has no such option
        assert has_block(ini, "set-placeholder = running_uwsgi=%V", "if-not-opt = running_uwsgi=2.0.21-debian",
                         f"max-requests-delta = {scenario.delta}", "endif =")
    assert values(ini, "lazy-apps") == (["true"] if scenario.lazy else [])
    # keep-alive: an http-socket has none, and the comment says what to do instead
    assert values(ini, "http-keepalive") == []
    if scenario.keepalive:
        assert any(line.startswith(f"; not mapped: keepalive = {scenario.keepalive}") and "http-keepalive" in line
                   for line in ini.splitlines()), ini
    # GUNICORN_* configured Gunicorn: nothing for the app, so gpx has nothing to explain at start
    assert not [v for v in values(ini, "env") if v.startswith("GUNICORN_")]

    # the exporter's variables: gpx options that the environment overrides
    gpx_options = {k: v for k, v in pairs(ini) if k.startswith("gpx-")}
    assert gpx_options == scenario.gpx
    variable = {v: k for k, v in load_converter().GPX_VARIABLES.items()}
    for option, value in scenario.gpx.items():
        assert has_block(ini, f"if-not-env = {variable[option]}", f"{option} = {value}".rstrip(), "endif ="), option
        assert len(values(ini, option)) == 1  # never unconditional
    if "gpx-redis" in scenario.gpx:
        assert has_block(ini, "if-not-env = REDIS_ENABLED", "gpx-redis = true", "endif =")


@pytest.mark.parametrize("name", IDS)
def test_gunicorn_agrees_and_every_setting_is_accounted_for(name, tmp_path):
    config = config_path(name, tmp_path)
    ini = converted(name, tmp_path)
    view = gunicorn_view(config, tmp_path)

    # what Gunicorn itself reads from the file is what the ini says
    if SCENARIOS[name].file is None:
        assert [v for v in values(ini, "set-placeholder") if v.startswith("gunicorn_http_socket=")][-1] == \
            "gunicorn_http_socket=" + view["bind"][0]
        assert values(ini, "processes") == ["%(_)", str(view["workers"])]
    else:
        assert values(ini, "http-socket")[1:] == view["bind"]
        assert values(ini, "processes") == [str(view["workers"])]
    assert values(ini, "harakiri") == [str(view["timeout"])]
    assert values(ini, "worker-reload-mercy") == [str(view["graceful_timeout"])]
    assert values(ini, "max-requests") == ([str(view["max_requests"])] if view["max_requests"] else [])
    assert bool(values(ini, "lazy-apps")) == (not view["preload_app"])
    assert bool(values(ini, "disable-logging")) == (view["accesslog"] is None)
    assert bool(values(ini, "py-autoreload")) == view["reload"]
    if view["errorlog"] not in ("-", None):
        assert values(ini, "logto") == [view["errorlog"]]
    worker = view["worker_class"].rpartition(".")[2].lower()
    if "gevent" in worker or "eventlet" in worker:
        assert values(ini, "gevent") == [str(view["worker_connections"])]
    elif "tornado" in worker:
        assert values(ini, "tornado") == [str(view["worker_connections"])]
    elif "thread" in worker:
        assert values(ini, "threads") == [str(view["threads"])]

    # every setting the file names: where it went, or why it did not
    comments = [line for line in ini.splitlines() if line.startswith("; ")]
    for setting in view["explicit"]:
        assert any(re.match(rf"; (not mapped: )?{setting} = ", c) for c in comments), setting
    # and each `not mapped` line gives a reason
    for c in comments:
        if c.startswith("; not mapped: "):
            assert re.match(r"; not mapped: .+: \S", c), c


def test_gunicorn_defaults_table_matches_gunicorn():
    gunicorn_config = pytest.importorskip("gunicorn.config", reason="Gunicorn 23 is in tests/requirements.txt")
    ours = load_converter()
    cfg = gunicorn_config.Config()
    assert list(ours.SETTINGS) == sorted(cfg.settings, key=lambda n: cfg.settings[n].order)
    env_dependent = {"bind", "workers", "chdir", "user", "group"}
    for name, setting in cfg.settings.items():
        kind, default = ours.SETTINGS[name]
        if kind == "hook":
            assert callable(setting.default)
            assert ours.HOOK_ARITY[name] == (-1 if name == "post_request" else
                                             gunicorn_config.util.get_arity(setting.default))
        elif name not in env_dependent:
            assert default == setting.default, name
    mine = ours.defaults(clean_env())
    assert mine["bind"] == cfg.settings["bind"].default or "PORT" in os.environ
    assert mine["user"] == cfg.settings["user"].default and mine["group"] == cfg.settings["group"].default


# -- what the config does to the environment ----------------------------------------------------------
def test_setdefault_keeps_the_environment_first_an_assignment_does_not(tmp_path):
    config = tmp_path / "gunicorn_env.conf.py"
    config.write_text(textwrap.dedent("""
        import os
        os.environ.setdefault("PROMETHEUS_METRICS_PORT", "9191")
        os.environ["PROMETHEUS_BIND_ADDRESS"] = "127.0.0.1"
        os.environ["REDIS_HOST"] = os.environ.get("REDIS_HOST", "redis.internal")
        os.environ.setdefault("APP_SETTING", "50%")
        workers = 3
    """))
    # what the environment holds while converting does not change the ini
    for env in (clean_env(), clean_env(PROMETHEUS_METRICS_PORT="1234", REDIS_HOST="elsewhere")):
        out = convert(config, env=env)
        assert out.returncode == 0, out.stderr
        ini = out.stdout
        assert has_block(ini, "if-not-env = PROMETHEUS_METRICS_PORT", "gpx-port = 9191", "endif =")
        assert "gpx-bind = 127.0.0.1" in option_lines(ini) and not has_block(
            ini, "if-not-env = PROMETHEUS_BIND_ADDRESS", "gpx-bind = 127.0.0.1")
        assert has_block(ini, "if-not-env = REDIS_HOST", "gpx-redis-host = redis.internal", "endif =")
        assert has_block(ini, "if-not-env = APP_SETTING", "env = APP_SETTING=50%%", "endif =")
        assert values(ini, "processes") == ["3"]


def test_the_exporters_other_variables_become_gpx_options(tmp_path):
    """The variables the exporter reads beyond the guide's table map to
    their gpx options, in the same setdefault blocks."""
    config = tmp_path / "gunicorn_more_env.conf.py"
    config.write_text(textwrap.dedent("""
        import os
        os.environ.setdefault("REDIS_TTL_SECONDS", "300")
        os.environ.setdefault("REDIS_TTL_DISABLED", "false")
        os.environ.setdefault("PROMETHEUS_SSL_CLIENT_CAPATH", "/etc/ssl/scrapers")
        os.environ.setdefault("PROMETHEUS_SSL_CLIENT_AUTH_REQUIRED", "true")
    """))
    out = convert(config)
    assert out.returncode == 0, out.stderr
    ini = out.stdout
    assert has_block(ini, "if-not-env = REDIS_TTL_SECONDS", "gpx-redis-ttl = 300", "endif =")
    assert has_block(ini, "if-not-env = REDIS_TTL_DISABLED", "gpx-redis-ttl-disabled = false", "endif =")
    assert has_block(ini, "if-not-env = PROMETHEUS_SSL_CLIENT_CAPATH", "gpx-ssl-client-capath = /etc/ssl/scrapers",
                     "endif =")
    assert has_block(ini, "if-not-env = PROMETHEUS_SSL_CLIENT_AUTH_REQUIRED", "gpx-ssl-client-auth-required = true",
                     "endif =")
    assert not [line for line in option_lines(ini) if line.startswith("env = ")]


def test_the_blocks_let_uwsgi_s_environment_win(tmp_path):
    """The config's setdefault value applies when uWSGI's environment lacks the
    variable, the environment's otherwise; an assignment wins over both."""
    first, second, app_port = free_port(), free_port(), free_port()
    config = tmp_path / "gunicorn_ports.conf.py"
    config.write_text(textwrap.dedent(f"""
        import os
        os.environ.setdefault("PROMETHEUS_METRICS_PORT", "{first}")
        os.environ["PROMETHEUS_BIND_ADDRESS"] = "127.0.0.1"
        os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", "{tmp_path / 'mp'}")
        bind = "127.0.0.1:{app_port}"
        workers = 1
    """))
    out = convert(config, "--wsgi-file", str(DEMO_APP), "--plugin-dir", str(PLUGIN_DIR))
    assert out.returncode == 0, out.stderr
    ini = tmp_path / "ports.ini"
    ini.write_text(out.stdout)
    for metrics_port, env in ((first, {}), (second, {"PROMETHEUS_METRICS_PORT": str(second),
                                                      "PROMETHEUS_BIND_ADDRESS": "0.0.0.0"})):
        s = start_uwsgi(tmp_path, ini, app_port, metrics_port, env)
        try:
            one_request_counted(s)
            assert f"metrics on 127.0.0.1:{metrics_port}" in s.output()
        finally:
            s.stop()


# -- values from the machine or the environment ----------------------------------------------------
def shown_config(build: Build, ini: Path, env: dict) -> dict[str, list[str]]:
    """The options uWSGI itself takes from the ini under `env` (--show-config, then an
    `exit` hook before anything binds), by name."""
    out = subprocess.run([build.uwsgi, "--strict", "--ini", str(ini), "--show-config", "--hook-pre-jail", "exit:0"],
                         env=clean_env(**env), capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
                         cwd=ini.parent)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text
    block = re.search(r"^;uWSGI instance configuration\n(.*?)^;end of configuration$", text, re.M | re.S)
    assert block, text
    shown: dict[str, list[str]] = {}
    for line in block.group(1).splitlines():
        key, eq, value = line.partition(" = ")
        if eq:
            shown.setdefault(key, []).append(value.strip())
    return shown


def flagged(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("gpx-convert: ")]


def comment_before(ini: str, option_line: str) -> str:
    """The `; (!)` comment right above an option line (or its if-env block)."""
    lines = ini.splitlines()
    i = lines.index(option_line)
    while i > 0 and not lines[i - 1].startswith("; "):
        i -= 1
    assert lines[i - 1].startswith("; (!) "), (option_line, lines[i - 2:i + 1])
    return lines[i - 1]


def test_cpu_count_becomes_uwsgis_cpu_count(build, tmp_path):
    """multiprocessing.cpu_count() and os.cpu_count() read the converting machine:
    the ini computes the same from uWSGI's %k, the CPU count where it starts."""
    config = CONFIGS / "dynamic_cpu_count.conf.py"
    out = convert(config, "--wsgi-file", str(DEMO_APP), "--plugin-dir", str(Path(build.plugin).parent))
    assert out.returncode == 0, out.stderr
    ini = out.stdout
    cpus = os.cpu_count()
    assert values(ini, "processes") == ["%(%k * 2 + 1)"]
    assert values(ini, "threads") == ["%k"]
    assert values(ini, "max-requests-delta") == ["%(40 / %k / 2)"]  # 40 // (workers - 1)
    assert "CPU count" in comment_before(ini, "processes = %(%k * 2 + 1)")
    assert "CPU count" in comment_before(ini, "threads = %k")
    assert flagged(out.stderr) == [
        f"gpx-convert: workers = {2 * cpus + 1} depends on this machine's CPU count ({cpus}): written as processes "
        "= %(%k * 2 + 1), computed where uWSGI starts",
        f"gpx-convert: threads = {cpus} depends on this machine's CPU count ({cpus}): written as threads = %k, "
        "computed where uWSGI starts",
    ]
    path = tmp_path / "cpus.ini"  # the config's bind, 127.0.0.1:8000, moved by GPX_APP_BIND below
    path.write_text(ini)
    shown = shown_config(build, path, {})
    view = gunicorn_view(config, tmp_path)
    assert shown["processes"] == [str(view["workers"])] == [str(2 * cpus + 1)]
    assert shown["threads"] == [str(view["threads"])] == [str(cpus)]
    expected_delta = [] if build.version().startswith("2.0.21") else [str(40 // (2 * cpus))]
    assert shown.get("max-requests-delta", []) == expected_delta

    # and it runs so: 2n + 1 workers of n threads
    app_port, metrics_port = free_port(), free_port()
    s = start_uwsgi(tmp_path, path, app_port, metrics_port, on_ports(tmp_path, app_port, metrics_port), build=build)
    try:
        one_request_counted(s, 2 * cpus + 1)
        assert f"gpx: {2 * cpus + 1} worker slot(s) x {cpus} cell(s)" in s.output()
        assert s.scrape().value("gunicorn_workers_desired") == 2 * cpus + 1
    finally:
        s.stop()


@pytest.mark.parametrize("source, line, flag", [
    # not a * CPUs + b: uWSGI's placeholder math cannot say it
    ("import multiprocessing\nbind = '127.0.0.1:8000'\nworkers = max(2, multiprocessing.cpu_count())\n",
     "processes = {max2}",
     "gpx-convert: workers = {max2} depends on this machine's CPU count ({cpus}): frozen in the ini at its value on "
     "this machine"),
    # a branch on two variables at once
    ("import os\nbind = '127.0.0.1:8000'\nworkers = 8 if os.environ.get('A') and os.environ.get('B') else 2\n",
     "processes = 2",
     "gpx-convert: workers = 2 depends on $A and $B: frozen in the ini at its value with $A and $B unset"),
])
def test_values_without_a_run_time_form_are_frozen_and_said(tmp_path, source, line, flag):
    cpus = os.cpu_count()
    config = tmp_path / "gunicorn_frozen.conf.py"
    config.write_text(source)
    out = convert(config, "--app", "demo_app:application")
    assert out.returncode == 0, out.stderr
    line = line.format(max2=max(2, cpus))
    assert line in out.stdout.splitlines()
    assert "frozen at" in comment_before(out.stdout, line)
    assert flagged(out.stderr) == [flag.format(max2=max(2, cpus), cpus=cpus)]




def test_environment_values_are_decided_where_uwsgi_starts(build, tmp_path):
    """os.environ.get, branches on a variable and conditional assignments: the
    ini is the same whatever the converting environment held, says which values
    depend on what (a comment on the line, one line on stderr each), and under
    each environment uWSGI reads from it what Gunicorn reads from the config."""
    config = CONFIGS / "dynamic_environment.conf.py"
    plugin_dir = str(Path(build.plugin).parent)
    out = convert(config, "--wsgi-file", str(DEMO_APP), "--plugin-dir", plugin_dir)
    assert out.returncode == 0, out.stderr
    ini = out.stdout
    # converting where the variables are set gives the same ini
    there = convert(config, "--wsgi-file", str(DEMO_APP), "--plugin-dir", plugin_dir,
                    env=clean_env(APP_ENV="production", WORKERS="5", BIND="0.0.0.0:1", METRICS_PORT="1", CI="1"))
    assert there.returncode == 0, there.stderr
    assert there.stdout == ini
    lines = flagged(out.stderr)
    assert flagged(there.stderr) == lines
    assert len(lines) == 7, lines
    for name in ("bind = ", "workers = ", "timeout = ", "preload_app = ", "REDIS_ENABLED ", "PROMETHEUS_METRICS_PORT ",
                 "CLEANUP_DB_FILES "):
        assert len([x for x in lines if x.startswith("gpx-convert: " + name)]) == 1, (name, lines)
    assert [x for x in lines if x.startswith("gpx-convert: preload_app")] == [
        "gpx-convert: preload_app = False depends on $APP_ENV (APP_ENV='production': True; otherwise False): frozen "
        "in the ini at its value with $APP_ENV unset"]
    # the run-time forms
    assert has_block(ini, "if-env = WORKERS", "processes = %(_)", "endif =", "if-not-env = WORKERS", "processes = 2",
                     "endif =")
    assert has_block(ini, "if-env = APP_ENV=production", "harakiri = 60", "endif =",
                     "if-not-env = APP_ENV=production", "harakiri = 300", "endif =")
    assert has_block(ini, "if-env = APP_ENV=production", "gpx-redis = true", "endif =")  # not unconditional
    assert has_block(ini, "if-not-env = CI", "gpx-cleanup-db-files = true", "endif =")
    for option in ("processes = %(_)", "harakiri = 60", "gpx-redis = true", "gpx-cleanup-db-files = true"):
        comment_before(ini, option)

    path = tmp_path / "env.ini"
    path.write_text(ini)
    environments = [
        {},
        {"APP_ENV": "production"},
        {"APP_ENV": "staging", "WORKERS": "3", "METRICS_PORT": "9555", "CI": "1"},
        {"BIND": f"127.0.0.1:{free_port()}", "PROMETHEUS_METRICS_PORT": "9666", "METRICS_PORT": "9555"},
        {"BIND": "127.0.0.1:1", "GPX_APP_BIND": f"127.0.0.1:{free_port()}"},  # the ini's own override wins
    ]
    for env in environments:
        shown = shown_config(build, path, env)
        view = gunicorn_view(config, tmp_path, {k: v for k, v in env.items() if k != "GPX_APP_BIND"})
        assert shown["processes"][-1] == str(view["workers"]), (env, shown)
        assert shown["harakiri"] == [str(view["timeout"])], (env, shown)
        assert shown["http-socket"] == ([env["GPX_APP_BIND"]] if "GPX_APP_BIND" in env else view["bind"]), env
        gpx = {k: v[-1] for k, v in shown.items() if k.startswith("gpx-")}
        # what the exporter would read: the config's variables, or the environment's over a setdefault
        assert (gpx["gpx-port"] or env.get("PROMETHEUS_METRICS_PORT")) == view["env"]["PROMETHEUS_METRICS_PORT"], env
        assert gpx.get("gpx-redis") == view["env"]["REDIS_ENABLED"], (env, gpx)
        assert gpx.get("gpx-cleanup-db-files") == view["env"]["CLEANUP_DB_FILES"], (env, gpx)

    # and it starts so, here with the defaults but the ports
    app_port, metrics_port = free_port(), free_port()
    s = start_uwsgi(tmp_path, path, app_port, metrics_port, on_ports(tmp_path, app_port, metrics_port), build=build)
    try:
        one_request_counted(s, 2)
    finally:
        s.stop()


def test_a_variable_the_config_needs_is_read_where_uwsgi_starts(build, tmp_path):
    """os.environ["WORKERS"] without a default: the config cannot run without it,
    so the ini takes it the same way, `$(WORKERS)`."""
    config = tmp_path / "gunicorn_required.conf.py"
    config.write_text("import os\nworkers = int(os.environ['WORKERS'])\nbind = '127.0.0.1:8000'\n")
    out = convert(config, "--app", "demo_app:application")
    assert out.returncode != 0 and out.stderr.splitlines() == [
        f"gpx-convert: cannot evaluate {config}: KeyError: 'WORKERS' (gunicorn_required.conf.py, line 2)"]
    out = convert(config, "--app", "demo_app:application", "--plugin-dir", str(Path(build.plugin).parent),
                  env=clean_env(WORKERS="3"))
    assert out.returncode == 0, out.stderr
    assert values(out.stdout, "processes") == ["$(WORKERS)"]
    assert flagged(out.stderr) == ["gpx-convert: workers depends on $WORKERS: written as processes = $(WORKERS)"]
    path = tmp_path / "required.ini"
    path.write_text(out.stdout)
    assert shown_config(build, path, {"WORKERS": "4"})["processes"] == ["4"]


def test_comments_say_what_gpx_does(tmp_path):
    """The exporter's TLS and basic-auth variables configure gpx's endpoint (gpx
    options, not the app's environment), and the exit hook's comment names what
    the chosen storage does: a file written to disk, or a last Redis publish."""
    config = tmp_path / "gunicorn_tls.conf.py"
    config.write_text(textwrap.dedent("""
        import os
        from gunicorn_prometheus_exporter.hooks import default_on_exit
        os.environ.setdefault("PROMETHEUS_SSL_CERTFILE", "/etc/gpx/cert.pem")
        os.environ.setdefault("PROMETHEUS_SSL_KEYFILE", "/etc/gpx/key.pem")
        os.environ.setdefault("PROMETHEUS_SSL_CLIENT_CAFILE", "/etc/gpx/ca.pem")
        os.environ["PROMETHEUS_BASIC_AUTH_FILE"] = "/etc/gpx/users"
        bind = "127.0.0.1:8000"
        on_exit = default_on_exit
    """))
    out = convert(config, "--app", "demo_app:application")
    assert out.returncode == 0, out.stderr
    ini = out.stdout
    for variable, option, value in (("PROMETHEUS_SSL_CERTFILE", "gpx-ssl-certfile", "/etc/gpx/cert.pem"),
                                     ("PROMETHEUS_SSL_KEYFILE", "gpx-ssl-keyfile", "/etc/gpx/key.pem"),
                                     ("PROMETHEUS_SSL_CLIENT_CAFILE", "gpx-ssl-client-cafile", "/etc/gpx/ca.pem")):
        assert has_block(ini, f"if-not-env = {variable}", f"{option} = {value}", "endif ="), variable
    assert ("gpx-basic-auth-file", "/etc/gpx/users") in pairs(ini)
    assert values(ini, "env") == []  # none of them is the app's
    exit_line = next(line for line in ini.splitlines() if line.startswith("; on_exit = "))
    assert "writes its counters file to disk" in exit_line and "Redis" not in exit_line
    config.write_text(config.read_text() + 'os.environ["REDIS_ENABLED"] = "true"\n')
    ini = convert(config, "--app", "demo_app:application").stdout
    exit_line = next(line for line in ini.splitlines() if line.startswith("; on_exit = "))
    assert "publishes its totals to Redis a last time" in exit_line and "disk" not in exit_line


# -- other forms Gunicorn accepts --------------------------------------------------------------------
@pytest.mark.parametrize("source, expected", [
    # the exporter's worker classes as objects, and a subclass of one
    ("from gunicorn_prometheus_exporter import PrometheusGeventWorker\nworker_class = PrometheusGeventWorker\n",
     ["gevent = 1000", "plugin = gevent_python3"]),
    ("from gunicorn_prometheus_exporter.plugin import PrometheusThreadWorker\n"
     "class MyWorker(PrometheusThreadWorker):\n    pass\nworker_class = MyWorker\nthreads = 3\n", ["threads = 3"]),
    # Gunicorn runs the sync worker named by string as gthread when threads > 1 ...
    ("worker_class = 'sync'\nthreads = 3\n", ["threads = 3"]),
    # ... but not the exporter's PrometheusWorker
    ("worker_class = 'gunicorn_prometheus_exporter.PrometheusWorker'\nthreads = 3\n",
     ["; not mapped: threads = 3: "]),
    ("worker_class = 'tornado'\nworker_connections = 50\n", ["tornado = 50", "greenlet = true"]),
    # a hook named by its import path, as Gunicorn allows
    ("when_ready = 'gunicorn_prometheus_exporter.hooks.default_when_ready'\n",
     ["; when_ready = gunicorn_prometheus_exporter.hooks.default_when_ready -> nothing to write: "]),
    # a setting's name in another case: Gunicorn ignores it
    ("Workers = 5\n", ["processes = 1", "; ignored: Workers = 5 is not a Gunicorn setting (did you mean workers?)"]),
    ("bind = ['127.0.0.1:8001', 'unix:/tmp/gpx-convert-test.sock']\n",
     ["if-not-env = GPX_APP_BIND_2", "http-socket = /tmp/gpx-convert-test.sock"]),
    ("accesslog = '-'\naccess_log_format = '%(h)s %(m)s %(U)s %({user-agent}i)s %(M)s'\n",
     ["log-format = %%(addr) %%(method) %%(var.PATH_INFO) %%(var.HTTP_USER_AGENT) %%(msecs)"]),
    ("accesslog = '-'\naccess_log_format = '%(h)s %(T)s'\n", ["; not mapped: access_log_format = "]),
    ("spew = True\nlimit_request_line = 8190\n",
     ["; not mapped: spew = True: ", "; not mapped: limit_request_line = "]),
])
def test_other_forms(tmp_path, source, expected):
    config = tmp_path / "gunicorn_forms.conf.py"
    config.write_text(source)
    out = convert(config, "--app", "demo_app:application")
    assert out.returncode == 0, out.stderr
    assert values(out.stdout, "module") == ["demo_app:application"]
    lines = out.stdout.splitlines()
    for line in expected:
        assert any(have == line or (line.endswith(" ") and have.startswith(line)) for have in lines), line


# -- bad configs -------------------------------------------------------------------------------------
@pytest.mark.parametrize("source, message", [
    ("workers = 2\nbind = \"0.0.0.0:8000\n", "SyntaxError"),
    ("import os\nworkers = undefined_name\n", "NameError: name 'undefined_name' is not defined"),
    ("import no_such_module_here\n", "No module named 'no_such_module_here'"),
    ("workers = 'four'\n", "invalid value for workers"),
    ("preload_app = 'maybe'\n", "invalid value for preload_app"),
    ("def when_ready():\n    pass\n", "invalid value for when_ready"),
    ("import os\nos.environ.setdefault('PROMETHEUS_METRICS_PORT', 9090)\n", "TypeError: str expected"),
    ("raise SystemExit(3)\n", "sys.exit(3)"),
])
def test_a_config_that_cannot_be_evaluated_is_one_line(tmp_path, source, message):
    config = tmp_path / "gunicorn_bad.conf.py"
    config.write_text(source)
    out = convert(config)
    assert out.returncode != 0
    assert out.stdout == ""
    lines = out.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("gpx-convert: ") and message in lines[0], out.stderr


def test_a_missing_config_is_one_line(tmp_path):
    out = convert(tmp_path / "nowhere.conf.py")
    assert out.returncode != 0 and out.stdout == ""
    assert out.stderr.splitlines() == [f"gpx-convert: {tmp_path / 'nowhere.conf.py'}: no such file"]


# -- start-up ------------------------------------------------------------------------------------------
class IniServer(Server):
    """conftest's Server, for a converted ini run with `uwsgi --strict`, started in
    tmp_path and with the log files the ini names read along with its output."""

    def __init__(self, tmp_path: Path, ini: Path, app_port: int, metrics_port: int, env: dict, logs=(),
                 build: Build | None = None):
        build = build or BUILDS["system"]
        super().__init__(build, tmp_path, app_port=app_port, metrics_port=metrics_port)
        self.cmd = [build.uwsgi, "--strict", "--ini", str(ini), "--pidfile", str(self.pidfile)]
        self.env = clean_env(**env)
        self.logs = list(logs)

    def start(self, wait=False):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.cmd, env=self.env, cwd=self.tmp, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        return self

    def output(self) -> str:
        return super().output() + "".join(p.read_text(errors="replace") for p in self.logs if p.exists())


def on_ports(tmp_path: Path, app_port: int, metrics_port: int) -> dict:
    """The environment that starts a converted ini on the given free ports:
    the app's socket (GPX_APP_BIND), the metrics endpoint on loopback, the
    prometheus_client directory in the test's own."""
    return {"GPX_APP_BIND": f"127.0.0.1:{app_port}", "PROMETHEUS_METRICS_PORT": str(metrics_port),
            "PROMETHEUS_BIND_ADDRESS": "127.0.0.1", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "mp")}


def start_uwsgi(tmp_path: Path, ini: Path, app_port: int, metrics_port: int, env: dict, logs=(),
                build: Build | None = None) -> Server:
    s = IniServer(tmp_path, ini, app_port, metrics_port, env, logs, build)
    s.start()

    def metrics_up():
        if s.proc.poll() is not None:
            raise AssertionError(f"uwsgi exited with {s.proc.returncode}:\n{s.output()}")
        return requests.get(s.metrics_url, timeout=2).status_code == 200

    try:
        wait_for(metrics_up, 30, what=f"gpx's metrics on {metrics_port}")
    except BaseException:
        s.stop()
        raise
    return s


def one_request_counted(s: Server, processes: int = 1):
    """Exactly one request, and gpx counts exactly it."""
    s.wait_workers_started(processes, timeout=30)
    r = requests.get(s.url("/"), timeout=30, headers={"Connection": "close"})
    assert r.status_code == 200 and r.text.startswith("hello from gpx's demo app"), r.text
    wait_for(lambda: 'gunicorn_requests_total{method="GET",status="200"} 1' in s.scrape_text().splitlines(), 15,
             what="the request counted")
    m = parse_metrics(s.scrape_text())
    assert m.value("gunicorn_requests_total", method="GET", status="200") == 1
    assert m.sum("gunicorn_requests_total") == 1


def build_env(build: Build, scenario: Scenario) -> dict:
    """What the ini needs on this build: Debian's loop-engine plugins, or Debian's
    python3-gevent for PyPI's uwsgi (which has gevent built in, its venv not the
    module)."""
    if not Path(build.plugin).exists():
        pytest.fail(f"{build.plugin} is missing: run `make all pypi`")
    if build.name == "system":
        if scenario.mode == "gevent":
            ensure_debian_plugins(["gevent_python3"])
        elif scenario.mode == "tornado":
            ensure_debian_plugins(["greenlet_python3", "tornado_python3"])
        return {}
    if scenario.mode == "gevent":
        if not Path(DEBIAN_PYTHON, "gevent").is_dir():
            pytest.fail("python3-gevent is not installed: run scripts/setup")
        return {"PYTHONPATH": DEBIAN_PYTHON}
    return {}


@pytest.mark.parametrize("name", IDS)
def test_the_ini_starts(name, build, tmp_path, request):
    scenario = SCENARIOS[name]
    extra = build_env(build, scenario)
    text = converted(name, tmp_path, Path(build.plugin).parent)
    # the Production config logs under /var/log/gunicorn: here, under tmp_path
    logs = tmp_path / "log"
    logs.mkdir()
    text = text.replace("/var/log/gunicorn/", f"{logs}/")
    ini = tmp_path / f"{name}.ini"
    ini.write_text(text)

    app_port, metrics_port = free_port(), free_port()
    env = {**on_ports(tmp_path, app_port, metrics_port), **extra}
    if scenario.mode == "tornado" and build.name == "pypi":
        # PyPI's uwsgi has no tornado loop engine: refused in one line, nothing started
        out = subprocess.run([build.uwsgi, "--strict", "--ini", str(ini)], env=clean_env(**env), cwd=tmp_path,
                             capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        text = out.stdout + out.stderr
        assert out.returncode == 1 and text.splitlines()[-1] == "[strict-mode] unknown config directive: tornado"
        assert "UNABLE to load" not in text and "spawned uWSGI" not in text, text
        return
    redis = None
    if "gpx-redis" in scenario.gpx:
        redis = request.getfixturevalue("redis_factory")()  # a private redis-server on a free port
        env["REDIS_PORT"] = str(redis.port)

    s = start_uwsgi(tmp_path, ini, app_port, metrics_port, env, logs=[logs / "error.log", logs / "access.log"],
                    build=build)
    try:
        one_request_counted(s, scenario.processes)
        log = s.output()
        assert "UNABLE to load" not in log and "unrecognized option" not in log
        assert f"metrics on 127.0.0.1:{metrics_port}" in log
        assert "GUNICORN_" not in log, "the ini sets no variable gpx would have to explain"
        if redis is not None:
            assert f"gpx: storage redis localhost:{redis.port} db 0" in log
            wait_for(lambda: redis.keys("gunicorn:gpx:instance:*"), 15, what="gpx's snapshot in Redis")
        else:
            assert f"gpx: storage files, scoreboard {tmp_path / 'mp'}/" in log
        if name == "production":
            # the error log and the access log went where the config says
            assert (logs / "error.log").exists() and "gpx: storage files" in (logs / "error.log").read_text()
            access = (logs / "access.log").read_text()
            assert re.search(r'^127\.0\.0\.1 - - \[.+\] "GET / HTTP/1\.1" 200 \d+ "-" "[^"]+"$', access, re.M), access
    except BaseException:
        s.stop()
        raise
    # SIGTERM stops it within seconds (die-on-term), the counters kept, nothing of the process group left
    took = s.terminate()
    log = s.output()
    assert s.proc.returncode == 0 and took < 10, (took, log[-3000:])
    assert "SIGINT/SIGTERM received...killing workers..." in log and "goodbye to uWSGI" in log
    assert ("gpx: final totals published to Redis" if redis is not None else "gpx: counters kept in") in log
    assert subprocess.run(["pgrep", "-g", str(s.proc.pid)], capture_output=True).stdout == b""


@pytest.mark.parametrize("preload", [True, False])
def test_the_ini_needs_its_app(build, tmp_path, preload):
    """need-app: an app that cannot be loaded stops uWSGI at start, loaded in the
    master (preload_app = True) or in each worker (lazy-apps, Gunicorn's default)."""
    config = tmp_path / "gunicorn_missing_app.conf.py"
    config.write_text(f"bind = '127.0.0.1:{free_port()}'\nworkers = 2\npreload_app = {preload}\n")
    out = convert(config, "--wsgi-file", str(tmp_path / "no_such_app.py"), "--plugin-dir",
                  str(Path(build.plugin).parent))
    assert out.returncode == 0, out.stderr
    assert ("lazy-apps", "true") in pairs(out.stdout) or preload
    ini = tmp_path / "missing.ini"
    ini.write_text(out.stdout)
    s = IniServer(tmp_path, ini, free_port(), free_port(), {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "mp")},
                  build=build)
    rc = s.run_to_exit(timeout=60)  # stops it, whatever happens
    log = s.output()
    if build.name == "system" and not preload:
        # uWSGI 2.0.21's lazy worker that cannot load its app also signals
        # the master, which then races its own reaping of that worker: the
        # instance always stops, with exit code 22 or, when the signal wins,
        # 0 (seen without gpx too). 2.0.31 always reaps first and exits 22.
        assert rc in (0, 22) and "no app loaded. GAME OVER" in log, log
    else:
        assert rc != 0, log
        assert ("need-app requested, destroying the instance" in log) if not preload else ("no app loaded" in log), log
    with pytest.raises(requests.ConnectionError):
        requests.get(s.metrics_url, timeout=2)
