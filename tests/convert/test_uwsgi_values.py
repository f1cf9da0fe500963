"""Gunicorn's values in uWSGI's terms (gpxconvert.uwsgi_values, settings)."""

import pytest

from gpxconvert.errors import ConvertError
from gpxconvert.settings import HOOK_ARITY, SETTINGS, defaults
from gpxconvert.uwsgi_values import (
    cpu_expr,
    escape,
    parse_address,
    representable,
    translate_access_log_format,
    uwsgi_address,
    worker_model,
)


@pytest.mark.parametrize("bind, parsed, written", [
    ("127.0.0.1:8000", ("127.0.0.1", 8000), "127.0.0.1:8000"),
    ("0.0.0.0", ("0.0.0.0", 8000), "0.0.0.0:8000"),
    ("", ("0.0.0.0", 8000), "0.0.0.0:8000"),
    ("LOCALHOST:9", ("localhost", 9), "localhost:9"),
    ("tcp://10.0.0.1:81", ("10.0.0.1", 81), "10.0.0.1:81"),
    ("[::1]:8080", ("::1", 8080), "[::1]:8080"),
    ("[::]", ("::", 8000), "[::]:8000"),
    ("unix:/run/app.sock", "/run/app.sock", "/run/app.sock"),
    ("unix:///run/app.sock", "/run/app.sock", "/run/app.sock"),
])
def test_addresses_as_gunicorn_parses_them(bind, parsed, written):
    assert parse_address(bind) == parsed
    assert uwsgi_address(parsed) == written


def test_a_file_descriptor_is_a_number():
    assert parse_address("fd://3") == 3


@pytest.mark.parametrize("bind, message", [
    ("fd://three", "invalid value for bind: 'three' is not a valid file descriptor"),
    ("127.0.0.1:http", "invalid value for bind: 'http' is not a valid port number"),
])
def test_a_bad_address_is_one_error(bind, message):
    with pytest.raises(ConvertError) as info:
        parse_address(bind)
    assert str(info.value) == message


def test_a_percent_is_doubled_for_uwsgi():
    assert escape("50%") == "50%%"
    assert escape(8000) == "8000"


@pytest.mark.parametrize("value, why", [
    ("plain", None),
    ("two\nlines", "it holds a line break, which an ini line cannot"),
    ("$(HOME)/x", "it holds `$(`, which uWSGI would expand"),
    ("@(file)", "it holds `@(`, which uWSGI would expand"),
    (" padded", "it starts or ends with spaces, which uWSGI strips"),
])
def test_what_an_ini_line_cannot_hold(value, why):
    assert representable(value) == why


def test_access_log_atoms_become_uwsgi_variables():
    fmt, missing = translate_access_log_format('%(h)s "%(r)s" %(s)s %({user-agent}i)s')
    assert missing == []
    assert fmt == '%(addr) "%(method) %(uri) %(proto)" %(status) %(var.HTTP_USER_AGENT)'
    assert translate_access_log_format("%(h)s %(T)s %({x}o)s") == (None, ["T", "{x}o"])


@pytest.mark.parametrize("worker_class, threads, mode", [
    ({"t": "value", "v": "sync"}, 1, "sync"),
    ({"t": "value", "v": "sync"}, 4, "gthread"),  # Gunicorn runs a named sync worker as gthread
    ({"t": "value", "v": "egg:gunicorn#gevent"}, 1, "gevent"),
    ({"t": "value", "v": "gunicorn.workers.geventlet.EventletWorker"}, 1, "eventlet"),
    ({"t": "value", "v": "gunicorn_prometheus_exporter.PrometheusTornadoWorker"}, 1, "tornado"),
    ({"t": "value", "v": "uvicorn.workers.UvicornWorker"}, 1, "asgi"),
    ({"t": "value", "v": "my.OwnWorker"}, 1, "unknown"),
    ({"t": "class", "name": "app.Mine", "mro": ["app.Mine", "gunicorn_prometheus_exporter.PrometheusThreadWorker",
                                                 "builtins.object"]}, 1, "gthread"),
])
def test_worker_models(worker_class, threads, mode):
    assert worker_model(worker_class, threads)[0] == mode


@pytest.mark.parametrize("a, b, expr", [(1, 0, "%k"), (2, 1, "%(%k * 2 + 1)"), (1, -1, "%(%k - 1)"),
                                        (4, 0, "%(%k * 4)")])
def test_cpu_count_math(a, b, expr):
    assert cpu_expr(a, b) == expr


def test_gunicorn_defaults_follow_its_two_variables():
    assert defaults({})["bind"] == ["127.0.0.1:8000"]
    assert defaults({})["workers"] == 1
    mine = defaults({"PORT": "9000", "WEB_CONCURRENCY": "3"})
    assert mine["bind"] == ["0.0.0.0:9000"] and mine["workers"] == 3
    assert set(HOOK_ARITY) == {name for name, (kind, _) in SETTINGS.items() if kind == "hook"}
