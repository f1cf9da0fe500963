"""A config read as Gunicorn 23 reads it: the validators of the evaluating
process, and that process run on small configs (python3, no uWSGI)."""

import os
import textwrap

import pytest

from gpxconvert.child import evaluate_config as child
from gpxconvert.errors import ConvertError
from gpxconvert.evaluation import evaluate
from gpxconvert.settings import HOOK_ARITY


@pytest.mark.parametrize("kind, given, checked", [
    ("pos_int", 4, 4), ("pos_int", "0x10", 16), ("bool", "True", True), ("bool", False, False),
    ("string", " x ", "x"), ("list_string", "a", ["a"]), ("list_string", None, []),
    ("string_list", "a, b", "a, b"), ("addr_list", "127.0.0.1,*", "127.0.0.1,*"), ("user", "1000", 1000),
    ("user", "www-data", "www-data"), ("header_map", "drop", "drop"),
])
def test_values_gunicorn_accepts(kind, given, checked):
    assert child.check("x", kind, given, []) == checked


@pytest.mark.parametrize("kind, given, error", [
    ("pos_int", -1, "Value must be positive: -1"), ("pos_int", "four", "invalid literal for int()"),
    ("bool", "maybe", "Invalid boolean: maybe"), ("string", 3, "Not a string: 3"),
    ("addr_list", "localhost", "does not appear to be an IPv4 or IPv6 address"),
    ("dict", [], "Value is not a dictionary"), ("reload_engine", "fast", "Invalid reload_engine"),
])
def test_values_gunicorn_refuses(kind, given, error):
    with pytest.raises((TypeError, ValueError)) as info:
        child.check("x", kind, given, [])
    assert error in str(info.value)


def test_hooks_are_checked_for_their_arity(monkeypatch):
    monkeypatch.setattr(child, "ARITY", HOOK_ARITY)
    assert child.check("when_ready", "hook", lambda server: None, [])
    with pytest.raises(TypeError, match="Value must have an arity of: 1"):
        child.check("when_ready", "hook", lambda: None, [])
    for arity in (2, 3, 4):  # post_request takes 2 to 4
        child.check("post_request", "hook", eval("lambda " + ", ".join("abcd"[:arity]) + ": None"), [])


@pytest.fixture
def config(tmp_path, monkeypatch):
    for var in ("PORT", "WEB_CONCURRENCY", "WORKERS", "APP_ENV"):
        monkeypatch.delenv(var, raising=False)

    def write(text: str) -> str:
        path = tmp_path / "gunicorn.conf.py"
        path.write_text(textwrap.dedent(text))
        return str(path)

    return write


def test_settings_and_environment_operations(config):
    rep = evaluate(config("""
        import os
        from gunicorn_prometheus_exporter.hooks import default_when_ready
        os.environ.setdefault("PROMETHEUS_METRICS_PORT", "9091")
        os.environ["REDIS_ENABLED"] = "true"
        workers = 3
        when_ready = default_when_ready
        Workers = 5
    """))
    assert rep["settings"]["workers"] == {"t": "value", "v": 3}
    assert rep["settings"]["when_ready"]["stub"] == "gunicorn_prometheus_exporter.hooks.default_when_ready"
    assert rep["env_ops"] == [["setdefault", "PROMETHEUS_METRICS_PORT", "9091"], ["set", "REDIS_ENABLED", "true"]]
    assert rep["ignored"] == {"Workers": 5}
    assert rep["deps"] == {"settings": {}, "env": {}}


def test_what_followed_the_cpu_count_and_a_variable(config):
    rep = evaluate(config("""
        import multiprocessing, os
        workers = multiprocessing.cpu_count() * 2 + 1
        timeout = 60 if os.environ.get("APP_ENV") == "production" else 300
    """))
    assert rep["deps"]["settings"]["workers"] == {"kind": "cpu", "a": 2, "b": 1, "here": 2 * os.cpu_count() + 1,
                                                  "cpus": os.cpu_count()}
    assert rep["deps"]["settings"]["timeout"] == {"kind": "cases", "var": "APP_ENV", "cases": [["production", 60]],
                                                  "default": 300}


@pytest.mark.parametrize("text, message", [
    ("workers = 'four'\n", "invalid value for workers: 'four': invalid literal for int() with base 0: 'four'"),
    ("import no_such_module_here\n", "ModuleNotFoundError: No module named 'no_such_module_here' "
                                     "(gunicorn.conf.py, line 1)"),
])
def test_a_config_that_cannot_be_evaluated(config, text, message):
    path = config(text)
    with pytest.raises(ConvertError) as info:
        evaluate(path)
    assert str(info.value) == f"cannot evaluate {path}: {message}"


def test_a_missing_config(tmp_path):
    with pytest.raises(ConvertError, match="no such file"):
        evaluate(str(tmp_path / "nowhere.conf.py"))
